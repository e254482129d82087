"""The daily equipment due-date scan (run by the worker or ``pharmos equipment daily-scan``).

Calibration and requalification dates drive whether equipment may be used (药品GMP 第九十二条;
EU GMP Annex 15 §4.1), so the people who book the calibration lab or the validation team
are reminded ahead of the date, once per equipment, kind and due date. The scan reads the
cached due dates on ``equipment`` with a few set-based statements, so its cost does not grow
with the calibration history (thousands of instruments, tens of thousands of records).
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Date, String, and_, cast, exists, func, literal, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session
from sqlalchemy.sql import Insert

from pharmos.compliance.audit import record_event
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today
from pharmos.core.db import transaction
from pharmos.core.errors import ValidationFailed
from pharmos.equipment.maintenance import generate_due_work_orders
from pharmos.equipment.models import Equipment, EquipmentReminder
from pharmos.equipment.rounds import flag_missed_rounds, schedule_rounds
from pharmos.equipment.views import DueScanResult
from pharmos.site.service import setting_days

__all__ = [
    "DEFAULT_CALIBRATION_REMINDER_DAYS",
    "DEFAULT_REQUALIFICATION_REMINDER_DAYS",
    "run_daily_equipment_scan",
]

DEFAULT_CALIBRATION_REMINDER_DAYS = 30
DEFAULT_REQUALIFICATION_REMINDER_DAYS = 60
# Retired equipment is kept for its records only; everything else may come back into use.
_WATCHED_STATES = ("commissioning", "in_service", "out_of_service")
_SCAN_RECORD_TYPE = "equipment_daily_scan"


def _reminder_insert(session: Session, *, kind: str, due: Any, condition: Any, message: Any, run_on: date) -> Insert:
    """INSERT … SELECT of one reminder per matching equipment that has none for this kind and due date."""
    already = exists().where(EquipmentReminder.equipment_id == Equipment.id, EquipmentReminder.kind == kind,
                             EquipmentReminder.due_on == due)
    rows = select(Equipment.id, literal(kind, String), due, literal(run_on, Date), message).where(
        Equipment.state.in_(_WATCHED_STATES), condition, ~already)
    columns = ["equipment_id", "kind", "due_on", "raised_on", "message"]
    stmt: Insert
    if session.get_bind().dialect.name == "postgresql":
        # A second scan running at the same moment raises nothing twice (unique equipment, kind, due date).
        stmt = pg_insert(EquipmentReminder).from_select(columns, rows).on_conflict_do_nothing(
            constraint="uq_equipment_reminder_once")
    else:
        from sqlalchemy import insert

        stmt = insert(EquipmentReminder).from_select(columns, rows)
    return stmt.returning(EquipmentReminder.id, EquipmentReminder.equipment_id, EquipmentReminder.kind,
                          EquipmentReminder.due_on, EquipmentReminder.message)


def _raise_reminders(session: Session, *, run_on: date, calibration_days: int, requalification_days: int) -> int:
    def text(prefix: str, column: Any) -> Any:
        return literal(prefix, String) + Equipment.number + literal(" ", String) + cast(column, String)

    calibration_horizon = run_on + timedelta(days=calibration_days)
    requalification_horizon = run_on + timedelta(days=requalification_days)
    plans = [
        ("calibration_due", Equipment.calibration_due_on,
         and_(Equipment.calibration_required.is_(True), Equipment.calibration_due_on >= run_on,
              Equipment.calibration_due_on <= calibration_horizon),
         text("Calibration due: ", Equipment.calibration_due_on)),
        ("calibration_overdue", Equipment.calibration_due_on,
         and_(Equipment.calibration_required.is_(True), Equipment.calibration_due_on < run_on),
         text("Calibration overdue: ", Equipment.calibration_due_on)),
        ("requalification_due", Equipment.requalification_due_on,
         Equipment.requalification_due_on <= requalification_horizon,
         text("Requalification due: ", Equipment.requalification_due_on)),
    ]
    raised = 0
    for kind, due, condition, message in plans:
        inserted = list(session.execute(_reminder_insert(session, kind=kind, due=due, condition=condition,
                                                         message=message, run_on=run_on)))
        for row in inserted:
            # 21 CFR 11.10(e): rows written set-based are audited like ORM rows, field by field.
            record_event(session, record_type=EquipmentReminder.__audit_type__, record_id=row.id, action="create",
                         details={"equipment_id": [None, row.equipment_id], "kind": [None, row.kind],
                                  "due_on": [None, row.due_on.isoformat() if row.due_on else None],
                                  "raised_on": [None, run_on.isoformat()], "message": [None, row.message]})
        raised += len(inserted)
    return raised


def _overdue_counts(session: Session, run_on: date) -> tuple[int, int]:
    watched = Equipment.state.in_(_WATCHED_STATES)
    calibrations = session.scalar(select(func.count(Equipment.id)).where(
        watched, Equipment.calibration_required.is_(True), Equipment.calibration_due_on < run_on)) or 0
    requalifications = session.scalar(select(func.count(Equipment.id)).where(
        watched, Equipment.requalification_due_on < run_on)) or 0
    return int(calibrations), int(requalifications)


def run_daily_equipment_scan(*, actor: Actor, today: date | None = None) -> DueScanResult:
    """Raise due-date reminders, generate due PM work orders, schedule today's and tomorrow's rounds,
    flag missed rounds. Idempotent: a second run the same day raises and generates nothing new."""
    actor.require("workorders.manage")
    if today is not None and not isinstance(today, date):
        raise ValidationFailed.on("today", "A date is required.")
    started = time.perf_counter()
    run_on = today or site_today()
    # Read before the write transaction: the settings have their own session.
    calibration_days = setting_days("equipment.calibration_reminder_days", DEFAULT_CALIBRATION_REMINDER_DAYS)
    requalification_days = setting_days("equipment.requalification_reminder_days",
                                        DEFAULT_REQUALIFICATION_REMINDER_DAYS)
    with transaction(actor=actor, reason="Daily equipment due-date scan") as session:
        raised = _raise_reminders(session, run_on=run_on, calibration_days=calibration_days,
                                  requalification_days=requalification_days)
        calibrations_overdue, requalifications_overdue = _overdue_counts(session, run_on)

    work_orders = generate_due_work_orders(actor=actor, today=run_on)
    scheduled = schedule_rounds(actor=actor, on=run_on) + schedule_rounds(actor=actor, on=run_on + timedelta(days=1))
    missed = flag_missed_rounds(actor=actor)
    seconds = time.perf_counter() - started
    with transaction(actor=actor, reason="Daily equipment due-date scan") as session:
        record_event(session, record_type=_SCAN_RECORD_TYPE, record_id=run_on.isoformat(), action="daily_scan",
                     details={"run_on": run_on.isoformat(), "calibration_reminder_days": calibration_days,
                              "requalification_reminder_days": requalification_days, "reminders_raised": raised,
                              "work_orders": list(work_orders), "rounds_scheduled": scheduled,
                              "rounds_missed": missed, "calibrations_overdue": calibrations_overdue,
                              "requalifications_overdue": requalifications_overdue})
    return DueScanResult(run_on=run_on, reminders_raised=raised, work_orders_generated=tuple(work_orders),
                         rounds_scheduled=scheduled, rounds_missed=tuple(missed),
                         calibrations_overdue=calibrations_overdue,
                         requalifications_overdue=requalifications_overdue, seconds=seconds)
