"""API routes of change control (see docs/quality/service-api.md, section change_control.py).

The lifecycle (send for assessment, approve, reject, implementation complete, close, reopen,
cancel) goes through the generic ``POST /api/v1/change-controls/{record_id}/transitions/{name}``
of pharmos.compliance.routes; the routes here parse input, resolve the caller through the
route's policy and call one service of ``pharmos.quality.service``, which checks the same
permission again and owns every rule. ``/change-controls/export`` is declared before
``/{record_id}`` so it is not read as an id.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from pharmos.api.pagination import Page, PageParams
from pharmos.api.policy import requires
from pharmos.core.actor import Actor
from pharmos.quality import service
from pharmos.quality.change_schemas import (
    ChangeAssessmentIn,
    ChangeCapaIn,
    ChangeClassificationIn,
    ChangeControlOut,
    ChangeEffectivenessIn,
    ChangeIn,
    ChangeRevisionIn,
    ChangeTaskCancellationIn,
    ChangeTaskCompletionIn,
    ChangeTaskIn,
)
from pharmos.quality.routes import SPREADSHEET_RESPONSES, file_download
from pharmos.quality.schemas import CapaOut, ExportFormat, QualityTaskOut

__all__ = ["api"]

api = APIRouter(prefix="/api/v1", tags=["quality"])

View = Annotated[Actor, Depends(requires("quality.view"))]
Propose = Annotated[Actor, Depends(requires("change_controls.propose"))]
Manage = Annotated[Actor, Depends(requires("change_controls.manage"))]
Assess = Annotated[Actor, Depends(requires("change_controls.assess"))]
Perform = Annotated[Actor, Depends(requires("capas.perform"))]
PDF_RESPONSES: dict[int | str, dict[str, Any]] = {200: {"content": {"application/pdf": {}}}}


class ChangeFilter:
    """The change-control list's query parameters, shared by the list and the export."""

    def __init__(
        self,
        state: str | None = None,
        change_type: Annotated[str | None, Query(max_length=30)] = None,
        classification: Annotated[str | None, Query(description="minor, moderate or major")] = None,
        assessor: Annotated[str | None, Query(max_length=150, description="Username of a named assessor")] = None,
        open_only: Annotated[bool, Query(description="Neither closed, rejected nor cancelled")] = False,
        q: Annotated[str | None, Query(max_length=200, description="Number, title or description contains")] = None,
    ) -> None:
        self.filters: dict[str, Any] = {"state": state, "change_type": change_type, "classification": classification,
                                        "assessor": assessor, "open_only": open_only, "query": q}


@api.get("/change-controls", response_model=Page[ChangeControlOut])
def list_changes(actor: View, page: Annotated[PageParams, Depends()],
                 where: Annotated[ChangeFilter, Depends()]) -> Page[ChangeControlOut]:
    rows = service.list_changes(actor=actor, **where.filters, after_id=page.after_id, limit=page.limit + 1)
    return page.page([ChangeControlOut.of(r) for r in rows], lambda c: c.id)


@api.post("/change-controls", response_model=ChangeControlOut, status_code=201)
def propose_change(body: ChangeIn, actor: Propose) -> ChangeControlOut:
    return ChangeControlOut.of(service.propose_change(actor=actor, **body.model_dump()))


@api.get("/change-controls/export", response_class=Response, responses=SPREADSHEET_RESPONSES)
def export_changes(actor: View, where: Annotated[ChangeFilter, Depends()], format: ExportFormat = "csv") -> Response:
    return file_download(service.export_changes(actor=actor, fmt=format, **where.filters))


@api.get("/change-controls/tasks", response_model=list[QualityTaskOut])
def my_change_tasks(actor: View) -> list[QualityTaskOut]:
    return [QualityTaskOut.of(t) for t in service.my_change_tasks(actor=actor)]


@api.get("/change-controls/{record_id}", response_model=ChangeControlOut)
def get_change(record_id: int, actor: View) -> ChangeControlOut:
    return ChangeControlOut.of(service.get_change(actor=actor, change_id=record_id))


@api.patch("/change-controls/{record_id}", response_model=ChangeControlOut)
def revise_change(record_id: int, body: ChangeRevisionIn, actor: Propose) -> ChangeControlOut:
    return ChangeControlOut.of(service.revise_change(actor=actor, change_id=record_id,
                                                     **body.model_dump(exclude_unset=True)))


@api.post("/change-controls/{record_id}/classification", response_model=ChangeControlOut)
def classify_change(record_id: int, body: ChangeClassificationIn, actor: Manage) -> ChangeControlOut:
    return ChangeControlOut.of(service.classify_change(actor=actor, change_id=record_id, **body.model_dump()))


@api.post("/change-controls/{record_id}/assessments/{function}", response_model=ChangeControlOut)
def assess_change(record_id: int, function: Annotated[str, Path(max_length=20, description="The function assessed: "
                                                                "production, qc, regulatory, validation, equipment, "
                                                                "qa, warehouse or ehs")],
                  body: ChangeAssessmentIn, actor: Assess) -> ChangeControlOut:
    # 21 CFR 11.50 / EU GMP Annex 15 §11.5: the function's assessment is signed by its named assessor.
    return ChangeControlOut.of(service.assess_change(actor=actor, change_id=record_id, function=function,
                                                     **body.model_dump()))


@api.post("/change-controls/{record_id}/tasks", response_model=ChangeControlOut, status_code=201)
def add_change_task(record_id: int, body: ChangeTaskIn, actor: Manage) -> ChangeControlOut:
    return ChangeControlOut.of(service.add_change_task(actor=actor, change_id=record_id, **body.model_dump()))


@api.post("/change-controls/{record_id}/tasks/{task_id}/completion", response_model=ChangeControlOut)
def complete_change_task(record_id: int, task_id: int, body: ChangeTaskCompletionIn,
                         actor: Perform) -> ChangeControlOut:
    return ChangeControlOut.of(service.complete_change_task(actor=actor, change_id=record_id, task_id=task_id,
                                                            **body.model_dump()))


@api.post("/change-controls/{record_id}/tasks/{task_id}/cancellation", response_model=ChangeControlOut)
def cancel_change_task(record_id: int, task_id: int, body: ChangeTaskCancellationIn,
                       actor: Manage) -> ChangeControlOut:
    return ChangeControlOut.of(service.cancel_change_task(actor=actor, change_id=record_id, task_id=task_id,
                                                          reason=body.reason))


@api.post("/change-controls/{record_id}/effectiveness", response_model=ChangeControlOut)
def record_change_effectiveness(record_id: int, body: ChangeEffectivenessIn, actor: Manage) -> ChangeControlOut:
    # ICH Q10 3.2.3: the change is evaluated after implementation before it is closed.
    return ChangeControlOut.of(service.record_change_effectiveness(actor=actor, change_id=record_id,
                                                                   **body.model_dump()))


@api.post("/change-controls/{record_id}/capas", response_model=CapaOut, status_code=201)
def raise_capa_from_change(record_id: int, body: ChangeCapaIn,
                           actor: Annotated[Actor, Depends(requires("capas.manage"))]) -> CapaOut:
    return CapaOut.of(service.raise_capa_from_change(actor=actor, change_id=record_id, **body.model_dump()))


@api.get("/change-controls/{record_id}/pdf", response_class=Response, responses=PDF_RESPONSES)
def print_change_control(record_id: int, actor: View) -> Response:
    # EU GMP Annex 11 §8.1: a clear printed copy, with its signatures and audit trail.
    return file_download(service.print_change_control(actor=actor, change_id=record_id))
