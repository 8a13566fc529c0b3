"""A tiny HTTP server on 127.0.0.1 that records every complete POST (path, headers, body) and answers 200, for the
exporters' tests: OTLP metrics and traces, the telemetry beacon."""

from __future__ import annotations

import gzip
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True, slots=True)
class Captured:
    path: str
    headers: dict[str, str]
    body: bytes


class CaptureServer:
    def __init__(self) -> None:
        self.requests: list[Captured] = []
        self._arrived = threading.Condition()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if len(raw) < length:  # the client gave up mid-request (a post cancelled at shutdown): no request
                    return
                if self.headers.get("Content-Encoding") == "gzip":
                    raw = gzip.decompress(raw)
                headers = {key.lower(): value for key, value in self.headers.items()}
                with server._arrived:
                    server.requests.append(Captured(self.path, headers, raw))
                    server._arrived.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> CaptureServer:
        self._thread.start()
        return self

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Captured]:
        """Block until at least `count` requests arrived (or the timeout passed); returns what arrived."""
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.requests) >= count, timeout)
            return list(self.requests)

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)
