"""The AWS boundary shared by the DynamoDB/S3 stores: one pair of boto3 clients per bundle, table names, number
encoding, the translation of botocore errors, and `ensure_aws_resources` for tests and local development. boto3
is imported and each client created at its first use (a Lambda cold start answers its first event without them:
importing boto3 and building both clients costs ~0.35 s of CPU)."""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar
from urllib.parse import quote

from botocore.exceptions import BotoCoreError, ClientError

from headroom.config import Settings
from headroom.errors import NotReady

if TYPE_CHECKING:
    from botocore.config import Config

P = ParamSpec("P")
R = TypeVar("R")
FAR_FUTURE = 1e15
TABLES = ("counters", "savings", "responses", "conversations", "toin")
TABLES_WITH_SORT_KEY = ("savings", "responses", "conversations")
TABLES_WITH_TTL = ("counters", "responses", "conversations")


def client_config(settings: Settings) -> Config:
    from botocore.config import Config

    return Config(
        region_name=settings.aws_region,
        connect_timeout=2.0,
        read_timeout=10.0,
        retries={"max_attempts": 4, "mode": "standard"},
        max_pool_connections=64,
        tcp_keepalive=True,
        s3={"addressing_style": "path" if settings.aws_endpoint_url else "auto"},
    )


class AwsClients:
    """The DynamoDB and S3 clients and resource names of one bundle. Each client is created at its first use, once
    even when threads race, and then reused (boto3 clients are thread-safe)."""

    def __init__(self, settings: Settings) -> None:
        self.prefix = settings.aws_table_prefix
        self.bucket = settings.aws_bucket
        self._settings = settings
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    @classmethod
    def open(cls, settings: Settings) -> AwsClients:
        return cls(settings)

    @property
    def dynamodb(self) -> Any:
        return self._clients.get("dynamodb") or self._create("dynamodb")

    @property
    def s3(self) -> Any:
        return self._clients.get("s3") or self._create("s3")

    def _create(self, service: str) -> Any:
        import boto3

        with self._lock:
            if service not in self._clients:
                endpoint, config = self._settings.aws_endpoint_url, client_config(self._settings)
                self._clients[service] = boto3.client(service, endpoint_url=endpoint, config=config)
            return self._clients[service]

    def table(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()


def s3_key(kind: str, tenant: str, key: str) -> str:
    """Quoting the tenant keeps tenant `a/b` with key `c` apart from tenant `a` with key `b/c`."""
    return f"{kind}/{quote(tenant, safe='')}/{key}"


def num(value: float) -> dict[str, str]:
    """A DynamoDB number attribute; finite, in fixed notation (DynamoDB keeps 38 significant digits)."""
    clamped = max(-FAR_FUTURE, min(FAR_FUTURE, value)) if not math.isnan(value) else 0.0
    return {"N": format(Decimal(repr(float(clamped))), "f")}


def num_or(item: dict[str, Any], name: str, default: float) -> float:
    attribute = item.get(name)
    return default if attribute is None else float(attribute["N"])


def is_conditional_failure(exc: ClientError) -> bool:
    return bool(exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


def is_missing(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound", "ResourceNotFoundException"}


def translated(method: Callable[P, R]) -> Callable[P, R]:
    """Turns a botocore failure into NotReady so that no botocore type escapes the store."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "ClientError")
            raise NotReady(f"state store error: {code}") from exc
        except BotoCoreError as exc:
            raise NotReady(f"state store unreachable: {type(exc).__name__}") from exc

    return wrapper


@translated
def ensure_aws_resources(settings: Settings) -> None:
    """Create the five on-demand tables (with TTL on `expires_at`) and the bucket if they are missing."""
    clients = AwsClients.open(settings)
    try:
        pages = clients.dynamodb.get_paginator("list_tables").paginate()
        existing = {name for page in pages for name in page["TableNames"]}
        for name in TABLES:
            table = clients.table(name)
            if table in existing:
                continue
            keys = [{"AttributeName": "pk", "KeyType": "HASH"}]
            attributes = [{"AttributeName": "pk", "AttributeType": "S"}]
            if name in TABLES_WITH_SORT_KEY:
                keys.append({"AttributeName": "sk", "KeyType": "RANGE"})
                attributes.append({"AttributeName": "sk", "AttributeType": "S"})
            clients.dynamodb.create_table(
                TableName=table, KeySchema=keys, AttributeDefinitions=attributes, BillingMode="PAY_PER_REQUEST"
            )
            clients.dynamodb.get_waiter("table_exists").wait(TableName=table)
            if name in TABLES_WITH_TTL:
                clients.dynamodb.update_time_to_live(
                    TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
                )
        try:
            clients.s3.head_bucket(Bucket=clients.bucket)
        except ClientError as exc:
            if not is_missing(exc):
                raise
            create: dict[str, Any] = {"Bucket": clients.bucket}
            if settings.aws_region != "us-east-1":
                create["CreateBucketConfiguration"] = {"LocationConstraint": settings.aws_region}
            clients.s3.create_bucket(**create)
    finally:
        clients.close()
