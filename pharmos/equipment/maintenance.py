"""Preventive maintenance plans, work orders and fault reports (corrective maintenance).

A plan (calendar or usage-counter interval) generates one planned work order when it is
due; the work order carries the plan's checklist, the technician completes it with a
"performed" signature once every mandatory item is done, and the equipment owner closes it
with an "approved" signature (EU GMP Part I 3.34 / 药品GMP 第八十条: maintenance is planned,
carried out and recorded). A fault report may stop the equipment at once; its repair is
verified by someone other than the repairer before it is closed.

State changes of work orders and faults go through ``apply_transition`` (collections
``work-orders`` and ``faults``); the services here set the fields those transitions check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session, defer

from pharmos.auth import service as auth
from pharmos.auth.service import DirectoryEntry
from pharmos.compliance.signatures import signatures_for
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today, utcnow
from pharmos.core.db import read_session, transaction
from pharmos.core.errors import Conflict, FieldProblem, NotFound, ValidationFailed, required_reason
from pharmos.core.errors import collect_text as _text
from pharmos.core.errors import raise_problems as _raise
from pharmos.core.numbering import next_number, next_numbers
from pharmos.equipment.lifecycle import FAULT_LIFECYCLE, WORK_ORDER_LIFECYCLE
from pharmos.equipment.logbook import write_entry
from pharmos.equipment.models import (
    Attachment,
    Equipment,
    Fault,
    MaintenancePlan,
    MaintenancePlanTask,
    SparePart,
    SparePartMovement,
    WorkOrder,
    WorkOrderLabour,
    WorkOrderTask,
)
from pharmos.equipment.register import attachment_problems, attachment_view, load_equipment, store_attachment
from pharmos.equipment.views import (
    FaultView,
    LabourView,
    MaintenancePlanView,
    PartUseView,
    PlanTaskView,
    WorkOrderTaskView,
    WorkOrderView,
)

__all__ = [
    "FAULT_SEVERITIES",
    "OPEN_WORK_ORDER_STATES",
    "PLAN_BASES",
    "WORK_ORDER_KINDS",
    "PlanTaskInput",
    "assign_fault",
    "assign_work_order",
    "create_maintenance_plan",
    "create_work_order",
    "describe_repair",
    "generate_due_work_orders",
    "get_fault",
    "get_maintenance_plan",
    "get_work_order",
    "list_faults",
    "list_maintenance_plans",
    "list_work_orders",
    "log_labour",
    "record_findings",
    "record_task_result",
    "report_fault",
    "triage_fault",
    "update_maintenance_plan",
]

PLAN_BASES = ("calendar", "usage")
WORK_ORDER_KINDS = ("preventive", "corrective")
FAULT_SEVERITIES = ("minor", "major", "critical")
# A plan with a work order in one of these states is not due again until that order is closed or cancelled.
OPEN_WORK_ORDER_STATES = ("planned", "in_progress", "completed")
OPEN_FAULT_STATES = ("reported", "triaged", "assigned", "repaired", "verified")
_READING = Decimal("0.000001")

_WO_PATTERN = "{prefix}-{date:%y%m}-{seq:04d}"


@dataclass(frozen=True)
class PlanTaskInput:
    """One checklist item of a plan or work order; mandatory items block completion until done."""

    text: str
    mandatory: bool = True


# ---------------------------------------------------------------- input checks


def _positive_int(problems: list[FieldProblem], field: str, value: object, *, zero_ok: bool = False) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append(FieldProblem(field, "A whole number of days."))
        return None
    if value < 0 or (value == 0 and not zero_ok):
        problems.append(FieldProblem(field, "Must be zero or more." if zero_ok else "Must be greater than zero."))
        return None
    return value


def _positive_decimal(problems: list[FieldProblem], field: str, value: object,
                      maximum: Decimal | None = None) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, Decimal | str | int | float):
        problems.append(FieldProblem(field, "Must be a number."))
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        problems.append(FieldProblem(field, f"{value!r} is not a number."))
        return None
    if not number.is_finite():
        problems.append(FieldProblem(field, "Must be a finite number."))
        return None
    if number <= 0:
        problems.append(FieldProblem(field, "Must be greater than zero."))
        return None
    if maximum is not None and number > maximum:
        problems.append(FieldProblem(field, f"At most {maximum}."))
        return None
    if number != number.quantize(_READING):
        problems.append(FieldProblem(field, "At most 6 decimal places."))
        return None
    return number


def _tasks(problems: list[FieldProblem], tasks: Sequence[PlanTaskInput] | None, *,
           required: bool) -> list[PlanTaskInput]:
    items = list(tasks or [])
    if required and not items:
        problems.append(FieldProblem("tasks", "List at least one checklist item."))
    out = []
    for i, task in enumerate(items):
        if not isinstance(task, PlanTaskInput):
            problems.append(FieldProblem(f"tasks[{i}]", "A checklist item (text, mandatory)."))
            continue
        text = _text(problems, f"tasks[{i}].text", task.text, max_length=500)
        out.append(PlanTaskInput(text, bool(task.mandatory)))
    return out


def _active_user_holding(session: Session, username: str, permission: str, *, field: str) -> DirectoryEntry:
    """The active user ``username`` holding ``permission``, or a ValidationFailed naming ``field``."""
    name = (username or "").strip()
    user = auth.directory_entry(session, username=name) if name else None
    if user is None or not user.is_active:
        raise ValidationFailed.on(field, f"No active user named {name!r}.")
    if not auth.holds_permission(session, user_id=user.id, permission=permission):
        raise ValidationFailed.on(field, f"{name} does not hold the permission {permission}.")
    return user


def _equipment_in_use(session: Session, *, equipment_id: int | None = None, number: str | None = None,
                      lock: bool = False) -> Equipment:
    equipment: Equipment = load_equipment(session, equipment_id=equipment_id, number=number, lock=lock)
    if equipment.state == "retired":
        raise ValidationFailed.on("equipment_id", f"{equipment.number} is retired.")
    return equipment


def _limit(limit: int) -> int:
    return max(1, min(int(limit), 500))


# ---------------------------------------------------------------- loading rows


def _plan(session: Session, plan_id: int, *, lock: bool = False) -> MaintenancePlan:
    plan = session.get(MaintenancePlan, plan_id, with_for_update=lock or None)
    if plan is None:
        raise NotFound(f"No maintenance plan with id {plan_id}.")
    return plan


def _work_order(session: Session, work_order_id: int, *, lock: bool = False) -> WorkOrder:
    row = session.get(WorkOrder, work_order_id, with_for_update=lock or None)
    if row is None:
        raise NotFound(f"No work order with id {work_order_id}.")
    return row


def _fault(session: Session, fault_id: int, *, lock: bool = False) -> Fault:
    row = session.get(Fault, fault_id, with_for_update=lock or None)
    if row is None:
        raise NotFound(f"No fault report with id {fault_id}.")
    return row


def _require_state(row: WorkOrder | Fault, states: Sequence[str], doing: str) -> None:
    if row.state not in states:
        message = f"{row.number} is {row.state}; {doing} only while it is {' or '.join(states)}."
        field = "work_order_id" if isinstance(row, WorkOrder) else "fault_id"
        raise Conflict(message, [FieldProblem(field, message)])


# ---------------------------------------------------------------- views


def plan_view(session: Session, row: MaintenancePlan, *, equipment_number: str | None = None) -> MaintenancePlanView:
    if equipment_number is None:
        equipment_number = session.scalar(select(Equipment.number).where(Equipment.id == row.equipment_id)) or ""
    tasks = tuple(PlanTaskView(t.position, t.text, t.mandatory) for t in session.scalars(
        select(MaintenancePlanTask).where(MaintenancePlanTask.plan_id == row.id)
        .order_by(MaintenancePlanTask.position)))
    return MaintenancePlanView(
        id=row.id, number=row.number, equipment_id=row.equipment_id, equipment_number=equipment_number,
        title=row.title, basis=row.basis, interval_days=row.interval_days,
        interval_usage=None if row.interval_usage is None else Decimal(row.interval_usage),
        lead_days=row.lead_days, next_due_on=row.next_due_on,
        next_due_counter=None if row.next_due_counter is None else Decimal(row.next_due_counter),
        estimated_hours=None if row.estimated_hours is None else Decimal(row.estimated_hours),
        active=row.active, tasks=tasks)


def _overdue(row: WorkOrder, today: date) -> bool:
    return row.state in ("planned", "in_progress") and row.due_on is not None and row.due_on < today


def work_order_views(session: Session, rows: Sequence[WorkOrder], *, with_details: bool = False) -> list[WorkOrderView]:
    """Views of ``rows`` (names in one query each); checklist, labour, parts and signatures when ``with_details``."""
    if not rows:
        return []
    today = site_today()
    equipment = {e_id: (number, name) for e_id, number, name in session.execute(
        select(Equipment.id, Equipment.number, Equipment.name_zh)
        .where(Equipment.id.in_({r.equipment_id for r in rows})))}
    plan_ids = {r.plan_id for r in rows if r.plan_id is not None}
    plans = dict(session.execute(select(MaintenancePlan.id, MaintenancePlan.number)
                                 .where(MaintenancePlan.id.in_(plan_ids))).all()) if plan_ids else {}
    fault_ids = {r.fault_id for r in rows if r.fault_id is not None}
    faults = dict(session.execute(select(Fault.id, Fault.number)
                                  .where(Fault.id.in_(fault_ids))).all()) if fault_ids else {}
    views = []
    for row in rows:
        number, name = equipment.get(row.equipment_id, ("", ""))
        details: dict[str, Any] = {}
        if with_details:
            details["tasks"] = tuple(
                WorkOrderTaskView(t.id, t.position, t.text, t.mandatory, t.done, t.result, t.done_by, t.done_at)
                for t in session.scalars(select(WorkOrderTask).where(WorkOrderTask.work_order_id == row.id)
                                         .order_by(WorkOrderTask.position)))
            details["labour"] = tuple(
                LabourView(lab.id, lab.technician, Decimal(lab.hours), lab.worked_on, lab.note)
                for lab in session.scalars(select(WorkOrderLabour).where(WorkOrderLabour.work_order_id == row.id)
                                           .order_by(WorkOrderLabour.id)))
            details["parts"] = tuple(
                # An issue takes stock off the shelf (negative change) and puts it on the order.
                PartUseView(m.id, code, part_name, -Decimal(m.change), unit, m.at, m.actor)
                for m, code, part_name, unit in session.execute(
                    select(SparePartMovement, SparePart.code, SparePart.name_zh, SparePart.unit)
                    .join(SparePart, SparePart.id == SparePartMovement.part_id)
                    .where(SparePartMovement.work_order_id == row.id,
                           SparePartMovement.kind.in_(("issue", "return")))
                    .order_by(SparePartMovement.id)))
            details["signatures"] = tuple(signatures_for(session, row))
        views.append(WorkOrderView(
            id=row.id, number=row.number, equipment_id=row.equipment_id, equipment_number=number,
            equipment_name=name, kind=row.kind, plan_number=plans.get(row.plan_id) if row.plan_id else None,
            fault_number=faults.get(row.fault_id) if row.fault_id else None, title=row.title, due_on=row.due_on,
            due_counter=None if row.due_counter is None else Decimal(row.due_counter),
            assigned_to=row.assigned_to, findings=row.findings, state=row.state, created_at=row.created_at,
            started_at=row.started_at, completed_at=row.completed_at, closed_at=row.closed_at,
            performed_by=row.performed_by, overdue=_overdue(row, today), **details))
    return views


def work_order_view(session: Session, row: WorkOrder) -> WorkOrderView:
    """The full view of one work order (checklist, labour, parts, signatures)."""
    return work_order_views(session, [row], with_details=True)[0]


def fault_views(session: Session, rows: Sequence[Fault], *, with_details: bool = False) -> list[FaultView]:
    if not rows:
        return []
    equipment = {e_id: (number, name) for e_id, number, name in session.execute(
        select(Equipment.id, Equipment.number, Equipment.name_zh)
        .where(Equipment.id.in_({r.equipment_id for r in rows})))}
    order_ids = {r.work_order_id for r in rows if r.work_order_id is not None}
    orders = dict(session.execute(select(WorkOrder.id, WorkOrder.number)
                                  .where(WorkOrder.id.in_(order_ids))).all()) if order_ids else {}
    views = []
    for row in rows:
        number, name = equipment.get(row.equipment_id, ("", ""))
        details: dict[str, Any] = {}
        if with_details:
            details["photos"] = tuple(attachment_view(a) for a in session.scalars(
                select(Attachment).options(defer(Attachment.content))
                .where(Attachment.owner_type == "fault", Attachment.owner_id == row.id)
                .order_by(Attachment.id)))
            details["signatures"] = tuple(signatures_for(session, row))
        views.append(FaultView(
            id=row.id, number=row.number, equipment_id=row.equipment_id, equipment_number=number,
            equipment_name=name, description=row.description, severity=row.severity,
            stops_equipment=row.stops_equipment, source=row.source, reported_at=row.reported_at,
            reported_by=row.reported_by, assigned_to=row.assigned_to,
            work_order_number=orders.get(row.work_order_id) if row.work_order_id else None,
            repair_description=row.repair_description, repaired_at=row.repaired_at, verified_at=row.verified_at,
            closed_at=row.closed_at, state=row.state, **details))
    return views


def fault_view(session: Session, row: Fault) -> FaultView:
    """The full view of one fault report (photos, signatures)."""
    return fault_views(session, [row], with_details=True)[0]


# ---------------------------------------------------------------- maintenance plans


def advance_plan(session: Session, *, plan: MaintenancePlan, equipment: Equipment, completed_on: date) -> None:
    """Move the plan's next due date or counter on from the work just completed (work-order ``complete``)."""
    # Intervals run from the completed maintenance, not the missed due date, so a late PM does not make
    # the next one due at once.
    if plan.basis == "calendar" and plan.interval_days:
        plan.next_due_on = completed_on + timedelta(days=plan.interval_days)
    elif plan.basis == "usage" and plan.interval_usage is not None:
        plan.next_due_counter = Decimal(equipment.usage_counter) + Decimal(plan.interval_usage)
    session.flush()


def _plan_interval_problems(problems: list[FieldProblem], basis: str, interval_days: object,
                            interval_usage: object) -> tuple[int | None, Decimal | None]:
    days: int | None = None
    usage: Decimal | None = None
    if basis == "calendar":
        if interval_days is None:
            problems.append(FieldProblem("interval_days", "A calendar plan needs an interval in days."))
        else:
            days = _positive_int(problems, "interval_days", interval_days)
        if interval_usage is not None:
            problems.append(FieldProblem("interval_usage", "A calendar plan has no counter interval."))
    elif basis == "usage":
        if interval_usage is None:
            problems.append(FieldProblem("interval_usage", "A usage plan needs a counter interval."))
        else:
            usage = _positive_decimal(problems, "interval_usage", interval_usage)
        if interval_days is not None:
            problems.append(FieldProblem("interval_days", "A usage plan has no interval in days."))
    return days, usage


def create_maintenance_plan(*, actor: Actor, equipment_id: int, title: str, basis: str,
                            interval_days: int | None = None, interval_usage: Decimal | str | int | None = None,
                            lead_days: int = 7, first_due_on: date | None = None,
                            estimated_hours: Decimal | str | int | None = None,
                            tasks: Sequence[PlanTaskInput] = ()) -> MaintenancePlanView:
    actor.require("workorders.manage")
    problems: list[FieldProblem] = []
    title = _text(problems, "title", title, max_length=200)
    if basis not in PLAN_BASES:
        problems.append(FieldProblem("basis", f"Choose one of {', '.join(PLAN_BASES)}."))
    days, usage = _plan_interval_problems(problems, basis, interval_days, interval_usage)
    lead = _positive_int(problems, "lead_days", lead_days, zero_ok=True)
    if first_due_on is not None and (basis != "calendar" or not isinstance(first_due_on, date)):
        problems.append(FieldProblem("first_due_on", "A first due date belongs to a calendar plan."))
    hours = None if estimated_hours is None else _positive_decimal(problems, "estimated_hours", estimated_hours)
    items = _tasks(problems, tasks, required=True)
    _raise(problems)
    with transaction(actor=actor, reason="Maintenance plan created") as session:
        equipment = _equipment_in_use(session, equipment_id=equipment_id)
        plan = MaintenancePlan(
            number=next_number(session, prefix="PM", pattern="{prefix}-{seq:04d}"), equipment_id=equipment.id,
            title=title, basis=basis, interval_days=days, interval_usage=usage, lead_days=lead or 0,
            next_due_on=(first_due_on or site_today() + timedelta(days=days or 0)) if basis == "calendar" else None,
            next_due_counter=Decimal(equipment.usage_counter) + usage if usage is not None else None,
            estimated_hours=hours, active=True)
        session.add(plan)
        session.flush()
        session.add_all([MaintenancePlanTask(plan_id=plan.id, position=i + 1, text=t.text, mandatory=t.mandatory)
                         for i, t in enumerate(items)])
        session.flush()
        return plan_view(session, plan, equipment_number=equipment.number)


_UNCHANGED: Any = object()


def update_maintenance_plan(*, actor: Actor, plan_id: int, reason: str, title: str | None = None,
                            interval_days: int | None = None, interval_usage: Decimal | str | int | None = None,
                            lead_days: int | None = None, next_due_on: date | None = None,
                            next_due_counter: Decimal | str | int | None = None,
                            estimated_hours: Decimal | str | int | None = _UNCHANGED,
                            tasks: Sequence[PlanTaskInput] | None = None,
                            active: bool | None = None) -> MaintenancePlanView:
    """Change a plan (None leaves a field as it is); new checklists apply to work orders generated later."""
    actor.require("workorders.manage")
    why = required_reason(reason)
    problems: list[FieldProblem] = []
    new_title = None if title is None else _text(problems, "title", title, max_length=200)
    days = None if interval_days is None else _positive_int(problems, "interval_days", interval_days)
    usage = None if interval_usage is None else _positive_decimal(problems, "interval_usage", interval_usage)
    lead = None if lead_days is None else _positive_int(problems, "lead_days", lead_days, zero_ok=True)
    counter = None
    if next_due_counter is not None:
        counter = _positive_decimal(problems, "next_due_counter", next_due_counter)
    hours: Decimal | None = None
    if estimated_hours is not _UNCHANGED and estimated_hours is not None:
        hours = _positive_decimal(problems, "estimated_hours", estimated_hours)
    items = None if tasks is None else _tasks(problems, tasks, required=True)
    if active is not None and not isinstance(active, bool):
        problems.append(FieldProblem("active", "Yes or no."))
    _raise(problems)
    with transaction(actor=actor, reason=why) as session:
        plan = _plan(session, plan_id, lock=True)
        if plan.basis == "calendar":
            if usage is not None:
                problems.append(FieldProblem("interval_usage", "A calendar plan has no counter interval."))
            if counter is not None:
                problems.append(FieldProblem("next_due_counter", "A calendar plan has no due counter."))
        else:
            if days is not None:
                problems.append(FieldProblem("interval_days", "A usage plan has no interval in days."))
            if next_due_on is not None:
                problems.append(FieldProblem("next_due_on", "A usage plan has no due date."))
        _raise(problems)
        if new_title is not None:
            plan.title = new_title
        if days is not None:
            plan.interval_days = days
        if usage is not None:
            plan.interval_usage = usage
        if lead is not None:
            plan.lead_days = lead
        if next_due_on is not None:
            plan.next_due_on = next_due_on
        if counter is not None:
            plan.next_due_counter = counter
        if estimated_hours is not _UNCHANGED:
            plan.estimated_hours = hours
        if active is not None:
            plan.active = active
        if items is not None:
            # The plan's checklist is a template: work orders keep the copy they were generated with.
            for old in session.scalars(select(MaintenancePlanTask).where(MaintenancePlanTask.plan_id == plan.id)):
                session.delete(old)
            session.flush()
            session.add_all([MaintenancePlanTask(plan_id=plan.id, position=i + 1, text=t.text,
                                                 mandatory=t.mandatory) for i, t in enumerate(items)])
        session.flush()
        return plan_view(session, plan)


def get_maintenance_plan(*, actor: Actor, plan_id: int) -> MaintenancePlanView:
    actor.require("equipment.view")
    with read_session() as session:
        return plan_view(session, _plan(session, plan_id))


def list_maintenance_plans(*, actor: Actor, equipment_id: int | None = None, active: bool | None = None,
                           due_within_days: int | None = None, after_id: int | None = None,
                           limit: int = 50) -> list[MaintenancePlanView]:
    actor.require("equipment.view")
    if due_within_days is not None:
        problems: list[FieldProblem] = []
        _positive_int(problems, "due_within_days", due_within_days, zero_ok=True)
        _raise(problems)
    with read_session() as session:
        stmt = (select(MaintenancePlan, Equipment.number).join(Equipment, Equipment.id == MaintenancePlan.equipment_id)
                .order_by(MaintenancePlan.id).limit(_limit(limit)))
        if equipment_id is not None:
            stmt = stmt.where(MaintenancePlan.equipment_id == equipment_id)
        if active is not None:
            stmt = stmt.where(MaintenancePlan.active.is_(active))
        if due_within_days is not None:
            stmt = stmt.where(or_(
                and_(MaintenancePlan.basis == "calendar",
                     MaintenancePlan.next_due_on <= site_today() + timedelta(days=due_within_days)),
                and_(MaintenancePlan.basis == "usage", Equipment.usage_counter >= MaintenancePlan.next_due_counter)))
        if after_id is not None:
            stmt = stmt.where(MaintenancePlan.id > after_id)
        return [plan_view(session, plan, equipment_number=number)
                for plan, number in session.execute(stmt).all()]


def generate_due_work_orders(*, actor: Actor, today: date | None = None) -> list[str]:
    """One planned work order per active plan that is due and has no open order; returns the new numbers.

    Idempotent: a plan with an open work order is skipped, so running the daily scan twice
    generates nothing the second time. Due plans are found with one query over all equipment.
    """
    actor.require("workorders.manage")
    today = today or site_today()
    with transaction(actor=actor, reason="Preventive maintenance due") as session:
        open_order = exists().where(WorkOrder.plan_id == MaintenancePlan.id,
                                    WorkOrder.state.in_(OPEN_WORK_ORDER_STATES))
        longest_lead = session.scalar(select(func.max(MaintenancePlan.lead_days))
                                      .where(MaintenancePlan.active.is_(True))) or 0
        candidates = session.execute(
            select(MaintenancePlan, Equipment.usage_counter)
            .join(Equipment, Equipment.id == MaintenancePlan.equipment_id)
            .where(MaintenancePlan.active.is_(True), Equipment.state != "retired", ~open_order,
                   or_(and_(MaintenancePlan.basis == "calendar",
                            MaintenancePlan.next_due_on <= today + timedelta(days=longest_lead)),
                       and_(MaintenancePlan.basis == "usage",
                            Equipment.usage_counter >= MaintenancePlan.next_due_counter)))
            .order_by(MaintenancePlan.id).with_for_update(of=MaintenancePlan)).all()
        # Each plan's own lead time (the query used the longest so it stays one portable statement).
        due = [(plan, counter) for plan, counter in candidates
               if plan.basis == "usage" or (plan.next_due_on is not None
                                            and plan.next_due_on - timedelta(days=plan.lead_days) <= today)]
        if not due:
            return []
        # Re-read under the plan locks: a scan that ran concurrently has committed its orders by now.
        taken = set(session.scalars(select(WorkOrder.plan_id).where(
            WorkOrder.plan_id.in_([p.id for p, _ in due]), WorkOrder.state.in_(OPEN_WORK_ORDER_STATES))))
        due = [(plan, counter) for plan, counter in due if plan.id not in taken]
        if not due:
            return []
        tasks: dict[int, list[MaintenancePlanTask]] = {}
        for task in session.scalars(select(MaintenancePlanTask)
                                    .where(MaintenancePlanTask.plan_id.in_([p.id for p, _ in due]))
                                    .order_by(MaintenancePlanTask.plan_id, MaintenancePlanTask.position)):
            tasks.setdefault(task.plan_id, []).append(task)
        numbers = next_numbers(session, prefix="WO", pattern=_WO_PATTERN, count=len(due))
        orders = []
        for (plan, _counter), number in zip(due, numbers, strict=True):
            orders.append(WorkOrder(
                number=number,
                equipment_id=plan.equipment_id, kind="preventive", plan_id=plan.id, title=plan.title,
                # A usage plan is due the day its counter reaches the due reading.
                due_on=plan.next_due_on if plan.basis == "calendar" else today,
                due_counter=plan.next_due_counter if plan.basis == "usage" else None,
                state=WORK_ORDER_LIFECYCLE.initial))
        session.add_all(orders)
        session.flush()
        session.add_all([WorkOrderTask(work_order_id=order.id, position=t.position, text=t.text,
                                       mandatory=t.mandatory)
                         for order, (plan, _c) in zip(orders, due, strict=True) for t in tasks.get(plan.id, [])])
        session.flush()
        return [order.number for order in orders]


# ---------------------------------------------------------------- work orders


def _new_work_order(session: Session, *, equipment: Equipment, title: str, kind: str, due_on: date | None,
                    assignee: DirectoryEntry | None, tasks: Sequence[PlanTaskInput], fault: Fault | None) -> WorkOrder:
    order = WorkOrder(number=next_number(session, prefix="WO", pattern=_WO_PATTERN),
                      equipment_id=equipment.id, kind=kind, title=title, due_on=due_on,
                      assigned_to_id=assignee.id if assignee else None,
                      assigned_to=assignee.username if assignee else "",
                      fault_id=fault.id if fault else None, state=WORK_ORDER_LIFECYCLE.initial)
    session.add(order)
    session.flush()
    session.add_all([WorkOrderTask(work_order_id=order.id, position=i + 1, text=t.text, mandatory=t.mandatory)
                     for i, t in enumerate(tasks)])
    if fault is not None:
        fault.work_order_id = order.id
    session.flush()
    return order


def create_work_order(*, actor: Actor, equipment_id: int, title: str, kind: str = "corrective",
                      due_on: date | None = None, assigned_to_username: str | None = None,
                      tasks: Sequence[PlanTaskInput] = (), fault_id: int | None = None) -> WorkOrderView:
    actor.require("workorders.manage")
    problems: list[FieldProblem] = []
    title = _text(problems, "title", title, max_length=200)
    if kind not in WORK_ORDER_KINDS:
        problems.append(FieldProblem("kind", f"Choose one of {', '.join(WORK_ORDER_KINDS)}."))
    if due_on is not None and not isinstance(due_on, date):
        problems.append(FieldProblem("due_on", "A date."))
    items = _tasks(problems, tasks, required=False)
    _raise(problems)
    with transaction(actor=actor, reason="Work order created") as session:
        equipment = _equipment_in_use(session, equipment_id=equipment_id)
        assignee = None
        if assigned_to_username:
            assignee = _active_user_holding(session, assigned_to_username, "workorders.perform",
                                            field="assigned_to_username")
        fault = None
        if fault_id is not None:
            fault = session.get(Fault, fault_id, with_for_update=True)
            if fault is None or fault.equipment_id != equipment.id:
                raise ValidationFailed.on("fault_id", f"No fault report {fault_id} on {equipment.number}.")
            if fault.work_order_id is not None:
                raise ValidationFailed.on("fault_id", f"{fault.number} already has a work order.")
        order = _new_work_order(session, equipment=equipment, title=title, kind=kind, due_on=due_on,
                                assignee=assignee, tasks=items, fault=fault)
        return work_order_view(session, order)


def assign_work_order(*, actor: Actor, work_order_id: int, username: str) -> WorkOrderView:
    actor.require("workorders.manage")
    with transaction(actor=actor, reason="Work order assigned") as session:
        order = _work_order(session, work_order_id, lock=True)
        _require_state(order, ("planned", "in_progress"), "it is assigned")
        user = _active_user_holding(session, username, "workorders.perform", field="username")
        order.assigned_to_id = user.id
        order.assigned_to = user.username
        session.flush()
        return work_order_view(session, order)


def record_task_result(*, actor: Actor, work_order_id: int, task_id: int, done: bool,
                       result: str = "") -> WorkOrderView:
    actor.require("workorders.perform")
    problems: list[FieldProblem] = []
    if not isinstance(done, bool):
        problems.append(FieldProblem("done", "Yes or no."))
    text = _text(problems, "result", result, max_length=4000, required=False)
    _raise(problems)
    with transaction(actor=actor, reason="Checklist item recorded") as session:
        order = _work_order(session, work_order_id, lock=True)
        _require_state(order, ("in_progress",), "checklist results are recorded")
        task = session.get(WorkOrderTask, task_id)
        if task is None or task.work_order_id != order.id:
            raise ValidationFailed.on("task_id", f"No checklist item {task_id} on {order.number}.")
        task.done = done
        task.result = text
        # ALCOA+ attributable: who ticked the item and when (cleared when it is unticked).
        task.done_by = actor.username if done else ""
        task.done_at = utcnow() if done else None
        session.flush()
        return work_order_view(session, order)


def record_findings(*, actor: Actor, work_order_id: int, findings: str) -> WorkOrderView:
    actor.require("workorders.perform")
    problems: list[FieldProblem] = []
    text = _text(problems, "findings", findings, max_length=10000)
    _raise(problems)
    with transaction(actor=actor, reason="Work order findings recorded") as session:
        order = _work_order(session, work_order_id, lock=True)
        _require_state(order, ("in_progress",), "findings are recorded")
        order.findings = text
        session.flush()
        return work_order_view(session, order)


def log_labour(*, actor: Actor, work_order_id: int, technician: str, hours: Decimal | str | int,
               worked_on: date) -> WorkOrderView:
    actor.require("workorders.perform")
    problems: list[FieldProblem] = []
    who = _text(problems, "technician", technician, max_length=150)
    amount = _positive_decimal(problems, "hours", hours, maximum=Decimal(24))
    if not isinstance(worked_on, date):
        problems.append(FieldProblem("worked_on", "A date."))
    elif worked_on > site_today():
        # ALCOA+ contemporaneous: labour is recorded for work already done.
        problems.append(FieldProblem("worked_on", "Must not be in the future."))
    _raise(problems)
    with transaction(actor=actor, reason="Labour logged") as session:
        order = _work_order(session, work_order_id, lock=True)
        _require_state(order, ("in_progress", "completed"), "labour is logged")
        session.add(WorkOrderLabour(work_order_id=order.id, technician=who, hours=amount, worked_on=worked_on))
        session.flush()
        return work_order_view(session, order)


def get_work_order(*, actor: Actor, work_order_id: int | None = None, number: str | None = None) -> WorkOrderView:
    actor.require("equipment.view")
    with read_session() as session:
        if number is not None:
            row = session.scalar(select(WorkOrder).where(WorkOrder.number == number.strip().upper()))
            if row is None:
                raise NotFound(f"No work order {number}.")
        elif work_order_id is not None:
            row = _work_order(session, work_order_id)
        else:
            raise ValidationFailed.on("work_order_id", "Name the work order.")
        return work_order_view(session, row)


def list_work_orders(*, actor: Actor, state: str | None = None, equipment_id: int | None = None,
                     kind: str | None = None, assigned_to: str | None = None, overdue: bool | None = None,
                     open_only: bool = False, after_id: int | None = None, limit: int = 50) -> list[WorkOrderView]:
    actor.require("equipment.view")
    if state is not None and state not in WORK_ORDER_LIFECYCLE.states:
        raise ValidationFailed.on("state", f"Choose one of {', '.join(WORK_ORDER_LIFECYCLE.states)}.")
    if kind is not None and kind not in WORK_ORDER_KINDS:
        raise ValidationFailed.on("kind", f"Choose one of {', '.join(WORK_ORDER_KINDS)}.")
    with read_session() as session:
        stmt = select(WorkOrder).order_by(WorkOrder.id).limit(_limit(limit))
        if state:
            stmt = stmt.where(WorkOrder.state == state)
        if equipment_id is not None:
            stmt = stmt.where(WorkOrder.equipment_id == equipment_id)
        if kind:
            stmt = stmt.where(WorkOrder.kind == kind)
        if assigned_to:
            stmt = stmt.where(WorkOrder.assigned_to == assigned_to.strip())
        if open_only:
            stmt = stmt.where(WorkOrder.state.in_(OPEN_WORK_ORDER_STATES))
        late = and_(WorkOrder.state.in_(("planned", "in_progress")), WorkOrder.due_on < site_today())
        if overdue is True:
            stmt = stmt.where(late)
        elif overdue is False:
            stmt = stmt.where(~late)
        if after_id is not None:
            stmt = stmt.where(WorkOrder.id > after_id)
        return work_order_views(session, list(session.scalars(stmt)))


# ---------------------------------------------------------------- faults


def _take_out_of_service(session: Session, *, equipment: Equipment, fault: Fault, actor: Actor) -> None:
    # EU GMP Part I 3.44 / 药品GMP 第八十四条: defective equipment is taken out of use and labelled at once;
    # the same transaction as the report, so no batch can start on it in between.
    if equipment.state != "in_service":
        return
    equipment.state = "out_of_service"
    equipment.state_changed_at = utcnow()
    session.flush()
    write_entry(session, equipment=equipment, kind="status", actor=actor, reference=fault.number,
                description=f"Taken out of service: fault {fault.number}", source_number=fault.number)


def _fault_input_problems(description: object, severity: object, stops_equipment: object) -> tuple[str, list[
        FieldProblem]]:
    problems: list[FieldProblem] = []
    text = _text(problems, "description", description, max_length=4000)
    if severity not in FAULT_SEVERITIES:
        problems.append(FieldProblem("severity", f"Choose one of {', '.join(FAULT_SEVERITIES)}."))
    if not isinstance(stops_equipment, bool):
        problems.append(FieldProblem("stops_equipment", "Yes or no."))
    return text, problems


def open_fault(session: Session, *, equipment: Equipment, description: str, actor: Actor, source: str = "",
               severity: str = "minor", stops_equipment: bool = False) -> Fault:
    """Record a fault on ``equipment`` in the caller's transaction (fault reports and inspection rounds)."""
    text, problems = _fault_input_problems(description, severity, stops_equipment)
    _raise(problems)
    fault = Fault(number=next_number(session, prefix="FLT", pattern="{prefix}-{date:%y%m}-{seq:04d}"),
                  equipment_id=equipment.id, description=text, severity=severity,
                  stops_equipment=stops_equipment, source=(source or "")[:40], reported_at=utcnow(),
                  reported_by=actor.username, author_id=actor.user_id, state=FAULT_LIFECYCLE.initial)
    session.add(fault)
    session.flush()
    write_entry(session, equipment=equipment, kind="fault", actor=actor, reference=fault.number,
                description=f"Fault reported ({severity}): {text}", source_number=fault.number)
    if stops_equipment:
        _take_out_of_service(session, equipment=equipment, fault=fault, actor=actor)
    return fault


def report_fault(*, actor: Actor, equipment_id: int | None = None, number: str | None = None, description: str,
                 severity: str = "minor", stops_equipment: bool = False,
                 photo: tuple[str, bytes, str] | None = None) -> FaultView:
    actor.require("faults.report")
    _text_value, problems = _fault_input_problems(description, severity, stops_equipment)
    if equipment_id is None and not (number or "").strip():
        problems.append(FieldProblem("equipment_id", "Name the equipment (id or number)."))
    if photo is not None:
        if not isinstance(photo, tuple) or len(photo) != 3:
            problems.append(FieldProblem("photo", "A photo is (filename, content, media type)."))
        else:
            problems += [FieldProblem("photo", p.message) for p in attachment_problems(
                owner_type="fault", kind="photo", title=photo[0], filename=photo[0], content=photo[1],
                media_type=photo[2])]
    _raise(problems)
    with transaction(actor=actor, reason="Fault reported") as session:
        equipment = _equipment_in_use(session, equipment_id=equipment_id,
                                      number=number.strip() if number else None, lock=True)
        fault = open_fault(session, equipment=equipment, description=description, actor=actor,
                           severity=severity, stops_equipment=stops_equipment)
        if photo is not None:
            filename, content, media_type = photo
            store_attachment(session, owner_type="fault", owner_id=fault.id, kind="photo", title=filename,
                             filename=filename, content=content, media_type=media_type, actor=actor)
            session.flush()
        return fault_view(session, fault)


def triage_fault(*, actor: Actor, fault_id: int, severity: str, stops_equipment: bool) -> FaultView:
    actor.require("faults.triage")
    _unused, problems = _fault_input_problems("-", severity, stops_equipment)
    _raise(problems)
    with transaction(actor=actor, reason="Fault triaged") as session:
        fault = _fault(session, fault_id, lock=True)
        _require_state(fault, ("reported", "triaged"), "it is triaged")
        fault.severity = severity
        if stops_equipment and not fault.stops_equipment:
            equipment = load_equipment(session, equipment_id=fault.equipment_id, lock=True)
            fault.stops_equipment = True
            _take_out_of_service(session, equipment=equipment, fault=fault, actor=actor)
        fault.stops_equipment = stops_equipment
        session.flush()
        return fault_view(session, fault)


def assign_fault(*, actor: Actor, fault_id: int, username: str, create_work_order: bool = True) -> FaultView:
    """Name who repairs the fault; a corrective work order is created (or reassigned) and linked both ways."""
    actor.require("faults.triage")
    with transaction(actor=actor, reason="Fault assigned") as session:
        fault = _fault(session, fault_id, lock=True)
        _require_state(fault, ("triaged", "assigned"), "it is assigned")
        user = _active_user_holding(session, username, "workorders.perform", field="username")
        fault.assigned_to_id = user.id
        fault.assigned_to = user.username
        if fault.work_order_id is not None:
            order = session.get(WorkOrder, fault.work_order_id, with_for_update=True)
            if order is not None and order.state in ("planned", "in_progress"):
                order.assigned_to_id = user.id
                order.assigned_to = user.username
        elif create_work_order:
            equipment = load_equipment(session, equipment_id=fault.equipment_id)
            _new_work_order(session, equipment=equipment, title=f"Repair {fault.number}: {fault.description}"[:200],
                            kind="corrective", due_on=None, assignee=user, tasks=(), fault=fault)
        session.flush()
        return fault_view(session, fault)


def describe_repair(*, actor: Actor, fault_id: int, repair_description: str) -> FaultView:
    actor.require("workorders.perform")
    problems: list[FieldProblem] = []
    text = _text(problems, "repair_description", repair_description, max_length=4000)
    _raise(problems)
    with transaction(actor=actor, reason="Repair described") as session:
        fault = _fault(session, fault_id, lock=True)
        _require_state(fault, ("assigned",), "the repair is described")
        fault.repair_description = text
        session.flush()
        return fault_view(session, fault)


def get_fault(*, actor: Actor, fault_id: int | None = None, number: str | None = None) -> FaultView:
    actor.require("equipment.view")
    with read_session() as session:
        if number is not None:
            row = session.scalar(select(Fault).where(Fault.number == number.strip().upper()))
            if row is None:
                raise NotFound(f"No fault report {number}.")
        elif fault_id is not None:
            row = _fault(session, fault_id)
        else:
            raise ValidationFailed.on("fault_id", "Name the fault report.")
        return fault_view(session, row)


def list_faults(*, actor: Actor, state: str | None = None, equipment_id: int | None = None, open_only: bool = False,
                after_id: int | None = None, limit: int = 50) -> list[FaultView]:
    actor.require("equipment.view")
    if state is not None and state not in FAULT_LIFECYCLE.states:
        raise ValidationFailed.on("state", f"Choose one of {', '.join(FAULT_LIFECYCLE.states)}.")
    with read_session() as session:
        stmt = select(Fault).order_by(Fault.id).limit(_limit(limit))
        if state:
            stmt = stmt.where(Fault.state == state)
        if equipment_id is not None:
            stmt = stmt.where(Fault.equipment_id == equipment_id)
        if open_only:
            stmt = stmt.where(Fault.state.in_(OPEN_FAULT_STATES))
        if after_id is not None:
            stmt = stmt.where(Fault.id > after_id)
        return fault_views(session, list(session.scalars(stmt)))
