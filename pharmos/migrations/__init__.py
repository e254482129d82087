"""Alembic migrations of the Pharmos schema; run through pharmos.core.migrate, never by hand-made DDL."""
