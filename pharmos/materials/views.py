"""What the materials services return: plain, frozen values (no ORM objects leave a service)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from pharmos.compliance.signatures import SignatureView


@dataclass(frozen=True)
class PackUnitView:
    unit: str
    factor_to_base: Decimal


@dataclass(frozen=True)
class MaterialView:
    id: int
    code: str
    version: int
    name_zh: str
    name_en: str
    material_type: str
    base_unit: str
    storage_condition: str
    protect_from_light: bool
    shelf_life_days: int | None
    retest_interval_days: int | None
    min_remaining_shelf_life_days: int
    sampling_plan: str
    gmp_critical: bool
    state: str
    author: str
    created_at: datetime
    approved_at: datetime | None
    pack_units: tuple[PackUnitView, ...] = ()
    signatures: tuple[SignatureView, ...] = ()


@dataclass(frozen=True)
class SupplierApprovalView:
    material_code: str
    status: str  # approved | conditional | disqualified
    decided_on: date
    decided_by: str
    note: str


@dataclass(frozen=True)
class SupplierView:
    id: int
    code: str
    name: str
    name_en: str
    kind: str
    address: str
    contact: str
    last_audit_on: date | None
    next_audit_due: date | None
    active: bool
    approvals: tuple[SupplierApprovalView, ...] = ()
    # Share of received PO lines that arrived on or before their due date; None before any receipt.
    on_time_delivery_pct: float | None = None
    receipt_count: int = 0


@dataclass(frozen=True)
class LocationView:
    id: int
    code: str
    name: str
    kind: str  # site | warehouse | zone | bin
    parent_id: int | None
    path: str  # codes from the site down, e.g. "HD/WH1/CR1/CR1-A01"
    storage_class: str
    light_protected: bool
    status_zone: str
    active: bool


@dataclass(frozen=True)
class PurchaseOrderLineView:
    id: int
    line_no: int
    material_code: str
    material_name: str
    quantity: Decimal
    unit: str
    base_unit: str
    quantity_base: Decimal
    received_base: Decimal
    tolerance_pct: Decimal
    due_on: date


@dataclass(frozen=True)
class PurchaseOrderView:
    id: int
    number: str
    supplier_id: int
    supplier_code: str
    supplier_name: str
    status: str  # open | closed | cancelled
    ordered_on: date
    created_by: str
    note: str
    lines: tuple[PurchaseOrderLineView, ...] = ()


@dataclass(frozen=True)
class ContainerView:
    id: int
    number: str
    lot_id: int
    lot_number: str
    material_code: str
    location_id: int | None
    location_code: str | None
    quantity: Decimal
    reserved: Decimal
    available: Decimal
    unit: str


@dataclass(frozen=True)
class StatusChange:
    """One state change of a record, read from its audit trail (21 CFR 11.10(e))."""

    at: datetime
    actor: str
    from_state: str | None
    to_state: str
    reason: str | None


@dataclass(frozen=True)
class LotView:
    id: int
    number: str
    material_id: int
    material_code: str
    material_name: str
    storage_condition: str
    supplier_id: int | None
    supplier_name: str
    supplier_lot: str
    receipt_number: str | None
    manufactured_on: date | None
    expires_on: date
    retest_on: date | None
    quantity_received: Decimal
    unit: str
    state: str
    received_by: str
    received_at: datetime
    qa_flag: str
    qa_flag_assessed: bool
    short_dated_use_approved: bool
    on_hand: Decimal
    reserved: Decimal
    available: Decimal
    # Every reason the lot may not be issued now (empty when usable), for the UI and batches.
    use_problems: tuple[str, ...] = ()
    containers: tuple[ContainerView, ...] = ()
    signatures: tuple[SignatureView, ...] = ()
    # Every status the lot has been in, oldest first: shown to anyone who may see the lot.
    history: tuple[StatusChange, ...] = ()


@dataclass(frozen=True)
class ReceiptView:
    id: int
    number: str
    order_id: int
    order_number: str
    supplier_id: int
    supplier_name: str
    delivery_note: str
    received_at: datetime
    received_by: str
    logger_id: str
    transport_min_c: Decimal | None
    transport_max_c: Decimal | None
    location_code: str
    lots: tuple[LotView, ...] = ()


@dataclass(frozen=True)
class MovementView:
    id: int
    kind: str
    lot_id: int
    lot_number: str
    container_number: str
    material_code: str
    quantity_change: Decimal
    quantity: Decimal
    unit: str
    from_location_code: str | None
    to_location_code: str | None
    actor: str
    reason: str
    reference: str
    at: datetime
    fefo_override: bool
    reviewed_by: str | None = None


@dataclass(frozen=True)
class OnHandRow:
    material_code: str
    material_name: str
    lot_id: int | None
    lot_number: str | None
    lot_state: str | None
    expires_on: date | None
    retest_on: date | None
    location_code: str | None
    containers: int
    on_hand: Decimal
    reserved: Decimal
    available: Decimal
    unit: str


@dataclass(frozen=True)
class AllocationLine:
    lot_id: int
    lot_number: str
    container_id: int
    container_number: str
    location_code: str | None
    expires_on: date
    retest_on: date | None
    quantity: Decimal  # base unit
    reservation_id: int | None = None


@dataclass(frozen=True)
class Allocation:
    material_code: str
    requested: Decimal  # base unit
    unit: str  # base unit
    purpose: str
    lines: tuple[AllocationLine, ...]
    shortfall: Decimal  # what could not be allocated (0 when fully covered)


@dataclass(frozen=True)
class CycleCountLineView:
    id: int
    container_number: str
    lot_number: str
    material_code: str
    expected: Decimal
    counted: Decimal | None
    variance: Decimal | None
    unit: str


@dataclass(frozen=True)
class CycleCountView:
    id: int
    number: str
    location_code: str
    state: str
    created_by: str
    created_at: datetime
    lines: tuple[CycleCountLineView, ...] = ()
    signatures: tuple[SignatureView, ...] = ()


@dataclass(frozen=True)
class ExpiryRow:
    lot_id: int
    lot_number: str
    material_code: str
    material_name: str
    state: str
    expires_on: date
    retest_on: date | None
    days_to_expiry: int
    days_to_retest: int | None
    on_hand: Decimal
    unit: str


@dataclass(frozen=True)
class DailyReviewResult:
    run_on: date
    expired: tuple[str, ...] = ()  # lot numbers moved to expired by this run
    expiring: tuple[ExpiryRow, ...] = ()  # within the warning window
    retest_due: tuple[ExpiryRow, ...] = ()  # retest date within the window or passed
    flagged: tuple[str, ...] = field(default_factory=tuple)  # lots newly flagged to QA
