"""API shapes of change control.

Whether a change type, classification, function, assessor, impact level or date is acceptable
is the services' rule (docs/quality/service-api.md, change_control.py): these shapes check
types and lengths only, so the API and the web UI refuse the same inputs naming the same fields.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, Field

from pharmos.compliance.schemas import SignatureOut
from pharmos.quality.schemas import LONG_TEXT, CapaOut, TimelineEventOut, ViewOut, reason_field

__all__ = [
    "ChangeAssessmentIn",
    "ChangeAssessmentOut",
    "ChangeCapaIn",
    "ChangeClassificationIn",
    "ChangeControlOut",
    "ChangeEffectivenessIn",
    "ChangeIn",
    "ChangeRevisionIn",
    "ChangeTaskCancellationIn",
    "ChangeTaskCompletionIn",
    "ChangeTaskIn",
    "ChangeTaskOut",
]


class ChangeIn(BaseModel):
    title: str = Field(max_length=200)
    description: str = Field(max_length=LONG_TEXT, description="The change: current state → proposed state")
    justification: str = Field(max_length=LONG_TEXT, description="Why the change is needed")
    change_type: str = Field(max_length=30, description="process, equipment, material, facility, document, "
                                                        "computerized_system, analytical_method or other")
    affected_records: list[Annotated[str, Field(max_length=120)]] = Field(
        default_factory=list, max_length=50,
        description='Records it touches as "type:reference", type material, equipment, document, product, '
                    "process, system or lot")
    target_date: date | None = Field(default=None, description="Today or later")


class ChangeRevisionIn(BaseModel):
    """Only the fields sent change, while the change is proposed; the reason is mandatory (EU GMP Annex 11 §9)."""

    reason: str = reason_field()
    title: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=LONG_TEXT)
    justification: str | None = Field(default=None, max_length=LONG_TEXT)
    change_type: str | None = Field(default=None, max_length=30)
    affected_records: list[Annotated[str, Field(max_length=120)]] | None = Field(default=None, max_length=50)
    target_date: date | None = None


class ChangeClassificationIn(BaseModel):
    classification: str = Field(max_length=10, description="minor, moderate or major")
    rationale: str = Field(max_length=LONG_TEXT)
    regulatory_filing: bool = Field(description="Whether the change needs a filing with or approval by NMPA")
    functions: dict[Annotated[str, Field(max_length=20)], Annotated[str, Field(max_length=150)]] = Field(
        max_length=8, description="Function → assessor username; functions production, qc, regulatory, validation, "
                                  "equipment, qa, warehouse, ehs; a major change names regulatory, qa and validation")


class ChangeAssessmentIn(BaseModel):
    impact: str = Field(max_length=LONG_TEXT, description="The change's impact on this function's area")
    impact_level: str = Field(max_length=10, description="none, low, medium or high")
    required_actions: str = Field(default="", max_length=LONG_TEXT)
    decision: str = Field(max_length=10, description="approved or rejected (the meaning of your signature)")
    password: str = Field(max_length=200, description="Your password: the assessment is signed (21 CFR 11.200)")
    otp: str | None = Field(default=None, max_length=10, description="Verification code, if enrolled")


class ChangeTaskIn(BaseModel):
    title: str = Field(max_length=200)
    owner_username: str = Field(max_length=150, description="A user holding capas.perform")
    due_on: date = Field(description="Today or later")
    function: str = Field(default="", max_length=20)


class ChangeTaskCompletionIn(BaseModel):
    evidence: str = Field(max_length=LONG_TEXT, description="What was done, with record references")
    password: str = Field(max_length=200, description="Your password: the completion is signed 'performed'")
    otp: str | None = Field(default=None, max_length=10)


class ChangeTaskCancellationIn(BaseModel):
    reason: str = reason_field()


class ChangeEffectivenessIn(BaseModel):
    review: str = Field(max_length=LONG_TEXT, description="What the review after implementation found")
    effective: bool


class ChangeCapaIn(BaseModel):
    kind: str = Field(max_length=12, description="corrective or preventive")
    title: str = Field(max_length=200)
    description: str = Field(default="", max_length=LONG_TEXT)
    owner_username: str = Field(max_length=150)
    due_on: date
    effectiveness_criteria: str = Field(max_length=LONG_TEXT)
    effectiveness_check_days: int | None = None


class ChangeAssessmentOut(ViewOut):
    id: int
    function: str
    assessor: str
    assessor_name: str
    impact: str
    impact_level: str
    required_actions: str
    decision: str = Field(description="pending, approved or rejected")
    decided_at: datetime | None
    signatures: list[SignatureOut] = Field(default_factory=list)


class ChangeTaskOut(ViewOut):
    id: int
    title: str
    function: str
    owner: str
    due_on: date
    state: str = Field(description="open, done or cancelled")
    evidence: str
    completed_at: datetime | None
    overdue: bool
    signatures: list[SignatureOut] = Field(default_factory=list)


class ChangeControlOut(ViewOut):
    id: int
    number: str
    title: str
    description: str
    justification: str
    change_type: str
    affected_records: list[str]
    proposed_by: str
    proposed_at: datetime
    target_date: date | None
    classification: str
    classification_rationale: str
    regulatory_filing: bool | None
    effectiveness_review: str
    effective: bool | None
    state: str
    approved_at: datetime | None
    implemented_at: datetime | None
    closed_at: datetime | None
    pending_functions: list[str]
    overdue_tasks: int
    assessments: list[ChangeAssessmentOut] = Field(default_factory=list)
    tasks: list[ChangeTaskOut] = Field(default_factory=list)
    capas: list[CapaOut] = Field(default_factory=list)
    signatures: list[SignatureOut] = Field(default_factory=list)
    timeline: list[TimelineEventOut] = Field(default_factory=list)
