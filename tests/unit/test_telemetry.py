"""The anonymous telemetry beacon: exactly the documented aggregate fields, posted to a capture server on
127.0.0.1 periodically and at shutdown; nothing at all when telemetry is off or no URL is set."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from falcon.testing import ASGIConductor

from headroom.accounting.session_stats import SessionStats
from headroom.app import create_app
from headroom.config import Settings
from headroom.observability.exporters import Exporters
from headroom.observability.telemetry import TelemetryBeacon, count_bucket, sdk_label, uptime_bucket
from tests.fakes.capture import CaptureServer

API_KEY = "sk-ant-api03-CLIENTKEY"
PROXY_KEY = "hr-proxy-key-123"
PAYLOAD_KEYS = {
    "schema",
    "reason",
    "version",
    "sdk",
    "os",
    "python",
    "uptime",
    "requests",
    "tokens_saved",
    "features",
}


@pytest.fixture
def capture() -> Iterator[CaptureServer]:
    server = CaptureServer().start()
    yield server
    server.close()


def beacon_settings(url: str | None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "store": "memory",
        "telemetry_url": url,
        "api_keys": [API_KEY],
        "proxy_keys": [PROXY_KEY],
        "tenant_salt": "salty",
    }
    return Settings(**(values | overrides))


def busy_stats() -> SessionStats:
    stats = SessionStats(started_at=time.time() - 7200, requests=42, tokens_before=150_000, tokens_after=30_000)
    stats.by_model["claude-sonnet-4-5"] = 42
    return stats


def test_buckets_are_coarse() -> None:
    assert [count_bucket(n) for n in (0, 7, 42, 120_000, 10**12)] == ["0", "1-9", "10-99", "100000-999999", "1e9+"]
    assert [uptime_bucket(s) for s in (10, 7200, 30_000, 200_000, 10**7)] == [
        "<1h",
        "1h-6h",
        "6h-24h",
        "1d-7d",
        ">7d",
    ]
    assert sdk_label("headroom-app") == "headroom-app"
    assert sdk_label("my app / " + API_KEY) == "other"


def test_the_beacon_posts_only_the_documented_aggregates(capture: CaptureServer) -> None:
    settings = beacon_settings(capture.url + "/beacon", telemetry_sdk="headroom-app")
    beacon = TelemetryBeacon.from_settings(settings, busy_stats())
    assert beacon is not None
    assert asyncio.run(beacon.send("periodic"))
    [request] = capture.wait_for(1)
    assert request.path == "/beacon"
    payload = json.loads(request.body)
    assert set(payload) == PAYLOAD_KEYS
    assert payload["sdk"] == "headroom-app" and payload["reason"] == "periodic"
    assert (
        payload["uptime"] == "1h-6h" and payload["requests"] == "10-99" and payload["tokens_saved"] == "100000-999999"
    )
    assert all(isinstance(v, bool | str) for v in payload["features"].values())
    assert payload["features"]["proxy_keys"] is True
    text = request.body.decode() + str(request.headers)
    for secret in (API_KEY, PROXY_KEY, "salty", "claude-sonnet", socket.gethostname()):
        assert secret not in text


def test_the_sdk_label_defaults_to_proxy() -> None:
    beacon = TelemetryBeacon.from_settings(beacon_settings("http://127.0.0.1:9"), busy_stats())
    assert beacon is not None and beacon.payload("shutdown")["sdk"] == "proxy"


def test_periodic_and_shutdown_beacons(capture: CaptureServer) -> None:
    settings = beacon_settings(capture.url)
    beacon = TelemetryBeacon(settings, capture.url, busy_stats(), interval=0.01)

    async def run() -> None:
        beacon.start()
        await asyncio.to_thread(capture.wait_for, 1)
        await beacon.aclose()

    asyncio.run(run())
    reasons = [json.loads(r.body)["reason"] for r in capture.requests]
    # A periodic post cut short by aclose may still be recorded after the shutdown one (each request has its own
    # server thread), so only the first periodic post is known to come before the shutdown beacon.
    assert reasons[0] == "periodic" and reasons.count("shutdown") == 1
    assert set(reasons) == {"periodic", "shutdown"}


@pytest.mark.parametrize("off", ["off", "0", "false"])
def test_telemetry_off_sends_nothing(capture: CaptureServer, monkeypatch: pytest.MonkeyPatch, off: str) -> None:
    monkeypatch.setenv("HEADROOM_TELEMETRY", off)
    settings = beacon_settings(capture.url)
    assert settings.telemetry is False
    exporters = Exporters.from_settings(settings, busy_stats())
    assert exporters.beacon is None

    async def lifecycle() -> None:
        exporters.start()
        await exporters.aclose()

    asyncio.run(lifecycle())
    assert capture.requests == []


def test_no_url_sends_nothing() -> None:
    settings = beacon_settings(None, telemetry=True)
    assert TelemetryBeacon.from_settings(settings, busy_stats()) is None


def test_a_failed_post_is_dropped() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    beacon = TelemetryBeacon(beacon_settings(None), f"http://127.0.0.1:{closed_port}", busy_stats())
    assert asyncio.run(beacon.send("shutdown")) is False


def test_the_app_sends_the_shutdown_beacon(capture: CaptureServer) -> None:
    app = create_app(beacon_settings(capture.url, telemetry=True))

    async def lifecycle() -> None:
        async with ASGIConductor(app) as conductor:
            assert (await conductor.get("/livez")).status_code == 200

    asyncio.run(lifecycle())
    [request] = capture.wait_for(1)
    assert json.loads(request.body)["reason"] == "shutdown"
