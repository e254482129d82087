"""What the quality services return: plain, frozen values (no ORM objects leave a service)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from pharmos.compliance.signatures import SignatureView


@dataclass(frozen=True)
class LinkView:
    record_type: str  # lot | batch | equipment | material
    reference: str
    added_by: str
    added_at: datetime


@dataclass(frozen=True)
class ExtensionView:
    id: int
    current_due_on: date
    requested_due_on: date
    justification: str
    requested_by: str
    requested_at: datetime
    decision: str  # pending | approved | rejected
    decided_by: str
    decided_at: datetime | None
    decision_comment: str


@dataclass(frozen=True)
class TimelineEvent:
    """One line of a record's timeline: a change of state, a signature or another audited action."""

    at: datetime
    kind: str  # state | signature | change | comment
    actor: str
    summary: str  # the whole line in English (exports, API readers)
    # The same line in parts, so a page can say it in the reader's language:
    action: str = "text"  # created | moved | signed | changed | comment | text
    old: str = ""  # state before (moved)
    new: str = ""  # state after (created, moved)
    meaning: str = ""  # signature meaning (signed)
    signer: str = ""  # printed name (signed)
    fields: tuple[str, ...] = ()  # fields changed (changed)
    text: str = ""  # any other event, in English
    reason: str = ""  # the reason given, if any


@dataclass(frozen=True)
class CapaView:
    id: int
    number: str
    kind: str  # corrective | preventive
    title: str
    description: str
    source_type: str
    source_reference: str
    deviation_id: int | None
    owner: str
    due_on: date
    effectiveness_criteria: str
    effectiveness_check_days: int
    effectiveness_due_on: date | None
    implementation_summary: str
    effectiveness_result: str
    effective: bool | None
    state: str
    author: str
    created_at: datetime
    implemented_at: datetime | None
    closed_at: datetime | None
    overdue: bool  # open past its due date, or implemented past its effectiveness check date
    signatures: tuple[SignatureView, ...] = ()
    timeline: tuple[TimelineEvent, ...] = ()


@dataclass(frozen=True)
class DeviationView:
    id: int
    number: str
    title: str
    description: str
    area: str
    occurred_at: datetime | None
    discovered_at: datetime
    immediate_action: str
    source: str
    reported_by: str
    reported_at: datetime
    classification: str
    severity: int | None
    occurrence: int | None
    detectability: int | None
    risk_priority: int | None
    classification_rationale: str
    due_on: date | None
    extensions_granted: int
    investigator: str
    five_whys: tuple[str, ...]
    root_cause_category: str
    root_cause: str
    impact_assessment: str
    product_impact: bool | None
    conclusion: str
    state: str
    approved_at: datetime | None
    closed_at: datetime | None
    escalated_at: datetime | None
    overdue: bool
    age_days: int  # days since it was reported (until closed)
    links: tuple[LinkView, ...] = ()
    extensions: tuple[ExtensionView, ...] = ()
    capas: tuple[CapaView, ...] = ()
    signatures: tuple[SignatureView, ...] = ()
    timeline: tuple[TimelineEvent, ...] = ()


@dataclass(frozen=True)
class QualityHold:
    """An open deviation holding a lot or batch (other modules refuse to use the record while it exists)."""

    deviation_id: int
    deviation_number: str
    title: str
    state: str
    classification: str


@dataclass(frozen=True)
class QualityTask:
    """One item of a person's quality inbox: what to do on which record, and by when."""

    # deviation | capa | extension | change_control | complaint | document | document_version | training_record
    record_type: str
    record_id: int
    number: str
    title: str
    action: str  # classify | investigate | approve | close | implement | check_effectiveness | decide_extension
    due_on: date | None
    overdue: bool


@dataclass(frozen=True)
class EscalationResult:
    run_on: date
    deviations_escalated: tuple[str, ...]
    capas_escalated: tuple[str, ...]


@dataclass(frozen=True)
class QualityCounts:
    """Open items by state and age for the dashboard and the deviation/CAPA lists."""

    open_deviations: int
    overdue_deviations: int
    open_capas: int
    overdue_capas: int
    capas_awaiting_effectiveness: int
    by_classification: dict[str, int]
    by_age: dict[str, int]  # "0-30", "31-60", "61-90", ">90" days
    open_change_controls: int = 0
    open_complaints: int = 0
    overdue_complaints: int = 0
    training_overdue: int = 0  # assigned training past its due date, site-wide
    documents_due_for_review: int = 0  # effective documents whose periodic review falls due within 60 days


@dataclass(frozen=True)
class TrendPoint:
    month: str  # YYYY-MM
    category: str  # classification or root-cause category
    count: int
