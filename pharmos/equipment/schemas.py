"""API shapes of the equipment module.

Readings, tolerances, quantities and hours are accepted as JSON strings or numbers and parsed
as ``Decimal``; they leave as strings so no client rounds a calibration reading through a float.
Whether a reading, date, code or state is acceptable is the services' rule
(docs/equipment/service-api.md): these shapes check types and lengths only, so the API and the
web UI refuse the same inputs with the same messages.
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
        # The services return frozen dataclasses (pharmos/equipment/views.py); read them, and the
        # reasons, points, tasks and signatures nested in them, by attribute.
        return cls.model_validate(view, from_attributes=True)


class ReasonIn(BaseModel):
    reason: str = _reason()


# ---------------------------------------------------------------- classes


class EquipmentClassIn(BaseModel):
    code: str = Field(max_length=30, description="Lower-case identifier, e.g. bioreactor")
    name_zh: str = Field(max_length=200)
    name_en: str = Field(default="", max_length=200)
    number_prefix: str = Field(max_length=6, description="Upper-case letters of the equipment numbers, e.g. BR")
    is_instrument: bool = Field(default=False, description="Measuring instrument: needs calibration by default")
    calibration_interval_days: int | None = None
    requalification_interval_days: int | None = None
    clean_hold_hours: int | None = Field(default=None, description="How long a cleaning stays valid; "
                                                                   "null: cleaning is not tracked")
    dirty_hold_hours: int | None = Field(default=None, description="How long it may stand dirty before cleaning")


class EquipmentClassRevisionIn(BaseModel):
    """Only the fields sent are changed."""

    reason: str = _reason()
    name_zh: str | None = Field(default=None, max_length=200)
    name_en: str | None = Field(default=None, max_length=200)
    number_prefix: str | None = Field(default=None, max_length=6)
    is_instrument: bool | None = None
    calibration_interval_days: int | None = None
    requalification_interval_days: int | None = None
    clean_hold_hours: int | None = None
    dirty_hold_hours: int | None = None
    active: bool | None = None


class EquipmentClassOut(_Out):
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


# ---------------------------------------------------------------- equipment ledger


class EquipmentIn(BaseModel):
    class_code: str = Field(max_length=30)
    name_zh: str = Field(max_length=200)
    name_en: str = Field(default="", max_length=200)
    number: str | None = Field(default=None, max_length=40, description="EQ-…; default: the next of the class")
    location: str = Field(default="", max_length=200)
    manufacturer: str = Field(default="", max_length=200)
    model: str = Field(default="", max_length=200)
    serial_number: str | None = Field(default=None, max_length=100)
    install_date: date | None = None
    owner_department: str = Field(default="", max_length=200)
    owner_username: str | None = Field(default=None, max_length=150,
                                       description="Owner who accepts (closes) its work orders")
    gmp_critical: bool = True
    requalification_interval_days: int | None = None
    calibration_required: bool | None = Field(default=None, description="Default: the class is an instrument")
    range_low: Decimal | None = None
    range_high: Decimal | None = None
    range_unit: str = Field(default="", max_length=20)
    tolerance: Decimal | None = Field(default=None, description="± accepted deviation, in the range unit")
    calibration_interval_days: int | None = Field(default=None, description="Default: the class's interval")
    usage_unit: str = Field(default="h", max_length=20, description="Unit of the usage counter")


class EquipmentRevisionIn(BaseModel):
    """Only the fields sent are changed; the reason is mandatory (EU GMP Annex 11 §9)."""

    reason: str = _reason()
    name_zh: str | None = Field(default=None, max_length=200)
    name_en: str | None = Field(default=None, max_length=200)
    location: str | None = Field(default=None, max_length=200)
    manufacturer: str | None = Field(default=None, max_length=200)
    model: str | None = Field(default=None, max_length=200)
    serial_number: str | None = Field(default=None, max_length=100)
    install_date: date | None = None
    owner_department: str | None = Field(default=None, max_length=200)
    owner_username: str | None = Field(default=None, max_length=150)
    gmp_critical: bool | None = None
    requalification_interval_days: int | None = None
    calibration_required: bool | None = None
    range_low: Decimal | None = None
    range_high: Decimal | None = None
    range_unit: str | None = Field(default=None, max_length=20)
    tolerance: Decimal | None = None
    calibration_interval_days: int | None = None
    usage_unit: str | None = Field(default=None, max_length=20)


class UsabilityReasonOut(_Out):
    code: str = Field(description="commissioning, out_of_service, retired, calibration_failed, calibration_missing, "
                                  "calibration_overdue, not_qualified, qualification_expired, not_clean, "
                                  "dirty_hold_expired, clean_hold_expired or in_use")
    message_en: str
    message_zh: str


class UsabilityOut(_Out):
    equipment_id: int
    number: str
    at: datetime
    usable: bool
    reasons: list[UsabilityReasonOut] = Field(default_factory=list)


class AttachmentOut(_Out):
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


class QualificationOut(_Out):
    id: int
    equipment_id: int
    phase: str
    protocol_number: str
    completed_on: date
    passed: bool
    performed_by: str
    note: str
    recorded_at: datetime


class EquipmentOut(_Out):
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
    owner: str
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
    calibration_interval_days: int | None
    effective_calibration_interval_days: int | None
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
    usability: UsabilityOut | None = None
    qualifications: list[QualificationOut] = Field(default_factory=list)
    documents: list[AttachmentOut] = Field(default_factory=list)
    signatures: list[SignatureOut] = Field(default_factory=list)


class QualificationIn(BaseModel):
    phase: str = Field(max_length=2, description="IQ, OQ, PQ or RQ (requalification)")
    protocol_number: str = Field(max_length=100)
    completed_on: date
    passed: bool
    performed_by: str = Field(max_length=200)
    note: str = Field(default="", max_length=2000)


class LabelsIn(BaseModel):
    equipment_ids: list[int] = Field(min_length=1, max_length=500)


# ---------------------------------------------------------------- use, cleaning, counters, logbook


class UseStartIn(BaseModel):
    reference: str = Field(max_length=60, description="Batch number or activity the equipment is used for")
    activity: str = Field(default="", max_length=200)


class UseEndIn(BaseModel):
    reference: str = Field(max_length=60)
    counter_value: Decimal | None = Field(default=None, description="Optional usage counter reading")
    note: str = Field(default="", max_length=2000)


class CleaningIn(BaseModel):
    procedure: str = Field(max_length=100, description="Cleaning SOP, e.g. SOP-CL-001")
    reference: str = Field(default="", max_length=60)
    note: str = Field(default="", max_length=2000,
                      description="Required when the dirty hold time was exceeded")


class DirtyIn(BaseModel):
    reason: str = _reason()


class CounterIn(BaseModel):
    value: Decimal
    note: str = Field(default="", max_length=2000)


class NoteIn(BaseModel):
    text: str = Field(max_length=4000)


class LogbookEntryOut(_Out):
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


# ---------------------------------------------------------------- calibrations and impact assessments


class CalibrationPointIn(BaseModel):
    nominal: Decimal
    as_left: Decimal
    as_found: Decimal | None = None
    tolerance: Decimal | None = Field(default=None, description="Default: the equipment's tolerance")


class CalibrationIn(BaseModel):
    equipment_id: int
    performed_on: date
    kind: str = Field(max_length=20, description="internal or external")
    performed_by: str = Field(max_length=200)
    points: list[CalibrationPointIn] = Field(max_length=100)
    result: str = Field(max_length=10, description="pass or fail")
    certificate_number: str = Field(default="", max_length=100, description="Required for external calibrations")
    reference_standard: str = Field(default="", max_length=200)
    comment: str = Field(default="", max_length=2000)


class CalibrationPointOut(_Out):
    nominal: Decimal
    as_found: Decimal | None
    as_left: Decimal
    tolerance: Decimal
    unit: str
    as_found_within: bool | None
    as_left_within: bool


class CalibrationOut(_Out):
    id: int
    number: str
    equipment_id: int
    equipment_number: str
    performed_on: date
    kind: str
    performed_by: str
    certificate_number: str
    reference_standard: str
    result: str
    as_found_out_of_tolerance: bool
    next_due_on: date | None
    comment: str
    state: str
    author: str
    recorded_at: datetime
    points: list[CalibrationPointOut] = Field(default_factory=list)
    certificates: list[AttachmentOut] = Field(default_factory=list)
    impact_assessment_id: int | None = None
    impact_assessment_number: str | None = None
    signatures: list[SignatureOut] = Field(default_factory=list)


class ImpactItemOut(_Out):
    id: int
    logbook_entry_id: int
    reference: str
    used_at: datetime
    verdict: str
    comment: str


class ImpactAssessmentOut(_Out):
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
    items: list[ImpactItemOut] = Field(default_factory=list)
    signatures: list[SignatureOut] = Field(default_factory=list)


class ImpactVerdictIn(BaseModel):
    verdict: str = Field(max_length=20, description="no_impact or impact")
    comment: str = Field(default="", max_length=2000, description="Required for impact")


class ImpactConclusionIn(BaseModel):
    conclusion: str = Field(max_length=4000)
    deviation_number: str = Field(default="", max_length=40)


class CalendarEntryOut(_Out):
    on: date
    kind: str
    equipment_id: int
    equipment_number: str
    equipment_name: str
    title: str
    overdue: bool
    reference: str = ""


# ---------------------------------------------------------------- maintenance plans and work orders


class PlanTaskIn(BaseModel):
    text: str = Field(max_length=500)
    mandatory: bool = True


class MaintenancePlanIn(BaseModel):
    equipment_id: int
    title: str = Field(max_length=200)
    basis: str = Field(max_length=20, description="calendar or usage")
    interval_days: int | None = None
    interval_usage: Decimal | None = None
    lead_days: int = 7
    first_due_on: date | None = None
    estimated_hours: Decimal | None = None
    tasks: list[PlanTaskIn] = Field(max_length=200)


class MaintenancePlanRevisionIn(BaseModel):
    """Only the fields sent are changed."""

    reason: str = _reason()
    title: str | None = Field(default=None, max_length=200)
    interval_days: int | None = None
    interval_usage: Decimal | None = None
    lead_days: int | None = None
    next_due_on: date | None = None
    next_due_counter: Decimal | None = None
    estimated_hours: Decimal | None = None
    tasks: list[PlanTaskIn] | None = Field(default=None, max_length=200,
                                           description="A new checklist, for work orders generated later")
    active: bool | None = None


class PlanTaskOut(_Out):
    position: int
    text: str
    mandatory: bool


class MaintenancePlanOut(_Out):
    id: int
    number: str
    equipment_id: int
    equipment_number: str
    title: str
    basis: str
    interval_days: int | None
    interval_usage: Decimal | None
    lead_days: int
    next_due_on: date | None
    next_due_counter: Decimal | None
    estimated_hours: Decimal | None
    active: bool
    tasks: list[PlanTaskOut] = Field(default_factory=list)


class WorkOrderIn(BaseModel):
    equipment_id: int
    title: str = Field(max_length=200)
    kind: str = Field(default="corrective", max_length=20, description="preventive or corrective")
    due_on: date | None = None
    assigned_to_username: str | None = Field(default=None, max_length=150)
    tasks: list[PlanTaskIn] = Field(default_factory=list, max_length=200)
    fault_id: int | None = None


class AssignmentIn(BaseModel):
    username: str = Field(max_length=150)


class TaskResultIn(BaseModel):
    done: bool
    result: str = Field(default="", max_length=2000)


class FindingsIn(BaseModel):
    findings: str = Field(max_length=4000)


class LabourIn(BaseModel):
    technician: str = Field(max_length=150)
    hours: Decimal
    worked_on: date


class PartUseIn(BaseModel):
    part_code: str = Field(max_length=40)
    quantity: Decimal


class WorkOrderTaskOut(_Out):
    id: int
    position: int
    text: str
    mandatory: bool
    done: bool
    result: str
    done_by: str
    done_at: datetime | None


class LabourOut(_Out):
    id: int
    technician: str
    hours: Decimal
    worked_on: date
    note: str


class PartUseOut(_Out):
    movement_id: int
    part_code: str
    part_name: str
    quantity: Decimal
    unit: str
    at: datetime
    actor: str


class WorkOrderOut(_Out):
    id: int
    number: str
    equipment_id: int
    equipment_number: str
    equipment_name: str
    kind: str
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
    tasks: list[WorkOrderTaskOut] = Field(default_factory=list)
    labour: list[LabourOut] = Field(default_factory=list)
    parts: list[PartUseOut] = Field(default_factory=list)
    signatures: list[SignatureOut] = Field(default_factory=list)


class GeneratedOut(BaseModel):
    work_orders: list[str]


# ---------------------------------------------------------------- faults


class FaultIn(BaseModel):
    equipment_id: int | None = None
    number: str | None = Field(default=None, max_length=40, description="Equipment number (scanned) instead of id")
    description: str = Field(max_length=4000)
    severity: str = Field(default="minor", max_length=20, description="minor, major or critical")
    stops_equipment: bool = False


class FaultTriageIn(BaseModel):
    severity: str = Field(max_length=20)
    stops_equipment: bool


class FaultAssignmentIn(BaseModel):
    username: str = Field(max_length=150)
    create_work_order: bool = True


class RepairIn(BaseModel):
    repair_description: str = Field(max_length=4000)


class FaultOut(_Out):
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
    photos: list[AttachmentOut] = Field(default_factory=list)
    signatures: list[SignatureOut] = Field(default_factory=list)


# ---------------------------------------------------------------- inspection routes and rounds


class InspectionPointIn(BaseModel):
    equipment_number: str = Field(max_length=40)
    prompt_zh: str = Field(max_length=500)
    prompt_en: str = Field(default="", max_length=500)
    kind: str = Field(max_length=10, description="numeric, yes_no or text")
    unit: str = Field(default="", max_length=20)
    lower_limit: Decimal | None = None
    upper_limit: Decimal | None = None
    expected_yes: bool = True


class InspectionRouteIn(BaseModel):
    code: str = Field(max_length=40)
    name_zh: str = Field(max_length=200)
    name_en: str = Field(default="", max_length=200)
    frequency: str = Field(max_length=10, description="shift or daily")
    shift_starts: list[str] = Field(default_factory=lambda: ["08:00"], max_length=6,
                                    description="Site-time starts, HH:MM")
    window_hours: int = 8
    points: list[InspectionPointIn] = Field(max_length=200)


class InspectionRouteRevisionIn(BaseModel):
    """Only the fields sent are changed; checks are replaced only while none has a result."""

    reason: str = _reason()
    name_zh: str | None = Field(default=None, max_length=200)
    name_en: str | None = Field(default=None, max_length=200)
    frequency: str | None = Field(default=None, max_length=10)
    shift_starts: list[str] | None = Field(default=None, max_length=6)
    window_hours: int | None = None
    points: list[InspectionPointIn] | None = Field(default=None, max_length=200)
    active: bool | None = None


class InspectionPointOut(_Out):
    id: int
    position: int
    equipment_id: int
    equipment_number: str
    equipment_name: str
    prompt_zh: str
    prompt_en: str
    kind: str
    unit: str
    lower_limit: Decimal | None
    upper_limit: Decimal | None
    expected_yes: bool


class InspectionRouteOut(_Out):
    id: int
    code: str
    name_zh: str
    name_en: str
    frequency: str
    shift_starts: list[str]
    window_hours: int
    active: bool
    points: list[InspectionPointOut] = Field(default_factory=list)


class RoundResultIn(BaseModel):
    point_id: int
    scanned: str = Field(max_length=100, description="The equipment number read from its QR label")
    value: str | bool | Decimal | None = Field(
        default=None,
        description="A number, yes/no (true/false, \"yes\"/\"no\", \"是\"/\"否\") or text, by the check's kind")
    comment: str = Field(default="", max_length=2000, description="Required when the value is out of limits")


class RoundCorrectionIn(BaseModel):
    value: str | bool | Decimal | None = None
    comment: str = Field(default="", max_length=2000)
    reason: str = _reason()


class ScheduleIn(BaseModel):
    on: date


class ScheduledOut(BaseModel):
    rounds_scheduled: int


class InspectionResultOut(_Out):
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


class InspectionRoundOut(_Out):
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
    points: list[InspectionPointOut] = Field(default_factory=list)
    results: list[InspectionResultOut] = Field(default_factory=list)
    signatures: list[SignatureOut] = Field(default_factory=list)


# ---------------------------------------------------------------- spare parts


class SparePartIn(BaseModel):
    code: str = Field(max_length=40)
    name_zh: str = Field(max_length=200)
    name_en: str = Field(default="", max_length=200)
    unit: str = Field(default="pc", max_length=10)
    reorder_point: Decimal = Decimal(0)
    storage_location: str = Field(default="", max_length=100)
    fits: list[str] = Field(default_factory=list, max_length=500, description="Equipment numbers it fits")


class SparePartRevisionIn(BaseModel):
    """Only the fields sent are changed."""

    reason: str = _reason()
    name_zh: str | None = Field(default=None, max_length=200)
    name_en: str | None = Field(default=None, max_length=200)
    reorder_point: Decimal | None = None
    storage_location: str | None = Field(default=None, max_length=100)
    fits: list[str] | None = Field(default=None, max_length=500)
    active: bool | None = None


class SparePartReceiptIn(BaseModel):
    quantity: Decimal
    reason: str = Field(default="", max_length=2000)


class SparePartAdjustmentIn(BaseModel):
    change: Decimal = Field(description="Signed: negative for a loss")
    reason: str = _reason()


class SparePartOut(_Out):
    id: int
    code: str
    name_zh: str
    name_en: str
    unit: str
    on_hand: Decimal
    reorder_point: Decimal
    storage_location: str
    active: bool
    low_stock: bool
    fits: list[str] = Field(default_factory=list)


class SparePartMovementOut(_Out):
    id: int
    part_code: str
    kind: str
    change: Decimal
    work_order_number: str | None
    reason: str
    actor: str
    at: datetime


# ---------------------------------------------------------------- reports


class EquipmentKpisOut(_Out):
    period_start: date
    period_end: date
    pm_due: int
    pm_on_time: int
    pm_compliance_pct: float | None
    calibrations_overdue: int
    calibrations_due_30d: int
    calibration_compliance_pct: float | None
    faults_repaired: int
    mttr_hours: float | None
    mtbf_hours: float | None
    downtime_hours: float
    open_work_orders: int
    overdue_work_orders: int
    low_stock_parts: int
    missed_rounds: int


class DowntimeRowOut(_Out):
    equipment_id: int
    equipment_number: str
    equipment_name: str
    faults: int
    stopping_faults: int
    downtime_hours: float
    mttr_hours: float | None
    mtbf_hours: float | None


class ReminderOut(_Out):
    id: int
    equipment_id: int
    equipment_number: str
    kind: str
    due_on: date
    raised_on: date
    message: str


ExportFormat = Literal["csv", "xlsx"]
ReportFormat = Literal["json", "csv", "xlsx"]
