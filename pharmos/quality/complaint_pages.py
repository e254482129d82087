"""Web pages of complaints: the list (with saved filters), intake, the record page, the trend.

Each handler parses the form, calls one service of ``pharmos.quality.service`` (the record page
also asks the lifecycle which transitions the user may take, and why not) and renders. A refused
call comes back as the same page with each problem next to its field and the user's input kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse

from pharmos.api.policy import requires
from pharmos.compliance.lifecycle import available_transitions
from pharmos.compliance.signatures import MEANINGS
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today
from pharmos.core.errors import DomainError
from pharmos.quality import service
from pharmos.quality.lifecycle import COMPLAINT_LIFECYCLE
from pharmos.web.forms import (
    FormReader,
    ModulePages,
    download,
    form_values,
    list_filter,
    perform,
    query_values,
    see_other,
)
from pharmos.web.rendering import LIST_LIMIT, page_of_rows

pages = APIRouter(include_in_schema=False)
Viewer = Annotated[Actor, Depends(requires("quality.view"))]
Receiver = Annotated[Actor, Depends(requires("complaints.receive"))]
Classifier = Annotated[Actor, Depends(requires("complaints.classify"))]
Investigator = Annotated[Actor, Depends(requires("complaints.investigate"))]

CHANNELS = ("phone", "email", "letter", "visit", "regulator", "distributor")
CATEGORIES = ("quality_defect", "packaging", "labelling", "adverse_event", "efficacy", "counterfeit", "other")
CLASSES = ("minor", "major", "critical")
TREND_BY = ("category", "product", "classification")
# Preset filters of the list: each is only a query string, so any filter can be bookmarked or saved.
PRESETS = (("open", ""), ("received", "state=received"), ("investigating", "state=investigating"),
           ("pending_approval", "state=pending_approval"), ("overdue", "overdue=1"), ("all", "all=1"))

_VOCABULARY: dict[str, Any] = {
    "meanings": MEANINGS,
    "complaint_states": tuple(COMPLAINT_LIFECYCLE.states),
    "channels": CHANNELS,
    "complaint_categories": CATEGORIES,
    "classes": CLASSES,
    "trend_by": TREND_BY,
    # Which states each step starts from: the record page offers only the steps possible from its state.
    "transition_sources": {COMPLAINT_LIFECYCLE.collection: {t.name: t.source
                                                            for t in COMPLAINT_LIFECYCLE.transitions}},
}
_ui = ModulePages(_VOCABULARY)


# ---------------------------------------------------------------- list, export, trend


def _filters(params: dict[str, str]) -> dict[str, Any]:
    state, everything = params.get("state", ""), params.get("all") == "1"
    return {"state": state or None, "category": params.get("category") or None,
            "classification": params.get("classification") or None, "product": params.get("product") or None,
            "overdue": True if params.get("overdue") == "1" else None,
            # Without a state or "all", the list shows what is still open: the complaint desk's daily view.
            "open_only": not state and not everything, "query": params.get("q") or None}


@pages.get("/quality/complaints", response_class=HTMLResponse)
def complaint_list(request: Request, actor: Viewer, after: int | None = None) -> Response:
    params = query_values(request)
    rows = service.list_complaints(actor=actor, **_filters(params), after_id=after, limit=LIST_LIMIT + 1)
    items, next_page = page_of_rows(request, rows)
    return _ui.page(request, "quality/complaint_list.html", {
        "complaints": items, "next_page": next_page, **list_filter(params, PRESETS),
        "saved_filters": service.list_saved_filters(actor=actor, list_name="complaints")})


@pages.get("/quality/complaints/export")
def complaint_export(request: Request, actor: Viewer, format: str = "csv") -> Response:
    # Declared before /quality/complaints/{id}: "export" is not an id.
    return download(*service.export_complaints(actor=actor, fmt=format, **_filters(query_values(request, "format"))))


@pages.get("/quality/complaints/trend", response_class=HTMLResponse)
def complaint_trend(request: Request, actor: Viewer, by: str = "category", months: int = 12) -> Response:
    points = service.complaint_trend(actor=actor, months=months, by=by)
    return _ui.page(request, "quality/complaint_trend.html", {"points": points, "by": by, "months": months})


# ---------------------------------------------------------------- intake


@pages.get("/quality/complaints/new", response_class=HTMLResponse)
def complaint_new(request: Request, actor: Receiver) -> Response:
    return _ui.page(request, "quality/complaint_new.html", {"values": {"received_on": site_today().isoformat()}})


@pages.post("/quality/complaints/new", response_class=HTMLResponse)
async def complaint_receive(request: Request, actor: Receiver) -> Response:
    values = await form_values(request)
    reader = FormReader(values)
    try:
        received_on, sample_on = reader.date("received_on", required=True), reader.date("sample_received_on")
        reader.check()
        complaint = await perform(
            service.receive_complaint, actor=actor, received_on=received_on, channel=reader.text("channel"),
            customer=reader.text("customer"), product=reader.text("product"),
            description=reader.text("description"), customer_contact=reader.text("customer_contact"),
            region=reader.text("region"), lot_number=reader.text("lot_number"),
            sample_received=reader.flag("sample_received"), sample_received_on=sample_on)
    except DomainError as exc:
        return _ui.refused(request, exc, "quality/complaint_new.html", {}, values)
    return see_other(f"/quality/complaints/{complaint.id}")


# ---------------------------------------------------------------- the record page


def _detail(*, actor: Actor, record_id: int) -> dict[str, Any]:
    complaint = service.get_complaint(actor=actor, complaint_id=record_id)
    return {"complaint": complaint, "history": complaint.timeline,
            "mine": bool(complaint.investigator) and complaint.investigator == actor.username,
            "transitions": available_transitions(actor=actor, collection=COMPLAINT_LIFECYCLE.collection,
                                                 record_id=record_id)}


@pages.get("/quality/complaints/{complaint_id}", response_class=HTMLResponse)
def complaint_detail(request: Request, complaint_id: int, actor: Viewer) -> Response:
    return _ui.page(request, "quality/complaint.html", _detail(actor=actor, record_id=complaint_id))


@pages.get("/quality/complaints/{complaint_id}/print")
def complaint_print(complaint_id: int, actor: Viewer) -> Response:
    return download(*service.print_complaint(actor=actor, complaint_id=complaint_id))


@pages.post("/quality/complaints/{complaint_id}/transitions/{name}", response_class=HTMLResponse)
async def complaint_transition(request: Request, complaint_id: int, name: str, actor: Viewer) -> Response:
    return await _ui.transition(request, actor=actor, collection=COMPLAINT_LIFECYCLE.collection, record_id=complaint_id,
                                name=name, detail=_detail, template="quality/complaint.html",
                                back=f"/quality/complaints/{complaint_id}")


async def _form(request: Request, complaint_id: int, actor: Actor, form: str,
                call: Callable[[FormReader], Any]) -> Response:
    return await _ui.detail_form(request, actor=actor, record_id=complaint_id, form=form, call=call, detail=_detail,
                                 template="quality/complaint.html", back=f"/quality/complaints/{complaint_id}#{form}")


@pages.post("/quality/complaints/{complaint_id}/classification", response_class=HTMLResponse)
async def complaint_classify(request: Request, complaint_id: int, actor: Classifier) -> Response:
    def call(reader: FormReader) -> Any:
        due_on = reader.date("due_on")
        reader.check()
        return service.classify_complaint(actor=actor, complaint_id=complaint_id,
                                          classification=reader.text("classification"),
                                          category=reader.text("category"),
                                          adverse_event=reader.flag("adverse_event"),
                                          investigator_username=reader.text("investigator_username"), due_on=due_on)
    return await _form(request, complaint_id, actor, "classification", call)


@pages.post("/quality/complaints/{complaint_id}/investigation", response_class=HTMLResponse)
async def complaint_investigate(request: Request, complaint_id: int, actor: Investigator) -> Response:
    def call(reader: FormReader) -> Any:
        return service.record_complaint_investigation(
            actor=actor, complaint_id=complaint_id, investigation=reader.text("investigation"),
            root_cause=reader.text("root_cause"), justified=reader.yes_no("justified"))
    return await _form(request, complaint_id, actor, "investigation", call)


@pages.post("/quality/complaints/{complaint_id}/links", response_class=HTMLResponse)
async def complaint_link(request: Request, complaint_id: int, actor: Viewer) -> Response:
    def call(reader: FormReader) -> Any:
        return service.link_complaint(actor=actor, complaint_id=complaint_id, record=reader.text("record"))
    return await _form(request, complaint_id, actor, "links", call)


@pages.post("/quality/complaints/{complaint_id}/links/remove", response_class=HTMLResponse)
async def complaint_unlink(request: Request, complaint_id: int, actor: Viewer) -> Response:
    def call(reader: FormReader) -> Any:
        return service.unlink_complaint(actor=actor, complaint_id=complaint_id, record=reader.text("record"),
                                        reason=reader.text("reason"))
    return await _form(request, complaint_id, actor, "links", call)


@pages.post("/quality/complaints/{complaint_id}/response", response_class=HTMLResponse)
async def complaint_response(request: Request, complaint_id: int, actor: Classifier) -> Response:
    def call(reader: FormReader) -> Any:
        responded_on = reader.date("responded_on", required=True)
        reader.check()
        return service.record_response(actor=actor, complaint_id=complaint_id, response=reader.text("response"),
                                       responded_on=responded_on)
    return await _form(request, complaint_id, actor, "response", call)
