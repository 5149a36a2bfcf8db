"""A PNG picture of a graph view, taken by headless Chromium when one is installed.

Chromium is not a dependency of graphtrail: :func:`find_chromium` looks for one
(``$GRAPHTRAIL_CHROMIUM``, then ``chromium``, ``chromium-browser``, ``google-chrome`` on the
``PATH``) and :func:`screenshot` raises :class:`PngError` with a message that says what to
install when there is none. The page is opened from a temporary profile with networking
features off; the sandbox stays on unless the process runs as root, where Chromium refuses
to start with it.

>>> find_chromium(env={"GRAPHTRAIL_CHROMIUM": "/nonexistent/chromium"}, path="") is None
True
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Hashable, Mapping
from pathlib import Path

import networkx as nx

from graphtrail.views.graph_html import render_graph

__all__ = ["PngError", "find_chromium", "screenshot", "write_graph_png", "BROWSERS"]

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_FLAGS = (
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--mute-audio",
)


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


def screenshot(html_file: Path | str, png_file: Path | str, *, size: tuple[int, int] = (1600, 1000),
               wait_ms: int = 8000, chromium: Path | None = None, timeout: float = 120) -> Path:
    """Open ``html_file`` in headless Chromium and save the window as ``png_file``.

    Parameters
    ----------
    html_file, png_file : path
    size : (int, int)
        Window width and height in CSS pixels.
    wait_ms : int
        Virtual time the page gets to draw before the picture is taken.
    chromium : path, optional
        The executable; by default :func:`find_chromium`.
    timeout : float
        Seconds before giving up.

    Raises
    ------
    PngError
        No Chromium, or it exited without writing the picture.
    """
    exe = chromium or find_chromium()
    if exe is None:
        raise PngError("no headless Chromium found to draw the PNG: install Debian's 'chromium' "
                       "package (or Chrome), or set GRAPHTRAIL_CHROMIUM to its path")
    png = Path(png_file).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    png.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="graphtrail-chromium-") as profile:
        args = [str(exe), *_FLAGS, f"--user-data-dir={profile}",
                f"--window-size={size[0]},{size[1]}", f"--virtual-time-budget={wait_ms}",
                f"--screenshot={png}", Path(html_file).resolve().as_uri()]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium will not start as root with its sandbox
        try:
            done = subprocess.run(args, capture_output=True, timeout=timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PngError(f"{exe} could not draw {html_file}: {exc}") from exc
    if not png.is_file() or png.stat().st_size == 0:
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
        raise PngError(f"{exe} exited with status {done.returncode} without writing {png}: "
                       + " | ".join(tail))
    return png


def write_graph_png(g: nx.MultiDiGraph, png_file: Path | str, *,
                    highlight: set[Hashable] | None = None, title: str = "graphtrail",
                    max_nodes: int = 1500, size: tuple[int, int] = (1600, 1000)) -> Path:
    """Draw ``g`` as :func:`~graphtrail.views.graph_html.render_graph` does and save a PNG.

    Raises
    ------
    PngError
        As :func:`screenshot`.
    """
    with tempfile.TemporaryDirectory(prefix="graphtrail-png-") as folder:
        page = Path(folder) / "graph.html"
        render_graph(g, page, highlight=highlight, title=title, max_nodes=max_nodes)
        return screenshot(page, png_file, size=size)
