"""Lifecycles of the quality module: deviations, CAPA, change controls, document versions, training, complaints."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmos.compliance.lifecycle import Lifecycle, Transition, register_lifecycle
from pharmos.compliance.signatures import signatures_for
from pharmos.core.actor import Actor
from pharmos.core.clock import add_months, site_today, utcnow
from pharmos.quality.models import (
    Capa,
    ChangeAssessment,
    ChangeControl,
    ChangeTask,
    Complaint,
    ControlledDocument,
    Deviation,
    DocumentVersion,
    TrainingRecord,
)

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

# ---------------------------------------------------------------- change control

OPEN_CHANGE_STATES = ("proposed", "under_assessment", "approved", "effectiveness_review")


def _change_classified(session: Session, record: Any, _actor: Actor) -> str | None:
    if not record.classification:
        return "Classify the change (minor, moderate or major) first."
    if record.regulatory_filing is None:
        return "State whether the change needs a regulatory filing first."
    if session.scalar(select(ChangeAssessment.id).where(ChangeAssessment.change_id == record.id).limit(1)) is None:
        return "Name at least one function to assess the change first."
    return None


def _change_assessed(session: Session, record: Any, _actor: Actor) -> str | None:
    # EU GMP Annex 15 §11.5: every affected function has evaluated the change before it is approved.
    rows = list(session.scalars(select(ChangeAssessment).where(ChangeAssessment.change_id == record.id)
                                .order_by(ChangeAssessment.id)))
    pending = [r.function for r in rows if r.decision == "pending"]
    if pending:
        return f"Waiting for the assessment of: {', '.join(pending)}."
    rejected = [r.function for r in rows if r.decision == "rejected"]
    if rejected:
        return f"Rejected by: {', '.join(rejected)}; reject the change or have the function reassess it."
    return None


def _change_approved(_session: Session, record: Any, _actor: Actor) -> None:
    record.approved_at = utcnow()


def _tasks_done(session: Session, record: Any, _actor: Actor) -> str | None:
    states = list(session.scalars(select(ChangeTask.state).where(ChangeTask.change_id == record.id)))
    if not [s for s in states if s != "cancelled"]:
        return "Plan at least one implementation task first."
    open_count = sum(1 for s in states if s == "open")
    if open_count:
        return f"{open_count} implementation task(s) still open."
    return None


def _implemented_change(_session: Session, record: Any, _actor: Actor) -> None:
    record.implemented_at = utcnow()


def _change_effective(_session: Session, record: Any, _actor: Actor) -> str | None:
    # ICH Q10 3.2.3: an evaluation after implementation confirms the change objectives were achieved.
    if not record.effectiveness_review.strip() or record.effective is None:
        return "Record the effectiveness review first."
    if not record.effective:
        return "The change was judged not effective; reopen the implementation instead."
    return None


def _change_closed(_session: Session, record: Any, _actor: Actor) -> None:
    record.closed_at = utcnow()


def _change_reopened(_session: Session, record: Any, _actor: Actor) -> None:
    record.implemented_at = None
    record.effective = None


CHANGE_CONTROL_LIFECYCLE = register_lifecycle(Lifecycle(
    record_type="change_control",
    model=ChangeControl,
    collection="change-controls",
    view_permission="quality.view",
    initial="proposed",
    states={
        "proposed": "proposed and being described; awaiting QA classification",
        "under_assessment": "classified by QA; the named functions assess its impact and sign their approval",
        "approved": "approved by QA after every function approved; implementation tasks under way",
        "effectiveness_review": "every implementation task done; awaiting the effectiveness review",
        "closed": "judged effective and closed by QA",
        "rejected": "rejected by QA with a reason; not to be implemented",
        "cancelled": "withdrawn before approval; the reason is recorded",
    },
    transitions=(
        Transition("classify", ("proposed",), "under_assessment", "change_controls.manage",
                   "Send for assessment", "提交评估", guard=_change_classified),
        # 药品GMP 第二百四十三条: changes are approved by QA before implementation.
        Transition("approve", ("under_assessment",), "approved", "change_controls.manage", "Approve", "批准",
                   signature="approved", guard=_change_assessed, effect=_change_approved),
        Transition("reject", ("under_assessment",), "rejected", "change_controls.manage", "Reject", "拒绝",
                   signature="rejected", reason_required=True, effect=_change_closed),
        Transition("complete_implementation", ("approved",), "effectiveness_review", "change_controls.manage",
                   "Implementation complete", "实施完成", guard=_tasks_done, effect=_implemented_change),
        # ICH Q10 3.2.3: QA verifies the change achieved its objectives before closing it.
        Transition("close", ("effectiveness_review",), "closed", "change_controls.manage", "Close as effective",
                   "有效并关闭", signature="verified", guard=_change_effective, effect=_change_closed),
        Transition("reopen", ("effectiveness_review",), "approved", "change_controls.manage",
                   "Not effective: reopen", "无效：重新实施", reason_required=True, effect=_change_reopened),
        Transition("cancel", ("proposed", "under_assessment"), "cancelled", "change_controls.manage", "Cancel",
                   "取消", reason_required=True, effect=_change_closed),
    ),
))

# ---------------------------------------------------------------- controlled documents


def _is_author(_session: Session, record: Any, actor: Actor) -> str | None:
    if record.author_id != actor.user_id:
        return f"Only the author ({record.author}) can do this."
    return None


def _not_the_author(_session: Session, record: Any, actor: Actor) -> str | None:
    # A review is someone else's judgement; the author withdraws or waits for it instead.
    if record.author_id == actor.user_id:
        return "The author cannot return their own version; withdraw it instead."
    return None


def _ready_for_review(session: Session, record: Any, actor: Actor) -> str | None:
    missing = [label for label, present in (
        ("the file", bool(record.sha256)),
        ("at least one reviewer", bool(record.reviewer_ids)),
        ("the approver", record.approver_id is not None),
        ("the effective date", record.effective_on is not None),
    ) if not present]
    if missing:
        return f"Add {', '.join(missing)} first."
    return _is_author(session, record, actor)


def reviews_missing(session: Session, record: DocumentVersion) -> list[str]:
    """Reviewers of the version who have not (validly) signed it as reviewed."""
    signed = {s.username for s in signatures_for(session, record) if s.meaning == "reviewed" and s.valid}
    return [name for name in record.reviewers if name not in signed]


def _reviewed_and_named_approver(session: Session, record: Any, actor: Actor) -> str | None:
    if record.approver_id != actor.user_id:
        return f"Only the named approver ({record.approver}) can approve this version."
    missing = reviews_missing(session, record)
    if missing:
        return f"Waiting for the review of: {', '.join(missing)}."
    if record.effective_on is None:
        return "Set the effective date first."
    if record.effective_on < site_today():
        return f"The effective date {record.effective_on.isoformat()} has passed; set a new one."
    return None


def _version_approved(_session: Session, record: Any, _actor: Actor) -> None:
    record.approved_at = utcnow()


def _effective_date_reached(_session: Session, record: Any, _actor: Actor) -> str | None:
    if record.effective_on is None:
        return "The version has no effective date."
    if record.effective_on > site_today():
        return f"Becomes effective on {record.effective_on.isoformat()}."
    return None


def _became_effective(session: Session, record: Any, actor: Actor) -> None:
    from pharmos.quality.training import assign_read_and_understood

    # 药品GMP 第一百五十五条: only the current version is in use; the previous one is withdrawn.
    for previous in session.scalars(select(DocumentVersion).where(
            DocumentVersion.document_id == record.document_id, DocumentVersion.state == "effective",
            DocumentVersion.id != record.id)):
        previous.state = "superseded"
        previous.retired_at = utcnow()
    record.effective_at = utcnow()
    document = session.get(ControlledDocument, record.document_id)
    assert document is not None
    document.effective_version = record.version
    document.obsolete = False
    document.next_review_on = add_months(record.effective_on or site_today(), document.review_interval_months)
    session.flush()
    assign_read_and_understood(session, version=record, actor=actor)


def _made_obsolete(session: Session, record: Any, actor: Actor) -> None:
    from pharmos.quality.training import cancel_open_training

    record.retired_at = utcnow()
    document = session.get(ControlledDocument, record.document_id)
    assert document is not None
    document.effective_version = None
    document.obsolete = True
    document.next_review_on = None
    cancel_open_training(session, document_id=record.document_id, actor=actor,
                         reason=f"{document.number} made obsolete")


DOCUMENT_VERSION_LIFECYCLE = register_lifecycle(Lifecycle(
    record_type="document_version",
    model=DocumentVersion,
    collection="document-versions",
    view_permission="quality.view",
    initial="draft",
    states={
        "draft": "being written by its author; file, reviewers, approver and effective date may change",
        "in_review": "signed by the author; reviewers sign it as reviewed, then the named approver approves",
        "approved": "approved with a signature; becomes effective on its effective date",
        "effective": "the version in force: the one people work to and are trained on",
        "superseded": "replaced by a newer effective version; kept for the record",
        "obsolete": "withdrawn from use with no successor; kept for the record",
        "withdrawn": "abandoned before it became effective; the reason is recorded",
    },
    transitions=(
        Transition("submit", ("draft",), "in_review", "documents.author", "Submit for review", "提交审核",
                   signature="authored", guard=_ready_for_review),
        Transition("return", ("in_review",), "draft", "documents.review", "Return to author", "退回作者",
                   reason_required=True, guard=_not_the_author),
        # 药品GMP 第一百五十二条: documents are approved, signed and dated by the authorised person.
        Transition("approve", ("in_review",), "approved", "documents.approve", "Approve", "批准",
                   signature="approved", guard=_reviewed_and_named_approver, effect=_version_approved),
        # Run by the daily job on the effective date (system actor), or by QA once the date is reached.
        Transition("make_effective", ("approved",), "effective", "documents.approve", "Make effective", "生效",
                   guard=_effective_date_reached, effect=_became_effective),
        Transition("make_obsolete", ("effective",), "obsolete", "documents.approve", "Make obsolete", "作废",
                   signature="approved", reason_required=True, effect=_made_obsolete),
        Transition("withdraw", ("draft", "in_review", "approved"), "withdrawn", "documents.author", "Withdraw",
                   "撤回", reason_required=True),
    ),
))

# ---------------------------------------------------------------- training


def _is_trainee(_session: Session, record: Any, actor: Actor) -> str | None:
    if record.user_id != actor.user_id:
        return "Only the trainee signs their own read-and-understood training."
    if record.kind != "read_and_understood":
        return "A trainer records this training (record the assessment)."
    return None


def _training_version_in_force(session: Session, record: Any, actor: Actor) -> str | None:
    problem = _is_trainee(session, record, actor)
    if problem:
        return problem
    version = session.get(DocumentVersion, record.version_id) if record.version_id else None
    if version is None or version.state not in ("approved", "effective"):
        return "This version is no longer in force."
    return None


def _trained_by_someone_else(_session: Session, record: Any, actor: Actor) -> str | None:
    if record.kind == "read_and_understood":
        return "The trainee signs read-and-understood training themselves."
    if record.user_id == actor.user_id:
        return "A trainer cannot record their own training."
    if record.result not in ("pass", "fail"):
        return "Record the result (pass or fail) first."
    # 21 CFR 11.50: the signature attests the result, so it is the trainer who recorded it who signs.
    if record.trainer_id is not None and record.trainer_id != actor.user_id:
        return f"Only the trainer who recorded the result ({record.trainer}) signs it."
    return None


def _training_completed(_session: Session, record: Any, _actor: Actor) -> None:
    record.completed_at = utcnow()


TRAINING_LIFECYCLE = register_lifecycle(Lifecycle(
    record_type="training_record",
    model=TrainingRecord,
    collection="training-records",
    view_permission="quality.view",
    initial="assigned",
    states={
        "assigned": "assigned with a due date; the person is not yet trained on it",
        "completed": "completed: signed by the trainee (read and understood) or by the trainer (assessment)",
        "cancelled": "no longer needed (version replaced, role removed); the reason is recorded",
    },
    transitions=(
        # 21 CFR 11.50: the trainee's signature means "read and understood".
        Transition("acknowledge", ("assigned",), "completed", "training.acknowledge", "Read and understood",
                   "已阅读并理解", signature="acknowledged", guard=_training_version_in_force,
                   effect=_training_completed),
        Transition("complete", ("assigned",), "completed", "training.record", "Record as trained", "记录培训完成",
                   signature="verified", guard=_trained_by_someone_else, effect=_training_completed),
        Transition("cancel", ("assigned",), "cancelled", "training.manage", "Cancel", "取消",
                   reason_required=True),
    ),
))

# ---------------------------------------------------------------- complaints


def _complaint_classified(_session: Session, record: Any, _actor: Actor) -> str | None:
    missing = [label for label, present in (
        ("classification", bool(record.classification)),
        ("category", bool(record.category)),
        ("investigator", record.investigator_id is not None),
        ("due date", record.due_on is not None),
    ) if not present]
    return f"Set the {', '.join(missing)} first." if missing else None


def _complaint_investigated(_session: Session, record: Any, actor: Actor) -> str | None:
    if record.investigator_id != actor.user_id:
        return f"Only the investigator ({record.investigator}) can do this."
    missing = [label for label, present in (
        ("investigation", bool(record.investigation.strip())),
        ("root cause", bool(record.root_cause.strip())),
        ("whether the complaint is justified", record.justified is not None),
    ) if not present]
    return f"Record the {', '.join(missing)} first." if missing else None


def _complaint_approved(_session: Session, record: Any, _actor: Actor) -> None:
    record.approved_at = utcnow()


def _complaint_answered(_session: Session, record: Any, _actor: Actor) -> str | None:
    if not record.response.strip() or record.responded_on is None:
        return "Record the response sent to the complainant first."
    return None


COMPLAINT_LIFECYCLE = register_lifecycle(Lifecycle(
    record_type="complaint",
    model=Complaint,
    collection="complaints",
    view_permission="quality.view",
    initial="received",
    states={
        "received": "received and logged; awaiting QA classification",
        "investigating": "classified by QA with an investigator and a due date; being investigated",
        "pending_approval": "investigation signed by the investigator; awaiting QA approval",
        "approved": "investigation approved by QA; the response is being sent",
        "closed": "response sent and recorded; closed by QA",
        "cancelled": "not a complaint or a duplicate; the reason is recorded",
    },
    transitions=(
        Transition("classify", ("received",), "investigating", "complaints.classify", "Classify", "分级",
                   guard=_complaint_classified),
        Transition("submit", ("investigating",), "pending_approval", "complaints.investigate",
                   "Submit for approval", "提交审批", signature="performed", guard=_complaint_investigated),
        Transition("return", ("pending_approval",), "investigating", "complaints.approve",
                   "Return to investigator", "退回调查", reason_required=True),
        Transition("approve", ("pending_approval",), "approved", "complaints.approve", "Approve", "批准",
                   signature="approved", effect=_complaint_approved),
        # 药品GMP 第二百六十九条: QA verifies the complaint was answered and closes the record.
        Transition("close", ("approved",), "closed", "complaints.approve", "Close", "关闭", signature="verified",
                   guard=_complaint_answered, effect=_closed),
        Transition("cancel", ("received", "investigating"), "cancelled", "complaints.classify", "Cancel", "取消",
                   signature="approved", reason_required=True, effect=_closed),
    ),
))
