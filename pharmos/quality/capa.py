"""Corrective and preventive actions: planned by QA, carried out by their owner, verified for effectiveness.

A CAPA has an owner who must hold ``capas.perform``, a due date and effectiveness criteria
fixed when it is planned (ICH Q10 3.2.2; 药品GMP 第二百五十二条、第二百五十三条). The owner
records what was implemented and signs the ``implement`` transition; after the
effectiveness-check delay someone other than the owner records the check, and QA closes the
CAPA as effective or reopens it (``close`` / ``reopen`` in ``pharmos/quality/lifecycle.py``).
The services here set only the fields those transitions check.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from pharmos.auth import service as auth
from pharmos.auth.service import DirectoryEntry
from pharmos.compliance.signatures import signatures_for
from pharmos.core.actor import Actor
from pharmos.core.clock import as_utc, site_today
from pharmos.core.db import read_session, transaction
from pharmos.core.errors import Conflict, FieldProblem, NotFound, ValidationFailed
from pharmos.core.errors import collect_text as _text
from pharmos.core.errors import raise_problems as _raise
from pharmos.core.numbering import next_number
from pharmos.quality.deviations import load_deviation, record_timeline
from pharmos.quality.lifecycle import CAPA_LIFECYCLE, OPEN_CAPA_STATES
from pharmos.quality.models import Capa
from pharmos.quality.views import CapaView

__all__ = [
    "CAPA_KINDS",
    "CAPA_SOURCE_TYPES",
    "create_capa",
    "get_capa",
    "list_capas",
    "record_effectiveness_check",
    "record_implementation",
    "update_capa",
]

CAPA_KINDS = ("corrective", "preventive")
CAPA_SOURCE_TYPES = ("deviation", "complaint", "audit", "change_control", "other")
# A CAPA answers a deviation once its investigation has a root cause to act on, until the deviation is closed.
DEVIATION_STATES_FOR_CAPA = ("investigating", "pending_approval", "approved")
MAX_EFFECTIVENESS_DAYS = 730
DEFAULT_EFFECTIVENESS_DAYS = 90

_TITLE_MAX = 200
_TEXT_MAX = 10000


# ---------------------------------------------------------------- views


def capa_overdue_clause(today: date) -> ColumnElement[bool]:
    """SQL for "overdue": open past its due date, or implemented past its effectiveness check date."""
    return or_(and_(Capa.state == "open", Capa.due_on < today),
               and_(Capa.state == "implemented", Capa.effectiveness_due_on < today))


def _overdue(row: Capa, today: date) -> bool:
    if row.state == "open":
        return row.due_on < today
    if row.state == "implemented":
        return row.effectiveness_due_on is not None and row.effectiveness_due_on < today
    return False


def capa_views(session: Session, rows: Sequence[Capa], *, details: bool = False) -> list[CapaView]:
    """Views of ``rows`` without per-row queries; signatures and timeline only when ``details``."""
    today = site_today()
    views = []
    for row in rows:
        extra: dict[str, Any] = {}
        if details:
            signatures = tuple(signatures_for(session, row))
            extra["signatures"] = signatures
            extra["timeline"] = record_timeline(session, record_type="capa", record_id=row.id, signatures=signatures)
        views.append(CapaView(
            id=row.id, number=row.number, kind=row.kind, title=row.title, description=row.description,
            source_type=row.source_type, source_reference=row.source_reference, deviation_id=row.deviation_id,
            owner=row.owner, due_on=row.due_on, effectiveness_criteria=row.effectiveness_criteria,
            effectiveness_check_days=row.effectiveness_check_days, effectiveness_due_on=row.effectiveness_due_on,
            implementation_summary=row.implementation_summary, effectiveness_result=row.effectiveness_result,
            effective=row.effective, state=row.state, author=row.author, created_at=as_utc(row.created_at),
            implemented_at=as_utc(row.implemented_at) if row.implemented_at else None,
            closed_at=as_utc(row.closed_at) if row.closed_at else None, overdue=_overdue(row, today), **extra))
    return views


def capa_view(session: Session, row: Capa) -> CapaView:
    """The full view of one CAPA (with signatures and timeline)."""
    return capa_views(session, [row], details=True)[0]


def _detailed(capa_id: int) -> CapaView:
    # Read after the commit: the timeline comes from audit entries, which are written at commit.
    with read_session() as session:
        return capa_view(session, _load_capa(session, capa_id))


# ---------------------------------------------------------------- input checks


def _due_on(problems: list[FieldProblem], value: object) -> date | None:
    if isinstance(value, bool) or not isinstance(value, date):
        problems.append(FieldProblem("due_on", "A date."))
        return None
    if value < site_today():
        problems.append(FieldProblem("due_on", "A due date in the past."))
        return None
    return value


def _check_days(problems: list[FieldProblem], value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append(FieldProblem("effectiveness_check_days", "A whole number of days."))
        return None
    if not 0 <= value <= MAX_EFFECTIVENESS_DAYS:
        problems.append(FieldProblem("effectiveness_check_days", f"Between 0 and {MAX_EFFECTIVENESS_DAYS} days."))
        return None
    return value


def _owner(session: Session, username: str) -> DirectoryEntry:
    name = (username or "").strip() if isinstance(username, str) else ""
    user = auth.directory_entry(session, username=name) if name else None
    if user is None or not user.is_active:
        raise ValidationFailed.on("owner_username", f"No active user named {name!r}.")
    if not auth.holds_permission(session, user_id=user.id, permission="capas.perform"):
        raise ValidationFailed.on("owner_username", f"{user.username} does not hold the permission capas.perform.")
    return user


def _load_capa(session: Session, capa_id: int, *, lock: bool = False) -> Capa:
    row = session.get(Capa, capa_id, with_for_update=lock or None)
    if row is None:
        raise NotFound(f"No CAPA with id {capa_id}.")
    return row


def _require_state(row: Capa, states: Sequence[str], doing: str) -> None:
    if row.state not in states:
        message = f"{row.number} is {row.state}; {doing} only while it is {' or '.join(states)}."
        raise Conflict(message, [FieldProblem("capa_id", message)])


def _limit(limit: int) -> int:
    return max(1, min(int(limit), 500))


# ---------------------------------------------------------------- services


def create_capa(*, actor: Actor, kind: str, title: str, description: str = "", source_type: str,
                source_reference: str = "", deviation_id: int | None = None, owner_username: str, due_on: date,
                effectiveness_criteria: str, effectiveness_check_days: int | None = None) -> CapaView:
    """Plan a corrective or preventive action with its owner, due date and effectiveness criteria."""
    actor.require("capas.manage")
    problems: list[FieldProblem] = []
    if kind not in CAPA_KINDS:
        problems.append(FieldProblem("kind", f"Choose one of {', '.join(CAPA_KINDS)}."))
    title_text = _text(problems, "title", title, max_length=_TITLE_MAX)
    description_text = _text(problems, "description", description, max_length=_TEXT_MAX, required=False)
    if source_type not in CAPA_SOURCE_TYPES:
        problems.append(FieldProblem("source_type", f"Choose one of {', '.join(CAPA_SOURCE_TYPES)}."))
    reference = _text(problems, "source_reference", source_reference, max_length=60, required=False)
    if source_type == "deviation" and deviation_id is None:
        problems.append(FieldProblem("deviation_id", "Name the deviation this CAPA answers."))
    elif source_type != "deviation" and deviation_id is not None:
        problems.append(FieldProblem("deviation_id", "Only a CAPA from a deviation names a deviation."))
    if not isinstance(owner_username, str) or not owner_username.strip():
        problems.append(FieldProblem("owner_username", "Required."))
    due = _due_on(problems, due_on)
    # ICH Q10 3.2.2: how effectiveness will be judged is decided when the action is planned.
    criteria = _text(problems, "effectiveness_criteria", effectiveness_criteria, max_length=_TEXT_MAX)
    if effectiveness_check_days is None:
        from pharmos.site.service import setting_days

        effectiveness_check_days = min(setting_days("quality.capa_effectiveness_days", DEFAULT_EFFECTIVENESS_DAYS),
                                       MAX_EFFECTIVENESS_DAYS)
    check_days = _check_days(problems, effectiveness_check_days)
    _raise(problems)
    assert due is not None and check_days is not None
    with transaction(actor=actor, reason="CAPA created") as session:
        owner = _owner(session, owner_username)
        if deviation_id is not None:
            try:
                deviation = load_deviation(session, deviation_id, lock=True)
            except NotFound as missing:
                raise ValidationFailed.on("deviation_id", missing.message) from None
            if deviation.state not in DEVIATION_STATES_FOR_CAPA:
                raise ValidationFailed.on("deviation_id", f"{deviation.number} is {deviation.state}; CAPA are "
                                          f"created while it is {', '.join(DEVIATION_STATES_FOR_CAPA)}.")
            if reference and reference.upper() != deviation.number:
                raise ValidationFailed.on("source_reference", f"The source of a deviation CAPA is its number "
                                          f"({deviation.number}).")
            reference = deviation.number
        row = Capa(number=next_number(session, prefix="CAPA"), kind=kind, title=title_text,
                   description=description_text, source_type=source_type, source_reference=reference,
                   deviation_id=deviation_id, owner_id=owner.id, owner=owner.username, due_on=due,
                   effectiveness_criteria=criteria, effectiveness_check_days=check_days,
                   state=CAPA_LIFECYCLE.initial, author_id=actor.user_id, author=actor.username)
        session.add(row)
        session.flush()
        capa_id = row.id
    return _detailed(capa_id)


def update_capa(*, actor: Actor, capa_id: int, reason: str, title: str | None = None,
                description: str | None = None, owner_username: str | None = None, due_on: date | None = None,
                effectiveness_criteria: str | None = None) -> CapaView:
    """Change a CAPA's plan while it is open; only the fields given change, and the reason is recorded."""
    actor.require("capas.manage")
    problems: list[FieldProblem] = []
    # EU GMP Annex 11 §9: a change to GMP data records why it was made.
    why = reason.strip() if isinstance(reason, str) else ""
    if not why:
        problems.append(FieldProblem("reason", "A reason for the change is required."))
    changes: dict[str, Any] = {}
    if title is not None:
        changes["title"] = _text(problems, "title", title, max_length=_TITLE_MAX)
    if description is not None:
        changes["description"] = _text(problems, "description", description, max_length=_TEXT_MAX, required=False)
    if due_on is not None:
        changes["due_on"] = _due_on(problems, due_on)
    if effectiveness_criteria is not None:
        changes["effectiveness_criteria"] = _text(problems, "effectiveness_criteria", effectiveness_criteria,
                                                  max_length=_TEXT_MAX)
    if owner_username is not None and (not isinstance(owner_username, str) or not owner_username.strip()):
        problems.append(FieldProblem("owner_username", "Required."))
    _raise(problems)
    with transaction(actor=actor, reason=why) as session:
        row = _load_capa(session, capa_id, lock=True)
        _require_state(row, ("open",), "its plan is changed")
        if owner_username is not None:
            owner = _owner(session, owner_username)
            row.owner_id = owner.id
            row.owner = owner.username
        for name, value in changes.items():
            setattr(row, name, value)
        session.flush()
        capa_id = row.id
    return _detailed(capa_id)


def record_implementation(*, actor: Actor, capa_id: int, summary: str) -> CapaView:
    """The owner describes what was done; signing the ``implement`` transition then moves the state."""
    actor.require("capas.perform")
    problems: list[FieldProblem] = []
    text = _text(problems, "summary", summary, max_length=_TEXT_MAX)
    _raise(problems)
    with transaction(actor=actor, reason="CAPA implementation recorded") as session:
        row = _load_capa(session, capa_id, lock=True)
        _require_state(row, ("open",), "the implementation is recorded")
        if row.owner_id != actor.user_id:
            raise Conflict(f"Only the owner ({row.owner}) records the implementation of {row.number}.")
        row.implementation_summary = text
        session.flush()
        capa_id = row.id
    return _detailed(capa_id)


def record_effectiveness_check(*, actor: Actor, capa_id: int, result: str, effective: bool) -> CapaView:
    """Someone other than the owner records whether the action worked; QA then closes or reopens it."""
    actor.require("capas.verify")
    problems: list[FieldProblem] = []
    text = _text(problems, "result", result, max_length=_TEXT_MAX)
    if not isinstance(effective, bool):
        problems.append(FieldProblem("effective", "Yes or no."))
    _raise(problems)
    with transaction(actor=actor, reason="CAPA effectiveness check recorded") as session:
        row = _load_capa(session, capa_id, lock=True)
        _require_state(row, ("implemented",), "the effectiveness check is recorded")
        if actor.user_id is not None and row.owner_id == actor.user_id:
            # ICH Q10 3.2.2 / 21 CFR 211.192: effectiveness is judged independently of whoever implemented it.
            raise Conflict(f"The owner of {row.number} cannot judge its effectiveness.")
        row.effectiveness_result = text
        row.effective = effective
        session.flush()
        capa_id = row.id
    return _detailed(capa_id)


def get_capa(*, actor: Actor, capa_id: int | None = None, number: str | None = None) -> CapaView:
    actor.require("quality.view")
    with read_session() as session:
        if number is not None:
            row = session.scalar(select(Capa).where(Capa.number == number.strip().upper()))
            if row is None:
                raise NotFound(f"No CAPA {number}.")
        elif capa_id is not None:
            row = _load_capa(session, capa_id)
        else:
            raise ValidationFailed.on("capa_id", "Name the CAPA.")
        return capa_view(session, row)


def list_capas(*, actor: Actor, state: str | None = None, owner: str | None = None, overdue: bool | None = None,
               deviation_id: int | None = None, source_type: str | None = None, open_only: bool = False,
               awaiting_effectiveness: bool | None = None, after_id: int | None = None,
               limit: int = 50) -> list[CapaView]:
    """CAPA in id order (cursor ``after_id``); ``awaiting_effectiveness`` = implemented, check not yet closed."""
    actor.require("quality.view")
    if state is not None and state not in CAPA_LIFECYCLE.states:
        raise ValidationFailed.on("state", f"Choose one of {', '.join(CAPA_LIFECYCLE.states)}.")
    if source_type is not None and source_type not in CAPA_SOURCE_TYPES:
        raise ValidationFailed.on("source_type", f"Choose one of {', '.join(CAPA_SOURCE_TYPES)}.")
    with read_session() as session:
        stmt = select(Capa).order_by(Capa.id).limit(_limit(limit))
        if state:
            stmt = stmt.where(Capa.state == state)
        if owner:
            stmt = stmt.where(Capa.owner == owner.strip().lower())
        if deviation_id is not None:
            stmt = stmt.where(Capa.deviation_id == deviation_id)
        if source_type:
            stmt = stmt.where(Capa.source_type == source_type)
        if open_only:
            stmt = stmt.where(Capa.state.in_(OPEN_CAPA_STATES))
        late = capa_overdue_clause(site_today())
        if overdue is True:
            stmt = stmt.where(late)
        elif overdue is False:
            stmt = stmt.where(~late)
        if awaiting_effectiveness is True:
            stmt = stmt.where(Capa.state == "implemented")
        elif awaiting_effectiveness is False:
            stmt = stmt.where(Capa.state != "implemented")
        if after_id is not None:
            stmt = stmt.where(Capa.id > after_id)
        return capa_views(session, list(session.scalars(stmt)))
