"""Web pages of equipment and metrology: ledger, calibrations, maintenance, faults, rounds, spare parts.

Each handler parses the form, calls one service of ``pharmos.equipment.service`` (detail pages
also ask the lifecycle which transitions the user may take) and renders. The rules, including
who may do what and whether equipment may be used, live in the services; a refused call comes
back as the same page with each problem next to its field and the user's input kept.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from datetime import date, timedelta
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse
from starlette.datastructures import UploadFile

from pharmos.api.policy import requires
from pharmos.compliance.lifecycle import available_transitions
from pharmos.compliance.signatures import MEANINGS
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today
from pharmos.core.errors import DomainError, FieldProblem, NotFound, ValidationFailed
from pharmos.equipment import service
from pharmos.equipment.lifecycle import (
    CALIBRATION_LIFECYCLE,
    EQUIPMENT_LIFECYCLE,
    FAULT_LIFECYCLE,
    IMPACT_LIFECYCLE,
    ROUND_LIFECYCLE,
    WORK_ORDER_LIFECYCLE,
)
from pharmos.web.forms import (
    FormReader,
    download,
    form_values,
    perform,
    record_form,
    record_transition,
    refused_form,
    see_other,
)
from pharmos.web.rendering import LIST_LIMIT, page_of_rows, render, translate

pages = APIRouter(include_in_schema=False)
Viewer = Annotated[Actor, Depends(requires("equipment.view"))]
Editor = Annotated[Actor, Depends(requires("equipment.edit"))]
User = Annotated[Actor, Depends(requires("equipment.use"))]
Calibrator = Annotated[Actor, Depends(requires("calibrations.record"))]
Assessor = Annotated[Actor, Depends(requires("calibrations.assess"))]
Planner = Annotated[Actor, Depends(requires("workorders.manage"))]
Performer = Annotated[Actor, Depends(requires("workorders.perform"))]
Reporter = Annotated[Actor, Depends(requires("faults.report"))]
Triager = Annotated[Actor, Depends(requires("faults.triage"))]
Inspector = Annotated[Actor, Depends(requires("rounds.perform"))]
Importer = Annotated[Actor, Depends(requires("equipment.import"))]

LOGBOOK_PAGE = 50
CALIBRATION_POINT_ROWS = 5  # point rows offered on the calibration form
PLAN_TASK_ROWS = 8  # checklist rows offered on the new-plan form
MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # the attachment rule's limit; the service checks it again
LIFECYCLES = (EQUIPMENT_LIFECYCLE, CALIBRATION_LIFECYCLE, IMPACT_LIFECYCLE, WORK_ORDER_LIFECYCLE, FAULT_LIFECYCLE,
              ROUND_LIFECYCLE)


# ---------------------------------------------------------------- reading forms


async def _upload(request: Request, name: str, *, required: bool) -> tuple[str, bytes, str] | None:
    """An uploaded file as (filename, bytes, media type); the service decides whether the file is acceptable."""
    upload = (await request.form()).get(name)
    if not isinstance(upload, UploadFile) or not upload.filename:
        if required:
            raise ValidationFailed.on(name, "Choose a file.")
        return None
    # Transport hygiene only, as on the API: the attachment rules are the service's.
    content = await upload.read(MAX_UPLOAD_BYTES + 1)
    if len(content) > MAX_UPLOAD_BYTES:
        raise ValidationFailed.on(name, "The file is larger than 10 MB.")
    return upload.filename, content, upload.content_type or "application/octet-stream"


def _page(request: Request, template: str, context: dict[str, Any], *, status: int = 200) -> Response:
    return render(request, template, {**_VOCABULARY, "today": site_today(), **context}, status=status)


def _refused(request: Request, exc: DomainError, template: str, context: dict[str, Any],
             values: dict[str, str]) -> Response:
    return refused_form(request, exc, template, {**_VOCABULARY, "today": site_today(), **context}, values)


_transition = partial(record_transition, refused=_refused)
_detail_form = partial(record_form, refused=_refused)
_download = download


_VOCABULARY: dict[str, Any] = {
    "meanings": MEANINGS,
    "equipment_states": EQUIPMENT_LIFECYCLE.states,
    "work_order_states": WORK_ORDER_LIFECYCLE.states,
    "fault_states": FAULT_LIFECYCLE.states,
    # Which states each step starts from: a detail page offers only the steps possible from the
    # record's state (the others would all say "not possible").
    "transition_sources": {lifecycle.collection: {t.name: t.source for t in lifecycle.transitions}
                           for lifecycle in LIFECYCLES},
}


# ---------------------------------------------------------------- equipment ledger


@pages.get("/equipment", response_class=HTMLResponse)
def equipment_list(request: Request, actor: Viewer, state: str = "", class_code: str = "", q: str = "",
                   calibration: str = "any", after: int | None = None) -> Response:
    rows = service.list_equipment(actor=actor, state=state or None, class_code=class_code or None,
                                  query=q or None, calibration=calibration or "any", after_id=after,
                                  limit=LIST_LIMIT + 1)
    items, next_page = page_of_rows(request, rows)
    return _page(request, "equipment/list.html", {
        "equipment": items, "next_page": next_page, "state": state, "calibration": calibration,
        "classes": service.list_equipment_classes(actor=actor),
        "values": {"q": q, "class_code": class_code}})


@pages.get("/equipment/export")
def equipment_export(actor: Viewer, format: str = "csv", what: str = "equipment") -> Response:
    # Declared before /equipment/{equipment_id}: "export" is not an equipment id.
    exports: dict[str, Callable[..., tuple[bytes, str, str]]] = {
        "equipment": service.export_equipment, "calibration-plan": service.export_calibration_plan,
        "work-orders": service.export_work_orders, "downtime": service.export_downtime}
    if what not in exports:
        raise NotFound(f"No export {what!r}.")
    content, media_type, filename = exports[what](actor=actor, fmt=format)
    return _download(content, media_type, filename)


@pages.get("/equipment/scan", response_class=HTMLResponse)
def equipment_scan(request: Request, actor: Viewer, code: str = "") -> Response:
    if not code.strip():
        return see_other("/equipment")
    try:
        found = service.find_equipment_by_scan(actor=actor, code=code)
    except NotFound as exc:
        return _page(request, "equipment/list.html", {
            "equipment": [], "next_page": None, "state": "", "calibration": "any",
            "classes": service.list_equipment_classes(actor=actor), "values": {"code": code},
            "errors": {"code": translate(request, exc.message)}}, status=404)
    return see_other(f"/equipment/{found.id}")


def _equipment_detail(*, actor: Actor, record_id: int, logbook_page: int = 0) -> dict[str, Any]:
    item = service.get_equipment(actor=actor, equipment_id=record_id)
    # Newest first, one page more than shown so the page knows whether there is an older page.
    entries = service.list_logbook(actor=actor, equipment_id=record_id, newest_first=True,
                                   limit=LOGBOOK_PAGE * (logbook_page + 1) + 1)
    shown = entries[LOGBOOK_PAGE * logbook_page:LOGBOOK_PAGE * (logbook_page + 1)]
    return {"item": item,
            "transitions": available_transitions(actor=actor, collection=EQUIPMENT_LIFECYCLE.collection,
                                                 record_id=record_id),
            "logbook": shown, "logbook_page": logbook_page,
            "logbook_older": len(entries) > LOGBOOK_PAGE * (logbook_page + 1),
            "calibrations": (service.list_calibrations(actor=actor, equipment_id=record_id, limit=LIST_LIMIT)
                             if item.calibration_required else []),
            "work_orders": service.list_work_orders(actor=actor, equipment_id=record_id, open_only=True,
                                                    limit=LIST_LIMIT),
            "faults": service.list_faults(actor=actor, equipment_id=record_id, open_only=True, limit=LIST_LIMIT)}


@pages.get("/equipment/{equipment_id}/labels.pdf")
def equipment_labels(equipment_id: int, actor: Viewer) -> Response:
    pdf = service.equipment_labels_pdf(actor=actor, equipment_ids=[equipment_id])
    # Inline: the browser's PDF viewer opens it and prints on the label printer.
    return _download(pdf, "application/pdf", f"equipment-{equipment_id}-label.pdf", inline=True)


@pages.post("/equipment/{equipment_id}/transitions/{name}", response_class=HTMLResponse)
async def equipment_transition(request: Request, equipment_id: int, name: str, actor: Viewer) -> Response:
    return await _transition(request, actor=actor, collection=EQUIPMENT_LIFECYCLE.collection, record_id=equipment_id,
                             name=name, detail=_equipment_detail, template="equipment/detail.html",
                             back=f"/equipment/{equipment_id}")


async def _equipment_form(request: Request, equipment_id: int, actor: Actor, form: str,
                          call: Callable[[FormReader], Any]) -> Response:
    return await _detail_form(request, actor=actor, record_id=equipment_id, form=form, call=call,
                              detail=_equipment_detail, template="equipment/detail.html",
                              back=f"/equipment/{equipment_id}#{form}")


@pages.post("/equipment/{equipment_id}/qualifications", response_class=HTMLResponse)
async def equipment_qualification(request: Request, equipment_id: int, actor: Editor) -> Response:
    def call(reader: FormReader) -> Any:
        completed_on = reader.date("completed_on", required=True)
        reader.check()
        assert completed_on is not None  # required: check() refused the form otherwise
        return service.record_qualification(actor=actor, equipment_id=equipment_id, phase=reader.text("phase"),
                                            protocol_number=reader.text("protocol_number"),
                                            completed_on=completed_on, passed=reader.text("passed") != "no",
                                            performed_by=reader.text("performed_by"), note=reader.text("note"))
    return await _equipment_form(request, equipment_id, actor, "qualification", call)


@pages.post("/equipment/{equipment_id}/use/start", response_class=HTMLResponse)
async def equipment_start_use(request: Request, equipment_id: int, actor: User) -> Response:
    def call(reader: FormReader) -> Any:
        return service.start_use(actor=actor, equipment_id=equipment_id, reference=reader.text("reference"),
                                 activity=reader.text("activity"))
    return await _equipment_form(request, equipment_id, actor, "start-use", call)


@pages.post("/equipment/{equipment_id}/use/end", response_class=HTMLResponse)
async def equipment_end_use(request: Request, equipment_id: int, actor: User) -> Response:
    def call(reader: FormReader) -> Any:
        counter = reader.number("counter_value")
        reader.check()
        return service.end_use(actor=actor, equipment_id=equipment_id, reference=reader.text("reference"),
                               counter_value=counter, note=reader.text("note"))
    return await _equipment_form(request, equipment_id, actor, "end-use", call)


@pages.post("/equipment/{equipment_id}/cleaning", response_class=HTMLResponse)
async def equipment_cleaning(request: Request, equipment_id: int, actor: User) -> Response:
    def call(reader: FormReader) -> Any:
        return service.record_cleaning(actor=actor, equipment_id=equipment_id, procedure=reader.text("procedure"),
                                       reference=reader.text("reference"), note=reader.text("note"))
    return await _equipment_form(request, equipment_id, actor, "cleaning", call)


@pages.post("/equipment/{equipment_id}/logbook", response_class=HTMLResponse)
async def equipment_note(request: Request, equipment_id: int, actor: User) -> Response:
    def call(reader: FormReader) -> Any:
        return service.add_logbook_note(actor=actor, equipment_id=equipment_id, text=reader.text("text"))
    return await _equipment_form(request, equipment_id, actor, "note", call)


@pages.post("/equipment/{equipment_id}/documents", response_class=HTMLResponse)
async def equipment_document(request: Request, equipment_id: int, actor: Editor) -> Response:
    values = await form_values(request)
    try:
        upload = await _upload(request, "file", required=True)
        assert upload is not None
        filename, content, media_type = upload
        await perform(service.attach_document, actor=actor, owner_type="equipment", owner_id=equipment_id,
                      kind=values.get("kind", "other"), title=values.get("title", "") or filename,
                      filename=filename, content=content, media_type=media_type)
    except DomainError as exc:
        values["form"] = "document"
        context = await perform(_equipment_detail, actor=actor, record_id=equipment_id)
        return _refused(request, exc, "equipment/detail.html", context, values)
    return see_other(f"/equipment/{equipment_id}#documents")


@pages.get("/equipment/attachments/{attachment_id}")
def attachment_download(attachment_id: int, actor: Viewer) -> Response:
    view, content = service.get_attachment(actor=actor, attachment_id=attachment_id)
    # Images and PDFs open in the browser; anything else downloads.
    inline = view.media_type.startswith("image/") or view.media_type == "application/pdf"
    return _download(content, view.media_type, view.filename, inline=inline)


# ---------------------------------------------------------------- calibrations and impact assessments


@pages.get("/equipment/calibrations", response_class=HTMLResponse)
def calibration_list(request: Request, actor: Viewer, result: str = "", state: str = "",
                     after: int | None = None) -> Response:
    rows = service.list_calibrations(actor=actor, result=result or None, state=state or None, after_id=after,
                                     limit=LIST_LIMIT + 1)
    items, next_page = page_of_rows(request, rows)
    return _page(request, "equipment/calibrations.html", {
        "calibrations": items, "next_page": next_page, "result": result, "state": state,
        "assessments": service.list_impact_assessments(actor=actor, state="open", limit=LIST_LIMIT)})


def _calibration_form_context(*, actor: Actor, record_id: int) -> dict[str, Any]:
    return {"item": service.get_equipment(actor=actor, equipment_id=record_id),
            "point_rows": range(CALIBRATION_POINT_ROWS)}


@pages.get("/equipment/{equipment_id}/calibrations/new", response_class=HTMLResponse)
def calibration_form(request: Request, equipment_id: int, actor: Calibrator) -> Response:
    context = _calibration_form_context(actor=actor, record_id=equipment_id)
    return _page(request, "equipment/calibration_new.html", {
        **context, "values": {"performed_on": site_today().isoformat(), "kind": "internal", "result": "pass"}})


@pages.post("/equipment/{equipment_id}/calibrations/new", response_class=HTMLResponse)
async def calibration_record(request: Request, equipment_id: int, actor: Calibrator) -> Response:
    values = await form_values(request)
    reader = FormReader(values)
    try:
        performed_on = reader.date("performed_on", required=True)
        points = []
        for i in range(CALIBRATION_POINT_ROWS):
            if not reader.text(f"points[{i}].nominal"):
                continue
            # Readings go to the service as typed: it names every problem of every point at once.
            points.append(service.CalibrationPointInput(
                nominal=reader.text(f"points[{i}].nominal"), as_left=reader.text(f"points[{i}].as_left"),
                as_found=reader.text(f"points[{i}].as_found") or None,
                tolerance=reader.text(f"points[{i}].tolerance") or None))
        certificate = await _upload(request, "certificate", required=False)
        reader.check()
        calibration = await perform(
            service.record_calibration, actor=actor, equipment_id=equipment_id, performed_on=performed_on,
            kind=reader.text("kind"), performed_by=reader.text("performed_by"), points=points,
            result=reader.text("result"), certificate_number=reader.text("certificate_number"),
            reference_standard=reader.text("reference_standard"), comment=reader.text("comment"))
        if certificate is not None:
            filename, content, media_type = certificate
            await perform(service.attach_document, actor=actor, owner_type="calibration",
                          owner_id=calibration.id, kind="certificate",
                          title=reader.text("certificate_number") or filename, filename=filename,
                          content=content, media_type=media_type)
    except DomainError as exc:
        context = await perform(_calibration_form_context, actor=actor, record_id=equipment_id)
        return _refused(request, exc, "equipment/calibration_new.html", context, values)
    return see_other(f"/equipment/calibrations/{calibration.id}")


def _calibration_detail(*, actor: Actor, record_id: int) -> dict[str, Any]:
    return {"calibration": service.get_calibration(actor=actor, calibration_id=record_id),
            "transitions": available_transitions(actor=actor, collection=CALIBRATION_LIFECYCLE.collection,
                                                 record_id=record_id)}


@pages.get("/equipment/calibrations/{calibration_id}", response_class=HTMLResponse)
def calibration_detail(request: Request, calibration_id: int, actor: Viewer) -> Response:
    return _page(request, "equipment/calibration.html", _calibration_detail(actor=actor, record_id=calibration_id))


@pages.post("/equipment/calibrations/{calibration_id}/transitions/{name}", response_class=HTMLResponse)
async def calibration_transition(request: Request, calibration_id: int, name: str, actor: Viewer) -> Response:
    return await _transition(request, actor=actor, collection=CALIBRATION_LIFECYCLE.collection,
                             record_id=calibration_id, name=name, detail=_calibration_detail,
                             template="equipment/calibration.html", back=f"/equipment/calibrations/{calibration_id}")


def _assessment_detail(*, actor: Actor, record_id: int) -> dict[str, Any]:
    return {"assessment": service.get_impact_assessment(actor=actor, assessment_id=record_id),
            "transitions": available_transitions(actor=actor, collection=IMPACT_LIFECYCLE.collection,
                                                 record_id=record_id)}


@pages.get("/equipment/impact-assessments/{assessment_id}", response_class=HTMLResponse)
def assessment_detail(request: Request, assessment_id: int, actor: Viewer) -> Response:
    return _page(request, "equipment/assessment.html", _assessment_detail(actor=actor, record_id=assessment_id))


@pages.post("/equipment/impact-assessments/{assessment_id}/items/{item_id}", response_class=HTMLResponse)
async def assessment_item(request: Request, assessment_id: int, item_id: int, actor: Assessor) -> Response:
    def call(reader: FormReader) -> Any:
        return service.judge_impact_item(actor=actor, assessment_id=assessment_id, item_id=item_id,
                                         verdict=reader.text("verdict"), comment=reader.text("comment"))
    return await _detail_form(request, actor=actor, record_id=assessment_id, form=f"item-{item_id}", call=call,
                              detail=_assessment_detail, template="equipment/assessment.html",
                              back=f"/equipment/impact-assessments/{assessment_id}#item-{item_id}")


@pages.post("/equipment/impact-assessments/{assessment_id}/conclusion", response_class=HTMLResponse)
async def assessment_conclusion(request: Request, assessment_id: int, actor: Assessor) -> Response:
    def call(reader: FormReader) -> Any:
        return service.conclude_impact_assessment(actor=actor, assessment_id=assessment_id,
                                                  conclusion=reader.text("conclusion"),
                                                  deviation_number=reader.text("deviation_number"))
    return await _detail_form(request, actor=actor, record_id=assessment_id, form="conclusion", call=call,
                              detail=_assessment_detail, template="equipment/assessment.html",
                              back=f"/equipment/impact-assessments/{assessment_id}#conclusion")


@pages.post("/equipment/impact-assessments/{assessment_id}/transitions/{name}", response_class=HTMLResponse)
async def assessment_transition(request: Request, assessment_id: int, name: str, actor: Viewer) -> Response:
    return await _transition(request, actor=actor, collection=IMPACT_LIFECYCLE.collection, record_id=assessment_id,
                             name=name, detail=_assessment_detail, template="equipment/assessment.html",
                             back=f"/equipment/impact-assessments/{assessment_id}")


# ---------------------------------------------------------------- calendar


def _month(raw: str) -> date:
    try:
        year, month = (int(part) for part in raw.split("-", 1))
        return date(year, month, 1)
    except ValueError:
        return site_today().replace(day=1)


@pages.get("/equipment/calendar", response_class=HTMLResponse)
def calibration_calendar(request: Request, actor: Viewer, month: str = "") -> Response:
    first = _month(month)
    # A month grid starts on the Monday on or before the 1st and ends on the Sunday on or after the last day.
    start = first - timedelta(days=first.weekday())
    last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
    end = last + timedelta(days=6 - last.weekday())
    entries = service.calibration_calendar(actor=actor, start=start, end=end)
    by_day: dict[date, list[Any]] = {}
    for entry in entries:
        by_day.setdefault(entry.on, []).append(entry)
    weeks = [[start + timedelta(days=7 * w + d) for d in range(7)] for w in range(((end - start).days + 1) // 7)]
    previous = (first - timedelta(days=1)).replace(day=1)
    following = last + timedelta(days=1)
    return _page(request, "equipment/calendar.html", {
        "first": first, "weeks": weeks, "by_day": by_day,
        "overdue": [e for e in entries if e.overdue],
        "previous": f"{previous:%Y-%m}", "following": f"{following:%Y-%m}"})


# ---------------------------------------------------------------- work orders and maintenance plans


@pages.get("/equipment/work-orders", response_class=HTMLResponse)
def work_order_list(request: Request, actor: Viewer, state: str = "", kind: str = "", mine: str = "",
                    overdue: str = "", after: int | None = None) -> Response:
    rows = service.list_work_orders(actor=actor, state=state or None, kind=kind or None,
                                    assigned_to=actor.username if mine else None, overdue=True if overdue else None,
                                    open_only=not state, after_id=after, limit=LIST_LIMIT + 1)
    items, next_page = page_of_rows(request, rows)
    return _page(request, "equipment/work_orders.html", {"work_orders": items, "next_page": next_page,
                                                         "state": state, "kind": kind, "mine": mine,
                                                         "overdue": overdue})


def _work_order_detail(*, actor: Actor, record_id: int) -> dict[str, Any]:
    order = service.get_work_order(actor=actor, work_order_id=record_id)
    return {"order": order,
            "transitions": available_transitions(actor=actor, collection=WORK_ORDER_LIFECYCLE.collection,
                                                 record_id=record_id),
            "parts": service.list_spare_parts(actor=actor, equipment_id=order.equipment_id, limit=LIST_LIMIT)}


@pages.get("/equipment/work-orders/{work_order_id}", response_class=HTMLResponse)
def work_order_detail(request: Request, work_order_id: int, actor: Viewer) -> Response:
    return _page(request, "equipment/work_order.html", _work_order_detail(actor=actor, record_id=work_order_id))


async def _work_order_form(request: Request, work_order_id: int, actor: Actor, form: str,
                           call: Callable[[FormReader], Any]) -> Response:
    return await _detail_form(request, actor=actor, record_id=work_order_id, form=form, call=call,
                              detail=_work_order_detail, template="equipment/work_order.html",
                              back=f"/equipment/work-orders/{work_order_id}#{form}")


@pages.post("/equipment/work-orders/{work_order_id}/tasks/{task_id}", response_class=HTMLResponse)
async def work_order_task(request: Request, work_order_id: int, task_id: int, actor: Performer) -> Response:
    def call(reader: FormReader) -> Any:
        return service.record_task_result(actor=actor, work_order_id=work_order_id, task_id=task_id,
                                          done=reader.flag("done"), result=reader.text("result"))
    return await _work_order_form(request, work_order_id, actor, f"task-{task_id}", call)


@pages.post("/equipment/work-orders/{work_order_id}/findings", response_class=HTMLResponse)
async def work_order_findings(request: Request, work_order_id: int, actor: Performer) -> Response:
    def call(reader: FormReader) -> Any:
        return service.record_findings(actor=actor, work_order_id=work_order_id, findings=reader.text("findings"))
    return await _work_order_form(request, work_order_id, actor, "findings", call)


@pages.post("/equipment/work-orders/{work_order_id}/labour", response_class=HTMLResponse)
async def work_order_labour(request: Request, work_order_id: int, actor: Performer) -> Response:
    def call(reader: FormReader) -> Any:
        hours = reader.number("hours", required=True)
        worked_on = reader.date("worked_on", required=True)
        reader.check()
        assert hours is not None and worked_on is not None  # required: check() refused the form otherwise
        return service.log_labour(actor=actor, work_order_id=work_order_id,
                                  technician=reader.text("technician") or actor.username, hours=hours,
                                  worked_on=worked_on)
    return await _work_order_form(request, work_order_id, actor, "labour", call)


@pages.post("/equipment/work-orders/{work_order_id}/parts", response_class=HTMLResponse)
async def work_order_parts(request: Request, work_order_id: int, actor: Performer) -> Response:
    def call(reader: FormReader) -> Any:
        step = (service.return_spare_part_from_work_order if reader.text("direction") == "return"
                else service.issue_spare_part_to_work_order)
        return step(actor=actor, work_order_id=work_order_id, part_code=reader.text("part_code"),
                    quantity=reader.text("quantity"))
    return await _work_order_form(request, work_order_id, actor, "parts", call)


@pages.post("/equipment/work-orders/{work_order_id}/assign", response_class=HTMLResponse)
async def work_order_assign(request: Request, work_order_id: int, actor: Planner) -> Response:
    def call(reader: FormReader) -> Any:
        return service.assign_work_order(actor=actor, work_order_id=work_order_id, username=reader.text("username"))
    return await _work_order_form(request, work_order_id, actor, "assign", call)


@pages.post("/equipment/work-orders/{work_order_id}/transitions/{name}", response_class=HTMLResponse)
async def work_order_transition(request: Request, work_order_id: int, name: str, actor: Viewer) -> Response:
    return await _transition(request, actor=actor, collection=WORK_ORDER_LIFECYCLE.collection,
                             record_id=work_order_id, name=name, detail=_work_order_detail,
                             template="equipment/work_order.html", back=f"/equipment/work-orders/{work_order_id}")


@pages.get("/equipment/plans", response_class=HTMLResponse)
def plan_list(request: Request, actor: Viewer, due: str = "") -> Response:
    rows = service.list_maintenance_plans(actor=actor, due_within_days=int(due) if due.isdigit() else None,
                                          limit=LIST_LIMIT)
    return _page(request, "equipment/plans.html", {"plans": rows, "values": {"due": due}})


def _plan_form_context(*, actor: Actor) -> dict[str, Any]:
    return {"equipment": service.list_equipment(actor=actor, limit=1000), "task_rows": range(PLAN_TASK_ROWS)}


@pages.get("/equipment/plans/new", response_class=HTMLResponse)
def plan_form(request: Request, actor: Planner, equipment: str = "") -> Response:
    return _page(request, "equipment/plan_new.html", {
        **_plan_form_context(actor=actor),
        "values": {"equipment_id": equipment, "basis": "calendar", "lead_days": "7",
                   **{f"tasks[{i}].mandatory": "on" for i in range(PLAN_TASK_ROWS)}}})


@pages.post("/equipment/plans/new", response_class=HTMLResponse)
async def plan_create(request: Request, actor: Planner) -> Response:
    values = await form_values(request)
    reader = FormReader(values)
    try:
        equipment_id = reader.integer("equipment_id")
        if equipment_id is None:
            reader.problems.append(FieldProblem("equipment_id", "Choose the equipment."))
        interval_days, lead_days = reader.integer("interval_days"), reader.integer("lead_days")
        interval_usage, hours = reader.number("interval_usage"), reader.number("estimated_hours")
        first_due_on = reader.date("first_due_on")
        tasks = [service.PlanTaskInput(text=reader.text(f"tasks[{i}].text"),
                                       mandatory=reader.flag(f"tasks[{i}].mandatory"))
                 for i in range(PLAN_TASK_ROWS) if reader.text(f"tasks[{i}].text")]
        reader.check()
        plan = await perform(service.create_maintenance_plan, actor=actor, equipment_id=equipment_id,
                             title=reader.text("title"), basis=reader.text("basis"), interval_days=interval_days,
                             interval_usage=interval_usage, lead_days=7 if lead_days is None else lead_days,
                             first_due_on=first_due_on, estimated_hours=hours, tasks=tasks)
    except DomainError as exc:
        context = await perform(_plan_form_context, actor=actor)
        return _refused(request, exc, "equipment/plan_new.html", context, values)
    return see_other(f"/equipment/plans/{plan.id}")


@pages.get("/equipment/plans/{plan_id}", response_class=HTMLResponse)
def plan_detail(request: Request, plan_id: int, actor: Viewer) -> Response:
    plan = service.get_maintenance_plan(actor=actor, plan_id=plan_id)
    orders = service.list_work_orders(actor=actor, equipment_id=plan.equipment_id, kind="preventive",
                                      limit=LIST_LIMIT)
    return _page(request, "equipment/plan.html", {"plan": plan, "work_orders": orders})


# ---------------------------------------------------------------- faults


@pages.get("/equipment/faults", response_class=HTMLResponse)
def fault_list(request: Request, actor: Viewer, state: str = "", after: int | None = None) -> Response:
    rows = service.list_faults(actor=actor, state=state or None, open_only=not state, after_id=after,
                               limit=LIST_LIMIT + 1)
    items, next_page = page_of_rows(request, rows)
    return _page(request, "equipment/faults.html", {"faults": items, "next_page": next_page, "state": state})


@pages.get("/equipment/faults/new", response_class=HTMLResponse)
def fault_form(request: Request, actor: Reporter, equipment: str = "") -> Response:
    return _page(request, "equipment/fault_new.html", {"values": {"number": equipment, "severity": "minor"}})


@pages.post("/equipment/faults/new", response_class=HTMLResponse)
async def fault_report(request: Request, actor: Reporter) -> Response:
    values = await form_values(request)
    try:
        photo = await _upload(request, "photo", required=False)
        fault = await perform(service.report_fault, actor=actor, number=values.get("number", ""),
                              description=values.get("description", ""), severity=values.get("severity", "minor"),
                              stops_equipment=values.get("stops_equipment") == "on", photo=photo)
    except DomainError as exc:
        return _refused(request, exc, "equipment/fault_new.html", {}, values)
    return see_other(f"/equipment/faults/{fault.id}")


def _fault_detail(*, actor: Actor, record_id: int) -> dict[str, Any]:
    return {"fault": service.get_fault(actor=actor, fault_id=record_id),
            "transitions": available_transitions(actor=actor, collection=FAULT_LIFECYCLE.collection,
                                                 record_id=record_id)}


@pages.get("/equipment/faults/{fault_id}", response_class=HTMLResponse)
def fault_detail(request: Request, fault_id: int, actor: Viewer) -> Response:
    return _page(request, "equipment/fault.html", _fault_detail(actor=actor, record_id=fault_id))


async def _fault_form(request: Request, fault_id: int, actor: Actor, form: str,
                      call: Callable[[FormReader], Any]) -> Response:
    return await _detail_form(request, actor=actor, record_id=fault_id, form=form, call=call, detail=_fault_detail,
                              template="equipment/fault.html", back=f"/equipment/faults/{fault_id}#{form}")


@pages.post("/equipment/faults/{fault_id}/triage", response_class=HTMLResponse)
async def fault_triage(request: Request, fault_id: int, actor: Triager) -> Response:
    def call(reader: FormReader) -> Any:
        return service.triage_fault(actor=actor, fault_id=fault_id, severity=reader.text("severity"),
                                    stops_equipment=reader.flag("stops_equipment"))
    return await _fault_form(request, fault_id, actor, "triage", call)


@pages.post("/equipment/faults/{fault_id}/assign", response_class=HTMLResponse)
async def fault_assign(request: Request, fault_id: int, actor: Triager) -> Response:
    def call(reader: FormReader) -> Any:
        return service.assign_fault(actor=actor, fault_id=fault_id, username=reader.text("username"),
                                    create_work_order=reader.flag("create_work_order"))
    return await _fault_form(request, fault_id, actor, "assign", call)


@pages.post("/equipment/faults/{fault_id}/repair", response_class=HTMLResponse)
async def fault_repair(request: Request, fault_id: int, actor: Performer) -> Response:
    def call(reader: FormReader) -> Any:
        return service.describe_repair(actor=actor, fault_id=fault_id,
                                       repair_description=reader.text("repair_description"))
    return await _fault_form(request, fault_id, actor, "repair", call)


@pages.post("/equipment/faults/{fault_id}/transitions/{name}", response_class=HTMLResponse)
async def fault_transition(request: Request, fault_id: int, name: str, actor: Viewer) -> Response:
    return await _transition(request, actor=actor, collection=FAULT_LIFECYCLE.collection, record_id=fault_id,
                             name=name, detail=_fault_detail, template="equipment/fault.html",
                             back=f"/equipment/faults/{fault_id}")


# ---------------------------------------------------------------- technician tablet and inspection rounds


@pages.get("/equipment/tablet", response_class=HTMLResponse)
def tablet(request: Request, actor: Viewer, done: str = "") -> Response:
    rounds = service.my_rounds(actor=actor)
    orders = service.list_work_orders(actor=actor, assigned_to=actor.username, open_only=True, limit=LIST_LIMIT)
    missed = service.list_inspection_rounds(actor=actor, state="missed", limit=LIST_LIMIT)
    return _page(request, "equipment/tablet.html", {"rounds": rounds, "work_orders": orders, "missed": missed,
                                                    "done": done})


def _round_detail(*, actor: Actor, record_id: int) -> dict[str, Any]:
    round_ = service.get_inspection_round(actor=actor, round_id=record_id)
    answered = {r.point_id for r in round_.results}
    pending = [p for p in round_.points if p.id not in answered]
    return {"round": round_, "next_point": pending[0] if pending else None, "answered": len(answered),
            "results": {r.point_id: r for r in round_.results},
            "transitions": available_transitions(actor=actor, collection=ROUND_LIFECYCLE.collection,
                                                 record_id=record_id)}


@pages.get("/equipment/rounds/{round_id}", response_class=HTMLResponse)
def round_detail(request: Request, round_id: int, actor: Viewer) -> Response:
    return _page(request, "equipment/round.html", _round_detail(actor=actor, record_id=round_id))


@pages.post("/equipment/rounds/{round_id}/results", response_class=HTMLResponse)
async def round_result(request: Request, round_id: int, actor: Inspector) -> Response:
    def call(reader: FormReader) -> Any:
        point_id = reader.integer("point_id")
        reader.check()
        # The value goes as typed: the service parses it by the check's kind and names the field.
        return service.record_round_result(actor=actor, round_id=round_id, point_id=point_id or 0,
                                           scanned=reader.text("scanned"), value=reader.text("value") or None,
                                           comment=reader.text("comment"))
    return await _detail_form(request, actor=actor, record_id=round_id, form="result", call=call,
                              detail=_round_detail, template="equipment/round.html",
                              back=f"/equipment/rounds/{round_id}")


@pages.post("/equipment/rounds/{round_id}/transitions/{name}", response_class=HTMLResponse)
async def round_transition(request: Request, round_id: int, name: str, actor: Viewer) -> Response:
    # A completed round goes back to the tablet's list; starting one opens its first check.
    back = "/equipment/tablet?done=1" if name == "complete" else f"/equipment/rounds/{round_id}"
    return await _transition(request, actor=actor, collection=ROUND_LIFECYCLE.collection, record_id=round_id,
                             name=name, detail=_round_detail, template="equipment/round.html", back=back)


# ---------------------------------------------------------------- spare parts


@pages.get("/equipment/spare-parts", response_class=HTMLResponse)
def spare_part_list(request: Request, actor: Viewer, q: str = "", low: str = "") -> Response:
    rows = service.list_spare_parts(actor=actor, query=q or None, low_stock=True if low else None, limit=LIST_LIMIT)
    return _page(request, "equipment/spare_parts.html", {"parts": rows, "low": low, "values": {"q": q}})


@pages.get("/equipment/spare-parts/{part_id}", response_class=HTMLResponse)
def spare_part_detail(request: Request, part_id: int, actor: Viewer) -> Response:
    part = service.get_spare_part(actor=actor, part_id=part_id)
    movements = service.list_spare_part_movements(actor=actor, part_id=part_id, limit=LIST_LIMIT)
    return _page(request, "equipment/spare_part.html", {"part": part, "movements": movements})


# ---------------------------------------------------------------- KPIs and reports


@pages.get("/equipment/kpis", response_class=HTMLResponse)
def kpis(request: Request, actor: Viewer, start: str = "", end: str = "") -> Response:
    reader = FormReader({"start": start, "end": end})
    start_on, end_on = reader.date("start"), reader.date("end")
    try:
        reader.check()
        figures = service.equipment_kpis(actor=actor, start=start_on, end=end_on)
        rows = service.downtime_report(actor=actor, start=start_on, end=end_on)
    except ValidationFailed as exc:
        return _refused(request, exc, "equipment/kpis.html", {"kpis": None, "downtime": []},
                        {"start": start, "end": end})
    return _page(request, "equipment/kpis.html", {"kpis": figures, "downtime": rows,
                                                  "values": {"start": start, "end": end}})


@pages.get("/equipment/kpis/downtime")
def kpis_downtime_export(actor: Viewer, format: str = "csv", start: str = "", end: str = "") -> Response:
    reader = FormReader({"start": start, "end": end})
    start_on, end_on = reader.date("start"), reader.date("end")
    reader.check()
    content, media_type, filename = service.export_downtime(actor=actor, fmt=format, start=start_on, end=end_on)
    return _download(content, media_type, filename)


# ---------------------------------------------------------------- spreadsheet import (ledger, calibration plan)

IMPORT_KINDS = ("equipment", "calibration-plan")
ROW_FIELD = re.compile(r"(?:rows\[(?P<index>\d+)\]\.|row (?P<row>\d+): )(?P<column>.+)")


def _importers() -> dict[str, Callable[..., Any]]:
    return {"equipment": service.import_equipment, "calibration-plan": service.import_calibration_plan}


def _row_problems(request: Request, exc: DomainError) -> list[tuple[str, str, str]]:
    """Every problem of the file as (row, column, message); the form's own fields show at the field."""
    rows = []
    for problem in exc.fields:
        if problem.field in ("file", "dry_run"):
            continue
        found = ROW_FIELD.fullmatch(problem.field)
        if found is None:
            row, column = "", problem.field
        elif found["index"] is not None:
            row, column = str(int(found["index"]) + 2), found["column"]  # row 1 holds the column names
        else:
            row, column = found["row"], found["column"]
        rows.append((row, column, translate(request, problem.message)))
    return rows


@pages.get("/equipment/import", response_class=HTMLResponse)
def import_form(request: Request, actor: Importer) -> Response:
    return _page(request, "equipment/import.html", {"kinds": IMPORT_KINDS})


@pages.get("/equipment/import/{kind}-template")
def import_template(kind: str, actor: Importer, format: str = "csv") -> Response:
    templates = {"equipment": service.equipment_template, "calibration-plan": service.calibration_plan_template}
    if kind not in templates:
        raise NotFound(f"No import {kind!r}.")
    content, media_type, filename = templates[kind](fmt=format)
    return _download(content, media_type, filename)


@pages.post("/equipment/import/{kind}", response_class=HTMLResponse)
async def import_file(request: Request, kind: str, actor: Importer) -> Response:
    if kind not in IMPORT_KINDS:
        raise NotFound(f"No import {kind!r}.")
    values = await form_values(request)
    values["form"] = kind
    dry_run = values.get("dry_run") == "on"
    filename = ""
    try:
        upload = await _upload(request, "file", required=True)
        assert upload is not None
        filename, content, _media_type = upload
        result = await perform(_importers()[kind], actor=actor, filename=filename, content=content, dry_run=dry_run,
                               reason=values.get("reason", ""))
    except DomainError as exc:
        return _refused(request, exc, "equipment/import.html",
                        {"kinds": IMPORT_KINDS, "problems": _row_problems(request, exc), "filename": filename},
                        values)
    return _page(request, "equipment/import.html", {"kinds": IMPORT_KINDS, "done": kind, "result": result,
                                                    "dry_run": dry_run, "filename": filename, "values": values})


# ---------------------------------------------------------------- the equipment page
# Declared last: every other one-segment path under /equipment (calendar, tablet, kpis…) is not an id.


@pages.get("/equipment/{equipment_id}", response_class=HTMLResponse)
def equipment_detail(request: Request, equipment_id: int, actor: Viewer, logbook: int = 0) -> Response:
    return _page(request, "equipment/detail.html",
                 _equipment_detail(actor=actor, record_id=equipment_id, logbook_page=max(logbook, 0)))
