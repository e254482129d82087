"""Web pages of master batch records: the list, the new-recipe form and the recipe page with its authoring forms.

Each handler parses the form, calls one service of ``pharmos.batches.service`` (the recipe page
also asks the lifecycle which transitions the user may take, and why not) and renders. A
refused call comes back as the same page with each problem next to its field and the input kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse

from pharmos.api.policy import requires
from pharmos.batches import service
from pharmos.batches.lifecycle import MBR_LIFECYCLE
from pharmos.compliance.lifecycle import available_transitions
from pharmos.compliance.signatures import MEANINGS
from pharmos.core.actor import Actor
from pharmos.core.errors import DomainError, FieldProblem
from pharmos.web.forms import FormReader, ModulePages, form_values, perform, query_values, see_other
from pharmos.web.rendering import LIST_LIMIT, page_of_rows

pages = APIRouter(include_in_schema=False)
Viewer = Annotated[Actor, Depends(requires("mbr.view"))]
Author = Annotated[Actor, Depends(requires("mbr.author"))]
Reviewer = Annotated[Actor, Depends(requires("mbr.review"))]

BASE = "/batches/mbrs"
COLLECTION = MBR_LIFECYCLE.collection
PARAMETER_ROWS = 4  # parameter rows offered on the step form
DETAIL = "batches/mbr_detail.html"

_ui = ModulePages({
    "meanings": MEANINGS,
    "mbr_states": tuple(MBR_LIFECYCLE.states),
    "mbr_stages": service.MBR_STAGES,
    "step_kinds": service.STEP_KINDS,
    "parameter_kinds": service.PARAMETER_KINDS,
    "parameter_rows": range(PARAMETER_ROWS),
    "transition_sources": {COLLECTION: {t.name: t.source for t in MBR_LIFECYCLE.transitions}},
})


def _codes(text: str) -> list[str]:
    """Codes typed separated by commas, semicolons or spaces (一个或多个，逗号分隔)."""
    return [c for c in text.replace("，", ",").replace(";", ",").replace(" ", ",").split(",") if c.strip()]


# ---------------------------------------------------------------- list and new


@pages.get(BASE, response_class=HTMLResponse)
def mbr_list(request: Request, actor: Viewer, after: int | None = None) -> Response:
    params = query_values(request)
    rows = service.list_mbrs(actor=actor, state=params.get("state") or None, stage=params.get("stage") or None,
                             query=params.get("q") or None, after_id=after, limit=LIST_LIMIT + 1)
    items, next_page = page_of_rows(request, rows)
    return _ui.page(request, "batches/mbr_list.html", {"mbrs": items, "next_page": next_page, "values": params})


@pages.get(f"{BASE}/new", response_class=HTMLResponse)
def mbr_form(request: Request, actor: Author) -> Response:
    return _ui.page(request, "batches/mbr_new.html", {"values": {"yield_low_pct": "90", "yield_high_pct": "110"}})


@pages.post(f"{BASE}/new", response_class=HTMLResponse)
async def mbr_create(request: Request, actor: Author) -> Response:
    values = await form_values(request)
    reader = FormReader(values)
    try:
        mbr = await perform(service.create_mbr, actor=actor, title=reader.text("title"),
                            product_code=reader.text("product_code"), stage=reader.text("stage"),
                            batch_size=reader.text("batch_size"), batch_unit=reader.text("batch_unit"),
                            theoretical_yield=reader.text("theoretical_yield"), yield_unit=reader.text("yield_unit"),
                            yield_low_pct=reader.text("yield_low_pct"), yield_high_pct=reader.text("yield_high_pct"),
                            description=reader.text("description"))
    except DomainError as exc:
        return _ui.refused(request, exc, "batches/mbr_new.html", {}, values)
    return see_other(f"{BASE}/{mbr.id}")


# ---------------------------------------------------------------- the recipe page


def _detail(*, actor: Actor, record_id: int) -> dict[str, Any]:
    mbr = service.get_mbr(actor=actor, mbr_id=record_id)
    return {"mbr": mbr, "steps": [s for p in mbr.phases for s in p.steps],
            "editable": mbr.state == "draft" and actor.can("mbr.author"),
            "transitions": available_transitions(actor=actor, collection=COLLECTION, record_id=record_id)}


@pages.get(BASE + "/{mbr_id}", response_class=HTMLResponse)
def mbr_detail(request: Request, mbr_id: int, actor: Viewer) -> Response:
    return _ui.page(request, DETAIL, _detail(actor=actor, record_id=mbr_id))


@pages.post(BASE + "/{mbr_id}/transitions/{name}", response_class=HTMLResponse)
async def mbr_transition(request: Request, mbr_id: int, name: str, actor: Viewer) -> Response:
    return await _ui.transition(request, actor=actor, collection=COLLECTION, record_id=mbr_id, name=name,
                                detail=_detail, template=DETAIL, back=f"{BASE}/{mbr_id}")


async def _form(request: Request, mbr_id: int, actor: Actor, form: str, call: Callable[[FormReader], Any]) -> Response:
    return await _ui.detail_form(request, actor=actor, record_id=mbr_id, form=form, call=call, detail=_detail,
                                 template=DETAIL, back=f"{BASE}/{mbr_id}#{form}")


@pages.post(BASE + "/{mbr_id}/header", response_class=HTMLResponse)
async def mbr_header(request: Request, mbr_id: int, actor: Author) -> Response:
    def call(reader: FormReader) -> Any:
        fields = {name: reader.text(name) for name in (
            "title", "stage", "batch_size", "batch_unit", "theoretical_yield", "yield_unit", "yield_low_pct",
            "yield_high_pct", "description", "change_summary") if name in reader.values}
        return service.update_mbr_header(actor=actor, mbr_id=mbr_id, reason=reader.text("reason"), **fields)
    return await _form(request, mbr_id, actor, "header", call)


@pages.post(BASE + "/{mbr_id}/bom-lines", response_class=HTMLResponse)
async def mbr_bom_line(request: Request, mbr_id: int, actor: Author) -> Response:
    def call(reader: FormReader) -> Any:
        places = reader.integer("rounding_places", default=3)
        reader.check()
        line = service.BomLineInput(
            material_code=reader.text("material_code"), quantity=reader.text("quantity"), unit=reader.text("unit"),
            tolerance_pct=reader.text("tolerance_pct"), dispensed=reader.flag("dispensed"),
            scan_required=reader.flag("scan_required"), rounding_places=places if places is not None else 3,
            step_code=reader.text("step_code"))
        return service.add_bom_line(actor=actor, mbr_id=mbr_id, line=line)
    return await _form(request, mbr_id, actor, "bom", call)


@pages.post(BASE + "/{mbr_id}/bom-lines/{line_no}/removal", response_class=HTMLResponse)
async def mbr_bom_line_remove(request: Request, mbr_id: int, line_no: int, actor: Author) -> Response:
    def call(reader: FormReader) -> Any:
        return service.remove_bom_line(actor=actor, mbr_id=mbr_id, line_no=line_no)
    return await _form(request, mbr_id, actor, "bom", call)


@pages.post(BASE + "/{mbr_id}/phases", response_class=HTMLResponse)
async def mbr_phase(request: Request, mbr_id: int, actor: Author) -> Response:
    def call(reader: FormReader) -> Any:
        return service.add_phase(actor=actor, mbr_id=mbr_id, name=reader.text("name"),
                                 parallel_with_previous=reader.flag("parallel_with_previous"))
    return await _form(request, mbr_id, actor, "phase", call)


def _parameters(reader: FormReader) -> tuple[list[Any], list[int]]:
    """The parameter rows filled in, and which form row each came from (to put problems beside it)."""
    rows = [i for i in range(PARAMETER_ROWS) if reader.text(f"parameters.{i}.code")
            or reader.text(f"parameters.{i}.label")]
    parameters = []
    for i in rows:
        def text(name: str, i: int = i) -> str:
            return reader.text(f"parameters.{i}.{name}")
        parameters.append(service.ParameterInput(
            code=text("code"), label=text("label"), kind=text("kind"), unit=text("unit"),
            target=text("target") or None, lower=text("lower") or None, upper=text("upper") or None,
            choices=tuple(c.strip() for c in text("choices").replace("，", ",").split(",") if c.strip()),
            expected=text("expected"), critical=reader.flag(f"parameters.{i}.critical"),
            required=reader.flag(f"parameters.{i}.required")))
    return parameters, rows


def _to_rows(exc: DomainError, rows: list[int]) -> DomainError:
    """The service numbers parameters among the filled rows; point each problem at the row typed in."""
    fields = []
    for problem in exc.fields:
        head, _, rest = problem.field.partition(".")
        index, _, tail = rest.partition(".")
        if head == "parameters" and index.isdigit() and int(index) < len(rows):
            fields.append(FieldProblem(f"parameters.{rows[int(index)]}{'.' + tail if tail else ''}", problem.message))
        else:
            fields.append(problem)
    exc.fields = fields
    return exc


@pages.post(BASE + "/{mbr_id}/steps", response_class=HTMLResponse)
async def mbr_step(request: Request, mbr_id: int, actor: Author) -> Response:
    def call(reader: FormReader) -> Any:
        phase_seq = reader.integer("phase_seq")
        limit = reader.integer("time_limit_minutes")
        if phase_seq is None and not any(p.field == "phase_seq" for p in reader.problems):
            reader.problems.append(FieldProblem("phase_seq", "Required."))
        reader.check()
        parameters, rows = _parameters(reader)
        try:
            return service.add_step(
                actor=actor, mbr_id=mbr_id, phase_seq=phase_seq or 0, title=reader.text("title"),
                instructions=reader.text("instructions"), kind=reader.text("kind") or "process",
                equipment_classes=_codes(reader.text("equipment_classes")),
                sop_numbers=_codes(reader.text("sop_numbers")), critical=reader.flag("critical"),
                time_limit_minutes=limit, parameters=parameters)
        except DomainError as exc:
            raise _to_rows(exc, rows) from None
    return await _form(request, mbr_id, actor, "step", call)


@pages.post(BASE + "/{mbr_id}/steps/{step_id}/removal", response_class=HTMLResponse)
async def mbr_step_remove(request: Request, mbr_id: int, step_id: int, actor: Author) -> Response:
    def call(reader: FormReader) -> Any:
        return service.remove_step(actor=actor, mbr_id=mbr_id, step_id=step_id)
    return await _form(request, mbr_id, actor, f"step-{step_id}", call)


@pages.post(BASE + "/{mbr_id}/review", response_class=HTMLResponse)
async def mbr_review(request: Request, mbr_id: int, actor: Reviewer) -> Response:
    def call(reader: FormReader) -> Any:
        return service.review_mbr(actor=actor, mbr_id=mbr_id, password=reader.values.get("password", ""),
                                  otp=reader.text("otp") or None, comment=reader.text("comment"))
    return await _form(request, mbr_id, actor, "review", call)


@pages.post(BASE + "/{mbr_id}/versions", response_class=HTMLResponse)
async def mbr_version(request: Request, mbr_id: int, actor: Author) -> Response:
    values = await form_values(request)
    try:
        mbr = await perform(service.new_mbr_version, actor=actor, mbr_id=mbr_id,
                            change_summary=values.get("change_summary", ""))
    except DomainError as exc:
        values["form"] = "version"
        context = await perform(_detail, actor=actor, record_id=mbr_id)
        return _ui.refused(request, exc, DETAIL, context, values)
    return see_other(f"{BASE}/{mbr.id}")
