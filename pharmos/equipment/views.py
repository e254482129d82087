"""What the equipment services return: plain, frozen values (no ORM objects leave a service)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from pharmos.compliance.signatures import SignatureView


@dataclass(frozen=True)
class UsabilityReason:
    # commissioning | out_of_service | retired | calibration_failed | calibration_missing |
    # calibration_overdue | not_qualified | qualification_expired | not_clean | dirty_hold_expired |
    # clean_hold_expired | in_use
    code: str
    message_en: str
    message_zh: str


@dataclass(frozen=True)
class UsabilityView:
    equipment_id: int
    number: str
    at: datetime
    usable: bool
    reasons: tuple[UsabilityReason, ...]


@dataclass(frozen=True)
class EquipmentClassView:
    id: int
    code: str
    name_zh: str
    name_en: str
    number_prefix: str
    is_instrument: bool
    calibration_interval_days: int | None
    requalification_interval_days: int | None
    clean_hold_hours: int | None
    dirty_hold_hours: int | None
    active: bool


@dataclass(frozen=True)
class AttachmentView:
    id: int
    owner_type: str
    owner_id: int
    kind: str
    title: str
    filename: str
    media_type: str
    size: int
    sha256: str
    uploaded_by: str
    uploaded_at: datetime


@dataclass(frozen=True)
class QualificationView:
    id: int
    equipment_id: int
    phase: str  # IQ | OQ | PQ | RQ
    protocol_number: str
    completed_on: date
    passed: bool
    performed_by: str
    note: str
    recorded_at: datetime


@dataclass(frozen=True)
class EquipmentView:
    id: int
    number: str
    name_zh: str
    name_en: str
    class_code: str
    class_name_zh: str
    class_name_en: str
    location: str
    manufacturer: str
    model: str
    serial_number: str | None
    install_date: date | None
    owner_department: str
    owner_id: int | None
    owner: str  # the owner's username, "" when none
    gmp_critical: bool
    state: str
    state_changed_at: datetime
    iq_on: date | None
    oq_on: date | None
    pq_on: date | None
    requalification_interval_days: int | None
    requalification_due_on: date | None
    calibration_required: bool
    range_low: Decimal | None
    range_high: Decimal | None
    range_unit: str
    tolerance: Decimal | None
    calibration_interval_days: int | None  # this equipment's own; None: the class's
    effective_calibration_interval_days: int | None  # the one in force
    last_calibrated_on: date | None
    calibration_due_on: date | None
    calibration_status: str
    clean_status: str
    clean_expires_at: datetime | None
    dirty_since: datetime | None
    in_use_by: str | None
    in_use_since: datetime | None
    usage_counter: Decimal
    usage_unit: str
    author: str
    created_at: datetime
    usability: UsabilityView | None = None  # filled on the detail page and on lists
    qualifications: tuple[QualificationView, ...] = ()
    documents: tuple[AttachmentView, ...] = ()
    signatures: tuple[SignatureView, ...] = ()


@dataclass(frozen=True)
class LogbookEntryView:
    id: int
    equipment_id: int
    equipment_number: str
    kind: str
    at: datetime
    reference: str
    description: str
    valid_until: datetime | None
    counter_value: Decimal | None
    source_number: str
    actor: str


@dataclass(frozen=True)
class CalibrationPointView:
    nominal: Decimal
    as_found: Decimal | None
    as_left: Decimal
    tolerance: Decimal
    unit: str
    as_found_within: bool | None  # None when no as-found reading was taken
    as_left_within: bool


@dataclass(frozen=True)
class CalibrationView:
    id: int
    number: str
    equipment_id: int
    equipment_number: str
    performed_on: date
    kind: str  # internal | external
    performed_by: str
    certificate_number: str
    reference_standard: str
    result: str  # pass | fail
    as_found_out_of_tolerance: bool
    next_due_on: date | None
    comment: str
    state: str
    author: str
    recorded_at: datetime
    points: tuple[CalibrationPointView, ...] = ()
    certificates: tuple[AttachmentView, ...] = ()
    impact_assessment_id: int | None = None
    impact_assessment_number: str | None = None
    signatures: tuple[SignatureView, ...] = ()


@dataclass(frozen=True)
class ImpactItemView:
    id: int
    logbook_entry_id: int
    reference: str
    used_at: datetime
    verdict: str  # pending | no_impact | impact
    comment: str


@dataclass(frozen=True)
class ImpactAssessmentView:
    id: int
    number: str
    equipment_id: int
    equipment_number: str
    calibration_id: int
    calibration_number: str
    since: datetime | None
    until: datetime
    conclusion: str
    deviation_number: str
    state: str
    opened_at: datetime
    author: str
    items: tuple[ImpactItemView, ...] = ()
    signatures: tuple[SignatureView, ...] = ()


@dataclass(frozen=True)
class CalendarEntry:
    """One due date on the calibration/maintenance calendar."""

    on: date
    kind: str  # calibration | requalification | maintenance
    equipment_id: int
    equipment_number: str
    equipment_name: str
    title: str
    overdue: bool
    reference: str = ""  # plan or work-order number where there is one


@dataclass(frozen=True)
class PlanTaskView:
    position: int
    text: str
    mandatory: bool


@dataclass(frozen=True)
class MaintenancePlanView:
    id: int
    number: str
    equipment_id: int
    equipment_number: str
    title: str
    basis: str  # calendar | usage
    interval_days: int | None
    interval_usage: Decimal | None
    lead_days: int
    next_due_on: date | None
    next_due_counter: Decimal | None
    estimated_hours: Decimal | None
    active: bool
    tasks: tuple[PlanTaskView, ...] = ()


@dataclass(frozen=True)
class WorkOrderTaskView:
    id: int
    position: int
    text: str
    mandatory: bool
    done: bool
    result: str
    done_by: str
    done_at: datetime | None


@dataclass(frozen=True)
class LabourView:
    id: int
    technician: str
    hours: Decimal
    worked_on: date
    note: str


@dataclass(frozen=True)
class PartUseView:
    movement_id: int
    part_code: str
    part_name: str
    quantity: Decimal  # positive: issued to the work order; negative: returned
    unit: str
    at: datetime
    actor: str


@dataclass(frozen=True)
class WorkOrderView:
    id: int
    number: str
    equipment_id: int
    equipment_number: str
    equipment_name: str
    kind: str  # preventive | corrective
    plan_number: str | None
    fault_number: str | None
    title: str
    due_on: date | None
    due_counter: Decimal | None
    assigned_to: str
    findings: str
    state: str
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    closed_at: datetime | None
    performed_by: str
    overdue: bool
    tasks: tuple[WorkOrderTaskView, ...] = ()
    labour: tuple[LabourView, ...] = ()
    parts: tuple[PartUseView, ...] = ()
    signatures: tuple[SignatureView, ...] = ()


@dataclass(frozen=True)
class FaultView:
    id: int
    number: str
    equipment_id: int
    equipment_number: str
    equipment_name: str
    description: str
    severity: str
    stops_equipment: bool
    source: str
    reported_at: datetime
    reported_by: str
    assigned_to: str
    work_order_number: str | None
    repair_description: str
    repaired_at: datetime | None
    verified_at: datetime | None
    closed_at: datetime | None
    state: str
    photos: tuple[AttachmentView, ...] = ()
    signatures: tuple[SignatureView, ...] = ()


@dataclass(frozen=True)
class InspectionPointView:
    id: int
    position: int
    equipment_id: int
    equipment_number: str
    equipment_name: str
    prompt_zh: str
    prompt_en: str
    kind: str  # numeric | yes_no | text
    unit: str
    lower_limit: Decimal | None
    upper_limit: Decimal | None
    expected_yes: bool


@dataclass(frozen=True)
class InspectionRouteView:
    id: int
    code: str
    name_zh: str
    name_en: str
    frequency: str  # shift | daily
    shift_starts: tuple[str, ...]
    window_hours: int
    active: bool
    points: tuple[InspectionPointView, ...] = ()


@dataclass(frozen=True)
class InspectionResultView:
    id: int
    point_id: int
    equipment_number: str
    scanned: str
    numeric_value: Decimal | None
    yes_no_value: bool | None
    text_value: str
    within_limits: bool
    comment: str
    fault_number: str | None
    recorded_at: datetime
    recorded_by: str


@dataclass(frozen=True)
class InspectionRoundView:
    id: int
    number: str
    route_id: int
    route_code: str
    route_name_zh: str
    route_name_en: str
    scheduled_at: datetime
    due_by: datetime
    state: str
    technician: str
    started_at: datetime | None
    completed_at: datetime | None
    points: tuple[InspectionPointView, ...] = ()
    results: tuple[InspectionResultView, ...] = ()
    signatures: tuple[SignatureView, ...] = ()


@dataclass(frozen=True)
class SparePartView:
    id: int
    code: str
    name_zh: str
    name_en: str
    unit: str
    on_hand: Decimal
    reorder_point: Decimal
    storage_location: str
    active: bool
    low_stock: bool  # on hand at or below the reorder point
    fits: tuple[str, ...] = ()  # equipment numbers


@dataclass(frozen=True)
class SparePartMovementView:
    id: int
    part_code: str
    kind: str  # receipt | issue | return | adjustment
    change: Decimal
    work_order_number: str | None
    reason: str
    actor: str
    at: datetime


@dataclass(frozen=True)
class ReminderView:
    id: int
    equipment_id: int
    equipment_number: str
    kind: str
    due_on: date
    raised_on: date
    message: str


@dataclass(frozen=True)
class DueScanResult:
    """What the daily due-date scan did (``run_daily_equipment_scan``)."""

    run_on: date
    reminders_raised: int
    work_orders_generated: tuple[str, ...]
    rounds_scheduled: int
    rounds_missed: tuple[str, ...]
    calibrations_overdue: int
    requalifications_overdue: int
    seconds: float


@dataclass(frozen=True)
class EquipmentKpis:
    """Maintenance and metrology KPIs over a period (``equipment_kpis``)."""

    period_start: date
    period_end: date
    pm_due: int  # preventive work orders due in the period
    pm_on_time: int  # of those, completed on or before their due date
    pm_compliance_pct: float | None
    calibrations_overdue: int  # instruments overdue now
    calibrations_due_30d: int
    calibration_compliance_pct: float | None  # instruments in calibration / instruments needing it
    faults_repaired: int
    mttr_hours: float | None  # mean time from report to repair
    mtbf_hours: float | None  # operating hours between equipment-stopping faults
    downtime_hours: float
    open_work_orders: int
    overdue_work_orders: int
    low_stock_parts: int
    missed_rounds: int


@dataclass(frozen=True)
class DowntimeRow:
    equipment_id: int
    equipment_number: str
    equipment_name: str
    faults: int
    stopping_faults: int
    downtime_hours: float
    mttr_hours: float | None
    mtbf_hours: float | None
