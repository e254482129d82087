"""API routes of the equipment module (lifecycles: the generic transition routes of pharmos.compliance.routes).

Release to service, taking out of service and retiring equipment, approving calibrations and
impact assessments, starting/completing/closing work orders, fault triage to closure and
inspection-round start/completion go through
``POST /api/v1/{equipment|calibrations|impact-assessments|work-orders|faults|inspection-rounds}/{record_id}/
transitions/{name}``; the routes here parse input, resolve the caller through the route's policy
and call one service of ``pharmos.equipment.service`` (docs/equipment/service-api.md), which
checks the same permission again and owns every rule. Record ids are named ``record_id`` as in
the transition routes; literal paths (``/equipment/export``, ``/equipment/by-scan/{code}``) are
declared before ``/equipment/{record_id}`` so they are not read as ids.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel
from pydantic import ValidationError as ShapeError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile as StarletteUpload

from pharmos.api.pagination import Page, PageParams
from pharmos.api.policy import requires
from pharmos.core.actor import Actor
from pharmos.core.errors import ValidationFailed
from pharmos.equipment import service
from pharmos.equipment.schemas import (
    AssignmentIn,
    AttachmentOut,
    CalendarEntryOut,
    CalibrationIn,
    CalibrationOut,
    CleaningIn,
    CounterIn,
    DirtyIn,
    DowntimeRowOut,
    EquipmentClassIn,
    EquipmentClassOut,
    EquipmentClassRevisionIn,
    EquipmentIn,
    EquipmentKpisOut,
    EquipmentOut,
    EquipmentRevisionIn,
    ExportFormat,
    FaultAssignmentIn,
    FaultIn,
    FaultOut,
    FaultTriageIn,
    FindingsIn,
    GeneratedOut,
    ImpactAssessmentOut,
    ImpactConclusionIn,
    ImpactVerdictIn,
    InspectionRoundOut,
    InspectionRouteIn,
    InspectionRouteOut,
    InspectionRouteRevisionIn,
    LabelsIn,
    LabourIn,
    LogbookEntryOut,
    MaintenancePlanIn,
    MaintenancePlanOut,
    MaintenancePlanRevisionIn,
    NoteIn,
    PartUseIn,
    QualificationIn,
    ReminderOut,
    RepairIn,
    ReportFormat,
    RoundCorrectionIn,
    RoundResultIn,
    ScheduledOut,
    ScheduleIn,
    SparePartAdjustmentIn,
    SparePartIn,
    SparePartMovementOut,
    SparePartOut,
    SparePartReceiptIn,
    SparePartRevisionIn,
    TaskResultIn,
    UsabilityOut,
    UseEndIn,
    UseStartIn,
    WorkOrderIn,
    WorkOrderOut,
)

api = APIRouter(prefix="/api/v1", tags=["equipment"])

View = Annotated[Actor, Depends(requires("equipment.view"))]
SPREADSHEET_RESPONSES: dict[int | str, dict[str, Any]] = {200: {"content": {
    "text/csv": {}, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}}}}
MAX_UPLOAD_BYTES = service.MAX_ATTACHMENT_BYTES
ShapeT = TypeVar("ShapeT", bound=BaseModel)


def _download(exported: tuple[bytes, str, str]) -> Response:
    content, media_type, filename = exported
    return Response(content, media_type=media_type, headers={"Content-Disposition": _disposition(filename)})


def _disposition(filename: str, kind: str = "attachment") -> str:
    # RFC 6266 / RFC 8187: an ASCII fallback plus the UTF-8 name (Chinese file names survive).
    fallback = filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_") or "download"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _upload(file: UploadFile | StarletteUpload, field: str = "file") -> bytes:
    # Transport hygiene only; whether the file is acceptable is the attachment or import service's rule.
    content = file.file.read(MAX_UPLOAD_BYTES + 1)
    if len(content) > MAX_UPLOAD_BYTES:
        raise ValidationFailed.on(field, f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
    return content


def _shape(model: type[ShapeT], data: Any) -> ShapeT:
    """Validate a body read by hand exactly as FastAPI validates a declared one (same problem+json)."""
    try:
        return model.model_validate(data)
    except ShapeError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None


def _attachment_form(file: UploadFile) -> dict[str, Any]:
    return {"filename": file.filename or "", "content": _upload(file),
            "media_type": file.content_type or "application/octet-stream"}


# ---------------------------------------------------------------- equipment classes


@api.get("/equipment-classes", response_model=list[EquipmentClassOut])
def list_equipment_classes(actor: View, active: bool | None = None) -> list[EquipmentClassOut]:
    return [EquipmentClassOut.of(c) for c in service.list_equipment_classes(actor=actor, active=active)]


@api.post("/equipment-classes", response_model=EquipmentClassOut, status_code=201)
def create_equipment_class(body: EquipmentClassIn,
                           actor: Annotated[Actor, Depends(requires("equipment.edit"))]) -> EquipmentClassOut:
    return EquipmentClassOut.of(service.create_equipment_class(actor=actor, **body.model_dump()))


@api.patch("/equipment-classes/{record_id}", response_model=EquipmentClassOut)
def update_equipment_class(record_id: int, body: EquipmentClassRevisionIn,
                           actor: Annotated[Actor, Depends(requires("equipment.edit"))]) -> EquipmentClassOut:
    return EquipmentClassOut.of(service.update_equipment_class(
        actor=actor, class_id=record_id, **body.model_dump(exclude_unset=True)))


# ---------------------------------------------------------------- equipment ledger (literal paths first)


@api.get("/equipment", response_model=Page[EquipmentOut])
def list_equipment(actor: View, page: Annotated[PageParams, Depends()], state: str | None = None,
                   class_code: str | None = None,
                   q: Annotated[str | None, Query(description="Number, name, serial number or location "
                                                           "contains")] = None,
                   calibration: Annotated[str, Query(description="any, overdue, due_soon or "
                                                                 "out_of_tolerance")] = "any") -> Page[EquipmentOut]:
    rows = service.list_equipment(actor=actor, state=state, class_code=class_code, query=q, calibration=calibration,
                                  after_id=page.after_id, limit=page.limit + 1)
    return page.page([EquipmentOut.of(r) for r in rows], lambda e: e.id)


@api.post("/equipment", response_model=EquipmentOut, status_code=201)
def register_equipment(body: EquipmentIn,
                       actor: Annotated[Actor, Depends(requires("equipment.edit"))]) -> EquipmentOut:
    return EquipmentOut.of(service.register_equipment(actor=actor, **body.model_dump()))


@api.get("/equipment/export", response_class=Response, responses=SPREADSHEET_RESPONSES)
def export_equipment(actor: View, format: ExportFormat = "csv") -> Response:
    return _download(service.export_equipment(actor=actor, fmt=format))


@api.get("/equipment/import-template", response_class=Response, responses=SPREADSHEET_RESPONSES)
def equipment_template(_: View, format: ExportFormat = "csv") -> Response:
    return _download(service.equipment_template(fmt=format))


@api.post("/equipment/import", response_model=dict[str, Any])
def import_equipment(actor: Annotated[Actor, Depends(requires("equipment.import"))],
                     file: Annotated[UploadFile, File(description="CSV or Excel (.xlsx) equipment ledger")],
                     dry_run: Annotated[bool, Form(description="Check every row, write nothing")] = False,
                     reason: Annotated[str, Form(max_length=2000, description="Why (recorded in the audit "
                                                                              "trail)")] = "") -> dict[str, Any]:
    # No partial import: a file with any bad row is refused as a whole, each row's problem named.
    result = service.import_equipment(actor=actor, filename=file.filename or "", content=_upload(file),
                                      dry_run=dry_run, reason=reason)
    return dict(result)


@api.post("/equipment/labels", response_class=Response, responses={200: {"content": {"application/pdf": {}}}})
def equipment_labels(body: LabelsIn, actor: View) -> Response:
    content = service.equipment_labels_pdf(actor=actor, equipment_ids=body.equipment_ids)
    return Response(content, media_type="application/pdf",
                    headers={"Content-Disposition": _disposition("equipment-labels.pdf", "inline")})


@api.get("/equipment/by-scan/{code}", response_model=EquipmentOut)
def find_equipment_by_scan(code: str, actor: View) -> EquipmentOut:
    return EquipmentOut.of(service.find_equipment_by_scan(actor=actor, code=code))


@api.get("/equipment/{record_id}", response_model=EquipmentOut)
def get_equipment(record_id: int, actor: View) -> EquipmentOut:
    return EquipmentOut.of(service.get_equipment(actor=actor, equipment_id=record_id))


@api.patch("/equipment/{record_id}", response_model=EquipmentOut)
def update_equipment(record_id: int, body: EquipmentRevisionIn,
                     actor: Annotated[Actor, Depends(requires("equipment.edit"))]) -> EquipmentOut:
    return EquipmentOut.of(service.update_equipment(
        actor=actor, equipment_id=record_id, **body.model_dump(exclude_unset=True)))


@api.get("/equipment/{record_id}/usability", response_model=UsabilityOut)
def check_usability(record_id: int, actor: View,
                    at: Annotated[datetime | None, Query(description="Now (default) or a planned time")] = None,
                    for_reference: Annotated[str | None, Query(max_length=60, description="The batch or activity "
                                                               "it would be used for")] = None) -> UsabilityOut:
    # The one usability rule (EU GMP Part I 3.41-3.44 / 药品GMP 第八十四条) answered with every reason.
    return UsabilityOut.of(service.check_usability(actor=actor, equipment_id=record_id, at=at,
                                                   for_reference=for_reference))


@api.post("/equipment/{record_id}/qualifications", response_model=EquipmentOut, status_code=201)
def record_qualification(record_id: int, body: QualificationIn,
                         actor: Annotated[Actor, Depends(requires("equipment.edit"))]) -> EquipmentOut:
    # EU GMP Annex 15 §3-§4: the qualification phases are recorded in order before routine use.
    return EquipmentOut.of(service.record_qualification(actor=actor, equipment_id=record_id, **body.model_dump()))


@api.get("/equipment/{record_id}/documents", response_model=list[AttachmentOut])
def list_documents(record_id: int, actor: View) -> list[AttachmentOut]:
    rows = service.list_attachments(actor=actor, owner_type="equipment", owner_id=record_id)
    return [AttachmentOut.of(r) for r in rows]


@api.post("/equipment/{record_id}/documents", response_model=AttachmentOut, status_code=201)
def attach_document(record_id: int, actor: Annotated[Actor, Depends(requires("equipment.edit"))],
                    file: Annotated[UploadFile, File(description="PDF, image, Word, Excel or text; at most 10 MB")],
                    kind: Annotated[str, Form(max_length=30, description="manual, protocol, certificate, photo, "
                                                                         "drawing or other")],
                    title: Annotated[str, Form(max_length=200)]) -> AttachmentOut:
    return AttachmentOut.of(service.attach_document(actor=actor, owner_type="equipment", owner_id=record_id,
                                                    kind=kind, title=title, **_attachment_form(file)))


# ---------------------------------------------------------------- use, cleaning, counters, logbook


@api.get("/equipment/{record_id}/logbook", response_model=Page[LogbookEntryOut])
def list_logbook(record_id: int, actor: View, page: Annotated[PageParams, Depends()], kind: str | None = None,
                 since: datetime | None = None, until: datetime | None = None) -> Page[LogbookEntryOut]:
    rows = service.list_logbook(actor=actor, equipment_id=record_id, kind=kind, since=since, until=until,
                                after_id=page.after_id, limit=page.limit + 1)
    return page.page([LogbookEntryOut.of(r) for r in rows], lambda e: e.id)


@api.post("/equipment/{record_id}/logbook/notes", response_model=LogbookEntryOut, status_code=201)
def add_logbook_note(record_id: int, body: NoteIn,
                     actor: Annotated[Actor, Depends(requires("equipment.use"))]) -> LogbookEntryOut:
    return LogbookEntryOut.of(service.add_logbook_note(actor=actor, equipment_id=record_id, text=body.text))


@api.post("/equipment/{record_id}/use", response_model=EquipmentOut)
def start_use(record_id: int, body: UseStartIn,
              actor: Annotated[Actor, Depends(requires("equipment.use"))]) -> EquipmentOut:
    # Refused with every usability reason when the equipment may not be used (药品GMP 第八十四条).
    return EquipmentOut.of(service.start_use(actor=actor, equipment_id=record_id, reference=body.reference,
                                             activity=body.activity))


@api.post("/equipment/{record_id}/use/end", response_model=EquipmentOut)
def end_use(record_id: int, body: UseEndIn,
            actor: Annotated[Actor, Depends(requires("equipment.use"))]) -> EquipmentOut:
    return EquipmentOut.of(service.end_use(actor=actor, equipment_id=record_id, **body.model_dump()))


@api.post("/equipment/{record_id}/cleanings", response_model=EquipmentOut)
def record_cleaning(record_id: int, body: CleaningIn,
                    actor: Annotated[Actor, Depends(requires("equipment.use"))]) -> EquipmentOut:
    return EquipmentOut.of(service.record_cleaning(actor=actor, equipment_id=record_id, **body.model_dump()))


@api.post("/equipment/{record_id}/dirty", response_model=EquipmentOut)
def mark_dirty(record_id: int, body: DirtyIn,
               actor: Annotated[Actor, Depends(requires("equipment.use"))]) -> EquipmentOut:
    return EquipmentOut.of(service.mark_dirty(actor=actor, equipment_id=record_id, reason=body.reason))


@api.post("/equipment/{record_id}/counter-readings", response_model=EquipmentOut)
def record_counter(record_id: int, body: CounterIn,
                   actor: Annotated[Actor, Depends(requires("equipment.use"))]) -> EquipmentOut:
    return EquipmentOut.of(service.record_counter(actor=actor, equipment_id=record_id, value=body.value,
                                                  note=body.note))


# ---------------------------------------------------------------- attachments


@api.get("/attachments/{record_id}", response_class=Response,
         responses={200: {"description": "The file as uploaded, with its media type",
                          "headers": {"X-Content-SHA256": {"description": "SHA-256 recorded at upload",
                                                           "schema": {"type": "string"}}}}})
def download_attachment(record_id: int, actor: View) -> Response:
    view, content = service.get_attachment(actor=actor, attachment_id=record_id)
    # EU GMP Annex 11 §7.1: the digest recorded at upload lets the reader prove the copy unchanged.
    return Response(content, media_type=view.media_type,
                    headers={"Content-Disposition": _disposition(view.filename), "X-Content-SHA256": view.sha256})


# ---------------------------------------------------------------- calibrations, impact assessments, calendar


@api.get("/calibrations", response_model=Page[CalibrationOut])
def list_calibrations(actor: View, page: Annotated[PageParams, Depends()], equipment_id: int | None = None,
                      result: str | None = None, state: str | None = None) -> Page[CalibrationOut]:
    rows = service.list_calibrations(actor=actor, equipment_id=equipment_id, result=result, state=state,
                                     after_id=page.after_id, limit=page.limit + 1)
    return page.page([CalibrationOut.of(r) for r in rows], lambda c: c.id)


@api.post("/calibrations", response_model=CalibrationOut, status_code=201)
def record_calibration(body: CalibrationIn,
                       actor: Annotated[Actor, Depends(requires("calibrations.record"))]) -> CalibrationOut:
    # 药品GMP 第九十二条 / EU GMP Part I 3.41: a pass is accepted only with every as-left within tolerance.
    points = [service.CalibrationPointInput(**p.model_dump()) for p in body.points]
    return CalibrationOut.of(service.record_calibration(actor=actor, **body.model_dump(exclude={"points"}),
                                                        points=points))


@api.get("/calibration-plan/export", response_class=Response, responses=SPREADSHEET_RESPONSES)
def export_calibration_plan(actor: View, format: ExportFormat = "csv") -> Response:
    return _download(service.export_calibration_plan(actor=actor, fmt=format))


@api.post("/calibration-plan/import", response_model=dict[str, Any])
def import_calibration_plan(actor: Annotated[Actor, Depends(requires("equipment.import"))],
                            file: Annotated[UploadFile, File(description="CSV or Excel (.xlsx) calibration plan")],
                            dry_run: Annotated[bool, Form(description="Check every row, write nothing")] = False,
                            reason: Annotated[str, Form(max_length=2000, description="Why (recorded in the audit "
                                                                                     "trail)")] = ""
                            ) -> dict[str, Any]:
    result = service.import_calibration_plan(actor=actor, filename=file.filename or "", content=_upload(file),
                                             dry_run=dry_run, reason=reason)
    return dict(result)


@api.get("/calibrations/{record_id}", response_model=CalibrationOut)
def get_calibration(record_id: int, actor: View) -> CalibrationOut:
    return CalibrationOut.of(service.get_calibration(actor=actor, calibration_id=record_id))


@api.post("/calibrations/{record_id}/certificates", response_model=AttachmentOut, status_code=201)
def attach_certificate(record_id: int, actor: Annotated[Actor, Depends(requires("calibrations.record"))],
                       file: Annotated[UploadFile, File(description="The calibration certificate (PDF or image)")],
                       title: Annotated[str, Form(max_length=200)] = "Calibration certificate") -> AttachmentOut:
    return AttachmentOut.of(service.attach_document(actor=actor, owner_type="calibration", owner_id=record_id,
                                                    kind="certificate", title=title, **_attachment_form(file)))


@api.get("/calibration-calendar", response_model=list[CalendarEntryOut])
def calibration_calendar(actor: View, start: date, end: date) -> list[CalendarEntryOut]:
    return [CalendarEntryOut.of(e) for e in service.calibration_calendar(actor=actor, start=start, end=end)]


@api.get("/impact-assessments", response_model=Page[ImpactAssessmentOut])
def list_impact_assessments(actor: View, page: Annotated[PageParams, Depends()],
                            state: str | None = None) -> Page[ImpactAssessmentOut]:
    rows = service.list_impact_assessments(actor=actor, state=state, after_id=page.after_id, limit=page.limit + 1)
    return page.page([ImpactAssessmentOut.of(r) for r in rows], lambda a: a.id)


@api.get("/impact-assessments/{record_id}", response_model=ImpactAssessmentOut)
def get_impact_assessment(record_id: int, actor: View) -> ImpactAssessmentOut:
    return ImpactAssessmentOut.of(service.get_impact_assessment(actor=actor, assessment_id=record_id))


@api.put("/impact-assessments/{record_id}/items/{item_id}", response_model=ImpactAssessmentOut)
def judge_impact_item(record_id: int, item_id: int, body: ImpactVerdictIn,
                      actor: Annotated[Actor, Depends(requires("calibrations.assess"))]) -> ImpactAssessmentOut:
    return ImpactAssessmentOut.of(service.judge_impact_item(
        actor=actor, assessment_id=record_id, item_id=item_id, verdict=body.verdict, comment=body.comment))


@api.put("/impact-assessments/{record_id}/conclusion", response_model=ImpactAssessmentOut)
def conclude_impact_assessment(record_id: int, body: ImpactConclusionIn,
                               actor: Annotated[Actor, Depends(requires("calibrations.assess"))]
                               ) -> ImpactAssessmentOut:
    return ImpactAssessmentOut.of(service.conclude_impact_assessment(
        actor=actor, assessment_id=record_id, conclusion=body.conclusion, deviation_number=body.deviation_number))


# ---------------------------------------------------------------- preventive maintenance plans


@api.get("/maintenance-plans", response_model=Page[MaintenancePlanOut])
def list_maintenance_plans(actor: View, page: Annotated[PageParams, Depends()], equipment_id: int | None = None,
                           active: bool | None = None,
                           due_within_days: int | None = None) -> Page[MaintenancePlanOut]:
    rows = service.list_maintenance_plans(actor=actor, equipment_id=equipment_id, active=active,
                                          due_within_days=due_within_days, after_id=page.after_id,
                                          limit=page.limit + 1)
    return page.page([MaintenancePlanOut.of(r) for r in rows], lambda p: p.id)


@api.post("/maintenance-plans", response_model=MaintenancePlanOut, status_code=201)
def create_maintenance_plan(body: MaintenancePlanIn,
                            actor: Annotated[Actor, Depends(requires("workorders.manage"))]) -> MaintenancePlanOut:
    tasks = [service.PlanTaskInput(**t.model_dump()) for t in body.tasks]
    return MaintenancePlanOut.of(service.create_maintenance_plan(
        actor=actor, **body.model_dump(exclude={"tasks"}), tasks=tasks))


@api.get("/maintenance-plans/{record_id}", response_model=MaintenancePlanOut)
def get_maintenance_plan(record_id: int, actor: View) -> MaintenancePlanOut:
    return MaintenancePlanOut.of(service.get_maintenance_plan(actor=actor, plan_id=record_id))


@api.patch("/maintenance-plans/{record_id}", response_model=MaintenancePlanOut)
def update_maintenance_plan(record_id: int, body: MaintenancePlanRevisionIn,
                            actor: Annotated[Actor, Depends(requires("workorders.manage"))]) -> MaintenancePlanOut:
    changes = body.model_dump(exclude_unset=True, exclude={"tasks"})
    if body.tasks is not None:
        changes["tasks"] = [service.PlanTaskInput(**t.model_dump()) for t in body.tasks]
    return MaintenancePlanOut.of(service.update_maintenance_plan(actor=actor, plan_id=record_id, **changes))


# ---------------------------------------------------------------- work orders


@api.get("/work-orders", response_model=Page[WorkOrderOut])
def list_work_orders(actor: View, page: Annotated[PageParams, Depends()], state: str | None = None,
                     equipment_id: int | None = None, kind: str | None = None,
                     assigned_to: Annotated[str | None, Query(description="Username of the technician")] = None,
                     overdue: bool | None = None, open_only: bool = False) -> Page[WorkOrderOut]:
    rows = service.list_work_orders(actor=actor, state=state, equipment_id=equipment_id, kind=kind,
                                    assigned_to=assigned_to, overdue=overdue, open_only=open_only,
                                    after_id=page.after_id, limit=page.limit + 1)
    return page.page([WorkOrderOut.of(r) for r in rows], lambda w: w.id)


@api.post("/work-orders", response_model=WorkOrderOut, status_code=201)
def create_work_order(body: WorkOrderIn,
                      actor: Annotated[Actor, Depends(requires("workorders.manage"))]) -> WorkOrderOut:
    tasks = [service.PlanTaskInput(**t.model_dump()) for t in body.tasks]
    return WorkOrderOut.of(service.create_work_order(actor=actor, **body.model_dump(exclude={"tasks"}), tasks=tasks))


@api.post("/work-orders/generate", response_model=GeneratedOut)
def generate_due_work_orders(actor: Annotated[Actor, Depends(requires("workorders.manage"))]) -> GeneratedOut:
    # Due-ness is judged on the server's site date, never a client's (contemporaneous records, ALCOA+).
    return GeneratedOut(work_orders=list(service.generate_due_work_orders(actor=actor)))


@api.get("/work-orders/export", response_class=Response, responses=SPREADSHEET_RESPONSES)
def export_work_orders(actor: View, format: ExportFormat = "csv", state: str | None = None) -> Response:
    return _download(service.export_work_orders(actor=actor, fmt=format, state=state))


@api.get("/work-orders/{record_id}", response_model=WorkOrderOut)
def get_work_order(record_id: int, actor: View) -> WorkOrderOut:
    return WorkOrderOut.of(service.get_work_order(actor=actor, work_order_id=record_id))


@api.put("/work-orders/{record_id}/assignment", response_model=WorkOrderOut)
def assign_work_order(record_id: int, body: AssignmentIn,
                      actor: Annotated[Actor, Depends(requires("workorders.manage"))]) -> WorkOrderOut:
    return WorkOrderOut.of(service.assign_work_order(actor=actor, work_order_id=record_id, username=body.username))


@api.put("/work-orders/{record_id}/tasks/{task_id}", response_model=WorkOrderOut)
def record_task_result(record_id: int, task_id: int, body: TaskResultIn,
                       actor: Annotated[Actor, Depends(requires("workorders.perform"))]) -> WorkOrderOut:
    return WorkOrderOut.of(service.record_task_result(actor=actor, work_order_id=record_id, task_id=task_id,
                                                      done=body.done, result=body.result))


@api.put("/work-orders/{record_id}/findings", response_model=WorkOrderOut)
def record_findings(record_id: int, body: FindingsIn,
                    actor: Annotated[Actor, Depends(requires("workorders.perform"))]) -> WorkOrderOut:
    return WorkOrderOut.of(service.record_findings(actor=actor, work_order_id=record_id, findings=body.findings))


@api.post("/work-orders/{record_id}/labour", response_model=WorkOrderOut, status_code=201)
def log_labour(record_id: int, body: LabourIn,
               actor: Annotated[Actor, Depends(requires("workorders.perform"))]) -> WorkOrderOut:
    return WorkOrderOut.of(service.log_labour(actor=actor, work_order_id=record_id, **body.model_dump()))


@api.post("/work-orders/{record_id}/parts", response_model=WorkOrderOut, status_code=201)
def issue_spare_part(record_id: int, body: PartUseIn,
                     actor: Annotated[Actor, Depends(requires("workorders.perform"))]) -> WorkOrderOut:
    return WorkOrderOut.of(service.issue_spare_part_to_work_order(
        actor=actor, work_order_id=record_id, part_code=body.part_code, quantity=body.quantity))


@api.post("/work-orders/{record_id}/parts/returns", response_model=WorkOrderOut, status_code=201)
def return_spare_part(record_id: int, body: PartUseIn,
                      actor: Annotated[Actor, Depends(requires("workorders.perform"))]) -> WorkOrderOut:
    return WorkOrderOut.of(service.return_spare_part_from_work_order(
        actor=actor, work_order_id=record_id, part_code=body.part_code, quantity=body.quantity))


# ---------------------------------------------------------------- faults

_FAULT_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": FaultIn.model_json_schema()},
    "multipart/form-data": {"schema": {
        "type": "object", "required": ["description"],
        "properties": {**FaultIn.model_json_schema()["properties"],
                       "photo": {"type": "string", "format": "binary", "description": "Optional photo"}}}}}}}


@api.get("/faults", response_model=Page[FaultOut])
def list_faults(actor: View, page: Annotated[PageParams, Depends()], state: str | None = None,
                equipment_id: int | None = None, open_only: bool = False) -> Page[FaultOut]:
    rows = service.list_faults(actor=actor, state=state, equipment_id=equipment_id, open_only=open_only,
                               after_id=page.after_id, limit=page.limit + 1)
    return page.page([FaultOut.of(r) for r in rows], lambda f: f.id)


@api.post("/faults", response_model=FaultOut, status_code=201, openapi_extra=_FAULT_BODY)
async def report_fault(request: Request, actor: Annotated[Actor, Depends(requires("faults.report"))]) -> FaultOut:
    # A fault is reported from the shop floor with a phone photo (multipart) or by an integration (JSON);
    # both shapes are validated by the same model, so the problem+json names the same fields.
    photo: tuple[str, bytes, str] | None = None
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        body = _shape(FaultIn, {k: v for k, v in form.items() if isinstance(v, str)})
        upload = form.get("photo")
        if isinstance(upload, StarletteUpload) and upload.filename:
            content = await run_in_threadpool(_upload, upload, "photo")
            photo = (upload.filename, content, upload.content_type or "application/octet-stream")
    else:
        try:
            data = json.loads(await request.body() or b"null")
        except ValueError:
            raise RequestValidationError([{"loc": ("body",), "msg": "JSON body expected",
                                           "type": "json_invalid"}]) from None
        body = _shape(FaultIn, data)
    view = await run_in_threadpool(lambda: service.report_fault(actor=actor, photo=photo, **body.model_dump()))
    return FaultOut.of(view)


@api.get("/faults/{record_id}", response_model=FaultOut)
def get_fault(record_id: int, actor: View) -> FaultOut:
    return FaultOut.of(service.get_fault(actor=actor, fault_id=record_id))


@api.post("/faults/{record_id}/photos", response_model=AttachmentOut, status_code=201)
def attach_fault_photo(record_id: int, actor: Annotated[Actor, Depends(requires("faults.report"))],
                       file: Annotated[UploadFile, File(description="A photo of the fault (PNG, JPEG or WebP)")],
                       title: Annotated[str, Form(max_length=200)] = "Photo") -> AttachmentOut:
    return AttachmentOut.of(service.attach_document(actor=actor, owner_type="fault", owner_id=record_id, kind="photo",
                                                    title=title, **_attachment_form(file)))


@api.put("/faults/{record_id}/triage", response_model=FaultOut)
def triage_fault(record_id: int, body: FaultTriageIn,
                 actor: Annotated[Actor, Depends(requires("faults.triage"))]) -> FaultOut:
    return FaultOut.of(service.triage_fault(actor=actor, fault_id=record_id, severity=body.severity,
                                            stops_equipment=body.stops_equipment))


@api.put("/faults/{record_id}/assignment", response_model=FaultOut)
def assign_fault(record_id: int, body: FaultAssignmentIn,
                 actor: Annotated[Actor, Depends(requires("faults.triage"))]) -> FaultOut:
    return FaultOut.of(service.assign_fault(actor=actor, fault_id=record_id, username=body.username,
                                            create_work_order=body.create_work_order))


@api.put("/faults/{record_id}/repair", response_model=FaultOut)
def describe_repair(record_id: int, body: RepairIn,
                    actor: Annotated[Actor, Depends(requires("workorders.perform"))]) -> FaultOut:
    return FaultOut.of(service.describe_repair(actor=actor, fault_id=record_id,
                                               repair_description=body.repair_description))


# ---------------------------------------------------------------- inspection routes and rounds


@api.get("/inspection-routes", response_model=list[InspectionRouteOut])
def list_inspection_routes(actor: View, active: bool | None = None) -> list[InspectionRouteOut]:
    return [InspectionRouteOut.of(r) for r in service.list_inspection_routes(actor=actor, active=active)]


@api.post("/inspection-routes", response_model=InspectionRouteOut, status_code=201)
def create_inspection_route(body: InspectionRouteIn,
                            actor: Annotated[Actor, Depends(requires("rounds.manage"))]) -> InspectionRouteOut:
    points = [service.InspectionPointInput(**p.model_dump()) for p in body.points]
    return InspectionRouteOut.of(service.create_inspection_route(
        actor=actor, **body.model_dump(exclude={"points", "shift_starts"}), shift_starts=tuple(body.shift_starts),
        points=points))


@api.get("/inspection-routes/{record_id}", response_model=InspectionRouteOut)
def get_inspection_route(record_id: int, actor: View) -> InspectionRouteOut:
    return InspectionRouteOut.of(service.get_inspection_route(actor=actor, route_id=record_id))


@api.patch("/inspection-routes/{record_id}", response_model=InspectionRouteOut)
def update_inspection_route(record_id: int, body: InspectionRouteRevisionIn,
                            actor: Annotated[Actor, Depends(requires("rounds.manage"))]) -> InspectionRouteOut:
    changes = body.model_dump(exclude_unset=True, exclude={"points"})
    if body.points is not None:
        changes["points"] = [service.InspectionPointInput(**p.model_dump()) for p in body.points]
    return InspectionRouteOut.of(service.update_inspection_route(actor=actor, route_id=record_id, **changes))


@api.get("/inspection-rounds", response_model=Page[InspectionRoundOut])
def list_inspection_rounds(actor: View, page: Annotated[PageParams, Depends()], state: str | None = None,
                           route_id: int | None = None,
                           on: Annotated[date | None, Query(description="Scheduled on this site date")] = None,
                           technician: str | None = None) -> Page[InspectionRoundOut]:
    rows = service.list_inspection_rounds(actor=actor, state=state, route_id=route_id, on=on, technician=technician,
                                          after_id=page.after_id, limit=page.limit + 1)
    return page.page([InspectionRoundOut.of(r) for r in rows], lambda r: r.id)


@api.post("/inspection-rounds/schedule", response_model=ScheduledOut)
def schedule_rounds(body: ScheduleIn, actor: Annotated[Actor, Depends(requires("rounds.manage"))]) -> ScheduledOut:
    return ScheduledOut(rounds_scheduled=service.schedule_rounds(actor=actor, on=body.on))


@api.get("/inspection-rounds/mine", response_model=list[InspectionRoundOut])
def my_rounds(actor: View, on: date | None = None) -> list[InspectionRoundOut]:
    return [InspectionRoundOut.of(r) for r in service.my_rounds(actor=actor, on=on)]


@api.get("/inspection-rounds/{record_id}", response_model=InspectionRoundOut)
def get_inspection_round(record_id: int, actor: View) -> InspectionRoundOut:
    return InspectionRoundOut.of(service.get_inspection_round(actor=actor, round_id=record_id))


@api.post("/inspection-rounds/{record_id}/results", response_model=InspectionRoundOut, status_code=201)
def record_round_result(record_id: int, body: RoundResultIn,
                        actor: Annotated[Actor, Depends(requires("rounds.perform"))]) -> InspectionRoundOut:
    # The scan proves the technician stood at the equipment; out of limits needs a comment and opens a fault.
    return InspectionRoundOut.of(service.record_round_result(actor=actor, round_id=record_id, **body.model_dump()))


@api.put("/inspection-rounds/{record_id}/results/{point_id}", response_model=InspectionRoundOut)
def correct_round_result(record_id: int, point_id: int, body: RoundCorrectionIn,
                         actor: Annotated[Actor, Depends(requires("rounds.perform"))]) -> InspectionRoundOut:
    # EU GMP Annex 11 §9: a correction keeps the first value in the audit trail and records why.
    return InspectionRoundOut.of(service.correct_round_result(actor=actor, round_id=record_id, point_id=point_id,
                                                              **body.model_dump()))


# ---------------------------------------------------------------- spare parts


@api.get("/spare-parts", response_model=Page[SparePartOut])
def list_spare_parts(actor: View, page: Annotated[PageParams, Depends()],
                     q: Annotated[str | None, Query(description="Code or name contains")] = None,
                     low_stock: bool | None = None, equipment_id: int | None = None) -> Page[SparePartOut]:
    rows = service.list_spare_parts(actor=actor, query=q, low_stock=low_stock, equipment_id=equipment_id,
                                    after_id=page.after_id, limit=page.limit + 1)
    return page.page([SparePartOut.of(r) for r in rows], lambda p: p.id)


@api.post("/spare-parts", response_model=SparePartOut, status_code=201)
def create_spare_part(body: SparePartIn,
                      actor: Annotated[Actor, Depends(requires("spareparts.manage"))]) -> SparePartOut:
    return SparePartOut.of(service.create_spare_part(actor=actor, **body.model_dump()))


@api.get("/spare-parts/{record_id}", response_model=SparePartOut)
def get_spare_part(record_id: int, actor: View) -> SparePartOut:
    return SparePartOut.of(service.get_spare_part(actor=actor, part_id=record_id))


@api.patch("/spare-parts/{record_id}", response_model=SparePartOut)
def update_spare_part(record_id: int, body: SparePartRevisionIn,
                      actor: Annotated[Actor, Depends(requires("spareparts.manage"))]) -> SparePartOut:
    return SparePartOut.of(service.update_spare_part(actor=actor, part_id=record_id,
                                                     **body.model_dump(exclude_unset=True)))


@api.post("/spare-parts/{record_id}/receipts", response_model=SparePartOut, status_code=201)
def receive_spare_parts(record_id: int, body: SparePartReceiptIn,
                        actor: Annotated[Actor, Depends(requires("spareparts.manage"))]) -> SparePartOut:
    return SparePartOut.of(service.receive_spare_parts(actor=actor, part_id=record_id, quantity=body.quantity,
                                                       reason=body.reason))


@api.post("/spare-parts/{record_id}/adjustments", response_model=SparePartOut, status_code=201)
def adjust_spare_parts(record_id: int, body: SparePartAdjustmentIn,
                       actor: Annotated[Actor, Depends(requires("spareparts.manage"))]) -> SparePartOut:
    return SparePartOut.of(service.adjust_spare_parts(actor=actor, part_id=record_id, change=body.change,
                                                      reason=body.reason))


@api.get("/spare-parts/{record_id}/movements", response_model=Page[SparePartMovementOut])
def list_spare_part_movements(record_id: int, actor: View,
                              page: Annotated[PageParams, Depends()]) -> Page[SparePartMovementOut]:
    rows = service.list_spare_part_movements(actor=actor, part_id=record_id, after_id=page.after_id,
                                             limit=page.limit + 1)
    return page.page([SparePartMovementOut.of(r) for r in rows], lambda m: m.id)


# ---------------------------------------------------------------- KPIs, reports, reminders


@api.get("/equipment-kpis", response_model=EquipmentKpisOut)
def equipment_kpis(actor: View, start: Annotated[date | None, Query(description="Default: 90 days ago")] = None,
                   end: Annotated[date | None, Query(description="Default: today")] = None) -> EquipmentKpisOut:
    return EquipmentKpisOut.of(service.equipment_kpis(actor=actor, start=start, end=end))


@api.get("/equipment-reports/downtime", response_model=list[DowntimeRowOut], responses=SPREADSHEET_RESPONSES)
def downtime_report(actor: View, start: date | None = None, end: date | None = None,
                    format: ReportFormat = "json") -> Any:
    if format == "json":
        return [DowntimeRowOut.of(r) for r in service.downtime_report(actor=actor, start=start, end=end)]
    return _download(service.export_downtime(actor=actor, fmt=format, start=start, end=end))


@api.get("/equipment-reminders", response_model=list[ReminderOut])
def list_reminders(actor: View, since: date | None = None, kind: str | None = None,
                   limit: Annotated[int, Query(ge=1, le=500)] = 200) -> list[ReminderOut]:
    return [ReminderOut.of(r) for r in service.list_reminders(actor=actor, since=since, kind=kind, limit=limit)]
