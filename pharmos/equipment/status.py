"""Usability, use, cleaning, counters and the logbook.

The equipment row caches what the logbook says (clean or dirty and since when, which
batch holds it, the usage counter); every service here changes that cache and appends
the logbook entry explaining it in one transaction, so ``usability`` answers from one
primary-key read however long the logbook grows (EU GMP Part I 4.31 / 药品GMP 第八十六条).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmos.core.actor import Actor
from pharmos.core.clock import as_utc, utcnow
from pharmos.core.db import read_session, transaction
from pharmos.core.errors import Conflict, FieldProblem, NotFound, TransitionRefused, ValidationFailed
from pharmos.equipment.logbook import LOGBOOK_KINDS, assess_usability, write_entry
from pharmos.equipment.models import Equipment, EquipmentClass, LogbookEntry
from pharmos.equipment.register import equipment_view, load_class, load_equipment, parse_reading
from pharmos.equipment.views import EquipmentView, LogbookEntryView, UsabilityView

__all__ = [
    "REFERENCE_PATTERN",
    "add_logbook_note",
    "check_usability",
    "end_use",
    "list_logbook",
    "mark_dirty",
    "record_cleaning",
    "record_counter",
    "start_use",
    "usability",
]

# A batch number or an activity name (what the logbook records the equipment was used for).
REFERENCE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,59}$")
# The cache describes now: a question about the past is answered by the logbook, not here.
_PAST_GRACE = timedelta(minutes=5)


def _entry_view(row: LogbookEntry, number: str) -> LogbookEntryView:
    return LogbookEntryView(
        id=row.id, equipment_id=row.equipment_id, equipment_number=number, kind=row.kind, at=as_utc(row.at),
        reference=row.reference, description=row.description,
        valid_until=as_utc(row.valid_until) if row.valid_until else None,
        counter_value=Decimal(row.counter_value) if row.counter_value is not None else None,
        source_number=row.source_number, actor=row.actor)


def _reference(value: object, *, field: str = "reference") -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not REFERENCE_PATTERN.match(text):
        raise ValidationFailed.on(field, "Give the batch number or activity: 1–60 letters, digits, '.', '_', '/' "
                                         "or '-', starting with a letter or digit.")
    return text


def _text(field: str, value: object, *, required: bool, max_length: int = 2000) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if value is not None and not isinstance(value, str):
        raise ValidationFailed.on(field, "Must be text.")
    if required and not text:
        raise ValidationFailed.on(field, "Required.")
    if len(text) > max_length:
        raise ValidationFailed.on(field, f"At most {max_length} characters.")
    return text


def _counter_value(value: object, current: Decimal) -> Decimal:
    problems: list[FieldProblem] = []
    reading = parse_reading("value", value, problems)
    if problems:
        raise ValidationFailed(problems[0].message, problems)
    if reading is None:
        raise ValidationFailed.on("value", "Give the counter reading.")
    if reading < 0:
        raise ValidationFailed.on("value", "The counter reading cannot be negative.")
    if reading < current:
        # A counter only goes up; a lower reading is a misreading or a replaced meter (a note, not a reading).
        raise ValidationFailed.on("value", f"The reading is lower than the last reading {current.normalize():f}.")
    return reading


def _locked_with_class(session: Session, *, equipment_id: int | None = None,
                       number: str | None = None) -> tuple[Equipment, EquipmentClass]:
    row = load_equipment(session, equipment_id=equipment_id, number=number, lock=True)
    return row, load_class(session, row.class_id)


def _refuse_retired(row: Equipment) -> None:
    if row.state == "retired":
        raise Conflict(f"{row.number} is retired; its logbook is closed.")


# ---------------------------------------------------------------- usability


def usability(*, equipment_id: int | None = None, number: str | None = None, at: datetime | None = None,
              for_reference: str | None = None) -> UsabilityView:
    """May the equipment be used at ``at`` (now or a planned time) for ``for_reference``?

    A domain query for other modules (batch execution asks it before every step), like
    ``materials.lot_use_problems``: no actor, one primary-key read of the equipment with its class.
    """
    now = utcnow()
    when = now if at is None else at
    if not isinstance(when, datetime) or when.tzinfo is None:
        raise ValidationFailed.on("at", "Give a time with its time zone.")
    if as_utc(when) < now - _PAST_GRACE:
        raise ValidationFailed.on("at", "usability is answered for now or a planned time; read the logbook for "
                                        "the past")
    if equipment_id is None and not (number or "").strip():
        raise ValidationFailed.on("equipment_id", "Give the equipment id or number.")
    with read_session() as session:
        stmt = select(Equipment, EquipmentClass).join(EquipmentClass, EquipmentClass.id == Equipment.class_id)
        if equipment_id is not None:
            stmt = stmt.where(Equipment.id == equipment_id)
        else:
            stmt = stmt.where(Equipment.number == (number or "").strip().upper())
        found = session.execute(stmt).first()
        if found is None:
            raise NotFound(f"No equipment {equipment_id if equipment_id is not None else number}.")
        row, cls = found
        return assess_usability(row, cls, at=when, for_reference=(for_reference or "").strip() or None)


def check_usability(*, actor: Actor, equipment_id: int, at: datetime | None = None,
                    for_reference: str | None = None) -> UsabilityView:
    actor.require("equipment.view")
    return usability(equipment_id=equipment_id, at=at, for_reference=for_reference)


# ---------------------------------------------------------------- use


def start_use(*, actor: Actor, equipment_id: int | None = None, number: str | None = None, reference: str,
              activity: str = "") -> EquipmentView:
    """Start using the equipment for a batch or activity; refused unless usable for it (EU GMP Part I 3.44)."""
    actor.require("equipment.use")
    ref = _reference(reference)
    what = _text("activity", activity, required=False, max_length=500)
    with transaction(actor=actor, reason=f"Use started for {ref}") as session:
        row, cls = _locked_with_class(session, equipment_id=equipment_id, number=number)
        if row.in_use_by == ref:
            raise Conflict(f"{row.number} is already in use by {ref}.", [FieldProblem("reference", "Already in use.")])
        now = utcnow()
        assessed = assess_usability(row, cls, at=now, for_reference=ref)
        if not assessed.usable:
            # Every reason at once, each on the field that named the equipment, so the form shows them all.
            field = "number" if equipment_id is None else "equipment_id"
            raise TransitionRefused(f"{row.number} may not be used: "
                                    + "; ".join(r.message_en for r in assessed.reasons),
                                    [FieldProblem(field, r.message_en) for r in assessed.reasons])
        row.in_use_by, row.in_use_since = ref, now
        write_entry(session, equipment=row, kind="use_started", actor=actor, at=now, reference=ref, description=what)
        session.flush()
        return equipment_view(session, row, equipment_class=cls)


def end_use(*, actor: Actor, equipment_id: int, reference: str, counter_value: Decimal | str | int | None = None,
            note: str = "") -> EquipmentView:
    """End the use by ``reference``; the equipment is dirty from now on where cleaning is tracked."""
    actor.require("equipment.use")
    ref = (reference or "").strip() if isinstance(reference, str) else ""
    text = _text("note", note, required=False)
    with transaction(actor=actor, reason=f"Use ended for {ref}") as session:
        row, cls = _locked_with_class(session, equipment_id=equipment_id)
        if row.in_use_by is None:
            raise Conflict(f"{row.number} is not in use.", [FieldProblem("reference", "Not in use.")])
        if row.in_use_by != ref:
            raise Conflict(f"{row.number} is in use by {row.in_use_by}, not {ref or '(none)'}.",
                           [FieldProblem("reference", f"In use by {row.in_use_by}.")])
        reading = None
        if counter_value is not None and not (isinstance(counter_value, str) and not counter_value.strip()):
            try:
                reading = _counter_value(counter_value, Decimal(row.usage_counter))
            except ValidationFailed as exc:
                raise ValidationFailed(exc.message, [FieldProblem("counter_value", p.message)
                                                     for p in exc.fields]) from None
        now = utcnow()
        row.in_use_by, row.in_use_since = None, None
        if row.clean_status != "not_tracked":
            # EU GMP Part I 5.19: used equipment is dirty until cleaned; the dirty hold counts from now.
            if row.clean_status != "dirty" or row.dirty_since is None:
                row.dirty_since = now
            row.clean_status, row.clean_expires_at = "dirty", None
        write_entry(session, equipment=row, kind="use_ended", actor=actor, at=now, reference=ref, description=text)
        if reading is not None:
            row.usage_counter = reading
            write_entry(session, equipment=row, kind="counter", actor=actor, at=now, reference=ref,
                        counter_value=reading, description=text)
        session.flush()
        return equipment_view(session, row, equipment_class=cls)


# ---------------------------------------------------------------- cleaning


def record_cleaning(*, actor: Actor, equipment_id: int, procedure: str, reference: str = "",
                    note: str = "") -> EquipmentView:
    """Record a cleaning: clean until now + the class's clean hold time (EU GMP Part I 5.19-5.20)."""
    actor.require("equipment.use")
    proc = _text("procedure", procedure, required=True, max_length=200)
    ref = _reference(reference) if (reference or "").strip() else ""
    text = _text("note", note, required=False)
    with transaction(actor=actor, reason="Cleaning recorded") as session:
        row, cls = _locked_with_class(session, equipment_id=equipment_id)
        _refuse_retired(row)
        if cls.clean_hold_hours is None or row.clean_status == "not_tracked":
            raise Conflict(f"Cleaning status is not tracked for {row.number} (class {cls.code}).")
        if row.in_use_by is not None:
            raise Conflict(f"{row.number} is in use by {row.in_use_by}; end that use before cleaning.")
        now = utcnow()
        if (row.clean_status == "dirty" and row.dirty_since is not None and cls.dirty_hold_hours is not None
                and as_utc(row.dirty_since) + timedelta(hours=cls.dirty_hold_hours) < now and not text):
            # The validated cleaning covers the dirty hold time only; beyond it the extended procedure applies.
            raise ValidationFailed.on("note", f"The dirty hold time of {cls.dirty_hold_hours} h was exceeded; "
                                              "note how the extended cleaning was done.")
        valid_until = now + timedelta(hours=cls.clean_hold_hours)
        row.clean_status, row.clean_expires_at, row.dirty_since = "clean", valid_until, None
        write_entry(session, equipment=row, kind="cleaned", actor=actor, at=now, reference=ref,
                    description=proc + (f": {text}" if text else ""), valid_until=valid_until)
        session.flush()
        return equipment_view(session, row, equipment_class=cls)


def mark_dirty(*, actor: Actor, equipment_id: int, reason: str) -> EquipmentView:
    """Mark the equipment dirty outside a use (a spill, an opened seal)."""
    actor.require("equipment.use")
    why = _text("reason", reason, required=True)
    with transaction(actor=actor, reason=why) as session:
        row, cls = _locked_with_class(session, equipment_id=equipment_id)
        _refuse_retired(row)
        if cls.clean_hold_hours is None or row.clean_status == "not_tracked":
            raise Conflict(f"Cleaning status is not tracked for {row.number} (class {cls.code}).")
        now = utcnow()
        if row.clean_status != "dirty" or row.dirty_since is None:
            row.dirty_since = now
        row.clean_status, row.clean_expires_at = "dirty", None
        write_entry(session, equipment=row, kind="marked_dirty", actor=actor, at=now, description=why)
        session.flush()
        return equipment_view(session, row, equipment_class=cls)


# ---------------------------------------------------------------- counters


def record_counter(*, actor: Actor, equipment_id: int, value: Decimal | str | int, note: str = "") -> EquipmentView:
    """Record a usage counter reading (operating hours, cycles) for usage-based maintenance."""
    actor.require("equipment.use")
    text = _text("note", note, required=False)
    with transaction(actor=actor, reason="Counter reading recorded") as session:
        row, cls = _locked_with_class(session, equipment_id=equipment_id)
        _refuse_retired(row)
        reading = _counter_value(value, Decimal(row.usage_counter))
        row.usage_counter = reading
        write_entry(session, equipment=row, kind="counter", actor=actor, counter_value=reading, description=text)
        session.flush()
        return equipment_view(session, row, equipment_class=cls)


# ---------------------------------------------------------------- logbook


def list_logbook(*, actor: Actor, equipment_id: int, kind: str | None = None, since: datetime | None = None,
                 until: datetime | None = None, after_id: int | None = None, limit: int = 100,
                 newest_first: bool = False) -> list[LogbookEntryView]:
    """The equipment's logbook, ascending by id with the ``after_id`` cursor (or newest first, no cursor)."""
    actor.require("equipment.view")
    if kind is not None and kind not in LOGBOOK_KINDS:
        raise ValidationFailed.on("kind", f"Choose one of {', '.join(LOGBOOK_KINDS)}.")
    for name, value in (("since", since), ("until", until)):
        if value is not None and (not isinstance(value, datetime) or value.tzinfo is None):
            raise ValidationFailed.on(name, "Give a time with its time zone.")
    with read_session() as session:
        row = load_equipment(session, equipment_id=equipment_id)
        stmt = select(LogbookEntry).where(LogbookEntry.equipment_id == row.id)
        if kind:
            stmt = stmt.where(LogbookEntry.kind == kind)
        if since is not None:
            stmt = stmt.where(LogbookEntry.at >= since)
        if until is not None:
            stmt = stmt.where(LogbookEntry.at <= until)
        if newest_first:
            stmt = stmt.order_by(LogbookEntry.id.desc())
        else:
            if after_id is not None:
                stmt = stmt.where(LogbookEntry.id > after_id)
            stmt = stmt.order_by(LogbookEntry.id)
        stmt = stmt.limit(max(1, min(limit, 1000)))
        return [_entry_view(e, row.number) for e in session.scalars(stmt)]


def add_logbook_note(*, actor: Actor, equipment_id: int, text: str) -> LogbookEntryView:
    actor.require("equipment.use")
    body = _text("text", text, required=True, max_length=5000)
    with transaction(actor=actor, reason="Logbook note added") as session:
        row = load_equipment(session, equipment_id=equipment_id, lock=True)
        entry = write_entry(session, equipment=row, kind="note", actor=actor, description=body)
        session.flush()
        return _entry_view(entry, row.number)
