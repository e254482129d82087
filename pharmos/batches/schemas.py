"""API shapes of batch orders, execution and review by exception.

Whether a size, value, scan or signature is acceptable is the services' rule
(docs/batches/service-api.md): these shapes check types and lengths only, so the API and the
tablet pages refuse the same inputs naming the same fields. Values are sent as text so no
number passes through a float (21 CFR 11.10(a)).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field

from pharmos.compliance.schemas import SignatureOut

__all__ = [
    "BatchIn",
    "BatchMaterialOut",
    "BatchOut",
    "CorrectionIn",
    "DispenseOut",
    "EntryIn",
    "EntryOut",
    "EquipmentScanIn",
    "ExceptionOut",
    "ExceptionReviewIn",
    "LotScanIn",
    "SignIn",
    "StepOut",
    "VerifyIn",
]

_TEXT = 2000


class _ViewOut(BaseModel):
    """A response read from a service's frozen view dataclass."""

    model_config = ConfigDict(from_attributes=True)

    @classmethod
    def of(cls, view: object) -> Self:
        return cls.model_validate(view, from_attributes=True)


# ---------------------------------------------------------------- input


class BatchIn(BaseModel):
    mbr_id: int = Field(description="An effective master batch record")
    planned_size: str = Field(max_length=40, description="In the recipe's batch unit, e.g. 200")
    planned_start: datetime = Field(description="With its time zone")
    reserve: bool = Field(default=True, description="Reserve the dispensed materials first-expiry-first-out")


class EntryIn(BaseModel):
    parameter_code: str = Field(max_length=40)
    value: str = Field(max_length=_TEXT, description="As text: a number, minutes, an ISO time with zone, a choice, "
                                                     "pass/fail or free text")
    reason: str = Field(default="", max_length=_TEXT, description="Required when the parameter is already recorded")


class CorrectionIn(BaseModel):
    value: str = Field(max_length=_TEXT)
    reason: str = Field(max_length=_TEXT, description="Why the entry is corrected (EU GMP Annex 11 §9)")


class EquipmentScanIn(BaseModel):
    number: str = Field(max_length=60, description="The equipment number on its label")


class LotScanIn(BaseModel):
    code: str = Field(max_length=100, description="A lot or container number (the label's QR code)")
    reason: str = Field(default="", max_length=_TEXT)


class SignIn(BaseModel):
    password: str = Field(max_length=200, description="Your password: the step is signed (21 CFR 11.200)")
    otp: str | None = Field(default=None, max_length=10)


class OrderOverrideIn(BaseModel):
    reason: str = Field(max_length=_TEXT, description="Why the step is done before its predecessors (kept as an "
                                                      "override exception for QA's review)")


class VerifyIn(BaseModel):
    password: str = Field(max_length=200, description="Your password: the step is verified (21 CFR 11.200)")
    otp: str | None = Field(default=None, max_length=10)


class ExceptionReviewIn(BaseModel):
    comment: str = Field(max_length=4000, description="The reviewer's assessment of the exception")


# ---------------------------------------------------------------- output


class EntryOut(_ViewOut):
    id: int
    step_id: int
    kind: str
    parameter_code: str
    value: str
    numeric_value: Decimal | None
    unit: str
    reference_id: int | None
    within_limits: bool | None
    recorded_by: str
    recorded_at: datetime
    corrects_id: int | None
    correction_reason: str
    superseded: bool


class ParameterOut(_ViewOut):
    id: int
    code: str
    label: str
    kind: str
    unit: str
    target: Decimal | None
    lower: Decimal | None
    upper: Decimal | None
    choices: list[str]
    expected: str
    critical: bool
    required: bool


class ParameterEntryOut(_ViewOut):
    parameter: ParameterOut
    current: EntryOut | None
    history: list[EntryOut]


class DispenseOut(_ViewOut):
    id: int
    number: str
    material_line_id: int
    line_no: int
    material_code: str
    container_number: str
    lot_number: str
    gross: Decimal | None
    tare: Decimal | None
    net: Decimal
    unit: str
    balance_number: str
    allocated_lot: bool
    substitution_reason: str
    dispensed_by: str
    dispensed_at: datetime


class BatchMaterialOut(_ViewOut):
    id: int
    line_no: int
    material_code: str
    material_name: str
    target: Decimal
    unit: str
    tolerance_pct: Decimal
    low: Decimal
    high: Decimal
    dispensed: bool
    scan_required: bool
    step_code: str
    dispensed_total: Decimal
    complete: bool
    reservations: list[dict[str, Any]]
    dispenses: list[DispenseOut]


class ExceptionOut(_ViewOut):
    id: int
    batch_id: int
    batch_number: str
    label: str
    kind: str
    critical: bool
    step_id: int | None
    step_code: str
    entry_id: int | None
    description: str
    context: dict[str, Any]
    reason: str
    raised_by: str
    raised_at: datetime
    deviation_number: str | None
    state: str
    reviewed_by: str | None
    reviewed_at: datetime | None
    review_comment: str


class StepOut(_ViewOut):
    id: int
    batch_id: int
    batch_number: str
    seq: int
    code: str
    title: str
    phase_seq: int
    phase_name: str
    critical: bool
    state: str
    available_at: datetime | None
    due_at: datetime | None
    performed_by: str | None
    performed_at: datetime | None
    verified_by: str | None
    verified_at: datetime | None
    instructions_html: str = ""
    kind: str = "process"
    equipment_classes: list[str] = []
    sop_numbers: list[str] = []
    time_limit_minutes: int | None = None
    parameters: list[ParameterEntryOut] = []
    equipment: list[EntryOut] = []
    lots: list[EntryOut] = []
    materials: list[BatchMaterialOut] = []
    exceptions: list[ExceptionOut] = []
    signatures: list[SignatureOut] = []
    sign_blockers: list[str] = []


class BatchOut(_ViewOut):
    id: int
    number: str
    mbr_id: int
    mbr_number: str
    mbr_version: int
    product_code: str
    product_name: str
    stage: str
    planned_size: Decimal
    unit: str
    scale_factor: Decimal
    planned_start: datetime
    state: str
    ordered_by: str
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    decided_at: datetime | None
    hold_reason: str
    theoretical_yield: Decimal
    yield_unit: str
    yield_low_pct: Decimal
    yield_high_pct: Decimal
    actual_yield: Decimal | None
    yield_pct: Decimal | None
    reconciliation_note: str
    output_lot_id: int | None
    output_lot_number: str | None
    steps_total: int
    steps_done: int
    open_exceptions: int
    current_step_ids: list[int]
    materials: list[BatchMaterialOut] = []
    steps: list[StepOut] = []
    exceptions: list[ExceptionOut] = []
    signatures: list[SignatureOut] = []
    release_blockers: list[str] = []
