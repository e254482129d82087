"""The one source of time: server-generated UTC (ALCOA+ 'contemporaneous')."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    # 21 CFR 11.10(e): time stamps come from the server, never from the client.
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
