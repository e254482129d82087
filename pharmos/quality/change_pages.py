"""Web pages of change control: the list, the proposal form and the record page.

Each handler parses the form, calls one service of ``pharmos.quality.service`` (the record page
also asks the lifecycle which transitions the user may take, and why not) and renders. The
rules, including who may assess, approve or complete what, live in the services; a refused
call comes back as the same page with each problem next to its field and the input kept.
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
from pharmos.quality.lifecycle import CHANGE_CONTROL_LIFECYCLE
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
Proposer = Annotated[Actor, Depends(requires("change_controls.propose"))]
Manager = Annotated[Actor, Depends(requires("change_controls.manage"))]
Assessor = Annotated[Actor, Depends(requires("change_controls.assess"))]
Performer = Annotated[Actor, Depends(requires("capas.perform"))]
CapaPlanner = Annotated[Actor, Depends(requires("capas.manage"))]

AFFECTED_ROWS = 5  # affected-record rows offered on the proposal form
COLLECTION = CHANGE_CONTROL_LIFECYCLE.collection
BASE = "/quality/change-controls"

# Preset filters of the list: each is only a query string, so any filter can be bookmarked.
CHANGE_PRESETS = (
    ("open", ""), ("proposed", "state=proposed"), ("under_assessment", "state=under_assessment"),
    ("approved", "state=approved"), ("effectiveness_review", "state=effectiveness_review"), ("mine", "mine=1"),
    ("all", "all=1"))

_VOCABULARY: dict[str, Any] = {
    "meanings": MEANINGS,
    "change_states": tuple(CHANGE_CONTROL_LIFECYCLE.states),
    "change_types": service.CHANGE_TYPES,
    "change_classes": service.CHANGE_CLASSIFICATIONS,
    "change_functions": service.CHANGE_FUNCTIONS,
    "major_functions": service.MAJOR_CHANGE_FUNCTIONS,
    "impact_levels": service.IMPACT_LEVELS,
    "affected_types": service.AFFECTED_RECORD_TYPES,
    "affected_rows": range(AFFECTED_ROWS),
    "transition_sources": {COLLECTION: {t.name: t.source for t in CHANGE_CONTROL_LIFECYCLE.transitions}},
}
_ui = ModulePages(_VOCABULARY)


# ---------------------------------------------------------------- list and export


def _filters(actor: Actor, params: dict[str, str]) -> dict[str, Any]:
    state, everything = params.get("state", ""), params.get("all") == "1"
    return {"state": state or None, "change_type": params.get("change_type") or None,
            "classification": params.get("classification") or None,
            "assessor": actor.username if params.get("mine") == "1" else None,
            # Without a state or "all", the list shows the changes still in progress.
            "open_only": not state and not everything, "query": params.get("q") or None}


@pages.get(BASE, response_class=HTMLResponse)
def change_list(request: Request, actor: Viewer, after: int | None = None) -> Response:
    params = query_values(request)
    rows = service.list_changes(actor=actor, **_filters(actor, params), after_id=after, limit=LIST_LIMIT + 1)
    items, next_page = page_of_rows(request, rows)
    listed = list_filter(params, CHANGE_PRESETS)
    return _ui.page(request, "quality/change_list.html", {
        "changes": items, "next_page": next_page, **listed, "query": listed["current_query"],
        "saved_filters": service.list_saved_filters(actor=actor, list_name="change_controls")})


@pages.get(f"{BASE}/export")
def change_export(request: Request, actor: Viewer, format: str = "csv") -> Response:
    # Declared before /{change_id}: "export" is not an id.
    params = query_values(request, "format")
    content, media_type, filename = service.export_changes(actor=actor, fmt=format, **_filters(actor, params))
    return download(content, media_type, filename)


# ---------------------------------------------------------------- proposal


def _affected_rows(exc: DomainError, filled: list[int]) -> DomainError:
    """The service numbers affected records among the filled rows; point each problem at the row typed in."""
    fields = []
    for problem in exc.fields:
        field = problem.field
        if field.startswith("affected_records[") and field.endswith("]"):
            index = field[len("affected_records["):-1]
            if index.isdigit() and int(index) < len(filled):
                field = f"affected_records[{filled[int(index)]}]"
        fields.append(FieldProblem(field, problem.message))
    exc.fields = fields
    return exc


@pages.get(f"{BASE}/new", response_class=HTMLResponse)
def change_form(request: Request, actor: Proposer, equipment: str = "", material: str = "",
                document: str = "") -> Response:
    # A change proposed from an equipment, material or document page arrives with that record listed.
    given = [f"{kind}:{ref.strip()}" for kind, ref in (("equipment", equipment), ("material", material),
                                                       ("document", document)) if ref.strip()]
    values = {f"affected_records[{i}]": record for i, record in enumerate(given[:AFFECTED_ROWS])}
    return _ui.page(request, "quality/change_new.html", {"values": values})


@pages.post(f"{BASE}/new", response_class=HTMLResponse)
async def change_propose(request: Request, actor: Proposer) -> Response:
    values = await form_values(request)
    reader = FormReader(values)
    filled = [i for i in range(AFFECTED_ROWS) if reader.text(f"affected_records[{i}]")]
    try:
        target = reader.date("target_date")
        reader.check()
        change = await perform(service.propose_change, actor=actor, title=reader.text("title"),
                               description=reader.text("description"), justification=reader.text("justification"),
                               change_type=reader.text("change_type"),
                               affected_records=[reader.text(f"affected_records[{i}]") for i in filled],
                               target_date=target)
    except DomainError as exc:
        return _ui.refused(request, _affected_rows(exc, filled), "quality/change_new.html", {}, values)
    return see_other(f"{BASE}/{change.id}")


# ---------------------------------------------------------------- the record page


def _detail(*, actor: Actor, record_id: int) -> dict[str, Any]:
    change = service.get_change(actor=actor, change_id=record_id)
    return {"change": change, "history": change.timeline,
            "mine": change.proposed_by == actor.username,
            "assigned": {a.function: a.assessor for a in change.assessments},
            "transitions": available_transitions(actor=actor, collection=COLLECTION, record_id=record_id)}


@pages.get(BASE + "/{change_id}", response_class=HTMLResponse)
def change_detail(request: Request, change_id: int, actor: Viewer) -> Response:
    return _ui.page(request, "quality/change_control.html", _detail(actor=actor, record_id=change_id))


@pages.get(BASE + "/{change_id}/print")
def change_print(change_id: int, actor: Viewer) -> Response:
    content, media_type, filename = service.print_change_control(actor=actor, change_id=change_id)
    return download(content, media_type, filename, inline=True)


@pages.post(BASE + "/{change_id}/transitions/{name}", response_class=HTMLResponse)
async def change_transition(request: Request, change_id: int, name: str, actor: Viewer) -> Response:
    return await _ui.transition(request, actor=actor, collection=COLLECTION, record_id=change_id, name=name,
                                detail=_detail, template="quality/change_control.html", back=f"{BASE}/{change_id}")


async def _form(request: Request, change_id: int, actor: Actor, form: str,
                call: Callable[[FormReader], Any]) -> Response:
    return await _ui.detail_form(request, actor=actor, record_id=change_id, form=form, call=call, detail=_detail,
                                 template="quality/change_control.html", back=f"{BASE}/{change_id}#{form}")


@pages.post(BASE + "/{change_id}/revision", response_class=HTMLResponse)
async def change_revise(request: Request, change_id: int, actor: Proposer) -> Response:
    def call(reader: FormReader) -> Any:
        target = reader.date("target_date")
        reader.check()
        return service.revise_change(actor=actor, change_id=change_id, reason=reader.text("reason"),
                                     title=reader.text("title"), description=reader.text("description"),
                                     justification=reader.text("justification"),
                                     change_type=reader.text("change_type"), target_date=target)
    return await _form(request, change_id, actor, "revision", call)


@pages.post(BASE + "/{change_id}/classification", response_class=HTMLResponse)
async def change_classify(request: Request, change_id: int, actor: Manager) -> Response:
    def call(reader: FormReader) -> Any:
        filing = reader.yes_no("regulatory_filing")
        if filing is None:
            reader.problems.append(FieldProblem("regulatory_filing", "Yes or no."))
        reader.check()
        functions = {f: reader.text(f"functions.{f}") for f in service.CHANGE_FUNCTIONS
                     if reader.text(f"functions.{f}")}
        return service.classify_change(actor=actor, change_id=change_id, classification=reader.text("classification"),
                                       rationale=reader.text("rationale"), regulatory_filing=bool(filing),
                                       functions=functions)
    return await _form(request, change_id, actor, "classification", call)


@pages.post(BASE + "/{change_id}/assessments/{function}", response_class=HTMLResponse)
async def change_assess(request: Request, change_id: int, function: str, actor: Assessor) -> Response:
    def call(reader: FormReader) -> Any:
        return service.assess_change(actor=actor, change_id=change_id, function=function,
                                     impact=reader.text("impact"), impact_level=reader.text("impact_level"),
                                     required_actions=reader.text("required_actions"),
                                     decision=reader.text("decision"), password=reader.values.get("password", ""),
                                     otp=reader.text("otp") or None)
    return await _form(request, change_id, actor, f"assess-{function}", call)


@pages.post(BASE + "/{change_id}/tasks", response_class=HTMLResponse)
async def change_task_add(request: Request, change_id: int, actor: Manager) -> Response:
    def call(reader: FormReader) -> Any:
        due_on = reader.date("due_on", required=True)
        reader.check()
        return service.add_change_task(actor=actor, change_id=change_id, title=reader.text("title"),
                                       owner_username=reader.text("owner_username"), due_on=due_on,
                                       function=reader.text("function"))
    return await _form(request, change_id, actor, "task", call)


@pages.post(BASE + "/{change_id}/tasks/{task_id}/completion", response_class=HTMLResponse)
async def change_task_complete(request: Request, change_id: int, task_id: int, actor: Performer) -> Response:
    def call(reader: FormReader) -> Any:
        return service.complete_change_task(actor=actor, change_id=change_id, task_id=task_id,
                                            evidence=reader.text("evidence"),
                                            password=reader.values.get("password", ""),
                                            otp=reader.text("otp") or None)
    return await _form(request, change_id, actor, f"complete-{task_id}", call)


@pages.post(BASE + "/{change_id}/tasks/{task_id}/cancellation", response_class=HTMLResponse)
async def change_task_cancel(request: Request, change_id: int, task_id: int, actor: Manager) -> Response:
    def call(reader: FormReader) -> Any:
        return service.cancel_change_task(actor=actor, change_id=change_id, task_id=task_id,
                                          reason=reader.text("reason"))
    return await _form(request, change_id, actor, f"cancel-{task_id}", call)


@pages.post(BASE + "/{change_id}/effectiveness", response_class=HTMLResponse)
async def change_effectiveness(request: Request, change_id: int, actor: Manager) -> Response:
    def call(reader: FormReader) -> Any:
        effective = reader.yes_no("effective")
        if effective is None:
            reader.problems.append(FieldProblem("effective", "Judge whether the change was effective."))
        reader.check()
        return service.record_change_effectiveness(actor=actor, change_id=change_id, review=reader.text("review"),
                                                   effective=bool(effective))
    return await _form(request, change_id, actor, "effectiveness", call)


@pages.post(BASE + "/{change_id}/capas", response_class=HTMLResponse)
async def change_capa_create(request: Request, change_id: int, actor: CapaPlanner) -> Response:
    values = await form_values(request)
    reader = FormReader(values)
    try:
        due_on, days = reader.date("due_on", required=True), reader.integer("effectiveness_check_days")
        reader.check()
        capa = await perform(service.raise_capa_from_change, actor=actor, change_id=change_id,
                             kind=reader.text("kind"), title=reader.text("title"),
                             description=reader.text("description"), owner_username=reader.text("owner_username"),
                             due_on=due_on, effectiveness_criteria=reader.text("effectiveness_criteria"),
                             effectiveness_check_days=days)
    except DomainError as exc:
        values["form"] = "capa"
        context = await perform(_detail, actor=actor, record_id=change_id)
        return _ui.refused(request, exc, "quality/change_control.html", context, values)
    return see_other(f"/quality/capas/{capa.id}")
