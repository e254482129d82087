"""What the change-control services return: plain, frozen values (no ORM objects leave a service)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from pharmos.compliance.signatures import SignatureView
from pharmos.quality.views import CapaView, TimelineEvent

__all__ = ["ChangeAssessmentView", "ChangeControlView", "ChangeTaskView"]


@dataclass(frozen=True)
class ChangeAssessmentView:
    """One function's impact assessment, with the assessor's signatures (the latest decides)."""

    id: int
    function: str  # production | qc | regulatory | validation | equipment | qa | warehouse | ehs
    assessor: str
    assessor_name: str
    impact: str
    impact_level: str  # none | low | medium | high ("" until assessed)
    required_actions: str
    decision: str  # pending | approved | rejected
    decided_at: datetime | None
    signatures: tuple[SignatureView, ...] = ()


@dataclass(frozen=True)
class ChangeTaskView:
    id: int
    title: str
    function: str
    owner: str
    due_on: date
    state: str  # open | done | cancelled
    evidence: str
    completed_at: datetime | None
    overdue: bool  # open past its due date
    signatures: tuple[SignatureView, ...] = ()


@dataclass(frozen=True)
class ChangeControlView:
    id: int
    number: str
    title: str
    description: str
    justification: str
    change_type: str
    affected_records: tuple[str, ...]
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
    # Functions named by QA whose assessment is still awaited (a rejection is a decision: see assessments).
    pending_functions: tuple[str, ...]
    overdue_tasks: int  # open implementation tasks past their due date
    assessments: tuple[ChangeAssessmentView, ...] = ()
    tasks: tuple[ChangeTaskView, ...] = ()
    capas: tuple[CapaView, ...] = ()  # CAPA raised from this change (source_reference = its number)
    signatures: tuple[SignatureView, ...] = ()
    timeline: tuple[TimelineEvent, ...] = ()
