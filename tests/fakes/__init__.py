"""Test doubles that speak real wire formats over loopback: the fake LLM provider and its client handle."""
