"""API shapes of complaints and saved filters.

Whether a date, channel, lot number, category, username or linked record is acceptable is the
services' rule (docs/quality/service-api.md): these shapes check types and lengths only, so the
API and the web UI refuse the same inputs with the same messages naming the same fields.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from pharmos.compliance.schemas import SignatureOut
from pharmos.quality.schemas import TimelineEventOut, ViewOut, reason_field

__all__ = [
    "ComplaintClassificationIn",
    "ComplaintIn",
    "ComplaintInvestigationIn",
    "ComplaintLinkIn",
    "ComplaintOut",
    "ComplaintTrendBy",
    "ComplaintUnlinkIn",
    "ResponseIn",
    "SavedFilterIn",
    "SavedFilterOut",
]

LONG_TEXT = 8000


class ComplaintIn(BaseModel):
    received_on: date = Field(description="Not in the future, at most 365 days ago")
    channel: str = Field(max_length=20, description="phone, email, letter, visit, regulator or distributor")
    customer: str = Field(max_length=200, description="Who complained")
    product: str = Field(max_length=200)
    description: str = Field(max_length=LONG_TEXT, description="The complaint as received")
    customer_contact: str = Field(default="", max_length=200)
    region: str = Field(default="", max_length=100)
    lot_number: str = Field(default="", max_length=60, description="Capital letters, digits and '-', 3-40 long")
    sample_received: bool = False
    sample_received_on: date | None = Field(default=None, description="Required when a sample was received")


class ComplaintClassificationIn(BaseModel):
    classification: str = Field(max_length=10, description="minor, major or critical")
    category: str = Field(max_length=20, description="quality_defect, packaging, labelling, adverse_event, efficacy, "
                                                     "counterfeit or other")
    adverse_event: bool = Field(description="Passed to pharmacovigilance")
    investigator_username: str = Field(max_length=150, description="A user holding complaints.investigate")
    due_on: date | None = Field(default=None, description="Today or later; default: the class's working days")


class ComplaintInvestigationIn(BaseModel):
    """Only the fields sent are changed."""

    investigation: str | None = Field(default=None, max_length=LONG_TEXT)
    root_cause: str | None = Field(default=None, max_length=LONG_TEXT)
    justified: bool | None = Field(default=None, description="Confirmed as a product defect")


class ComplaintLinkIn(BaseModel):
    record: str = Field(max_length=60, description="deviation:DEV-2026-0001 or capa:CAPA-2026-0001")


class ComplaintUnlinkIn(ComplaintLinkIn):
    reason: str = reason_field()


class ResponseIn(BaseModel):
    response: str = Field(max_length=LONG_TEXT, description="What the complainant was told")
    responded_on: date = Field(description="Not in the future, not before the complaint was received")


class ComplaintOut(ViewOut):
    id: int
    number: str
    received_on: date
    channel: str
    customer: str
    customer_contact: str
    region: str
    product: str
    lot_number: str
    description: str
    sample_received: bool
    sample_received_on: date | None
    received_by: str
    classification: str
    category: str
    adverse_event: bool
    due_on: date | None
    investigator: str
    investigation: str
    root_cause: str
    justified: bool | None
    linked_records: list[str]
    response: str
    responded_on: date | None
    state: str
    approved_at: datetime | None
    closed_at: datetime | None
    created_at: datetime
    overdue: bool
    age_days: int
    signatures: list[SignatureOut] = Field(default_factory=list)
    timeline: list[TimelineEventOut] = Field(default_factory=list)


class SavedFilterIn(BaseModel):
    list_name: str = Field(max_length=30, description="deviations, capas, change_controls, documents, training or "
                                                      "complaints")
    name: str = Field(max_length=200)
    query: str = Field(max_length=2000, description="The list's query string, e.g. state=reported&overdue=1")
    shared: bool = Field(default=False, description="Visible to everyone (QA only)")


class SavedFilterOut(ViewOut):
    id: int
    list_name: str
    name: str
    query: str
    shared: bool
    owner: str
    mine: bool


ComplaintTrendBy = Literal["category", "product", "classification"]
