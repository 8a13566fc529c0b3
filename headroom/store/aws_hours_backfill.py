"""Adds the savings events a DynamoDB table kept from before hourly sums existed to their (hour, model) items,
each once: an event is marked (`HOUR_MARK`) in the transaction that adds it, on the condition that it was not
marked, so runs may be repeated, overlap each other and overlap live traffic (`record` writes events marked)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Context, Decimal
from typing import Any

from botocore.exceptions import ClientError

from headroom.errors import NotReady
from headroom.store.aws_client import AwsClients, num_or, translated
from headroom.store.aws_history import (
    HOUR_MARK,
    TOTALS_KEY,
    event_amounts,
    hour_update,
    months_between,
)
from headroom.store.interfaces import SavingsEvent
from headroom.store.totals import HOUR_SUMS, hour_start

MAX_ACTIONS = 100
"""TransactWriteItems' limit: a batch's events plus the distinct hour items they add to."""
MAX_ATTEMPTS = 10
DECIMAL = Context(prec=38)
"""DynamoDB's number precision: a batch's sums equal the event-by-event ADDs they replace."""


@translated
def backfill_hours(clients: AwsClients) -> int:
    """Adds every unmarked event of the savings table to its hour's sums; returns how many this run added."""
    table = clients.table("savings")
    added = 0
    batch: list[dict[str, Any]] = []
    hours: set[tuple[int, str]] = set()
    for row in unmarked_events(clients, table):
        event = _event(row)
        hour = (hour_start(event.ts), event.model)
        if len(batch) + 1 + len(hours | {hour}) > MAX_ACTIONS:
            added += add_to_hours(clients, table, batch)
            batch, hours = [], set()
        batch.append(row)
        hours.add(hour)
    return added + (add_to_hours(clients, table, batch) if batch else 0)


def unmarked_events(clients: AwsClients, table: str) -> Iterator[dict[str, Any]]:
    """Event items without the mark, month by month from the totals' first_ts to last_ts, oldest first."""
    totals = clients.dynamodb.get_item(TableName=table, Key=TOTALS_KEY, ConsistentRead=True).get("Item") or {}
    if "first_ts" not in totals:
        return
    first = num_or(totals, "first_ts", 0.0)
    last = max(first, num_or(totals, "last_ts", first))
    for partition in reversed(months_between(first, last)):
        pages = clients.dynamodb.get_paginator("query").paginate(
            TableName=table,
            KeyConditionExpression="pk = :pk",
            FilterExpression="attribute_not_exists(#mark)",
            ProjectionExpression="pk, sk, e",
            ExpressionAttributeNames={"#mark": HOUR_MARK},
            ExpressionAttributeValues={":pk": {"S": partition}},
            ConsistentRead=True,
        )
        for page in pages:
            yield from page["Items"]


def add_to_hours(clients: AwsClients, table: str, rows: list[dict[str, Any]]) -> int:
    """Adds the unmarked ones of `rows` (at most MAX_ACTIONS events and hours together) to their hours and marks
    them, in one transaction; returns how many it added. Another writer marking one of them cancels the
    transaction: the rows are read again and the ones still unmarked retried. botocore sends one ClientRequestToken
    with every attempt of a call, so DynamoDB answers a retry of a transaction that had succeeded with success
    (emulators without tokens cancel it, and those events are then counted as another run's)."""
    pending = rows
    for _ in range(MAX_ATTEMPTS):
        if not pending:
            return 0
        try:
            clients.dynamodb.transact_write_items(TransactItems=_actions(table, pending))
            return len(pending)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
        pending = _still_unmarked(clients, table, pending)
    raise NotReady("hourly sums backfill: a batch kept conflicting with other writers; run it again")


def _event(row: dict[str, Any]) -> SavingsEvent:
    return SavingsEvent(**json.loads(row["e"]["S"]))


def _actions(table: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One conditional mark per row, and one ADD per (hour, model) of the rows' sums."""
    marks: list[dict[str, Any]] = []
    groups: dict[tuple[int, str], list[SavingsEvent]] = {}
    for row in rows:
        event = _event(row)
        groups.setdefault((hour_start(event.ts), event.model), []).append(event)
        marks.append(
            {
                "Update": {
                    "TableName": table,
                    "Key": {"pk": row["pk"], "sk": row["sk"]},
                    "UpdateExpression": "SET #mark = :yes",
                    "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(#mark)",
                    "ExpressionAttributeNames": {"#mark": HOUR_MARK},
                    "ExpressionAttributeValues": {":yes": {"BOOL": True}},
                }
            }
        )
    hours = [
        hour_update(table, start, model, events[0].provider, _summed(events))
        for (start, model), events in groups.items()
    ]
    return marks + hours


def _summed(events: list[SavingsEvent]) -> list[Decimal]:
    total = [Decimal(0)] * len(HOUR_SUMS)
    for event in events:
        total = [DECIMAL.add(before, amount) for before, amount in zip(total, event_amounts(event), strict=True)]
    return total


def _still_unmarked(clients: AwsClients, table: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows whose items exist and are still unmarked, read consistently."""
    keys: dict[str, Any] = {table: {"Keys": [{"pk": row["pk"], "sk": row["sk"]} for row in rows]}}
    keys[table] |= {
        "ConsistentRead": True,
        "ProjectionExpression": "pk, sk, #mark",
        "ExpressionAttributeNames": {"#mark": HOUR_MARK},
    }
    unmarked: set[tuple[str, str]] = set()
    while keys:
        answer = clients.dynamodb.batch_get_item(RequestItems=keys)
        for item in answer["Responses"].get(table, []):
            if HOUR_MARK not in item:
                unmarked.add((item["pk"]["S"], item["sk"]["S"]))
        keys = answer.get("UnprocessedKeys") or {}
    return [row for row in rows if (row["pk"]["S"], row["sk"]["S"]) in unmarked]
