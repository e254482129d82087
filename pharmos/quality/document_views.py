"""What the controlled-document services return: plain, frozen values (no ORM objects leave a service)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from pharmos.compliance.signatures import SignatureView
from pharmos.quality.views import TimelineEvent


@dataclass(frozen=True)
class DocumentVersionView:
    id: int  # the version's database id: the record id of the `document-versions` lifecycle
    document_id: int
    document_number: str
    version: int  # 1, 2, …
    label: str  # "1.0", "2.0"
    change_summary: str
    change_control: str
    author: str
    reviewers: tuple[str, ...]
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
    reviews_missing: tuple[str, ...] = ()  # reviewers who have not (validly) signed "reviewed"
    signatures: tuple[SignatureView, ...] = ()
    timeline: tuple[TimelineEvent, ...] = ()


@dataclass(frozen=True)
class DocumentReviewView:
    """A periodic review of the effective version (药品GMP 第一百五十八条)."""

    id: int
    version: int
    outcome: str  # no_change | revise | obsolete
    comment: str
    reviewer: str
    reviewed_at: datetime
    next_review_on: date | None
    signatures: tuple[SignatureView, ...] = ()


@dataclass(frozen=True)
class DocumentView:
    id: int
    number: str
    doc_type: str  # sop | specification | form | master | policy
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
    due_for_review: bool  # effective and next_review_on within the review window (60 days)
    # Versions the caller may see (visibility rule), newest first; empty in lists.
    versions: tuple[DocumentVersionView, ...] = ()
    reviews: tuple[DocumentReviewView, ...] = ()
    timeline: tuple[TimelineEvent, ...] = ()

    @property
    def title(self) -> str:
        return self.title_zh if not self.title_en else f"{self.title_zh} / {self.title_en}"
