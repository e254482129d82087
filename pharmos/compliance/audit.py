"""The hash-chained, append-only audit trail every GMP record writes to.

21 CFR 11.10(e): secure, computer-generated, time-stamped audit trails that record the
date and time of entries and actions that create, modify or delete records; changes do
not obscure previous values. EU GMP Annex 11 §9: the reason for change is documented.

Entries are written by a SQLAlchemy ``after_flush`` hook in the same transaction as the
change they describe. Each entry's SHA-256 covers the previous entry's hash and its own
canonical JSON, so an edited, deleted or reordered entry breaks the chain at that entry.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, ClassVar

import orjson
from sqlalchemy import BigInteger, Index, String, Text, event, func, inspect, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.orm.attributes import get_history

from pharmos.core.clock import as_utc, utcnow
from pharmos.core.db import AuditContext, Base, UTCDateTime

GENESIS_HASH = "0" * 64
# Arbitrary constant key for the PostgreSQL advisory lock that serialises chain appends.
_CHAIN_LOCK_KEY = 0x50484152  # "PHAR"
REDACTED = "<redacted>"


class AuditEntry(Base):
    __tablename__ = "audit_entry"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    actor_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    actor: Mapped[str] = mapped_column(String(150), nullable=False)
    record_type: Mapped[str] = mapped_column(String(80), nullable=False)
    record_id: Mapped[str] = mapped_column(String(80), nullable=False)
    action: Mapped[str] = mapped_column(String(80), nullable=False)
    changes: Mapped[str] = mapped_column(Text, nullable=False)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)

    __table_args__ = (
        Index("ix_audit_entry_record", "record_type", "record_id"),
        Index("ix_audit_entry_actor_id", "actor_id"),
        Index("ix_audit_entry_at", "at"),
    )


class Audited:
    """Mixin for GMP records: every insert/update/delete is written to the audit trail."""

    __audit_type__: ClassVar[str]
    # Values never copied into the trail (the fact of the change is still recorded).
    __audit_secret__: ClassVar[frozenset[str]] = frozenset()
    # Bookkeeping columns whose churn is not a GMP change (e.g. last-seen timestamps).
    __audit_ignore__: ClassVar[frozenset[str]] = frozenset()


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, (set, frozenset)):
        return sorted(_jsonable(v) for v in value)
    return value


def canonical_json(value: Any) -> bytes:
    return orjson.dumps(value, default=_jsonable, option=orjson.OPT_SORT_KEYS)


def format_timestamp(value: datetime | str) -> str:
    if isinstance(value, str):  # raw SQLite text
        value = datetime.fromisoformat(value)
    return as_utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(
    *,
    prev_hash: str,
    id: int,
    at: datetime | str,
    actor_id: int | None,
    actor: str,
    record_type: str,
    record_id: str,
    action: str,
    changes: str,
    reason: str | None,
    request_id: str | None,
) -> str:
    canonical = orjson.dumps(
        {
            "action": action,
            "actor": actor,
            "actor_id": actor_id,
            "at": format_timestamp(at),
            "changes": orjson.Fragment(changes),
            "id": id,
            "reason": reason,
            "record_id": record_id,
            "record_type": record_type,
            "request_id": request_id,
        },
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.sha256(prev_hash.encode("ascii") + b"\n" + canonical).hexdigest()


@dataclass
class PendingEntry:
    record_type: str
    record_id: str
    action: str
    changes: dict[str, Any]


def _record_id(obj: Any) -> str:
    # In after_flush new rows have their keys but no identity key yet.
    key = inspect(obj).mapper.primary_key_from_instance(obj)
    return ":".join(str(part) for part in key)


def _field_changes(obj: Audited, *, created: bool, deleted: bool) -> dict[str, Any]:
    mapper = inspect(obj).mapper
    changes: dict[str, Any] = {}
    for attr in mapper.column_attrs:
        key = attr.key
        if key in obj.__audit_ignore__:
            continue
        hist = get_history(obj, key)
        if created:
            new = hist.added[0] if hist.added else getattr(obj, key)
            if new is None:
                continue
            changes[key] = [None, REDACTED if key in obj.__audit_secret__ else new]
        elif deleted:
            old = hist.unchanged[0] if hist.unchanged else (hist.deleted[0] if hist.deleted else None)
            changes[key] = [REDACTED if key in obj.__audit_secret__ else old, None]
        elif hist.has_changes():
            old = hist.deleted[0] if hist.deleted else None
            new = hist.added[0] if hist.added else None
            if old == new:
                continue
            if key in obj.__audit_secret__:
                changes[key] = [REDACTED, REDACTED]
            else:
                changes[key] = [old, new]
    return changes


def _pending_entries(session: Session) -> list[PendingEntry]:
    entries: list[PendingEntry] = []
    for obj in session.new:
        if isinstance(obj, Audited):
            entries.append(
                PendingEntry(obj.__audit_type__, _record_id(obj), "create",
                             _field_changes(obj, created=True, deleted=False))
            )
    for obj in session.dirty:
        if isinstance(obj, Audited) and session.is_modified(obj, include_collections=False):
            changes = _field_changes(obj, created=False, deleted=False)
            if changes:
                entries.append(PendingEntry(obj.__audit_type__, _record_id(obj), "update", changes))
    for obj in session.deleted:
        if isinstance(obj, Audited):
            entries.append(
                PendingEntry(obj.__audit_type__, _record_id(obj), "delete",
                             _field_changes(obj, created=False, deleted=True))
            )
    explicit: list[PendingEntry] = session.info.pop("audit_events", [])
    return entries + explicit


def _chain_head(session: Session) -> tuple[int, str]:
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        # Serialise appends across processes; released at commit/rollback.
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CHAIN_LOCK_KEY})
    row = conn.execute(
        select(AuditEntry.id, AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)
    ).first()
    if row is None:
        return 0, GENESIS_HASH
    return int(row[0]), str(row[1])


def append_entries(session: Session, entries: Iterable[PendingEntry]) -> None:
    entries = list(entries)
    if not entries:
        return
    ctx: AuditContext | None = session.info.get("audit")
    if ctx is None:
        # ALCOA+ 'attributable': no GMP change without an actor.
        raise RuntimeError("audited change outside pharmos.core.db.transaction(actor=...)")
    last_id, last_hash = _chain_head(session)
    rows = []
    now = utcnow()
    for pending in entries:
        last_id += 1
        changes_text = canonical_json(pending.changes).decode()
        row = {
            "id": last_id,
            "at": now,
            "actor_id": ctx.actor.user_id,
            "actor": ctx.actor.username,
            "record_type": pending.record_type,
            "record_id": pending.record_id,
            "action": pending.action,
            "changes": changes_text,
            "reason": ctx.reason,
            "request_id": ctx.request_id,
        }
        digest = entry_hash(prev_hash=last_hash, **row)
        row["prev_hash"] = last_hash
        row["hash"] = digest
        rows.append(row)
        last_hash = digest
    session.connection().execute(AuditEntry.__table__.insert(), rows)


@event.listens_for(Session, "after_flush")
def _write_audit_trail(session: Session, _flush_context: Any) -> None:
    append_entries(session, _pending_entries(session))


def record_event(
    session: Session, *, record_type: str, record_id: str | int, action: str, details: dict[str, Any] | None = None
) -> None:
    """Audit an action that changes no audited row (failed login, failed signing, export)."""
    session.info.setdefault("audit_events", []).append(
        PendingEntry(record_type, str(record_id), action, details or {})
    )
    # Force a flush so the event is chained even when nothing else changed.
    if not session.new and not session.dirty and not session.deleted:
        append_entries(session, session.info.pop("audit_events"))


@dataclass
class VerificationResult:
    ok: bool
    checked: int
    first_broken_id: int | None = None
    problem: str | None = None
    last_hash: str | None = None


_VERIFY_SQL = (
    "SELECT id, at, actor_id, actor, record_type, record_id, action, changes, reason, request_id, "
    "prev_hash, hash FROM audit_entry WHERE id > %s ORDER BY id LIMIT %s"
)


def iter_raw_entries(session: Session, batch: int = 20000) -> Iterator[tuple[Any, ...]]:
    """Raw rows straight from the DB-API cursor: verification must not trust the ORM."""
    raw = session.connection().connection.dbapi_connection
    assert raw is not None
    paramstyle = "?" if session.connection().dialect.name == "sqlite" else "%s"
    sql = _VERIFY_SQL.replace("%s", paramstyle)
    after = -1
    while True:
        cur = raw.cursor()
        cur.execute(sql, (after, batch))
        rows = cur.fetchall()
        cur.close()
        if not rows:
            return
        yield from rows
        after = rows[-1][0]


def verify_chain(session: Session) -> VerificationResult:
    expected_prev = GENESIS_HASH
    expected_id = 1
    checked = 0
    sha = hashlib.sha256
    dumps = orjson.dumps
    fragment = orjson.Fragment
    sort = orjson.OPT_SORT_KEYS
    for row in iter_raw_entries(session):
        (id_, at, actor_id, actor, record_type, record_id, action, changes, reason, request_id,
         prev_hash, digest) = row
        if id_ != expected_id:
            return VerificationResult(False, checked, expected_id,
                                      f"entry {expected_id} is missing (next entry found is {id_})")
        if prev_hash != expected_prev:
            return VerificationResult(False, checked, id_,
                                      f"entry {id_} does not follow entry {id_ - 1} (chain link broken)")
        canonical = dumps(
            {
                "action": action, "actor": actor, "actor_id": actor_id, "at": format_timestamp(at),
                "changes": fragment(changes), "id": id_, "reason": reason, "record_id": record_id,
                "record_type": record_type, "request_id": request_id,
            },
            option=sort,
        )
        if sha(prev_hash.encode("ascii") + b"\n" + canonical).hexdigest() != digest:
            return VerificationResult(False, checked, id_, f"entry {id_} content does not match its hash")
        expected_prev = digest
        expected_id += 1
        checked += 1
    return VerificationResult(True, checked, None, None, expected_prev)


def count_entries(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def new_request_id() -> str:
    return uuid.uuid4().hex
