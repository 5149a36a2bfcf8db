"""PNG pictures of graph views: taken only once the layout is drawn, judged by their pixels.

The graph sits on a white canvas left of the legend. A picture taken before the layout
finished shows the canvas blank but for "Laying out N nodes…"; a drawn one shows the
lineage's nodes in their fill colours (graphtrail.views.graph.style) spread over the canvas.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from graphtrail.model import NodeKind
from graphtrail.views.graph.focus import focus_graph
from graphtrail.views.graph.png import PngError, find_chromium, screenshot, write_graph_png
from graphtrail.views.graph.style import NODE_STYLES
from tests.conftest import GRAPHTRAIL

pytestmark = pytest.mark.browser
Image = pytest.importorskip("PIL.Image", reason="Pillow decodes the pictures (the test extra)")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
# The lineage of the leaked key has users, roles, long-term keys and sessions.
LINEAGE_KINDS = (NodeKind.USER, NodeKind.ROLE, NodeKind.ACCESS_KEY, NodeKind.SESSION)


@pytest.fixture(autouse=True, scope="module")
def _chromium():
    if find_chromium() is None:
        pytest.fail("no Chromium for the PNG export (apt-get install chromium)")


def _rgb(hex_colour: str) -> np.ndarray:
    return np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)], dtype=np.int16)


def canvas(png: Path) -> np.ndarray:
    """The picture's graph canvas: below the header, left of the legend (RGB, int16)."""
    pixels = np.asarray(Image.open(png).convert("RGB"), dtype=np.int16)
    h, w, _ = pixels.shape
    return pixels[int(h * 0.2):int(h * 0.95), int(w * 0.03):int(w * 0.78)]


def colour_pixels(area: np.ndarray, hex_colour: str, tolerance: int = 12) -> int:
    return int((np.abs(area - _rgb(hex_colour)).max(axis=2) <= tolerance).sum())


def judge(png: Path) -> dict:
    """What the canvas shows: how far the drawing spreads and how much of each node colour."""
    area = canvas(png)
    ink = (np.abs(area - 255).max(axis=2) > 24)  # not the white background
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    spread = ((rows[-1] - rows[0]) / ink.shape[0], (cols[-1] - cols[0]) / ink.shape[1]) if len(rows) else (0, 0)
    return {"spread": spread, "ink": float(ink.mean()),
            "colours": {k.value: colour_pixels(area, NODE_STYLES[k].colour) for k in LINEAGE_KINDS}}


def assert_drawn(png: Path) -> None:
    seen = judge(png)
    assert min(seen["spread"]) > 0.3, (png, seen)  # the drawing spreads over the canvas
    for kind, count in seen["colours"].items():
        assert count > 150, (png, kind, seen)  # several nodes of each kind, not a legend swatch


@pytest.fixture(scope="module")
def lineage(scenario):
    store, truth = scenario
    from graphtrail.queries.seeds import Seed

    return focus_graph(store, Seed.of(None, truth.leaked_key), depth=1), store, truth


def test_the_pixel_judge_tells_a_blank_canvas(tmp_path):
    """A page caught before its layout (only the "laying out" note) is not a drawn graph."""
    page = tmp_path / "blank.html"
    page.write_text("<!doctype html><body style='margin:0;background:#fff'><div style='padding:"
                    "300px 500px;font:16px sans-serif'>Laying out 27 nodes\u2026</div>"
                    "<script>window.graphtrailViews = [];</script></body>")
    png = screenshot(page, tmp_path / "blank.png")
    with pytest.raises(AssertionError):
        assert_drawn(png)


def test_every_capture_draws_the_graph(lineage, tmp_path):
    """Repeated captures, both layouts: each one waits for the layout and shows the nodes."""
    (g, highlight), _, _ = lineage
    from graphtrail.views.graph.html import render_graph

    for i, layout in enumerate(("hierarchical", "force") * 3):
        page = tmp_path / f"{layout}-{i}.html"
        render_graph(g, page, highlight=highlight, title="lineage", layout=layout)
        png = screenshot(page, tmp_path / f"{layout}-{i}.png")
        assert_drawn(png)
    ARTIFACTS.mkdir(exist_ok=True)
    png.replace(ARTIFACTS / "png_force.png")


def test_report_png_of_the_lineage(lineage, tmp_path):
    (g, highlight), _, _ = lineage
    png = write_graph_png(g, tmp_path / "lineage.png", highlight=highlight, max_nodes=40)
    assert_drawn(png)


def test_view_and_report_commands_draw(lineage, tmp_path):
    """As a user runs them: ``view --png`` and ``report --png``."""
    _, store, truth = lineage
    case = str(store.case.path)
    for cmd in (["view", "--focus", truth.leaked_key, "--out", str(tmp_path / "v.html"),
                 "--png", str(tmp_path / "v.png")],
                ["report", "--access-key", truth.leaked_key, "--out", str(tmp_path / "r.html"),
                 "--png", str(tmp_path / "r.png")]):
        done = subprocess.run([GRAPHTRAIL, *cmd, "--case", case], capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr
    assert_drawn(tmp_path / "v.png")
    assert_drawn(tmp_path / "r.png")


def test_a_layout_that_never_finishes_fails_clearly(tmp_path):
    page = tmp_path / "stuck.html"
    page.write_text("<!doctype html><div class='gt-loading'>Laying out 27 nodes\u2026</div>"
                    "<script>window.graphtrailViews = [{ready: false}];</script>")
    with pytest.raises(PngError, match=r"not drawn within 2 s .*Laying out 27 nodes"):
        screenshot(page, tmp_path / "stuck.png", wait_s=2)
    assert not (tmp_path / "stuck.png").exists()
