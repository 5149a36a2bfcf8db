"""Large tables, drawn as rich draws them, in a fraction of the time.

rich lays out a table by measuring and wrapping every cell as a renderable: one to two
milliseconds a row. A lineage's timeline at a million events is 6,700 rows and took 16 s
to print as a table (1.3 s as JSON). Above :data:`RICH_ROWS` rows, :func:`print_table`
draws the same box (rich's default, heavy head) from plain strings:

* a table that fits the console is the text rich prints, line for line (compared in
  ``tests/test_cli_table.py``);
* one that does not fit caps its widest columns to what is left (short ones stay whole)
  and wraps their cells at spaces, folding a word longer than the column.

Cells arrive already made safe for a terminal (:func:`graphtrail.safe_text.terminal_text`):
no markup is read, no control sequence is written.
"""

from __future__ import annotations

from collections.abc import Iterator

from rich.cells import cell_len, chop_cells
from rich.console import Console
from rich.text import Text

__all__ = ["RICH_ROWS", "print_table"]

RICH_ROWS = 200  # up to this many rows rich draws the table (a few tenths of a second)
_CHUNK = 1000  # lines written at once
_MIN_WIDTH = 4  # a column is never capped below this


def print_table(console: Console, cols: list[str], rows: list[list[str]], *,
                title: str | None = None, no_wrap: frozenset[str] = frozenset()) -> None:
    """Draw ``rows`` (cells as text) under the headers ``cols`` on ``console``."""
    widths = _widths(cols, rows, no_wrap, console.width)
    inner = sum(widths) + 3 * len(widths) - 1  # cells, their padding and the inner rules
    if title is not None:  # centred over the table, as rich does (a longer one wrapped)
        for line in _cell_lines(title, inner + 2):
            spare = inner + 2 - cell_len(line)
            console.print(Text.assemble(" " * (spare // 2), (line, "table.title"), " " * (spare - spare // 2)),
                          soft_wrap=True)
    console.print(_rule("┏", "━", "┳", "┓", widths), soft_wrap=True, highlight=False, markup=False)
    for cells in _line_cells(cols, widths, [True] * len(cols)):  # folded like any cell
        header = Text("┃")
        for text in cells:
            header.append(" ")
            header.append(text, style="bold")
            header.append(" ┃")
        console.print(header, soft_wrap=True)
    lines = [_rule("┡", "━", "╇", "┩", widths)]
    wrap = [c not in no_wrap for c in cols]
    for row in rows:
        lines.extend(_row_lines(row, widths, wrap))
        if len(lines) >= _CHUNK:
            _write(console, lines)
    lines.append(_rule("└", "─", "┴", "┘", widths))
    _write(console, lines)


def _write(console: Console, lines: list[str]) -> None:
    """Body lines as they are: no markup, no highlighting, no wrapping by the console.

    Written to the console's file (77,000 lines: 0.02 s, against 2.4 s through
    ``console.out``), unless the console holds what it prints (a capture, a ``with
    console:`` block, a recording): then through it, to stay in order."""
    text = "\n".join(lines)
    lines.clear()
    if getattr(console, "_buffer_index", 1) or console.record:
        console.out(text, highlight=False)
    else:
        console.file.write(text + "\n")


def _rule(left: str, line: str, cross: str, right: str, widths: list[int]) -> str:
    return left + cross.join(line * (w + 2) for w in widths) + right


def _pad(text: str, width: int) -> str:
    return text.ljust(width) if text.isascii() else text + " " * (width - cell_len(text))


def _widths(cols: list[str], rows: list[list[str]], no_wrap: frozenset[str], room: int) -> list[int]:
    """Each column's width: its widest cell, the widest capped when the table is wider
    than ``room`` (the narrow ones first kept whole)."""
    natural = [cell_len(c) for c in cols]
    for row in rows:
        for i, v in enumerate(row):
            n = len(v) if v.isascii() else cell_len(v)
            if n > natural[i]:
                natural[i] = n
    avail = room - (3 * len(cols) + 1)
    if sum(natural) <= avail:
        return natural
    fixed = [c in no_wrap for c in cols]
    left = avail - sum(w for w, f in zip(natural, fixed, strict=True) if f)
    free = sorted(w for w, f in zip(natural, fixed, strict=True) if not f)
    cap = 0  # the largest width every wrapped column may take that fits what is left
    for i, w in enumerate(free):
        rest = len(free) - i
        if w * rest > left:
            cap = max(left // rest, 0)
            break
        left -= w
    else:
        return natural
    return [w if f else max(min(w, cap), min(w, _MIN_WIDTH)) for w, f in zip(natural, fixed, strict=True)]


def _row_lines(row: list[str], widths: list[int], wrap: list[bool]) -> Iterator[str]:
    for cells in _line_cells(row, widths, wrap):
        yield "│ " + " │ ".join(cells) + " │"


def _line_cells(row: list[str], widths: list[int], wrap: list[bool]) -> Iterator[list[str]]:
    """The cells of each line of ``row``, padded to their column's width."""
    cells = [_cell_lines(v, w) if wr else [v] for v, w, wr in zip(row, widths, wrap, strict=True)]
    for j in range(max(len(c) for c in cells)):
        yield [_pad(c[j] if j < len(c) else "", w) for c, w in zip(cells, widths, strict=True)]


def _cell_lines(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` cells: broken at spaces, a longer word folded
    (text of one cell a character, the most of it, measured by ``len``)."""
    plain = text.isascii()
    size = len if plain else cell_len
    if size(text) <= width:
        return [text]
    lines: list[str] = []
    cur = ""
    for word in text.split(" "):
        cand = f"{cur} {word}" if cur else word
        if size(cand) <= width:
            cur = cand
            continue
        if cur:
            lines.append(cur)
        while size(word) > width:
            head = word[:width] if plain else chop_cells(word, width)[0]
            lines.append(head)
            word = word[len(head):]
        cur = word
    lines.append(cur)
    return lines
