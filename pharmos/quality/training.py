"""Training: requirements by role and document, skills, records, the qualification matrix and is_qualified.

药品GMP 第二十七条、第二十八条 / EU GMP Part I 2.8-2.11 / 21 CFR 211.25: everyone is trained on
the procedures of their job before they work to them, on each new version when it becomes
effective, and the training is recorded. A requirement says "everyone in role R is trained on
document D (the version in force) or holds skill S"; a newly effective version assigns
read-and-understood training to every member of those roles (``assign_read_and_understood``,
called by the document lifecycle inside its transaction). The trainee signs "acknowledged" via
the ``acknowledge`` transition; a trainer records an assessment's result and signs the
``complete`` transition ("verified"). ``is_qualified`` answers, for any instant, whether a
person was trained on the version then in force: batch execution asks it for every signed step.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from pharmos.auth import service as auth
from pharmos.compliance.audit import record_event
from pharmos.compliance.signatures import signatures_for
from pharmos.core.actor import Actor
from pharmos.core.clock import add_months, as_utc, site_date, site_today, utcnow
from pharmos.core.db import read_session, transaction
from pharmos.core.errors import (
    Conflict,
    FieldProblem,
    NotFound,
    PermissionDenied,
    ValidationFailed,
    required_reason,
    text_problem,
)
from pharmos.core.errors import raise_problems as _raise
from pharmos.core.spreadsheets import download, export_format
from pharmos.quality.lifecycle import TRAINING_LIFECYCLE
from pharmos.quality.models import ControlledDocument, DocumentVersion, Skill, TrainingRecord, TrainingRequirement
from pharmos.quality.training_views import (
    MatrixCell,
    MatrixColumn,
    MatrixRow,
    MyTraining,
    Qualification,
    QualificationMatrix,
    SkillView,
    SyncResult,
    TrainingRecordView,
    TrainingRequirementView,
)

__all__ = [
    "MATRIX_STATUSES",
    "TRAINING_KINDS",
    "TRAINING_RESULTS",
    "add_requirement",
    "assign_read_and_understood",
    "assign_training",
    "cancel_open_training",
    "create_skill",
    "export_qualification_matrix",
    "get_training_record",
    "is_qualified",
    "list_requirements",
    "list_skills",
    "list_training_records",
    "my_training",
    "print_training_record",
    "qualification_matrix",
    "record_training_result",
    "remove_requirement",
    "sync_training",
]

TRAINING_KINDS = ("read_and_understood", "classroom", "on_the_job", "assessment")
TRAINING_RESULTS = ("pass", "fail")
MATRIX_STATUSES = ("qualified", "assigned", "overdue", "expired", "missing", "not_required")
_SKILL_CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{1,39}$")
_PRIVILEGED = ("training.manage", "training.record")
_TEXT_MAX = 10_000
_SUBJECT_MAX = 260


# ---------------------------------------------------------------- small readers


def _upper(value: object) -> str:
    return value.strip().upper() if isinstance(value, str) else ""


def _limit(limit: int) -> int:
    return max(1, min(int(limit), 500))


def _document_subject(document: ControlledDocument, version: int | None) -> str:
    label = f"{document.number} v{version}" if version is not None else document.number
    return f"{label} {document.title_zh}".strip()[:_SUBJECT_MAX]


def _skill_subject(skill: Skill) -> str:
    return f"{skill.code} {skill.name_zh}".strip()[:_SUBJECT_MAX]


def _when(at: datetime) -> str:
    return as_utc(at).strftime("%Y-%m-%d %H:%M UTC")


def _sees_everyone(actor: Actor) -> bool:
    return any(actor.can(p) for p in _PRIVILEGED)


def _effective_version(session: Session, document_id: int) -> DocumentVersion | None:
    return session.scalar(select(DocumentVersion).where(
        DocumentVersion.document_id == document_id, DocumentVersion.state == "effective"))


def _document(session: Session, number: str) -> ControlledDocument | None:
    return session.scalar(select(ControlledDocument).where(ControlledDocument.number == number))


def _skill(session: Session, code: str) -> Skill | None:
    return session.scalar(select(Skill).where(Skill.code == code))


# ---------------------------------------------------------------- views


def _record_views(session: Session, rows: Sequence[TrainingRecord], *, details: bool = False,
                  today: date | None = None) -> list[TrainingRecordView]:
    """Views of ``rows`` with document numbers, versions and skill codes read in at most three queries."""
    today = today or site_today()
    doc_ids = {r.document_id for r in rows if r.document_id is not None}
    version_ids = {r.version_id for r in rows if r.version_id is not None}
    skill_ids = {r.skill_id for r in rows if r.skill_id is not None}
    numbers: dict[int, str] = {}
    versions: dict[int, int] = {}
    codes: dict[int, str] = {}
    if doc_ids:
        numbers = {row[0]: row[1] for row in session.execute(
            select(ControlledDocument.id, ControlledDocument.number).where(ControlledDocument.id.in_(doc_ids)))}
    if version_ids:
        versions = {row[0]: row[1] for row in session.execute(
            select(DocumentVersion.id, DocumentVersion.version).where(DocumentVersion.id.in_(version_ids)))}
    if skill_ids:
        codes = {row[0]: row[1] for row in session.execute(select(Skill.id, Skill.code).where(
            Skill.id.in_(skill_ids)))}
    views = []
    for row in rows:
        extra: dict[str, Any] = {}
        if details:
            from pharmos.quality.deviations import record_timeline

            signatures = tuple(signatures_for(session, row))
            extra["signatures"] = signatures
            extra["timeline"] = record_timeline(session, record_type="training_record", record_id=row.id,
                                                signatures=signatures)
        views.append(TrainingRecordView(
            id=row.id, username=row.username, full_name=row.full_name, kind=row.kind, document_id=row.document_id,
            document_number=numbers.get(row.document_id, "") if row.document_id else "",
            version_id=row.version_id, version=versions.get(row.version_id) if row.version_id else None,
            skill_id=row.skill_id, skill_code=codes.get(row.skill_id, "") if row.skill_id else "",
            subject=row.subject, assigned_by=row.assigned_by, assigned_at=as_utc(row.assigned_at),
            due_on=row.due_on, state=row.state,
            completed_at=as_utc(row.completed_at) if row.completed_at else None, trainer=row.trainer,
            result=row.result, notes=row.notes, valid_until=row.valid_until,
            overdue=row.state == "assigned" and row.due_on is not None and row.due_on < today, **extra))
    return views


def _skill_view(row: Skill) -> SkillView:
    return SkillView(row.id, row.code, row.name_zh, row.name_en, row.validity_months, row.active)


def _requirement_views(session: Session, rows: Sequence[TrainingRequirement]) -> list[TrainingRequirementView]:
    doc_ids = {r.document_id for r in rows if r.document_id is not None}
    skill_ids = {r.skill_id for r in rows if r.skill_id is not None}
    documents = {d.id: d for d in session.scalars(select(ControlledDocument).where(
        ControlledDocument.id.in_(doc_ids)))} if doc_ids else {}
    skills = {s.id: s for s in session.scalars(select(Skill).where(Skill.id.in_(skill_ids)))} if skill_ids else {}
    views = []
    for row in rows:
        document = documents.get(row.document_id) if row.document_id else None
        skill = skills.get(row.skill_id) if row.skill_id else None
        subject = _document_subject(document, None) if document else (_skill_subject(skill) if skill else "")
        views.append(TrainingRequirementView(
            id=row.id, role=row.role, document_id=row.document_id,
            document_number=document.number if document else "", skill_id=row.skill_id,
            skill_code=skill.code if skill else "", subject=subject, active=row.active, created_by=row.created_by,
            created_at=as_utc(row.created_at)))
    return views


def _load_record(session: Session, record_id: int, *, lock: bool = False) -> TrainingRecord:
    row = session.get(TrainingRecord, record_id, with_for_update=lock or None)
    if row is None:
        raise NotFound(f"No training record with id {record_id}.")
    return row


def _detailed(actor: Actor, record_id: int) -> TrainingRecordView:
    # Read after the commit: the timeline comes from audit entries, which are written at commit.
    with read_session() as session:
        row = _load_record(session, record_id)
        if row.user_id != actor.user_id and not _sees_everyone(actor):
            raise PermissionDenied("You may see your own training records only.")
        return _record_views(session, [row], details=True)[0]


# ---------------------------------------------------------------- assignment (shared by every path)


def _trained_or_assigned(session: Session, *, version_id: int, user_ids: Iterable[int]) -> set[int]:
    """Users with an open assignment on the version, or a completed one that was not failed."""
    ids = set(user_ids)
    if not ids:
        return set()
    return set(session.scalars(select(TrainingRecord.user_id).where(
        TrainingRecord.version_id == version_id, TrainingRecord.user_id.in_(ids),
        or_(TrainingRecord.state == "assigned",
            and_(TrainingRecord.state == "completed", TrainingRecord.result != "fail")))))


def _assign_members(session: Session, *, document: ControlledDocument, version: DocumentVersion,
                    members: Iterable[auth.RoleMember], actor: Actor, today: date) -> list[TrainingRecord]:
    """Read-and-understood records for every member not yet trained on (or assigned) ``version``."""
    people = {m.user_id: m for m in members}
    done = _trained_or_assigned(session, version_id=version.id, user_ids=people)
    created = []
    # 药品GMP 第二十七条: training on the version in force, due within the document's training period.
    due_on = today + timedelta(days=document.training_due_days)
    for user_id in sorted(set(people) - done):
        member = people[user_id]
        row = TrainingRecord(
            user_id=user_id, username=member.username, full_name=member.full_name, kind="read_and_understood",
            document_id=document.id, version_id=version.id, subject=_document_subject(document, version.version),
            assigned_by=actor.username, assigned_at=utcnow(), due_on=due_on, state=TRAINING_LIFECYCLE.initial,
            trainer="", result="", notes="")
        session.add(row)
        created.append(row)
    session.flush()
    return created


def _cancel(session: Session, rows: Iterable[TrainingRecord], why: str) -> int:
    # A cascade of a change approved elsewhere (a new version, an obsolete document, a removed
    # requirement): the records leave "assigned" in that same transaction, each with an audited reason.
    count = 0
    for row in rows:
        row.state = "cancelled"
        count += 1
        session.flush()
        record_event(session, record_type="training_record", record_id=row.id, action="cancelled",
                     details={"reason": why})
    return count


def _document_roles(session: Session, document_id: int) -> list[str]:
    return sorted(set(session.scalars(select(TrainingRequirement.role).where(
        TrainingRequirement.document_id == document_id, TrainingRequirement.active.is_(True)))))


def assign_read_and_understood(session: Session, *, version: DocumentVersion, actor: Actor) -> int:
    """Called by the ``make_effective`` effect: assign the new version, cancel what is open on older ones.

    Idempotent: a member already assigned or trained on ``version`` gets nothing new.
    """
    document = session.get(ControlledDocument, version.document_id)
    assert document is not None
    older = list(session.scalars(select(TrainingRecord).where(
        TrainingRecord.document_id == document.id, TrainingRecord.state == "assigned",
        TrainingRecord.version_id.is_not(None), TrainingRecord.version_id != version.id)
        .order_by(TrainingRecord.id)))
    _cancel(session, older, f"superseded by v{version.version}")
    members = auth.role_members(session, roles=_document_roles(session, document.id))
    return len(_assign_members(session, document=document, version=version, members=members, actor=actor,
                               today=site_today()))


def cancel_open_training(session: Session, *, document_id: int, actor: Actor, reason: str) -> int:
    """Called by the ``make_obsolete`` effect: nobody is trained on a withdrawn document any more."""
    rows = list(session.scalars(select(TrainingRecord).where(
        TrainingRecord.document_id == document_id, TrainingRecord.state == "assigned").order_by(TrainingRecord.id)))
    return _cancel(session, rows, reason)


# ---------------------------------------------------------------- skills and requirements


def create_skill(*, actor: Actor, code: str, name_zh: str, name_en: str = "",
                 validity_months: int | None = None) -> SkillView:
    """A qualification that is not a document (gowning, Grade A operations), with an optional validity."""
    actor.require("training.manage")
    problems: list[FieldProblem] = []
    skill_code = _upper(code)
    if not _SKILL_CODE.match(skill_code):
        problems.append(FieldProblem("code", "Capital letters, digits and '-', 2 to 40 long (e.g. GOWN-A)."))
    for field, value, required in (("name_zh", name_zh, True), ("name_en", name_en, False)):
        problem = text_problem(field, value, required=required, max_length=200)
        if problem:
            problems.append(problem)
    if validity_months is not None and (isinstance(validity_months, bool) or not isinstance(validity_months, int)
                                        or not 1 <= validity_months <= 120):
        problems.append(FieldProblem("validity_months", "A whole number of months from 1 to 120, or none."))
    _raise(problems)
    with transaction(actor=actor, reason=f"Skill {skill_code} created") as session:
        if _skill(session, skill_code) is not None:
            raise ValidationFailed.on("code", f"A skill {skill_code} already exists.")
        row = Skill(code=skill_code, name_zh=name_zh.strip(), name_en=(name_en or "").strip(),
                    validity_months=validity_months, active=True)
        session.add(row)
        session.flush()
        return _skill_view(row)


def list_skills(*, actor: Actor, include_inactive: bool = False) -> list[SkillView]:
    actor.require("quality.view")
    with read_session() as session:
        stmt = select(Skill).order_by(Skill.code)
        if not include_inactive:
            stmt = stmt.where(Skill.active.is_(True))
        return [_skill_view(row) for row in session.scalars(stmt)]


def list_requirements(*, actor: Actor, role: str | None = None, include_inactive: bool = False
                      ) -> list[TrainingRequirementView]:
    actor.require("quality.view")
    with read_session() as session:
        stmt = select(TrainingRequirement).order_by(TrainingRequirement.role, TrainingRequirement.id)
        if role:
            stmt = stmt.where(TrainingRequirement.role == role.strip())
        if not include_inactive:
            stmt = stmt.where(TrainingRequirement.active.is_(True))
        return _requirement_views(session, list(session.scalars(stmt)))


def _one_subject(problems: list[FieldProblem], document_number: object, skill_code: object) -> tuple[str, str]:
    number, code = _upper(document_number), _upper(skill_code)
    if bool(number) == bool(code):
        problems.append(FieldProblem("document_number", "Name either a document or a skill, not both or neither."))
    return number, code


def add_requirement(*, actor: Actor, role: str, document_number: str | None = None,
                    skill_code: str | None = None) -> TrainingRequirementView:
    """Everyone in ``role`` must be trained on the document (its version in force) or hold the skill.

    For a document, every member not yet trained on the current effective version is assigned it now.
    """
    actor.require("training.manage")
    problems: list[FieldProblem] = []
    role_name = role.strip() if isinstance(role, str) else ""
    if not role_name:
        problems.append(FieldProblem("role", "Required."))
    number, code = _one_subject(problems, document_number, skill_code)
    _raise(problems)
    field = "document_number" if number else "skill_code"
    with transaction(actor=actor, reason=f"Training requirement for {role_name}: {number or code}") as session:
        if role_name not in auth.role_names(session):
            raise ValidationFailed.on("role", f"No role named {role_name!r}.")
        document = skill = None
        if number:
            document = _document(session, number)
            if document is None:
                raise ValidationFailed.on("document_number", f"No controlled document {number}.")
            if document.obsolete:
                raise ValidationFailed.on("document_number", f"{number} is obsolete.")
        else:
            skill = _skill(session, code)
            if skill is None or not skill.active:
                raise ValidationFailed.on("skill_code", f"No active skill {code}.")
        subject = (TrainingRequirement.document_id == document.id) if document is not None \
            else (TrainingRequirement.skill_id == (skill.id if skill is not None else None))
        existing = session.scalar(select(TrainingRequirement).where(TrainingRequirement.role == role_name, subject))
        if existing is not None and existing.active:
            raise ValidationFailed.on(field, f"{role_name} already requires {number or code}.")
        if existing is not None:
            # The pair is unique in the table: a removed requirement comes back rather than being duplicated.
            existing.active = True
            row = existing
        else:
            row = TrainingRequirement(role=role_name, document_id=document.id if document else None,
                                      skill_id=skill.id if skill else None, active=True,
                                      created_by=actor.username, created_at=utcnow())
            session.add(row)
        session.flush()
        if document is not None:
            version = _effective_version(session, document.id)
            if version is not None:
                _assign_members(session, document=document, version=version,
                                members=auth.role_members(session, roles=[role_name]), actor=actor,
                                today=site_today())
        return _requirement_views(session, [row])[0]


def remove_requirement(*, actor: Actor, requirement_id: int, reason: str) -> TrainingRequirementView:
    """Deactivate a requirement; open read-and-understood assignments nobody else requires are cancelled."""
    actor.require("training.manage")
    why = required_reason(reason)
    with transaction(actor=actor, reason=why) as session:
        row = session.get(TrainingRequirement, requirement_id, with_for_update=True)
        if row is None:
            raise NotFound(f"No training requirement with id {requirement_id}.")
        if not row.active:
            raise Conflict("This requirement was already removed.", [FieldProblem("requirement_id",
                                                                                  "Already removed.")])
        row.active = False
        session.flush()
        if row.document_id is not None:
            members = {m.user_id for m in auth.role_members(session, roles=[row.role])}
            still = {m.user_id for m in auth.role_members(session, roles=_document_roles(session, row.document_id))}
            orphaned = members - still
            if orphaned:
                rows = list(session.scalars(select(TrainingRecord).where(
                    TrainingRecord.document_id == row.document_id, TrainingRecord.state == "assigned",
                    TrainingRecord.kind == "read_and_understood", TrainingRecord.user_id.in_(orphaned))
                    .order_by(TrainingRecord.id)))
                _cancel(session, rows, f"no longer required ({row.role}): {why}")
        return _requirement_views(session, [row])[0]


# ---------------------------------------------------------------- assignments and results


def _due(problems: list[FieldProblem], value: object) -> date | None:
    if isinstance(value, datetime) or not isinstance(value, date):
        problems.append(FieldProblem("due_on", "A date."))
        return None
    if value < site_today():
        problems.append(FieldProblem("due_on", "A due date in the past."))
        return None
    return value


def assign_training(*, actor: Actor, usernames: Sequence[str], document_number: str | None = None,
                    skill_code: str | None = None, due_on: date, kind: str = "read_and_understood"
                    ) -> list[TrainingRecordView]:
    """Ad-hoc assignment to named people: a document's version in force, or a skill (classroom, assessment…)."""
    actor.require("training.manage")
    problems: list[FieldProblem] = []
    number, code = _one_subject(problems, document_number, skill_code)
    if kind not in TRAINING_KINDS:
        problems.append(FieldProblem("kind", f"Choose one of {', '.join(TRAINING_KINDS)}."))
    elif kind == "read_and_understood" and code:
        problems.append(FieldProblem("kind", "Read-and-understood training is on a document."))
    due = _due(problems, due_on)
    names: list[str] = []
    if not isinstance(usernames, list | tuple) or not usernames:
        problems.append(FieldProblem("usernames", "Name at least one person."))
    else:
        for i, name in enumerate(usernames):
            clean = name.strip().lower() if isinstance(name, str) else ""
            if not clean:
                problems.append(FieldProblem(f"usernames[{i}]", "Required."))
            elif clean in names:
                problems.append(FieldProblem(f"usernames[{i}]", f"{clean} is named twice."))
            names.append(clean)
    _raise(problems)
    assert due is not None
    with transaction(actor=actor, reason=f"Training assigned: {number or code}") as session:
        people = []
        for i, name in enumerate(names):
            entry = auth.directory_entry(session, username=name)
            if entry is None or not entry.is_active:
                problems.append(FieldProblem(f"usernames[{i}]", f"No active user named {name!r}."))
            else:
                people.append((i, entry))
        document = version = skill = None
        if number:
            document = _document(session, number)
            version = _effective_version(session, document.id) if document is not None else None
            if document is None:
                problems.append(FieldProblem("document_number", f"No controlled document {number}."))
            elif version is None:
                problems.append(FieldProblem("document_number", f"{number} has no effective version to train on."))
        else:
            skill = _skill(session, code)
            if skill is None or not skill.active:
                problems.append(FieldProblem("skill_code", f"No active skill {code}."))
        _raise(problems)
        subject_filter = (TrainingRecord.version_id == version.id) if version is not None \
            else (TrainingRecord.skill_id == (skill.id if skill else None))
        busy = set(session.scalars(select(TrainingRecord.user_id).where(
            subject_filter, TrainingRecord.state == "assigned",
            TrainingRecord.user_id.in_([e.id for _, e in people]))))
        for i, entry in people:
            if entry.id in busy:
                problems.append(FieldProblem(f"usernames[{i}]", f"{entry.username} already has this training open."))
        _raise(problems)
        rows = []
        for _, entry in people:
            row = TrainingRecord(
                user_id=entry.id, username=entry.username, full_name=entry.full_name, kind=kind,
                document_id=document.id if document else None, version_id=version.id if version else None,
                skill_id=skill.id if skill else None,
                subject=_document_subject(document, version.version) if document and version
                else _skill_subject(skill) if skill else "",
                assigned_by=actor.username, assigned_at=utcnow(), due_on=due, state=TRAINING_LIFECYCLE.initial,
                trainer="", result="", notes="")
            session.add(row)
            rows.append(row)
        session.flush()
        ids = [r.id for r in rows]
    with read_session() as session:
        return _record_views(session, list(session.scalars(select(TrainingRecord).where(
            TrainingRecord.id.in_(ids)).order_by(TrainingRecord.id))))


def record_training_result(*, actor: Actor, record_id: int, result: str, trainer_notes: str = ""
                           ) -> TrainingRecordView:
    """The trainer records pass or fail (and notes); signing ``complete`` ("verified") then closes the record."""
    actor.require("training.record")
    problems: list[FieldProblem] = []
    if result not in TRAINING_RESULTS:
        problems.append(FieldProblem("result", "pass or fail."))
    problem = text_problem("trainer_notes", trainer_notes, max_length=_TEXT_MAX)
    if problem:
        problems.append(problem)
    _raise(problems)
    with transaction(actor=actor, reason=f"Training result recorded: {result}") as session:
        row = _load_record(session, record_id, lock=True)
        if row.state != "assigned":
            raise Conflict(f"The training is {row.state}; a result is recorded only while it is assigned.",
                           [FieldProblem("record_id", f"Training is {row.state}.")])
        if row.kind == "read_and_understood":
            raise Conflict("The trainee signs read-and-understood training themselves.",
                           [FieldProblem("kind", "Read-and-understood training has no trainer's result.")])
        if actor.user_id is not None and row.user_id == actor.user_id:
            # 21 CFR 211.25 / 药品GMP 第二十七条: a person's qualification is judged by someone else.
            raise Conflict("A trainer cannot record their own training.",
                           [FieldProblem("trainer", "The trainer cannot be the trainee.")])
        row.result = result
        row.notes = (trainer_notes or "").strip()
        row.trainer = actor.username
        row.trainer_id = actor.user_id
        row.valid_until = None
        if result == "pass" and row.skill_id is not None:
            skill = session.get(Skill, row.skill_id)
            if skill is not None and skill.validity_months:
                row.valid_until = add_months(site_today(), skill.validity_months)
        session.flush()
    return _detailed(actor, record_id)


# ---------------------------------------------------------------- the daily job


def sync_training(*, actor: Actor, today: date | None = None) -> SyncResult:
    """Assign the version in force to members who joined a role since (idempotent; the daily job)."""
    actor.require("training.manage")
    run_on = today or site_today()
    assigned: list[str] = []
    with transaction(actor=actor, reason=f"Training sync {run_on.isoformat()}") as session:
        requirements = list(session.scalars(select(TrainingRequirement).where(
            TrainingRequirement.active.is_(True), TrainingRequirement.document_id.is_not(None))))
        roles_by_doc: dict[int, set[str]] = {}
        for req in requirements:
            assert req.document_id is not None
            roles_by_doc.setdefault(req.document_id, set()).add(req.role)
        if not roles_by_doc:
            return SyncResult(run_on, ())
        documents = {d.id: d for d in session.scalars(select(ControlledDocument).where(
            ControlledDocument.id.in_(roles_by_doc)))}
        versions = {v.document_id: v for v in session.scalars(select(DocumentVersion).where(
            DocumentVersion.document_id.in_(roles_by_doc), DocumentVersion.state == "effective"))}
        members = auth.role_members(session, roles=set().union(*roles_by_doc.values()))
        for document_id in sorted(roles_by_doc):
            version = versions.get(document_id)
            if version is None:
                continue
            wanted = [m for m in members if m.role in roles_by_doc[document_id]]
            for row in _assign_members(session, document=documents[document_id], version=version, members=wanted,
                                       actor=actor, today=run_on):
                assigned.append(f"{row.username}: {row.subject}")
    return SyncResult(run_on, tuple(assigned))


# ---------------------------------------------------------------- is_qualified


@dataclass(frozen=True)
class _Attempt:
    kind: str
    state: str
    result: str
    completed_at: datetime | None
    due_on: date | None
    valid_until: date | None


def _counts(attempt: _Attempt) -> bool:
    """A completed record that qualifies: read and understood, or passed."""
    if attempt.state != "completed" or attempt.completed_at is None:
        return False
    return attempt.result == "pass" if attempt.kind != "read_and_understood" else attempt.result != "fail"


def judge_document(*, label: str, attempts: Sequence[_Attempt], at: datetime) -> Qualification:
    """Qualified on one document version at ``at`` from that person's records on that version."""
    if any(_counts(a) and a.completed_at is not None and as_utc(a.completed_at) <= at for a in attempts):
        return Qualification(True, ())
    later = [a for a in attempts if _counts(a)]
    if later:
        first = min(as_utc(a.completed_at) for a in later if a.completed_at)
        return Qualification(False, (f"trained on {label} only at {_when(first)}",))
    open_ = [a for a in attempts if a.state == "assigned"]
    if open_:
        due = open_[0].due_on
        return Qualification(False, (f"not trained on {label} (assigned, due {due.isoformat() if due else '—'})",))
    if any(a.state == "completed" and a.result == "fail" for a in attempts):
        return Qualification(False, (f"not trained on {label} (failed)",))
    return Qualification(False, (f"not trained on {label}",))


def judge_skill(*, code: str, attempts: Sequence[_Attempt], at: datetime) -> Qualification:
    """Qualified in a skill at ``at``: a passed record completed by then and still valid on that day."""
    day = site_date(at)
    passed = [a for a in attempts if _counts(a) and a.completed_at is not None and as_utc(a.completed_at) <= at]
    if any(a.valid_until is None or day < a.valid_until for a in passed):
        return Qualification(True, ())
    if passed:
        last = max(a.valid_until for a in passed if a.valid_until is not None)
        return Qualification(False, (f"skill {code} expired on {last.isoformat()}",))
    open_ = [a for a in attempts if a.state == "assigned"]
    if open_:
        due = open_[0].due_on
        return Qualification(False, (f"not qualified in {code} (assigned, due {due.isoformat() if due else '—'})",))
    return Qualification(False, (f"not qualified in {code}",))


def _attempts(session: Session, *where: Any) -> list[_Attempt]:
    return [_Attempt(*row) for row in session.execute(
        select(TrainingRecord.kind, TrainingRecord.state, TrainingRecord.result, TrainingRecord.completed_at,
               TrainingRecord.due_on, TrainingRecord.valid_until).where(*where).order_by(TrainingRecord.id))]


def is_qualified(*, username: str, document_number: str | None = None, skill_code: str | None = None,
                 at: datetime | None = None) -> Qualification:
    """Whether ``username`` was qualified at ``at`` (default now) for a document or a skill; a domain query.

    For a document: the version effective at that instant (effective_at ≤ at < retired_at) and a
    read-and-understood (or passed) record on that version completed at or before ``at``. Unknown
    users, documents and skills give reasons, never exceptions. A few indexed queries.
    """
    moment = as_utc(at) if isinstance(at, datetime) else utcnow()
    number, code = _upper(document_number), _upper(skill_code)
    if bool(number) == bool(code):
        return Qualification(False, ("name either a document or a skill",))
    name = username.strip().lower() if isinstance(username, str) else ""
    with read_session() as session:
        user = auth.directory_entry(session, username=name) if name else None
        if user is None:
            return Qualification(False, (f"unknown user {name!r}",))
        if code:
            skill_id = session.scalar(select(Skill.id).where(Skill.code == code))
            if skill_id is None:
                return Qualification(False, (f"unknown skill {code}",))
            return judge_skill(code=code, at=moment, attempts=_attempts(
                session, TrainingRecord.skill_id == skill_id, TrainingRecord.user_id == user.id))
        document_id = session.scalar(select(ControlledDocument.id).where(ControlledDocument.number == number))
        if document_id is None:
            return Qualification(False, (f"unknown document {number}",))
        version = session.execute(
            select(DocumentVersion.id, DocumentVersion.version).where(
                DocumentVersion.document_id == document_id, DocumentVersion.effective_at.is_not(None),
                DocumentVersion.effective_at <= moment,
                or_(DocumentVersion.retired_at.is_(None), DocumentVersion.retired_at > moment))
            .order_by(DocumentVersion.effective_at.desc()).limit(1)).first()
        if version is None:
            return Qualification(False, (f"no effective version of {number} at {_when(moment)}",))
        return judge_document(label=f"{number} v{version.version}", at=moment, attempts=_attempts(
            session, TrainingRecord.document_id == document_id, TrainingRecord.user_id == user.id,
            TrainingRecord.version_id == version.id))


# ---------------------------------------------------------------- lists


def list_training_records(*, actor: Actor, username: str | None = None, state: str | None = None,
                          overdue: bool | None = None, document_number: str | None = None,
                          skill_code: str | None = None, after_id: int | None = None,
                          limit: int = 50) -> list[TrainingRecordView]:
    """Training records in id order (cursor ``after_id``); people without training rights see their own only."""
    actor.require("quality.view")
    if state is not None and state not in TRAINING_LIFECYCLE.states:
        raise ValidationFailed.on("state", f"Choose one of {', '.join(TRAINING_LIFECYCLE.states)}.")
    name = username.strip().lower() if username else ""
    if not _sees_everyone(actor):
        if name and name != actor.username:
            raise PermissionDenied("You may see your own training records only.")
        name = actor.username
    today = site_today()
    with read_session() as session:
        stmt = select(TrainingRecord).order_by(TrainingRecord.id).limit(_limit(limit))
        if name:
            user = auth.directory_entry(session, username=name)
            if user is None:
                return []
            stmt = stmt.where(TrainingRecord.user_id == user.id)
        if state:
            stmt = stmt.where(TrainingRecord.state == state)
        late = and_(TrainingRecord.state == "assigned", TrainingRecord.due_on < today)
        if overdue is True:
            stmt = stmt.where(late)
        elif overdue is False:
            stmt = stmt.where(or_(TrainingRecord.state != "assigned", TrainingRecord.due_on.is_(None),
                                  TrainingRecord.due_on >= today))
        if document_number:
            stmt = stmt.where(TrainingRecord.document_id.in_(select(ControlledDocument.id).where(
                ControlledDocument.number == _upper(document_number))))
        if skill_code:
            stmt = stmt.where(TrainingRecord.skill_id.in_(select(Skill.id).where(Skill.code == _upper(skill_code))))
        if after_id is not None:
            stmt = stmt.where(TrainingRecord.id > after_id)
        return _record_views(session, list(session.scalars(stmt)), today=today)


def get_training_record(*, actor: Actor, record_id: int) -> TrainingRecordView:
    actor.require("quality.view")
    return _detailed(actor, record_id)


def my_training(*, actor: Actor) -> MyTraining:
    """What I must read or attend (soonest due first) and the training I completed (latest first)."""
    actor.require("quality.view")
    if actor.user_id is None:
        return MyTraining((), ())
    today = site_today()
    with read_session() as session:
        open_rows = list(session.scalars(select(TrainingRecord).where(
            TrainingRecord.user_id == actor.user_id, TrainingRecord.state == "assigned")
            .order_by(TrainingRecord.due_on, TrainingRecord.id)))
        done_rows = list(session.scalars(select(TrainingRecord).where(
            TrainingRecord.user_id == actor.user_id, TrainingRecord.state == "completed")
            .order_by(TrainingRecord.completed_at.desc(), TrainingRecord.id.desc()).limit(100)))
        views = _record_views(session, open_rows + done_rows, today=today)
    return MyTraining(tuple(views[:len(open_rows)]), tuple(views[len(open_rows):]))


# ---------------------------------------------------------------- the qualification matrix


def _cell(attempts: Sequence[Any], *, today: date, skill: bool) -> MatrixCell:
    done = [a for a in attempts if a.state == "completed"
            and (a.result == "pass" if a.kind != "read_and_understood" else a.result != "fail")]
    if skill:
        valid = [a for a in done if a.valid_until is None or today < a.valid_until]
        if valid:
            return MatrixCell("qualified", valid[-1].id, None, valid[-1].valid_until)
    elif done:
        return MatrixCell("qualified", done[-1].id, None, None)
    open_ = [a for a in attempts if a.state == "assigned"]
    if open_:
        first = open_[0]
        late = first.due_on is not None and first.due_on < today
        return MatrixCell("overdue" if late else "assigned", first.id, first.due_on, None)
    if skill and done:
        return MatrixCell("expired", done[-1].id, None, done[-1].valid_until)
    return MatrixCell("missing", None, None, None)


def qualification_matrix(*, actor: Actor, role: str | None = None, department: str | None = None,
                         document_number: str | None = None) -> QualificationMatrix:
    """Active users (in the role/department) × active requirements: status per cell, in six queries.

    药品GMP 第二十七条: the training status of every person against the procedures of their job.
    """
    actor.require("quality.view")
    today = site_today()
    with read_session() as session:
        stmt = select(TrainingRequirement).where(TrainingRequirement.active.is_(True))
        if role:
            stmt = stmt.where(TrainingRequirement.role == role.strip())
        if document_number:
            stmt = stmt.where(TrainingRequirement.document_id.in_(select(ControlledDocument.id).where(
                ControlledDocument.number == _upper(document_number))))
        requirements = list(session.scalars(stmt.order_by(TrainingRequirement.id)))
        doc_ids = sorted({r.document_id for r in requirements if r.document_id is not None})
        skill_ids = sorted({r.skill_id for r in requirements if r.skill_id is not None})
        documents = {d.id: d for d in session.scalars(select(ControlledDocument).where(
            ControlledDocument.id.in_(doc_ids)))} if doc_ids else {}
        skills = {s.id: s for s in session.scalars(select(Skill).where(Skill.id.in_(skill_ids)))} \
            if skill_ids else {}
        versions = {v.document_id: v for v in session.scalars(select(DocumentVersion).where(
            DocumentVersion.document_id.in_(doc_ids), DocumentVersion.state == "effective"))} if doc_ids else {}
        members = auth.role_members(session, roles={r.role for r in requirements})
        if department:
            members = [m for m in members if m.department == department.strip()]
        user_ids = sorted({m.user_id for m in members})
        # Only the columns a cell reads, and only records on the versions in force: a large site's
        # matrix covers tens of thousands of records, most of them on superseded versions.
        current = sorted(v.id for v in versions.values())
        records = list(session.execute(select(
            TrainingRecord.id, TrainingRecord.user_id, TrainingRecord.document_id, TrainingRecord.version_id,
            TrainingRecord.skill_id, TrainingRecord.kind, TrainingRecord.state, TrainingRecord.result,
            TrainingRecord.due_on, TrainingRecord.valid_until).where(
            TrainingRecord.user_id.in_(user_ids), TrainingRecord.state.in_(("assigned", "completed")),
            or_(TrainingRecord.version_id.in_(current), TrainingRecord.skill_id.in_(skill_ids)))
            .order_by(TrainingRecord.id))) if user_ids and requirements else []
        columns: list[MatrixColumn] = []
        roles_of_column: dict[str, set[str]] = {}
        for req in requirements:
            key = f"document:{documents[req.document_id].number}" if req.document_id else \
                f"skill:{skills[req.skill_id].code}" if req.skill_id else ""
            if key not in roles_of_column:
                roles_of_column[key] = set()
                if req.document_id:
                    d = documents[req.document_id]
                    v = versions.get(d.id)
                    columns.append(MatrixColumn(key, d.number, d.title_zh, (), v.version if v else None))
                elif req.skill_id:
                    s = skills[req.skill_id]
                    columns.append(MatrixColumn(key, s.code, s.name_zh, (), None))
            roles_of_column[key].add(req.role)
        columns = [MatrixColumn(c.key, c.label, c.title, tuple(sorted(roles_of_column[c.key])), c.version)
                   for c in columns]
        by_user: dict[int, list[auth.RoleMember]] = {}
        for m in members:
            by_user.setdefault(m.user_id, []).append(m)
        attempts: dict[tuple[int, str], list[Any]] = {}
        version_ids = {v.id for v in versions.values()}
        for r in records:
            if r.document_id is not None:
                if r.version_id not in version_ids:
                    continue  # training on an older version does not qualify for the version in force
                key = f"document:{documents[r.document_id].number}"
            else:
                key = f"skill:{skills[r.skill_id].code}" if r.skill_id in skills else ""
            attempts.setdefault((r.user_id, key), []).append(r)
        rows = []
        for user_id, held in sorted(by_user.items(), key=lambda item: item[1][0].username):
            roles = {m.role for m in held}
            cells = []
            for column in columns:
                if not roles & set(column.roles) or (column.key.startswith("document:") and column.version is None):
                    cells.append(MatrixCell("not_required", None, None, None))
                    continue
                cells.append(_cell(attempts.get((user_id, column.key), []), today=today,
                                   skill=column.key.startswith("skill:")))
            first = held[0]
            rows.append(MatrixRow(first.username, first.full_name, first.department, tuple(sorted(roles)),
                                  tuple(cells)))
        return QualificationMatrix(today, tuple(columns), tuple(rows), auth.role_labels(session))


def export_qualification_matrix(*, actor: Actor, fmt: str = "csv", role: str | None = None,
                                department: str | None = None,
                                document_number: str | None = None) -> tuple[bytes, str, str]:
    """The matrix as CSV or Excel: one row per person, one column per required document or skill."""
    actor.require("quality.view")
    fmt = export_format(fmt)
    matrix = qualification_matrix(actor=actor, role=role, department=department, document_number=document_number)
    headers = ("username", "full_name", "department", "roles",
               *(f"{c.label} v{c.version}" if c.version else c.label for c in matrix.columns))
    data = [[r.username, r.full_name, r.department, ", ".join(r.roles),
             *(c.status + (f" (due {c.due_on.isoformat()})" if c.due_on else "")
               + (f" (until {c.valid_until.isoformat()})" if c.valid_until else "") for c in r.cells)]
            for r in matrix.rows]
    return download(fmt, headers, data, name="training-matrix", sheet="Training matrix 培训矩阵")


# ---------------------------------------------------------------- printing


_KIND_LABELS = {"read_and_understood": "Read and understood / 阅读理解", "classroom": "Classroom / 课堂培训",
                "on_the_job": "On the job / 岗位实操", "assessment": "Assessment / 考核"}


def print_training_record(*, actor: Actor, record_id: int) -> tuple[bytes, str, str]:
    """The training record as a PDF with its signatures and audit trail (21 CFR 11.10(b))."""
    from pharmos.quality.printing import PrintSection, RecordPrintout, audit_rows, printed, text

    r = get_training_record(actor=actor, record_id=record_id)
    with read_session() as session:
        audit = audit_rows(session, record_type="training_record", record_ids=[r.id])
    number = f"TR-{r.id:06d}"
    subject = f"{r.document_number} v{r.version}" if r.document_number else r.skill_code
    printout = RecordPrintout(
        kind="Training record / 培训记录", number=number, title=r.subject, state=r.state,
        sections=(
            PrintSection("Trainee / 受训人", (
                ("Name / 姓名", f"{r.full_name} ({r.username})"), ("Kind / 类型", _KIND_LABELS.get(r.kind, r.kind)),
                ("Subject / 培训内容", text(subject)), ("Assigned / 分配", f"{r.assigned_by}, {text(r.assigned_at)}"),
                ("Due on / 截止日期", text(r.due_on)))),
            PrintSection("Completion / 完成情况", (
                ("Completed at / 完成时间", text(r.completed_at)), ("Trainer / 培训师", text(r.trainer)),
                ("Result / 结果", text(r.result)), ("Notes / 备注", text(r.notes)),
                ("Valid until / 有效期至", text(r.valid_until)))),
        ),
        signatures=r.signatures, audit=audit)
    return printed(actor=actor, printout=printout, record_type="training_record", record_id=r.id,
                   filename_stem=number)
