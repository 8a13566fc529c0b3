"""AWS backend: DynamoDB (on-demand) for counters, savings, responses, conversations and TOIN; S3 for CCR originals.

Every table has a string partition key `pk`; savings, responses and conversations also have a string sort key
`sk`. TTL is enabled on the number attribute `expires_at` (Unix seconds) for counters, responses and conversations;
reads filter on it too, since TTL deletion is lazy (and emulators never delete).

- `<prefix>-counters` (pk): `c#<key>` holds a counter `v` N. `b#<key>` holds a token bucket: `tokens` N,
  `updated_at` N, `ver` N (optimistic lock); its `expires_at` is when it is full again (omitted if never).
- `<prefix>-savings` (pk, sk): events under pk `e#<YYYY-MM>` (UTC month of ts), sk `<ts as %020.6f>#<uuid>`,
  with `ts` N, `e` S (the event as JSON) and `in_hour` BOOL, true once the event is in its hour's sums (written
  with the event; `headroom backfill-hours` adds events stored before hourly sums existed). Lifetime totals in the
  one item pk = sk = `totals`: one number per SavingsTotals field, ADDed in the same transaction as each event's
  Put; `first_ts`, `last_ts` N. Hourly sums under pk `hours`, sk `<UTC hour start as %012d>#<model>`: one number
  per SavingsHour sum, ADDed in that same transaction, and `model`, `provider` S. No TTL.
- `<prefix>-responses` (pk, sk): pk tenant; sk `r#<key>`: `status` N, `headers` S (JSON pairs), `body` B or
  `body_s3` BOOL, `streamed` BOOL, `last_used` N (ns). sk `#count`: `n` N, entries counted for LRU eviction.
- `<prefix>-conversations` (pk, sk): pk conversation; sk `f#<content hash>` (a form) or `g#<flag name>`; `v` S.
- `<prefix>-toin` (pk): pk pattern; `compressions` N, `retrievals` N, `f:<field>` N per field. No TTL.

S3 bucket `settings.aws_bucket`: CCR originals at `ccr/<url-quoted tenant>/<key>` and response bodies over 300 KB
at `responses/<url-quoted tenant>/<key>`; blobs carry metadata `expires-at`. A lifecycle rule may delete both
prefixes after the longest TTL.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from headroom.config import Settings
from headroom.errors import NotReady
from headroom.store.aws_client import (
    AwsClients,
    ensure_aws_resources,
    is_conditional_failure,
    is_missing,
    num,
    num_or,
    s3_key,
    translated,
)
from headroom.store.aws_history import AwsResponseCacheStore, AwsSavingsStore
from headroom.store.bucket import Bucket, full_at, take_from
from headroom.store.interfaces import Stores, ToinPattern

__all__ = ["aws_stores", "ensure_aws_resources"]

MAX_ATTEMPTS = 100
BATCH_GET = 100


class AwsBlobStore:
    def __init__(self, clients: AwsClients) -> None:
        self._c = clients

    @translated
    def put_blob(self, tenant: str, key: str, data: bytes, expires_at: float) -> None:
        self._c.s3.put_object(
            Bucket=self._c.bucket,
            Key=s3_key("ccr", tenant, key),
            Body=bytes(data),
            Metadata={"expires-at": num(expires_at)["N"]},
        )

    @translated
    def get_blob(self, tenant: str, key: str, now: float) -> bytes | None:
        try:
            found = self._c.s3.get_object(Bucket=self._c.bucket, Key=s3_key("ccr", tenant, key))
        except ClientError as exc:
            if is_missing(exc):
                return None
            raise
        with found["Body"] as body:
            data = bytes(body.read())
        return data if float(found["Metadata"].get("expires-at", "0")) > now else None


class AwsCounterStore:
    def __init__(self, clients: AwsClients) -> None:
        self._c = clients
        self._table = clients.table("counters")

    def _conditional(
        self, key: str, expression: str, condition: str, values: dict[str, Any]
    ) -> tuple[bool, dict[str, Any]]:
        """(True, updated attributes) if the update applied, else (False, the item as it was)."""
        try:
            answer = self._c.dynamodb.update_item(
                TableName=self._table,
                Key={"pk": {"S": key}},
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
                ReturnValues="UPDATED_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if is_conditional_failure(exc):
                return False, dict(exc.response.get("Item") or {})
            raise
        return True, dict(answer.get("Attributes") or {})

    @translated
    def reserve(self, key: str, amount: float, limit: float, expires_at: float) -> bool:
        now = time.time()
        fits_empty = amount <= limit
        headroom = Decimal(num(limit)["N"]) - Decimal(num(amount)["N"])
        values = {":a": num(amount), ":exp": num(expires_at), ":now": num(now), ":max": {"N": str(headroom)}}
        live_fits = "(expires_at > :now AND v <= :max)" + (" OR attribute_not_exists(v)" if fits_empty else "")
        for _ in range(MAX_ATTEMPTS):
            applied, old = self._conditional("c#" + key, "ADD v :a SET expires_at = :exp", live_fits, values)
            if applied:
                return True
            if num_or(old, "expires_at", 0.0) > now or not fits_empty:
                return False
            restart = {name: values[name] for name in (":a", ":exp", ":now")}
            applied, _ = self._conditional("c#" + key, "SET v = :a, expires_at = :exp", "expires_at <= :now", restart)
            if applied:
                return True
        raise NotReady(f"counter {key!r} is too contended")

    @translated
    def add(self, key: str, delta: float, expires_at: float) -> float:
        values = {":d": num(delta), ":exp": num(expires_at), ":now": num(time.time())}
        for _ in range(MAX_ATTEMPTS):
            applied, new = self._conditional(
                "c#" + key, "ADD v :d SET expires_at = :exp", "attribute_not_exists(v) OR expires_at > :now", values
            )
            if not applied:
                applied, new = self._conditional(
                    "c#" + key, "SET v = :d, expires_at = :exp", "expires_at <= :now", values
                )
            if applied:
                return num_or(new, "v", 0.0)
        raise NotReady(f"counter {key!r} is too contended")

    @translated
    def value(self, key: str, now: float) -> float:
        item = self._c.dynamodb.get_item(TableName=self._table, Key={"pk": {"S": "c#" + key}}, ConsistentRead=True)
        found = item.get("Item") or {}
        return num_or(found, "v", 0.0) if num_or(found, "expires_at", 0.0) > now else 0.0

    @translated
    def take_tokens(self, key: str, cost: float, capacity: float, refill_per_second: float, now: float) -> float:
        pk = {"S": "b#" + key}
        for _ in range(MAX_ATTEMPTS):
            found = self._c.dynamodb.get_item(TableName=self._table, Key={"pk": pk}, ConsistentRead=True).get("Item")
            live = found is not None and num_or(found, "expires_at", math.inf) > now
            stored = Bucket(num_or(found, "tokens", 0.0), num_or(found, "updated_at", 0.0)) if live and found else None
            bucket, wait = take_from(stored, cost, capacity, refill_per_second, now)
            if bucket is None:
                return wait
            version = num_or(found, "ver", 0.0) if found else 0.0
            item = {
                "pk": pk,
                "tokens": num(bucket.tokens),
                "updated_at": num(bucket.updated_at),
                "ver": num(version + 1),
            }
            full = full_at(bucket, capacity, refill_per_second)
            if math.isfinite(full):
                item["expires_at"] = num(full)
            try:
                if found is None:
                    self._c.dynamodb.put_item(
                        TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)"
                    )
                else:
                    self._c.dynamodb.put_item(
                        TableName=self._table,
                        Item=item,
                        ConditionExpression="ver = :ver",
                        ExpressionAttributeValues={":ver": num(version)},
                    )
            except ClientError as exc:
                if is_conditional_failure(exc):
                    continue
                raise
            return 0.0
        raise NotReady(f"rate limit {key!r} is too contended")


class AwsConversationStore:
    def __init__(self, clients: AwsClients) -> None:
        self._c = clients
        self._table = clients.table("conversations")

    def _live_values(self, conversation: str, sort_keys: list[str], now: float) -> dict[str, str]:
        """The `v` of every live item among those sort keys, by sort key."""
        found: dict[str, str] = {}
        unique = list(dict.fromkeys(sort_keys))
        for start in range(0, len(unique), BATCH_GET):
            keys = [{"pk": {"S": conversation}, "sk": {"S": sk}} for sk in unique[start : start + BATCH_GET]]
            request: dict[str, Any] = {self._table: {"Keys": keys, "ConsistentRead": True}}
            while request:
                answer = self._c.dynamodb.batch_get_item(RequestItems=request)
                for item in answer["Responses"].get(self._table, []):
                    if num_or(item, "expires_at", 0.0) > now:
                        found[item["sk"]["S"]] = item["v"]["S"]
                request = answer.get("UnprocessedKeys") or {}
        return found

    @translated
    def get_forms(self, conversation: str, content_hashes: list[str], now: float) -> dict[str, str]:
        found = self._live_values(conversation, ["f#" + h for h in content_hashes], now)
        return {sk[2:]: form for sk, form in found.items()}

    @translated
    def put_forms(self, conversation: str, forms: dict[str, str], expires_at: float) -> None:
        now = time.time()
        present = self._live_values(conversation, ["f#" + h for h in forms], now)
        for content_hash, form in forms.items():
            if "f#" + content_hash in present:
                continue
            try:
                self._c.dynamodb.put_item(
                    TableName=self._table,
                    Item={
                        "pk": {"S": conversation},
                        "sk": {"S": "f#" + content_hash},
                        "v": {"S": form},
                        "expires_at": num(expires_at),
                    },
                    ConditionExpression="attribute_not_exists(pk) OR expires_at <= :now",
                    ExpressionAttributeValues={":now": num(now)},
                )
            except ClientError as exc:
                if not is_conditional_failure(exc):
                    raise

    @translated
    def get_flag(self, conversation: str, name: str, now: float) -> str | None:
        return self._live_values(conversation, ["g#" + name], now).get("g#" + name)

    @translated
    def set_flag(self, conversation: str, name: str, value: str, expires_at: float) -> None:
        self._c.dynamodb.put_item(
            TableName=self._table,
            Item={
                "pk": {"S": conversation},
                "sk": {"S": "g#" + name},
                "v": {"S": value},
                "expires_at": num(expires_at),
            },
        )


class AwsToinStore:
    def __init__(self, clients: AwsClients) -> None:
        self._c = clients
        self._table = clients.table("toin")

    @translated
    def record(self, pattern: str, compressions: int = 0, retrievals: int = 0, fields: tuple[str, ...] = ()) -> None:
        names: dict[str, str] = {}
        values: dict[str, Any] = {":c": {"N": str(compressions)}, ":r": {"N": str(retrievals)}}
        parts = ["compressions :c", "retrievals :r"]
        for index, (name, count) in enumerate(Counter(fields).items()):
            names[f"#f{index}"] = "f:" + name
            values[f":f{index}"] = {"N": str(count)}
            parts.append(f"#f{index} :f{index}")
        request: dict[str, Any] = {
            "TableName": self._table,
            "Key": {"pk": {"S": pattern}},
            "UpdateExpression": "ADD " + ", ".join(parts),
            "ExpressionAttributeValues": values,
        }
        if names:
            request["ExpressionAttributeNames"] = names
        self._c.dynamodb.update_item(**request)

    @staticmethod
    def _pattern(item: dict[str, Any]) -> ToinPattern:
        fields = {name[2:]: int(value["N"]) for name, value in item.items() if name.startswith("f:")}
        return ToinPattern(
            item["pk"]["S"], int(num_or(item, "compressions", 0)), int(num_or(item, "retrievals", 0)), fields
        )

    @translated
    def get(self, pattern: str) -> ToinPattern | None:
        item = self._c.dynamodb.get_item(TableName=self._table, Key={"pk": {"S": pattern}}, ConsistentRead=True)
        return self._pattern(item["Item"]) if "Item" in item else None

    @translated
    def all(self) -> list[ToinPattern]:
        patterns: list[ToinPattern] = []
        for page in self._c.dynamodb.get_paginator("scan").paginate(TableName=self._table, ConsistentRead=True):
            patterns.extend(self._pattern(item) for item in page["Items"])
        return sorted(patterns, key=lambda p: p.pattern)


def aws_stores(settings: Settings) -> Stores:
    """Every store over the tables and bucket that `settings` names (see `ensure_aws_resources`)."""
    clients = AwsClients.open(settings)
    return Stores(
        blobs=AwsBlobStore(clients),
        counters=AwsCounterStore(clients),
        savings=AwsSavingsStore(clients),
        responses=AwsResponseCacheStore(clients),
        conversations=AwsConversationStore(clients),
        toin=AwsToinStore(clients),
        backend="aws",
        closer=clients.close,
    )
