"""Read shapes of the batches module (frozen dataclasses returned by the services, rendered by API and pages)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from pharmos.compliance.signatures import SignatureView

# ---------------------------------------------------------------- master batch records


@dataclass(frozen=True)
class MbrParameterView:
    id: int
    seq: int
    code: str
    label: str
    kind: str  # numeric | choice | text | check | timestamp | duration
    unit: str
    target: Decimal | None
    lower: Decimal | None
    upper: Decimal | None
    choices: tuple[str, ...]
    expected: str
    critical: bool
    required: bool


@dataclass(frozen=True)
class MbrStepView:
    id: int
    phase_seq: int
    seq: int
    code: str
    title: str
    instructions: str  # Markdown
    instructions_html: str  # rendered and sanitised
    kind: str  # process | dispense
    equipment_classes: tuple[str, ...]
    sop_numbers: tuple[str, ...]
    critical: bool
    time_limit_minutes: int | None
    parameters: tuple[MbrParameterView, ...]


@dataclass(frozen=True)
class MbrPhaseView:
    id: int
    seq: int
    name: str
    parallel_with_previous: bool
    steps: tuple[MbrStepView, ...]


@dataclass(frozen=True)
class MbrMaterialView:
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


@dataclass(frozen=True)
class MbrView:
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
    materials: tuple[MbrMaterialView, ...] = ()
    phases: tuple[MbrPhaseView, ...] = ()
    signatures: tuple[SignatureView, ...] = ()
    step_count: int = 0


@dataclass(frozen=True)
class ScaledLine:
    """A BOM line scaled to a batch size (``scale_bom``): target and the tolerance window."""

    line_no: int
    material_code: str
    target: Decimal
    unit: str
    low: Decimal
    high: Decimal


# ---------------------------------------------------------------- batches


@dataclass(frozen=True)
class EntryView:
    id: int
    step_id: int
    kind: str  # parameter | equipment | lot
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


@dataclass(frozen=True)
class ParameterEntryView:
    """A parameter of a step with its current entry and the history of corrections."""

    parameter: MbrParameterView
    current: EntryView | None
    history: tuple[EntryView, ...]  # earlier (superseded) entries, oldest first


@dataclass(frozen=True)
class DispenseView:
    id: int
    number: str
    batch_id: int
    batch_number: str
    material_line_id: int
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


@dataclass(frozen=True)
class BatchMaterialView:
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
    reservations: tuple[dict[str, Any], ...]
    dispenses: tuple[DispenseView, ...] = ()


@dataclass(frozen=True)
class ExceptionView:
    id: int
    batch_id: int
    batch_number: str
    label: str  # EX-01
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
    state: str  # open | reviewed
    reviewed_by: str | None
    reviewed_at: datetime | None
    review_comment: str


@dataclass(frozen=True)
class StepView:
    id: int
    batch_id: int
    batch_number: str
    seq: int
    code: str
    title: str
    phase_seq: int
    phase_name: str
    critical: bool
    state: str  # pending | open | performed | done
    available_at: datetime | None
    due_at: datetime | None
    performed_by: str | None
    performed_at: datetime | None
    verified_by: str | None
    verified_at: datetime | None
    # Filled on the detail view only (``get_step``):
    instructions_html: str = ""
    kind: str = "process"
    equipment_classes: tuple[str, ...] = ()
    sop_numbers: tuple[str, ...] = ()
    time_limit_minutes: int | None = None
    parameters: tuple[ParameterEntryView, ...] = ()
    equipment: tuple[EntryView, ...] = ()  # current equipment scans
    lots: tuple[EntryView, ...] = ()  # current lot scans
    materials: tuple[BatchMaterialView, ...] = ()  # dispense steps: the BOM lines weighed here
    exceptions: tuple[ExceptionView, ...] = ()
    signatures: tuple[SignatureView, ...] = ()
    # Why signing is not possible now (empty when it is): the same checks sign_step makes.
    sign_blockers: tuple[str, ...] = ()


@dataclass(frozen=True)
class BatchView:
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
    theoretical_yield: Decimal  # scaled to the planned size
    yield_unit: str
    yield_low_pct: Decimal
    yield_high_pct: Decimal
    actual_yield: Decimal | None
    yield_pct: Decimal | None
    reconciliation_note: str
    output_lot_id: int | None
    output_lot_number: str | None
    steps_total: int = 0
    steps_done: int = 0
    open_exceptions: int = 0
    current_step_ids: tuple[int, ...] = ()  # the step(s) that may be worked on now
    # Filled on the detail view only (``get_batch``):
    materials: tuple[BatchMaterialView, ...] = ()
    steps: tuple[StepView, ...] = ()
    exceptions: tuple[ExceptionView, ...] = ()
    signatures: tuple[SignatureView, ...] = ()
    release_blockers: tuple[str, ...] = ()


@dataclass(frozen=True)
class MaterialReconciliation:
    """Per BOM line at completion: what the recipe asked for against what was issued."""

    line_no: int
    material_code: str
    target: Decimal
    dispensed: Decimal
    unit: str
    difference: Decimal
    within_tolerance: bool


@dataclass(frozen=True)
class GenealogyNode:
    lot_id: int
    lot_number: str
    material_code: str
    material_name: str
    supplier_lot: str | None
    state: str
    depth: int  # 0: the lot asked for; 1: its direct parents (backward) or children (forward)
    via_batch: str | None  # the batch linking it to the level above


@dataclass(frozen=True)
class GenealogyView:
    lot_id: int
    lot_number: str
    direction: str  # backward | forward
    nodes: tuple[GenealogyNode, ...]
    batches: tuple[str, ...] = field(default_factory=tuple)
    truncated: bool = False
