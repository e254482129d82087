"""Lifecycles of the materials module: material master versions, lots and cycle counts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmos.compliance.lifecycle import Lifecycle, Transition, register_lifecycle, replace_version_in_force
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today, utcnow
from pharmos.materials.models import Container, CycleCount, CycleCountLine, Lot, Material

# ---------------------------------------------------------------- material master


def _supersede_previous(session: Session, record: Any, _actor: Actor) -> None:
    # One approved version per material code: approving a change makes the old one obsolete.
    replace_version_in_force(session, record, identity="code", in_force="approved", replaced="obsolete")
    record.approved_at = utcnow()


MATERIAL_LIFECYCLE = register_lifecycle(Lifecycle(
    record_type="material",
    model=Material,
    collection="materials",
    view_permission="materials.view",
    initial="draft",
    states={
        "draft": "being written or changed; not usable for receipts",
        "approved": "approved by QA; the version in force for receipts and stock",
        "obsolete": "replaced by a later version or withdrawn; kept for its lots' history",
    },
    transitions=(
        Transition("approve", ("draft",), "approved", "materials.approve", "Approve", "批准",
                   signature="approved", effect=_supersede_previous),
        Transition("withdraw", ("draft",), "obsolete", "materials.edit", "Withdraw draft", "撤回草稿",
                   reason_required=True),
        Transition("make_obsolete", ("approved",), "obsolete", "materials.approve", "Make obsolete", "停用",
                   signature="approved", reason_required=True),
    ),
))

# ---------------------------------------------------------------- lots


def releasable_problem(lot: Lot) -> str | None:
    """Why QA may not release the lot now, or None (also shown beside the release button)."""
    today = site_today()
    if lot.expires_on <= today:
        return f"The lot expired on {lot.expires_on.isoformat()}."
    if lot.retest_on is not None and lot.retest_on <= today:
        return f"The retest date {lot.retest_on.isoformat()} has passed; QC must set a new retest date first."
    if not lot.qa_flag_assessed:
        return f"QA must assess the arrival flag first: {lot.qa_flag}"
    return None


def _releasable(_session: Session, record: Any, _actor: Actor) -> str | None:
    return releasable_problem(record)


def _expired(_session: Session, record: Any, _actor: Actor) -> str | None:
    if record.expires_on > site_today():
        return f"The lot does not expire until {record.expires_on.isoformat()}."
    return None


def _stamp(_session: Session, record: Any, _actor: Actor) -> None:
    record.status_changed_at = utcnow()


LOT_LIFECYCLE = register_lifecycle(Lifecycle(
    record_type="lot",
    model=Lot,
    collection="lots",
    view_permission="materials.view",
    initial="quarantine",
    states={
        "quarantine": "received or put on hold; may not be used",
        "under_test": "sampled; QC testing in progress; may not be used",
        "released": "released by QA; usable until its expiry or retest date",
        "rejected": "rejected by QA; to be returned or destroyed, never used",
        "expired": "past its expiry date; never used again",
    },
    transitions=(
        Transition("start_testing", ("quarantine",), "under_test", "lots.test", "Start testing", "开始检验",
                   effect=_stamp),
        # EU GMP Part I 5.61 / 药品GMP 第一百二十九条: only QA-released materials are used.
        Transition("release", ("under_test",), "released", "lots.release", "Release", "放行",
                   signature="released", guard=_releasable, effect=_stamp),
        Transition("reject", ("quarantine", "under_test"), "rejected", "lots.release", "Reject", "拒收",
                   signature="rejected", reason_required=True, effect=_stamp),
        Transition("hold", ("released",), "quarantine", "lots.hold", "Put on hold", "冻结",
                   signature="held", reason_required=True, effect=_stamp),
        Transition("retest", ("released",), "under_test", "lots.test", "Send for retest", "送复验",
                   reason_required=True, effect=_stamp),
        Transition("expire", ("quarantine", "under_test", "released"), "expired", "lots.expire", "Mark expired",
                   "标记过期", guard=_expired, effect=_stamp),
    ),
))

# ---------------------------------------------------------------- cycle counts


def _all_counted(session: Session, record: Any, _actor: Actor) -> str | None:
    missing = session.scalar(select(CycleCountLine.id).where(
        CycleCountLine.count_id == record.id, CycleCountLine.counted.is_(None)).limit(1))
    return "Every container must be counted first." if missing is not None else None


def _mark_counter(_session: Session, record: Any, actor: Actor) -> None:
    record.counted_by_id = actor.user_id


def _post_variances(session: Session, record: Any, actor: Actor) -> None:
    from pharmos.materials.ledger import post_movement

    lines = list(session.scalars(select(CycleCountLine).where(CycleCountLine.count_id == record.id)))
    # Lock every counted container before the first posting takes the audit-chain lock, in id
    # order like the stock services, so an issue running meanwhile cannot deadlock with us.
    containers = {c.id: c for c in session.scalars(
        select(Container).where(Container.id.in_([line.container_id for line in lines]))
        .order_by(Container.id).with_for_update())}
    for line in lines:
        container = containers.get(line.container_id)
        assert container is not None and line.counted is not None
        # The variance is taken against the balance now, not when counting started.
        change = line.counted - container.quantity
        if change != 0:
            lot = session.get(Lot, container.lot_id)
            post_movement(session, kind="adjustment", container=container, change=change, quantity=abs(change),
                          unit=lot.unit if lot else "", actor=actor,
                          reason=f"Cycle count {record.number} variance", reference=record.number)


COUNT_LIFECYCLE = register_lifecycle(Lifecycle(
    record_type="cycle_count",
    model=CycleCount,
    collection="cycle-counts",
    view_permission="materials.view",
    initial="open",
    states={
        "open": "containers listed; counting in progress",
        "submitted": "all containers counted and signed by the counter; variances await approval",
        "approved": "variances approved and posted to the ledger as adjustments",
        "cancelled": "abandoned; nothing posted",
    },
    transitions=(
        Transition("submit", ("open",), "submitted", "stock.count", "Submit count", "提交盘点",
                   signature="performed", guard=_all_counted, effect=_mark_counter),
        Transition("recount", ("submitted",), "open", "stock.approve_count", "Send back for recount", "退回重盘",
                   reason_required=True),
        Transition("approve", ("submitted",), "approved", "stock.approve_count", "Approve variances", "批准差异",
                   signature="approved", effect=_post_variances),
        Transition("cancel", ("open", "submitted"), "cancelled", "stock.count", "Cancel", "取消",
                   reason_required=True),
    ),
))
