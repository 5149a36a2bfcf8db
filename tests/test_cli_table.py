"""Large tables and chain listings print fast and read as rich printed them.

rich took 16 s to print a lineage's 6,700-row timeline as a table at a million events,
and 5.7 s for the chains. ``graphtrail.cli.table`` draws tables above ``RICH_ROWS`` rows
from plain strings, and ``print_chains`` builds its lines without markup; here their
text is compared with what rich prints.
"""

from __future__ import annotations

import io
import random
from types import SimpleNamespace

import pytest
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from graphtrail.cli import output
from graphtrail.cli.investigate import print_chains
from graphtrail.cli.output import Format, emit_rows
from graphtrail.cli.table import RICH_ROWS, _cell_lines, print_table
from graphtrail.queries.chains import chains
from graphtrail.safe_text import markup_text, terminal_text
from graphtrail.words import plural, said

HOSTILE = ["[bold]not markup[/]", "\x1b[2Jclear", "tab\there", "right\u202eleft", "中文字符", "é", ""]


def _rich(cols, rows, width, title=None, no_wrap=frozenset()) -> str:
    con = Console(file=io.StringIO(), width=width)
    t = Table(title=markup_text(title) if title else None, show_lines=False, header_style="bold")
    for c in cols:
        t.add_column(markup_text(c), overflow="fold", no_wrap=c in no_wrap)
    for r in rows:
        t.add_row(*[Text(terminal_text(v)) for v in r])
    con.print(t)
    return con.file.getvalue()


def _ours(cols, rows, width, title=None, no_wrap=frozenset()) -> str:
    con = Console(file=io.StringIO(), width=width)
    print_table(con, [terminal_text(c) for c in cols], [[terminal_text(v) for v in r] for r in rows],
                title=terminal_text(title) if title else None, no_wrap=no_wrap)
    return con.file.getvalue()


@pytest.mark.parametrize("title", [None, "Timeline of access_key AKIAEXAMPLE", "中文 title"])
@pytest.mark.parametrize("rows", [
    [],
    [["2024-08-01T13:42:21Z", "GetCallerIdentity", ""], ["", "x", "203.0.113.9"]],
    [[h, h[::-1], str(i)] for i, h in enumerate(HOSTILE)],
])
def test_a_table_that_fits_is_the_text_rich_prints(rows, title):
    cols = ["time", "event_name", "source_ip"]
    assert _ours(cols, rows, 120, title) == _rich(cols, rows, 120, title)


def test_a_table_of_random_cells_that_fits_is_the_text_rich_prints():
    rnd = random.Random(7)
    alphabet = "abcdefghij:/-_.0123456789 中é[]"
    for _ in range(40):
        ncols = rnd.randint(1, 6)
        cols = [f"c{i}" + "x" * rnd.randint(0, 5) for i in range(ncols)]
        rows = [["".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 14))).strip() for _ in cols]
                for _ in range(rnd.randint(0, 8))]
        assert _ours(cols, rows, 200) == _rich(cols, rows, 200)


def test_a_table_wider_than_the_console_stays_within_it():
    rnd = random.Random(3)
    words = ["arn:aws:iam::123456789012:role/" + "r" * 30, "AccessDenied", "is", "not", "authorized",
             "中文字符中文字符", "203.0.113.9", "x" * 90]
    cols = ["time", "event_name", "identity_arn", "error", "event_id"]
    rows = [["2024-08-01T13:42:21Z", *(" ".join(rnd.choice(words) for _ in range(rnd.randint(1, 6)))
                                       for _ in cols[1:])] for _ in range(30)]
    for width in (80, 120, 200):
        lines = _ours(cols, rows, width, title="T", no_wrap=frozenset({"time"})).splitlines()
        assert max(cell_len(line) for line in lines) <= width
        assert sum(line.startswith("│ 2024-08-01T13:42:21Z │") for line in lines) == 30  # never folded


def test_a_cell_is_broken_at_spaces_and_a_longer_word_folded():
    rnd = random.Random(11)
    for _ in range(500):
        words = ["".join(rnd.choice("ab:/中é-") for _ in range(rnd.randint(1, 25)))
                 for _ in range(rnd.randint(1, 8))]
        text, width = " ".join(words), rnd.randint(2, 30)
        lines = _cell_lines(text, width)
        assert all(cell_len(line) <= width for line in lines)
        assert "".join(lines).replace(" ", "") == text.replace(" ", "")
        if all(cell_len(w) <= width for w in words):
            assert " ".join(lines) == text


def test_emit_rows_above_rich_rows_draws_the_same_table(monkeypatch):
    rows = [{"time": f"2024-08-01T13:{i // 60:02d}:{i % 60:02d}Z", "event_name": "GetObject",
             "event_id": f"id-{i}"} for i in range(RICH_ROWS + 50)]
    con = Console(file=io.StringIO(), width=120)
    monkeypatch.setattr(output, "console", con)
    emit_rows(rows, Format.table, title="Timeline", columns=["time", "event_name", "event_id"])
    want = _rich(["time", "event_name", "event_id"],
                 [[r["time"], r["event_name"], r["event_id"]] for r in rows], 120, "Timeline")
    assert con.file.getvalue() == want


def test_a_captured_console_gets_the_whole_table_in_order():
    rows = [[f"r{i}", "v"] for i in range(2500)]
    con = Console(file=io.StringIO(), width=80)
    with con.capture() as cap:
        con.print("before")
        print_table(con, ["a", "b"], rows)
        con.print("after")
    got = cap.get()
    assert got.startswith("before\n") and got.endswith("after\n")
    assert got.count("\n│ r") == 2500 and con.file.getvalue() == ""


def _chains_printed_line_by_line(found, con: Console) -> None:
    """What print_chains printed before: one rich print a line, markup on."""
    for i, c in enumerate(found, 1):
        tag = " [yellow]cross-account[/]" if c.cross_account else ""
        con.print(f"[bold]chain {i}[/] ({plural(len(c.hops), 'hop')}){tag}", markup=True)
        con.print("  " + markup_text(c.path[0]), highlight=False)
        for h in c.hops:
            key = f" key {markup_text(h['access_key_id'])}" if h.get("access_key_id") else ""
            across = " -> ".join(markup_text(said(h.get(a))) for a in ("from_account", "to_account"))
            con.print(f"  -> {markup_text(h['to'])}  [dim]{said(h.get('time'))}{key} "
                      f"event {markup_text(said(h.get('event_id')))} accounts {across}[/]", highlight=False)


def test_chains_print_the_text_rich_printed_a_line_at_a_time(scenario, monkeypatch):
    store, _ = scenario
    found = chains(store)
    hostile = SimpleNamespace(cross_account=True, path=["[bold]x\x1b[2J"], hops=[
        {"to": "arn:aws:iam::1:role/[red]r", "access_key_id": "ASIA\x07", "time": None,
         "event_id": "e[/]", "from_account": None, "to_account": "2"}])
    found = ([*found, hostile] * 300)[:400]  # over a thousand lines: printed in several pieces
    assert any(c is hostile for c in found) and sum(2 + len(c.hops) for c in found) > 1000
    old = Console(file=io.StringIO(), width=100_000)
    _chains_printed_line_by_line(found, old)
    new = Console(file=io.StringIO(), width=100_000)
    monkeypatch.setattr("graphtrail.cli.investigate.console", new)
    print_chains(found)
    assert new.file.getvalue() == old.file.getvalue()
    # a narrow console: a hop stays on one line (its eventID whole)
    narrow = Console(file=io.StringIO(), width=40)
    monkeypatch.setattr("graphtrail.cli.investigate.console", narrow)
    print_chains(found[:3])
    assert narrow.file.getvalue() == old.file.getvalue()[:len(narrow.file.getvalue())]
