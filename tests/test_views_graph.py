"""The interactive graph view: self-contained, correct, safe, and usable when large.

Most tests open the page in a real headless Chromium (``tests/browser.py``); a few check the
HTML text itself and need no browser. Screenshots land in ``artifacts/`` (gitignored).
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import TYPE_CHECKING

import networkx as nx
import pytest

from graphtrail.views.graph.html import graph_fragment, render_graph
from graphtrail.views.html_page import html_page

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.browser import Browser, Page

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
T0 = 1_714_557_600_000_000  # 2024-05-01T10:00:00Z in epoch microseconds
MINUTE = 60_000_000
PWN = '<img src=x onerror="window.__pwned=1;alert(1)">'
PAYLOADS = {
    "user agent": PWN,
    "session name": "</script><script>window.__pwned=2;alert(2)</script>",
    "event name": '<svg onload="window.__pwned=3;alert(3)">',
    "label": "<b onmouseover=alert(4)>x</b>",
    "account": '"><img src=x onerror=alert(5)>',
}


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh tab of the session's headless Chromium, closed after the test."""
    tab = browser.new_page()
    yield tab
    tab.close()


# -- graphs ---------------------------------------------------------------------------------
def _edge(g: nx.MultiDiGraph, u: str, v: str, kind: str, at: int, count: int = 1, **props):
    g.add_edge(
        u,
        v,
        kind=kind,
        first_seen=T0 + at * MINUTE,
        last_seen=T0 + (at + count) * MINUTE,
        count=count,
        event_ids=[f"{kind.lower()}-{u[-6:]}-{v[-6:]}-{i}" for i in range(min(count, 8))],
        event_names=props.pop("event_names", [f"{kind.title()}Call"]),
        **props,
    )


def lineage_graph() -> nx.MultiDiGraph:
    """A leaked key, a role chain across two accounts, a failed attempt, a new key, data read."""
    a, b = "111122223333", "444455556666"
    g = nx.MultiDiGraph()
    g.add_node(a, kind="Account", label="prod", account=a)
    g.add_node(b, kind="Account", label="data-lake", account=b)
    g.add_node("arn:aws:iam::111122223333:user/ci-bot", kind="User", label="ci-bot", account=a)
    g.add_node(
        "AKIAIOSFODNN7EXAMPLE",
        kind="AccessKey",
        label="AKIAIOSFODNN7EXAMPLE",
        account=a,
        first_seen=T0,
        user_agent=PAYLOADS["user agent"],
    )
    g.add_node(
        "ASIAQ1EXAMPLE",
        kind="Session",
        label="ASIAQ1EXAMPLE",
        account=a,
        session_name=PAYLOADS["session name"],
        source_ips=["203.0.113.7"],
    )
    g.add_node("arn:aws:iam::111122223333:role/Deploy", kind="Role", label="Deploy", account=a)
    g.add_node(
        "ASIAQ2EXAMPLE", kind="Session", label="ASIAQ2EXAMPLE", account=b, session_name="pivot"
    )
    g.add_node(
        "arn:aws:iam::444455556666:role/DataAdmin", kind="Role", label="DataAdmin", account=b
    )
    g.add_node(
        "arn:aws:iam::444455556666:role/Break-Glass", kind="Role", label="Break-Glass", account=b
    )
    g.add_node("AKIANEWKEYEXAMPLE", kind="AccessKey", label="AKIANEWKEYEXAMPLE", account=b)
    g.add_node("arn:aws:iam::444455556666:user/backup", kind="User", label="backup", account=b)
    g.add_node("203.0.113.7", kind="IpAddress", label="203.0.113.7")
    g.add_node(
        "arn:aws:s3:::customer-exports", kind="Resource", label="s3://customer-exports", account=b
    )
    g.add_node("weird", kind="Resource", label=PAYLOADS["label"], account=PAYLOADS["account"])
    _edge(g, "arn:aws:iam::111122223333:user/ci-bot", "AKIAIOSFODNN7EXAMPLE", "HAS_KEY", 0)
    _edge(g, "AKIAIOSFODNN7EXAMPLE", "ASIAQ1EXAMPLE", "ISSUED", 5, event_names=["AssumeRole"])
    _edge(g, "ASIAQ1EXAMPLE", "arn:aws:iam::111122223333:role/Deploy", "OF_ROLE", 5)
    _edge(g, "ASIAQ1EXAMPLE", "ASIAQ2EXAMPLE", "ISSUED", 9, event_names=["AssumeRole"])
    _edge(g, "ASIAQ2EXAMPLE", "arn:aws:iam::444455556666:role/DataAdmin", "OF_ROLE", 9)
    _edge(
        g,
        "ASIAQ1EXAMPLE",
        "arn:aws:iam::444455556666:role/Break-Glass",
        "ATTEMPTED",
        7,
        count=4,
        event_names=["AssumeRole"],
        error_code="AccessDenied",
    )
    _edge(
        g,
        "ASIAQ2EXAMPLE",
        "AKIANEWKEYEXAMPLE",
        "CREATED",
        12,
        event_names=["CreateAccessKey", PAYLOADS["event name"]],
    )
    _edge(g, "arn:aws:iam::444455556666:user/backup", "AKIANEWKEYEXAMPLE", "HAS_KEY", 12)
    _edge(
        g,
        "ASIAQ2EXAMPLE",
        "arn:aws:s3:::customer-exports",
        "ACTED_ON",
        14,
        count=212,
        event_names=["ListObjects", "GetObject"],
    )
    _edge(g, "ASIAQ2EXAMPLE", "weird", "ACTED_ON", 15)
    _edge(g, "ASIAQ1EXAMPLE", "203.0.113.7", "FROM_IP", 5, count=9)
    _edge(g, "AKIAIOSFODNN7EXAMPLE", "203.0.113.7", "FROM_IP", 5, count=3)
    for node, account in g.nodes(data="account"):
        if account in (a, b) and node != account:
            _edge(g, node, account, "IN_ACCOUNT", 0)
    return g


LINEAGE = {
    "AKIAIOSFODNN7EXAMPLE",
    "ASIAQ1EXAMPLE",
    "ASIAQ2EXAMPLE",
    "arn:aws:iam::444455556666:role/DataAdmin",
    "AKIANEWKEYEXAMPLE",
    "arn:aws:s3:::customer-exports",
}


def synthetic_graph(n_nodes: int, seed: int = 7) -> nx.MultiDiGraph:
    """A case-shaped graph: accounts, users and keys, role chains of sessions, IPs, resources."""
    rng = random.Random(seed)
    g = nx.MultiDiGraph()
    accounts = [f"{i}{i}{i}{i}00001111" for i in range(1, 5)]
    for a in accounts:
        g.add_node(a, kind="Account", label=a, account=a)
    roles = [f"arn:aws:iam::{rng.choice(accounts)}:role/role-{i}" for i in range(80)]
    for r in roles:
        g.add_node(r, kind="Role", label=r.rsplit("/", 1)[1], account=r.split(":")[4])
    creds = []
    for i in range(50):
        user, key, acct = (
            f"arn:aws:iam::{accounts[i % 4]}:user/u{i}",
            f"AKIA{i:016d}",
            accounts[i % 4],
        )
        g.add_node(user, kind="User", label=f"u{i}", account=acct)
        g.add_node(key, kind="AccessKey", label=key, account=acct, user_agent="aws-cli/2.15")
        _edge(g, user, key, "HAS_KEY", i)
        creds.append(key)
    for i in range(int(n_nodes * 0.18)):
        s, role = f"ASIA{i:016d}", rng.choice(roles)
        g.add_node(s, kind="Session", label=s, account=role.split(":")[4], session_name=f"s{i}")
        _edge(g, rng.choice(creds), s, "ISSUED", i, event_names=["AssumeRole"])
        _edge(g, s, role, "OF_ROLE", i)
        creds.append(s)
    ips = [f"198.51.100.{i}" if i < 250 else f"203.0.{i // 250}.{i % 250}" for i in range(300)]
    for ip in ips:
        g.add_node(ip, kind="IpAddress", label=ip)
        _edge(g, rng.choice(creds), ip, "FROM_IP", 1, count=rng.randint(1, 40))
    i = 0
    while g.number_of_nodes() < n_nodes:
        res = f"arn:aws:s3:::bucket-{i % 40}/object-{i}"
        g.add_node(res, kind="Resource", label=res.rsplit("/", 1)[1])
        kind = "ATTEMPTED" if i % 23 == 0 else "ACTED_ON"
        # A few busy credentials touch most resources, as in a real case.
        busy = creds[(i % 60) * 13 % len(creds)] if i % 5 else rng.choice(creds)
        _edge(g, busy, res, kind, i % 500, event_names=["GetObject"])
        i += 1
    return g


def _render(tmp_path: Path, g: nx.MultiDiGraph, name: str = "graph.html", **kw) -> Path:
    out = tmp_path / name
    render_graph(g, out, **kw)
    return out


def _assert_clean(tab: Page) -> None:
    assert tab.console_errors == []
    assert tab.exceptions == []
    assert tab.external_requests == []
    assert tab.dialogs == []
    assert tab.evaluate("typeof window.__pwned") == "undefined"


# -- the HTML text --------------------------------------------------------------------------
def test_page_loads_nothing_from_elsewhere():
    page_html = render_graph(lineage_graph())
    assert not re.search(r"<(script|img|iframe)[^>]*\ssrc\s*=", page_html, re.I)
    assert not re.search(r"<link\b", page_html, re.I)
    assert not re.search(r"@import|url\(\s*['\"]?(https?:)?//", page_html, re.I)
    assert "default-src 'none'" in page_html
    assert ".vis-network" in page_html  # vis-network's stylesheet is inlined too


def test_embedded_json_cannot_close_its_script():
    g = lineage_graph()
    page_html = render_graph(g)
    block = re.search(
        r'<script type="application/json" data-graphtrail="gt-graph">(.*?)</script>',
        page_html,
        re.S,
    )
    assert block is not None
    assert "<" not in block.group(1) and ">" not in block.group(1)
    data = json.loads(block.group(1))
    user_agents = [dict(n["tip"]).get("User agent") for n in data["nodes"]]
    assert PAYLOADS["user agent"] in user_agents
    assert {n["id"] for n in data["nodes"]} == set(g.nodes)


def test_payloads_never_reach_the_markup_unescaped():
    page_html = render_graph(lineage_graph(), title=PAYLOADS["label"])
    for payload in PAYLOADS.values():
        assert payload not in page_html
    assert "<title>&lt;b onmouseover=alert(4)&gt;x&lt;/b&gt;</title>" in page_html


def test_inline_scripts_must_not_close_themselves():
    with pytest.raises(ValueError, match="</script"):
        html_page("x", "", scripts=["var a = '</SCRIPT>';"])


def test_large_graph_is_summarised_and_says_so():
    g = synthetic_graph(5000)
    view = graph_fragment(g, max_nodes=1500)
    r = view.reduction
    assert r.nodes_before == 5000 and r.nodes_after <= 1500
    assert r.collapsed and r.summary_nodes > 0
    note = re.search(r"<div class=\"gt-note\"[^>]*>(.*?)</div>", view.body, re.S).group(1)
    assert "5,000 nodes" in note and "1,500" in note
    assert f"Drawn: {r.nodes_after:,} nodes" in note


def test_alike_sessions_collapse_when_leaves_are_not_enough():
    g = nx.MultiDiGraph()
    g.add_node("AKIA1", kind="AccessKey", label="AKIA1")
    g.add_node("role", kind="Role", label="ci")
    for i in range(40):
        g.add_node(f"ASIA{i}", kind="Session", label=f"ASIA{i}")
        _edge(g, "AKIA1", f"ASIA{i}", "ISSUED", i)
        _edge(g, f"ASIA{i}", "role", "OF_ROLE", i)
    view = graph_fragment(g, max_nodes=10, highlight={"ASIA7"})
    assert view.reduction.collapsed == {"Session": 39}
    assert view.reduction.nodes_after == 4  # key, role, ASIA7 (kept), "39 sessions"
    assert "39 sessions" in view.body


def test_relations_counted_as_networkx_counts_them():
    """The drawing counts relations on the adjacency (networkx sums degrees, slowly at scale):
    parallel relations, self-loops and filtered views counted alike."""
    from graphtrail.views.graph.aggregate import relation_count

    g = synthetic_graph(600)
    _edge(g, "AKIA1", "AKIA1", "HAS_KEY", 1)
    _edge(g, "AKIA1", "ASIA0000000000000007", "ATTEMPTED", 2)
    view = nx.subgraph_view(g, filter_node=lambda n: hash(n) % 3 != 0)
    for graph in (g, view, nx.MultiDiGraph(), g.subgraph(list(g)[:40])):
        assert relation_count(graph) == graph.number_of_edges()


def test_a_reduction_that_finds_nothing_alike_only_caps():
    """No node alike: the cap alone decides, as when the collapse stages copied the graph."""
    g = nx.MultiDiGraph()
    for i in range(30):
        g.add_node(f"r{i}", kind="Resource", label=f"r{i}")
        g.add_node(f"s{i}", kind="Session", label=f"s{i}")
        for j in range(i + 1):  # every resource and session linked to a different set
            _edge(g, f"s{i}", f"r{j}", "ACTED_ON", j)
    view = graph_fragment(g, max_nodes=20)
    r = view.reduction
    assert r.collapsed == {} and r.summary_nodes == 0
    assert (r.nodes_after, r.omitted_nodes) == (20, 40)
    assert r.edges_after + r.omitted_edges == g.number_of_edges()


def test_tidy_layout_never_stacks_two_nodes_on_one_spot():
    from graphtrail.views.graph.layout import hierarchical_positions

    for g in (lineage_graph(), synthetic_graph(3000)):
        spots = hierarchical_positions(g)
        assert len(set(spots.values())) == len(g)


def test_small_graph_is_drawn_whole():
    view = graph_fragment(lineage_graph())
    assert not view.reduction.changed
    assert "gt-note" not in view.body


def test_highlight_survives_the_cap():
    g = synthetic_graph(3000)
    seed = "ASIA0000000000000007"
    view = graph_fragment(g, highlight={seed}, max_nodes=100)
    assert view.reduction.nodes_after <= 101
    assert f'"id":"{seed}"' in view.body


# -- in the browser -------------------------------------------------------------------------
@pytest.mark.browser
@pytest.mark.parametrize("layout", ["hierarchical", "force"])
def test_opens_offline_without_errors(page: Page, tmp_path: Path, layout: str):
    path = _render(tmp_path, lineage_graph(), layout=layout)
    page.open(path)
    _assert_clean(page)
    assert page.requests == [path.resolve().as_uri()]


@pytest.mark.browser
def test_network_holds_the_graph(page: Page, tmp_path: Path):
    g = lineage_graph()
    page.open(_render(tmp_path, g))
    nodes = page.evaluate("graphtrail.nodes.getIds()")
    edges = page.evaluate("graphtrail.edges.get().map(e => [e.from, e.kind, e.to])")
    assert sorted(nodes) == sorted(g.nodes)
    assert sorted(map(tuple, edges)) == sorted((u, k, v) for u, v, k in g.edges(data="kind"))
    # Account nodes and IN_ACCOUNT links are drawn on request; everything else at once.
    accounts = {n for n, k in g.nodes(data="kind") if k == "Account"}
    drawn = page.evaluate("Object.keys(graphtrail.network.getPositions())")
    assert sorted(drawn) == sorted(set(g) - accounts)
    page.evaluate("document.querySelector('[data-gt-toggle=accounts]').click()")
    drawn = page.evaluate("Object.keys(graphtrail.network.getPositions())")
    assert sorted(drawn) == sorted(g)
    hidden = page.evaluate("graphtrail.edges.get({filter: e => e.hidden === true}).length")
    assert hidden == 0
    legend = page.evaluate("document.querySelector('.gt-legend').innerText")
    for name in ("Access key", "Session", "Role", "ATTEMPTED", "111122223333"):
        assert name in legend


@pytest.mark.browser
def test_search_selects_matching_nodes(page: Page, tmp_path: Path):
    page.open(_render(tmp_path, lineage_graph()))
    page.evaluate(
        "(function () { var box = document.querySelector('[data-gt-search]');"
        " box.value = 'asiaq'; box.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter'}));"
        " })()"
    )
    assert sorted(page.evaluate("graphtrail.network.getSelectedNodes()")) == [
        "ASIAQ1EXAMPLE",
        "ASIAQ2EXAMPLE",
    ]
    assert page.evaluate("document.querySelector('[data-gt-search-status]').textContent") == (
        "2 matches"
    )
    _assert_clean(page)


@pytest.mark.browser
def test_attempted_relations_are_dashed(page: Page, tmp_path: Path):
    page.open(_render(tmp_path, lineage_graph()))
    dashes = page.evaluate(
        "graphtrail.edges.get().map(e => [e.kind, graphtrail.network.body.edges[e.id].options.dashes])"
    )
    assert {kind for kind, dashed in dashes if dashed} == {"ATTEMPTED"}


@pytest.mark.browser
def test_hover_shows_evidence_as_text(page: Page, tmp_path: Path):
    page.open(_render(tmp_path, lineage_graph()))
    tip = page.hover_node("AKIAIOSFODNN7EXAMPLE")
    assert "Access key" in tip.text and "111122223333" in tip.text
    assert PAYLOADS["user agent"] in tip.text  # shown as text ...
    assert "&lt;img src=x" in tip.html and "<img" not in tip.html  # ... never as markup
    edge_id = page.evaluate("graphtrail.edges.get({filter: e => e.kind === 'CREATED'})[0].id")
    tip = page.hover_edge(edge_id)
    assert "CREATED" in tip.text and "2024-05-01T10:12:00Z" in tip.text
    assert PAYLOADS["event name"] in tip.text and "<svg" not in tip.html
    assert "created-" in tip.text  # eventIDs
    _assert_clean(page)


@pytest.mark.browser
@pytest.mark.parametrize("with_csp", [True, False], ids=["as-shipped", "csp-removed"])
def test_injected_payloads_do_not_run(page: Page, tmp_path: Path, with_csp: bool):
    """Every payload stays text; the escaping alone holds, without the CSP backstop too."""
    page_html = render_graph(lineage_graph(), title=PAYLOADS["label"])
    if not with_csp:
        page_html = re.sub(r"<meta http-equiv=\"Content-Security-Policy\"[^>]*>", "", page_html)
        assert "Content-Security-Policy" not in page_html
    path = tmp_path / "payloads.html"
    path.write_text(page_html, encoding="utf-8")
    page.open(path)
    for node in ("AKIAIOSFODNN7EXAMPLE", "ASIAQ1EXAMPLE", "weird"):
        page.hover_node(node)
    created = page.evaluate("graphtrail.edges.get({filter: e => e.kind === 'CREATED'})[0].id")
    page.hover_edge(created)
    session = page.evaluate("graphtrail.nodes.get('ASIAQ1EXAMPLE').title.textContent")
    assert PAYLOADS["session name"] in session
    page.settle(0.3)
    assert (
        page.evaluate("document.querySelectorAll('img, svg[onload], b[onmouseover]').length") == 0
    )
    _assert_clean(page)


@pytest.mark.browser
def test_highlight_marks_the_lineage(page: Page, tmp_path: Path):
    page.open(_render(tmp_path, lineage_graph(), highlight=LINEAGE))
    opacity = page.evaluate(
        "Object.fromEntries(graphtrail.nodes.getIds().map("
        "id => [id, graphtrail.network.body.nodes[id].options.opacity ?? null]))"
    )
    assert all(opacity[n] != 0.25 for n in LINEAGE)
    assert opacity["arn:aws:iam::111122223333:user/ci-bot"] == 0.25
    page.screenshot(ARTIFACTS / "graph_lineage.png")
    _assert_clean(page)


@pytest.mark.browser
def test_screenshot_of_the_lineage(page: Page, tmp_path: Path):
    page.open(_render(tmp_path, lineage_graph(), title="Lineage of AKIAIOSFODNN7EXAMPLE"))
    shot = page.screenshot(ARTIFACTS / "graph_view.png")
    assert shot.stat().st_size > 10_000
    page.hover_node("ASIAQ1EXAMPLE")
    page.mouse_move(
        *page.evaluate(
            "(function () { var n = graphtrail.network, p = n.canvasToDOM("
            "n.getPositions(['ASIAQ1EXAMPLE']).ASIAQ1EXAMPLE),"
            " r = n.body.container.getBoundingClientRect(); return [r.left + p.x, r.top + p.y]; })()"
        )
    )
    page.wait_for("document.querySelector('div.vis-tooltip').style.visibility === 'visible'")
    page.screenshot(ARTIFACTS / "graph_tooltip.png")


@pytest.mark.browser
@pytest.mark.parametrize("layout", ["hierarchical", "force"])
def test_5000_nodes_open_and_settle(page: Page, tmp_path: Path, layout: str, record_property):
    g = synthetic_graph(5000)
    path = _render(tmp_path, g, max_nodes=10_000, layout=layout)
    seconds = page.open(path, timeout=120)
    in_page = page.evaluate("(graphtrail.readyAt) / 1000")
    size_mb = path.stat().st_size / 1e6
    record_property("settle_seconds", round(seconds, 2))
    record_property("html_mb", round(size_mb, 2))
    timings = page.evaluate("graphtrail.timings")
    print(
        f"\n5,000 nodes, {layout}: ready after {seconds:.2f} s {timings} "
        f"({in_page:.2f} s in page), {size_mb:.2f} MB"
    )
    assert seconds < 30
    assert page.evaluate("graphtrail.nodes.length") == 5000
    accounts = 4  # drawn on request
    assert page.evaluate("Object.keys(graphtrail.network.getPositions()).length") == 5000 - accounts
    page.screenshot(ARTIFACTS / f"graph_5000_{layout}.png")
    _assert_clean(page)


@pytest.mark.browser
def test_large_graph_summary_on_the_page(page: Page, tmp_path: Path):
    g = synthetic_graph(5000)
    seconds = page.open(_render(tmp_path, g))
    note = page.evaluate("document.querySelector('[data-gt-reduced]').innerText")
    assert "5,000 nodes" in note and "summary nodes" in note
    drawn = page.evaluate("graphtrail.nodes.length")
    assert drawn <= 1500
    summary = page.evaluate(
        "graphtrail.nodes.get({filter: n => n.id.startsWith('graphtrail:summary:')})[0].id"
    )
    tip = page.hover_node(summary)
    assert "Summary of" in tip.text and "Examples" in tip.text
    print(f"\n5,000 nodes summarised to {drawn}: ready after {seconds:.2f} s")
    page.screenshot(ARTIFACTS / "graph_5000_summarised.png")
    _assert_clean(page)
