"""API routes of weighing and dispensing, yield, reconciliation and genealogy.

The routes parse input, resolve the caller through the route's policy and call one service of
``pharmos.batches.service``, which checks the same permission again and owns every rule. The
lifecycle (complete, release, reject) goes through the generic
``POST /api/v1/batches/{id}/transitions/{name}`` of pharmos.compliance.routes.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from pharmos.api.policy import requires
from pharmos.batches import service
from pharmos.batches.dispense_schemas import (
    DispenseIn,
    DispenseOut,
    GenealogyOut,
    ReconciliationOut,
    YieldIn,
    YieldOut,
)
from pharmos.core.actor import Actor

__all__ = ["api"]

api = APIRouter(prefix="/api/v1", tags=["batches"])

View = Annotated[Actor, Depends(requires("batches.view"))]
Execute = Annotated[Actor, Depends(requires("batches.execute"))]
PDF_RESPONSES: dict[int | str, dict[str, Any]] = {200: {"content": {"application/pdf": {}}}}


@api.post("/batches/{batch_id}/dispense", response_model=DispenseOut, status_code=201)
def dispense(batch_id: int, body: DispenseIn, actor: Execute) -> DispenseOut:
    return DispenseOut.of(service.dispense(actor=actor, batch_id=batch_id, **body.model_dump()))


@api.get("/batches/{batch_id}/dispenses", response_model=list[DispenseOut])
def list_dispenses(batch_id: int, actor: View) -> list[DispenseOut]:
    return [DispenseOut.of(d) for d in service.list_dispenses(actor=actor, batch_id=batch_id)]


@api.get("/batches/{batch_id}/dispenses/{dispense_id}/label.pdf", response_class=Response,
         responses=PDF_RESPONSES)
def dispensing_label(batch_id: int, dispense_id: int, actor: View) -> Response:
    pdf = service.dispensing_label_pdf(actor=actor, dispense_id=dispense_id, batch_id=batch_id)
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="dispense-{dispense_id}.pdf"'})


@api.post("/batches/{batch_id}/yield", response_model=YieldOut)
def record_yield(batch_id: int, body: YieldIn, actor: Execute) -> YieldOut:
    return YieldOut.of(service.record_yield(actor=actor, batch_id=batch_id, actual_yield=body.actual_yield,
                                            note=body.note))


@api.get("/batches/{batch_id}/reconciliation", response_model=list[ReconciliationOut])
def reconciliation(batch_id: int, actor: View) -> list[ReconciliationOut]:
    return [ReconciliationOut.of(r) for r in service.material_reconciliation(actor=actor, batch_id=batch_id)]


@api.get("/genealogy", response_model=GenealogyOut)
def genealogy(actor: View, lot: Annotated[str, Query(max_length=60, description="Lot or container number")],
              direction: Annotated[str, Query(max_length=20, description="backward or forward")] = "backward",
              max_depth: Annotated[int, Query(ge=1, le=50)] = 10) -> GenealogyOut:
    return GenealogyOut.of(service.trace(actor=actor, lot=lot, direction=direction, max_depth=max_depth))
