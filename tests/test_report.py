"""The incident report and ``graphtrail report``/``view``: correct, self-contained and safe.

On the demo scenario the report must hold every hop of the attacker's chain, what it
created, the findings of its lineage and evidence that checks against the log files. A second,
tiny scenario carries script payloads in a user agent, a session name, a request parameter
and an S3 object key: the report must show them as text and run none of them, in a real
headless Chromium (``tests/browser.py``), with and without its Content-Security-Policy.
Screenshots land in ``artifacts/`` (gitignored).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner

from graphtrail.cli.main import app
from graphtrail.store.memory import MemoryStore
from graphtrail.synth import records as R
from graphtrail.synth.trails import log_object_key, write_log_file
from graphtrail.views.graph.focus import focus_graph
from graphtrail.views.html_page import static_text, vis_network_assets
from graphtrail.views.report import build_report, render_report_html, render_report_markdown
from graphtrail.views.report.markdown import md_text
from tests.conftest import GRAPHTRAIL, ingest_paths

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.browser import Browser, Page

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
ACCOUNT = "123456789012"
KEY, SESSION_KEY = "AKIAPAYL0ADEXAMPLE01", "ASIAPAYL0ADEXAMPLE02"
PAYLOADS = {
    "user agent": '<img src=x onerror="window.__pwned=1;alert(1)"> | `curl`',
    "session name": "</script><script>window.__pwned=2;alert(2)</script>",
    "request parameter": "x|y <img src=x onerror=window.__pwned=3>",
    "object key": "<script>window.__pwned=4</script>.csv",
}
runner = CliRunner()


# -- fixtures -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo(scenario, tmp_path_factory):
    """The demo incident's report, for the leaked key: (report, html path, md text, truth)."""
    store, truth = scenario
    report = build_report(store, truth.leaked_key)
    folder = tmp_path_factory.mktemp("demo-report")
    html_path = folder / "report.html"
    render_report_html(report, html_path)
    return report, html_path, render_report_markdown(report), truth


@pytest.fixture(scope="module")
def payload_case(tmp_path_factory) -> MemoryStore:
    """A key that assumes a role and reads a parameter and an object, every string hostile."""
    rng, t0 = random.Random(7), 1_718_186_400
    user = R.Actor(R.iam_user(ACCOUNT, "victim", "AIDAPAYL0ADEXAMPLE03", KEY), "203.0.113.66",
                   PAYLOADS["user agent"], KEY)
    role = f"arn:aws:iam::{ACCOUNT}:role/Ops"
    ident = R.assumed_role(ACCOUNT, "Ops", "AROAPAYL0ADEXAMPLE04", PAYLOADS["session name"],
                           SESSION_KEY, R.iso(t0 + 60))
    session = R.Actor(ident, "203.0.113.66", PAYLOADS["user agent"], SESSION_KEY)
    value = PAYLOADS["request parameter"]
    records = [
        R.call(rng, user, t0, "iam.amazonaws.com", "ListUsers", "us-east-1", ACCOUNT),
        R.assume_role(rng, user, t0 + 60, "us-east-1", role, "AROAPAYL0ADEXAMPLE04",
                      PAYLOADS["session name"], SESSION_KEY),
        R.call(rng, session, t0 + 120, "ssm.amazonaws.com", "GetParameter", "us-east-1", ACCOUNT,
               params={"name": value, "withDecryption": True}),
        R.call(rng, session, t0 + 180, "s3.amazonaws.com", "GetObject", "us-east-1", ACCOUNT,
               **R.s3_object("exports", PAYLOADS["object key"], ACCOUNT, "us-east-1")),
        R.call(rng, session, t0 + 240, "iam.amazonaws.com", "CreateUser", "us-east-1", ACCOUNT,
               params={"userName": value}),
    ]
    root = tmp_path_factory.mktemp("payloads")
    key = log_object_key(ACCOUNT, "us-east-1", t0 + 900, "PAYLOADPAYLOAD01", None, gz=False)
    write_log_file(root / "logs", key, records)
    return MemoryStore(ingest_paths([str(root / "logs")], root / "case"))


@pytest.fixture(scope="module")
def payload_page(payload_case, tmp_path_factory) -> tuple[str, str]:
    report = build_report(payload_case, KEY)
    return render_report_html(report), render_report_markdown(report)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    tab = browser.new_page()
    yield tab
    tab.close()


def _tags(markup: str) -> list[tuple[str, list[str]]]:
    """Every element of ``markup`` as a browser's tokenizer sees it: (tag, attribute names)."""
    found: list[tuple[str, list[str]]] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, [name for name, _ in attrs]))

    Collect().feed(markup)
    return found


def _assert_clean(tab: Page, path: Path) -> None:
    assert tab.console_errors == [] and tab.exceptions == []
    assert tab.external_requests == [] and tab.requests == [path.resolve().as_uri()]
    assert tab.dialogs == []
    assert tab.evaluate("typeof window.__pwned") == "undefined"


# -- what the report says -------------------------------------------------------------------
def test_report_holds_every_hop_and_what_was_created(demo):
    report, html_path, markdown, truth = demo
    page = html_path.read_text(encoding="utf-8")
    (chain,) = report.chains
    assert chain.path == [truth.leaked_user] + [h.role_arn for h in truth.chain]
    for hop, want in zip(chain.hops, truth.chain, strict=True):
        assert (hop["to"], hop["access_key_id"]) == (want.role_arn, want.issued_by_key)
        assert set(hop["event_ids"]) == set(want.sts_event_ids)
        for text in (want.role_arn, want.issued_by_key, want.issued_key, *want.sts_event_ids,
                     want.issued_at, want.to_account):
            assert text in page and md_text(text) in markdown
    hops = re.findall(r'data-rp-hop="([^"]+)"', page)
    assert [h.split("@")[0] for h in hops] == [f"session:{h.issued_key}" for h in truth.chain]
    for item in truth.created:
        assert item["id"].split(":v")[0] in page and item["event_id"] in page
    assert {"AKIAD3R7MY7CSCYCONHG"} == {k["id"] for k in report.created_keys}
    assert report.severity == "critical"


def test_findings_are_those_of_the_lineage_with_attack_ids(demo):
    report, html_path, markdown, _ = demo
    rules = {f.rule_id for f in report.findings}
    assert {"GT-PERS-004", "GT-DEF-001", "GT-EXF-001", "GT-DISC-004"} <= rules
    assert not rules & {"GT-INIT-001", "GT-INIT-002"}  # root use and carol's sign-in: not ours
    page = html_path.read_text(encoding="utf-8")
    for f in report.findings:
        assert f'data-rp-rule="{f.rule_id}"' in page and f.technique in page
        assert f.technique in markdown


def test_evidence_checks_against_the_log_files(demo):
    report, html_path, _, truth = demo
    cited = {e.event_id for e in report.evidence}
    assert truth.attacker_event_ids <= cited
    assert report.missing == []
    files = {f.label: f for f in report.files}
    page = html_path.read_text(encoding="utf-8")
    for f in report.files:
        blob = Path(f.uri).read_bytes()
        assert f.sha256 == hashlib.sha256(blob).hexdigest() and f.sha256 in page
        assert f.size == len(blob)
    by_file: dict[str, set[str]] = {}
    for e in report.evidence:
        by_file.setdefault(e.file_label, set()).add(e.event_id)
    for label, wanted in by_file.items():
        blob = Path(files[label].uri).read_bytes()
        text = gzip.decompress(blob) if files[label].uri.endswith(".gz") else blob
        held = {r["eventID"] for r in json.loads(text)["Records"]}
        assert wanted <= held


def test_timeline_is_capped_and_says_so(demo):
    report, *_ = demo
    page = render_report_html(report, timeline_rows=10)
    timeline = page.split('id="timeline"', 1)[1].split("</section>", 1)[0]
    assert timeline.count("data-rp-event=") == 10
    assert f"Showing the first 10 of {len(report.timeline):,} calls" in timeline
    assert "graphtrail timeline --access-key" in timeline


def test_payloads_never_reach_the_markup(payload_page):
    page, _ = payload_page
    for payload in PAYLOADS.values():
        assert payload not in page
    assert "&lt;/script&gt;&lt;script&gt;window.__pwned=2" in page
    block = re.search(r'<script type="application/json"[^>]*>(.*?)</script>', page, re.S)
    assert block and "<" not in block.group(1) and ">" not in block.group(1)
    # Only graphtrail's own scripts: vis-network, graph.js, report.js and the data block.
    for own in (vis_network_assets()[0], static_text("graph.js"), static_text("report.js")):
        page = page.replace(f"<script>{own}</script>", "", 1)
    assert len(re.findall(r"<script\b", page)) == 1
    assert "default-src 'none'" in page
    tags = _tags(page)
    assert not [t for t in tags if any(name.startswith("on") for name in t[1])]
    assert not [t for t in tags if t[0] in ("img", "iframe", "object", "embed", "link", "base")]


def test_markdown_escapes_cells(payload_page):
    _, markdown = payload_page
    for payload in PAYLOADS.values():
        assert payload not in markdown
    assert md_text(PAYLOADS["session name"]) in markdown
    assert md_text(PAYLOADS["request parameter"]) in markdown
    assert "x\\|y \\<img src=x onerror=window.\\_\\_pwned=3\\>" in markdown
    widths: list[int] = []  # cells per row: each table's rows must all match its header
    for line in markdown.splitlines() + [""]:
        if line.startswith("|"):
            widths.append(len(re.split(r"(?<!\\)\|", line)))
        elif widths:
            assert len(set(widths)) == 1, widths
            widths = []
    assert "\\`curl\\`" in markdown


def test_focus_graph_depth_account_and_time(demo, scenario):
    store, truth = scenario
    report = demo[0]
    g0, lit = focus_graph(store, report.seed, depth=0)
    assert set(g0) == set(report.credentials) & set(store.graph)
    g1, _ = focus_graph(store, report.seed, depth=1)
    assert set(g1) == set(report.graph) and lit <= set(g1)
    g2, _ = focus_graph(store, report.seed, depth=2)
    assert set(g1) < set(g2)
    whole, none = focus_graph(store, account="222222222222")
    assert none == set() and whole.number_of_nodes() > 0
    assert {a for _, a in whole.nodes(data="account") if a} == {"222222222222"}
    late, _ = focus_graph(store, report.seed, since=1_718_190_000_000_000)  # after 11:00
    assert all(d["last_seen"] >= 1_718_190_000_000_000 for *_, d in late.edges(data=True)
               if d["kind"] != "IN_ACCOUNT")


# -- the commands ---------------------------------------------------------------------------
def test_report_and_view_commands(scenario, tmp_path):
    store, truth = scenario
    case = str(store.case.path)
    out = tmp_path / "r" / "report.html"
    result = runner.invoke(app, ["report", "--access-key", truth.leaked_key, "--case", case,
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "report: " in result.output and "severity critical" in result.output
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    md = tmp_path / "report.md"
    result = runner.invoke(app, ["report", "--principal", truth.leaked_user, "--case", case,
                                 "--format", "md", "--out", str(md)])
    assert result.exit_code == 0 and md.read_text(encoding="utf-8").startswith("# Incident")
    view = tmp_path / "view.html"
    result = runner.invoke(app, ["view", "--focus", truth.leaked_key, "--depth", "1",
                                 "--case", case, "--out", str(view), "--layout", "force"])
    assert result.exit_code == 0 and "view: " in result.output
    assert truth.chain[-1].issued_key in view.read_text(encoding="utf-8")
    result = runner.invoke(app, ["view", "--account", "333333333333", "--since",
                                 "2024-06-12T09:00:00Z", "--case", case, "--out", str(view)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["report", "--access-key", "AKIANOTINTHECASE0000", "--case", case,
                                 "--out", str(tmp_path / "no.html")])
    assert result.exit_code == 2 and not (tmp_path / "no.html").exists()


def test_installed_command_writes_both_files(scenario, tmp_path):
    exe = GRAPHTRAIL
    store, truth = scenario
    case = str(store.case.path)
    for args, out in ((["report", "--access-key", truth.leaked_key], tmp_path / "a.html"),
                      (["view", "--focus", truth.leaked_key], tmp_path / "b.html")):
        done = subprocess.run([exe, *args, "--case", case, "--out", str(out)],
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        assert out.stat().st_size > 100_000 and str(out) in done.stdout


def test_png_without_chromium_says_so(scenario, tmp_path, monkeypatch):
    store, truth = scenario
    monkeypatch.setenv("GRAPHTRAIL_CHROMIUM", str(tmp_path / "no-such-chromium"))
    out = tmp_path / "r.html"
    result = runner.invoke(app, ["report", "--access-key", truth.leaked_key, "--case",
                                 str(store.case.path), "--out", str(out), "--png",
                                 str(tmp_path / "r.png")])
    assert result.exit_code == 1 and out.exists() and not (tmp_path / "r.png").exists()
    assert "PNG not written" in result.output and "chromium" in result.output


def test_demo_writes_the_report(tmp_path):
    result = runner.invoke(app, ["demo", "--dir", str(tmp_path), "--noise", "100"])
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if x.startswith("report: "))
    assert str((tmp_path / "report.html").resolve()) in line and "open it in a browser" in line
    assert (tmp_path / "report.md").read_text(encoding="utf-8").startswith("# Leaked access key")


# -- in the browser -------------------------------------------------------------------------
@pytest.mark.browser
def test_report_opens_offline_and_draws_the_lineage(page: Page, demo):
    report, html_path, _, truth = demo
    page.open(html_path)
    _assert_clean(page, html_path)
    nodes = set(page.evaluate("graphtrail.nodes.getIds()"))
    sessions = {f"session:{h.issued_key}@{h.issued_at}" for h in truth.chain}
    lineage = sessions | {f"key:{truth.leaked_key}", "key:AKIAD3R7MY7CSCYCONHG"}
    assert lineage <= nodes and {h.role_arn for h in truth.chain} <= nodes
    edges = {tuple(e) for e in page.evaluate("graphtrail.edges.get().map(e => [e.from, e.kind, e.to])")}
    chain = [f"key:{truth.leaked_key}", *(f"session:{h.issued_key}@{h.issued_at}" for h in truth.chain)]
    assert {(a, "ISSUED", b) for a, b in zip(chain, chain[1:], strict=False)} <= edges
    faded = page.evaluate("graphtrail.nodes.get({filter: n => n.opacity === 0.25}).map(n => n.id)")
    assert not lineage & set(faded)
    assert page.evaluate("document.querySelectorAll('#chain .rp-hop').length") == len(truth.chain)


@pytest.mark.browser
def test_timeline_sorts_by_clicking_a_heading(page: Page, demo):
    report, html_path, _, _ = demo
    page.open(html_path)
    first = "document.querySelector('.rp-timeline tbody tr td').getAttribute('data-sort')"
    times = sorted(t for t in report.timeline["time"])
    assert page.evaluate(first) == times[0]
    button = "document.querySelector('.rp-timeline th button').click()"
    page.evaluate(button)
    page.evaluate(button)
    assert page.evaluate(first) == times[-1]
    assert page.evaluate("document.querySelector('.rp-timeline th').getAttribute('aria-sort')") \
        == "descending"
    _assert_clean(page, html_path)


@pytest.mark.browser
@pytest.mark.parametrize("with_csp", [True, False], ids=["as-shipped", "csp-removed"])
def test_payloads_show_as_text_and_run_nothing(page: Page, payload_page, tmp_path, with_csp):
    html_text, _ = payload_page
    if not with_csp:
        html_text = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", html_text)
    path = tmp_path / "payloads.html"
    path.write_text(html_text, encoding="utf-8")
    page.open(path)
    text = page.evaluate("document.body.innerText")
    for name, payload in PAYLOADS.items():
        assert payload.split(" |")[0] in text, name
    page.evaluate("document.getElementById('graph').scrollIntoView()")
    tip = page.hover_node(f"session:{SESSION_KEY}@2024-06-12T10:01:00Z")
    assert PAYLOADS["session name"] in tip.text and "<script" not in tip.html
    assert PAYLOADS["user agent"] in tip.text and "<img" not in tip.html
    page.settle(0.3)
    assert page.evaluate("document.querySelectorAll('img, svg[onload]').length") == 0
    assert page.evaluate("document.scripts.length") == 4
    _assert_clean(page, path)


@pytest.mark.browser
def test_screenshots_of_the_demo_report(page: Page, demo):
    _, html_path, _, _ = demo
    page.open(html_path)
    shot = page.screenshot(ARTIFACTS / "report.png")
    assert shot.stat().st_size > 20_000
    for section in ("chain", "graph", "findings", "changes", "timeline", "evidence"):
        page.evaluate(f"document.getElementById('{section}').scrollIntoView()")
        page.settle(0.1)
        page.screenshot(ARTIFACTS / f"report_{section}.png")
    _assert_clean(page, html_path)
