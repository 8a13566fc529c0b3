"""Token-bucket arithmetic shared by every counter backend: refill, take, and when an idle bucket is full again."""

from __future__ import annotations

import math
from dataclasses import dataclass

MIN_WAIT = 1e-6


@dataclass(frozen=True, slots=True)
class Bucket:
    """A bucket's stored state: tokens left at `updated_at`."""

    tokens: float
    updated_at: float


def take_from(
    stored: Bucket | None, cost: float, capacity: float, refill_per_second: float, now: float
) -> tuple[Bucket | None, float]:
    """The bucket to store and 0.0 if `cost` tokens could be taken; otherwise (None, seconds to wait).

    An absent bucket is full. A caller whose clock lags the stored one gets no refill and never moves
    `updated_at` back, so clock skew between workers cannot mint tokens.
    """
    if stored is None:
        tokens, updated_at = capacity, now
    else:
        elapsed = max(0.0, now - stored.updated_at)
        tokens = min(capacity, stored.tokens + elapsed * refill_per_second)
        updated_at = max(now, stored.updated_at)
    if cost <= tokens:
        return Bucket(tokens - cost, updated_at), 0.0
    if cost > capacity or refill_per_second <= 0:
        return None, math.inf
    return None, max(MIN_WAIT, (cost - tokens) / refill_per_second)


def full_at(bucket: Bucket, capacity: float, refill_per_second: float) -> float:
    """When the bucket will be full again (`math.inf` if it never refills): from then on it equals an absent one,
    so a backend may let the row expire at this time."""
    if refill_per_second <= 0:
        return math.inf if bucket.tokens < capacity else bucket.updated_at
    return bucket.updated_at + max(0.0, capacity - bucket.tokens) / refill_per_second
