"""API shapes of training: skills, requirements, records, the qualification matrix and is_qualified.

Whether a role, document, skill, username, kind, result or date is acceptable is the training
service's rule (docs/quality/service-api.md): these shapes check types and lengths only, so the
API and the web UI refuse the same inputs with the same messages naming the same fields.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from pharmos.compliance.schemas import SignatureOut
from pharmos.quality.schemas import TimelineEventOut, ViewOut, reason_field

__all__ = [
    "AssignmentIn",
    "MatrixCellOut",
    "MatrixColumnOut",
    "MatrixOut",
    "MatrixRowOut",
    "MyTrainingOut",
    "QualificationOut",
    "RequirementIn",
    "RequirementOut",
    "RequirementRemovalIn",
    "ResultIn",
    "SkillIn",
    "SkillOut",
    "TrainingRecordOut",
]


class SkillIn(BaseModel):
    code: str = Field(max_length=40, description="Capital letters, digits and '-', e.g. GOWN-A")
    name_zh: str = Field(max_length=200)
    name_en: str = Field(default="", max_length=200)
    validity_months: int | None = Field(default=None, description="1-120 months; none: never expires")


class SkillOut(ViewOut):
    id: int
    code: str
    name_zh: str
    name_en: str
    validity_months: int | None
    active: bool


class RequirementIn(BaseModel):
    role: str = Field(max_length=64)
    document_number: str | None = Field(default=None, max_length=40, description="Either a document …")
    skill_code: str | None = Field(default=None, max_length=40, description="… or a skill")


class RequirementRemovalIn(BaseModel):
    reason: str = reason_field()


class RequirementOut(ViewOut):
    id: int
    role: str
    document_id: int | None
    document_number: str
    skill_id: int | None
    skill_code: str
    subject: str
    active: bool
    created_by: str
    created_at: datetime


class AssignmentIn(BaseModel):
    usernames: list[str] = Field(max_length=500)
    document_number: str | None = Field(default=None, max_length=40)
    skill_code: str | None = Field(default=None, max_length=40)
    due_on: date
    kind: str = Field(default="read_and_understood", max_length=20,
                      description="read_and_understood, classroom, on_the_job or assessment")


class ResultIn(BaseModel):
    result: str = Field(max_length=10, description="pass or fail")
    trainer_notes: str = Field(default="", max_length=8000)


class TrainingRecordOut(ViewOut):
    id: int
    username: str
    full_name: str
    kind: str
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
    state: str
    completed_at: datetime | None
    trainer: str
    result: str
    notes: str
    valid_until: date | None
    overdue: bool
    signatures: list[SignatureOut] = Field(default_factory=list)
    timeline: list[TimelineEventOut] = Field(default_factory=list)


class MyTrainingOut(ViewOut):
    open: list[TrainingRecordOut]
    completed: list[TrainingRecordOut]


class QualificationOut(ViewOut):
    qualified: bool
    reasons: list[str]


class MatrixColumnOut(ViewOut):
    key: str
    label: str
    title: str
    roles: list[str]
    version: int | None


class MatrixCellOut(ViewOut):
    status: str = Field(description="qualified, assigned, overdue, expired, missing or not_required")
    record_id: int | None
    due_on: date | None
    valid_until: date | None


class MatrixRowOut(ViewOut):
    username: str
    full_name: str
    department: str
    roles: list[str]
    cells: list[MatrixCellOut]


class MatrixOut(ViewOut):
    as_of: date
    columns: list[MatrixColumnOut]
    rows: list[MatrixRowOut]
