"""Alembic migrations: the same history builds, removes and rebuilds the schema on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

import pharmos.models as models
from pharmos.core.db import get_database
from pharmos.core.migrate import current_revision, downgrade_base, head_revision, schema_drift, upgrade_head
from tests.conftest import create_pg_database, drop_pg_database, require_postgres

APPEND_ONLY_TABLES = ("audit_entry", "electronic_signature")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def blank_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty, never-migrated database on each back-end."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'blank.db'}"
        get_database().dispose()
    else:
        require_postgres()
        url = create_pg_database()
        try:
            yield url
        finally:
            drop_pg_database(url)


def _tables(url: str) -> set[str]:
    with get_database().write_engine.connect() as conn:
        return set(inspect(conn).get_table_names()) - {"alembic_version"}


def _append_only_guards(url: str) -> set[str]:
    with get_database().write_engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            rows = conn.execute(text(
                "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal "
                "AND tgrelid::regclass::text IN ('audit_entry', 'electronic_signature')"))
        else:
            rows = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
        return {r[0] for r in rows}


def test_upgrade_downgrade_upgrade_round_trip(blank_url: str) -> None:
    # given a database nobody has migrated
    assert head_revision() is not None

    # when it is upgraded to head
    upgrade_head(blank_url)

    # then every model table exists and the database is at head
    assert _tables(blank_url) == set(models.metadata.tables)
    assert current_revision(blank_url) == head_revision()

    # when it is downgraded to base
    downgrade_base(blank_url)

    # then nothing of the schema is left, append-only guards included
    assert _tables(blank_url) == set()
    assert _append_only_guards(blank_url) == set()
    assert current_revision(blank_url) is None

    # when it is upgraded again
    upgrade_head(blank_url)

    # then the schema is back, complete
    assert _tables(blank_url) == set(models.metadata.tables)
    assert current_revision(blank_url) == head_revision()


def test_upgrade_is_idempotent_at_head(blank_url: str) -> None:
    # given a database at head
    upgrade_head(blank_url)

    # when `pharmos migrate` runs again
    upgrade_head(blank_url)

    # then nothing changed and nothing failed
    assert current_revision(blank_url) == head_revision()
    assert schema_drift(blank_url) == []


def test_models_and_migrations_agree(blank_url: str) -> None:
    # given a database built only by the migrations
    upgrade_head(blank_url)

    # when the migrated schema is compared with the SQLAlchemy models
    drift = schema_drift(blank_url)

    # then Alembic finds nothing to autogenerate
    assert drift == []


def test_schema_drift_names_what_differs(blank_url: str) -> None:
    # given a migrated database from which someone dropped an index by hand
    upgrade_head(blank_url)
    with get_database().write_engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_audit_entry_at"))

    # when drift is checked
    drift = schema_drift(blank_url)

    # then the missing index is reported (the check above is not vacuous)
    assert [d[0] for d in drift] == ["add_index"]
    assert drift[0][1].name == "ix_audit_entry_at"


@pytest.mark.requirement("21 CFR 11.10(e)")
def test_migration_installs_append_only_guards(blank_url: str) -> None:
    # given / when a freshly migrated database
    upgrade_head(blank_url)

    # then both the audit trail and the signature table carry their append-only triggers
    guards = _append_only_guards(blank_url)
    for table in APPEND_ONLY_TABLES:
        assert {g for g in guards if g.startswith(table)}, f"no append-only trigger on {table}"
