"""API route of the executed batch record PDF: ``GET /api/v1/batches/{id}/record.pdf``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from pharmos.api.policy import requires
from pharmos.batches import service
from pharmos.core.actor import Actor
from pharmos.web.forms import download

__all__ = ["api"]

api = APIRouter(prefix="/api/v1", tags=["batches"])
View = Annotated[Actor, Depends(requires("batches.view"))]
PDF_RESPONSES: dict[int | str, dict[str, Any]] = {200: {"content": {"application/pdf": {}}}}


@api.get("/batches/{batch_id}/record.pdf", response_class=Response, responses=PDF_RESPONSES)
def batch_record_pdf(batch_id: int, actor: View) -> Response:
    # EU GMP Annex 11 §8.1 / 21 CFR 11.10(b): an accurate and complete copy for inspection; printing is audited.
    return download(service.batch_record_pdf(actor=actor, batch_id=batch_id), "application/pdf",
                    f"batch-record-{batch_id}.pdf")
