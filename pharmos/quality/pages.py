"""Web pages of the quality module: deviations, CAPA and the "my quality tasks" inbox.

Each handler parses the form, calls one service of ``pharmos.quality.service`` (record pages
also ask the lifecycle which transitions the user may take, and why not) and renders. The
rules, including who may do what, live in the services; a refused call comes back as the same
page with each problem next to its field and the user's input kept.
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
from pharmos.core.errors import DomainError, FieldProblem
from pharmos.quality import service
from pharmos.quality.lifecycle import CAPA_LIFECYCLE, DEVIATION_LIFECYCLE
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
Reporter = Annotated[Actor, Depends(requires("deviations.report"))]
Classifier = Annotated[Actor, Depends(requires("deviations.classify"))]
Investigator = Annotated[Actor, Depends(requires("deviations.investigate"))]
Planner = Annotated[Actor, Depends(requires("capas.manage"))]
Performer = Annotated[Actor, Depends(requires("capas.perform"))]
Verifier = Annotated[Actor, Depends(requires("capas.verify"))]

LINK_ROWS = 4  # linked-record rows offered on the report form
WHY_ROWS = 5  # the 5-Why chain
LINK_TYPES = ("lot", "batch", "equipment", "material")
CATEGORIES = ("man", "machine", "material", "method", "measurement", "environment")  # the fishbone's 6 M
CLASSES = ("minor", "major", "critical")
CAPA_SOURCES = ("deviation", "complaint", "audit", "change_control", "other")
# The deviation states from which a CAPA may be raised against it (docs/quality/service-api.md).
CAPA_FROM_STATES = ("investigating", "pending_approval", "approved")
LIFECYCLES = (DEVIATION_LIFECYCLE, CAPA_LIFECYCLE)

# Preset filters of the deviation list: each is only a query string, so any filter can be bookmarked.
DEVIATION_PRESETS = (
    ("open", ""), ("reported", "state=reported"), ("investigating", "state=investigating"),
    ("pending_approval", "state=pending_approval"), ("overdue", "overdue=1"), ("mine", "mine=1"), ("all", "all=1"))
CAPA_PRESETS = (
    ("open", ""), ("mine", "mine=1"), ("overdue", "overdue=1"), ("awaiting", "awaiting=1"), ("all", "all=1"))


_VOCABULARY: dict[str, Any] = {
    "meanings": MEANINGS,
    "deviation_states": tuple(DEVIATION_LIFECYCLE.states),
    "capa_states": tuple(CAPA_LIFECYCLE.states),
    "link_types": LINK_TYPES,
    "categories": CATEGORIES,
    "classes": CLASSES,
    "capa_sources": CAPA_SOURCES,
    "why_rows": WHY_ROWS,
    "link_rows": LINK_ROWS,
    # Which states each step starts from: a record page offers only the steps possible from its state.
    "transition_sources": {lifecycle.collection: {t.name: t.source for t in lifecycle.transitions}
                           for lifecycle in LIFECYCLES},
}
_ui = ModulePages(_VOCABULARY)


# ---------------------------------------------------------------- my quality tasks


@pages.get("/quality/tasks", response_class=HTMLResponse)
def my_tasks(request: Request, actor: Viewer) -> Response:
    return _ui.page(request, "quality/tasks.html", {"tasks": service.my_quality_tasks(actor=actor)})


# ---------------------------------------------------------------- deviations


def _deviation_filters(actor: Actor, params: dict[str, str]) -> dict[str, Any]:
    state, everything = params.get("state", ""), params.get("all") == "1"
    return {"state": state or None, "classification": params.get("classification") or None,
            "overdue": True if params.get("overdue") == "1" else None,
            # Without a state or "all", the list shows what is still open: the QA desk's daily view.
            "open_only": not state and not everything, "query": params.get("q") or None,
            "investigator": actor.username if params.get("mine") == "1" else None,
            "linked": params.get("linked") or None}


@pages.get("/quality/deviations", response_class=HTMLResponse)
def deviation_list(request: Request, actor: Viewer, after: int | None = None) -> Response:
    params = query_values(request)
    rows = service.list_deviations(actor=actor, **_deviation_filters(actor, params), after_id=after,
                                   limit=LIST_LIMIT + 1)
    items, next_page = page_of_rows(request, rows)
    listed = list_filter(params, DEVIATION_PRESETS)
    return _ui.page(request, "quality/deviations.html", {
        "deviations": items, "next_page": next_page, **listed,
        "filter_link": request.url.path + ("?" + listed["current_query"] if any(params.values()) else ""),
        "saved_filters": service.list_saved_filters(actor=actor, list_name="deviations")})


@pages.get("/quality/deviations/export")
def deviation_export(request: Request, actor: Viewer, format: str = "csv") -> Response:
    # Declared before /quality/deviations/{id}: "export" is not an id.
    params = query_values(request, "format")
    content, media_type, filename = service.export_deviations(actor=actor, fmt=format,
                                                              **_deviation_filters(actor, params))
    return download(content, media_type, filename)


def _report_context() -> dict[str, Any]:
    return {"link_range": range(LINK_ROWS)}


@pages.get("/quality/deviations/new", response_class=HTMLResponse)
def deviation_form(request: Request, actor: Reporter, lot: str = "", equipment: str = "", batch: str = "",
                   material: str = "") -> Response:
    # A deviation reported from a lot or equipment page arrives with that record already linked.
    given = [(kind, ref.strip()) for kind, ref in (("lot", lot), ("batch", batch), ("equipment", equipment),
                                                   ("material", material)) if ref.strip()]
    values: dict[str, str] = {}
    for index, (kind, ref) in enumerate(given[:LINK_ROWS]):
        values[f"links[{index}].record_type"], values[f"links[{index}].reference"] = kind, ref
    return _ui.page(request, "quality/deviation_new.html", {**_report_context(), "values": values})


@pages.post("/quality/deviations/new", response_class=HTMLResponse)
async def deviation_report(request: Request, actor: Reporter) -> Response:
    values = await form_values(request)
    reader = FormReader(values)
    try:
        discovered_at, occurred_at = reader.moment("discovered_at"), reader.moment("occurred_at")
        links = [service.LinkInput(record_type=reader.text(f"links[{i}].record_type") or "lot",
                                   reference=reader.text(f"links[{i}].reference"))
                 for i in range(LINK_ROWS) if reader.text(f"links[{i}].reference")]
        reader.check()
        deviation = await perform(service.report_deviation, actor=actor, title=reader.text("title"),
                                  description=reader.text("description"), discovered_at=discovered_at,
                                  area=reader.text("area"), occurred_at=occurred_at,
                                  immediate_action=reader.text("immediate_action"), links=links)
    except DomainError as exc:
        return _ui.refused(request, _link_rows(exc, reader), "quality/deviation_new.html", _report_context(), values)
    return see_other(f"/quality/deviations/{deviation.id}")


def _link_rows(exc: DomainError, reader: FormReader) -> DomainError:
    """The service numbers links among the filled rows; point each problem at the row the user typed it in."""
    filled = [i for i in range(LINK_ROWS) if reader.text(f"links[{i}].reference")]
    fields = []
    for problem in exc.fields:
        field = problem.field
        if field.startswith("links[") and "]" in field:
            index_text, _, rest = field[len("links["):].partition("]")
            if index_text.isdigit() and int(index_text) < len(filled):
                field = f"links[{filled[int(index_text)]}]{rest or '.reference'}"
                if field.endswith("]"):
                    field += ".reference"
        fields.append(FieldProblem(field, problem.message))
    exc.fields = fields
    return exc


def _deviation_detail(*, actor: Actor, record_id: int) -> dict[str, Any]:
    deviation = service.get_deviation(actor=actor, deviation_id=record_id)
    pending = [e for e in deviation.extensions if e.decision == "pending"]
    return {"deviation": deviation, "history": deviation.timeline,
            "mine": deviation.investigator in (actor.username, actor.full_name) and bool(deviation.investigator),
            "pending_extension": pending[0] if pending else None,
            "capa_allowed": deviation.state in CAPA_FROM_STATES,
            "transitions": available_transitions(actor=actor, collection=DEVIATION_LIFECYCLE.collection,
                                                 record_id=record_id)}


@pages.get("/quality/deviations/{deviation_id}", response_class=HTMLResponse)
def deviation_detail(request: Request, deviation_id: int, actor: Viewer) -> Response:
    return _ui.page(request, "quality/deviation.html", _deviation_detail(actor=actor, record_id=deviation_id))


@pages.get("/quality/deviations/{deviation_id}/print")
def deviation_print(deviation_id: int, actor: Viewer) -> Response:
    # EU GMP Annex 11 §8.1: a printed copy with its signatures and audit trail; the print is audited.
    return download(*service.print_deviation(actor=actor, deviation_id=deviation_id))


async def _deviation_form(request: Request, deviation_id: int, actor: Actor, form: str,
                          call: Callable[[FormReader], Any]) -> Response:
    return await _ui.detail_form(request, actor=actor, record_id=deviation_id, form=form, call=call,
                                 detail=_deviation_detail, template="quality/deviation.html",
                                 back=f"/quality/deviations/{deviation_id}#{form}")


@pages.post("/quality/deviations/{deviation_id}/transitions/{name}", response_class=HTMLResponse)
async def deviation_transition(request: Request, deviation_id: int, name: str, actor: Viewer) -> Response:
    return await _ui.transition(request, actor=actor, collection=DEVIATION_LIFECYCLE.collection, record_id=deviation_id,
                                name=name, detail=_deviation_detail, template="quality/deviation.html",
                                back=f"/quality/deviations/{deviation_id}")


@pages.post("/quality/deviations/{deviation_id}/classification", response_class=HTMLResponse)
async def deviation_classify(request: Request, deviation_id: int, actor: Classifier) -> Response:
    def call(reader: FormReader) -> Any:
        scores = {name: reader.integer(name) for name in ("severity", "occurrence", "detectability")}
        due_on = reader.date("due_on")
        reader.check()
        # ICH Q9: the risk priority is the service's product of the three scores.
        return service.classify_deviation(actor=actor, deviation_id=deviation_id,
                                          classification=reader.text("classification"),
                                          severity=scores["severity"], occurrence=scores["occurrence"],
                                          detectability=scores["detectability"],
                                          rationale=reader.text("rationale"), due_on=due_on)
    return await _deviation_form(request, deviation_id, actor, "classification", call)


@pages.post("/quality/deviations/{deviation_id}/investigator", response_class=HTMLResponse)
async def deviation_assign(request: Request, deviation_id: int, actor: Classifier) -> Response:
    def call(reader: FormReader) -> Any:
        return service.assign_investigator(actor=actor, deviation_id=deviation_id, username=reader.text("username"))
    return await _deviation_form(request, deviation_id, actor, "investigator", call)


@pages.post("/quality/deviations/{deviation_id}/investigation", response_class=HTMLResponse)
async def deviation_investigate(request: Request, deviation_id: int, actor: Investigator) -> Response:
    def call(reader: FormReader) -> Any:
        whys = [reader.text(f"why_{i}") for i in range(1, WHY_ROWS + 1)]
        # Keep the chain in order but without the empty tail (a 3-Why chain is a complete chain).
        while whys and not whys[-1]:
            whys.pop()
        return service.record_investigation(
            actor=actor, deviation_id=deviation_id, five_whys=whys,
            root_cause_category=reader.text("root_cause_category"), root_cause=reader.text("root_cause"),
            impact_assessment=reader.text("impact_assessment"), product_impact=reader.yes_no("product_impact"),
            conclusion=reader.text("conclusion"))
    return await _deviation_form(request, deviation_id, actor, "investigation", call)


@pages.post("/quality/deviations/{deviation_id}/links", response_class=HTMLResponse)
async def deviation_link_add(request: Request, deviation_id: int, actor: Reporter) -> Response:
    def call(reader: FormReader) -> Any:
        return service.add_deviation_link(actor=actor, deviation_id=deviation_id,
                                          record_type=reader.text("record_type"), reference=reader.text("reference"),
                                          reason=reader.text("reason"))
    return await _deviation_form(request, deviation_id, actor, "links", call)


@pages.post("/quality/deviations/{deviation_id}/links/remove", response_class=HTMLResponse)
async def deviation_link_remove(request: Request, deviation_id: int, actor: Classifier) -> Response:
    def call(reader: FormReader) -> Any:
        return service.remove_deviation_link(actor=actor, deviation_id=deviation_id,
                                             record_type=reader.text("record_type"),
                                             reference=reader.text("reference"), reason=reader.text("reason"))
    return await _deviation_form(request, deviation_id, actor, "unlink", call)


@pages.post("/quality/deviations/{deviation_id}/extensions", response_class=HTMLResponse)
async def deviation_extension_request(request: Request, deviation_id: int, actor: Investigator) -> Response:
    def call(reader: FormReader) -> Any:
        requested = reader.date("requested_due_on")
        reader.check()
        return service.request_extension(actor=actor, deviation_id=deviation_id, requested_due_on=requested,
                                         justification=reader.text("justification"))
    return await _deviation_form(request, deviation_id, actor, "extension", call)


@pages.post("/quality/deviations/{deviation_id}/extensions/{extension_id}", response_class=HTMLResponse)
async def deviation_extension_decide(request: Request, deviation_id: int, extension_id: int,
                                     actor: Classifier) -> Response:
    def call(reader: FormReader) -> Any:
        return service.decide_extension(actor=actor, deviation_id=deviation_id, extension_id=extension_id,
                                        approve=reader.text("decision") == "approve",
                                        comment=reader.text("comment"))
    return await _deviation_form(request, deviation_id, actor, "decision", call)


@pages.post("/quality/deviations/{deviation_id}/capas", response_class=HTMLResponse)
async def deviation_capa_create(request: Request, deviation_id: int, actor: Planner) -> Response:
    values = await form_values(request)
    reader = FormReader(values)
    try:
        due_on, days = reader.date("due_on"), reader.integer("effectiveness_check_days")
        reader.check()
        # The service takes the deviation's number as the CAPA's source reference.
        capa = await perform(service.create_capa, actor=actor, kind=reader.text("kind"), title=reader.text("title"),
                             description=reader.text("description"), source_type="deviation",
                             deviation_id=deviation_id,
                             owner_username=reader.text("owner_username"), due_on=due_on,
                             effectiveness_criteria=reader.text("effectiveness_criteria"),
                             effectiveness_check_days=days)
    except DomainError as exc:
        values["form"] = "capa"
        context = await perform(_deviation_detail, actor=actor, record_id=deviation_id)
        return _ui.refused(request, exc, "quality/deviation.html", context, values)
    return see_other(f"/quality/capas/{capa.id}")


# ---------------------------------------------------------------- CAPA


def _capa_filters(actor: Actor, params: dict[str, str]) -> dict[str, Any]:
    state, everything = params.get("state", ""), params.get("all") == "1"
    return {"state": state or None, "overdue": True if params.get("overdue") == "1" else None,
            "owner": actor.username if params.get("mine") == "1" else None,
            "source_type": params.get("source_type") or None,
            "awaiting_effectiveness": True if params.get("awaiting") == "1" else None,
            "open_only": not state and not everything}


@pages.get("/quality/capas", response_class=HTMLResponse)
def capa_list(request: Request, actor: Viewer, after: int | None = None) -> Response:
    params = query_values(request)
    rows = service.list_capas(actor=actor, **_capa_filters(actor, params), after_id=after, limit=LIST_LIMIT + 1)
    items, next_page = page_of_rows(request, rows)
    return _ui.page(request, "quality/capas.html", {
        "capas": items, "next_page": next_page, **list_filter(params, CAPA_PRESETS),
        "saved_filters": service.list_saved_filters(actor=actor, list_name="capas")})


@pages.get("/quality/capas/export")
def capa_export(request: Request, actor: Viewer, format: str = "csv") -> Response:
    params = query_values(request, "format")
    content, media_type, filename = service.export_capas(actor=actor, fmt=format, **_capa_filters(actor, params))
    return download(content, media_type, filename)


def _capa_detail(*, actor: Actor, record_id: int) -> dict[str, Any]:
    capa = service.get_capa(actor=actor, capa_id=record_id)
    return {"capa": capa, "history": capa.timeline, "mine": capa.owner in (actor.username, actor.full_name),
            "transitions": available_transitions(actor=actor, collection=CAPA_LIFECYCLE.collection,
                                                 record_id=record_id)}


@pages.get("/quality/capas/{capa_id}", response_class=HTMLResponse)
def capa_detail(request: Request, capa_id: int, actor: Viewer) -> Response:
    return _ui.page(request, "quality/capa.html", _capa_detail(actor=actor, record_id=capa_id))


@pages.get("/quality/capas/{capa_id}/print")
def capa_print(capa_id: int, actor: Viewer) -> Response:
    return download(*service.print_capa(actor=actor, capa_id=capa_id))


@pages.post("/quality/capas/{capa_id}/transitions/{name}", response_class=HTMLResponse)
async def capa_transition(request: Request, capa_id: int, name: str, actor: Viewer) -> Response:
    return await _ui.transition(request, actor=actor, collection=CAPA_LIFECYCLE.collection, record_id=capa_id,
                                name=name, detail=_capa_detail, template="quality/capa.html",
                                back=f"/quality/capas/{capa_id}")


async def _capa_form(request: Request, capa_id: int, actor: Actor, form: str,
                     call: Callable[[FormReader], Any]) -> Response:
    return await _ui.detail_form(request, actor=actor, record_id=capa_id, form=form, call=call, detail=_capa_detail,
                                 template="quality/capa.html", back=f"/quality/capas/{capa_id}#{form}")


@pages.post("/quality/capas/{capa_id}/implementation", response_class=HTMLResponse)
async def capa_implementation(request: Request, capa_id: int, actor: Performer) -> Response:
    def call(reader: FormReader) -> Any:
        return service.record_implementation(actor=actor, capa_id=capa_id, summary=reader.text("summary"))
    return await _capa_form(request, capa_id, actor, "implementation", call)


@pages.post("/quality/capas/{capa_id}/effectiveness", response_class=HTMLResponse)
async def capa_effectiveness(request: Request, capa_id: int, actor: Verifier) -> Response:
    def call(reader: FormReader) -> Any:
        effective = reader.yes_no("effective")
        if effective is None:
            reader.problems.append(FieldProblem("effective", "Judge whether the action was effective."))
        reader.check()
        # ICH Q10 3.2.2: the check's result is recorded before the CAPA may be closed.
        return service.record_effectiveness_check(actor=actor, capa_id=capa_id, result=reader.text("result"),
                                                  effective=bool(effective))
    return await _capa_form(request, capa_id, actor, "effectiveness", call)


@pages.get("/quality", response_class=HTMLResponse)
def quality_home(actor: Viewer) -> Response:
    return see_other("/quality/tasks")
