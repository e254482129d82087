"""What the training services return: plain, frozen values (no ORM objects leave a service)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from pharmos.compliance.signatures import SignatureView
from pharmos.quality.views import TimelineEvent

__all__ = [
    "MatrixCell",
    "MatrixColumn",
    "MatrixRow",
    "MyTraining",
    "Qualification",
    "QualificationMatrix",
    "SkillView",
    "SyncResult",
    "TrainingRecordView",
    "TrainingRequirementView",
]


@dataclass(frozen=True)
class SkillView:
    id: int
    code: str
    name_zh: str
    name_en: str
    validity_months: int | None  # None: never expires
    active: bool


@dataclass(frozen=True)
class TrainingRequirementView:
    id: int
    role: str
    document_id: int | None
    document_number: str  # "" for a skill
    skill_id: int | None
    skill_code: str  # "" for a document
    subject: str  # the document's number and title, or the skill's code and name
    active: bool
    created_by: str
    created_at: datetime


@dataclass(frozen=True)
class TrainingRecordView:
    id: int
    username: str
    full_name: str
    kind: str  # read_and_understood | classroom | on_the_job | assessment
    document_id: int | None
    document_number: str
    version_id: int | None
    version: int | None
    skill_id: int | None
    skill_code: str
    subject: str
    assigned_by: str
    assigned_at: datetime
    due_on: date | None
    state: str  # assigned | completed | cancelled
    completed_at: datetime | None
    trainer: str
    result: str  # "" | pass | fail
    notes: str
    valid_until: date | None
    overdue: bool  # assigned and past its due date
    signatures: tuple[SignatureView, ...] = ()
    timeline: tuple[TimelineEvent, ...] = ()


@dataclass(frozen=True)
class MyTraining:
    """A person's own training: what to read or attend now (soonest due first), and what they completed."""

    open: tuple[TrainingRecordView, ...]
    completed: tuple[TrainingRecordView, ...]


@dataclass(frozen=True)
class Qualification:
    """Whether a person was qualified for a document or skill at an instant, and if not, why."""

    qualified: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class SyncResult:
    run_on: date
    assigned: tuple[str, ...]  # "username: subject" for each new assignment


@dataclass(frozen=True)
class MatrixColumn:
    key: str  # "document:SOP-QA-0001" or "skill:GOWN-A"
    label: str  # number or code
    title: str  # the document's or skill's name
    roles: tuple[str, ...]  # the roles that require it
    version: int | None  # the version in force, for a document


@dataclass(frozen=True)
class MatrixCell:
    status: str  # qualified | assigned | overdue | expired | missing | not_required
    record_id: int | None
    due_on: date | None
    valid_until: date | None


@dataclass(frozen=True)
class MatrixRow:
    username: str
    full_name: str
    department: str
    roles: tuple[str, ...]
    cells: tuple[MatrixCell, ...]  # one per column, in the columns' order


@dataclass(frozen=True)
class QualificationMatrix:
    as_of: date
    columns: tuple[MatrixColumn, ...]
    rows: tuple[MatrixRow, ...]
    role_labels: dict[str, tuple[str, str]] = field(default_factory=dict)  # role -> (English, Chinese)
