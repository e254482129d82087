"""Lifecycles of master batch records and batches: declared once, applied by compliance.apply_transition.

Guards return the reason a transition is blocked (shown beside the disabled button); they read
only this module's tables, plus the quality module's open deviations through its service.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pharmos.batches.models import Batch, BatchException, BatchMaterial, BatchStep, MasterBatchRecord, MbrStep
from pharmos.compliance.lifecycle import Lifecycle, Transition, register_lifecycle
from pharmos.compliance.signatures import signatures_for
from pharmos.core.actor import Actor
from pharmos.core.clock import utcnow

# ---------------------------------------------------------------- master batch records


def _has_steps(session: Session, record: Any, _actor: Actor) -> str | None:
    # EU GMP Part I 4.18: a recipe names its materials and every processing step.
    from pharmos.batches.mbr import mbr_completeness_problems

    if session.scalar(select(MbrStep.id).where(MbrStep.mbr_id == record.id).limit(1)) is None:
        return "Add at least one phase with a step first."
    return " ".join(mbr_completeness_problems(session, record)) or None


def _reviewed_by_production(session: Session, record: Any, _actor: Actor) -> str | None:
    # 药品GMP 第一百七十条: the recipe is reviewed by production before QA approves it.
    valid = [s for s in signatures_for(session, record) if s.meaning == "reviewed" and s.valid]
    if not valid:
        return "A production reviewer must sign the review (meaning 'reviewed') first."
    return None


def _supersede_effective(session: Session, record: Any, _actor: Actor) -> None:
    # One effective recipe per product and stage (EU GMP Part I 4.3); the new one replaces it.
    now = utcnow()
    for previous in session.scalars(select(MasterBatchRecord).where(
            MasterBatchRecord.product_code == record.product_code, MasterBatchRecord.stage == record.stage,
            MasterBatchRecord.state == "effective", MasterBatchRecord.id != record.id)):
        previous.state, previous.superseded_at = "superseded", now
    session.flush()
    record.effective_at = now


def _retired(_session: Session, record: Any, _actor: Actor) -> None:
    record.superseded_at = utcnow()


MBR_LIFECYCLE = register_lifecycle(Lifecycle(
    record_type="master_batch_record",
    model=MasterBatchRecord,
    collection="master-batch-records",
    view_permission="mbr.view",
    initial="draft",
    states={
        "draft": "being written; editable by its authors",
        "in_review": "submitted and signed by its author; production reviews, QA approves",
        "approved": "approved by QA; becomes effective when QA makes it so",
        "effective": "the recipe in force for its product and stage; batches are ordered from it",
        "superseded": "replaced by a later version or retired; kept for the batches made from it",
        "withdrawn": "abandoned before it became effective",
    },
    transitions=(
        Transition("submit", ("draft",), "in_review", "mbr.author", "Submit for review", "提交审核",
                   signature="authored", guard=_has_steps),
        Transition("return", ("in_review", "approved"), "draft", "mbr.review", "Return to author", "退回修改",
                   reason_required=True),
        Transition("approve", ("in_review",), "approved", "mbr.approve", "Approve", "批准",
                   signature="approved", guard=_reviewed_by_production),
        Transition("make_effective", ("approved",), "effective", "mbr.approve", "Make effective", "生效",
                   effect=_supersede_effective),
        Transition("retire", ("effective",), "superseded", "mbr.approve", "Retire", "停用",
                   reason_required=True, effect=_retired),
        Transition("withdraw", ("draft", "in_review", "approved"), "withdrawn", "mbr.author", "Withdraw", "撤回",
                   reason_required=True),
    ),
))

# ---------------------------------------------------------------- batches


def _mbr_still_effective(session: Session, record: Any, _actor: Actor) -> str | None:
    state = session.scalar(select(MasterBatchRecord.state).where(MasterBatchRecord.id == record.mbr_id))
    if state != "effective":
        return (f"Master batch record {record.mbr_number} v{record.mbr_version} is {state}; "
                "cancel this order and order the batch again from the effective version.")
    return None


def unfinished_work(session: Session, batch: Batch) -> list[str]:
    """Every reason the batch's execution is not finished (empty when it is)."""
    reasons = []
    open_steps = session.scalars(select(BatchStep.code).where(
        BatchStep.batch_id == batch.id, BatchStep.state != "done").order_by(BatchStep.seq)).all()
    if open_steps:
        shown = ", ".join(open_steps[:10]) + (" …" if len(open_steps) > 10 else "")
        reasons.append(f"{len(open_steps)} step(s) not signed: {shown}.")
    lines = session.scalars(select(BatchMaterial.material_code).where(
        BatchMaterial.batch_id == batch.id, BatchMaterial.dispensed.is_(True),
        BatchMaterial.complete.is_(False)).order_by(BatchMaterial.line_no)).all()
    if lines:
        reasons.append("Not fully dispensed: " + ", ".join(lines) + ".")
    return reasons


def _execution_finished(session: Session, record: Any, _actor: Actor) -> str | None:
    reasons = unfinished_work(session, record)
    if record.actual_yield is None:
        reasons.append("Record the yield and reconciliation first.")
    return " ".join(reasons) or None


def release_problems(session: Session, batch: Batch) -> list[str]:
    """Every reason QA may not release the batch (empty when it may): EU GMP Annex 16 §1.7."""
    from pharmos.quality import service as quality

    reasons = unfinished_work(session, batch)
    unreviewed = session.scalar(select(func.count()).select_from(BatchException).where(
        BatchException.batch_id == batch.id, BatchException.state != "reviewed")) or 0
    if unreviewed:
        reasons.append(f"{unreviewed} exception(s) not reviewed.")
    # Every deviation raised from the batch links it (exceptions.py), so the holds name them all.
    for hold in quality.open_quality_holds(record_type="batch", reference=batch.number):
        reasons.append(f"Deviation {hold.deviation_number} is {hold.state}.")
    return reasons


def _releasable(session: Session, record: Any, _actor: Actor) -> str | None:
    return " ".join(release_problems(session, record)) or None


def _effect_complete(session: Session, record: Any, actor: Actor) -> None:
    from pharmos.batches.completion import finish_execution

    finish_execution(session, batch=record, actor=actor)


def _effect_release(session: Session, record: Any, actor: Actor) -> None:
    from pharmos.batches.completion import release_output

    release_output(session, batch=record, actor=actor)
    record.decided_at = utcnow()


def _effect_reject(session: Session, record: Any, actor: Actor) -> None:
    from pharmos.batches.completion import reject_output

    reject_output(session, batch=record, actor=actor)
    record.decided_at = utcnow()


def _effect_start(_session: Session, record: Any, _actor: Actor) -> None:
    from pharmos.batches.execution import open_first_steps

    record.started_at = utcnow()
    open_first_steps(_session, batch=record)


def _effect_cancel(session: Session, record: Any, actor: Actor) -> None:
    from pharmos.batches.orders import cancel_reservations

    cancel_reservations(session, batch=record, actor=actor)


def _effect_hold(session: Session, record: Any, _actor: Actor) -> None:
    # The reason given with the transition is what the shop floor sees on the held batch.
    context = session.info.get("audit")
    record.hold_reason = (getattr(context, "reason", None) or "Put on hold")[:2000]


def _effect_resume(_session: Session, record: Any, _actor: Actor) -> None:
    record.hold_reason = ""


BATCH_LIFECYCLE = register_lifecycle(Lifecycle(
    record_type="batch",
    model=Batch,
    collection="batches",
    view_permission="batches.view",
    initial="planned",
    states={
        "planned": "ordered from the effective recipe; materials reserved; not started",
        "in_progress": "being executed on the shop floor, one step at a time",
        "on_hold": "stopped by QA or by a critical exception; no step may be signed",
        "in_review": "executed and reconciled; output lot in quarantine; QA reviews by exception",
        "released": "released by QA with a signature; the output lot is released",
        "rejected": "rejected by QA with a signature; the output lot is rejected",
        "cancelled": "cancelled before it started; reservations returned",
    },
    transitions=(
        Transition("start", ("planned",), "in_progress", "batches.execute", "Start batch", "开始生产",
                   guard=_mbr_still_effective, effect=_effect_start),
        Transition("hold", ("in_progress", "in_review"), "on_hold", "batches.hold", "Put on hold", "暂停",
                   reason_required=True, effect=_effect_hold),
        Transition("resume", ("on_hold",), "in_progress", "batches.hold", "Resume", "恢复执行",
                   reason_required=True, effect=_effect_resume),
        Transition("complete", ("in_progress",), "in_review", "batches.execute", "Complete execution", "完成执行",
                   guard=_execution_finished, effect=_effect_complete),
        # EU GMP Annex 16 §1.7 / 药品GMP 第二百二十九条: QA releases only a fully reviewed record.
        Transition("release", ("in_review",), "released", "batches.release", "Release", "放行",
                   signature="released", guard=_releasable, effect=_effect_release),
        Transition("reject", ("in_review", "on_hold"), "rejected", "batches.release", "Reject", "拒绝",
                   signature="rejected", reason_required=True, effect=_effect_reject),
        Transition("cancel", ("planned",), "cancelled", "batches.plan", "Cancel order", "取消",
                   reason_required=True, effect=_effect_cancel),
    ),
))
