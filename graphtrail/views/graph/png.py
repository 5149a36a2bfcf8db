"""A PNG picture of a graph view, taken by headless Chromium when one is installed.

Chromium is not a dependency of graphtrail: :func:`find_chromium` looks for one
(``$GRAPHTRAIL_CHROMIUM``, then ``chromium``, ``chromium-browser``, ``google-chrome`` on the
``PATH``) and :func:`screenshot` raises :class:`PngError` with a message that says what to
install when there is none. The page is opened from a temporary profile with networking
features off, and the picture is taken once the page's graphs are laid out and drawn; the
sandbox stays on unless the process runs as root, where Chromium refuses to start with it.

>>> find_chromium(env={"GRAPHTRAIL_CHROMIUM": "/nonexistent/chromium"}, path="") is None
True
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Hashable, Mapping
from pathlib import Path

import networkx as nx

from graphtrail.views.devtools import ChromiumPipe, DevToolsPipeError
from graphtrail.views.graph.html import render_graph

__all__ = ["PngError", "find_chromium", "screenshot", "write_graph_png", "BROWSERS"]

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class PngError(RuntimeError):
    """No Chromium to take the picture, or it did not write one."""


def find_chromium(env: Mapping[str, str] | None = None, path: str | None = None) -> Path | None:
    """The Chromium (or Chrome) to use, or ``None``.

    Parameters
    ----------
    env : mapping, optional
        Environment to read ``GRAPHTRAIL_CHROMIUM`` from (default ``os.environ``).
    path : str, optional
        Search path for the executables in :data:`BROWSERS` (default ``$PATH``).
    """
    env = os.environ if env is None else env
    chosen = env.get("GRAPHTRAIL_CHROMIUM")
    if chosen:
        return Path(chosen) if Path(chosen).is_file() else None
    for name in BROWSERS:
        found = shutil.which(name, path=path)
        if found:
            return Path(found)
    return None


# True once every graph view on the page has laid out and drawn (graph.js sets ``ready``);
# a page without views is ready at once.
_DRAWN = "(function () { var v = window.graphtrailViews; return !!v && v.every(function (x) { return x.ready; }); })()"
_STATE = ("(function () { var l = document.querySelector('.gt-loading'); "
          "return l && !l.hidden ? l.textContent : document.readyState; })()")


def screenshot(html_file: Path | str, png_file: Path | str, *, size: tuple[int, int] = (1600, 1000),
               wait_s: float = 60, chromium: Path | None = None) -> Path:
    """Open ``html_file`` in headless Chromium, wait until its graphs are drawn, save a PNG.

    Chromium is driven over the DevTools protocol (:mod:`graphtrail.views.devtools`): the
    picture is taken only once every graph view on the page has finished its layout and
    drawn it (``window.graphtrailViews[i].ready``, set by ``graph.js``).

    Parameters
    ----------
    html_file, png_file : path
    size : (int, int)
        Window width and height in CSS pixels.
    wait_s : float
        Seconds the layout may take before giving up.
    chromium : path, optional
        The executable; by default :func:`find_chromium`.

    Raises
    ------
    PngError
        No Chromium, it failed, or the layout did not finish within ``wait_s``.
    """
    exe = chromium or find_chromium()
    if exe is None:
        raise PngError("no headless Chromium found to draw the PNG: install Debian's 'chromium' "
                       "package (or Chrome), or set GRAPHTRAIL_CHROMIUM to its path")
    png = Path(png_file).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    png.unlink(missing_ok=True)
    page = Path(html_file).resolve()
    try:
        with ChromiumPipe(exe, size) as tab:
            tab.open(page.as_uri())
            if not tab.wait_for(_DRAWN, timeout=wait_s):
                raise PngError(f"{page}: the graph was not drawn within {wait_s:g} s "
                               f"(the page shows: {tab.evaluate(_STATE)!r}); no PNG written")
            data = tab.capture_png()
    except DevToolsPipeError as exc:
        raise PngError(f"{exe} could not draw {page}: {exc}") from exc
    tmp = png.with_name(png.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(png)
    return png


def write_graph_png(g: nx.MultiDiGraph, png_file: Path | str, *,
                    highlight: set[Hashable] | None = None, title: str = "graphtrail",
                    max_nodes: int = 1500, size: tuple[int, int] = (1600, 1000)) -> Path:
    """Draw ``g`` as :func:`~graphtrail.views.graph.html.render_graph` does and save a PNG.

    Raises
    ------
    PngError
        As :func:`screenshot`.
    """
    with tempfile.TemporaryDirectory(prefix="graphtrail-png-") as folder:
        page = Path(folder) / "graph.html"
        render_graph(g, page, highlight=highlight, title=title, max_nodes=max_nodes)
        return screenshot(page, png_file, size=size)
