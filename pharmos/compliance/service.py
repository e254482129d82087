"""Audit-trail services: search for the viewer and the API, and chain verification."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import func, select

from pharmos.compliance.audit import AuditEntry, VerificationResult, verify_chain
from pharmos.core.actor import Actor
from pharmos.core.db import read_session
from pharmos.core.errors import ValidationFailed


@dataclass(frozen=True)
class AuditEntryView:
    id: int
    at: datetime
    actor: str
    actor_id: int | None
    record_type: str
    record_id: str
    action: str
    changes: dict[str, Any]
    reason: str | None
    request_id: str | None
    hash: str


@dataclass(frozen=True)
class AuditQuery:
    record_type: str | None = None
    record_id: str | None = None
    actor: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None



def parse_record_ref(ref: str) -> tuple[str, str]:
    """``TYPE:ID`` as used by the CLI and the viewer's filter."""
    record_type, sep, record_id = ref.partition(":")
    if not sep or not record_type or not record_id:
        raise ValidationFailed.on("record", "Use TYPE:ID, for example user:3 or controlled_setting:1.")
    return record_type, record_id


def search_audit(*, actor: Actor, query: AuditQuery, after_id: int | None = None, limit: int = 100,
                 newest_first: bool = False) -> list[AuditEntryView]:
    actor.require("audit.view")
    for name in ("since", "until"):
        moment = getattr(query, name)
        if moment is not None and moment.tzinfo is None:
            # A time without an offset is ambiguous (site-local or UTC?); the trail is stored in UTC.
            raise ValidationFailed.on(name, f"'{name}' needs a UTC offset, e.g. 2026-03-01T08:00:00+08:00.")
    if query.since and query.until and query.since > query.until:
        raise ValidationFailed.on("until", "'until' is before 'since'.")
    with read_session() as session:
        stmt = select(AuditEntry)
        if query.record_type:
            stmt = stmt.where(AuditEntry.record_type == query.record_type)
        if query.record_id:
            stmt = stmt.where(AuditEntry.record_id == query.record_id)
        if query.actor:
            stmt = stmt.where(AuditEntry.actor == query.actor)
        if query.action:
            stmt = stmt.where(AuditEntry.action == query.action)
        if query.since:
            stmt = stmt.where(AuditEntry.at >= query.since)
        if query.until:
            stmt = stmt.where(AuditEntry.at <= query.until)
        if after_id is not None:
            stmt = stmt.where(AuditEntry.id < after_id if newest_first else AuditEntry.id > after_id)
        stmt = stmt.order_by(AuditEntry.id.desc() if newest_first else AuditEntry.id).limit(limit)
        return [
            AuditEntryView(e.id, e.at, e.actor, e.actor_id, e.record_type, e.record_id, e.action,
                           orjson.loads(e.changes), e.reason, e.request_id, e.hash)
            for e in session.scalars(stmt)
        ]


def verify_audit_trail(*, actor: Actor) -> VerificationResult:
    actor.require("audit.view")
    with read_session() as session:
        return verify_chain(session)


def count_audit_entries(*, actor: Actor, since: datetime) -> int:
    """How many audit entries were written since a moment (the dashboard's activity figure)."""
    actor.require("audit.view")
    with read_session() as session:
        return session.scalar(select(func.count(AuditEntry.id)).where(AuditEntry.at >= since)) or 0
