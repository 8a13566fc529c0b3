"""Tenant ids are salted, short, stable, and found in every header a provider SDK uses for its key."""

from __future__ import annotations

from headroom.accounting.tenant import ANONYMOUS, api_key_from_headers, tenant_id


def test_tenant_id_is_stable_short_hex_and_salted() -> None:
    first = tenant_id("sk-ant-secret", "salt-a")
    assert first == tenant_id("sk-ant-secret", "salt-a")
    assert len(first) == 16
    int(first, 16)
    assert "secret" not in first
    assert first != tenant_id("sk-ant-secret", "salt-b")
    assert first != tenant_id("sk-ant-other", "salt-a")


def test_missing_key_is_anonymous() -> None:
    assert tenant_id(None, "salt") == ANONYMOUS
    assert tenant_id("", "salt") == ANONYMOUS


def test_api_key_from_each_header_style() -> None:
    assert api_key_from_headers({"x-api-key": "k1"}) == "k1"
    assert api_key_from_headers({"Authorization": "Bearer k2"}) == "k2"
    assert api_key_from_headers({"authorization": "bearer  k3 "}) == "k3"
    assert api_key_from_headers({"api-key": "k4"}) == "k4"
    assert api_key_from_headers({"X-Api-Key": "k5", "authorization": "Bearer other"}) == "k5"


def test_no_key_or_other_schemes() -> None:
    assert api_key_from_headers({}) is None
    assert api_key_from_headers({"authorization": "Basic abc"}) is None
    assert api_key_from_headers({"authorization": "Bearer "}) is None
