"""DynamoDB savings history (events by month, one totals item and one item per (hour, model), written in one
transaction) and the per-tenant LRU response cache (bodies over 300 KB go to S3). Key schema: see
`headroom.store.aws`."""

from __future__ import annotations

import dataclasses
import json
import math
import time
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from headroom.store.aws_client import AwsClients, is_conditional_failure, num, num_or, s3_key, translated
from headroom.store.interfaces import CachedResponse, SavingsEvent, SavingsHour, SavingsTotals
from headroom.store.totals import HOUR_SUMS, SUMMED_FIELDS, hour_start

TOTALS_KEY = {"pk": {"S": "totals"}, "sk": {"S": "totals"}}
HOURS_PK = "hours"
HOUR_MARK = "in_hour"
"""Set (true) on an event item once the event is in its hour's sums; `record` writes it with the event."""
COUNT_SK = "#count"
INLINE_BODY_MAX = 300_000
BATCH_WRITE = 25


def month_of(ts: float) -> str:
    return "e#" + time.strftime("%Y-%m", time.gmtime(max(0.0, ts)))


def months_between(first: float, last: float) -> list[str]:
    """Event partitions from the month of `last` back to the month of `first`, newest first."""
    year, month = (int(part) for part in time.strftime("%Y %m", time.gmtime(max(0.0, last))).split())
    stop = month_of(first)
    partitions = [f"e#{year:04d}-{month:02d}"]
    while partitions[-1] > stop:
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
        partitions.append(f"e#{year:04d}-{month:02d}")
    return partitions


def sort_key(ts: float) -> str:
    return f"{ts:020.6f}"


def hour_key(start: int) -> str:
    return f"{start:012d}"


def event_amounts(event: SavingsEvent) -> tuple[Decimal, ...]:
    """What one event adds to each of HOUR_SUMS (and to the totals), as DynamoDB stores the numbers."""
    amounts = (1, *(getattr(event, name) for name in SUMMED_FIELDS), int(event.response_cached))
    return tuple(Decimal(num(float(amount))["N"]) for amount in amounts)


def sum_expression(amounts: Sequence[Decimal]) -> tuple[dict[str, str], dict[str, Any], str]:
    """Attribute names, values and the ADD clause that add `amounts` to the HOUR_SUMS of an item."""
    names = {f"#t{i}": name for i, name in enumerate(HOUR_SUMS)}
    values = {f":t{i}": {"N": format(amount, "f")} for i, amount in enumerate(amounts)}
    return names, values, ", ".join(f"#t{i} :t{i}" for i in range(len(names)))


def hour_update(table: str, start: int, model: str, provider: str, amounts: Sequence[Decimal]) -> dict[str, Any]:
    """The transaction action adding `amounts` to the (hour, model) item; the first writer names the provider."""
    names, sums, adds = sum_expression(amounts)
    return {
        "Update": {
            "TableName": table,
            "Key": {"pk": {"S": HOURS_PK}, "sk": {"S": f"{hour_key(start)}#{model}"}},
            "UpdateExpression": f"ADD {adds} SET #m = if_not_exists(#m, :m), #p = if_not_exists(#p, :p)",
            "ExpressionAttributeNames": names | {"#m": "model", "#p": "provider"},
            "ExpressionAttributeValues": sums | {":m": {"S": model}, ":p": {"S": provider}},
        }
    }


class AwsSavingsStore:
    def __init__(self, clients: AwsClients) -> None:
        self._c = clients
        self._table = clients.table("savings")

    @translated
    def record(self, event: SavingsEvent) -> None:
        amounts = event_amounts(event)
        names, sums, adds = sum_expression(amounts)
        payload = json.dumps(dataclasses.asdict(event), separators=(",", ":"))
        self._c.dynamodb.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": {
                            "pk": {"S": month_of(event.ts)},
                            "sk": {"S": f"{sort_key(event.ts)}#{uuid.uuid4().hex}"},
                            "ts": num(event.ts),
                            "e": {"S": payload},
                            HOUR_MARK: {"BOOL": True},
                        },
                    }
                },
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": TOTALS_KEY,
                        "UpdateExpression": f"ADD {adds} SET first_ts = if_not_exists(first_ts, :ts)",
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": sums | {":ts": num(event.ts)},
                    }
                },
                hour_update(self._table, hour_start(event.ts), event.model, event.provider, amounts),
            ]
        )
        self._widen_range(event.ts)

    def _widen_range(self, ts: float) -> None:
        """DynamoDB has no max(): move last_ts forward conditionally, and first_ts back when an event is older."""
        try:
            answer = self._c.dynamodb.update_item(
                TableName=self._table,
                Key=TOTALS_KEY,
                UpdateExpression="SET last_ts = :ts",
                ConditionExpression="attribute_not_exists(last_ts) OR last_ts < :ts",
                ExpressionAttributeValues={":ts": num(ts)},
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            item = answer.get("Attributes") or {}
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
            item = exc.response.get("Item") or {}
        if num_or(item, "first_ts", ts) <= ts:
            return
        try:
            self._c.dynamodb.update_item(
                TableName=self._table,
                Key=TOTALS_KEY,
                UpdateExpression="SET first_ts = :ts",
                ConditionExpression="first_ts > :ts",
                ExpressionAttributeValues={":ts": num(ts)},
            )
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise

    def _totals_item(self) -> dict[str, Any]:
        answer = self._c.dynamodb.get_item(TableName=self._table, Key=TOTALS_KEY, ConsistentRead=True)
        return dict(answer.get("Item") or {})

    @translated
    def totals(self) -> SavingsTotals:
        item = self._totals_item()
        totals = SavingsTotals()
        for field in dataclasses.fields(SavingsTotals):
            if field.name in item:
                raw = float(item[field.name]["N"])
                setattr(totals, field.name, raw if field.name.startswith("cost_") or "ts" in field.name else int(raw))
        return totals

    @translated
    def events(self, since: float | None = None, limit: int | None = None) -> list[SavingsEvent]:
        item = self._totals_item()
        if "first_ts" not in item or limit == 0:
            return []
        first = num_or(item, "first_ts", 0.0) if since is None else max(since, num_or(item, "first_ts", 0.0))
        last = num_or(item, "last_ts", first)
        wanted = math.inf if limit is None else limit
        newest_first: list[SavingsEvent] = []
        for partition in months_between(first, last) if first <= last else []:
            query: dict[str, Any] = {
                "TableName": self._table,
                "KeyConditionExpression": "pk = :pk AND sk >= :from",
                "ExpressionAttributeValues": {":pk": {"S": partition}, ":from": {"S": sort_key(first)}},
                "ScanIndexForward": False,
                "ConsistentRead": True,
            }
            for page in self._c.dynamodb.get_paginator("query").paginate(**query):
                for row in page["Items"]:
                    if num_or(row, "ts", 0.0) >= first and len(newest_first) < wanted:
                        newest_first.append(SavingsEvent(**json.loads(row["e"]["S"])))
                if len(newest_first) >= wanted:
                    break
            if len(newest_first) >= wanted:
                break
        return newest_first[::-1]

    @translated
    def hours(self, since: float | None = None) -> list[SavingsHour]:
        pages = self._c.dynamodb.get_paginator("query").paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND sk >= :from",
            ExpressionAttributeValues={
                ":pk": {"S": HOURS_PK},
                ":from": {"S": hour_key(0 if since is None else max(0, hour_start(since)))},
            },
            ConsistentRead=True,
        )
        return [_hour(row) for page in pages for row in page["Items"]]


def _hour(item: dict[str, Any]) -> SavingsHour:
    hour = SavingsHour(
        start=int(item["sk"]["S"].partition("#")[0]), model=item["model"]["S"], provider=item["provider"]["S"]
    )
    for name in HOUR_SUMS:
        value = num_or(item, name, 0.0)
        setattr(hour, name, value if name.startswith("cost_") else int(value))
    return hour


class AwsResponseCacheStore:
    def __init__(self, clients: AwsClients) -> None:
        self._c = clients
        self._table = clients.table("responses")

    def _body_key(self, tenant: str, key: str) -> str:
        return s3_key("responses", tenant, key)

    @translated
    def get_response(self, tenant: str, key: str, now: float) -> CachedResponse | None:
        try:
            answer = self._c.dynamodb.update_item(
                TableName=self._table,
                Key={"pk": {"S": tenant}, "sk": {"S": "r#" + key}},
                UpdateExpression="SET last_used = :used",
                ConditionExpression="attribute_exists(pk) AND expires_at > :now",
                ExpressionAttributeValues={":used": {"N": str(time.time_ns())}, ":now": num(now)},
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if is_conditional_failure(exc):
                return None
            raise
        item = answer["Attributes"]
        if item.get("body_s3", {}).get("BOOL"):
            found = self._c.s3.get_object(Bucket=self._c.bucket, Key=self._body_key(tenant, key))
            with found["Body"] as stream:
                body = bytes(stream.read())
        else:
            body = bytes(item["body"]["B"])
        headers = tuple((str(name), str(value)) for name, value in json.loads(item["headers"]["S"]))
        return CachedResponse(int(item["status"]["N"]), headers, body, bool(item["streamed"]["BOOL"]))

    @translated
    def put_response(
        self, tenant: str, key: str, response: CachedResponse, expires_at: float, max_entries: int
    ) -> None:
        item: dict[str, Any] = {
            "pk": {"S": tenant},
            "sk": {"S": "r#" + key},
            "status": {"N": str(response.status)},
            "headers": {"S": json.dumps([list(pair) for pair in response.headers])},
            "streamed": {"BOOL": response.streamed},
            "expires_at": num(expires_at),
            "last_used": {"N": str(time.time_ns())},
        }
        if len(response.body) > INLINE_BODY_MAX:
            self._c.s3.put_object(Bucket=self._c.bucket, Key=self._body_key(tenant, key), Body=bytes(response.body))
            item["body_s3"] = {"BOOL": True}
        else:
            item["body"] = {"B": bytes(response.body)}
        old = self._c.dynamodb.put_item(TableName=self._table, Item=item, ReturnValues="ALL_OLD").get("Attributes")
        counted = self._c.dynamodb.update_item(
            TableName=self._table,
            Key={"pk": {"S": tenant}, "sk": {"S": COUNT_SK}},
            UpdateExpression="ADD n :one",
            ExpressionAttributeValues={":one": {"N": "0" if old else "1"}},
            ReturnValues="ALL_NEW",
        )
        if num_or(counted["Attributes"], "n", 0.0) > max_entries:
            self._evict(tenant, max(0, max_entries))

    def _evict(self, tenant: str, max_entries: int) -> None:
        """Delete expired entries and the least recently used beyond `max_entries`; then store the true count."""
        now = time.time()
        entries: list[dict[str, Any]] = []
        pages = self._c.dynamodb.get_paginator("query").paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :r)",
            ExpressionAttributeValues={":pk": {"S": tenant}, ":r": {"S": "r#"}},
            ProjectionExpression="sk, last_used, expires_at, body_s3",
            ConsistentRead=True,
        )
        for page in pages:
            entries.extend(page["Items"])
        live = sorted(
            (e for e in entries if num_or(e, "expires_at", 0.0) > now),
            key=lambda e: num_or(e, "last_used", 0.0),
            reverse=True,
        )
        kept = {e["sk"]["S"] for e in live[:max_entries]}
        doomed = [e for e in entries if e["sk"]["S"] not in kept]
        for start in range(0, len(doomed), BATCH_WRITE):
            request: dict[str, Any] = {
                self._table: [
                    {"DeleteRequest": {"Key": {"pk": {"S": tenant}, "sk": e["sk"]}}}
                    for e in doomed[start : start + BATCH_WRITE]
                ]
            }
            while request:
                request = self._c.dynamodb.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
        for entry in doomed:
            if entry.get("body_s3", {}).get("BOOL"):
                self._c.s3.delete_object(Bucket=self._c.bucket, Key=self._body_key(tenant, entry["sk"]["S"][2:]))
        self._c.dynamodb.update_item(
            TableName=self._table,
            Key={"pk": {"S": tenant}, "sk": {"S": COUNT_SK}},
            UpdateExpression="SET n = :n",
            ExpressionAttributeValues={":n": {"N": str(len(kept))}},
        )
