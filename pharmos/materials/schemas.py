"""API shapes of the materials module.

Quantities are accepted as JSON strings or numbers and parsed as ``Decimal``; they leave as
strings so no client rounds a ledger figure through a float. Whether a quantity, unit, date
or code is acceptable is the services' rule (docs/materials/service-api.md): these shapes
check types and lengths only, so the API and the web UI refuse the same inputs with the same
messages.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field

from pharmos.compliance.schemas import SignatureOut


def _reason() -> Any:
    # A fresh FieldInfo per use: one shared instance would be mutated by each model that adopts it.
    return Field(max_length=2000, description="Reason for change (recorded in the audit trail)")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    @classmethod
    def of(cls, view: object) -> Self:
        # The services return frozen dataclasses (pharmos/materials/views.py); read them, and the
        # signatures and lines nested in them, by attribute.
        return cls.model_validate(view, from_attributes=True)


# ---------------------------------------------------------------- material master


class MaterialFields(BaseModel):
    name_zh: str = Field(max_length=200)
    name_en: str = Field(default="", max_length=200)
    material_type: str = Field(max_length=30, description="raw_material, excipient, packaging, intermediate, "
                                                          "finished_product or consumable")
    base_unit: str = Field(max_length=10, description="kg, g, mg, L, mL or each")
    storage_condition: str = Field(max_length=20, description="2-8C, -20C, -80C, 15-25C or le30C")
    protect_from_light: bool = False
    shelf_life_days: int | None = None
    retest_interval_days: int | None = None
    min_remaining_shelf_life_days: int = 0
    sampling_plan: str = Field(default="", max_length=100)
    gmp_critical: bool = True
    pack_units: dict[str, Decimal] | None = Field(
        default=None, description='The material\'s own pack units and their size in the base unit, e.g. {"box": 100}')


class MaterialIn(MaterialFields):
    code: str = Field(max_length=40)


class MaterialRevisionIn(BaseModel):
    """Only the fields sent are changed; the reason is mandatory (the draft may have been reviewed)."""

    reason: str = _reason()
    name_zh: str | None = Field(default=None, max_length=200)
    name_en: str | None = Field(default=None, max_length=200)
    material_type: str | None = Field(default=None, max_length=30)
    base_unit: str | None = Field(default=None, max_length=10)
    storage_condition: str | None = Field(default=None, max_length=20)
    protect_from_light: bool | None = None
    shelf_life_days: int | None = None
    retest_interval_days: int | None = None
    min_remaining_shelf_life_days: int | None = None
    sampling_plan: str | None = Field(default=None, max_length=100)
    gmp_critical: bool | None = None
    pack_units: dict[str, Decimal] | None = None


class PackUnitOut(_Out):
    unit: str
    factor_to_base: Decimal


class MaterialOut(_Out):
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
    pack_units: list[PackUnitOut] = Field(default_factory=list)
    signatures: list[SignatureOut] = Field(default_factory=list)


# ---------------------------------------------------------------- suppliers


class SupplierIn(BaseModel):
    code: str = Field(max_length=40)
    name: str = Field(max_length=200)
    name_en: str = Field(default="", max_length=200)
    kind: str = Field(default="manufacturer", max_length=20, description="manufacturer or distributor")
    address: str = Field(default="", max_length=2000)
    contact: str = Field(default="", max_length=200)
    last_audit_on: date | None = None
    next_audit_due: date | None = None


class SupplierRevisionIn(BaseModel):
    """Only the fields sent are changed."""

    reason: str = _reason()
    name: str | None = Field(default=None, max_length=200)
    name_en: str | None = Field(default=None, max_length=200)
    kind: str | None = Field(default=None, max_length=20)
    address: str | None = Field(default=None, max_length=2000)
    contact: str | None = Field(default=None, max_length=200)
    last_audit_on: date | None = None
    next_audit_due: date | None = None
    active: bool | None = None


class SupplierApprovalIn(BaseModel):
    status: str = Field(max_length=20, description="approved, conditional or disqualified")
    note: str = Field(default="", max_length=2000)
    reason: str = _reason()


class SupplierApprovalOut(_Out):
    material_code: str
    status: str
    decided_on: date
    decided_by: str
    note: str


class SupplierOut(_Out):
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
    approvals: list[SupplierApprovalOut] = Field(default_factory=list)
    on_time_delivery_pct: float | None = None
    receipt_count: int = 0


# ---------------------------------------------------------------- purchase orders and receipts


class OrderLineIn(BaseModel):
    material_code: str = Field(max_length=40)
    quantity: Decimal
    unit: str = Field(max_length=10)
    due_on: date
    tolerance_pct: Decimal = Field(default=Decimal(10), description="Over-delivery accepted without a reason, %")


class PurchaseOrderIn(BaseModel):
    supplier_id: int
    lines: list[OrderLineIn] = Field(max_length=200)
    note: str = Field(default="", max_length=2000)
    ordered_on: date | None = None


class PurchaseOrderLineOut(_Out):
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


class PurchaseOrderOut(_Out):
    id: int
    number: str
    supplier_id: int
    supplier_code: str
    supplier_name: str
    status: str
    ordered_on: date
    created_by: str
    note: str
    lines: list[PurchaseOrderLineOut] = Field(default_factory=list)


class ReasonIn(BaseModel):
    reason: str = _reason()


class ReceiptLineIn(BaseModel):
    order_line_id: int
    supplier_lot: str = Field(max_length=100)
    expires_on: date
    quantity: Decimal
    unit: str = Field(max_length=10)
    containers: int = 1
    manufactured_on: date | None = None
    retest_on: date | None = None
    over_tolerance_reason: str = Field(default="", max_length=2000)


class ReceiptIn(BaseModel):
    order_id: int
    location_code: str = Field(max_length=40, description="The receiving bin")
    lines: list[ReceiptLineIn] = Field(max_length=200)
    delivery_note: str = Field(default="", max_length=100)
    logger_id: str = Field(default="", max_length=100, description="Temperature logger of a cold-chain delivery")
    transport_min_c: Decimal | None = None
    transport_max_c: Decimal | None = None


class ContainerOut(_Out):
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


class StatusChangeOut(_Out):
    at: datetime
    actor: str
    from_state: str | None
    to_state: str
    reason: str | None


class LotOut(_Out):
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
    use_problems: list[str] = Field(default_factory=list)
    containers: list[ContainerOut] = Field(default_factory=list)
    signatures: list[SignatureOut] = Field(default_factory=list)
    # Status changes read from the lot's audit trail, oldest first (on the single-lot reads).
    history: list[StatusChangeOut] = Field(default_factory=list)


class ReceiptOut(_Out):
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
    lots: list[LotOut] = Field(default_factory=list)


# ---------------------------------------------------------------- lots


class SignedReasonIn(BaseModel):
    """An electronic signature: the password (and TOTP) re-entered, with the reason (21 CFR 11.200)."""

    password: str = Field(max_length=200)
    otp: str | None = Field(default=None, max_length=10)
    reason: str = _reason()


class RetestDateIn(BaseModel):
    retest_on: date
    reason: str = _reason()


# ---------------------------------------------------------------- locations


class LocationIn(BaseModel):
    code: str = Field(max_length=40)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=20, description="site, warehouse, zone or bin")
    parent_code: str | None = Field(default=None, max_length=40)
    storage_class: str = Field(max_length=20)
    light_protected: bool = False
    status_zone: str = Field(default="", max_length=20, description="quarantine, released or rejected (zones)")


class LocationRevisionIn(BaseModel):
    reason: str = _reason()
    name: str | None = Field(default=None, max_length=200)
    storage_class: str | None = Field(default=None, max_length=20)
    light_protected: bool | None = None
    status_zone: str | None = Field(default=None, max_length=20)
    active: bool | None = None


class LocationOut(_Out):
    id: int
    code: str
    name: str
    kind: str
    parent_id: int | None
    path: str
    storage_class: str
    light_protected: bool
    status_zone: str
    active: bool


# ---------------------------------------------------------------- stock movements


class PutAwayIn(BaseModel):
    container_number: str = Field(max_length=50)
    to_location_code: str = Field(max_length=40)
    reason: str = Field(default="", max_length=2000)


class IssueIn(BaseModel):
    container_number: str = Field(max_length=50)
    quantity: Decimal
    unit: str = Field(max_length=10)
    reference: str = Field(max_length=100, description="What the stock is issued for, e.g. a batch order")
    reservation_id: int | None = None
    fefo_override_reason: str = Field(default="", max_length=2000,
                                      description="Required when an earlier-expiring container is available")


class ReturnIn(BaseModel):
    container_number: str = Field(max_length=50)
    quantity: Decimal
    unit: str = Field(max_length=10)
    to_location_code: str = Field(max_length=40)
    reason: str = _reason()
    reference: str = Field(default="", max_length=100)


class AdjustmentIn(BaseModel):
    container_number: str = Field(max_length=50)
    change: Decimal = Field(description="Signed: negative for a loss")
    unit: str = Field(max_length=10)
    reason: str = _reason()


class SamplingIn(BaseModel):
    container_number: str = Field(max_length=50)
    quantity: Decimal
    unit: str = Field(max_length=10)
    reason: str = Field(default="QC sampling", max_length=2000)
    reference: str = Field(default="", max_length=100)


class DestructionIn(BaseModel):
    container_number: str = Field(max_length=50)
    quantity: Decimal
    unit: str = Field(max_length=10)
    reason: str = _reason()


class OverrideReviewIn(BaseModel):
    comment: str = Field(max_length=2000)


class MovementOut(_Out):
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


class OnHandOut(_Out):
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


class AllocateIn(BaseModel):
    material_code: str = Field(max_length=40)
    quantity: Decimal
    unit: str = Field(max_length=10)
    purpose: str = Field(max_length=100, description="What the stock is for, e.g. a batch order number")
    reserve: bool = Field(default=False, description="Also reserve the allocated containers")
    min_remaining_days: int | None = Field(default=None, description="Overrides the material's minimum "
                                                                     "remaining shelf life")


class ReservationIn(BaseModel):
    container_number: str = Field(max_length=50)
    quantity: Decimal
    unit: str = Field(max_length=10)
    purpose: str = Field(max_length=100, description="What the stock is promised to, e.g. a batch order number")


class AllocationLineOut(_Out):
    lot_id: int
    lot_number: str
    container_id: int
    container_number: str
    location_code: str | None
    expires_on: date
    retest_on: date | None
    quantity: Decimal
    reservation_id: int | None = None


class AllocationOut(_Out):
    material_code: str
    requested: Decimal
    unit: str
    purpose: str
    lines: list[AllocationLineOut]
    shortfall: Decimal


# ---------------------------------------------------------------- cycle counts


class CycleCountIn(BaseModel):
    location_code: str = Field(max_length=40)


class CountIn(BaseModel):
    container_number: str = Field(max_length=50)
    counted: Decimal = Field(description="Quantity found, in the lot's unit (0 when the container is gone)")


class CycleCountLineOut(_Out):
    id: int
    container_number: str
    lot_number: str
    material_code: str
    expected: Decimal
    counted: Decimal | None
    variance: Decimal | None
    unit: str


class CycleCountOut(_Out):
    id: int
    number: str
    location_code: str
    state: str
    created_by: str
    created_at: datetime
    lines: list[CycleCountLineOut] = Field(default_factory=list)
    signatures: list[SignatureOut] = Field(default_factory=list)


# ---------------------------------------------------------------- reports and exchange


class ExpiryRowOut(_Out):
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


ExportFormat = Literal["csv", "xlsx"]
ReportFormat = Literal["json", "csv", "xlsx"]
