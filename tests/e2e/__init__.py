"""End-to-end tests: the real agent CLIs from npm, run through the Headroom proxy against the fake upstream."""
