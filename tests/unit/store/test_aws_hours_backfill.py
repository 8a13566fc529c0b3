"""The DynamoDB hourly-sums backfill on a moto server: events stored the pre-hours way (no mark, no hour items)
are added to their hours once, whether the backfill is repeated, run twice at once, interrupted by another run,
or run while new events are recorded; `headroom backfill-hours` does it from the configured settings."""

from __future__ import annotations

import calendar
import dataclasses
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from headroom.config import Settings
from headroom.store.aws import ensure_aws_resources
from headroom.store.aws_client import AwsClients, num
from headroom.store.aws_history import (
    TOTALS_KEY,
    AwsSavingsStore,
    event_amounts,
    month_of,
    sort_key,
    sum_expression,
)
from headroom.store.aws_hours_backfill import add_to_hours, backfill_hours, unmarked_events
from headroom.store.interfaces import SavingsEvent, SavingsHour
from headroom.store.totals import add_to_hours as fold_into_hours
from tests.unit.store.conftest import aws_settings
from tests.unit.store.test_store_contract import in_threads

pytestmark = pytest.mark.aws

MONTH_END = float(calendar.timegm((2027, 1, 30, 22, 0, 0)))
"""Two days before a month ends: the events fill two event partitions."""
MODELS = (("claude-sonnet-4", "anthropic"), ("gpt-4.1", "openai"), ("claude-haiku-4", "bedrock"))


def events(count: int, offset: int = 0) -> list[SavingsEvent]:
    """Half of them crowded into three hours (many events per hour item), half an event every ~2.2 hours; costs in
    1/64ths so that float sums are exact."""
    made = []
    for i in range(offset, offset + count):
        model, provider = MODELS[i % len(MODELS)]
        ts = MONTH_END + (i % 90) * 120.0 + i * 0.001 if i % 2 else MONTH_END + i * 7919.0
        made.append(
            SavingsEvent(
                ts=ts,
                provider=provider,
                model=model,
                tenant="t1",
                tokens_before=100 + i,
                tokens_after=40 + i % 7,
                input_tokens=i % 11,
                output_tokens=i % 5,
                cache_read_tokens=i % 3,
                cache_write_5m_tokens=i % 2,
                cache_write_1h_tokens=i % 4,
                cost_usd=(i % 9) / 64,
                cost_without_usd=(i % 13) / 64,
                response_cached=i % 6 == 0,
            )
        )
    return made


def record_the_old_way(clients: AwsClients, recorded: list[SavingsEvent]) -> None:
    """What `record` wrote before hourly sums existed: event items, unmarked, and the totals; no hour items."""
    table = clients.table("savings")
    items = [
        {
            "pk": {"S": month_of(event.ts)},
            "sk": {"S": f"{sort_key(event.ts)}#{uuid.uuid4().hex}"},
            "ts": num(event.ts),
            "e": {"S": json.dumps(dataclasses.asdict(event))},
        }
        for event in recorded
    ]
    for start in range(0, len(items), 25):
        request = {table: [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]}
        while request:
            request = clients.dynamodb.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
    names, sums, adds = sum_expression([sum(column) for column in zip(*map(event_amounts, recorded), strict=True)])
    clients.dynamodb.update_item(
        TableName=table,
        Key=TOTALS_KEY,
        UpdateExpression=f"ADD {adds} SET first_ts = :first, last_ts = :last",
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=sums
        | {":first": num(min(event.ts for event in recorded)), ":last": num(max(event.ts for event in recorded))},
    )


def summed(recorded: list[SavingsEvent]) -> list[SavingsHour]:
    hours: dict[tuple[int, str], SavingsHour] = {}
    for event in sorted(recorded, key=lambda event: event.ts):
        fold_into_hours(hours, event)
    return [hours[key] for key in sorted(hours)]


@pytest.fixture
def settings(moto_endpoint: str) -> Settings:
    settings = aws_settings(moto_endpoint)
    ensure_aws_resources(settings)
    return settings


@pytest.fixture
def clients(settings: Settings) -> Iterator[AwsClients]:
    opened = AwsClients.open(settings)
    try:
        yield opened
    finally:
        opened.close()


@pytest.mark.slow
def test_old_events_are_added_to_their_hours_once(clients: AwsClients) -> None:
    old, new = events(150), events(20, offset=150)
    record_the_old_way(clients, old)
    savings = AwsSavingsStore(clients)
    for event in new:
        savings.record(event)
    assert savings.hours() == summed(new)
    assert backfill_hours(clients) == len(old)
    assert savings.hours() == summed(old + new)
    assert backfill_hours(clients) == 0
    assert savings.hours() == summed(old + new)
    assert savings.totals().requests == len(old) + len(new)


def test_a_table_without_events_backfills_nothing(clients: AwsClients) -> None:
    assert backfill_hours(clients) == 0
    assert AwsSavingsStore(clients).hours() == []


def test_a_batch_another_run_partly_added_adds_only_the_rest(clients: AwsClients) -> None:
    old = events(60)
    record_the_old_way(clients, old)
    table = clients.table("savings")
    rows = list(unmarked_events(clients, table))
    assert len(rows) == len(old)
    assert add_to_hours(clients, table, rows[:10]) == 10
    assert add_to_hours(clients, table, rows[:25]) == 15
    assert add_to_hours(clients, table, rows[:25]) == 0
    assert backfill_hours(clients) == len(old) - 25
    assert AwsSavingsStore(clients).hours() == summed(old)


@pytest.mark.slow
def test_two_backfills_at_once_count_each_event_once(clients: AwsClients, settings: Settings) -> None:
    old = events(150)
    record_the_old_way(clients, old)

    def run(_: int) -> int:
        own = AwsClients.open(settings)
        try:
            return backfill_hours(own)
        finally:
            own.close()

    assert sum(in_threads(2, run)) == len(old)
    assert AwsSavingsStore(clients).hours() == summed(old)


@pytest.mark.slow
def test_events_recorded_during_a_backfill_are_counted_once(clients: AwsClients, settings: Settings) -> None:
    old, new = events(150), events(60, offset=150)
    record_the_old_way(clients, old)

    def work(index: int) -> int:
        own = AwsClients.open(settings)
        try:
            if index == 0:
                return backfill_hours(own)
            for event in new[index - 1 :: 2]:
                AwsSavingsStore(own).record(event)
            return 0
        finally:
            own.close()

    assert in_threads(3, work)[0] == len(old)
    assert AwsSavingsStore(clients).hours() == summed(old + new)
    assert backfill_hours(clients) == 0


def run_cli(settings: Settings, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HEADROOM_STORE": settings.store,
        "HEADROOM_AWS_ENDPOINT_URL": str(settings.aws_endpoint_url),
        "HEADROOM_AWS_TABLE_PREFIX": settings.aws_table_prefix,
        "HEADROOM_AWS_BUCKET": settings.aws_bucket,
        "HEADROOM_AWS_REGION": settings.aws_region,
    }
    command = [sys.executable, "-m", "headroom.cli", "backfill-hours"]
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def test_cli_backfills_the_configured_table_and_prints_the_count(
    clients: AwsClients, settings: Settings, tmp_path: Path
) -> None:
    old = events(40)
    record_the_old_way(clients, old)
    first = run_cli(settings, tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout == f"added 40 events to the hourly sums in {clients.table('savings')}\n"
    assert AwsSavingsStore(clients).hours() == summed(old)
    again = run_cli(settings, tmp_path)
    assert again.stdout == f"added 0 events to the hourly sums in {clients.table('savings')}\n"


def test_cli_refuses_a_store_that_is_not_aws(settings: Settings, tmp_path: Path) -> None:
    refused = run_cli(settings.model_copy(update={"store": "sqlite"}), tmp_path)
    assert refused.returncode == 2
    assert "HEADROOM_STORE=aws" in refused.stderr
    assert "SQLite" in refused.stderr
