"""Drive Debian's headless Chromium over the DevTools protocol, to test the HTML views for real.

One Chromium process per test session (fixture ``browser``); a tab per test
(:meth:`Browser.new_page`). A :class:`Page` records everything a test needs to judge a
generated page: console errors, uncaught exceptions, every network request, and JavaScript
dialogs (an ``alert`` from an injected payload). It evaluates JavaScript, hovers a graph node
or edge to read its tooltip, and saves screenshots.

The protocol is spoken directly over a websocket (``websocket-client``): no chromedriver, no
Selenium, nothing to keep in step with the Chromium version.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

__all__ = ["CHROMIUM", "Browser", "Page", "Tooltip", "DevToolsError", "browser"]

CHROMIUM = Path(os.environ.get("GRAPHTRAIL_CHROMIUM", "/usr/bin/chromium"))
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--remote-debugging-port=0",
    "--remote-debugging-address=127.0.0.1",
)
_LOCAL_SCHEMES = ("file:", "data:")


class DevToolsError(RuntimeError):
    """Chromium did not start, answered with an error, or did not answer in time."""


@dataclass(frozen=True, slots=True)
class Tooltip:
    """What vis-network's popup showed: its text and its markup."""

    text: str
    html: str


class _Connection:
    """One DevTools websocket: numbered calls, and events handed to ``on_event``."""

    def __init__(self, url: str, on_event: Callable[[str, dict], None] | None = None):
        import websocket  # websocket-client; imported late so collection works without it

        self._ws = websocket.create_connection(url, timeout=30, suppress_origin=True)
        self._timeout_error = websocket.WebSocketTimeoutException
        self._ids = itertools.count(1)
        self._replies: dict[int, dict] = {}
        self.on_event = on_event

    def send(self, method: str, params: dict | None = None) -> int:
        msg_id = next(self._ids)
        self._ws.send(json.dumps({"id": msg_id, "method": method, "params": params or {}}))
        return msg_id

    def call(self, method: str, params: dict | None = None, timeout: float = 30.0) -> dict:
        msg_id = self.send(method, params)
        deadline = time.monotonic() + timeout
        while msg_id not in self._replies:
            if time.monotonic() >= deadline:
                raise DevToolsError(f"{method}: no answer within {timeout:.0f} s")
            self.pump(deadline - time.monotonic())
        reply = self._replies.pop(msg_id)
        if "error" in reply:
            raise DevToolsError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def pump(self, timeout: float) -> bool:
        """Read one message if one arrives within ``timeout`` seconds."""
        self._ws.settimeout(max(timeout, 0.001))
        try:
            raw = self._ws.recv()
        except self._timeout_error:
            return False
        msg = json.loads(raw)
        if "id" in msg:
            self._replies[msg["id"]] = msg
        elif self.on_event is not None:
            self.on_event(msg.get("method", ""), msg.get("params", {}))
        return True

    def close(self) -> None:
        self._ws.close()


class Page:
    """One browser tab, with what happened in it.

    Attributes
    ----------
    console_errors : list of str
        ``console.error``/``console.assert`` calls and browser log entries at level error
        (failed loads, Content-Security-Policy violations).
    exceptions : list of str
        Uncaught JavaScript exceptions.
    requests : list of str
        URL of every request the page made, the document itself included.
    dialogs : list of str
        ``alert``/``confirm``/``prompt`` messages (each dismissed at once).
    """

    def __init__(self, browser: Browser, target_id: str, ws_url: str, size: tuple[int, int]):
        self._browser = browser
        self.target_id = target_id
        self.console_errors: list[str] = []
        self.exceptions: list[str] = []
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self._loaded = False
        self._cdp = _Connection(ws_url, self._on_event)
        for domain in ("Page", "Runtime", "Log", "Network"):
            self._cdp.call(f"{domain}.enable")
        width, height = size
        self._cdp.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )

    # -- events -------------------------------------------------------------------------
    def _on_event(self, method: str, params: dict) -> None:
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            args = params.get("args", [])
            self.console_errors.append(
                " ".join(str(a.get("value", a.get("description", ""))) for a in args)
            )
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            exc = details.get("exception", {})
            self.exceptions.append(exc.get("description") or details.get("text", "exception"))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            self.console_errors.append(f"[{entry.get('source')}] {entry.get('text')}")
        elif method == "Network.requestWillBeSent":
            self.requests.append(params.get("request", {}).get("url", ""))
        elif method == "Page.javascriptDialogOpening":
            self.dialogs.append(params.get("message", ""))
            # Answer without waiting: the page is blocked until the dialog is closed.
            self._cdp.send("Page.handleJavaScriptDialog", {"accept": False})
        elif method == "Page.loadEventFired":
            self._loaded = True

    @property
    def external_requests(self) -> list[str]:
        """Requests for anything but ``file:`` and ``data:`` URLs (``about:blank`` aside)."""
        return [u for u in self.requests if not u.startswith(_LOCAL_SCHEMES) and u != "about:blank"]

    # -- actions ------------------------------------------------------------------------
    def open(
        self,
        target: Path | str,
        ready: str | None = "window.graphtrail && window.graphtrail.ready === true",
        timeout: float = 60.0,
    ) -> float:
        """Load a file or URL and wait for the load event, then for ``ready`` to be truthy.

        Returns
        -------
        float
            Seconds from navigation to ready, wall clock.
        """
        url = Path(target).resolve().as_uri() if isinstance(target, Path) else target
        self._loaded = False
        started = time.monotonic()
        reply = self._cdp.call("Page.navigate", {"url": url})
        if reply.get("errorText"):
            raise DevToolsError(f"could not open {url}: {reply['errorText']}")
        deadline = started + timeout
        while not self._loaded:
            self._cdp.pump(deadline - time.monotonic())
            if time.monotonic() >= deadline:
                raise DevToolsError(f"{url}: no load event within {timeout:.0f} s")
        if ready:
            self.wait_for(ready, timeout=deadline - time.monotonic())
        return time.monotonic() - started

    def evaluate(self, expression: str, timeout: float = 30.0) -> Any:
        """Evaluate a JavaScript expression in the page and return its value (as JSON).

        Raises
        ------
        DevToolsError
            When the expression throws.
        """
        result = self._cdp.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            timeout=timeout,
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise DevToolsError(f"evaluating {expression[:80]!r}: {text}")
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float = 30.0, every: float = 0.05) -> Any:
        """Evaluate ``expression`` until it is truthy; return its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() >= deadline:
                raise DevToolsError(f"{expression!r} still false after {timeout:.1f} s")
            self._cdp.pump(every)  # keeps events flowing while we wait

    def mouse_move(self, x: float, y: float) -> None:
        """Move the mouse to viewport coordinates (CSS pixels)."""
        self._cdp.call("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y})

    def hover_node(self, node_id: str, timeout: float = 5.0) -> Tooltip:
        """Centre a node of ``window.graphtrail``, hover it and return the tooltip shown."""
        point = self.evaluate(
            "(function (id) {"
            " var net = window.graphtrail.network;"
            " net.focus(id, {scale: 1.0, animation: false});"
            " var p = net.canvasToDOM(net.getPositions([id])[id]);"
            " var r = net.body.container.getBoundingClientRect();"
            " return {x: r.left + p.x, y: r.top + p.y};"
            f"}})({json.dumps(node_id)})"
        )
        return self._hover(point, timeout)

    def hover_edge(self, edge_id: str, timeout: float = 5.0) -> Tooltip:
        """Hover a point of an edge of ``window.graphtrail`` that no other item covers.

        vis-network shows the popup of the last edge within 10 canvas pixels of the pointer,
        so the point is chosen where no other edge (and no node) is that close.
        """
        point = self.evaluate(
            "(function (id) {"
            " var net = window.graphtrail.network, e = window.graphtrail.edges.get(id);"
            " var a = net.getPositions([e.from])[e.from], b = net.getPositions([e.to])[e.to];"
            " net.moveTo({position: {x: (a.x + b.x) / 2, y: (a.y + b.y) / 2},"
            "             scale: 1.0, animation: false});"
            " var shape = net.body.edges[id].edgeType;"
            " var r = net.body.container.getBoundingClientRect();"
            " for (var i = 0; i <= 40; i++) {"
            "   var t = 0.5 + (i % 2 ? 1 : -1) * Math.ceil(i / 2) / 100;"
            "   var c = shape.getPoint(t), p = net.canvasToDOM(c);"
            "   var box = {left: c.x, top: c.y, right: c.x, bottom: c.y};"
            "   var others = Object.keys(net.body.edges).filter(function (k) {"
            "     return k !== id && net.body.edges[k].isOverlappingWith(box); });"
            "   if (others.length === 0 && net.getNodeAt(p) === undefined) {"
            "     return {x: r.left + p.x, y: r.top + p.y};"
            "   }"
            " }"
            " return null;"
            f"}})({json.dumps(edge_id)})"
        )
        if point is None:
            raise DevToolsError(f"edge {edge_id!r} has no point free of other items")
        return self._hover(point, timeout)

    def _hover(self, point: dict, timeout: float) -> Tooltip:
        self.mouse_move(point["x"] - 40, point["y"] - 40)
        self.mouse_move(point["x"], point["y"])
        self.wait_for(
            "(function () { var t = document.querySelector('div.vis-tooltip');"
            " return !!t && t.style.visibility === 'visible' && t.textContent.length > 0; })()",
            timeout=timeout,
        )
        found = self.evaluate(
            "(function () { var t = document.querySelector('div.vis-tooltip');"
            " return {text: t.innerText, html: t.innerHTML}; })()"
        )
        self.mouse_move(1, 1)  # move away so the next hover starts clean
        return Tooltip(found["text"], found["html"])

    def screenshot(self, path: Path) -> Path:
        """Save a PNG of the viewport to ``path`` (folders are created)."""
        data = self._cdp.call("Page.captureScreenshot", {"format": "png"})["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def settle(self, seconds: float) -> None:
        """Let the page run for a while, collecting its events."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._cdp.pump(deadline - time.monotonic())

    def close(self) -> None:
        """Close the tab."""
        self._cdp.close()
        self._browser._close_target(self.target_id)


class Browser:
    """A headless Chromium process with a fresh profile, driven over DevTools."""

    def __init__(self, executable: Path = CHROMIUM, size: tuple[int, int] = (1440, 900)):
        self.size = size
        self._profile = Path(tempfile.mkdtemp(prefix="graphtrail-chromium-"))
        self._log = open(self._profile / "chromium.log", "wb")  # closed in close()
        self._proc = subprocess.Popen(
            [str(executable), *FLAGS, f"--user-data-dir={self._profile}", "about:blank"],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so close() can end Chromium's helpers with it
        )
        try:
            port, path = self._wait_for_port()
            self.port = port
            self._cdp = _Connection(f"ws://127.0.0.1:{port}{path}")
            self.version = self._cdp.call("Browser.getVersion").get("product", "")
        except Exception:
            self.close()
            raise

    def _wait_for_port(self, timeout: float = 30.0) -> tuple[int, str]:
        marker = self._profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise DevToolsError(f"Chromium exited early:\n{self._log_tail()}")
            lines = marker.read_text().split("\n") if marker.exists() else []
            if len(lines) >= 2 and lines[0].strip() and lines[1].strip():
                return int(lines[0]), lines[1].strip()
            time.sleep(0.05)
        raise DevToolsError(f"Chromium wrote no DevToolsActivePort:\n{self._log_tail()}")

    def _log_tail(self) -> str:
        self._log.flush()
        return (self._profile / "chromium.log").read_text(errors="replace")[-2000:]

    def new_page(self) -> Page:
        """Open a new tab on ``about:blank``."""
        target = self._cdp.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        return Page(self, target, f"ws://127.0.0.1:{self.port}/devtools/page/{target}", self.size)

    def _close_target(self, target_id: str) -> None:
        try:
            self._cdp.call("Target.closeTarget", {"targetId": target_id}, timeout=10)
        except DevToolsError:
            pass  # already gone

    def close(self) -> None:
        """End Chromium and remove its profile."""
        cdp = getattr(self, "_cdp", None)
        if cdp is not None:
            try:
                cdp.send("Browser.close")
                cdp.close()
            except OSError:
                pass
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=10)
        try:  # helpers (renderer, GPU, zygote) that outlived the browser, in our own group
            os.killpg(self._proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._log.close()
        shutil.rmtree(self._profile, ignore_errors=True)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """A headless Chromium for the whole test session; the tests fail, loudly, without it."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"headless Chromium not found at {CHROMIUM} "
            "(apt-get install chromium, or set GRAPHTRAIL_CHROMIUM)"
        )
    try:
        import websocket  # noqa: F401
    except ImportError:
        pytest.fail("websocket-client is not installed (pip install -e '.[test]')")
    instance = Browser()
    yield instance
    instance.close()
