"""Start and stop the test servers (the fake upstream, the Headroom proxy) as subprocesses on loopback."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def reserved_port() -> Iterator[int]:
    """A loopback port held for a server about to start on it: bound with SO_REUSEADDR and not listening, so the
    server (uvicorn and gunicorn set SO_REUSEADDR as well) can bind it, while no bind to port 0 and no outgoing
    connection on this machine can take it in the meantime (a port from `free_port` can be handed to another
    process before the server binds it, and a readiness probe would then find that process's server). Release it
    once the server is listening."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        yield port


def wait_until(condition: Callable[[], bool], timeout: float, what: str, process: subprocess.Popen[bytes]) -> None:
    """Poll `condition` until it holds; fail early if the process died, or at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what}: process exited with {process.returncode}")
        if condition():
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what}: not ready after {timeout} s")


class ServerProcess:
    """A server subprocess whose stderr goes to a file, stopped with SIGTERM and then SIGKILL."""

    def __init__(self, argv: list[str], env: Mapping[str, str] | None = None) -> None:
        self._log = tempfile.NamedTemporaryFile(prefix="headroom-test-", suffix=".log", delete=False)  # noqa: SIM115
        self.process = subprocess.Popen(
            argv, cwd=REPO_ROOT, env=dict(env or os.environ), stdout=self._log, stderr=subprocess.STDOUT
        )

    def output(self) -> str:
        return Path(self._log.name).read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()
        Path(self._log.name).unlink(missing_ok=True)


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake upstream received."""

    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes
    time: float

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key == name.lower()), None)

    def json(self) -> Any:
        return json.loads(self.body)


class FakeUpstream:
    """Handle on the fake upstream subprocess: its URL, its request record, its queue of scripted turns."""

    def __init__(self, cache_min_tokens: int = 1024) -> None:
        self._port_file = Path(tempfile.mkdtemp(prefix="fake-upstream-")) / "port"
        argv = [sys.executable, "-m", "tests.fakes.fake_upstream", "--port", "0", "--port-file", str(self._port_file)]
        self.server = ServerProcess([*argv, "--cache-min-tokens", str(cache_min_tokens)])
        wait_until(self._port_file.exists, 20, "fake upstream", self.server.process)
        self.url = f"http://127.0.0.1:{int(self._port_file.read_text())}"
        self._client = httpx.Client(base_url=self.url, timeout=10)

    def requests(self, path: str | None = None) -> list[RecordedRequest]:
        """Every request received since the last clear, oldest first; only those to `path` when given."""
        recorded = [
            RecordedRequest(
                method=item["method"],
                path=item["path"],
                query=item["query"],
                headers=[(key, value) for key, value in item["headers"]],
                body=base64.b64decode(item["body"]),
                time=item["time"],
            )
            for item in self._client.get("/_fake/requests").raise_for_status().json()
        ]
        return [request for request in recorded if path is None or request.path == path]

    def clear(self) -> None:
        """Forget recorded requests, queued turns and cached prompt prefixes."""
        self._client.delete("/_fake/requests").raise_for_status()
        self._client.delete("/_fake/cache").raise_for_status()

    def enqueue(self, *specs: dict[str, Any]) -> None:
        """Script the next generation requests, e.g. {"scenario": "tool_use", "tool": "Bash", "input": {...}};
        a spec with "match" is only used by a request whose body contains that substring."""
        self._client.post("/_fake/enqueue", json=list(specs)).raise_for_status()

    def close(self) -> None:
        self._client.close()
        self.server.stop()
        self._port_file.unlink(missing_ok=True)
        self._port_file.parent.rmdir()


class ProxyProcess:
    """The Headroom proxy (`python -m headroom.cli proxy …`) as a subprocess, ready once /readyz answers 200."""

    def __init__(
        self, upstream_url: str, workspace: Path, args: tuple[str, ...], env: Mapping[str, str] | None
    ) -> None:
        with reserved_port() as port:
            self.port = port
            self.url = f"http://127.0.0.1:{self.port}"
            argv = [sys.executable, "-m", "headroom.cli", "proxy", "--host", "127.0.0.1", "--port", str(self.port)]
            argv += ["--anthropic-api-url", upstream_url, "--openai-api-url", upstream_url, *args]
            full_env = {
                **os.environ,
                "HEADROOM_WORKSPACE_DIR": str(workspace),
                "HEADROOM_TELEMETRY": "off",
                **(env or {}),
            }
            self.server = ServerProcess(argv, full_env)
            try:
                wait_until(self._ready, 30, f"headroom proxy {' '.join(args)}", self.server.process)
            except (RuntimeError, TimeoutError) as error:
                output = self.server.output()
                self.server.stop()
                raise RuntimeError(f"{error}\n--- proxy output ---\n{output}") from error

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def output(self) -> str:
        return self.server.output()

    def stop(self) -> None:
        self.server.stop()
