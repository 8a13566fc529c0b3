"""State behind small interfaces: SQLite (default), AWS (DynamoDB + S3), in-memory (tests)."""
