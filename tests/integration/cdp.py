"""Headless Chromium driven over the Chrome DevTools Protocol (websockets, no Playwright): launch with a fresh
profile and no outside network, evaluate JavaScript, collect console errors and every request the page makes."""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

from tests.fakes.processes import wait_until

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    # Anything but loopback fails to resolve, so a stray request can never leave the machine.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--remote-debugging-port=0",
)


def find_chromium() -> str | None:
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


class CdpPage:
    """One page target: commands by id, events kept in order for the test to inspect."""

    def __init__(self, ws_url: str) -> None:
        self._stack = contextlib.ExitStack()
        self._ws: ClientConnection = self._stack.enter_context(connect(ws_url, max_size=None, open_timeout=10))
        self._ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    def _receive(self, timeout: float) -> dict[str, Any] | None:
        try:
            message: dict[str, Any] = json.loads(self._ws.recv(timeout=timeout))
        except TimeoutError:
            return None
        if "method" in message:
            self.events.append(message)
        return message

    def call(self, method: str, timeout: float = 30, **params: Any) -> dict[str, Any]:
        command_id = next(self._ids)
        self._ws.send(json.dumps({"id": command_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self._receive(max(0.01, deadline - time.monotonic()))
            if message is not None and message.get("id") == command_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
        raise TimeoutError(f"{method}: no answer in {timeout} s")

    def evaluate(self, expression: str) -> Any:
        """The JSON value of `expression` (promises awaited); a thrown exception fails the call."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 15) -> Any:
        """Evaluate until the value is truthy, reading events in between; fail at the deadline."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            self._receive(0.05)
        raise TimeoutError(f"{expression!r} still falsy after {timeout} s")

    def navigate(self, url: str, ready: str, timeout: float = 20) -> None:
        self.call("Page.navigate", url=url)
        self.wait_for(f"document.readyState === 'complete' && ({ready})", timeout)

    def screenshot(self, path: Path) -> None:
        """A PNG of the whole page, not just the viewport."""
        metrics = self.call("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": metrics["width"], "height": metrics["height"], "scale": 1}
        data = self.call("Page.captureScreenshot", format="png", clip=clip, captureBeyondViewport=True)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))

    def events_named(self, method: str) -> list[dict[str, Any]]:
        return [event["params"] for event in self.events if event["method"] == method]

    def close(self) -> None:
        self._stack.close()


class Chromium:
    """A headless Chromium with a throwaway profile; `page()` attaches to its first tab."""

    def __init__(self, binary: str, width: int = 1360, height: int = 900) -> None:
        self._profile = tempfile.mkdtemp(prefix="headroom-chromium-")
        argv = [binary, *FLAGS, f"--user-data-dir={self._profile}", f"--window-size={width},{height}", "about:blank"]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = Path(self._profile) / "DevToolsActivePort"
        wait_until(lambda: port_file.exists() and port_file.read_text().count("\n") >= 1, 30, "chromium", self.process)
        self.port = int(port_file.read_text().splitlines()[0])

    def page(self) -> CdpPage:
        targets: list[dict[str, Any]] = []

        def has_page() -> bool:
            targets[:] = httpx.get(f"http://127.0.0.1:{self.port}/json/list", timeout=5).json()
            return any(target["type"] == "page" for target in targets)

        wait_until(has_page, 15, "chromium page target", self.process)
        target = next(target for target in targets if target["type"] == "page")
        return CdpPage(target["webSocketDebuggerUrl"])

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        shutil.rmtree(self._profile, ignore_errors=True)
