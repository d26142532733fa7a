"""The inbox's free-text search index: SQLite FTS5 (trigram) or a PostgreSQL pg_trgm index."""
