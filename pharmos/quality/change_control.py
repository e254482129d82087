"""Change control: proposal, classification, function assessments, implementation tasks, effectiveness.

药品GMP 第二百四十条至第二百四十六条 / EU GMP Annex 15 §11 / ICH Q10 3.2.3: a change to a
validated state is proposed with its justification, classified by QA, evaluated for impact
by every affected function (each signing its approval or rejection), approved by QA before it
is implemented, carried out through owned and dated tasks, and reviewed for effectiveness
before it is closed.

State changes go through ``apply_transition`` (collection ``change-controls``, declared in
``pharmos/quality/lifecycle.py``); the services here set only the fields its guards read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from pharmos.auth import service as auth
from pharmos.auth.service import DirectoryEntry
from pharmos.compliance.signatures import authenticate_signer, sign, signatures_for
from pharmos.core.actor import Actor
from pharmos.core.clock import as_utc, site_today, utcnow
from pharmos.core.db import read_session, transaction
from pharmos.core.errors import (
    Conflict,
    FieldProblem,
    NotFound,
    PermissionDenied,
    ValidationFailed,
    required_reason,
)
from pharmos.core.errors import collect_choice as _choice
from pharmos.core.errors import collect_text as _text
from pharmos.core.errors import raise_problems as _raise
from pharmos.core.numbering import next_number
from pharmos.core.spreadsheets import all_pages, download, export_format
from pharmos.quality.capa import capa_views, create_capa
from pharmos.quality.change_views import ChangeAssessmentView, ChangeControlView, ChangeTaskView
from pharmos.quality.deviations import record_timeline
from pharmos.quality.lifecycle import CHANGE_CONTROL_LIFECYCLE, OPEN_CHANGE_STATES
from pharmos.quality.models import Capa, ChangeAssessment, ChangeControl, ChangeTask
from pharmos.quality.printing import PrintSection, PrintTable, RecordPrintout, audit_rows, printed, text
from pharmos.quality.views import CapaView, QualityTask, TimelineEvent

__all__ = [
    "AFFECTED_RECORD_TYPES",
    "CHANGE_CLASSIFICATIONS",
    "CHANGE_EXPORT_COLUMNS",
    "CHANGE_FUNCTIONS",
    "CHANGE_TYPES",
    "IMPACT_LEVELS",
    "MAJOR_CHANGE_FUNCTIONS",
    "add_change_task",
    "assess_change",
    "cancel_change_task",
    "classify_change",
    "complete_change_task",
    "export_changes",
    "get_change",
    "list_changes",
    "my_change_tasks",
    "print_change_control",
    "propose_change",
    "raise_capa_from_change",
    "record_change_effectiveness",
    "revise_change",
]

CHANGE_TYPES = ("process", "equipment", "material", "facility", "document", "computerized_system",
                "analytical_method", "other")
AFFECTED_RECORD_TYPES = ("material", "equipment", "document", "product", "process", "system", "lot")
# 药品上市后变更管理办法: 微小 / 中等 / 重大.
CHANGE_CLASSIFICATIONS = ("minor", "moderate", "major")
CHANGE_FUNCTIONS = ("production", "qc", "regulatory", "validation", "equipment", "qa", "warehouse", "ehs")
# A major change may need a filing, touches the validated state and is always assessed by QA.
MAJOR_CHANGE_FUNCTIONS = ("regulatory", "qa", "validation")
IMPACT_LEVELS = ("none", "low", "medium", "high")
ASSESSMENT_DECISIONS = ("approved", "rejected")
CHANGE_EXPORT_COLUMNS = (
    "number", "title", "change_type", "classification", "regulatory_filing", "state", "proposed_by", "proposed_at",
    "target_date", "affected_records", "pending_functions", "overdue_tasks", "approved_at", "implemented_at",
    "effective", "closed_at")

_TITLE_MAX = 200
_TEXT_MAX = 10_000
_REFERENCE_MAX = 80
_MAX_AFFECTED = 50
# Tasks are planned while the change is assessed (required actions) or once approved.
_TASK_PLANNING_STATES = ("under_assessment", "approved")


# ---------------------------------------------------------------- input checks


def _future_date(problems: list[FieldProblem], field: str, value: object, *, required: bool) -> date | None:
    if value is None:
        if required:
            problems.append(FieldProblem(field, "A date."))
        return None
    if isinstance(value, datetime) or not isinstance(value, date):
        problems.append(FieldProblem(field, "A date."))
        return None
    if value < site_today():
        problems.append(FieldProblem(field, "A date in the past is not allowed."))
        return None
    return value


def _affected(problems: list[FieldProblem], records: object) -> list[str]:
    if records is None:
        return []
    if isinstance(records, str) or not isinstance(records, Sequence):
        problems.append(FieldProblem("affected_records", "A list of records written as type:reference."))
        return []
    if len(records) > _MAX_AFFECTED:
        problems.append(FieldProblem("affected_records", f"At most {_MAX_AFFECTED} records."))
        return []
    canonical: list[str] = []
    for i, record in enumerate(records):
        field = f"affected_records[{i}]"
        kind, sep, reference = record.partition(":") if isinstance(record, str) else ("", "", "")
        kind, reference = kind.strip().lower(), reference.strip()
        if not sep or kind not in AFFECTED_RECORD_TYPES or not reference:
            problems.append(FieldProblem(field, f"Write it as type:reference, type one of "
                                                f"{', '.join(AFFECTED_RECORD_TYPES)} (e.g. equipment:EQ-BR-002)."))
            continue
        if len(reference) > _REFERENCE_MAX:
            problems.append(FieldProblem(field, f"The reference has at most {_REFERENCE_MAX} characters."))
            continue
        value = f"{kind}:{reference}"
        if value in canonical:
            problems.append(FieldProblem(field, f"{value} is listed twice."))
            continue
        canonical.append(value)
    return canonical


def _person(session: Session, field: str, username: object, permission: str) -> DirectoryEntry:
    name = username.strip().lower() if isinstance(username, str) else ""
    user = auth.directory_entry(session, username=name) if name else None
    if user is None or not user.is_active:
        raise ValidationFailed.on(field, f"No active user named {name!r}.")
    if not auth.holds_permission(session, user_id=user.id, permission=permission):
        raise ValidationFailed.on(field, f"{user.username} does not hold the permission {permission}.")
    return user


def _limit(limit: int) -> int:
    return max(1, min(int(limit), 500))


# ---------------------------------------------------------------- loading and views


def _load(session: Session, change_id: int, *, lock: bool = False) -> ChangeControl:
    row = session.get(ChangeControl, change_id, with_for_update=lock or None)
    if row is None:
        raise NotFound(f"No change control with id {change_id}.")
    return row


def _require_state(row: ChangeControl, states: Sequence[str], doing: str) -> None:
    if row.state not in states:
        message = f"{row.number} is {row.state}; {doing} only while it is {' or '.join(states)}."
        raise Conflict(message, [FieldProblem("change_id", message)])


def _task(session: Session, row: ChangeControl, task_id: int, *, lock: bool = False) -> ChangeTask:
    task = session.get(ChangeTask, task_id, with_for_update=lock or None)
    if task is None or task.change_id != row.id:
        raise NotFound(f"No task {task_id} on {row.number}.")
    return task


def _task_overdue(task: ChangeTask, today: date) -> bool:
    return task.state == "open" and task.due_on < today


def _child_events(events: Sequence[TimelineEvent], label: str) -> list[TimelineEvent]:
    """A child row's trail as lines of its change's timeline, each saying which assessment or task it is about."""
    lines = []
    for event in events:
        if event.action == "signed":
            lines.append(replace(event, summary=f"{label}: {event.summary}"))
        elif event.action == "created":
            lines.append(replace(event, action="text", text=f"{label} added", summary=f"{label} added"))
        elif event.action == "changed":
            summary = f"{label}: changed {', '.join(event.fields)}"
            lines.append(replace(event, action="text", text=summary, summary=summary + (
                f" — {event.reason}" if event.reason else "")))
        elif event.action == "moved":
            summary = f"{label}: {event.old} → {event.new}"
            lines.append(replace(event, action="text", text=summary, summary=summary + (
                f" — {event.reason}" if event.reason else "")))
        else:
            lines.append(replace(event, summary=f"{label}: {event.summary}", text=f"{label}: {event.text}"))
    return lines


def _views(session: Session, rows: Sequence[ChangeControl], *, details: bool = False) -> list[ChangeControlView]:
    """Views of ``rows`` in a fixed number of queries; assessments, tasks, CAPA, signatures, timeline if ``details``."""
    today = site_today()
    ids = [row.id for row in rows]
    assessments: dict[int, list[ChangeAssessment]] = {i: [] for i in ids}
    tasks: dict[int, list[ChangeTask]] = {i: [] for i in ids}
    if ids:
        for a in session.scalars(select(ChangeAssessment).where(ChangeAssessment.change_id.in_(ids))
                                 .order_by(ChangeAssessment.id)):
            assessments[a.change_id].append(a)
        for t in session.scalars(select(ChangeTask).where(ChangeTask.change_id.in_(ids)).order_by(ChangeTask.id)):
            tasks[t.change_id].append(t)
    views = []
    for row in rows:
        extra: dict[str, Any] = {}
        if details:
            assessment_views: list[ChangeAssessmentView] = []
            task_views: list[ChangeTaskView] = []
            timeline: list[TimelineEvent] = []
            signatures = tuple(signatures_for(session, row))
            timeline += record_timeline(session, record_type="change_control", record_id=row.id,
                                        signatures=signatures)
            for a in assessments[row.id]:
                a_signatures = tuple(signatures_for(session, a))
                person = auth.directory_entry(session, username=a.assessor)
                assessment_views.append(ChangeAssessmentView(
                    a.id, a.function, a.assessor, person.full_name if person else a.assessor, a.impact,
                    a.impact_level, a.required_actions, a.decision, as_utc(a.decided_at) if a.decided_at else None,
                    a_signatures))
                timeline += _child_events(record_timeline(session, record_type="change_assessment", record_id=a.id,
                                                          signatures=a_signatures),
                                          f"Assessment {a.function} ({a.assessor})")
            for t in tasks[row.id]:
                t_signatures = tuple(signatures_for(session, t))
                task_views.append(ChangeTaskView(
                    t.id, t.title, t.function, t.owner, t.due_on, t.state, t.evidence,
                    as_utc(t.completed_at) if t.completed_at else None, _task_overdue(t, today), t_signatures))
                timeline += _child_events(record_timeline(session, record_type="change_task", record_id=t.id,
                                                          signatures=t_signatures), f"Task {t.title!r}")
            capas = capa_views(session, list(session.scalars(select(Capa).where(
                Capa.source_type == "change_control", Capa.source_reference == row.number).order_by(Capa.id))))
            extra = {"assessments": tuple(assessment_views), "tasks": tuple(task_views), "capas": tuple(capas),
                     "signatures": signatures, "timeline": tuple(sorted(timeline, key=lambda e: e.at))}
        views.append(ChangeControlView(
            id=row.id, number=row.number, title=row.title, description=row.description,
            justification=row.justification, change_type=row.change_type,
            affected_records=tuple(row.affected_records or ()), proposed_by=row.proposed_by,
            proposed_at=as_utc(row.proposed_at), target_date=row.target_date, classification=row.classification,
            classification_rationale=row.classification_rationale, regulatory_filing=row.regulatory_filing,
            effectiveness_review=row.effectiveness_review, effective=row.effective, state=row.state,
            approved_at=as_utc(row.approved_at) if row.approved_at else None,
            implemented_at=as_utc(row.implemented_at) if row.implemented_at else None,
            closed_at=as_utc(row.closed_at) if row.closed_at else None,
            pending_functions=tuple(a.function for a in assessments[row.id] if a.decision == "pending"),
            overdue_tasks=sum(1 for t in tasks[row.id] if _task_overdue(t, today)), **extra))
    return views


def _detailed(change_id: int) -> ChangeControlView:
    # Read after the commit: the timeline comes from audit entries, which are written at commit.
    with read_session() as session:
        return _views(session, [_load(session, change_id)], details=True)[0]


# ---------------------------------------------------------------- proposal


@dataclass(frozen=True)
class _Proposal:
    title: str
    description: str
    justification: str
    change_type: str
    affected_records: list[str]
    target_date: date | None


def _checked_proposal(*, title: object, description: object, justification: object, change_type: object,
                      affected_records: object, target_date: object) -> _Proposal:
    problems: list[FieldProblem] = []
    proposal = _Proposal(
        title=_text(problems, "title", title, max_length=_TITLE_MAX),
        description=_text(problems, "description", description, max_length=_TEXT_MAX),
        # EU GMP Annex 15 §11.2: the reason for the change is part of the proposal.
        justification=_text(problems, "justification", justification, max_length=_TEXT_MAX),
        change_type=_choice(problems, "change_type", change_type, CHANGE_TYPES),
        affected_records=_affected(problems, affected_records),
        target_date=_future_date(problems, "target_date", target_date, required=False))
    _raise(problems)
    return proposal


def propose_change(*, actor: Actor, title: str, description: str, justification: str, change_type: str,
                   affected_records: Sequence[str] = (), target_date: date | None = None) -> ChangeControlView:
    """Anyone with change_controls.propose describes a change and why; it waits for QA classification."""
    actor.require("change_controls.propose")
    proposal = _checked_proposal(title=title, description=description, justification=justification,
                                 change_type=change_type, affected_records=list(affected_records or ()),
                                 target_date=target_date)
    with transaction(actor=actor, reason="Change proposed") as session:
        row = ChangeControl(
            number=next_number(session, prefix="CC"), title=proposal.title, description=proposal.description,
            justification=proposal.justification, change_type=proposal.change_type,
            affected_records=proposal.affected_records, proposed_by=actor.username, author_id=actor.user_id,
            proposed_at=utcnow(), target_date=proposal.target_date, classification="", classification_rationale="",
            effectiveness_review="", state=CHANGE_CONTROL_LIFECYCLE.initial)
        session.add(row)
        session.flush()
        change_id = row.id
    return _detailed(change_id)


def revise_change(*, actor: Actor, change_id: int, reason: str, title: str | None = None,
                  description: str | None = None, justification: str | None = None, change_type: str | None = None,
                  affected_records: Sequence[str] | None = None,
                  target_date: date | None = None) -> ChangeControlView:
    """The proposer (or QA) corrects the proposal before classification; only the fields given change."""
    if not actor.can("change_controls.manage"):
        actor.require("change_controls.propose")
    problems: list[FieldProblem] = []
    # EU GMP Annex 11 §9: a change to GMP data records why it was made.
    why = _text(problems, "reason", reason, max_length=2000)
    changes: dict[str, Any] = {}
    if title is not None:
        changes["title"] = _text(problems, "title", title, max_length=_TITLE_MAX)
    if description is not None:
        changes["description"] = _text(problems, "description", description, max_length=_TEXT_MAX)
    if justification is not None:
        changes["justification"] = _text(problems, "justification", justification, max_length=_TEXT_MAX)
    if change_type is not None:
        changes["change_type"] = _choice(problems, "change_type", change_type, CHANGE_TYPES)
    if affected_records is not None:
        changes["affected_records"] = _affected(problems, list(affected_records))
    if target_date is not None:
        changes["target_date"] = _future_date(problems, "target_date", target_date, required=True)
    _raise(problems)
    with transaction(actor=actor, reason=why) as session:
        row = _load(session, change_id, lock=True)
        if not actor.can("change_controls.manage") and (row.author_id is None or row.author_id != actor.user_id):
            raise PermissionDenied(f"Only the proposer ({row.proposed_by}) or QA revises {row.number}.")
        _require_state(row, ("proposed",), "the proposal is revised")
        for name, value in changes.items():
            setattr(row, name, value)
        session.flush()
    return _detailed(change_id)


# ---------------------------------------------------------------- classification and assessment


def classify_change(*, actor: Actor, change_id: int, classification: str, rationale: str, regulatory_filing: bool,
                    functions: Mapping[str, str]) -> ChangeControlView:
    """QA classifies the change and names the functions that assess it, each with its assessor.

    The ``classify`` transition then sends it for assessment; until then QA may classify again,
    which replaces the named functions.
    """
    actor.require("change_controls.manage")
    problems: list[FieldProblem] = []
    kind = _choice(problems, "classification", classification, CHANGE_CLASSIFICATIONS)
    why = _text(problems, "rationale", rationale, max_length=_TEXT_MAX)
    if not isinstance(regulatory_filing, bool):
        problems.append(FieldProblem("regulatory_filing", "Yes or no."))
    named: dict[str, str] = {}
    if not isinstance(functions, Mapping) or not functions:
        problems.append(FieldProblem("functions", "Name at least one function and its assessor."))
    else:
        for function, username in functions.items():
            key = function.strip().lower() if isinstance(function, str) else ""
            if key not in CHANGE_FUNCTIONS:
                problems.append(FieldProblem(f"functions.{function}",
                                             f"Choose functions among {', '.join(CHANGE_FUNCTIONS)}."))
            elif not isinstance(username, str) or not username.strip():
                problems.append(FieldProblem(f"functions.{key}", "Name the assessor."))
            else:
                named[key] = username.strip().lower()
        # 药品上市后变更管理办法 / EU GMP Annex 15 §11.4: a major change is assessed for its filing,
        # its validation and by QA.
        keys = {f.strip().lower() for f in functions if isinstance(f, str)}
        missing = [f for f in MAJOR_CHANGE_FUNCTIONS if f not in keys]
        if kind == "major" and missing:
            problems.append(FieldProblem("functions", f"A major change is assessed by {', '.join(missing)} too."))
    _raise(problems)
    with transaction(actor=actor, reason=why) as session:
        row = _load(session, change_id, lock=True)
        _require_state(row, ("proposed",), "it is classified")
        assessors: dict[str, DirectoryEntry] = {}
        for function, username in named.items():
            try:
                assessors[function] = _person(session, f"functions.{function}", username, "change_controls.assess")
            except ValidationFailed as refused:
                problems.extend(refused.fields)
                continue
            # 21 CFR 11.10 / ICH Q10 3.2.3: the proposer never evaluates or approves their own change.
            if row.author_id is not None and assessors[function].id == row.author_id:
                problems.append(FieldProblem(f"functions.{function}",
                                             f"{username} proposed the change and cannot assess it."))
        _raise(problems)
        existing = {a.function: a for a in session.scalars(select(ChangeAssessment).where(
            ChangeAssessment.change_id == row.id))}
        for function, old in existing.items():
            if function not in assessors:
                session.delete(old)
        session.flush()
        for function, user in assessors.items():
            assessment = existing.get(function)
            if assessment is None:
                session.add(ChangeAssessment(change_id=row.id, function=function, assessor_id=user.id,
                                             assessor=user.username, impact="", impact_level="", required_actions="",
                                             decision="pending", proposer_id=row.author_id))
            elif assessment.assessor_id != user.id:
                assessment.assessor_id, assessment.assessor = user.id, user.username
        row.classification = kind
        row.classification_rationale = why
        row.regulatory_filing = regulatory_filing
        session.flush()
    return _detailed(change_id)


def _assessment_for(session: Session, row: ChangeControl, function: str, actor: Actor, *,
                    lock: bool = False) -> ChangeAssessment:
    stmt = select(ChangeAssessment).where(ChangeAssessment.change_id == row.id, ChangeAssessment.function == function)
    assessment = session.scalar(stmt.with_for_update() if lock else stmt)
    if assessment is None:
        raise ValidationFailed.on("function", f"QA did not ask {function} to assess {row.number}.")
    _require_state(row, ("under_assessment",), "the functions assess it")
    # EU GMP Annex 15 §11.5: each function's evaluation is attributable to the person QA named for it.
    if assessment.assessor_id != actor.user_id:
        raise PermissionDenied(f"Only the named assessor ({assessment.assessor}) assesses {function} "
                               f"for {row.number}.")
    if row.author_id is not None and row.author_id == actor.user_id:
        raise PermissionDenied("The person who proposed the change cannot assess it.")
    return assessment


def assess_change(*, actor: Actor, change_id: int, function: str, impact: str, impact_level: str,
                  required_actions: str, decision: str, password: str, otp: str | None = None) -> ChangeControlView:
    """The named assessor records the function's impact assessment and signs it "approved" or "rejected"."""
    actor.require("change_controls.assess")
    problems: list[FieldProblem] = []
    key = _choice(problems, "function", function, CHANGE_FUNCTIONS)
    impact_text = _text(problems, "impact", impact, max_length=_TEXT_MAX)
    level = _choice(problems, "impact_level", impact_level, IMPACT_LEVELS)
    actions = _text(problems, "required_actions", required_actions, max_length=_TEXT_MAX, required=False)
    verdict = _choice(problems, "decision", decision, ASSESSMENT_DECISIONS)
    if not password:
        problems.append(FieldProblem("password", "Re-enter your password to sign."))
    _raise(problems)
    with read_session() as session:
        _assessment_for(session, _load(session, change_id), key, actor)
    # 21 CFR 11.200(a): the signer re-enters their credentials before anything is written.
    proof = authenticate_signer(actor=actor, password=password, otp=otp)
    reason = f"Impact assessment ({key}): {verdict}"
    with transaction(actor=actor, reason=reason) as session:
        row = _load(session, change_id, lock=True)
        assessment = _assessment_for(session, row, key, actor, lock=True)
        assessment.impact, assessment.impact_level, assessment.required_actions = impact_text, level, actions
        assessment.decision, assessment.decided_at = verdict, utcnow()
        session.flush()
        # 21 CFR 11.50: the assessment carries its signer's name, time and meaning; a re-assessment signs again.
        sign(session, record=assessment, meaning=verdict, actor=actor, proof=proof, reason=reason)
    return _detailed(change_id)


# ---------------------------------------------------------------- implementation


def add_change_task(*, actor: Actor, change_id: int, title: str, owner_username: str, due_on: date | None,
                    function: str = "") -> ChangeControlView:
    """QA plans an implementation task with its owner and due date."""
    actor.require("change_controls.manage")
    problems: list[FieldProblem] = []
    title_text = _text(problems, "title", title, max_length=_TITLE_MAX)
    due = _future_date(problems, "due_on", due_on, required=True)
    key = _choice(problems, "function", function, CHANGE_FUNCTIONS) if function else ""
    if not isinstance(owner_username, str) or not owner_username.strip():
        problems.append(FieldProblem("owner_username", "Required."))
    _raise(problems)
    assert due is not None
    with transaction(actor=actor, reason=f"Implementation task: {title_text}") as session:
        row = _load(session, change_id, lock=True)
        _require_state(row, _TASK_PLANNING_STATES, "implementation tasks are planned")
        owner = _person(session, "owner_username", owner_username, "capas.perform")
        session.add(ChangeTask(change_id=row.id, title=title_text, function=key, owner_id=owner.id,
                               owner=owner.username, due_on=due, state="open", evidence=""))
        session.flush()
    return _detailed(change_id)


def _owned_open_task(session: Session, row: ChangeControl, task_id: int, actor: Actor, *,
                     lock: bool = False) -> ChangeTask:
    task = _task(session, row, task_id, lock=lock)
    if task.owner_id != actor.user_id:
        raise PermissionDenied(f"Only the task's owner ({task.owner}) completes it.")
    if task.state != "open":
        raise Conflict(f"The task is {task.state}.", [FieldProblem("task_id", f"The task is {task.state}.")])
    _require_state(row, ("approved",), "implementation tasks are completed")
    return task


def complete_change_task(*, actor: Actor, change_id: int, task_id: int, evidence: str, password: str,
                         otp: str | None = None) -> ChangeControlView:
    """The task's owner records the evidence of what was done and signs it "performed"."""
    actor.require("capas.perform")
    problems: list[FieldProblem] = []
    evidence_text = _text(problems, "evidence", evidence, max_length=_TEXT_MAX)
    if not password:
        problems.append(FieldProblem("password", "Re-enter your password to sign."))
    _raise(problems)
    with read_session() as session:
        _owned_open_task(session, _load(session, change_id), task_id, actor)
    proof = authenticate_signer(actor=actor, password=password, otp=otp)
    with transaction(actor=actor, reason="Implementation task completed") as session:
        row = _load(session, change_id, lock=True)
        task = _owned_open_task(session, row, task_id, actor, lock=True)
        task.evidence, task.state, task.completed_at = evidence_text, "done", utcnow()
        session.flush()
        # 药品GMP 第二百四十五条: the implementation is recorded and attributable to who carried it out.
        sign(session, record=task, meaning="performed", actor=actor, proof=proof, reason=f"Task: {task.title}")
    return _detailed(change_id)


def cancel_change_task(*, actor: Actor, change_id: int, task_id: int, reason: str) -> ChangeControlView:
    """QA cancels a task no longer needed; the reason is recorded."""
    actor.require("change_controls.manage")
    why = required_reason(reason)
    with transaction(actor=actor, reason=why) as session:
        row = _load(session, change_id, lock=True)
        task = _task(session, row, task_id, lock=True)
        _require_state(row, _TASK_PLANNING_STATES, "implementation tasks are cancelled")
        if task.state != "open":
            raise Conflict(f"The task is {task.state}.", [FieldProblem("task_id", f"The task is {task.state}.")])
        task.state = "cancelled"
        session.flush()
    return _detailed(change_id)


def record_change_effectiveness(*, actor: Actor, change_id: int, review: str, effective: bool) -> ChangeControlView:
    """QA, not the proposer, records whether the implemented change achieved its objective."""
    actor.require("change_controls.manage")
    problems: list[FieldProblem] = []
    review_text = _text(problems, "review", review, max_length=_TEXT_MAX)
    if not isinstance(effective, bool):
        problems.append(FieldProblem("effective", "Yes or no."))
    _raise(problems)
    with transaction(actor=actor, reason="Change effectiveness reviewed") as session:
        row = _load(session, change_id, lock=True)
        _require_state(row, ("effectiveness_review",), "the effectiveness review is recorded")
        # ICH Q10 3.2.3: the evaluation after implementation is independent of whoever asked for the change.
        if row.author_id is not None and row.author_id == actor.user_id:
            raise PermissionDenied("The person who proposed the change cannot review its effectiveness.")
        row.effectiveness_review, row.effective = review_text, effective
        session.flush()
    return _detailed(change_id)


def raise_capa_from_change(*, actor: Actor, change_id: int, kind: str, title: str, owner_username: str,
                           due_on: date, effectiveness_criteria: str, description: str = "",
                           effectiveness_check_days: int | None = None) -> CapaView:
    """A CAPA whose source is this change control (its number as the source reference)."""
    actor.require("capas.manage")
    with read_session() as session:
        number = _load(session, change_id).number
    return create_capa(actor=actor, kind=kind, title=title, description=description, source_type="change_control",
                       source_reference=number, owner_username=owner_username, due_on=due_on,
                       effectiveness_criteria=effectiveness_criteria,
                       effectiveness_check_days=effectiveness_check_days)


# ---------------------------------------------------------------- queries


def get_change(*, actor: Actor, change_id: int) -> ChangeControlView:
    actor.require("quality.view")
    return _detailed(change_id)


def list_changes(*, actor: Actor, state: str | None = None, change_type: str | None = None,
                 classification: str | None = None, assessor: str | None = None, query: str | None = None,
                 open_only: bool = False, after_id: int | None = None, limit: int = 50) -> list[ChangeControlView]:
    """Change controls in ascending id order (cursor ``after_id``), without details; three queries."""
    actor.require("quality.view")
    if state is not None and state not in CHANGE_CONTROL_LIFECYCLE.states:
        raise ValidationFailed.on("state", f"Choose one of {', '.join(CHANGE_CONTROL_LIFECYCLE.states)}.")
    if change_type is not None and change_type not in CHANGE_TYPES:
        raise ValidationFailed.on("change_type", f"Choose one of {', '.join(CHANGE_TYPES)}.")
    if classification is not None and classification not in CHANGE_CLASSIFICATIONS:
        raise ValidationFailed.on("classification", f"Choose one of {', '.join(CHANGE_CLASSIFICATIONS)}.")
    with read_session() as session:
        stmt = select(ChangeControl).order_by(ChangeControl.id).limit(_limit(limit))
        if state:
            stmt = stmt.where(ChangeControl.state == state)
        if change_type:
            stmt = stmt.where(ChangeControl.change_type == change_type)
        if classification:
            stmt = stmt.where(ChangeControl.classification == classification)
        if open_only:
            stmt = stmt.where(ChangeControl.state.in_(OPEN_CHANGE_STATES))
        if assessor:
            stmt = stmt.where(exists().where(ChangeAssessment.change_id == ChangeControl.id,
                                             ChangeAssessment.assessor == assessor.strip().lower()))
        if query and query.strip():
            pattern = f"%{query.strip()}%"
            stmt = stmt.where(or_(ChangeControl.number.ilike(pattern), ChangeControl.title.ilike(pattern),
                                  ChangeControl.description.ilike(pattern)))
        if after_id is not None:
            stmt = stmt.where(ChangeControl.id > after_id)
        return _views(session, list(session.scalars(stmt)))


def export_changes(*, actor: Actor, fmt: str = "csv", state: str | None = None, change_type: str | None = None,
                   classification: str | None = None, assessor: str | None = None, query: str | None = None,
                   open_only: bool = False) -> tuple[bytes, str, str]:
    """Change controls matching the list filters as CSV or Excel: (content, media type, filename)."""
    actor.require("quality.view")
    fmt = export_format(fmt)
    rows = all_pages(lambda after: list_changes(
        actor=actor, state=state, change_type=change_type, classification=classification, assessor=assessor,
        query=query, open_only=open_only, after_id=after, limit=500), lambda c: c.id)
    data = [[c.number, c.title, c.change_type, c.classification, c.regulatory_filing, c.state, c.proposed_by,
             c.proposed_at, c.target_date, "; ".join(c.affected_records), ", ".join(c.pending_functions),
             c.overdue_tasks, c.approved_at, c.implemented_at, c.effective, c.closed_at] for c in rows]
    return download(fmt, CHANGE_EXPORT_COLUMNS, data, name="change-controls", sheet="Change controls 变更控制")


def my_change_tasks(*, actor: Actor) -> list[QualityTask]:
    """What this person should do now on change controls: assess, approve, implement, review effectiveness."""
    actor.require("quality.view")
    today = site_today()
    me = actor.user_id
    tasks: list[QualityTask] = []
    with read_session() as session:
        if me is not None and actor.can("change_controls.assess"):
            for change_id, number, title, target in session.execute(
                    select(ChangeControl.id, ChangeControl.number, ChangeControl.title, ChangeControl.target_date)
                    .join(ChangeAssessment, ChangeAssessment.change_id == ChangeControl.id)
                    .where(ChangeAssessment.assessor_id == me, ChangeAssessment.decision == "pending",
                           ChangeControl.state == "under_assessment").order_by(ChangeAssessment.id)):
                tasks.append(QualityTask("change_control", change_id, number, title, "assess_change", target,
                                         target is not None and target < today))
        if actor.can("change_controls.manage"):
            not_approved = exists().where(ChangeAssessment.change_id == ChangeControl.id,
                                          ChangeAssessment.decision != "approved")
            assessed = exists().where(ChangeAssessment.change_id == ChangeControl.id)
            for change_id, number, title, target, author in session.execute(
                    select(ChangeControl.id, ChangeControl.number, ChangeControl.title, ChangeControl.target_date,
                           ChangeControl.author_id)
                    .where(ChangeControl.state == "under_assessment", assessed, ~not_approved)
                    .order_by(ChangeControl.id)):
                # 药品GMP 第二百四十三条: QA approves changes it did not propose.
                if me is None or author != me:
                    tasks.append(QualityTask("change_control", change_id, number, title, "approve_change", target,
                                             target is not None and target < today))
            for change_id, number, title, author in session.execute(
                    select(ChangeControl.id, ChangeControl.number, ChangeControl.title, ChangeControl.author_id)
                    .where(ChangeControl.state == "effectiveness_review").order_by(ChangeControl.id)):
                if me is None or author != me:
                    tasks.append(QualityTask("change_control", change_id, number, title,
                                             "review_change_effectiveness", None, False))
        if me is not None:
            for change_id, number, task_title, due in session.execute(
                    select(ChangeControl.id, ChangeControl.number, ChangeTask.title, ChangeTask.due_on)
                    .join(ChangeControl, ChangeControl.id == ChangeTask.change_id)
                    .where(ChangeTask.owner_id == me, ChangeTask.state == "open", ChangeControl.state == "approved")
                    .order_by(ChangeTask.id)):
                tasks.append(QualityTask("change_control", change_id, number, task_title, "implement_change_task",
                                         due, due < today))
    return sorted(tasks, key=lambda t: (not t.overdue, t.due_on or date.max, t.number, t.action))


# ---------------------------------------------------------------- printing


def print_change_control(*, actor: Actor, change_id: int) -> tuple[bytes, str, str]:
    """The change control as a PDF with its assessments, tasks, signatures and audit trail (printing audited)."""
    c = get_change(actor=actor, change_id=change_id)
    with read_session() as session:
        audit = sorted(
            audit_rows(session, record_type="change_control", record_ids=[c.id])
            + audit_rows(session, record_type="change_assessment", record_ids=[a.id for a in c.assessments])
            + audit_rows(session, record_type="change_task", record_ids=[t.id for t in c.tasks]),
            key=lambda row: row.at)
    signatures = sorted(c.signatures + tuple(s for a in c.assessments for s in a.signatures)
                        + tuple(s for t in c.tasks for s in t.signatures), key=lambda s: s.signed_at)
    printout = RecordPrintout(
        kind="Change control / 变更控制", number=c.number, title=c.title, state=c.state,
        sections=(
            PrintSection("Proposal / 变更申请", (
                ("Change type / 变更类型", c.change_type), ("Description / 变更描述", c.description),
                ("Justification / 变更理由", c.justification),
                ("Affected records / 影响对象", text(c.affected_records)),
                ("Target date / 目标日期", text(c.target_date)),
                ("Proposed by / 申请人", f"{c.proposed_by}, {text(c.proposed_at)}"))),
            PrintSection("Classification / 分级", (
                ("Class / 级别", text(c.classification)), ("Rationale / 理由", text(c.classification_rationale)),
                ("Regulatory filing / 需要注册申报", text(c.regulatory_filing)),
                ("Approved at / 批准时间", text(c.approved_at)))),
            PrintSection("Effectiveness / 有效性", (
                ("Implemented at / 实施完成时间", text(c.implemented_at)),
                ("Effectiveness review / 有效性评价", text(c.effectiveness_review)),
                ("Effective / 有效", text(c.effective)), ("Closed at / 关闭时间", text(c.closed_at)))),
        ),
        tables=(
            PrintTable("Impact assessments / 影响评估",
                       ("Function / 部门", "Assessor / 评估人", "Impact / 影响", "Required actions / 需要的措施",
                        "Decision / 结论"),
                       tuple((a.function, a.assessor, f"[{a.impact_level or '—'}] {a.impact or '—'}",
                              text(a.required_actions), f"{a.decision} {text(a.decided_at) if a.decided_at else ''}")
                             for a in c.assessments)),
            PrintTable("Implementation tasks / 实施任务",
                       ("Task / 任务", "Owner / 负责人", "Due / 截止", "State / 状态", "Evidence / 证据"),
                       tuple((f"{t.title} ({t.function})" if t.function else t.title, t.owner, text(t.due_on),
                              t.state + (" (overdue / 逾期)" if t.overdue else ""), text(t.evidence))
                             for t in c.tasks)),
            PrintTable("CAPA", ("Number / 编号", "Title / 标题", "Owner / 负责人", "State / 状态"),
                       tuple((capa.number, capa.title, capa.owner, capa.state) for capa in c.capas)),
        ),
        signatures=tuple(signatures), audit=tuple(audit))
    return printed(actor=actor, printout=printout, record_type="change_control", record_id=c.id,
                   filename_stem=c.number)
