"""Database engines, the declarative base and the transaction scopes services use.

Services own their transaction: ``with transaction(actor=..., reason=...) as session``
commits on success and rolls back on any exception, so a refused action writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, MetaData, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator

from pharmos.core.actor import Actor
from pharmos.core.clock import as_utc
from pharmos.core.config import get_settings
from pharmos.core.context import current_request_id

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on both SQLite and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use pharmos.core.clock.utcnow()")
        return as_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else as_utc(value)


@dataclass
class AuditContext:
    actor: Actor
    reason: str | None
    request_id: str | None


@dataclass
class Database:
    url: str
    write_engine: Engine
    read_engine: Engine
    writer: sessionmaker[Session]
    reader: sessionmaker[Session]

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    def dispose(self) -> None:
        self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            self.read_engine.dispose()


def _sqlite_engine(url: str, *, immediate: bool) -> Engine:
    memory = url in ("sqlite://", "sqlite:///:memory:")
    if not memory:
        path = url.split("sqlite:///", 1)[1]
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        poolclass=StaticPool if memory else None,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        if not memory:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the write lock up front so the audit chain and the numbering
        # sequences are read and extended under one lock (no forked chain).
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def build_database(url: str) -> Database:
    if url.startswith("sqlite"):
        writer_engine = _sqlite_engine(url, immediate=True)
        memory = url in ("sqlite://", "sqlite:///:memory:")
        reader_engine = writer_engine if memory else _sqlite_engine(url, immediate=False)
    else:
        # Recycle instead of pre-ping: a SELECT 1 on every checkout costs more than the request.
        writer_engine = create_engine(url, pool_size=10, max_overflow=20, pool_recycle=1800)
        reader_engine = writer_engine
    return Database(
        url=url,
        write_engine=writer_engine,
        read_engine=reader_engine,
        writer=sessionmaker(writer_engine, expire_on_commit=False),
        reader=sessionmaker(reader_engine, expire_on_commit=False),
    )


_database: Database | None = None


def configure_database(url: str | None = None) -> Database:
    global _database
    if _database is not None:
        _database.dispose()
    _database = build_database(url or get_settings().database_url)
    return _database


def get_database() -> Database:
    if _database is None:
        return configure_database()
    return _database


_open_unit: ContextVar[Session | None] = ContextVar("pharmos_open_unit_of_work", default=None)


@contextmanager
def transaction(*, actor: Actor, reason: str | None = None) -> Iterator[Session]:
    """A unit of work: every audited change inside is attributed to ``actor``.

    Called while another unit of work is open (a batch step that issues stock, starts equipment
    use and raises a deviation through those modules' services), it joins it inside a savepoint:
    the inner service's changes commit or roll back with the outer one, and an inner refusal
    undoes only its own writes. Changes made inside are attributed to the inner actor and reason.
    """
    outer = _open_unit.get()
    if outer is not None:
        with _joined(outer, actor=actor, reason=reason):
            yield outer
        return
    session = get_database().writer()
    session.info["audit"] = AuditContext(actor=actor, reason=reason, request_id=current_request_id())
    token = _open_unit.set(session)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        _open_unit.reset(token)
        session.close()


@contextmanager
def _joined(session: Session, *, actor: Actor, reason: str | None) -> Iterator[None]:
    # Audit entries are written at flush from the session's context, so flush at both edges.
    session.flush()
    saved = session.info["audit"]
    session.info["audit"] = AuditContext(actor=actor, reason=reason or saved.reason, request_id=saved.request_id)
    savepoint = session.begin_nested()
    try:
        yield
        session.flush()
        savepoint.commit()
    except BaseException:
        if savepoint.is_active:
            savepoint.rollback()
        raise
    finally:
        session.info["audit"] = saved


@contextmanager
def read_session() -> Iterator[Session]:
    """A read-only session; inside an open unit of work, that unit's session (it sees its own writes)."""
    outer = _open_unit.get()
    if outer is not None:
        yield outer
        return
    session = get_database().reader()
    try:
        yield session
    finally:
        session.rollback()
        session.close()
