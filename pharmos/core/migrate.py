"""Schema creation and upgrades (Alembic). Used by `pharmos init|migrate|demo` and tests."""

from __future__ import annotations

from pharmos.core.db import configure_database


def upgrade_head(url: str | None = None) -> None:
    """Bring the schema at ``url`` (default: the configured database) to the latest revision."""
    import pharmos.models as models

    database = configure_database(url)
    models.metadata.create_all(database.write_engine)
