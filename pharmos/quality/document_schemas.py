"""API shapes of controlled documents.

Whether a type, department, number, user, date or file is acceptable is the services' rule
(docs/quality/service-api.md, documents.py): these shapes check types and lengths only, so the
API and the web UI refuse the same inputs with the same messages naming the same fields.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from pharmos.compliance.schemas import SignatureOut
from pharmos.quality.schemas import TimelineEventOut, ViewOut

__all__ = [
    "DocumentIn",
    "DocumentOut",
    "DocumentReviewOut",
    "DocumentVersionOut",
    "DraftIn",
    "PeriodicReviewIn",
    "RevisionIn",
    "VersionReviewIn",
]


class DocumentIn(BaseModel):
    doc_type: str = Field(max_length=20, description="sop, specification, form, master or policy")
    title_zh: str = Field(max_length=200)
    title_en: str = Field("", max_length=200)
    department: str = Field(max_length=6, description="Department code, 2-6 capitals, e.g. QA")
    owner_username: str = Field(max_length=150, description="Author of version 1 (holds documents.author)")
    number: str | None = Field(None, max_length=40, description="Only when migrating an existing number, "
                                                                "e.g. SOP-QA-0012; generated otherwise")
    review_interval_months: int = 24
    training_due_days: int = 14


class RevisionIn(BaseModel):
    change_summary: str = Field(max_length=8000)
    change_control: str = Field("", max_length=40, description="CC number, if the revision is made under one")


class DraftIn(BaseModel):
    change_summary: str | None = Field(None, max_length=8000)
    reviewers: list[str] | None = Field(None, max_length=20, description="Usernames holding documents.review")
    approver: str | None = Field(None, max_length=150, description="Username holding documents.approve")
    effective_on: date | None = None
    change_control: str | None = Field(None, max_length=40)


class VersionReviewIn(BaseModel):
    password: str = Field(max_length=200)
    otp: str | None = Field(None, max_length=20)
    comment: str = Field("", max_length=2000)


class PeriodicReviewIn(BaseModel):
    outcome: str = Field(max_length=20, description="no_change, revise or obsolete")
    comment: str = Field(max_length=8000)
    password: str = Field(max_length=200)
    otp: str | None = Field(None, max_length=20)


class DocumentVersionOut(ViewOut):
    id: int = Field(description="The version's id: the record id of /document-versions/{id}/transitions/{name}")
    document_id: int
    document_number: str
    version: int
    label: str
    change_summary: str
    change_control: str
    author: str
    reviewers: list[str]
    approver: str
    effective_on: date | None
    filename: str
    media_type: str
    size: int
    sha256: str
    state: str
    created_at: datetime
    approved_at: datetime | None
    effective_at: datetime | None
    retired_at: datetime | None
    reviews_missing: list[str] = Field(default_factory=list)
    signatures: list[SignatureOut] = Field(default_factory=list)
    timeline: list[TimelineEventOut] = Field(default_factory=list)


class DocumentReviewOut(ViewOut):
    id: int
    version: int
    outcome: str
    comment: str
    reviewer: str
    reviewed_at: datetime
    next_review_on: date | None
    signatures: list[SignatureOut] = Field(default_factory=list)


class DocumentOut(ViewOut):
    id: int
    number: str
    doc_type: str
    title_zh: str
    title_en: str
    department: str
    owner: str
    review_interval_months: int
    training_due_days: int
    effective_version: int | None
    next_review_on: date | None
    obsolete: bool
    created_at: datetime
    due_for_review: bool
    versions: list[DocumentVersionOut] = Field(default_factory=list, description="Versions visible to the caller")
    reviews: list[DocumentReviewOut] = Field(default_factory=list)
    timeline: list[TimelineEventOut] = Field(default_factory=list)
