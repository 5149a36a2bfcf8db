"""Headless Chromium driven over the DevTools protocol on a pipe: open a page, wait, capture.

``--remote-debugging-pipe`` makes Chromium read protocol commands from file descriptor 3
and write replies and events to 4, each a JSON message ended by a NUL byte. Nothing listens
on a port and no websocket library is needed. Used to take PNG pictures only once the page
says it is drawn (a ``--screenshot`` with a virtual-time budget does not wait for a layout).
"""

from __future__ import annotations

import base64
import fcntl
import itertools
import json
import os
import select
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["DevToolsPipeError", "ChromiumPipe"]

FLAGS = (
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
    "--remote-debugging-pipe",
)


class DevToolsPipeError(RuntimeError):
    """Chromium did not start, answered with an error, or did not answer in time."""


class ChromiumPipe:
    """One headless Chromium with one tab, as a context manager.

    Parameters
    ----------
    executable : path
        Chromium or Chrome.
    size : (int, int)
        The tab's viewport in CSS pixels.
    """

    def __init__(self, executable: Path, size: tuple[int, int] = (1600, 1000)) -> None:
        self.executable = Path(executable)
        self.size = size
        self._ids = itertools.count(1)
        self._buf = b""
        self._profile = tempfile.TemporaryDirectory(prefix="graphtrail-chromium-")
        self._proc: subprocess.Popen | None = None
        self._session: str | None = None

    def __enter__(self) -> ChromiumPipe:
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        # Above 4, so that putting one on 3 never overwrites the other.
        ends = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_chrome_r, from_chrome_w)]
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        args = [str(self.executable), *FLAGS, f"--user-data-dir={self._profile.name}",
                f"--window-size={self.size[0]},{self.size[1]}", "about:blank"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium will not start as root with its sandbox

        def child_fds() -> None:  # the protocol lives on the child's descriptors 3 and 4
            os.dup2(ends[0], 3)
            os.dup2(ends[1], 4)

        self._log = open(Path(self._profile.name) / "chromium.log", "wb")  # never fills like a pipe
        try:
            # close_fds=False: the descriptors made in child_fds must survive; every other
            # descriptor of this process is close-on-exec (PEP 446).
            self._proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                          stderr=self._log, preexec_fn=child_fds,
                                          close_fds=False)
        except OSError as exc:
            self._log.close()
            os.close(self._to_chrome)
            os.close(self._from_chrome)
            self._profile.cleanup()
            raise DevToolsPipeError(f"{self.executable} did not start: {exc}") from exc
        finally:
            for fd in ends:
                os.close(fd)
        try:
            target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            self._session = self.call("Target.attachToTarget",
                                      {"targetId": target, "flatten": True})["sessionId"]
            self.call("Emulation.setDeviceMetricsOverride",
                      {"width": self.size[0], "height": self.size[1], "deviceScaleFactor": 1,
                       "mobile": False})
            self.call("Page.enable")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            try:
                self._session = None
                self.send("Browser.close")
                proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired, DevToolsPipeError):
                proc.kill()
                proc.wait()
        self._log.close()
        for fd in (self._to_chrome, self._from_chrome):
            try:
                os.close(fd)
            except OSError:
                pass
        self._profile.cleanup()

    # -- the protocol ----------------------------------------------------------------------
    def send(self, method: str, params: dict | None = None) -> int:
        msg_id = next(self._ids)
        msg = {"id": msg_id, "method": method, "params": params or {}}
        if self._session:
            msg["sessionId"] = self._session
        try:
            os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        except OSError as exc:
            raise DevToolsPipeError(f"{self.executable} stopped listening: {exc}{self._stderr()}") from exc
        return msg_id

    def call(self, method: str, params: dict | None = None, timeout: float = 30.0) -> dict:
        """Send a command and return its result (events that arrive meanwhile are dropped)."""
        msg_id = self.send(method, params)
        deadline = time.monotonic() + timeout
        while True:
            msg = self._read(deadline, method)
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise DevToolsPipeError(f"{method}: {msg['error'].get('message', msg['error'])}")
                return msg.get("result", {})

    def _read(self, deadline: float, waiting_for: str) -> dict:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise DevToolsPipeError(f"{self.executable} did not answer {waiting_for} in time")
            ready, _, _ = select.select([self._from_chrome], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._from_chrome, 1 << 20)
            if not chunk:
                raise DevToolsPipeError(f"{self.executable} exited while answering {waiting_for}"
                                        + self._stderr())
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def _stderr(self) -> str:
        try:
            text = (Path(self._profile.name) / "chromium.log").read_text("utf-8", "replace")
        except OSError:
            return ""
        tail = text.strip().splitlines()[-3:]
        return (": " + " | ".join(tail)) if tail else ""

    # -- what pictures need ------------------------------------------------------------------
    def open(self, url: str, timeout: float = 30.0) -> None:
        """Navigate the tab to ``url`` (waits for the navigation to commit, not for scripts)."""
        result = self.call("Page.navigate", {"url": url}, timeout=timeout)
        if result.get("errorText"):
            raise DevToolsPipeError(f"{url} did not open: {result['errorText']}")

    def evaluate(self, expression: str, timeout: float = 30.0):
        """The JSON value of a JavaScript expression in the tab."""
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                           timeout=timeout)
        if "exceptionDetails" in result:
            detail = result["exceptionDetails"]
            text = detail.get("exception", {}).get("description") or detail.get("text")
            raise DevToolsPipeError(f"the page's script failed: {text}")
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float, every: float = 0.1):
        """Evaluate ``expression`` until it is truthy; its value, or None after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        value = self.evaluate(expression)
        while not value and time.monotonic() < deadline:
            time.sleep(every)
            value = self.evaluate(expression)
        return value or None

    def capture_png(self) -> bytes:
        """The tab's viewport as PNG bytes."""
        data = self.call("Page.captureScreenshot", {"format": "png", "fromSurface": True},
                         timeout=60)["data"]
        return base64.b64decode(data)
