"""Web pages of training: my training, the record list and record, the qualification matrix, requirements.

Each handler parses the form, calls one training service through ``pharmos.quality.service``
(record pages also ask the lifecycle which transitions the user may take, and why not) and
renders. A refused call comes back as the same page with each problem next to its field and
the user's input kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse

from pharmos.api.policy import requires
from pharmos.compliance.lifecycle import available_transitions
from pharmos.compliance.signatures import MEANINGS
from pharmos.core.actor import Actor
from pharmos.quality import service
from pharmos.quality.lifecycle import TRAINING_LIFECYCLE
from pharmos.web.forms import FormReader, ModulePages, download, query_values
from pharmos.web.rendering import LIST_LIMIT, page_of_rows

pages = APIRouter(include_in_schema=False)
Viewer = Annotated[Actor, Depends(requires("quality.view"))]
Manager = Annotated[Actor, Depends(requires("training.manage"))]
Trainer = Annotated[Actor, Depends(requires("training.record"))]

_VOCABULARY: dict[str, Any] = {
    "meanings": MEANINGS,
    "training_states": tuple(TRAINING_LIFECYCLE.states),
    "training_kinds": service.TRAINING_KINDS,
    "matrix_statuses": service.MATRIX_STATUSES,
    "transition_sources": {TRAINING_LIFECYCLE.collection: {t.name: t.source for t in TRAINING_LIFECYCLE.transitions}},
}
_ui = ModulePages(_VOCABULARY)


# ---------------------------------------------------------------- my training


def _mine(*, actor: Actor, record_id: int = 0) -> dict[str, Any]:
    return {"mine": service.my_training(actor=actor)}


@pages.get("/quality/training", response_class=HTMLResponse)
def my_training(request: Request, actor: Viewer) -> Response:
    return _ui.page(request, "quality/training_mine.html", _mine(actor=actor))


@pages.post("/quality/training/{record_id}/acknowledge", response_class=HTMLResponse)
async def acknowledge(request: Request, record_id: int, actor: Viewer) -> Response:
    # 21 CFR 11.50: the trainee's own signature, meaning "read and understood".
    return await _ui.transition(request, actor=actor, collection=TRAINING_LIFECYCLE.collection, record_id=record_id,
                                name="acknowledge", detail=_mine, template="quality/training_mine.html",
                                back="/quality/training")


# ---------------------------------------------------------------- records


def _record_filters(params: dict[str, str]) -> dict[str, Any]:
    return {"username": params.get("username") or None, "state": params.get("state") or None,
            "overdue": True if params.get("overdue") == "1" else None,
            "document_number": params.get("document") or None, "skill_code": params.get("skill") or None}


@pages.get("/quality/training/records", response_class=HTMLResponse)
def record_list(request: Request, actor: Viewer, after: int | None = None) -> Response:
    params = query_values(request)
    rows = service.list_training_records(actor=actor, **_record_filters(params), after_id=after,
                                         limit=LIST_LIMIT + 1)
    items, next_page = page_of_rows(request, rows)
    return _ui.page(request, "quality/training_records.html", {
        "records": items, "next_page": next_page, "values": params, "current_query": urlencode(params),
        "saved_filters": service.list_saved_filters(actor=actor, list_name="training")})


def _record_detail(*, actor: Actor, record_id: int) -> dict[str, Any]:
    record = service.get_training_record(actor=actor, record_id=record_id)
    return {"record": record, "history": record.timeline,
            "transitions": available_transitions(actor=actor, collection=TRAINING_LIFECYCLE.collection,
                                                 record_id=record_id)}


@pages.get("/quality/training/records/{record_id}", response_class=HTMLResponse)
def record_detail(request: Request, record_id: int, actor: Viewer) -> Response:
    return _ui.page(request, "quality/training_record.html", _record_detail(actor=actor, record_id=record_id))


@pages.get("/quality/training/records/{record_id}/print")
def record_print(record_id: int, actor: Viewer) -> Response:
    content, media_type, filename = service.print_training_record(actor=actor, record_id=record_id)
    return download(content, media_type, filename, inline=True)


@pages.post("/quality/training/records/{record_id}/transitions/{name}", response_class=HTMLResponse)
async def record_transition_page(request: Request, record_id: int, name: str, actor: Viewer) -> Response:
    return await _ui.transition(request, actor=actor, collection=TRAINING_LIFECYCLE.collection, record_id=record_id,
                                name=name, detail=_record_detail, template="quality/training_record.html",
                                back=f"/quality/training/records/{record_id}")


@pages.post("/quality/training/records/{record_id}/result", response_class=HTMLResponse)
async def record_result(request: Request, record_id: int, actor: Trainer) -> Response:
    def call(reader: FormReader) -> Any:
        return service.record_training_result(actor=actor, record_id=record_id, result=reader.text("result"),
                                              trainer_notes=reader.text("trainer_notes"))
    return await _ui.detail_form(request, actor=actor, record_id=record_id, form="result", call=call,
                                 detail=_record_detail, template="quality/training_record.html",
                                 back=f"/quality/training/records/{record_id}#lifecycle")


# ---------------------------------------------------------------- matrix


def _matrix_filters(params: dict[str, str]) -> dict[str, Any]:
    return {"role": params.get("role") or None, "department": params.get("department") or None,
            "document_number": params.get("document") or None}


@pages.get("/quality/training/matrix", response_class=HTMLResponse)
def matrix(request: Request, actor: Viewer) -> Response:
    params = {k: v.strip() for k, v in request.query_params.items()}
    table = service.qualification_matrix(actor=actor, **_matrix_filters(params))
    query = "&".join(f"{k}={v}" for k, v in params.items() if v and k in ("role", "department", "document"))
    return _ui.page(request, "quality/training_matrix.html", {"matrix": table, "values": params, "query": query})


@pages.get("/quality/training/matrix/export")
def matrix_export(request: Request, actor: Viewer, format: str = "csv") -> Response:
    params = {k: v.strip() for k, v in request.query_params.items() if k != "format"}
    content, media_type, filename = service.export_qualification_matrix(actor=actor, fmt=format,
                                                                        **_matrix_filters(params))
    return download(content, media_type, filename)


# ---------------------------------------------------------------- requirements, skills, assignments


def _requirements(*, actor: Actor, record_id: int = 0) -> dict[str, Any]:
    return {"requirements": service.list_requirements(actor=actor), "skills": service.list_skills(actor=actor)}


@pages.get("/quality/training/requirements", response_class=HTMLResponse)
def requirements(request: Request, actor: Viewer) -> Response:
    return _ui.page(request, "quality/training_requirements.html", _requirements(actor=actor))


async def _requirements_form(request: Request, actor: Actor, form: str,
                             call: Callable[[FormReader], Any]) -> Response:
    return await _ui.detail_form(request, actor=actor, record_id=0, form=form, call=call, detail=_requirements,
                                 template="quality/training_requirements.html",
                                 back=f"/quality/training/requirements#{form}")


@pages.post("/quality/training/requirements", response_class=HTMLResponse)
async def requirement_add(request: Request, actor: Manager) -> Response:
    def call(reader: FormReader) -> Any:
        return service.add_requirement(actor=actor, role=reader.text("role"),
                                       document_number=reader.text("document_number") or None,
                                       skill_code=reader.text("skill_code") or None)
    return await _requirements_form(request, actor, "requirement", call)


@pages.post("/quality/training/requirements/{requirement_id}/remove", response_class=HTMLResponse)
async def requirement_remove(request: Request, requirement_id: int, actor: Manager) -> Response:
    def call(reader: FormReader) -> Any:
        return service.remove_requirement(actor=actor, requirement_id=requirement_id, reason=reader.text("reason"))
    return await _requirements_form(request, actor, f"remove-{requirement_id}", call)


@pages.post("/quality/training/skills", response_class=HTMLResponse)
async def skill_create(request: Request, actor: Manager) -> Response:
    def call(reader: FormReader) -> Any:
        months = reader.integer("validity_months")
        reader.check()
        return service.create_skill(actor=actor, code=reader.text("code"), name_zh=reader.text("name_zh"),
                                    name_en=reader.text("name_en"), validity_months=months)
    return await _requirements_form(request, actor, "skill", call)


@pages.post("/quality/training/assignments", response_class=HTMLResponse)
async def assignment_create(request: Request, actor: Manager) -> Response:
    def call(reader: FormReader) -> Any:
        due_on = reader.date("due_on", required=True)
        reader.check()
        assert due_on is not None
        names = [n for n in reader.text("usernames").replace(",", " ").split() if n]
        return service.assign_training(actor=actor, usernames=names,
                                       document_number=reader.text("document_number") or None,
                                       skill_code=reader.text("skill_code") or None, due_on=due_on,
                                       kind=reader.text("kind") or "read_and_understood")
    return await _requirements_form(request, actor, "assignment", call)
