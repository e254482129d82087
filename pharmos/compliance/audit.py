"""The hash-chained, append-only audit trail every GMP record writes to.

21 CFR 11.10(e): secure, computer-generated, time-stamped audit trails that record the
date and time of entries and actions that create, modify or delete records; changes do
not obscure previous values. EU GMP Annex 11 §9: the reason for change is documented.

Entries are collected by a SQLAlchemy ``after_flush`` hook (field history is readable only
then) and appended by a ``before_commit`` hook in the same transaction as the change they
describe, one batch per unit of work. Each entry's SHA-256 covers the previous entry's hash and its own
canonical JSON, so an edited, deleted or reordered entry breaks the chain at that entry.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, ClassVar

import orjson
from sqlalchemy import BigInteger, Index, String, Text, event, func, insert, inspect, select, text
from sqlalchemy.engine import Engine
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
    # Who and why, when a joined unit of work (pharmos.core.db.transaction) acted for another actor.
    context: AuditContext | None = None


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


_PG_LOCKED_HEAD = (
    "SELECT head.id, head.hash FROM (SELECT pg_advisory_xact_lock(%s)) AS chain_lock "
    "LEFT JOIN LATERAL (SELECT id, hash FROM audit_entry ORDER BY id DESC LIMIT 1) AS head ON true"
)
_COLUMNS = ("id", "at", "actor_id", "actor", "record_type", "record_id", "action", "changes", "reason",
            "request_id", "prev_hash", "hash")
_PG_INSERT = (f"INSERT INTO audit_entry ({', '.join(_COLUMNS)}) "  # noqa: S608 - constant column list
              f"VALUES ({', '.join(['%s'] * len(_COLUMNS))})")


def _chain_head(session: Session) -> tuple[int, str]:
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        # Serialise appends across processes (released at commit/rollback) and read the head
        # under that lock in one round trip, on the DB-API cursor of this same transaction:
        # the audit write is on the path of every GMP change, so it skips ORM/Core overhead.
        cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cur.execute(_PG_LOCKED_HEAD, (_CHAIN_LOCK_KEY,))
        row = cur.fetchone()
        cur.close()
        if row is None or row[0] is None:
            return 0, GENESIS_HASH
        return int(row[0]), str(row[1])
    found = conn.execute(
        select(AuditEntry.id, AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)
    ).first()
    if found is None:
        return 0, GENESIS_HASH
    return int(found[0]), str(found[1])


def _insert_entries(session: Session, rows: list[dict[str, Any]]) -> None:
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cur.executemany(_PG_INSERT, [tuple(r[c] for c in _COLUMNS) for r in rows])
        cur.close()
    else:
        # SQLite keeps SQLAlchemy's DateTime text format, which verify_chain reads back.
        conn.execute(insert(AuditEntry), rows)


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
        entry_ctx = pending.context or ctx
        last_id += 1
        changes_text = canonical_json(pending.changes).decode()
        row: dict[str, Any] = {
            "id": last_id,
            "at": now,
            "actor_id": entry_ctx.actor.user_id,
            "actor": entry_ctx.actor.username,
            "record_type": pending.record_type,
            "record_id": pending.record_id,
            "action": pending.action,
            "changes": changes_text,
            "reason": entry_ctx.reason,
            "request_id": entry_ctx.request_id,
        }
        digest = entry_hash(prev_hash=last_hash, id=last_id, at=now, actor_id=row["actor_id"], actor=row["actor"],
                            record_type=pending.record_type, record_id=pending.record_id, action=pending.action,
                            changes=changes_text, reason=row["reason"], request_id=row["request_id"])
        row["prev_hash"] = last_hash
        row["hash"] = digest
        rows.append(row)
        last_hash = digest
    _insert_entries(session, rows)


_QUEUE = "audit_queue"


@event.listens_for(Session, "after_flush")
def _collect_audit_entries(session: Session, _flush_context: Any) -> None:
    # Field-level history is only readable while the flush is under way: take it now, chain it
    # at commit, so a unit of work that flushes many times appends to the chain once.
    context = session.info.get("audit")
    session.info.setdefault(_QUEUE, []).extend(
        PendingEntry(e.record_type, e.record_id, e.action, e.changes, e.context or context)
        for e in _pending_entries(session))


_SAVEPOINT_MARKS = "audit_savepoint_marks"


@event.listens_for(Session, "after_transaction_create")
def _mark_savepoint(session: Session, transaction: Any) -> None:
    if transaction.nested:
        session.info.setdefault(_SAVEPOINT_MARKS, {})[id(transaction)] = len(session.info.get(_QUEUE, []))


@event.listens_for(Session, "after_soft_rollback")
def _discard_savepoint_entries(session: Session, previous_transaction: Any) -> None:
    # A refused inner service (a joined unit of work) rolled back to its savepoint: the entries
    # queued since describe changes that never happened.
    if not previous_transaction.nested:
        if previous_transaction.parent is None:
            _discard_audit_entries(session)
        return
    mark = session.info.get(_SAVEPOINT_MARKS, {}).pop(id(previous_transaction), None)
    if mark is not None:
        del session.info.get(_QUEUE, [])[mark:]
        session.info.pop("audit_events", None)


@event.listens_for(Session, "before_commit")
def _write_audit_trail(session: Session) -> None:
    # The commit's own final flush runs after this hook, so flush first; then lock the chain,
    # read its head and append in one batch. The chain lock is held only from here to the commit
    # (21 CFR 11.10(e): the entries commit, or roll back, with the changes they describe).
    session.flush()
    queued: list[PendingEntry] = session.info.pop(_QUEUE, [])
    queued.extend(session.info.pop("audit_events", []))
    session.info.pop(_SAVEPOINT_MARKS, None)
    append_entries(session, queued)


def _discard_audit_entries(session: Session) -> None:
    session.info.pop(_QUEUE, None)
    session.info.pop("audit_events", None)
    session.info.pop(_SAVEPOINT_MARKS, None)


def record_event(
    session: Session, *, record_type: str, record_id: str | int, action: str, details: dict[str, Any] | None = None
) -> None:
    """Audit an action that changes no audited row (failed login, failed signing, export)."""
    session.info.setdefault("audit_events", []).append(
        PendingEntry(record_type, str(record_id), action, details or {})
    )


@dataclass
class VerificationResult:
    ok: bool
    checked: int
    first_broken_id: int | None = None
    problem: str | None = None
    last_hash: str | None = None


_VERIFY_SQL = (
    "SELECT id, {at}, actor_id, actor, record_type, record_id, action, changes, reason, request_id, "
    "prev_hash, hash FROM audit_entry WHERE id > {p} AND id <= {p} ORDER BY id LIMIT {p}"
)
# format_timestamp's canonical form rendered by PostgreSQL itself: parsing a datetime and
# formatting it again in Python for every entry costs more than hashing the entry.
_PG_CANONICAL_AT = "to_char({at}, 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
_NO_UPPER_BOUND = 2**62
# Below this many entries a second process costs more than it saves.
_PARALLEL_MIN_ENTRIES = 200_000
_MAX_VERIFY_PROCESSES = 4


def _verify_sql(session: Session, *, canonical_at: bool) -> str:
    conn = session.connection()
    if conn.dialect.name == "sqlite":
        return _VERIFY_SQL.format(at="at", p="?")
    if not canonical_at:
        return _VERIFY_SQL.format(at="at", p="%s")
    data_type = conn.execute(text(
        "SELECT data_type FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = 'audit_entry' AND column_name = 'at'"
    )).scalar()
    utc_at = "at AT TIME ZONE 'UTC'" if data_type == "timestamp with time zone" else "at"
    return _VERIFY_SQL.format(at=_PG_CANONICAL_AT.format(at=utc_at), p="%s")


def iter_raw_entries(session: Session, batch: int = 50000, *, canonical_at: bool = False, after: int = -1,
                     until: int = _NO_UPPER_BOUND) -> Iterator[tuple[Any, ...]]:
    """Raw rows (ids in ``(after, until]``) straight from the DB-API cursor: verification must not trust the ORM.

    With ``canonical_at`` PostgreSQL returns ``at`` already as format_timestamp renders it;
    SQLite always returns its stored text.
    """
    raw = session.connection().connection.dbapi_connection
    assert raw is not None
    sql = _verify_sql(session, canonical_at=canonical_at)
    while True:
        cur = raw.cursor()
        cur.execute(sql, (after, until, batch))
        rows = cur.fetchall()
        cur.close()
        if not rows:
            return
        yield from rows
        after = rows[-1][0]


def _canonical_at(value: datetime | str) -> str:
    # Fast paths for PostgreSQL's pre-rendered text and for the naive UTC text SQLAlchemy
    # stores on SQLite ("2026-01-05 01:30:00.123456"); anything else takes the full parse.
    if type(value) is str:
        if len(value) == 27 and value[10] == "T" and value[26] == "Z":
            return value
        if len(value) == 26 and value[10] == " " and value[0] != "0":
            return value[:10] + "T" + value[11:] + "Z"
    return format_timestamp(value)


@dataclass
class _SegmentResult:
    result: VerificationResult
    next_id: int  # the id the chain expects after the last entry checked
    first_prev: str | None  # stored prev_hash of the segment's first entry


def _verify_rows(rows: Iterable[tuple[Any, ...]], *, expected_id: int, expected_prev: str | None) -> _SegmentResult:
    """Check consecutive entries; ``expected_prev`` None trusts the first entry's link (checked by the caller)."""
    checked = 0
    first_prev: str | None = None
    sha = hashlib.sha256
    dumps = orjson.dumps
    fragment = orjson.Fragment
    canonical_at = _canonical_at
    for row in rows:
        (id_, at, actor_id, actor, record_type, record_id, action, changes, reason, request_id,
         prev_hash, digest) = row
        if id_ != expected_id:
            return _SegmentResult(VerificationResult(
                False, checked, expected_id, f"entry {expected_id} is missing (next entry found is {id_})"),
                expected_id, first_prev)
        if expected_prev is None:
            expected_prev = first_prev = prev_hash
        if prev_hash != expected_prev:
            return _SegmentResult(VerificationResult(
                False, checked, id_, f"entry {id_} does not follow entry {id_ - 1} (chain link broken)"),
                expected_id, first_prev)
        # Keys in sorted order: the same bytes entry_hash produces with OPT_SORT_KEYS.
        canonical = dumps(
            {
                "action": action, "actor": actor, "actor_id": actor_id, "at": canonical_at(at),
                "changes": fragment(changes), "id": id_, "reason": reason, "record_id": record_id,
                "record_type": record_type, "request_id": request_id,
            }
        )
        if sha(prev_hash.encode("ascii") + b"\n" + canonical).hexdigest() != digest:
            return _SegmentResult(VerificationResult(
                False, checked, id_, f"entry {id_} content does not match its hash"), expected_id, first_prev)
        expected_prev = digest
        expected_id += 1
        checked += 1
    return _SegmentResult(VerificationResult(True, checked, None, None, expected_prev), expected_id, first_prev)


def _verify_segment(url: str, first_id: int, last_id: int) -> _SegmentResult:
    """One id range of the chain, on its own connection."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    engine = create_engine(url, poolclass=NullPool)
    try:
        with Session(engine) as session:
            rows = iter_raw_entries(session, canonical_at=True, after=first_id - 1, until=last_id)
            return _verify_rows(rows, expected_id=first_id, expected_prev=None)
    finally:
        engine.dispose()


def verify_segment_worker() -> None:
    """Entry point of a verification worker process: job as JSON on stdin, result as JSON on stdout."""
    job = orjson.loads(sys.stdin.buffer.read())
    segment = _verify_segment(job["url"], job["first_id"], job["last_id"])
    sys.stdout.buffer.write(orjson.dumps({**asdict(segment.result), "next_id": segment.next_id,
                                          "first_prev": segment.first_prev}))


_WORKER_CODE = "from pharmos.compliance.audit import verify_segment_worker; verify_segment_worker()"


def _start_worker(url: str, first_id: int, last_id: int) -> subprocess.Popen[bytes]:
    # A fresh interpreter rather than multiprocessing: callers may be threaded servers or
    # scripts without a __main__ guard. The URL (it may hold a password) goes via stdin.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    proc = subprocess.Popen([sys.executable, "-c", _WORKER_CODE], stdin=subprocess.PIPE,  # noqa: S603 - our own interpreter and code
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    assert proc.stdin is not None
    proc.stdin.write(orjson.dumps({"url": url, "first_id": first_id, "last_id": last_id}))
    proc.stdin.close()
    return proc


def _worker_result(proc: subprocess.Popen[bytes]) -> _SegmentResult | None:
    assert proc.stdout is not None
    out = proc.stdout.read()
    if proc.wait() != 0:
        return None
    data = orjson.loads(out)
    return _SegmentResult(VerificationResult(data["ok"], data["checked"], data["first_broken_id"], data["problem"],
                                             data["last_hash"]), data["next_id"], data["first_prev"])


def _segment_starts(session: Session, processes: int) -> tuple[list[int], int] | None:
    """Ids at which each process starts, and the head id; None when the chain is too short to split."""
    total = count_entries(session)
    if total < _PARALLEL_MIN_ENTRIES:
        return None
    starts = [1]
    for part in range(1, processes):
        start = session.scalar(select(AuditEntry.id).order_by(AuditEntry.id).offset(total * part // processes).limit(1))
        if start is None or start <= starts[-1]:
            return None
        starts.append(int(start))
    head = session.scalar(select(func.max(AuditEntry.id)))
    return starts, int(head or 0)


def verify_chain(session: Session, *, processes: int | None = None) -> VerificationResult:
    """Prove the chain intact from the genesis entry, or name the first broken entry.

    Long chains are verified in id ranges by several processes (each entry stores its
    predecessor's hash, so ranges are independent); the links between ranges and the
    ranges' results are then combined in chain order, so the answer is the same as a
    single pass: the first broken entry and how many entries before it were intact.
    """
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    if processes is None:
        processes = min(_MAX_VERIFY_PROCESSES, os.cpu_count() or 1)
    in_memory = engine.dialect.name == "sqlite" and engine.url.database in (None, "", ":memory:")
    plan = None if processes < 2 or in_memory else _segment_starts(session, processes)
    if plan is None:
        rows = iter_raw_entries(session, canonical_at=True)
        return _verify_rows(rows, expected_id=1, expected_prev=GENESIS_HASH).result
    starts, head = plan
    ends = [start - 1 for start in starts[1:]] + [head]
    url = engine.url.render_as_string(hide_password=False)
    workers = [_start_worker(url, start, end) for start, end in zip(starts[1:], ends[1:], strict=True)]
    first = _verify_rows(iter_raw_entries(session, canonical_at=True, until=ends[0]),
                         expected_id=1, expected_prev=GENESIS_HASH)
    others = [_worker_result(proc) for proc in workers]
    if any(other is None for other in others):
        # A worker that could not run proves nothing: fall back to a single pass.
        return _verify_rows(iter_raw_entries(session, canonical_at=True), expected_id=1,
                            expected_prev=GENESIS_HASH).result
    segments = [first] + [other for other in others if other is not None]
    checked = 0
    last_hash = GENESIS_HASH
    for index, segment in enumerate(segments):
        start = starts[index]
        if index > 0 and segment.first_prev is not None and segment.first_prev != last_hash:
            return VerificationResult(False, checked, start,
                                      f"entry {start} does not follow entry {start - 1} (chain link broken)")
        result = segment.result
        if not result.ok:
            return VerificationResult(False, checked + result.checked, result.first_broken_id, result.problem)
        checked += result.checked
        if index + 1 < len(segments) and segment.next_id != starts[index + 1]:
            return VerificationResult(False, checked, segment.next_id,
                                      f"entry {segment.next_id} is missing (next entry found is {starts[index + 1]})")
        last_hash = result.last_hash or last_hash
    return VerificationResult(True, checked, None, None, last_hash)


def count_entries(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)
