"""Headroom's test suite: unit, integration (real loopback servers), e2e (real agent CLIs) and infra tests."""
