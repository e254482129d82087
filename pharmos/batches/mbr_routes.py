"""API routes of master batch records (see docs/batches/service-api.md, section mbr.py).

The lifecycle (submit, return, approve, make effective, retire, withdraw) goes through the
generic ``POST /api/v1/master-batch-records/{record_id}/transitions/{name}`` of
pharmos.compliance.routes; the routes here parse input, resolve the caller through the route's
policy and call one service of ``pharmos.batches.service``, which checks the same permission
again and owns every rule.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from pharmos.api.pagination import Page, PageParams
from pharmos.api.policy import requires
from pharmos.batches import service
from pharmos.batches.mbr_schemas import (
    BomIn,
    MbrHeaderPatchIn,
    MbrIn,
    MbrOut,
    MbrVersionIn,
    PhaseIn,
    ReviewIn,
    ScaledLineOut,
    StepIn,
    StepPatchIn,
)
from pharmos.core.actor import Actor

__all__ = ["api"]

api = APIRouter(prefix="/api/v1", tags=["batches"])

View = Annotated[Actor, Depends(requires("mbr.view"))]
Author = Annotated[Actor, Depends(requires("mbr.author"))]
Review = Annotated[Actor, Depends(requires("mbr.review"))]


@api.get("/master-batch-records", response_model=Page[MbrOut])
def list_mbrs(actor: View, page: Annotated[PageParams, Depends()],
              state: Annotated[str | None, Query(max_length=20)] = None,
              product_code: Annotated[str | None, Query(max_length=40)] = None,
              stage: Annotated[str | None, Query(max_length=30)] = None,
              q: Annotated[str | None, Query(max_length=200, description="Number, title or product contains")] = None,
              ) -> Page[MbrOut]:
    rows = service.list_mbrs(actor=actor, state=state, product_code=product_code, stage=stage, query=q,
                             after_id=page.after_id, limit=page.limit + 1)
    return page.page([MbrOut.of(r) for r in rows], lambda m: m.id)


@api.post("/master-batch-records", response_model=MbrOut, status_code=201)
def create_mbr(body: MbrIn, actor: Author) -> MbrOut:
    return MbrOut.of(service.create_mbr(actor=actor, **body.model_dump()))


@api.get("/master-batch-records/{record_id}", response_model=MbrOut)
def get_mbr(record_id: int, actor: View) -> MbrOut:
    return MbrOut.of(service.get_mbr(actor=actor, mbr_id=record_id))


@api.patch("/master-batch-records/{record_id}", response_model=MbrOut)
def update_mbr_header(record_id: int, body: MbrHeaderPatchIn, actor: Author) -> MbrOut:
    return MbrOut.of(service.update_mbr_header(actor=actor, mbr_id=record_id, **body.model_dump(exclude_unset=True)))


@api.put("/master-batch-records/{record_id}/bom", response_model=MbrOut)
def set_bom(record_id: int, body: BomIn, actor: Author) -> MbrOut:
    return MbrOut.of(service.set_bom(actor=actor, mbr_id=record_id, lines=[line.to_input() for line in body.lines]))


@api.post("/master-batch-records/{record_id}/phases", response_model=MbrOut, status_code=201)
def add_phase(record_id: int, body: PhaseIn, actor: Author) -> MbrOut:
    return MbrOut.of(service.add_phase(actor=actor, mbr_id=record_id, **body.model_dump()))


@api.post("/master-batch-records/{record_id}/steps", response_model=MbrOut, status_code=201)
def add_step(record_id: int, body: StepIn, actor: Author) -> MbrOut:
    values = body.model_dump(exclude={"parameters"})
    return MbrOut.of(service.add_step(actor=actor, mbr_id=record_id, **values,
                                      parameters=[p.to_input() for p in body.parameters]))


@api.put("/master-batch-records/{record_id}/steps/{step_id}", response_model=MbrOut)
def update_step(record_id: int, step_id: int, body: StepPatchIn, actor: Author) -> MbrOut:
    values = body.model_dump(exclude_unset=True, exclude={"parameters"})
    if "parameters" in body.model_fields_set:
        values["parameters"] = [p.to_input() for p in body.parameters or ()]
    return MbrOut.of(service.update_step(actor=actor, mbr_id=record_id, step_id=step_id, **values))


@api.delete("/master-batch-records/{record_id}/steps/{step_id}", response_model=MbrOut)
def remove_step(record_id: int, step_id: int, actor: Author) -> MbrOut:
    return MbrOut.of(service.remove_step(actor=actor, mbr_id=record_id, step_id=step_id))


@api.post("/master-batch-records/{record_id}/review", response_model=MbrOut)
def review_mbr(record_id: int, body: ReviewIn, actor: Review) -> MbrOut:
    # 21 CFR 11.200(a): the production review is signed with the reviewer's password.
    return MbrOut.of(service.review_mbr(actor=actor, mbr_id=record_id, **body.model_dump()))


@api.post("/master-batch-records/{record_id}/versions", response_model=MbrOut, status_code=201)
def new_mbr_version(record_id: int, body: MbrVersionIn, actor: Author) -> MbrOut:
    return MbrOut.of(service.new_mbr_version(actor=actor, mbr_id=record_id, change_summary=body.change_summary))


@api.get("/master-batch-records/{record_id}/scaled-bom", response_model=list[ScaledLineOut])
def scaled_bom(record_id: int, actor: View, planned_size: Annotated[Decimal, Query(description="Size to scale to")]
               ) -> list[ScaledLineOut]:
    return [ScaledLineOut.of(line) for line in service.scaled_bom(actor=actor, mbr_id=record_id,
                                                                  planned_size=planned_size)]

