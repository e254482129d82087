"""What the complaint and saved-filter services return: plain, frozen values (no ORM objects leave a service)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from pharmos.compliance.signatures import SignatureView
from pharmos.quality.views import TimelineEvent

__all__ = ["ComplaintView", "SavedFilterView"]


@dataclass(frozen=True)
class ComplaintView:
    id: int
    number: str
    received_on: date
    channel: str  # phone | email | letter | visit | regulator | distributor
    customer: str
    customer_contact: str
    region: str
    product: str
    lot_number: str
    description: str
    sample_received: bool
    sample_received_on: date | None
    received_by: str
    classification: str  # minor | major | critical, "" until classified
    category: str
    adverse_event: bool
    due_on: date | None
    investigator: str
    investigation: str
    root_cause: str
    justified: bool | None
    linked_records: tuple[str, ...]  # "deviation:DEV-2026-0001", "capa:CAPA-2026-0003"
    response: str
    responded_on: date | None
    state: str
    approved_at: datetime | None
    closed_at: datetime | None
    created_at: datetime
    overdue: bool  # past its due date and neither closed nor cancelled
    age_days: int  # days since it was received (until closed)
    signatures: tuple[SignatureView, ...] = ()
    timeline: tuple[TimelineEvent, ...] = ()


@dataclass(frozen=True)
class SavedFilterView:
    id: int
    list_name: str
    name: str
    query: str  # the list's query string, without "?"
    shared: bool
    owner: str  # username of the person who saved it
    mine: bool  # saved by the person asking (who may delete it)
