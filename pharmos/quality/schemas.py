"""API shapes of the quality module: deviations, CAPA, quality holds, the inbox, counts and trends.

Whether a classification, score, date, category, username or linked record is acceptable is
the services' rule (docs/quality/service-api.md): these shapes check types and lengths only,
so the API and the web UI refuse the same inputs with the same messages naming the same fields.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field

from pharmos.compliance.schemas import SignatureOut

__all__ = [
    "CapaIn",
    "CapaOut",
    "CapaRevisionIn",
    "ClassificationIn",
    "DeviationIn",
    "DeviationOut",
    "EffectivenessIn",
    "ExportFormat",
    "ExtensionDecisionIn",
    "ExtensionIn",
    "ExtensionOut",
    "ImplementationIn",
    "InvestigationIn",
    "InvestigatorIn",
    "LinkIn",
    "LinkOut",
    "LinkRemovalIn",
    "LinkRequestIn",
    "QualityCountsOut",
    "QualityHoldOut",
    "QualityTaskOut",
    "TimelineEventOut",
    "TrendBy",
    "TrendPointOut",
    "ViewOut",
    "reason_field",
]

LONG_TEXT = 8000


def reason_field() -> Any:
    # A fresh FieldInfo per use: one shared instance would be mutated by each model that adopts it.
    return Field(max_length=2000, description="Reason for change (recorded in the audit trail)")


class ViewOut(BaseModel):
    """A response read from a service's frozen view dataclass."""

    model_config = ConfigDict(from_attributes=True)

    @classmethod
    def of(cls, view: object) -> Self:
        # The services return frozen dataclasses (pharmos/quality/views.py); read them, and the links,
        # extensions, CAPA, signatures and timeline nested in them, by attribute.
        return cls.model_validate(view, from_attributes=True)


# ---------------------------------------------------------------- deviations


class LinkIn(BaseModel):
    record_type: str = Field(max_length=20, description="lot, batch, equipment or material")
    reference: str = Field(max_length=60, description="The record's number or code, e.g. LOT-240311-007")


class LinkRequestIn(LinkIn):
    reason: str = reason_field()


class LinkRemovalIn(BaseModel):
    reason: str = reason_field()


class DeviationIn(BaseModel):
    title: str = Field(max_length=200)
    description: str = Field(max_length=LONG_TEXT, description="What happened")
    discovered_at: datetime = Field(description="When it was discovered; not in the future")
    area: str = Field(default="", max_length=120, description="Where: room, line or area")
    occurred_at: datetime | None = Field(default=None, description="When it happened, if known; "
                                                                   "not after its discovery")
    immediate_action: str = Field(max_length=LONG_TEXT, description="What was done at once to contain it")
    links: list[LinkIn] = Field(default_factory=list, max_length=50,
                                description="Affected lots, batches, equipment and materials (put on hold)")


class ClassificationIn(BaseModel):
    classification: str = Field(max_length=10, description="minor, major or critical")
    severity: int = Field(description="1-5")
    occurrence: int = Field(description="1-5")
    detectability: int = Field(description="1-5 (5: hardest to detect)")
    rationale: str = Field(max_length=LONG_TEXT)
    due_on: date | None = Field(default=None, description="Today or later; default: the class's working days "
                                                          "from today")


class InvestigatorIn(BaseModel):
    username: str = Field(max_length=150, description="A user holding deviations.investigate")


class InvestigationIn(BaseModel):
    """Only the fields sent are changed; the investigator saves as the investigation proceeds."""

    five_whys: list[Annotated[str, Field(max_length=2000)]] | None = Field(
        default=None, max_length=20, description="The 5-Why chain, at most five answers")
    root_cause_category: str | None = Field(
        default=None, max_length=20, description="man, machine, material, method, measurement or environment")
    root_cause: str | None = Field(default=None, max_length=LONG_TEXT)
    impact_assessment: str | None = Field(default=None, max_length=LONG_TEXT,
                                          description="Impact on product quality and on other lots or batches")
    product_impact: bool | None = None
    conclusion: str | None = Field(default=None, max_length=LONG_TEXT)


class ExtensionIn(BaseModel):
    requested_due_on: date = Field(description="After the current due date")
    justification: str = Field(max_length=4000)


class ExtensionDecisionIn(BaseModel):
    approve: bool
    comment: str = Field(default="", max_length=4000, description="Required when rejecting")


class LinkOut(ViewOut):
    record_type: str
    reference: str
    added_by: str
    added_at: datetime


class ExtensionOut(ViewOut):
    id: int
    current_due_on: date
    requested_due_on: date
    justification: str
    requested_by: str
    requested_at: datetime
    decision: str
    decided_by: str
    decided_at: datetime | None
    decision_comment: str


class TimelineEventOut(ViewOut):
    at: datetime
    kind: str = Field(description="state, signature, change or comment")
    actor: str
    summary: str


class CapaOut(ViewOut):
    id: int
    number: str
    kind: str
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
    overdue: bool
    signatures: list[SignatureOut] = Field(default_factory=list)
    timeline: list[TimelineEventOut] = Field(default_factory=list)


class DeviationOut(ViewOut):
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
    five_whys: list[str]
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
    age_days: int
    links: list[LinkOut] = Field(default_factory=list)
    extensions: list[ExtensionOut] = Field(default_factory=list)
    capas: list[CapaOut] = Field(default_factory=list)
    signatures: list[SignatureOut] = Field(default_factory=list)
    timeline: list[TimelineEventOut] = Field(default_factory=list)


# ---------------------------------------------------------------- CAPA


class CapaIn(BaseModel):
    kind: str = Field(max_length=12, description="corrective or preventive")
    title: str = Field(max_length=200)
    description: str = Field(default="", max_length=LONG_TEXT)
    source_type: str = Field(max_length=20, description="deviation, complaint, audit, change_control or other")
    source_reference: str = Field(default="", max_length=60, description="The source record's number")
    deviation_id: int | None = Field(default=None, description="Required when the source is a deviation")
    owner_username: str = Field(max_length=150, description="A user holding capas.perform")
    due_on: date = Field(description="Today or later")
    effectiveness_criteria: str = Field(max_length=LONG_TEXT, description="How effectiveness will be judged")
    effectiveness_check_days: int | None = Field(
        default=None, description="Days after implementation the check falls due (0-730); "
                                  "default: the site's setting")


class CapaRevisionIn(BaseModel):
    """Only the fields sent are changed, while the CAPA is open; the reason is mandatory (EU GMP Annex 11 §9)."""

    reason: str = reason_field()
    title: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=LONG_TEXT)
    owner_username: str | None = Field(default=None, max_length=150)
    due_on: date | None = None
    effectiveness_criteria: str | None = Field(default=None, max_length=LONG_TEXT)


class ImplementationIn(BaseModel):
    summary: str = Field(max_length=LONG_TEXT, description="What was done")


class EffectivenessIn(BaseModel):
    result: str = Field(max_length=LONG_TEXT, description="What the check found")
    effective: bool


# ---------------------------------------------------------------- holds, inbox, counts, trend


class QualityHoldOut(ViewOut):
    deviation_id: int
    deviation_number: str
    title: str
    state: str
    classification: str


class QualityTaskOut(ViewOut):
    record_type: str = Field(description="deviation, capa or extension")
    record_id: int
    number: str
    title: str
    action: str = Field(description="classify, investigate, approve, close, implement, check_effectiveness or "
                                    "decide_extension")
    due_on: date | None
    overdue: bool


class QualityCountsOut(ViewOut):
    open_deviations: int
    overdue_deviations: int
    open_capas: int
    overdue_capas: int
    capas_awaiting_effectiveness: int
    by_classification: dict[str, int]
    by_age: dict[str, int] = Field(description='Open deviations by age in days: "0-30", "31-60", "61-90", ">90"')
    open_change_controls: int
    open_complaints: int
    overdue_complaints: int
    training_overdue: int
    documents_due_for_review: int


class TrendPointOut(ViewOut):
    month: str = Field(description="YYYY-MM")
    category: str
    count: int


ExportFormat = Literal["csv", "xlsx"]
TrendBy = Literal["classification", "root_cause_category"]


class CommentIn(BaseModel):
    text: str = Field(min_length=1, max_length=2000, description="Free text added to the record's timeline")
