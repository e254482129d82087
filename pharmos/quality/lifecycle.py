"""Lifecycles of the quality module: deviations and CAPA."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmos.compliance.lifecycle import Lifecycle, Transition, register_lifecycle
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today, utcnow
from pharmos.quality.models import Capa, Deviation

OPEN_CAPA_STATES = ("open", "implemented")
CLOSED_DEVIATION_STATES = ("closed", "cancelled")

# ---------------------------------------------------------------- deviations


def _classified(_session: Session, record: Any, _actor: Actor) -> str | None:
    if not record.classification:
        return "Classify the deviation (minor, major or critical) first."
    if None in (record.severity, record.occurrence, record.detectability):
        return "Score severity, occurrence and detectability first."
    if record.due_on is None:
        return "Set the due date first."
    return None


def _is_investigator(_session: Session, record: Any, actor: Actor) -> str | None:
    if record.investigator_id is None:
        return "Assign an investigator first."
    if record.investigator_id != actor.user_id:
        return f"Only the investigator ({record.investigator}) can do this."
    return None


def investigation_problem(record: Deviation) -> str | None:
    """What the investigation still lacks before QA can review it, or None (shown beside the button)."""
    missing = [label for label, present in (
        ("root cause category", bool(record.root_cause_category)),
        ("root cause", bool(record.root_cause.strip())),
        # EU GMP Part I 1.4(xiv) / 药品GMP 第二百五十条: the impact on product quality is assessed.
        ("impact assessment", bool(record.impact_assessment.strip()) and record.product_impact is not None),
        ("conclusion", bool(record.conclusion.strip())),
    ) if not present]
    return f"Record the {', '.join(missing)} first." if missing else None


def _investigation_complete(session: Session, record: Any, actor: Actor) -> str | None:
    return _is_investigator(session, record, actor) or investigation_problem(record)


def _not_the_reporter(_session: Session, record: Any, actor: Actor) -> str | None:
    if record.author_id is not None and record.author_id == actor.user_id:
        return "The person who reported the deviation cannot approve it."
    return None


def _approved(_session: Session, record: Any, _actor: Actor) -> None:
    record.approved_at = utcnow()


def _capas_closed(session: Session, record: Any, actor: Actor) -> str | None:
    open_numbers = list(session.scalars(select(Capa.number).where(
        Capa.deviation_id == record.id, Capa.state.in_(OPEN_CAPA_STATES)).order_by(Capa.id)))
    if open_numbers:
        return f"CAPA still open: {', '.join(open_numbers)}."
    return _not_the_reporter(session, record, actor)


def _closed(_session: Session, record: Any, _actor: Actor) -> None:
    record.closed_at = utcnow()


DEVIATION_LIFECYCLE = register_lifecycle(Lifecycle(
    record_type="deviation",
    model=Deviation,
    collection="deviations",
    view_permission="quality.view",
    initial="reported",
    states={
        "reported": "reported with immediate action; awaiting QA classification; linked lots and batches on hold",
        "classified": "classified by QA with a risk score and due date; awaiting the investigation",
        "investigating": "root cause and impact being investigated",
        "pending_approval": "investigation signed by the investigator; awaiting QA approval",
        "approved": "investigation approved by QA; CAPA being carried out",
        "closed": "every CAPA closed; deviation closed by QA; holds released",
        "cancelled": "not a deviation, or a duplicate; the reason is recorded",
    },
    transitions=(
        Transition("classify", ("reported",), "classified", "deviations.classify", "Classify", "分级",
                   guard=_classified),
        Transition("start_investigation", ("classified",), "investigating", "deviations.investigate",
                   "Start investigation", "开始调查", guard=_is_investigator),
        Transition("submit", ("investigating",), "pending_approval", "deviations.investigate",
                   "Submit for approval", "提交审批", signature="performed", guard=_investigation_complete),
        Transition("return", ("pending_approval",), "investigating", "deviations.approve", "Return to investigator",
                   "退回调查", reason_required=True),
        # 药品GMP 第二百五十二条: QA approves the investigation and its conclusion.
        Transition("approve", ("pending_approval",), "approved", "deviations.approve", "Approve", "批准",
                   signature="approved", guard=_not_the_reporter, effect=_approved),
        Transition("close", ("approved",), "closed", "deviations.approve", "Close", "关闭", signature="approved",
                   guard=_capas_closed, effect=_closed),
        Transition("cancel", ("reported", "classified"), "cancelled", "deviations.classify", "Cancel", "取消",
                   signature="approved", reason_required=True, effect=_closed),
    ),
))

# ---------------------------------------------------------------- CAPA


def _owner_implemented(_session: Session, record: Any, actor: Actor) -> str | None:
    if record.owner_id != actor.user_id:
        return f"Only the owner ({record.owner}) signs the implementation."
    if not record.implementation_summary.strip():
        return "Describe what was implemented first."
    return None


def _implemented(_session: Session, record: Any, _actor: Actor) -> None:
    from datetime import timedelta

    record.implemented_at = utcnow()
    record.effectiveness_due_on = site_today() + timedelta(days=record.effectiveness_check_days)


def _effective(_session: Session, record: Any, _actor: Actor) -> str | None:
    # ICH Q10 3.2.2: a CAPA is closed only when its effectiveness has been verified.
    if record.effectiveness_due_on is not None and record.effectiveness_due_on > site_today():
        return f"The effectiveness check is due on {record.effectiveness_due_on.isoformat()}."
    if not record.effectiveness_result.strip() or record.effective is None:
        return "Record the effectiveness check first."
    if not record.effective:
        return "The action was judged not effective; reopen it instead."
    return None


def _capa_closed(_session: Session, record: Any, _actor: Actor) -> None:
    record.closed_at = utcnow()


def _reopened(_session: Session, record: Any, _actor: Actor) -> None:
    record.implemented_at = None
    record.effectiveness_due_on = None


CAPA_LIFECYCLE = register_lifecycle(Lifecycle(
    record_type="capa",
    model=Capa,
    collection="capas",
    view_permission="quality.view",
    initial="open",
    states={
        "open": "assigned to its owner; being implemented",
        "implemented": "implementation signed by the owner; effectiveness check scheduled",
        "closed": "judged effective by QA and closed",
        "cancelled": "no longer needed; the reason is recorded",
    },
    transitions=(
        Transition("implement", ("open",), "implemented", "capas.perform", "Sign implementation", "签署实施完成",
                   signature="performed", guard=_owner_implemented, effect=_implemented),
        Transition("close", ("implemented",), "closed", "capas.verify", "Close as effective", "有效并关闭",
                   signature="approved", guard=_effective, effect=_capa_closed),
        Transition("reopen", ("implemented",), "open", "capas.verify", "Not effective: reopen", "无效：重新打开",
                   reason_required=True, effect=_reopened),
        Transition("cancel", ("open",), "cancelled", "capas.manage", "Cancel", "取消", reason_required=True),
    ),
))
