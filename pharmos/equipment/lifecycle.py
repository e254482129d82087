"""Lifecycles of the equipment module: equipment, calibrations, impact assessments, work orders,
fault reports and inspection rounds."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmos.compliance.lifecycle import Lifecycle, Transition, register_lifecycle
from pharmos.core.actor import Actor
from pharmos.core.clock import as_utc, site_today, utcnow
from pharmos.equipment.logbook import write_entry
from pharmos.equipment.models import (
    Calibration,
    Equipment,
    Fault,
    ImpactAssessment,
    ImpactItem,
    InspectionPoint,
    InspectionResult,
    InspectionRound,
    WorkOrder,
    WorkOrderTask,
)

# ---------------------------------------------------------------- equipment


def service_readiness_problem(equipment: Equipment) -> str | None:
    """Why the equipment may not be (re)released to service now, or None (shown beside the button)."""
    today = site_today()
    # EU GMP Annex 15 §3.1-§3.16: IQ, OQ and PQ precede routine use of GMP-critical equipment.
    if equipment.gmp_critical:
        missing = [p for p, on in (("IQ", equipment.iq_on), ("OQ", equipment.oq_on), ("PQ", equipment.pq_on))
                   if on is None]
        if missing:
            return f"Record a passed {', '.join(missing)} first."
        if equipment.requalification_due_on is not None and equipment.requalification_due_on < today:
            return f"Requalification was due on {equipment.requalification_due_on.isoformat()}."
    if equipment.calibration_required:
        if equipment.calibration_status == "out_of_tolerance":
            return "The last calibration failed; record a passing calibration first."
        if equipment.calibration_due_on is None:
            return "Record a passing calibration first."
        if equipment.calibration_due_on < today:
            return f"Calibration was due on {equipment.calibration_due_on.isoformat()}."
    return None


def _ready_for_service(_session: Session, record: Any, _actor: Actor) -> str | None:
    return service_readiness_problem(record)


def _not_in_use(_session: Session, record: Any, _actor: Actor) -> str | None:
    if record.in_use_by:
        return f"In use by {record.in_use_by}; end that use first."
    return None


def _status_entry(description: str) -> Any:
    def effect(session: Session, record: Any, actor: Actor) -> None:
        record.state_changed_at = utcnow()
        session.flush()
        write_entry(session, equipment=record, kind="status", actor=actor, description=description)
    return effect


EQUIPMENT_LIFECYCLE = register_lifecycle(Lifecycle(
    record_type="equipment",
    model=Equipment,
    collection="equipment",
    view_permission="equipment.view",
    initial="commissioning",
    states={
        "commissioning": "installed and being qualified; not for GMP use",
        "in_service": "released by QA; usable when calibrated, qualified, clean and free",
        "out_of_service": "taken out of use (fault, maintenance, failed calibration); never used",
        "retired": "decommissioned; kept for its records only",
    },
    transitions=(
        Transition("release_to_service", ("commissioning",), "in_service", "equipment.release",
                   "Release to service", "放行使用", signature="approved", guard=_ready_for_service,
                   effect=_status_entry("Released to service")),
        Transition("take_out_of_service", ("in_service",), "out_of_service", "equipment.status",
                   "Take out of service", "停用", reason_required=True, effect=_status_entry("Taken out of service")),
        Transition("return_to_service", ("out_of_service",), "in_service", "equipment.release",
                   "Return to service", "恢复使用", signature="approved", reason_required=True,
                   guard=_ready_for_service, effect=_status_entry("Returned to service")),
        Transition("retire", ("commissioning", "in_service", "out_of_service"), "retired", "equipment.release",
                   "Retire", "报废", signature="approved", reason_required=True, guard=_not_in_use,
                   effect=_status_entry("Retired")),
    ),
))

# ---------------------------------------------------------------- calibrations

CALIBRATION_LIFECYCLE = register_lifecycle(Lifecycle(
    record_type="calibration",
    model=Calibration,
    collection="calibrations",
    view_permission="equipment.view",
    initial="recorded",
    states={
        "recorded": "entered by metrology; its result already governs the instrument's use",
        "approved": "reviewed and approved by QA",
    },
    transitions=(
        # 21 CFR 211.68(a) / 药品GMP 第九十三条: calibration records are checked and kept.
        Transition("approve", ("recorded",), "approved", "calibrations.approve", "Approve", "批准",
                   signature="approved"),
    ),
))

# ---------------------------------------------------------------- impact assessments


def _all_items_judged(session: Session, record: Any, _actor: Actor) -> str | None:
    pending = session.scalar(select(ImpactItem.id).where(
        ImpactItem.assessment_id == record.id, ImpactItem.verdict == "pending").limit(1))
    if pending is not None:
        return "Give a verdict on every use first."
    if not record.conclusion.strip():
        return "Write the conclusion first."
    return None


def _mark_assessor(_session: Session, record: Any, actor: Actor) -> None:
    # The assessor authors the conclusion; QA's approval must come from someone else.
    record.author_id = actor.user_id
    record.author = actor.username


IMPACT_LIFECYCLE = register_lifecycle(Lifecycle(
    record_type="impact_assessment",
    model=ImpactAssessment,
    collection="impact-assessments",
    view_permission="equipment.view",
    initial="open",
    states={
        "open": "opened by an out-of-tolerance calibration; uses since the last pass being assessed",
        "assessed": "every use judged and concluded by the assessor; awaiting QA approval",
        "closed": "conclusion approved by QA",
    },
    transitions=(
        Transition("submit", ("open",), "assessed", "calibrations.assess", "Submit assessment", "提交评估",
                   signature="performed", guard=_all_items_judged, effect=_mark_assessor),
        Transition("reopen", ("assessed",), "open", "calibrations.approve", "Send back", "退回",
                   reason_required=True),
        Transition("approve", ("assessed",), "closed", "calibrations.approve", "Approve", "批准",
                   signature="approved"),
    ),
))

# ---------------------------------------------------------------- work orders


def _mandatory_done(session: Session, record: Any, _actor: Actor) -> str | None:
    open_items = list(session.scalars(select(WorkOrderTask.text).where(
        WorkOrderTask.work_order_id == record.id, WorkOrderTask.mandatory.is_(True),
        WorkOrderTask.done.is_(False)).order_by(WorkOrderTask.position)))
    if open_items:
        return f"{len(open_items)} mandatory checklist item(s) not done: {'; '.join(open_items[:3])}"
    if not record.findings.strip():
        return "Record the findings first."
    return None


def _start(_session: Session, record: Any, actor: Actor) -> None:
    record.started_at = utcnow()
    if not record.assigned_to:
        record.assigned_to_id = actor.user_id
        record.assigned_to = actor.username


def _complete(session: Session, record: Any, actor: Actor) -> None:
    from pharmos.equipment.models import MaintenancePlan

    record.completed_at = utcnow()
    record.performed_by_id = actor.user_id
    record.performed_by = actor.username
    equipment = session.get(Equipment, record.equipment_id)
    assert equipment is not None
    write_entry(session, equipment=equipment, kind="maintenance", actor=actor, reference=record.number,
                description=f"{record.title}: {record.findings}", source_number=record.number)
    if record.plan_id is not None:
        plan = session.get(MaintenancePlan, record.plan_id)
        if plan is not None:
            from pharmos.equipment.maintenance import advance_plan

            advance_plan(session, plan=plan, equipment=equipment, completed_on=site_today())


def _owner_signs(session: Session, record: Any, actor: Actor) -> str | None:
    equipment = session.get(Equipment, record.equipment_id)
    if equipment is not None and equipment.owner_id is not None and equipment.owner_id != actor.user_id:
        return "Only the equipment owner closes its work orders."
    return None


def _close(_session: Session, record: Any, _actor: Actor) -> None:
    record.closed_at = utcnow()


WORK_ORDER_LIFECYCLE = register_lifecycle(Lifecycle(
    record_type="work_order",
    model=WorkOrder,
    collection="work-orders",
    view_permission="equipment.view",
    initial="planned",
    states={
        "planned": "generated from a plan or a fault; waiting for the technician",
        "in_progress": "being carried out",
        "completed": "work done and signed by the technician; awaiting the owner's signature",
        "closed": "accepted and signed by the equipment owner",
        "cancelled": "not carried out; the reason is recorded",
    },
    transitions=(
        Transition("start", ("planned",), "in_progress", "workorders.perform", "Start", "开始", effect=_start),
        Transition("complete", ("in_progress",), "completed", "workorders.perform", "Complete", "完成",
                   signature="performed", guard=_mandatory_done, effect=_complete),
        Transition("reopen", ("completed",), "in_progress", "workorders.close", "Send back", "退回",
                   reason_required=True),
        # EU GMP Part I 3.34 (maintenance must not present a hazard): the owner accepts the work.
        Transition("close", ("completed",), "closed", "workorders.close", "Close", "关闭", signature="approved",
                   guard=_owner_signs, effect=_close),
        Transition("cancel", ("planned", "in_progress"), "cancelled", "workorders.manage", "Cancel", "取消",
                   reason_required=True),
    ),
))

# ---------------------------------------------------------------- faults


def _assigned(_session: Session, record: Any, _actor: Actor) -> str | None:
    return None if record.assigned_to else "Choose who repairs it first."


def _repair_described(_session: Session, record: Any, _actor: Actor) -> str | None:
    return None if record.repair_description.strip() else "Describe the repair first."


def _repaired(session: Session, record: Any, actor: Actor) -> None:
    record.repaired_at = utcnow()
    equipment = session.get(Equipment, record.equipment_id)
    assert equipment is not None
    write_entry(session, equipment=equipment, kind="fault", actor=actor, reference=record.number,
                description=f"Repaired: {record.repair_description}", source_number=record.number)


def _not_the_repairer(_session: Session, record: Any, actor: Actor) -> str | None:
    if record.assigned_to_id is not None and record.assigned_to_id == actor.user_id:
        return "The person who repaired it cannot verify the repair."
    return None


def _verified(_session: Session, record: Any, _actor: Actor) -> None:
    record.verified_at = utcnow()


def _fault_closed(_session: Session, record: Any, _actor: Actor) -> None:
    record.closed_at = utcnow()


FAULT_LIFECYCLE = register_lifecycle(Lifecycle(
    record_type="equipment_fault",
    model=Fault,
    collection="faults",
    view_permission="equipment.view",
    initial="reported",
    states={
        "reported": "reported by anyone; waiting for maintenance to triage",
        "triaged": "severity and downtime judged by maintenance",
        "assigned": "a technician is responsible for the repair",
        "repaired": "repair done and described; waiting for verification",
        "verified": "repair verified by someone other than the repairer",
        "closed": "closed; counts toward MTTR and MTBF",
        "rejected": "not a fault or a duplicate; the reason is recorded",
    },
    transitions=(
        Transition("triage", ("reported",), "triaged", "faults.triage", "Triage", "分级"),
        Transition("assign", ("triaged",), "assigned", "faults.triage", "Assign", "分派", guard=_assigned),
        Transition("mark_repaired", ("assigned",), "repaired", "workorders.perform", "Mark repaired", "维修完成",
                   guard=_repair_described, effect=_repaired),
        Transition("verify", ("repaired",), "verified", "faults.verify", "Verify repair", "确认维修",
                   signature="verified", guard=_not_the_repairer, effect=_verified),
        Transition("reopen", ("repaired",), "assigned", "faults.verify", "Repair not effective", "维修无效",
                   reason_required=True),
        Transition("close", ("verified",), "closed", "faults.triage", "Close", "关闭", effect=_fault_closed),
        Transition("reject", ("reported", "triaged"), "rejected", "faults.triage", "Reject", "驳回",
                   reason_required=True),
    ),
))

# ---------------------------------------------------------------- inspection rounds


def _all_points_answered(session: Session, record: Any, _actor: Actor) -> str | None:
    answered = set(session.scalars(select(InspectionResult.point_id).where(InspectionResult.round_id == record.id)))
    points = list(session.scalars(select(InspectionPoint.id).where(InspectionPoint.route_id == record.route_id)))
    missing = [p for p in points if p not in answered]
    return f"{len(missing)} check(s) not recorded yet." if missing else None


def _round_started(_session: Session, record: Any, actor: Actor) -> None:
    record.started_at = utcnow()
    record.technician_id = actor.user_id
    record.technician = actor.username


def _round_completed(_session: Session, record: Any, _actor: Actor) -> None:
    record.completed_at = utcnow()


def _past_due(_session: Session, record: Any, _actor: Actor) -> str | None:
    if as_utc(record.due_by) > utcnow():
        return f"The round is not due until {as_utc(record.due_by).isoformat()}."
    return None


ROUND_LIFECYCLE = register_lifecycle(Lifecycle(
    record_type="inspection_round",
    model=InspectionRound,
    collection="inspection-rounds",
    view_permission="equipment.view",
    initial="scheduled",
    states={
        "scheduled": "due for its shift; no result yet",
        "in_progress": "a technician is walking the route",
        "completed": "every check recorded and signed by the technician",
        "missed": "not completed within its window; flagged",
    },
    transitions=(
        Transition("start", ("scheduled",), "in_progress", "rounds.perform", "Start round", "开始巡检",
                   effect=_round_started),
        Transition("complete", ("in_progress",), "completed", "rounds.perform", "Complete round", "完成巡检",
                   signature="performed", guard=_all_points_answered, effect=_round_completed),
        Transition("mark_missed", ("scheduled", "in_progress"), "missed", "rounds.manage", "Flag missed", "标记漏检",
                   guard=_past_due),
    ),
))
