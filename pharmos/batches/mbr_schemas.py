"""API shapes of master batch records.

Whether a product, material, unit, limit, equipment class or SOP is acceptable is the services'
rule (docs/batches/service-api.md, mbr.py): these shapes check types and lengths only, so the
API and the web UI refuse the same inputs naming the same fields. Quantities are accepted as
JSON strings or numbers, parsed as ``Decimal`` and returned as strings.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field

from pharmos.batches.mbr import BomLineInput, ParameterInput
from pharmos.compliance.schemas import SignatureOut

__all__ = [
    "BomIn",
    "BomLineIn",
    "MbrHeaderPatchIn",
    "MbrIn",
    "MbrOut",
    "MbrVersionIn",
    "ParameterIn",
    "PhaseIn",
    "ReviewIn",
    "ScaledLineOut",
    "StepIn",
    "StepPatchIn",
]

LONG_TEXT = 20_000
Code = Annotated[str, Field(max_length=40)]


class _ViewOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    @classmethod
    def of(cls, view: object) -> Self:
        return cls.model_validate(view, from_attributes=True)


class MbrIn(BaseModel):
    title: str = Field(max_length=200)
    product_code: str = Field(max_length=40, description="An approved material: the output of the recipe")
    stage: str = Field(max_length=30, description="upstream, downstream, formulation_fill or other")
    batch_size: Decimal = Field(description="Greater than zero")
    batch_unit: str = Field(max_length=20, description="kg, g, mg, L, mL or each")
    theoretical_yield: Decimal = Field(description="Output expected at batch_size")
    yield_unit: str = Field(max_length=20, description="A unit of the product material")
    yield_low_pct: Decimal = Field(description="Accepted yield window, % of theoretical (0 < low ≤ high ≤ 200)")
    yield_high_pct: Decimal
    description: str = Field(default="", max_length=LONG_TEXT)


class MbrHeaderPatchIn(BaseModel):
    """Only the fields sent change, while the recipe is a draft; the reason is mandatory (EU GMP Annex 11 §9)."""

    reason: str = Field(max_length=2000, description="Reason for change (recorded in the audit trail)")
    title: str | None = Field(default=None, max_length=200)
    product_code: str | None = Field(default=None, max_length=40)
    stage: str | None = Field(default=None, max_length=30)
    batch_size: Decimal | None = None
    batch_unit: str | None = Field(default=None, max_length=20)
    theoretical_yield: Decimal | None = None
    yield_unit: str | None = Field(default=None, max_length=20)
    yield_low_pct: Decimal | None = None
    yield_high_pct: Decimal | None = None
    description: str | None = Field(default=None, max_length=LONG_TEXT)
    change_summary: str | None = Field(default=None, max_length=LONG_TEXT)


class BomLineIn(BaseModel):
    material_code: str = Field(max_length=40, description="An approved material")
    quantity: Decimal = Field(description="Per the recipe's batch size")
    unit: str = Field(max_length=20, description="A unit of the material's dimension or one of its pack units")
    tolerance_pct: Decimal = Field(description="Weighing tolerance, 0–100 %")
    dispensed: bool = True
    scan_required: bool = True
    rounding_places: int = Field(default=3, description="Scaled quantities are rounded half-up to these decimals")
    step_code: str = Field(default="", max_length=20, description="The dispensing step, e.g. 1.1")

    def to_input(self) -> BomLineInput:
        return BomLineInput(**self.model_dump())


class BomIn(BaseModel):
    lines: list[BomLineIn] = Field(max_length=200, description="Replaces the whole bill of materials")


class PhaseIn(BaseModel):
    name: str = Field(max_length=200)
    parallel_with_previous: bool = False


class ParameterIn(BaseModel):
    code: str = Field(max_length=40)
    label: str = Field(max_length=200)
    kind: str = Field(max_length=20, description="numeric, choice, text, check, timestamp or duration")
    unit: str = Field(default="", max_length=20)
    target: Decimal | None = None
    lower: Decimal | None = None
    upper: Decimal | None = None
    choices: list[Annotated[str, Field(max_length=100)]] = Field(default_factory=list, max_length=50)
    expected: str = Field(default="", max_length=200)
    critical: bool = False
    required: bool = True

    def to_input(self) -> ParameterInput:
        values = self.model_dump()
        values["choices"] = tuple(values["choices"])
        return ParameterInput(**values)


class StepIn(BaseModel):
    phase_seq: int = Field(ge=1, description="The phase's number (1, 2, …)")
    title: str = Field(max_length=200)
    instructions: str = Field(default="", max_length=LONG_TEXT, description="Markdown")
    kind: str = Field(default="process", max_length=20, description="process or dispense")
    equipment_classes: list[Code] = Field(default_factory=list, max_length=20)
    sop_numbers: list[Code] = Field(default_factory=list, max_length=20)
    critical: bool = Field(default=False, description="Verified by a second person (four-eyes)")
    time_limit_minutes: int | None = None
    parameters: list[ParameterIn] = Field(default_factory=list, max_length=50)


class StepPatchIn(BaseModel):
    """Only the fields sent change; ``parameters`` replaces all of the step's parameters."""

    title: str | None = Field(default=None, max_length=200)
    instructions: str | None = Field(default=None, max_length=LONG_TEXT)
    kind: str | None = Field(default=None, max_length=20)
    equipment_classes: list[Code] | None = Field(default=None, max_length=20)
    sop_numbers: list[Code] | None = Field(default=None, max_length=20)
    critical: bool | None = None
    time_limit_minutes: int | None = None
    parameters: list[ParameterIn] | None = Field(default=None, max_length=50)


class ReviewIn(BaseModel):
    password: str = Field(max_length=200, description="Your password: the review is signed 'reviewed'")
    otp: str | None = Field(default=None, max_length=10)
    comment: str = Field(default="", max_length=2000)


class MbrVersionIn(BaseModel):
    change_summary: str = Field(max_length=LONG_TEXT, description="What the new version changes, and why")


class MbrParameterOut(_ViewOut):
    id: int
    seq: int
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


class MbrStepOut(_ViewOut):
    id: int
    phase_seq: int
    seq: int
    code: str
    title: str
    instructions: str
    kind: str
    equipment_classes: list[str]
    sop_numbers: list[str]
    critical: bool
    time_limit_minutes: int | None
    parameters: list[MbrParameterOut]


class MbrPhaseOut(_ViewOut):
    id: int
    seq: int
    name: str
    parallel_with_previous: bool
    steps: list[MbrStepOut]


class MbrMaterialOut(_ViewOut):
    id: int
    line_no: int
    material_code: str
    material_name: str
    quantity: Decimal
    unit: str
    tolerance_pct: Decimal
    dispensed: bool
    scan_required: bool
    rounding_places: int
    step_code: str


class MbrOut(_ViewOut):
    id: int
    number: str
    version: int
    title: str
    product_code: str
    product_name: str
    stage: str
    batch_size: Decimal
    batch_unit: str
    theoretical_yield: Decimal
    yield_unit: str
    yield_low_pct: Decimal
    yield_high_pct: Decimal
    description: str
    change_summary: str
    state: str
    author: str
    created_at: datetime
    effective_at: datetime | None
    superseded_at: datetime | None
    step_count: int
    materials: list[MbrMaterialOut] = Field(default_factory=list)
    phases: list[MbrPhaseOut] = Field(default_factory=list)
    signatures: list[SignatureOut] = Field(default_factory=list)


class ScaledLineOut(_ViewOut):
    line_no: int
    material_code: str
    target: Decimal
    unit: str
    low: Decimal
    high: Decimal
