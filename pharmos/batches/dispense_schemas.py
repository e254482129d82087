"""API shapes of weighing and dispensing, yield, reconciliation and genealogy.

Whether a weight, a lot, a balance or a yield is acceptable is the services' rule
(docs/batches/service-api.md, dispensing.py and completion.py): these shapes check types and
lengths only, so the API and the web UI refuse the same inputs naming the same fields. Weights
are decimals (JSON numbers or strings), never floats in the service.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Self

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "DispenseIn",
    "DispenseOut",
    "GenealogyNodeOut",
    "GenealogyOut",
    "ReconciliationOut",
    "YieldIn",
    "YieldOut",
]


class _ViewOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    @classmethod
    def of(cls, view: object) -> Self:
        return cls.model_validate(view, from_attributes=True)


class DispenseIn(BaseModel):
    line_no: int = Field(ge=1, description="The BOM line weighed")
    container_number: str = Field(max_length=50, description="The scanned container label")
    gross: Decimal | None = Field(default=None, description="Gross weight in the line's unit")
    tare: Decimal | None = Field(default=None, description="Tare weight in the line's unit")
    net: Decimal | None = Field(default=None, description="Net weight; must equal gross − tare when both are given")
    balance_number: str = Field(max_length=40, description="The balance used (must be calibrated and released)")
    weight_source: str = Field(default="manual", max_length=20, description="manual or balance")
    substitution_reason: str = Field(default="", max_length=2000,
                                     description="Required when the lot is not the one allocated to the line")


class DispenseOut(_ViewOut):
    id: int
    number: str
    batch_id: int
    batch_number: str
    line_no: int
    material_code: str
    material_name: str
    container_number: str
    lot_id: int
    lot_number: str
    gross: Decimal | None
    tare: Decimal | None
    net: Decimal
    unit: str
    balance_number: str
    weight_source: str
    allocated_lot: bool
    substitution_reason: str
    dispensed_by: str
    dispensed_at: datetime
    labels_printed: int


class YieldIn(BaseModel):
    actual_yield: Decimal = Field(description="The actual output, in the batch's yield unit")
    note: str = Field(default="", max_length=4000, description="Required when the yield is outside the window")


class YieldOut(_ViewOut):
    id: int
    number: str
    state: str
    theoretical_yield: Decimal
    yield_unit: str
    yield_low_pct: Decimal
    yield_high_pct: Decimal
    actual_yield: Decimal | None
    yield_pct: Decimal | None
    reconciliation_note: str
    open_exceptions: int
    output_lot_number: str | None


class ReconciliationOut(_ViewOut):
    line_no: int
    material_code: str
    target: Decimal
    dispensed: Decimal
    unit: str
    difference: Decimal
    within_tolerance: bool


class GenealogyNodeOut(_ViewOut):
    lot_id: int
    lot_number: str
    material_code: str
    material_name: str
    supplier_lot: str | None
    state: str
    depth: int
    via_batch: str | None


class GenealogyOut(_ViewOut):
    lot_id: int
    lot_number: str
    direction: str
    nodes: list[GenealogyNodeOut]
    batches: list[str]
    truncated: bool
