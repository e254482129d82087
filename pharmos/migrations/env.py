"""Alembic environment: one schema history for SQLite and PostgreSQL.

pharmos.core.migrate hands over an open connection; the ``alembic`` command line (with a
config whose ``sqlalchemy.url`` is set, or PHARMOS_DATABASE_URL) opens its own.
"""

from __future__ import annotations

from alembic import context

import pharmos.models
from pharmos.core.config import get_settings
from pharmos.core.db import build_database

config = context.config
target_metadata = pharmos.models.metadata


def _configure(connection):  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        # One transaction for the whole upgrade, on PostgreSQL DDL included.
        transaction_per_migration=False,
    )


def run_migrations_offline() -> None:
    url = config.get_main_option("sqlalchemy.url") or get_settings().database_url
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url") or get_settings().database_url
    database = build_database(url)
    try:
        with database.write_engine.connect() as connection:
            _configure(connection)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        database.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
