"""API routes of the quality module: deviations, CAPA, quality holds, the inbox, counts and trends.

Lifecycles (classify, start the investigation, submit, return, approve, close and cancel a
deviation; implement, close, reopen and cancel a CAPA) go through the generic routes
``POST /api/v1/{deviations|capas}/{record_id}/transitions/{name}`` of pharmos.compliance.routes;
the routes here parse input, resolve the caller through the route's policy and call one service
of ``pharmos.quality.service`` (docs/quality/service-api.md), which checks the same permission
again and owns every rule. Literal paths (``/deviations/export``, ``/capas/export``) are declared
before ``/{record_id}`` so they are not read as ids.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Depends, Query
from fastapi.responses import Response

from pharmos.api.pagination import Page, PageParams
from pharmos.api.policy import requires
from pharmos.core.actor import Actor
from pharmos.quality import service
from pharmos.quality.schemas import (
    CapaIn,
    CapaOut,
    CapaRevisionIn,
    ClassificationIn,
    CommentIn,
    DeviationIn,
    DeviationOut,
    EffectivenessIn,
    ExportFormat,
    ExtensionDecisionIn,
    ExtensionIn,
    ImplementationIn,
    InvestigationIn,
    InvestigatorIn,
    LinkRemovalIn,
    LinkRequestIn,
    QualityCountsOut,
    QualityHoldOut,
    QualityTaskOut,
    TrendBy,
    TrendPointOut,
)

__all__ = ["SPREADSHEET_RESPONSES", "api", "content_disposition", "file_download"]

api = APIRouter(prefix="/api/v1", tags=["quality"])

View = Annotated[Actor, Depends(requires("quality.view"))]
Report = Annotated[Actor, Depends(requires("deviations.report"))]
Classify = Annotated[Actor, Depends(requires("deviations.classify"))]
Investigate = Annotated[Actor, Depends(requires("deviations.investigate"))]
ManageCapa = Annotated[Actor, Depends(requires("capas.manage"))]
SPREADSHEET_RESPONSES: dict[int | str, dict[str, Any]] = {200: {"content": {
    "text/csv": {}, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}}}}


def content_disposition(filename: str) -> str:
    # RFC 6266 / RFC 8187: an ASCII fallback plus the UTF-8 name (Chinese file names survive).
    fallback = filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_") or "download"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def file_download(exported: tuple[bytes, str, str]) -> Response:
    """An export or a print, as the service returned it (content, media type, file name), to save."""
    content, media_type, filename = exported
    return Response(content, media_type=media_type, headers={"Content-Disposition": content_disposition(filename)})


class DeviationFilter:
    """The deviation list's query parameters, shared by the list and the export."""

    def __init__(
        self,
        state: str | None = None,
        classification: Annotated[str | None, Query(description="minor, major or critical")] = None,
        overdue: bool | None = None,
        open_only: Annotated[bool, Query(description="Neither closed nor cancelled")] = False,
        q: Annotated[str | None, Query(max_length=200, description="Number, title or description "
                                                                   "contains")] = None,
        investigator: Annotated[str | None, Query(max_length=150, description="Username of the "
                                                                             "investigator")] = None,
        linked: Annotated[str | None, Query(max_length=90, description="A linked record as type:reference, "
                                                                       "e.g. lot:LOT-240311-007")] = None,
    ) -> None:
        self.filters: dict[str, Any] = {"state": state, "classification": classification, "overdue": overdue,
                                        "open_only": open_only, "query": q, "investigator": investigator,
                                        "linked": linked}


class CapaFilter:
    """The CAPA list's query parameters, shared by the list and the export."""

    def __init__(
        self,
        state: str | None = None,
        owner: Annotated[str | None, Query(max_length=150, description="Username of the owner")] = None,
        overdue: bool | None = None,
        deviation_id: int | None = None,
        source_type: Annotated[str | None, Query(description="deviation, complaint, audit, change_control "
                                                             "or other")] = None,
        open_only: Annotated[bool, Query(description="Open or implemented")] = False,
        awaiting_effectiveness: Annotated[bool | None, Query(description="Implemented, effectiveness not yet "
                                                                         "judged")] = None,
    ) -> None:
        self.filters: dict[str, Any] = {"state": state, "owner": owner, "overdue": overdue,
                                        "deviation_id": deviation_id, "source_type": source_type,
                                        "open_only": open_only, "awaiting_effectiveness": awaiting_effectiveness}


# ---------------------------------------------------------------- deviations (literal paths first)


@api.get("/deviations", response_model=Page[DeviationOut])
def list_deviations(actor: View, page: Annotated[PageParams, Depends()],
                    where: Annotated[DeviationFilter, Depends()]) -> Page[DeviationOut]:
    rows = service.list_deviations(actor=actor, **where.filters, after_id=page.after_id, limit=page.limit + 1)
    return page.page([DeviationOut.of(r) for r in rows], lambda d: d.id)


@api.post("/deviations", response_model=DeviationOut, status_code=201)
def report_deviation(body: DeviationIn, actor: Report) -> DeviationOut:
    # 药品GMP 第二百五十条: every deviation is reported with the immediate action; linked lots and
    # batches are on hold from this moment.
    links = [service.LinkInput(record_type=link.record_type, reference=link.reference) for link in body.links]
    return DeviationOut.of(service.report_deviation(actor=actor, **body.model_dump(exclude={"links"}), links=links))


@api.get("/deviations/export", response_class=Response, responses=SPREADSHEET_RESPONSES)
def export_deviations(actor: View, where: Annotated[DeviationFilter, Depends()],
                      format: ExportFormat = "csv") -> Response:
    return file_download(service.export_deviations(actor=actor, fmt=format, **where.filters))


@api.get("/deviations/{record_id}", response_model=DeviationOut)
def get_deviation(record_id: int, actor: View) -> DeviationOut:
    return DeviationOut.of(service.get_deviation(actor=actor, deviation_id=record_id))


@api.post("/{collection}/{record_id}/comments", status_code=204, response_class=Response)
def comment_on_record(collection: str, record_id: int, body: CommentIn, actor: View) -> Response:
    """Add a comment to the timeline of a deviation, CAPA, change control, document version, training record
    or complaint (collections as in the transition routes)."""
    service.comment_on_record(actor=actor, collection=collection, record_id=record_id, text=body.text)
    return Response(status_code=204)


@api.get("/deviations/{record_id}/pdf", response_class=Response, responses={200: {"content": {"application/pdf": {}}}})
def print_deviation(record_id: int, actor: View) -> Response:
    # EU GMP Annex 11 §8.1: a clear printed copy, with its signatures and audit trail; the print is audited.
    return file_download(service.print_deviation(actor=actor, deviation_id=record_id))


@api.post("/deviations/{record_id}/links", response_model=DeviationOut, status_code=201)
def add_deviation_link(record_id: int, body: LinkRequestIn, actor: Report) -> DeviationOut:
    return DeviationOut.of(service.add_deviation_link(actor=actor, deviation_id=record_id, **body.model_dump()))


@api.delete("/deviations/{record_id}/links/{record_type}/{reference}", response_model=DeviationOut)
def remove_deviation_link(record_id: int, record_type: str, reference: str, actor: Classify,
                          body: Annotated[LinkRemovalIn | None, Body()] = None,
                          reason: Annotated[str | None, Query(max_length=2000, description="Why (when the "
                                                              "client cannot send a DELETE body)")] = None
                          ) -> DeviationOut:
    # Removing a link releases the hold it caused, so the reason is recorded (EU GMP Annex 11 §9).
    return DeviationOut.of(service.remove_deviation_link(
        actor=actor, deviation_id=record_id, record_type=record_type, reference=reference,
        reason=body.reason if body is not None else (reason or "")))


@api.put("/deviations/{record_id}/classification", response_model=DeviationOut)
def classify_deviation(record_id: int, body: ClassificationIn, actor: Classify) -> DeviationOut:
    # ICH Q9: the class rests on a recorded risk assessment (severity × occurrence × detectability).
    return DeviationOut.of(service.classify_deviation(actor=actor, deviation_id=record_id, **body.model_dump()))


@api.put("/deviations/{record_id}/investigator", response_model=DeviationOut)
def assign_investigator(record_id: int, body: InvestigatorIn, actor: Classify) -> DeviationOut:
    return DeviationOut.of(service.assign_investigator(actor=actor, deviation_id=record_id, username=body.username))


@api.put("/deviations/{record_id}/investigation", response_model=DeviationOut)
def record_investigation(record_id: int, body: InvestigationIn, actor: Investigate) -> DeviationOut:
    return DeviationOut.of(service.record_investigation(actor=actor, deviation_id=record_id,
                                                        **body.model_dump(exclude_unset=True)))


@api.post("/deviations/{record_id}/extensions", response_model=DeviationOut, status_code=201)
def request_extension(record_id: int, body: ExtensionIn, actor: Investigate) -> DeviationOut:
    return DeviationOut.of(service.request_extension(actor=actor, deviation_id=record_id, **body.model_dump()))


@api.put("/deviations/{record_id}/extensions/{extension_id}", response_model=DeviationOut)
def decide_extension(record_id: int, extension_id: int, body: ExtensionDecisionIn, actor: Classify) -> DeviationOut:
    return DeviationOut.of(service.decide_extension(actor=actor, deviation_id=record_id, extension_id=extension_id,
                                                    approve=body.approve, comment=body.comment))


# ---------------------------------------------------------------- CAPA (literal paths first)


@api.get("/capas", response_model=Page[CapaOut])
def list_capas(actor: View, page: Annotated[PageParams, Depends()],
               where: Annotated[CapaFilter, Depends()]) -> Page[CapaOut]:
    rows = service.list_capas(actor=actor, **where.filters, after_id=page.after_id, limit=page.limit + 1)
    return page.page([CapaOut.of(r) for r in rows], lambda c: c.id)


@api.post("/capas", response_model=CapaOut, status_code=201)
def create_capa(body: CapaIn, actor: ManageCapa) -> CapaOut:
    return CapaOut.of(service.create_capa(actor=actor, **body.model_dump()))


@api.get("/capas/export", response_class=Response, responses=SPREADSHEET_RESPONSES)
def export_capas(actor: View, where: Annotated[CapaFilter, Depends()], format: ExportFormat = "csv") -> Response:
    return file_download(service.export_capas(actor=actor, fmt=format, **where.filters))


@api.get("/capas/{record_id}", response_model=CapaOut)
def get_capa(record_id: int, actor: View) -> CapaOut:
    return CapaOut.of(service.get_capa(actor=actor, capa_id=record_id))


@api.get("/capas/{record_id}/pdf", response_class=Response, responses={200: {"content": {"application/pdf": {}}}})
def print_capa(record_id: int, actor: View) -> Response:
    return file_download(service.print_capa(actor=actor, capa_id=record_id))


@api.patch("/capas/{record_id}", response_model=CapaOut)
def update_capa(record_id: int, body: CapaRevisionIn, actor: ManageCapa) -> CapaOut:
    return CapaOut.of(service.update_capa(actor=actor, capa_id=record_id, **body.model_dump(exclude_unset=True)))


@api.put("/capas/{record_id}/implementation", response_model=CapaOut)
def record_implementation(record_id: int, body: ImplementationIn,
                          actor: Annotated[Actor, Depends(requires("capas.perform"))]) -> CapaOut:
    return CapaOut.of(service.record_implementation(actor=actor, capa_id=record_id, summary=body.summary))


@api.put("/capas/{record_id}/effectiveness", response_model=CapaOut)
def record_effectiveness_check(record_id: int, body: EffectivenessIn,
                               actor: Annotated[Actor, Depends(requires("capas.verify"))]) -> CapaOut:
    # ICH Q10 3.2.2: the effectiveness of the action is judged by someone other than its owner.
    return CapaOut.of(service.record_effectiveness_check(actor=actor, capa_id=record_id, result=body.result,
                                                         effective=body.effective))


# ---------------------------------------------------------------- inbox, counts, trend, holds


@api.get("/quality/tasks", response_model=list[QualityTaskOut])
def my_quality_tasks(actor: View) -> list[QualityTaskOut]:
    return [QualityTaskOut.of(t) for t in service.my_quality_tasks(actor=actor)]


@api.get("/quality/counts", response_model=QualityCountsOut)
def quality_counts(actor: View) -> QualityCountsOut:
    return QualityCountsOut.of(service.quality_counts(actor=actor))


@api.get("/quality/trend", response_model=list[TrendPointOut])
def deviation_trend(actor: View, months: Annotated[int, Query(description="Months back, this one "
                                                                          "included")] = 12,
                    by: TrendBy = "classification") -> list[TrendPointOut]:
    return [TrendPointOut.of(p) for p in service.deviation_trend(actor=actor, months=months, by=by)]


@api.get("/quality-holds", response_model=list[QualityHoldOut])
def open_quality_holds(_: View, record_type: Annotated[str, Query(max_length=20, description="lot or batch (also "
                                                                                              "equipment, material)")],
                       reference: Annotated[str, Query(max_length=60)]) -> list[QualityHoldOut]:
    # 药品GMP 第二百五十条: a record linked to an open deviation is not used until the deviation is closed.
    return [QualityHoldOut.of(h) for h in service.open_quality_holds(record_type=record_type, reference=reference)]
