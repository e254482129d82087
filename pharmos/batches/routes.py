"""API routes of batch orders, execution and review by exception (docs/batches/service-api.md).

The lifecycle (start, hold, resume, complete, release, reject, cancel) goes through the generic
``POST /api/v1/batches/{record_id}/transitions/{name}`` of pharmos.compliance.routes; the routes
here parse input, resolve the caller through the route's policy and call one service of
``pharmos.batches.service``, which checks the same permission again and owns every rule.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from pharmos.api.pagination import Page, PageParams
from pharmos.api.policy import requires
from pharmos.batches import service
from pharmos.batches.schemas import (
    BatchIn,
    BatchOut,
    CorrectionIn,
    EntryIn,
    EquipmentScanIn,
    ExceptionOut,
    ExceptionReviewIn,
    LotScanIn,
    OrderOverrideIn,
    SignIn,
    StepOut,
    VerifyIn,
)
from pharmos.core.actor import Actor

__all__ = ["api"]

api = APIRouter(prefix="/api/v1", tags=["batches"])

View = Annotated[Actor, Depends(requires("batches.view"))]
Plan = Annotated[Actor, Depends(requires("batches.plan"))]
Execute = Annotated[Actor, Depends(requires("batches.execute"))]
Verify = Annotated[Actor, Depends(requires("batches.verify"))]
Review = Annotated[Actor, Depends(requires("batches.review"))]


@api.get("/batches", response_model=Page[BatchOut])
def list_batches(actor: View, page: Annotated[PageParams, Depends()],
                 state: Annotated[str | None, Query(max_length=20)] = None,
                 product_code: Annotated[str | None, Query(max_length=40)] = None,
                 q: Annotated[str | None, Query(max_length=200, description="Batch number or product contains")] = None,
                 ) -> Page[BatchOut]:
    rows = service.list_batches(actor=actor, state=state, product_code=product_code, query=q,
                                after_id=page.after_id, limit=page.limit + 1)
    return page.page([BatchOut.of(r) for r in rows], lambda b: b.id)


@api.post("/batches", response_model=BatchOut, status_code=201)
def order_batch(body: BatchIn, actor: Plan) -> BatchOut:
    return BatchOut.of(service.order_batch(actor=actor, **body.model_dump()))


@api.get("/batches/{record_id}", response_model=BatchOut)
def get_batch(record_id: int, actor: View) -> BatchOut:
    return BatchOut.of(service.get_batch(actor=actor, batch_id=record_id))


@api.get("/batches/{record_id}/steps/{step_id}", response_model=StepOut)
def get_step(record_id: int, step_id: int, actor: View) -> StepOut:
    return StepOut.of(service.get_step(actor=actor, batch_id=record_id, step_id=step_id))


@api.post("/batches/{record_id}/steps/{step_id}/entries", response_model=StepOut, status_code=201)
def record_entry(record_id: int, step_id: int, body: EntryIn, actor: Execute) -> StepOut:
    return StepOut.of(service.record_entry(actor=actor, batch_id=record_id, step_id=step_id, **body.model_dump()))


@api.post("/batches/{record_id}/steps/{step_id}/entries/{entry_id}/correction", response_model=StepOut)
def correct_entry(record_id: int, step_id: int, entry_id: int, body: CorrectionIn, actor: Execute) -> StepOut:
    # EU GMP Annex 11 §9: the original stays visible; the correction carries its reason.
    return StepOut.of(service.correct_entry(actor=actor, batch_id=record_id, step_id=step_id, entry_id=entry_id,
                                            **body.model_dump()))


@api.post("/batches/{record_id}/steps/{step_id}/equipment", response_model=StepOut, status_code=201)
def scan_equipment(record_id: int, step_id: int, body: EquipmentScanIn, actor: Execute) -> StepOut:
    return StepOut.of(service.scan_equipment(actor=actor, batch_id=record_id, step_id=step_id, number=body.number))


@api.post("/batches/{record_id}/steps/{step_id}/lots", response_model=StepOut, status_code=201)
def scan_lot(record_id: int, step_id: int, body: LotScanIn, actor: Execute) -> StepOut:
    return StepOut.of(service.scan_lot(actor=actor, batch_id=record_id, step_id=step_id, **body.model_dump()))


@api.post("/batches/{record_id}/steps/{step_id}/override", response_model=StepOut)
def open_step_out_of_order(record_id: int, step_id: int, body: OrderOverrideIn, actor: Execute) -> StepOut:
    return StepOut.of(service.open_step_out_of_order(actor=actor, batch_id=record_id, step_id=step_id,
                                                     reason=body.reason))


@api.post("/batches/{record_id}/steps/{step_id}/sign", response_model=StepOut)
def sign_step(record_id: int, step_id: int, body: SignIn, actor: Execute) -> StepOut:
    # 21 CFR 11.50 / 11.200: the performer signs with meaning "performed" after every check passes.
    return StepOut.of(service.sign_step(actor=actor, batch_id=record_id, step_id=step_id, **body.model_dump()))


@api.post("/batches/{record_id}/steps/{step_id}/verify", response_model=StepOut)
def verify_step(record_id: int, step_id: int, body: VerifyIn, actor: Verify) -> StepOut:
    # EU GMP Annex 11 §15: a second person verifies critical steps.
    return StepOut.of(service.verify_step(actor=actor, batch_id=record_id, step_id=step_id, **body.model_dump()))


@api.get("/batches/{record_id}/exceptions", response_model=list[ExceptionOut])
def list_exceptions(record_id: int, actor: View,
                    state: Annotated[str | None, Query(max_length=20, description="open or reviewed")] = None,
                    ) -> list[ExceptionOut]:
    return [ExceptionOut.of(x) for x in service.list_exceptions(actor=actor, batch_id=record_id, state=state)]


@api.post("/batches/{record_id}/exceptions/{exception_id}/review", response_model=ExceptionOut)
def review_exception(record_id: int, exception_id: int, body: ExceptionReviewIn, actor: Review) -> ExceptionOut:
    return ExceptionOut.of(service.review_exception(actor=actor, batch_id=record_id, exception_id=exception_id,
                                                    comment=body.comment))
