"""Schema creation and upgrades (Alembic). Used by `pharmos init|migrate|demo` and tests.

The Alembic configuration is built here rather than read from an ``alembic.ini`` so that
an installed wheel migrates exactly as a checkout does (the scripts ship inside the
package). Every step runs in one transaction on the application's own write engine, so
SQLite gets the same pragmas as at run time and a failed upgrade leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext

from pharmos.core.db import Database, build_database, configure_database, get_database

SCRIPT_LOCATION = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    """The Alembic configuration for ``url`` (e.g. for ``alembic.command.revision``)."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    if url:
        # ConfigParser interpolation would read a '%' in a password as a reference.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


@contextmanager
def _database_for(url: str | None) -> Iterator[Database]:
    """The configured database, or a short-lived one for another URL (the global is left alone)."""
    if url is None or url in ("sqlite://", "sqlite:///:memory:"):
        yield get_database()
        return
    database = build_database(url)
    try:
        yield database
    finally:
        database.dispose()


def _run(database: Database, step: str, revision: str) -> None:
    config = alembic_config(database.url)
    with database.write_engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, step)(config, revision)


def upgrade_head(url: str | None = None) -> None:
    """Bring the schema at ``url`` (default: the configured database) to the latest revision."""
    database = configure_database(url)
    _run(database, "upgrade", "head")


def downgrade_base(url: str | None = None) -> None:
    """Remove every table the migrations created (development and tests only)."""
    with _database_for(url) as database:
        _run(database, "downgrade", "base")


def current_revision(url: str | None = None) -> str | None:
    """The revision the database at ``url`` is at; None when it was never migrated."""
    with _database_for(url) as database, database.write_engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def schema_drift(url: str | None = None) -> list[Any]:
    """Differences between the models and the migrated schema (empty when they agree)."""
    import pharmos.models as models

    with _database_for(url) as database, database.write_engine.connect() as connection:
        dialect = connection.dialect.name

        def for_this_dialect(obj: Any, _name: str | None, kind: str, _reflected: bool, _compare_to: Any) -> bool:
            # An index a model declares for other databases only (info["dialects"]) is not drift here.
            return kind != "index" or dialect in getattr(obj, "info", {}).get("dialects", (dialect,))

        context = MigrationContext.configure(connection, opts={"compare_type": True,
                                                              "include_object": for_this_dialect})
        return list(compare_metadata(context, models.metadata))
