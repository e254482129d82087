"""API routes of the materials module (lifecycles: the generic transition routes of pharmos.compliance.routes).

Material approval, lot release / rejection / hold and cycle-count submission go through
``POST /api/v1/{materials|lots|cycle-counts}/{record_id}/transitions/{name}``; the routes here
parse input, resolve the caller through the route's policy and call one service of
``pharmos.materials.service`` (docs/materials/service-api.md), which checks the same permission
again and owns every rule. Record ids are named ``record_id`` as in the transition routes.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from fastapi.responses import Response

from pharmos.api.pagination import Page, PageParams
from pharmos.api.policy import requires
from pharmos.core.actor import Actor
from pharmos.core.errors import ValidationFailed
from pharmos.materials import service
from pharmos.materials.schemas import (
    AdjustmentIn,
    AllocateIn,
    AllocationLineOut,
    AllocationOut,
    CountIn,
    CycleCountIn,
    CycleCountOut,
    DestructionIn,
    ExpiryRowOut,
    ExportFormat,
    IssueIn,
    LocationIn,
    LocationOut,
    LocationRevisionIn,
    LotOut,
    MaterialIn,
    MaterialOut,
    MaterialRevisionIn,
    MovementOut,
    OnHandOut,
    OverrideReviewIn,
    PurchaseOrderIn,
    PurchaseOrderOut,
    PutAwayIn,
    ReasonIn,
    ReceiptIn,
    ReceiptOut,
    ReportFormat,
    ReservationIn,
    RetestDateIn,
    ReturnIn,
    SamplingIn,
    SignedReasonIn,
    SupplierApprovalIn,
    SupplierIn,
    SupplierOut,
    SupplierRevisionIn,
)
from pharmos.materials.service import MAX_UPLOAD_BYTES

api = APIRouter(prefix="/api/v1", tags=["materials"])

View = Annotated[Actor, Depends(requires("materials.view"))]
SPREADSHEET_RESPONSES: dict[int | str, dict[str, Any]] = {200: {"content": {
    "text/csv": {}, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}}}}


def _download(exported: tuple[bytes, str, str]) -> Response:
    content, media_type, filename = exported
    return Response(content, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _upload(file: UploadFile) -> bytes:
    # Transport hygiene only; whether the rows are acceptable is the import service's rule.
    content = file.file.read(MAX_UPLOAD_BYTES + 1)
    if len(content) > MAX_UPLOAD_BYTES:
        raise ValidationFailed.on("file", f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
    return content


# ---------------------------------------------------------------- material master


@api.get("/materials", response_model=Page[MaterialOut])
def list_materials(actor: View, page: Annotated[PageParams, Depends()], state: str | None = None,
                   material_type: str | None = None,
                   q: Annotated[str | None, Query(description="Code or name contains")] = None) -> Page[MaterialOut]:
    rows = service.list_materials(actor=actor, state=state, material_type=material_type, query=q,
                                  after_id=page.after_id, limit=page.limit + 1)
    return page.page([MaterialOut.of(r) for r in rows], lambda m: m.id)


@api.post("/materials", response_model=MaterialOut, status_code=201)
def draft_material(body: MaterialIn, actor: Annotated[Actor, Depends(requires("materials.edit"))]) -> MaterialOut:
    return MaterialOut.of(service.draft_material(actor=actor, **body.model_dump()))


@api.get("/materials/export", response_class=Response, responses=SPREADSHEET_RESPONSES)
def export_materials(actor: View, format: ExportFormat = "csv", state: str | None = None) -> Response:
    return _download(service.export_materials(actor=actor, fmt=format, state=state))


@api.post("/materials/import", response_model=dict[str, int])
def import_materials(actor: Annotated[Actor, Depends(requires("materials.import"))],
                     file: Annotated[UploadFile, File(description="CSV or Excel (.xlsx) material master")],
                     reason: Annotated[str, Form(max_length=2000)]) -> dict[str, int]:
    # No partial import: a file with any bad row is refused as a whole, each row's problem named.
    result = service.import_materials(actor=actor, filename=file.filename or "", content=_upload(file),
                                      reason=reason)
    return dict(result)


@api.get("/materials/{record_id}", response_model=MaterialOut)
def get_material(record_id: int, actor: View) -> MaterialOut:
    return MaterialOut.of(service.get_material(actor=actor, material_id=record_id))


@api.patch("/materials/{record_id}", response_model=MaterialOut)
def revise_material_draft(record_id: int, body: MaterialRevisionIn,
                          actor: Annotated[Actor, Depends(requires("materials.edit"))]) -> MaterialOut:
    return MaterialOut.of(service.revise_material_draft(
        actor=actor, material_id=record_id, **body.model_dump(exclude_unset=True)))


# ---------------------------------------------------------------- suppliers


@api.get("/suppliers", response_model=Page[SupplierOut])
def list_suppliers(actor: View, page: Annotated[PageParams, Depends()], active: bool | None = None,
                   q: Annotated[str | None, Query(description="Code or name contains")] = None) -> Page[SupplierOut]:
    rows = service.list_suppliers(actor=actor, query=q, active=active, after_id=page.after_id, limit=page.limit + 1)
    return page.page([SupplierOut.of(r) for r in rows], lambda s: s.id)


@api.post("/suppliers", response_model=SupplierOut, status_code=201)
def create_supplier(body: SupplierIn, actor: Annotated[Actor, Depends(requires("suppliers.edit"))]) -> SupplierOut:
    return SupplierOut.of(service.create_supplier(actor=actor, **body.model_dump()))


@api.get("/suppliers/{record_id}", response_model=SupplierOut)
def get_supplier(record_id: int, actor: View) -> SupplierOut:
    return SupplierOut.of(service.get_supplier(actor=actor, supplier_id=record_id))


@api.patch("/suppliers/{record_id}", response_model=SupplierOut)
def update_supplier(record_id: int, body: SupplierRevisionIn,
                    actor: Annotated[Actor, Depends(requires("suppliers.edit"))]) -> SupplierOut:
    return SupplierOut.of(service.update_supplier(
        actor=actor, supplier_id=record_id, **body.model_dump(exclude_unset=True)))


@api.put("/suppliers/{record_id}/approvals/{material_code}", response_model=SupplierOut)
def set_supplier_approval(record_id: int, material_code: str, body: SupplierApprovalIn,
                          actor: Annotated[Actor, Depends(requires("suppliers.qualify"))]) -> SupplierOut:
    # The approved supplier list is QA's decision (EU GMP Part I 5.27 / 药品GMP 第二百五十五条).
    return SupplierOut.of(service.set_supplier_approval(
        actor=actor, supplier_id=record_id, material_code=material_code, status=body.status, note=body.note,
        reason=body.reason))


# ---------------------------------------------------------------- purchase orders


@api.get("/purchase-orders", response_model=Page[PurchaseOrderOut])
def list_purchase_orders(actor: View, page: Annotated[PageParams, Depends()], status: str | None = None,
                         supplier_id: int | None = None) -> Page[PurchaseOrderOut]:
    rows = service.list_purchase_orders(actor=actor, status=status, supplier_id=supplier_id, after_id=page.after_id,
                                        limit=page.limit + 1)
    return page.page([PurchaseOrderOut.of(r) for r in rows], lambda o: o.id)


@api.post("/purchase-orders", response_model=PurchaseOrderOut, status_code=201)
def create_purchase_order(body: PurchaseOrderIn,
                          actor: Annotated[Actor, Depends(requires("suppliers.edit"))]) -> PurchaseOrderOut:
    lines = [service.OrderLineInput(**line.model_dump()) for line in body.lines]
    return PurchaseOrderOut.of(service.create_purchase_order(
        actor=actor, supplier_id=body.supplier_id, lines=lines, note=body.note, ordered_on=body.ordered_on))


@api.get("/purchase-orders/{record_id}", response_model=PurchaseOrderOut)
def get_purchase_order(record_id: int, actor: View) -> PurchaseOrderOut:
    return PurchaseOrderOut.of(service.get_purchase_order(actor=actor, order_id=record_id))


@api.post("/purchase-orders/{record_id}/close", response_model=PurchaseOrderOut)
def close_purchase_order(record_id: int, body: ReasonIn,
                         actor: Annotated[Actor, Depends(requires("suppliers.edit"))]) -> PurchaseOrderOut:
    return PurchaseOrderOut.of(service.close_purchase_order(actor=actor, order_id=record_id,
                                                                        reason=body.reason))


@api.post("/purchase-orders/{record_id}/cancel", response_model=PurchaseOrderOut)
def cancel_purchase_order(record_id: int, body: ReasonIn,
                          actor: Annotated[Actor, Depends(requires("suppliers.edit"))]) -> PurchaseOrderOut:
    return PurchaseOrderOut.of(service.cancel_purchase_order(actor=actor, order_id=record_id,
                                                                         reason=body.reason))


# ---------------------------------------------------------------- receipts


@api.get("/receipts", response_model=Page[ReceiptOut])
def list_receipts(actor: View, page: Annotated[PageParams, Depends()],
                  order_id: int | None = None) -> Page[ReceiptOut]:
    rows = service.list_receipts(actor=actor, order_id=order_id, after_id=page.after_id, limit=page.limit + 1)
    return page.page([ReceiptOut.of(r) for r in rows], lambda r: r.id)


@api.post("/receipts", response_model=ReceiptOut, status_code=201)
def receive_delivery(body: ReceiptIn, actor: Annotated[Actor, Depends(requires("materials.receive"))]) -> ReceiptOut:
    lines = [service.ReceiptLineInput(**line.model_dump()) for line in body.lines]
    return ReceiptOut.of(service.receive_delivery(
        actor=actor, order_id=body.order_id, location_code=body.location_code, lines=lines,
        delivery_note=body.delivery_note, logger_id=body.logger_id, transport_min_c=body.transport_min_c,
        transport_max_c=body.transport_max_c))


@api.get("/receipts/{record_id}", response_model=ReceiptOut)
def get_receipt(record_id: int, actor: View) -> ReceiptOut:
    return ReceiptOut.of(service.get_receipt(actor=actor, receipt_id=record_id))


# ---------------------------------------------------------------- lots


@api.get("/lots", response_model=Page[LotOut])
def list_lots(actor: View, page: Annotated[PageParams, Depends()], state: str | None = None,
              material_code: str | None = None,
              expiring_within_days: int | None = None,
              flagged: Annotated[bool | None, Query(description="Only lots with (true) or without (false) "
                                                                "an arrival flag for QA")] = None) -> Page[LotOut]:
    rows = service.list_lots(actor=actor, state=state, material_code=material_code,
                             expiring_within_days=expiring_within_days, flagged=flagged, after_id=page.after_id,
                             limit=page.limit + 1)
    return page.page([LotOut.of(r) for r in rows], lambda lot: lot.id)


@api.get("/lots/scan", response_model=LotOut)
def find_by_scan(actor: View, code: Annotated[str, Query(min_length=1, max_length=100,
                                                         description="Lot or container number (the QR code)")]
                 ) -> LotOut:
    return LotOut.of(service.find_by_scan(actor=actor, code=code))


@api.get("/lots/{record_id}", response_model=LotOut)
def get_lot(record_id: int, actor: View) -> LotOut:
    return LotOut.of(service.get_lot(actor=actor, lot_id=record_id))


@api.post("/lots/{record_id}/qa-flag-assessment", response_model=LotOut)
def assess_qa_flag(record_id: int, body: SignedReasonIn,
                   actor: Annotated[Actor, Depends(requires("lots.release"))]) -> LotOut:
    return LotOut.of(service.assess_qa_flag(actor=actor, lot_id=record_id, password=body.password,
                                                        otp=body.otp, reason=body.reason))


@api.post("/lots/{record_id}/retest-date", response_model=LotOut)
def set_retest_date(record_id: int, body: RetestDateIn,
                    actor: Annotated[Actor, Depends(requires("lots.test"))]) -> LotOut:
    return LotOut.of(service.set_retest_date(actor=actor, lot_id=record_id, retest_on=body.retest_on,
                                                         reason=body.reason))


@api.post("/lots/{record_id}/short-dated-approval", response_model=LotOut)
def approve_short_dated_use(record_id: int, body: SignedReasonIn,
                            actor: Annotated[Actor, Depends(requires("lots.review"))]) -> LotOut:
    return LotOut.of(service.approve_short_dated_use(
        actor=actor, lot_id=record_id, password=body.password, otp=body.otp, reason=body.reason))


@api.get("/lots/{record_id}/labels.pdf", response_class=Response,
         responses={200: {"content": {"application/pdf": {}}}})
def lot_labels(record_id: int, actor: View,
               container: Annotated[list[str] | None, Query(description="Only these containers (repeatable); "
                                                                        "default: every one holding stock")] = None
               ) -> Response:
    # Each printing is recorded in the audit trail by the service (label reconciliation, EU GMP Part I 5.42).
    content = service.lot_labels_pdf(actor=actor, lot_id=record_id, container_numbers=container)
    return Response(content, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="lot-{record_id}-labels.pdf"'})


@api.get("/lots/{record_id}/movements", response_model=Page[MovementOut])
def lot_movements(record_id: int, actor: View, page: Annotated[PageParams, Depends()]) -> Page[MovementOut]:
    rows = service.list_movements(actor=actor, lot_id=record_id, after_id=page.after_id, limit=page.limit + 1)
    return page.page([MovementOut.of(r) for r in rows], lambda m: m.id)


@api.get("/lots/{record_id}/movements/export", response_class=Response, responses=SPREADSHEET_RESPONSES)
def export_lot_movements(record_id: int, actor: View, format: ExportFormat = "csv") -> Response:
    return _download(service.export_lot_movements(actor=actor, lot_id=record_id, fmt=format))


# ---------------------------------------------------------------- locations


@api.get("/locations", response_model=Page[LocationOut])
def list_locations(actor: View, page: Annotated[PageParams, Depends()], kind: str | None = None,
                   parent_id: int | None = None, active: bool | None = None) -> Page[LocationOut]:
    rows = service.list_locations(actor=actor, kind=kind, parent_id=parent_id, active=active,
                                  after_id=page.after_id, limit=page.limit + 1)
    return page.page([LocationOut.of(r) for r in rows], lambda loc: loc.id)


@api.post("/locations", response_model=LocationOut, status_code=201)
def create_location(body: LocationIn, actor: Annotated[Actor, Depends(requires("locations.manage"))]) -> LocationOut:
    return LocationOut.of(service.create_location(actor=actor, **body.model_dump()))


@api.get("/locations/{record_id}", response_model=LocationOut)
def get_location(record_id: int, actor: View) -> LocationOut:
    return LocationOut.of(service.get_location(actor=actor, location_id=record_id))


@api.patch("/locations/{record_id}", response_model=LocationOut)
def update_location(record_id: int, body: LocationRevisionIn,
                    actor: Annotated[Actor, Depends(requires("locations.manage"))]) -> LocationOut:
    return LocationOut.of(service.update_location(
        actor=actor, location_id=record_id, **body.model_dump(exclude_unset=True)))


# ---------------------------------------------------------------- stock movements (one route per kind)


@api.get("/stock/movements", response_model=Page[MovementOut])
def list_movements(actor: View, page: Annotated[PageParams, Depends()], lot_id: int | None = None,
                   material_code: str | None = None, kind: str | None = None,
                   override_pending: Annotated[bool | None, Query(description="FEFO overrides awaiting QA "
                                                                              "review")] = None
                   ) -> Page[MovementOut]:
    rows = service.list_movements(actor=actor, lot_id=lot_id, material_code=material_code, kind=kind,
                                  override_pending=override_pending, after_id=page.after_id, limit=page.limit + 1)
    return page.page([MovementOut.of(r) for r in rows], lambda m: m.id)


@api.post("/stock/movements/put-away", response_model=MovementOut, status_code=201)
def put_away(body: PutAwayIn, actor: Annotated[Actor, Depends(requires("stock.move"))]) -> MovementOut:
    return MovementOut.of(service.put_away(actor=actor, **body.model_dump()))


@api.post("/stock/movements/transfer", response_model=MovementOut, status_code=201)
def transfer_stock(body: PutAwayIn, actor: Annotated[Actor, Depends(requires("stock.move"))]) -> MovementOut:
    return MovementOut.of(service.transfer_stock(actor=actor, **body.model_dump()))


@api.post("/stock/movements/issue", response_model=MovementOut, status_code=201)
def issue_stock(body: IssueIn, actor: Annotated[Actor, Depends(requires("stock.issue"))]) -> MovementOut:
    # EU GMP Part I 5.61: only released, in-date stock leaves the warehouse; the service decides.
    return MovementOut.of(service.issue_stock(actor=actor, **body.model_dump()))


@api.post("/stock/movements/return", response_model=MovementOut, status_code=201)
def return_stock(body: ReturnIn, actor: Annotated[Actor, Depends(requires("stock.move"))]) -> MovementOut:
    return MovementOut.of(service.return_stock(actor=actor, **body.model_dump()))


@api.post("/stock/movements/adjustment", response_model=MovementOut, status_code=201)
def adjust_stock(body: AdjustmentIn, actor: Annotated[Actor, Depends(requires("stock.adjust"))]) -> MovementOut:
    return MovementOut.of(service.adjust_stock(actor=actor, **body.model_dump()))


@api.post("/stock/movements/sampling", response_model=MovementOut, status_code=201)
def sample_lot(body: SamplingIn, actor: Annotated[Actor, Depends(requires("stock.sample"))]) -> MovementOut:
    return MovementOut.of(service.sample_lot(actor=actor, **body.model_dump()))


@api.post("/stock/movements/destruction", response_model=MovementOut, status_code=201)
def destroy_stock(body: DestructionIn, actor: Annotated[Actor, Depends(requires("stock.adjust"))]) -> MovementOut:
    return MovementOut.of(service.destroy_stock(actor=actor, **body.model_dump()))


@api.post("/stock/movements/{record_id}/review", response_model=MovementOut)
def review_fefo_override(record_id: int, body: OverrideReviewIn,
                         actor: Annotated[Actor, Depends(requires("lots.review"))]) -> MovementOut:
    return MovementOut.of(service.review_fefo_override(actor=actor, movement_id=record_id,
                                                                   comment=body.comment))


# ---------------------------------------------------------------- stock on hand, allocation, reservations


@api.get("/stock/on-hand", response_model=list[OnHandOut])
def on_hand(actor: View, material_code: str | None = None, lot_id: int | None = None,
            location_code: str | None = None,
            group_by: Annotated[str, Query(description="lot, location or material")] = "lot") -> list[OnHandOut]:
    rows = service.on_hand(actor=actor, material_code=material_code, lot_id=lot_id, location_code=location_code,
                           group_by=group_by)
    return [OnHandOut.of(r) for r in rows]


@api.get("/stock/on-hand/export", response_class=Response, responses=SPREADSHEET_RESPONSES)
def export_on_hand(actor: View, format: ExportFormat = "csv", material_code: str | None = None,
                   location_code: str | None = None,
                   group_by: Annotated[str, Query(description="lot, location or material")] = "lot") -> Response:
    return _download(service.export_on_hand(actor=actor, fmt=format, material_code=material_code,
                                            location_code=location_code, group_by=group_by))


@api.post("/stock/allocate", response_model=AllocationOut)
def allocate(body: AllocateIn, actor: Annotated[Actor, Depends(requires("stock.issue"))]) -> AllocationOut:
    # FEFO (EU GMP Part I 5.63 / 药品GMP 第一百一十三条): the service orders the candidates.
    return AllocationOut.of(service.allocate(actor=actor, **body.model_dump()))


@api.post("/stock/reservations", response_model=AllocationLineOut, status_code=201)
def reserve_stock(body: ReservationIn, actor: Annotated[Actor, Depends(requires("stock.issue"))]) -> AllocationLineOut:
    return AllocationLineOut.of(service.reserve_stock(actor=actor, **body.model_dump()))


@api.post("/stock/reservations/{record_id}/cancel", status_code=204)
def cancel_reservation(record_id: int, body: ReasonIn,
                       actor: Annotated[Actor, Depends(requires("stock.issue"))]) -> Response:
    service.cancel_reservation(actor=actor, reservation_id=record_id, reason=body.reason)
    return Response(status_code=204)


@api.get("/stock/expiry-report", response_model=list[ExpiryRowOut], responses=SPREADSHEET_RESPONSES)
def expiry_report(actor: View, within_days: int = 90,
                  format: ReportFormat = "json") -> Any:
    if format == "json":
        return [ExpiryRowOut.of(r) for r in service.expiry_report(actor=actor, within_days=within_days)]
    return _download(service.export_expiry_report(actor=actor, fmt=format, within_days=within_days))


@api.post("/stock/opening-import", response_model=dict[str, int])
def import_opening_stock(actor: Annotated[Actor, Depends(requires("materials.import"))],
                         file: Annotated[UploadFile, File(description="CSV or Excel (.xlsx) opening stock")],
                         reason: Annotated[str, Form(max_length=2000)]) -> dict[str, int]:
    result = service.import_opening_stock(actor=actor, filename=file.filename or "", content=_upload(file),
                                          reason=reason)
    return dict(result)


# ---------------------------------------------------------------- cycle counts


@api.get("/cycle-counts", response_model=Page[CycleCountOut])
def list_cycle_counts(actor: View, page: Annotated[PageParams, Depends()],
                      state: str | None = None) -> Page[CycleCountOut]:
    rows = service.list_cycle_counts(actor=actor, state=state, after_id=page.after_id, limit=page.limit + 1)
    return page.page([CycleCountOut.of(r) for r in rows], lambda c: c.id)


@api.post("/cycle-counts", response_model=CycleCountOut, status_code=201)
def open_cycle_count(body: CycleCountIn, actor: Annotated[Actor, Depends(requires("stock.count"))]) -> CycleCountOut:
    return CycleCountOut.of(service.open_cycle_count(actor=actor, location_code=body.location_code))


@api.get("/cycle-counts/{record_id}", response_model=CycleCountOut)
def get_cycle_count(record_id: int, actor: View) -> CycleCountOut:
    return CycleCountOut.of(service.get_cycle_count(actor=actor, count_id=record_id))


@api.post("/cycle-counts/{record_id}/counts", response_model=CycleCountOut)
def record_count(record_id: int, body: CountIn,
                 actor: Annotated[Actor, Depends(requires("stock.count"))]) -> CycleCountOut:
    return CycleCountOut.of(service.record_count(
        actor=actor, count_id=record_id, container_number=body.container_number, counted=body.counted))
