"""Maintenance and metrology KPIs, the downtime report and the reminders the daily scan raised.

Definitions (docs/equipment/service-api.md, reports.py):

- PM compliance: preventive work orders due in the period (cancelled ones left out) completed on
  or before their due date (site calendar) ÷ those due in the period.
- MTTR: mean of (repaired_at − reported_at) over faults repaired in the period.
- Downtime: Σ over equipment-stopping faults of ((repaired_at or now) − reported_at), clipped to the
  period.
- MTBF: in-service hours in the period over the equipment with at least one stopping fault reported
  in it ÷ those stopping faults. In-service hours are the period (from the equipment's registration
  when later, up to now when the period runs on) less that equipment's downtime in the period.

Rejected fault reports (not a fault, or a duplicate) count nowhere.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from pharmos.core.actor import Actor
from pharmos.core.clock import as_utc, site_date, site_today, utcnow
from pharmos.core.config import get_settings
from pharmos.core.db import read_session
from pharmos.core.errors import FieldProblem, ValidationFailed
from pharmos.equipment.models import (
    Equipment,
    EquipmentReminder,
    Fault,
    InspectionRound,
    SparePart,
    WorkOrder,
)
from pharmos.equipment.views import DowntimeRow, EquipmentKpis, ReminderView

__all__ = ["DEFAULT_PERIOD_DAYS", "REMINDER_KINDS", "downtime_report", "equipment_kpis", "list_reminders"]

DEFAULT_PERIOD_DAYS = 90
MAX_PERIOD_DAYS = 3660
REMINDER_KINDS = ("calibration_due", "calibration_overdue", "requalification_due", "pm_due", "clean_hold_expiring")
# Instruments whose calibration is watched: every one not retired (as the daily scan counts them).
_WATCHED_STATES = ("commissioning", "in_service", "out_of_service")
_HOUR = 3600.0


@dataclass(frozen=True)
class _Period:
    start: date
    end: date
    start_at: datetime  # site midnight at the start, in UTC
    end_at: datetime  # site midnight after the end, in UTC
    now: datetime

    @property
    def until(self) -> datetime:
        """The end of the period, or now while the period is still running."""
        return min(self.end_at, self.now)


def _period(start: date | None, end: date | None) -> _Period:
    problems: list[FieldProblem] = []
    if start is not None and not isinstance(start, date):
        problems.append(FieldProblem("start", "A date."))
    if end is not None and not isinstance(end, date):
        problems.append(FieldProblem("end", "A date."))
    if problems:
        raise ValidationFailed("The period is not valid.", problems)
    end = end or site_today()
    start = start or end - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    if start > end:
        raise ValidationFailed.on("start", "The period starts after it ends.")
    if (end - start).days >= MAX_PERIOD_DAYS:
        raise ValidationFailed.on("start", f"At most {MAX_PERIOD_DAYS} days.")
    zone = ZoneInfo(get_settings().site_timezone)
    return _Period(start, end, datetime.combine(start, time(0), tzinfo=zone).astimezone(UTC),
                   datetime.combine(end + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC), utcnow())


def _hours(delta: timedelta) -> float:
    return delta.total_seconds() / _HOUR


def _clipped_downtime(fault: Fault, period: _Period) -> timedelta:
    down_from = max(as_utc(fault.reported_at), period.start_at)
    down_until = min(as_utc(fault.repaired_at) if fault.repaired_at is not None else period.now, period.until)
    return max(down_until - down_from, timedelta(0))


def _faults(session: Session, period: _Period) -> list[Fault]:
    """Faults that matter to the period: reported or repaired in it, or stopping equipment during it."""
    return list(session.scalars(select(Fault).where(
        Fault.state != "rejected",
        or_(and_(Fault.reported_at >= period.start_at, Fault.reported_at < period.end_at),
            and_(Fault.repaired_at >= period.start_at, Fault.repaired_at < period.end_at),
            and_(Fault.stops_equipment.is_(True), Fault.reported_at < period.end_at,
                 or_(Fault.repaired_at.is_(None), Fault.repaired_at > period.start_at))),
    ).order_by(Fault.id)))


@dataclass
class _Figures:
    """Fault figures of one equipment (or of all, summed) in a period."""

    faults: int = 0
    stopping: int = 0
    repairs: int = 0
    repair_hours: float = 0.0
    downtime_hours: float = 0.0
    operating_hours: float = 0.0

    @property
    def mttr(self) -> float | None:
        return self.repair_hours / self.repairs if self.repairs else None

    @property
    def mtbf(self) -> float | None:
        return self.operating_hours / self.stopping if self.stopping else None


def _reported_in(fault: Fault, period: _Period) -> bool:
    return period.start_at <= as_utc(fault.reported_at) < period.end_at


def _figures_by_equipment(faults: Iterable[Fault], period: _Period,
                          registered: dict[int, datetime]) -> dict[int, _Figures]:
    figures: dict[int, _Figures] = defaultdict(_Figures)
    for fault in faults:
        row = figures[fault.equipment_id]
        if _reported_in(fault, period):
            row.faults += 1
            if fault.stops_equipment:
                row.stopping += 1
        if fault.repaired_at is not None and period.start_at <= as_utc(fault.repaired_at) < period.end_at:
            row.repairs += 1
            row.repair_hours += _hours(as_utc(fault.repaired_at) - as_utc(fault.reported_at))
        if fault.stops_equipment:
            row.downtime_hours += _hours(_clipped_downtime(fault, period))
    for equipment_id, row in figures.items():
        if row.stopping:
            since = max(period.start_at, registered.get(equipment_id, period.start_at))
            row.operating_hours = max(_hours(period.until - since) - row.downtime_hours, 0.0)
    return figures


def _registered(session: Session, equipment_ids: Iterable[int]) -> dict[int, datetime]:
    ids = set(equipment_ids)
    if not ids:
        return {}
    return {e_id: as_utc(at) for e_id, at in session.execute(
        select(Equipment.id, Equipment.created_at).where(Equipment.id.in_(ids))).all()}


def _pct(part: int, whole: int) -> float | None:
    return part * 100.0 / whole if whole else None


def equipment_kpis(*, actor: Actor, start: date | None = None, end: date | None = None) -> EquipmentKpis:
    """KPIs of the period [start, end] (site dates; default the last 90 days up to today)."""
    actor.require("equipment.view")
    period = _period(start, end)
    today = site_today()
    with read_session() as session:
        due_orders = session.execute(select(WorkOrder.due_on, WorkOrder.completed_at).where(
            WorkOrder.kind == "preventive", WorkOrder.state != "cancelled",
            WorkOrder.due_on >= period.start, WorkOrder.due_on <= period.end)).all()
        on_time = len([1 for due_on, completed_at in due_orders
                       if completed_at is not None and due_on is not None and site_date(completed_at) <= due_on])

        watched = and_(Equipment.calibration_required.is_(True), Equipment.state.in_(_WATCHED_STATES))
        instruments = session.scalar(select(func.count(Equipment.id)).where(watched)) or 0
        overdue = session.scalar(select(func.count(Equipment.id)).where(
            watched, Equipment.calibration_due_on < today)) or 0
        due_30d = session.scalar(select(func.count(Equipment.id)).where(
            watched, Equipment.calibration_due_on >= today,
            Equipment.calibration_due_on <= today + timedelta(days=30))) or 0
        in_calibration = session.scalar(select(func.count(Equipment.id)).where(
            watched, Equipment.calibration_status == "in_tolerance", Equipment.calibration_due_on >= today)) or 0

        faults = _faults(session, period)
        figures = _figures_by_equipment(faults, period, _registered(session, {f.equipment_id for f in faults}))
        repairs = sum(r.repairs for r in figures.values())
        stopping = sum(r.stopping for r in figures.values())

        open_orders = session.scalar(select(func.count(WorkOrder.id)).where(
            WorkOrder.state.in_(("planned", "in_progress", "completed")))) or 0
        late_orders = session.scalar(select(func.count(WorkOrder.id)).where(
            WorkOrder.state.in_(("planned", "in_progress")), WorkOrder.due_on < today)) or 0
        low_stock = session.scalar(select(func.count(SparePart.id)).where(
            SparePart.active.is_(True), SparePart.on_hand <= SparePart.reorder_point)) or 0
        missed = session.scalar(select(func.count(InspectionRound.id)).where(
            InspectionRound.state == "missed", InspectionRound.scheduled_at >= period.start_at,
            InspectionRound.scheduled_at < period.end_at)) or 0

    return EquipmentKpis(
        period_start=period.start, period_end=period.end, pm_due=len(due_orders), pm_on_time=on_time,
        pm_compliance_pct=_pct(on_time, len(due_orders)), calibrations_overdue=overdue,
        calibrations_due_30d=due_30d, calibration_compliance_pct=_pct(in_calibration, instruments),
        faults_repaired=repairs,
        mttr_hours=sum(r.repair_hours for r in figures.values()) / repairs if repairs else None,
        mtbf_hours=sum(r.operating_hours for r in figures.values()) / stopping if stopping else None,
        downtime_hours=sum(r.downtime_hours for r in figures.values()), open_work_orders=open_orders,
        overdue_work_orders=late_orders, low_stock_parts=low_stock, missed_rounds=missed)


def downtime_report(*, actor: Actor, start: date | None = None, end: date | None = None) -> list[DowntimeRow]:
    """One row per equipment with faults in the period, most downtime first."""
    actor.require("equipment.view")
    period = _period(start, end)
    with read_session() as session:
        faults = _faults(session, period)
        if not faults:
            return []
        ids = {f.equipment_id for f in faults}
        names = {e_id: (number, name, as_utc(created)) for e_id, number, name, created in session.execute(
            select(Equipment.id, Equipment.number, Equipment.name_zh, Equipment.created_at)
            .where(Equipment.id.in_(ids))).all()}
        figures = _figures_by_equipment(faults, period, {e_id: v[2] for e_id, v in names.items()})
    rows = [DowntimeRow(equipment_id=e_id, equipment_number=names[e_id][0], equipment_name=names[e_id][1],
                        faults=r.faults, stopping_faults=r.stopping, downtime_hours=r.downtime_hours,
                        mttr_hours=r.mttr, mtbf_hours=r.mtbf)
            for e_id, r in figures.items() if r.faults or r.downtime_hours > 0 or r.repairs]
    return sorted(rows, key=lambda r: (-r.downtime_hours, r.equipment_number))


def list_reminders(*, actor: Actor, since: date | None = None, kind: str | None = None,
                   limit: int = 200) -> list[ReminderView]:
    """Reminders raised by the daily scan, newest first."""
    actor.require("equipment.view")
    if kind is not None and kind not in REMINDER_KINDS:
        raise ValidationFailed.on("kind", f"Choose one of {', '.join(REMINDER_KINDS)}.")
    if since is not None and not isinstance(since, date):
        raise ValidationFailed.on("since", "A date.")
    with read_session() as session:
        stmt = (select(EquipmentReminder, Equipment.number)
                .join(Equipment, Equipment.id == EquipmentReminder.equipment_id)
                .order_by(EquipmentReminder.raised_on.desc(), EquipmentReminder.id.desc())
                .limit(max(1, min(int(limit), 1000))))
        if since is not None:
            stmt = stmt.where(EquipmentReminder.raised_on >= since)
        if kind:
            stmt = stmt.where(EquipmentReminder.kind == kind)
        return [ReminderView(r.id, r.equipment_id, number, r.kind, r.due_on, r.raised_on, r.message)
                for r, number in session.execute(stmt).all()]
