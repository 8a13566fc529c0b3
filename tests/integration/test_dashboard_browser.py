"""The /dashboard page in real headless Chromium over CDP, served by `headroom proxy` in a subprocess over a SQLite
store seeded with ~90 days of events: cards match the seeded totals, charts draw, toggles switch series, exports work,
the console stays clean and no request leaves 127.0.0.1."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from headroom.store.interfaces import SavingsEvent
from headroom.store.sqlite import sqlite_stores
from tests.fakes.processes import REPO_ROOT, ProxyProcess, free_port
from tests.integration.cdp import CdpPage, Chromium, find_chromium
from tests.integration.savings_seed import seed_events

CHROMIUM = find_chromium()
ARTIFACTS = REPO_ROOT / "tests" / "artifacts"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"),
]


@dataclass
class DashboardServer:
    url: str
    events: list[SavingsEvent]


def _serve(workspace: Path) -> ProxyProcess:
    """`headroom proxy` over the workspace's store. Its upstream is a closed loopback port: the dashboard never
    needs one, and anything forwarded by mistake fails loudly instead of leaving the machine."""
    return ProxyProcess(f"http://127.0.0.1:{free_port()}", workspace, (), {"HEADROOM_TELEMETRY": "off"})


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashboardServer]:
    workspace = tmp_path_factory.mktemp("dashboard-seeded")
    events = seed_events(time.time())
    stores = sqlite_stores(workspace / "headroom.db")
    for event in events:
        stores.savings.record(event)
    stores.close()
    proxy = _serve(workspace)
    yield DashboardServer(proxy.url, events)
    proxy.stop()


@pytest.fixture(scope="module")
def empty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    workspace = tmp_path_factory.mktemp("dashboard-empty")
    proxy = _serve(workspace)
    yield proxy.url, workspace
    proxy.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Chromium]:
    assert CHROMIUM is not None
    chromium = Chromium(CHROMIUM)
    yield chromium
    chromium.close()


@pytest.fixture
def page(browser: Chromium) -> Iterator[CdpPage]:
    cdp = browser.page()
    for domain in ("Runtime", "Network", "Log", "Page"):
        cdp.call(f"{domain}.enable")
    cdp.call("Emulation.setDeviceMetricsOverride", width=1360, height=900, deviceScaleFactor=1, mobile=False)
    yield cdp
    assert_clean(cdp)
    cdp.call("Page.navigate", url="about:blank")
    cdp.close()


def assert_clean(cdp: CdpPage) -> None:
    """No console error, no uncaught exception, no failed load, and every request stayed on loopback."""
    errors = [p for p in cdp.events_named("Runtime.consoleAPICalled") if p["type"] in {"error", "assert"}]
    errors += cdp.events_named("Runtime.exceptionThrown")
    errors += [p for p in cdp.events_named("Log.entryAdded") if p["entry"]["level"] == "error"]
    assert errors == []
    urls = [p["request"]["url"] for p in cdp.events_named("Network.requestWillBeSent")]
    assert urls, "the page made no request at all"
    outside = [
        url for url in urls if urlsplit(url).scheme not in {"data", "about"} and urlsplit(url).hostname != "127.0.0.1"
    ]
    assert outside == []


def open_dashboard(cdp: CdpPage, base: str, query: str = "") -> None:
    cdp.navigate(
        f"{base}/dashboard{query}", "document.body.dataset.state === 'ready' || document.body.dataset.state === 'empty'"
    )


def card_value(cdp: CdpPage, card: str, attribute: str = "value") -> Any:
    return cdp.evaluate(f"document.querySelector('#{card} .value').dataset.{attribute}")


def point_in(cdp: CdpPage, selector: str, across: float = 0.5) -> dict[str, float]:
    """Viewport coordinates `across` the element's width, halfway down."""
    script = (
        f"(() => {{ const r = document.querySelector({json.dumps(selector)}).getBoundingClientRect();"
        f" return {{x: r.x + r.width * {across}, y: r.y + r.height / 2}}; }})()"
    )
    box: dict[str, float] = cdp.evaluate(script)
    return box


def click(cdp: CdpPage, selector: str) -> None:
    """A real mouse click at the element's centre."""
    box = point_in(cdp, selector)
    for kind in ("mousePressed", "mouseReleased"):
        cdp.call("Input.dispatchMouseEvent", type=kind, x=box["x"], y=box["y"], button="left", clickCount=1)


def history(base: str) -> dict[str, Any]:
    document: dict[str, Any] = httpx.get(f"{base}/stats-history", timeout=10).json()
    return document


def test_cards_and_charts_show_the_seeded_history(seeded: DashboardServer, page: CdpPage) -> None:
    open_dashboard(page, seeded.url, "?theme=light")
    events = seeded.events
    assert page.evaluate("document.body.dataset.state") == "ready"
    assert int(card_value(page, "card-requests")) == len(events)
    assert page.evaluate("document.querySelector('#card-requests .value').textContent") == f"{len(events):,}"
    assert int(card_value(page, "card-tokens-saved")) == sum(e.tokens_before - e.tokens_after for e in events)
    assert float(card_value(page, "card-cost")) == pytest.approx(sum(e.cost_usd for e in events), abs=1e-5)
    assert float(card_value(page, "card-cost", "without")) == pytest.approx(
        sum(e.cost_without_usd for e in events), abs=1e-5
    )
    saved = sum(e.cost_without_usd - e.cost_usd for e in events)
    assert float(card_value(page, "card-money-saved")) == pytest.approx(saved, abs=1e-5)
    assert page.evaluate("document.querySelector('#card-money-saved .value').textContent").startswith("$")

    daily = history(seeded.url)["rollups"]["daily"]
    assert page.evaluate("document.querySelectorAll('#chart-tokens rect.bar.saved').length") == len(daily) >= 89
    heights = page.evaluate(
        "[...document.querySelectorAll('#chart-tokens rect.bar.saved')].map(r => +r.getAttribute('height'))"
    )
    assert max(heights) > 40 and min(heights) >= 0
    for chart in ("chart-cost", "chart-cache", "chart-cumulative"):
        assert page.evaluate(f"document.querySelectorAll('#{chart} path.line').length") >= 1
        assert page.evaluate(f"document.querySelector('#{chart} path.line').getAttribute('d').length") > 200
    models = page.evaluate(
        "[...document.querySelectorAll('#models-table tbody td.model')].map(c => c.firstChild.textContent)"
    )
    assert models[0] == "claude-sonnet-4-5" and len(models) == 5
    page.screenshot(ARTIFACTS / "dashboard-light.png")


def test_period_toggles_switch_every_chart(seeded: DashboardServer, page: CdpPage) -> None:
    open_dashboard(page, seeded.url)
    rollups = history(seeded.url)["rollups"]
    for series in ("weekly", "monthly", "daily"):
        click(page, f".segmented button[data-series={series}]")
        page.wait_for(f"document.querySelector('#chart-tokens').dataset.series === '{series}'")
        bars = page.evaluate("document.querySelectorAll('#chart-tokens rect.bar.saved').length")
        assert bars == len(rollups[series])
        assert page.evaluate("document.querySelector('#chart-cost').dataset.points") == str(len(rollups[series]))
        pressed = page.evaluate("document.querySelector('.segmented [aria-pressed=true]').dataset.series")
        assert pressed == series
        assert page.evaluate("document.querySelector('#export-csv').getAttribute('href')").endswith(f"series={series}")
    assert len(rollups["weekly"]) >= 13 and 3 <= len(rollups["monthly"]) <= 4

    box = point_in(page, "#chart-tokens svg", 0.6)
    page.call("Input.dispatchMouseEvent", type="mouseMoved", x=box["x"], y=box["y"])
    tooltip = page.wait_for(
        "(() => { const t = document.querySelector('#chart-tokens .tooltip'); return !t.hidden && t.textContent; })()"
    )
    assert "Saved" in tooltip and "Requests" in tooltip


def test_export_links_return_json_and_csv(seeded: DashboardServer, page: CdpPage) -> None:
    open_dashboard(page, seeded.url)
    click(page, ".segmented button[data-series=weekly]")
    json_href = page.evaluate("document.querySelector('#export-json').href")
    csv_href = page.evaluate("document.querySelector('#export-csv').href")
    assert urlsplit(json_href).hostname == urlsplit(csv_href).hostname == "127.0.0.1"

    exported = page.evaluate(f"fetch({json.dumps(json_href)}).then(r => r.json())")
    assert exported["lifetime"]["requests"] == len(seeded.events)
    text = page.evaluate(f"fetch({json.dumps(csv_href)}).then(r => r.text())")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert sum(int(row["requests"]) for row in rows) == len(seeded.events)
    assert all(row["period"].count("-W") == 1 for row in rows)

    download = httpx.get(csv_href, timeout=10)
    assert download.headers["content-disposition"].endswith('filename="headroom-savings-weekly.csv"')


def test_dark_theme_renders(seeded: DashboardServer, page: CdpPage) -> None:
    open_dashboard(page, seeded.url, "?theme=dark")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(13, 16, 23)"
    assert page.evaluate("document.querySelectorAll('#chart-tokens rect.bar').length") > 0
    page.screenshot(ARTIFACTS / "dashboard-dark.png")


def test_empty_state_then_auto_refresh_shows_the_first_request(empty: tuple[str, Path], page: CdpPage) -> None:
    url, workspace = empty
    open_dashboard(page, url, "?refresh=2")
    assert page.evaluate("document.body.dataset.state") == "empty"
    assert page.evaluate("document.querySelector('#content').hidden") is True
    howto = page.evaluate("document.querySelector('#empty-howto').textContent")
    assert f"ANTHROPIC_BASE_URL={url}" in howto
    page.screenshot(ARTIFACTS / "dashboard-empty.png")

    stores = sqlite_stores(workspace / "headroom.db")
    try:
        stores.savings.record(dataclasses.replace(seed_events(time.time())[-1], ts=time.time()))
    finally:
        stores.close()
    page.wait_for("document.body.dataset.state === 'ready'", timeout=20)
    assert page.evaluate("document.querySelector('#card-requests .value').dataset.value") == "1"
    assert page.evaluate("document.querySelector('#empty-state').hidden") is True
