"""Human identifiers (``CS-2026-0007``): unique, never reused, gapless per sequence.

The counter is incremented inside the caller's transaction, so a rolled-back action
gives its number back and the sequence stays gapless; concurrent callers on
PostgreSQL queue on the row lock (SELECT … FOR UPDATE), on SQLite on the write lock.
"""

from __future__ import annotations

import re
import string
from datetime import datetime

from sqlalchemy import BigInteger, String, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from pharmos.core.clock import utcnow
from pharmos.core.db import Base, BigId

_FIELDS = {"prefix", "date", "seq"}


class NumberSequence(Base):
    __tablename__ = "number_sequence"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(120), unique=True, nullable=False)
    last_value: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)


def validate_pattern(pattern: str) -> None:
    names = {f[1].split(".")[0] for f in string.Formatter().parse(pattern) if f[1]}
    if "seq" not in names:
        raise ValueError(f"numbering pattern {pattern!r} needs a {{seq}} field")
    if not names <= _FIELDS:
        raise ValueError(f"numbering pattern {pattern!r} uses unknown field(s) {sorted(names - _FIELDS)}; "
                         f"it may only use {sorted(_FIELDS)}")


def sequence_key(pattern: str, *, prefix: str, at: datetime) -> str:
    # The sequence restarts whenever the non-sequence part changes (e.g. each year).
    head = re.sub(r"\{seq[^}]*\}", "#", pattern)
    return head.format(prefix=prefix, date=at)


def next_number(session: Session, *, prefix: str, pattern: str = "{prefix}-{date:%Y}-{seq:04d}",
                at: datetime | None = None) -> str:
    return next_numbers(session, prefix=prefix, pattern=pattern, at=at, count=1)[0]


def next_numbers(session: Session, *, prefix: str, pattern: str = "{prefix}-{date:%Y}-{seq:04d}",
                 at: datetime | None = None, count: int) -> list[str]:
    """``count`` consecutive numbers in one locked step (a job numbering hundreds of records at once)."""
    if count < 1:
        raise ValueError("count must be at least 1")
    validate_pattern(pattern)
    at = at or utcnow()
    key = sequence_key(pattern, prefix=prefix, at=at)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(pg_insert(NumberSequence).values(key=key, last_value=0).on_conflict_do_nothing())
    elif session.scalar(select(NumberSequence.id).where(NumberSequence.key == key)) is None:
        session.add(NumberSequence(key=key, last_value=0))
        session.flush()
    row = session.scalar(select(NumberSequence).where(NumberSequence.key == key).with_for_update())
    assert row is not None
    first = row.last_value + 1
    row.last_value += count
    session.flush()
    return [pattern.format(prefix=prefix, date=at, seq=seq) for seq in range(first, first + count)]
