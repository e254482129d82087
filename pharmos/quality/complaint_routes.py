"""API routes of complaints and of the quality lists' saved filters (see docs/quality/service-api.md).

Lifecycle steps (classify, submit, return, approve, close, cancel) go through the generic route
``POST /api/v1/complaints/{record_id}/transitions/{name}`` of pharmos.compliance.routes; the
routes here parse input, resolve the caller and call one service of ``pharmos.quality.service``,
which checks the permission again and owns every rule. Literal paths (``/complaints/trend``,
``/complaints/export``) are declared before ``/complaints/{record_id}`` so they are not read as ids.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from pharmos.api.pagination import Page, PageParams
from pharmos.api.policy import requires
from pharmos.core.actor import Actor
from pharmos.quality import service
from pharmos.quality.complaint_schemas import (
    ComplaintClassificationIn,
    ComplaintIn,
    ComplaintInvestigationIn,
    ComplaintLinkIn,
    ComplaintOut,
    ComplaintTrendBy,
    ComplaintUnlinkIn,
    ResponseIn,
    SavedFilterIn,
    SavedFilterOut,
)
from pharmos.quality.routes import SPREADSHEET_RESPONSES, file_download
from pharmos.quality.schemas import ExportFormat, TrendPointOut

__all__ = ["api"]

api = APIRouter(prefix="/api/v1", tags=["quality"])

View = Annotated[Actor, Depends(requires("quality.view"))]
Receive = Annotated[Actor, Depends(requires("complaints.receive"))]
Classify = Annotated[Actor, Depends(requires("complaints.classify"))]
Investigate = Annotated[Actor, Depends(requires("complaints.investigate"))]
PDF_RESPONSES: dict[int | str, dict[str, Any]] = {200: {"content": {"application/pdf": {}}}}


class ComplaintFilter:
    """The complaint list's query parameters, shared by the list and the export."""

    def __init__(
        self,
        state: str | None = None,
        category: Annotated[str | None, Query(max_length=20)] = None,
        classification: Annotated[str | None, Query(description="minor, major or critical")] = None,
        product: Annotated[str | None, Query(max_length=200, description="The product exactly")] = None,
        overdue: bool | None = None,
        open_only: Annotated[bool, Query(description="Neither closed nor cancelled")] = False,
        q: Annotated[str | None, Query(max_length=200, description="Number, customer, product, lot or "
                                                                   "description contains")] = None,
    ) -> None:
        self.filters: dict[str, Any] = {"state": state, "category": category, "classification": classification,
                                        "product": product, "overdue": overdue, "open_only": open_only, "query": q}


# ---------------------------------------------------------------- complaints (literal paths first)


@api.get("/complaints", response_model=Page[ComplaintOut])
def list_complaints(actor: View, page: Annotated[PageParams, Depends()],
                    where: Annotated[ComplaintFilter, Depends()]) -> Page[ComplaintOut]:
    rows = service.list_complaints(actor=actor, **where.filters, after_id=page.after_id, limit=page.limit + 1)
    return page.page([ComplaintOut.of(r) for r in rows], lambda c: c.id)


@api.post("/complaints", response_model=ComplaintOut, status_code=201)
def receive_complaint(body: ComplaintIn, actor: Receive) -> ComplaintOut:
    # 药品GMP 第二百六十八条: every complaint is recorded with its original details.
    return ComplaintOut.of(service.receive_complaint(actor=actor, **body.model_dump()))


@api.get("/complaints/trend", response_model=list[TrendPointOut])
def complaint_trend(actor: View, months: Annotated[int, Query(description="Months back, this one included")] = 12,
                    by: ComplaintTrendBy = "category") -> list[TrendPointOut]:
    return [TrendPointOut.of(p) for p in service.complaint_trend(actor=actor, months=months, by=by)]


@api.get("/complaints/export", response_class=Response, responses=SPREADSHEET_RESPONSES)
def export_complaints(actor: View, where: Annotated[ComplaintFilter, Depends()],
                      format: ExportFormat = "csv") -> Response:
    return file_download(service.export_complaints(actor=actor, fmt=format, **where.filters))


@api.get("/complaints/{record_id}", response_model=ComplaintOut)
def get_complaint(record_id: int, actor: View) -> ComplaintOut:
    return ComplaintOut.of(service.get_complaint(actor=actor, complaint_id=record_id))


@api.get("/complaints/{record_id}/pdf", response_class=Response, responses=PDF_RESPONSES)
def print_complaint(record_id: int, actor: View) -> Response:
    # EU GMP Annex 11 §8.1: a clear printed copy, with its signatures and audit trail; the print is audited.
    return file_download(service.print_complaint(actor=actor, complaint_id=record_id))


@api.post("/complaints/{record_id}/classification", response_model=ComplaintOut)
def classify_complaint(record_id: int, body: ComplaintClassificationIn, actor: Classify) -> ComplaintOut:
    return ComplaintOut.of(service.classify_complaint(actor=actor, complaint_id=record_id, **body.model_dump()))


@api.post("/complaints/{record_id}/investigation", response_model=ComplaintOut)
def record_investigation(record_id: int, body: ComplaintInvestigationIn, actor: Investigate) -> ComplaintOut:
    return ComplaintOut.of(service.record_complaint_investigation(actor=actor, complaint_id=record_id,
                                                                  **body.model_dump(exclude_unset=True)))


@api.post("/complaints/{record_id}/links", response_model=ComplaintOut, status_code=201)
def link_complaint(record_id: int, body: ComplaintLinkIn, actor: View) -> ComplaintOut:
    # QA or the complaint's investigator: the service checks which (object-level right).
    return ComplaintOut.of(service.link_complaint(actor=actor, complaint_id=record_id, record=body.record))


@api.post("/complaints/{record_id}/links/removal", response_model=ComplaintOut)
def unlink_complaint(record_id: int, body: ComplaintUnlinkIn, actor: View) -> ComplaintOut:
    return ComplaintOut.of(service.unlink_complaint(actor=actor, complaint_id=record_id, record=body.record,
                                                    reason=body.reason))


@api.post("/complaints/{record_id}/response", response_model=ComplaintOut)
def record_response(record_id: int, body: ResponseIn, actor: Classify) -> ComplaintOut:
    return ComplaintOut.of(service.record_response(actor=actor, complaint_id=record_id, **body.model_dump()))


# ---------------------------------------------------------------- saved filters


@api.get("/quality/saved-filters", response_model=list[SavedFilterOut])
def list_saved_filters(actor: View, list_name: Annotated[str, Query(max_length=30)]) -> list[SavedFilterOut]:
    return [SavedFilterOut.of(f) for f in service.list_saved_filters(actor=actor, list_name=list_name)]


@api.post("/quality/saved-filters", response_model=SavedFilterOut, status_code=201)
def save_filter(body: SavedFilterIn, actor: View) -> SavedFilterOut:
    return SavedFilterOut.of(service.save_filter(actor=actor, **body.model_dump()))


@api.delete("/quality/saved-filters/{filter_id}", status_code=204, response_class=Response)
def delete_saved_filter(filter_id: int, actor: View) -> Response:
    service.delete_saved_filter(actor=actor, filter_id=filter_id)
    return Response(status_code=204)
