"""GET /stats-history and /dashboard through Falcon's test client: JSON, CSV downloads, clear 400s, static assets."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

import falcon
import falcon.asgi
import falcon.testing
import pytest

from headroom.proxy import error_handler
from headroom.proxy.dashboard_resources import add_dashboard_routes
from headroom.store.interfaces import SavingsEvent, Stores
from headroom.store.memory import memory_stores


@pytest.fixture
def stores() -> Stores:
    bundle = memory_stores()
    for minute in range(3):
        bundle.savings.record(
            SavingsEvent(
                ts=time.time() - 600 + minute * 60,
                provider="anthropic",
                model="claude-sonnet-4-5",
                tenant="t",
                tokens_before=1000,
                tokens_after=250,
                cost_usd=0.01,
                cost_without_usd=0.03,
            )
        )
    return bundle


@pytest.fixture
def client(stores: Stores) -> falcon.testing.TestClient:
    app: falcon.asgi.App[Any, Any] = falcon.asgi.App()
    error_handler.register(app)
    add_dashboard_routes(app, stores)
    return falcon.testing.TestClient(app)


def test_stats_history_json(client: falcon.testing.TestClient) -> None:
    result = client.simulate_get("/stats-history")
    assert result.status_code == 200
    assert result.headers["cache-control"] == "no-store"
    body = result.json
    assert body["lifetime"]["tokens_saved"] == 2250
    assert body["lifetime"]["savings_percent"] == 75.0
    assert len(body["checkpoints"]) == 3
    assert body["history_summary"]["mode"] == "compact"
    full = client.simulate_get("/stats-history", params={"history_mode": "full"}).json
    assert full["history_summary"]["mode"] == "full"


@pytest.mark.parametrize("series", ["hourly", "daily", "weekly", "monthly", "checkpoints"])
def test_stats_history_csv_download(client: falcon.testing.TestClient, series: str) -> None:
    result = client.simulate_get("/stats-history", params={"format": "csv", "series": series})
    assert result.status_code == 200
    assert result.headers["content-type"] == "text/csv; charset=utf-8"
    assert f'filename="headroom-savings-{series}.csv"' in result.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(result.text)))
    assert rows
    assert sum(int(row["requests"]) for row in rows) >= 3


def test_csv_defaults_to_daily(client: falcon.testing.TestClient) -> None:
    result = client.simulate_get("/stats-history", params={"format": "csv"})
    assert "headroom-savings-daily.csv" in result.headers["content-disposition"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("format=yaml", "format must be one of json, csv"),
        ("series=daily&series=weekly", "given more than once"),
        ("history_mode=all", "history_mode must be one of compact, full"),
        ("since=yesterday", "unknown query parameter 'since'"),
    ],
)
def test_bad_queries_are_400_with_a_clear_message(client: falcon.testing.TestClient, query: str, message: str) -> None:
    result = client.simulate_get("/stats-history", query_string=query)
    assert result.status_code == 400
    assert result.json["type"] == "error"
    assert message in result.json["error"]["message"]


@pytest.mark.parametrize("path", ["/dashboard", "/dashboard/"])
def test_dashboard_page(client: falcon.testing.TestClient, path: str) -> None:
    result = client.simulate_get(path)
    assert result.status_code == 200
    assert result.headers["content-type"] == "text/html; charset=utf-8"
    assert '<script src="/dashboard/static/dashboard.js"></script>' in result.text
    assert "https://" not in result.text and "http://" not in result.text


@pytest.mark.parametrize(
    ("name", "content_type"),
    [("dashboard.js", "text/javascript; charset=utf-8"), ("dashboard.css", "text/css; charset=utf-8")],
)
def test_dashboard_assets(client: falcon.testing.TestClient, name: str, content_type: str) -> None:
    result = client.simulate_get(f"/dashboard/static/{name}")
    assert result.status_code == 200
    assert result.headers["content-type"] == content_type
    assert "https://" not in result.text


@pytest.mark.parametrize("name", ["missing.js", "..%2Fdashboard_resources.py", "..%2F..%2Fconfig.py"])
def test_unknown_assets_are_404(client: falcon.testing.TestClient, name: str) -> None:
    assert client.simulate_get(f"/dashboard/static/{name}").status_code == 404
