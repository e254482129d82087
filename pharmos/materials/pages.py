"""Web pages of materials and the warehouse: master data, suppliers, orders, receiving, lots and stock.

Each handler parses the form, calls one service of ``pharmos.materials.service`` (detail pages
also ask the lifecycle which transitions the user may take) and renders. The rules, including
who may do what, live in the services; a refused call comes back as the same form with each
problem next to its field and the user's input kept.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse
from starlette.datastructures import UploadFile

from pharmos.api.policy import requires
from pharmos.compliance.lifecycle import apply_transition, available_transitions
from pharmos.compliance.signatures import MEANINGS
from pharmos.core.actor import Actor
from pharmos.core.errors import DomainError, FieldProblem, NotFound, ValidationFailed
from pharmos.materials import service
from pharmos.materials.lifecycle import COUNT_LIFECYCLE, LOT_LIFECYCLE, MATERIAL_LIFECYCLE
from pharmos.materials.storage import MATERIAL_TYPES, STORAGE_CONDITIONS
from pharmos.materials.units import BASE_UNITS, parse_quantity
from pharmos.web.forms import FormReader as SiteFormReader
from pharmos.web.forms import form_values, perform, refused_form, see_other
from pharmos.web.rendering import LIST_LIMIT, page_of_rows, render, translate

pages = APIRouter(include_in_schema=False)
Viewer = Annotated[Actor, Depends(requires("materials.view"))]
MaterialEditor = Annotated[Actor, Depends(requires("materials.edit"))]
Purchaser = Annotated[Actor, Depends(requires("suppliers.edit"))]
SupplierQualifier = Annotated[Actor, Depends(requires("suppliers.qualify"))]
Receiver = Annotated[Actor, Depends(requires("materials.receive"))]
Mover = Annotated[Actor, Depends(requires("stock.move"))]
Issuer = Annotated[Actor, Depends(requires("stock.issue"))]
Sampler = Annotated[Actor, Depends(requires("stock.sample"))]
Counter = Annotated[Actor, Depends(requires("stock.count"))]
LotReleaser = Annotated[Actor, Depends(requires("lots.release"))]
LotReviewer = Annotated[Actor, Depends(requires("lots.review"))]
LotTester = Annotated[Actor, Depends(requires("lots.test"))]
LocationKeeper = Annotated[Actor, Depends(requires("locations.manage"))]
Importer = Annotated[Actor, Depends(requires("materials.import"))]

PO_LINE_ROWS = 5  # empty order lines offered on the new-order form
EXPIRY_WINDOWS = (30, 60, 90)


# ---------------------------------------------------------------- reading forms


class FormReader(SiteFormReader):
    """The site's form reader plus the warehouse's quantities and pack units."""

    def quantity(self, name: str) -> Decimal:
        try:
            return parse_quantity(self.text(name), field=name)
        except ValidationFailed as exc:
            self.problems += exc.fields
            return Decimal(0)

    def pack_units(self, name: str) -> dict[str, Decimal]:
        """``box=100`` per line: the material's own units and how many base units each holds."""
        units: dict[str, Decimal] = {}
        for line in self.text(name).splitlines():
            if not line.strip():
                continue
            unit, sep, factor = line.partition("=")
            try:
                units[unit.strip()] = Decimal(factor.strip())
            except InvalidOperation:
                sep = ""
            if not sep or not unit.strip():
                self.problems.append(FieldProblem(name, "Write one pack unit per line as name=factor, "
                                                        "e.g. box=100."))
                return {}
        return units


def _without_prefix(exc: DomainError, prefix: str) -> DomainError:
    """The receiving form has one line: ``lines[0].quantity`` is shown at the field ``quantity``."""
    for problem in exc.fields:
        if problem.field.startswith(prefix):
            problem.field = problem.field[len(prefix):]
    return exc


def _page(request: Request, template: str, context: dict[str, Any], *, status: int = 200) -> Response:
    return render(request, template, {**_VOCABULARY, **context}, status=status)


def _refused(request: Request, exc: DomainError, template: str, context: dict[str, Any],
             values: dict[str, str]) -> Response:
    return refused_form(request, exc, template, {**_VOCABULARY, **context}, values)


_VOCABULARY: dict[str, Any] = {"material_types": MATERIAL_TYPES, "storage_conditions": STORAGE_CONDITIONS,
                               "base_units": BASE_UNITS, "meanings": MEANINGS,
                               "lot_states": LOT_LIFECYCLE.states, "material_states": MATERIAL_LIFECYCLE.states,
                               "count_states": COUNT_LIFECYCLE.states,
                               # Which states each step starts from: a detail page offers only the steps
                               # possible from the record's state (the others would all say "not possible").
                               "transition_sources": {lifecycle.collection: {t.name: t.source
                                                                            for t in lifecycle.transitions}
                                                      for lifecycle in (MATERIAL_LIFECYCLE, LOT_LIFECYCLE,
                                                                        COUNT_LIFECYCLE)}}


async def _transition(request: Request, *, actor: Actor, collection: str, record_id: int, name: str,
                      detail: Callable[..., dict[str, Any]], template: str, back: str) -> Response:
    """One lifecycle step from a detail page: signature and reason come from the step's own form."""
    values = await form_values(request)
    form = await request.form()
    try:
        await perform(apply_transition, actor=actor, collection=collection, record_id=record_id, name=name,
                      password=str(form.get("password") or "") or None, otp=values.get("otp") or None,
                      reason=values.get("reason") or None)
    except DomainError as exc:
        values["transition"] = name
        context = await perform(detail, actor=actor, record_id=record_id)
        return _refused(request, exc, template, context, values)
    return see_other(back)


# ---------------------------------------------------------------- material master


@pages.get("/materials", response_class=HTMLResponse)
def material_list(request: Request, actor: Viewer, state: str = "", type: str = "", q: str = "") -> Response:
    rows = service.list_materials(actor=actor, state=state or None, material_type=type or None, query=q or None,
                                  limit=LIST_LIMIT)
    return _page(request, "materials/materials.html", {"materials": rows, "state": state, "type": type,
                                                       "values": {"q": q}})


def _material_fields(reader: FormReader) -> dict[str, Any]:
    return {"name_zh": reader.text("name_zh"), "name_en": reader.text("name_en"),
            "material_type": reader.text("material_type"), "base_unit": reader.text("base_unit"),
            "storage_condition": reader.text("storage_condition"),
            "protect_from_light": reader.text("protect_from_light") == "on",
            "shelf_life_days": reader.integer("shelf_life_days"),
            "retest_interval_days": reader.integer("retest_interval_days"),
            "min_remaining_shelf_life_days": reader.integer("min_remaining_shelf_life_days", default=0),
            "sampling_plan": reader.text("sampling_plan"), "gmp_critical": reader.text("gmp_critical") == "on",
            "pack_units": reader.pack_units("pack_units")}


def _material_values(m: Any) -> dict[str, str]:
    return {"code": m.code, "name_zh": m.name_zh, "name_en": m.name_en, "material_type": m.material_type,
            "base_unit": m.base_unit, "storage_condition": m.storage_condition,
            "protect_from_light": "on" if m.protect_from_light else "",
            "shelf_life_days": "" if m.shelf_life_days is None else str(m.shelf_life_days),
            "retest_interval_days": "" if m.retest_interval_days is None else str(m.retest_interval_days),
            "min_remaining_shelf_life_days": str(m.min_remaining_shelf_life_days),
            "sampling_plan": m.sampling_plan, "gmp_critical": "on" if m.gmp_critical else "",
            "pack_units": "\n".join(f"{p.unit}={p.factor_to_base.normalize():f}" for p in m.pack_units)}


@pages.get("/materials/new", response_class=HTMLResponse)
def material_form(request: Request, actor: MaterialEditor, revise: int | None = None) -> Response:
    # A change to an approved material is a new draft version of the same code, starting from it.
    values = (_material_values(service.get_material(actor=actor, material_id=revise)) if revise is not None
              else {"gmp_critical": "on", "base_unit": "kg"})
    return _page(request, "materials/material_form.html", {"material": None, "values": values})


@pages.post("/materials/new", response_class=HTMLResponse)
async def material_draft(request: Request, actor: MaterialEditor) -> Response:
    values = await form_values(request)
    reader = FormReader(values)
    try:
        fields = _material_fields(reader)
        reader.check()
        row = await perform(service.draft_material, actor=actor, code=reader.text("code"), **fields)
    except DomainError as exc:
        return _refused(request, exc, "materials/material_form.html", {"material": None}, values)
    return see_other(f"/materials/{row.id}")


@pages.get("/materials/export")
def material_export(actor: Viewer, format: str = "csv", state: str = "") -> Response:
    # Declared before /materials/{material_id}: "export" is not a material id.
    content, media_type, filename = service.export_materials(actor=actor, fmt=format, state=state or None)
    return Response(content, media_type=media_type,
                    headers={"content-disposition": f'attachment; filename="{filename}"'})


# ---------------------------------------------------------------- spreadsheet import (material master, opening stock)
# Declared before /materials/{material_id} so "import" is not read as a material id.

IMPORTS: dict[str, Callable[..., service.ImportResult]] = {"materials": service.import_materials,
                                                           "opening-stock": service.import_opening_stock}
IMPORT_COLUMNS = {"materials": (service.MATERIAL_REQUIRED,
                                service.MATERIAL_COLUMNS[len(service.MATERIAL_REQUIRED):]),
                  "opening-stock": (service.OPENING_STOCK_REQUIRED,
                                    service.OPENING_STOCK_COLUMNS[len(service.OPENING_STOCK_REQUIRED):])}
ROW_FIELD = re.compile(r"row (?P<row>\d+): (?P<column>.+)")


_IMPORT_CONTEXT = {"columns": IMPORT_COLUMNS, "max_upload_mb": service.MAX_UPLOAD_BYTES // (1024 * 1024)}


def _import_page(request: Request, context: dict[str, Any]) -> Response:
    return _page(request, "materials/import.html", {**_IMPORT_CONTEXT, "values": {}, **context})


def _row_problems(request: Request, exc: DomainError) -> list[tuple[str, str, str]]:
    """Every problem of the file as (row, column, message); the form's own fields show at the field."""
    rows = []
    for problem in exc.fields:
        if problem.field in ("file", "reason"):
            continue
        found = ROW_FIELD.fullmatch(problem.field)
        row, column = (found["row"], found["column"]) if found else ("", problem.field)
        rows.append((row, column, translate(request, problem.message)))
    return rows


def _created_links(kind: str, created: tuple[str, ...]) -> list[tuple[str, str]]:
    """Each created record with a link: materials by code ("RM-0001 v2"), lots through the scan lookup."""
    if kind == "materials":
        return [(label, "/materials?" + urlencode({"q": label.rsplit(" v", 1)[0]})) for label in created]
    return [(number, "/scan?" + urlencode({"code": number})) for number in created]


@pages.get("/materials/import", response_class=HTMLResponse)
def import_form(request: Request, actor: Importer) -> Response:
    return _import_page(request, {})


@pages.get("/materials/import/{kind}-template.csv")
def import_template(kind: str, actor: Importer) -> Response:
    """An empty file with the import's column names in row 1: the quickest correct start."""
    if kind not in IMPORT_COLUMNS:
        raise NotFound(f"No import {kind!r}.")
    required, optional = IMPORT_COLUMNS[kind]
    # The BOM makes Excel (zh-CN Windows) open the file as UTF-8.
    content = (",".join((*required, *optional)) + "\r\n").encode("utf-8-sig")
    return Response(content, media_type="text/csv; charset=utf-8",
                    headers={"content-disposition": f'attachment; filename="{kind}-template.csv"'})


async def _import(request: Request, actor: Actor, kind: str) -> Response:
    values = await form_values(request)
    values["form"] = kind
    upload = (await request.form()).get("file")
    try:
        # Missing file and missing reason are both named at once, before the service reads anything.
        problems = []
        if not isinstance(upload, UploadFile) or not upload.filename:
            problems.append(FieldProblem("file", "Choose a .csv or .xlsx file."))
        if not values.get("reason"):
            problems.append(FieldProblem("reason", "A reason for the change is required."))
        if problems:
            raise ValidationFailed("The form has errors.", problems)
        assert isinstance(upload, UploadFile)
        # Transport hygiene only, as on the API; whether the rows are acceptable is the service's rule.
        content = await upload.read(service.MAX_UPLOAD_BYTES + 1)
        if len(content) > service.MAX_UPLOAD_BYTES:
            raise ValidationFailed.on("file", f"The file is larger than "
                                              f"{service.MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
        result = await perform(IMPORTS[kind], actor=actor, filename=upload.filename or "", content=content,
                               reason=values["reason"])
    except DomainError as exc:
        return _refused(request, exc, "materials/import.html",
                        {**_IMPORT_CONTEXT, "problems": _row_problems(request, exc),
                         "filename": getattr(upload, "filename", "")}, values)
    return _import_page(request, {"done": kind, "result": result,
                                  "created": _created_links(kind, result.created),
                                  "filename": upload.filename})


@pages.post("/materials/import/materials", response_class=HTMLResponse)
async def import_materials(request: Request, actor: Importer) -> Response:
    return await _import(request, actor, "materials")


@pages.post("/materials/import/opening-stock", response_class=HTMLResponse)
async def import_opening_stock(request: Request, actor: Importer) -> Response:
    return await _import(request, actor, "opening-stock")


def _material_detail(*, actor: Actor, record_id: int) -> dict[str, Any]:
    return {"material": service.get_material(actor=actor, material_id=record_id),
            "transitions": available_transitions(actor=actor, collection=MATERIAL_LIFECYCLE.collection,
                                                 record_id=record_id)}


@pages.get("/materials/{material_id}", response_class=HTMLResponse)
def material_detail(request: Request, material_id: int, actor: Viewer) -> Response:
    return _page(request, "materials/material_detail.html", _material_detail(actor=actor, record_id=material_id))


@pages.get("/materials/{material_id}/edit", response_class=HTMLResponse)
def material_edit_form(request: Request, material_id: int, actor: MaterialEditor) -> Response:
    m = service.get_material(actor=actor, material_id=material_id)
    return _page(request, "materials/material_form.html", {"material": m, "values": _material_values(m)})


@pages.post("/materials/{material_id}/edit", response_class=HTMLResponse)
async def material_revise(request: Request, material_id: int, actor: MaterialEditor) -> Response:
    values = await form_values(request)
    reader = FormReader(values)
    try:
        fields = _material_fields(reader)
        reader.check()
        await perform(service.revise_material_draft, actor=actor, material_id=material_id,
                      reason=reader.text("reason"), **fields)
    except DomainError as exc:
        material = await perform(service.get_material, actor=actor, material_id=material_id)
        return _refused(request, exc, "materials/material_form.html", {"material": material}, values)
    return see_other(f"/materials/{material_id}")


@pages.post("/materials/{material_id}/transitions/{name}", response_class=HTMLResponse)
async def material_transition(request: Request, material_id: int, name: str, actor: Viewer) -> Response:
    return await _transition(request, actor=actor, collection=MATERIAL_LIFECYCLE.collection, record_id=material_id,
                             name=name, detail=_material_detail, template="materials/material_detail.html",
                             back=f"/materials/{material_id}")


# ---------------------------------------------------------------- suppliers and the approved supplier list


@pages.get("/suppliers", response_class=HTMLResponse)
def supplier_list(request: Request, actor: Viewer, q: str = "") -> Response:
    rows = service.list_suppliers(actor=actor, query=q or None, limit=LIST_LIMIT)
    return _page(request, "materials/suppliers.html", {"suppliers": rows, "values": {"q": q}})


@pages.get("/suppliers/new", response_class=HTMLResponse)
def supplier_form(request: Request, actor: Purchaser) -> Response:
    return _page(request, "materials/supplier_new.html", {"values": {"kind": "manufacturer"}})


@pages.post("/suppliers/new", response_class=HTMLResponse)
async def supplier_create(request: Request, actor: Purchaser) -> Response:
    values = await form_values(request)
    reader = FormReader(values)
    try:
        last_audit_on, next_audit_due = reader.date("last_audit_on"), reader.date("next_audit_due")
        reader.check()
        row = await perform(service.create_supplier, actor=actor, code=reader.text("code"),
                            name=reader.text("name"), name_en=reader.text("name_en"), kind=reader.text("kind"),
                            address=reader.text("address"), contact=reader.text("contact"),
                            last_audit_on=last_audit_on, next_audit_due=next_audit_due)
    except DomainError as exc:
        return _refused(request, exc, "materials/supplier_new.html", {}, values)
    return see_other(f"/suppliers/{row.id}")


@pages.get("/suppliers/{supplier_id}", response_class=HTMLResponse)
def supplier_detail(request: Request, supplier_id: int, actor: Viewer) -> Response:
    supplier = service.get_supplier(actor=actor, supplier_id=supplier_id)
    return _page(request, "materials/supplier_detail.html", {"supplier": supplier})


@pages.post("/suppliers/{supplier_id}/approvals", response_class=HTMLResponse)
async def supplier_approval(request: Request, supplier_id: int, actor: SupplierQualifier) -> Response:
    values = await form_values(request)
    try:
        await perform(service.set_supplier_approval, actor=actor, supplier_id=supplier_id,
                      material_code=values.get("material_code", ""), status=values.get("status", ""),
                      note=values.get("note", ""), reason=values.get("reason", ""))
    except DomainError as exc:
        supplier = await perform(service.get_supplier, actor=actor, supplier_id=supplier_id)
        return _refused(request, exc, "materials/supplier_detail.html", {"supplier": supplier}, values)
    return see_other(f"/suppliers/{supplier_id}")


# ---------------------------------------------------------------- purchase orders


@pages.get("/purchase-orders", response_class=HTMLResponse)
def order_list(request: Request, actor: Viewer, status: str = "") -> Response:
    rows = service.list_purchase_orders(actor=actor, status=status or None, limit=LIST_LIMIT)
    return _page(request, "materials/orders.html", {"orders": rows, "status": status})


def _order_choices(*, actor: Actor) -> dict[str, Any]:
    # The choices of the form: active suppliers and the materials that may be ordered (approved).
    return {"suppliers": service.list_suppliers(actor=actor, active=True, limit=500),
            "materials": service.list_materials(actor=actor, state="approved", limit=500),
            "line_rows": range(PO_LINE_ROWS)}


@pages.get("/purchase-orders/new", response_class=HTMLResponse)
def order_form(request: Request, actor: Purchaser, supplier: str = "") -> Response:
    return _page(request, "materials/order_new.html", {**_order_choices(actor=actor),
                                                       "values": {"supplier_id": supplier}})


@pages.post("/purchase-orders/new", response_class=HTMLResponse)
async def order_create(request: Request, actor: Purchaser) -> Response:
    values = await form_values(request)
    reader = FormReader(values)
    try:
        supplier_id = reader.integer("supplier_id")
        if supplier_id is None:
            reader.problems.append(FieldProblem("supplier_id", "Choose a supplier."))
        lines = []
        for i in range(PO_LINE_ROWS):
            if not reader.text(f"lines[{i}].material_code"):
                continue
            # Quantities go to the service as typed: it names every problem of every line at once.
            lines.append(service.OrderLineInput(
                material_code=reader.text(f"lines[{i}].material_code"),
                quantity=reader.text(f"lines[{i}].quantity"), unit=reader.text(f"lines[{i}].unit"),
                due_on=reader.date(f"lines[{i}].due_on"),
                tolerance_pct=reader.text(f"lines[{i}].tolerance_pct") or Decimal(10)))
        if not lines:
            reader.problems.append(FieldProblem("lines[0].material_code", "An order needs at least one line."))
        reader.check()
        row = await perform(service.create_purchase_order, actor=actor, supplier_id=supplier_id, lines=lines,
                            note=reader.text("note"), ordered_on=reader.date("ordered_on"))
    except DomainError as exc:
        context = await perform(_order_choices, actor=actor)
        return _refused(request, exc, "materials/order_new.html", context, values)
    return see_other(f"/purchase-orders/{row.id}")


def _order_detail(*, actor: Actor, record_id: int) -> dict[str, Any]:
    return {"order": service.get_purchase_order(actor=actor, order_id=record_id)}


@pages.get("/purchase-orders/{order_id}", response_class=HTMLResponse)
def order_detail(request: Request, order_id: int, actor: Viewer) -> Response:
    return _page(request, "materials/order_detail.html", _order_detail(actor=actor, record_id=order_id))


@pages.post("/purchase-orders/{order_id}/{action}", response_class=HTMLResponse)
async def order_close(request: Request, order_id: int, action: str, actor: Purchaser) -> Response:
    values = await form_values(request)
    step = {"close": service.close_purchase_order, "cancel": service.cancel_purchase_order}.get(action)
    if step is None:
        raise NotFound(f"No action {action!r} on purchase orders.")
    try:
        await perform(step, actor=actor, order_id=order_id, reason=values.get("reason", ""))
    except DomainError as exc:
        values["action"] = action
        context = await perform(_order_detail, actor=actor, record_id=order_id)
        return _refused(request, exc, "materials/order_detail.html", context, values)
    return see_other(f"/purchase-orders/{order_id}")


# ---------------------------------------------------------------- receiving (barcode-scanner friendly)


def _receiving_choices(*, actor: Actor, order_ref: str) -> dict[str, Any]:
    """The open orders, the one scanned or chosen (by number or id), and the receiving bins."""
    open_orders = service.list_purchase_orders(actor=actor, status="open", limit=500)
    ref = order_ref.strip()
    # A scanned order number is looked up, not searched for among the listed ones (there may be more).
    found = (service.list_purchase_orders(actor=actor, status="open", number=ref, limit=1) if ref and not ref.isdigit()
             else [o for o in open_orders if str(o.id) == ref])
    chosen = found[0] if found else None
    return {"open_orders": open_orders, "order": chosen,
            "bins": service.list_locations(actor=actor, kind="bin", active=True)}


@pages.get("/receiving", response_class=HTMLResponse)
def receiving_form(request: Request, actor: Receiver, order: str = "") -> Response:
    context = _receiving_choices(actor=actor, order_ref=order)
    values = {"order": order, "containers": "1"}
    if order and context["order"] is None:
        # A scanned number that is not an open order: say so at the field, like any other input problem.
        return _page(request, "materials/receiving.html", {
            **context, "values": values,
            "errors": {"order": translate(request, "No open purchase order with this number.")}}, status=404)
    if context["order"] is not None and len(context["order"].lines) == 1:
        values["order_line_id"] = str(context["order"].lines[0].id)
        values["unit"] = context["order"].lines[0].unit
    return _page(request, "materials/receiving.html", {**context, "values": values})


@pages.post("/receiving", response_class=HTMLResponse)
async def receiving_submit(request: Request, actor: Receiver) -> Response:
    values = await form_values(request)
    reader = FormReader(values)
    try:
        order_id = reader.integer("order_id")
        line_id = reader.integer("order_line_id")
        if line_id is None:
            reader.problems.append(FieldProblem("order_line_id", "Choose the order line being received."))
        # Quantities and temperatures go to the service as typed: it names every problem at once.
        line = service.ReceiptLineInput(
            order_line_id=line_id or 0, supplier_lot=reader.text("supplier_lot"),
            expires_on=reader.date("expires_on"), quantity=reader.text("quantity"), unit=reader.text("unit"),
            containers=reader.integer("containers", default=1), manufactured_on=reader.date("manufactured_on"),
            retest_on=reader.date("retest_on"), over_tolerance_reason=reader.text("over_tolerance_reason"))
        reader.check()
        receipt = await perform(service.receive_delivery, actor=actor, order_id=order_id or 0,
                                location_code=reader.text("location_code"), lines=[line],
                                delivery_note=reader.text("delivery_note"), logger_id=reader.text("logger_id"),
                                transport_min_c=reader.text("transport_min_c") or None,
                                transport_max_c=reader.text("transport_max_c") or None)
    except DomainError as exc:
        context = await perform(_receiving_choices, actor=actor, order_ref=values.get("order_id", ""))
        return _refused(request, _without_prefix(exc, "lines[0]."), "materials/receiving.html", context, values)
    return see_other(f"/lots/{receipt.lots[0].id}?received={receipt.number}")


# ---------------------------------------------------------------- lots


@pages.get("/lots", response_class=HTMLResponse)
def lot_list(request: Request, actor: Viewer, state: str = "", flagged: str = "", material: str = "",
             expiring: str = "", after: int | None = None) -> Response:
    rows = service.list_lots(actor=actor, state=state or None, material_code=material or None,
                             flagged=True if flagged else None,
                             expiring_within_days=int(expiring) if expiring.isdigit() else None, after_id=after,
                             limit=LIST_LIMIT + 1)
    lots, next_page = page_of_rows(request, rows)
    return _page(request, "materials/lots.html", {"lots": lots, "next_page": next_page, "state": state,
                                                  "flagged": flagged,
                                                  "values": {"material": material, "expiring": expiring}})


def _lot_detail(*, actor: Actor, record_id: int) -> dict[str, Any]:
    lot = service.get_lot(actor=actor, lot_id=record_id)
    return {"lot": lot,
            "transitions": available_transitions(actor=actor, collection=LOT_LIFECYCLE.collection,
                                                 record_id=record_id),
            "movements": service.list_movements(actor=actor, lot_id=record_id, limit=LIST_LIMIT)}


@pages.get("/lots/{lot_id}", response_class=HTMLResponse)
def lot_detail(request: Request, lot_id: int, actor: Viewer, received: str = "") -> Response:
    return _page(request, "materials/lot_detail.html", {**_lot_detail(actor=actor, record_id=lot_id),
                                                        "received": received})


@pages.post("/lots/{lot_id}/transitions/{name}", response_class=HTMLResponse)
async def lot_transition(request: Request, lot_id: int, name: str, actor: Viewer) -> Response:
    return await _transition(request, actor=actor, collection=LOT_LIFECYCLE.collection, record_id=lot_id, name=name,
                             detail=_lot_detail, template="materials/lot_detail.html", back=f"/lots/{lot_id}")


async def _lot_form(request: Request, lot_id: int, actor: Actor, form: str,
                    call: Callable[[FormReader], Any]) -> Response:
    """A stock or QA form on the lot page: on refusal the lot page comes back with that form's errors."""
    values = await form_values(request)
    reader = FormReader(values)
    try:
        await perform(call, reader=reader)
    except DomainError as exc:
        values["form"] = form
        context = await perform(_lot_detail, actor=actor, record_id=lot_id)
        return _refused(request, exc, "materials/lot_detail.html", context, values)
    return see_other(f"/lots/{lot_id}#{form}")


@pages.post("/lots/{lot_id}/put-away", response_class=HTMLResponse)
async def lot_put_away(request: Request, lot_id: int, actor: Mover) -> Response:
    def call(reader: FormReader) -> Any:
        # A container in the receiving bay is put away; one already in a bin is transferred.
        step = service.put_away if reader.text("kind") != "transfer" else service.transfer_stock
        return step(actor=actor, container_number=reader.text("container_number"),
                    to_location_code=reader.text("to_location_code"), reason=reader.text("reason"))
    return await _lot_form(request, lot_id, actor, "put-away", call)


@pages.post("/lots/{lot_id}/issue", response_class=HTMLResponse)
async def lot_issue(request: Request, lot_id: int, actor: Issuer) -> Response:
    def call(reader: FormReader) -> Any:
        quantity = reader.quantity("quantity")
        reader.check()
        return service.issue_stock(actor=actor, container_number=reader.text("container_number"), quantity=quantity,
                                   unit=reader.text("unit"), reference=reader.text("reference"),
                                   fefo_override_reason=reader.text("fefo_override_reason"))
    return await _lot_form(request, lot_id, actor, "issue", call)


@pages.post("/lots/{lot_id}/sample", response_class=HTMLResponse)
async def lot_sample(request: Request, lot_id: int, actor: Sampler) -> Response:
    def call(reader: FormReader) -> Any:
        quantity = reader.quantity("quantity")
        reader.check()
        return service.sample_lot(actor=actor, container_number=reader.text("container_number"), quantity=quantity,
                                  unit=reader.text("unit"), reason=reader.text("reason") or "QC sampling",
                                  reference=reader.text("reference"))
    return await _lot_form(request, lot_id, actor, "sample", call)


@pages.post("/lots/{lot_id}/assess-flag", response_class=HTMLResponse)
async def lot_assess_flag(request: Request, lot_id: int, actor: LotReleaser) -> Response:
    def call(reader: FormReader) -> Any:
        return service.assess_qa_flag(actor=actor, lot_id=lot_id, password=reader.values.get("password", ""),
                                      otp=reader.text("otp") or None,
                                      reason=reader.text("reason"))
    return await _lot_form(request, lot_id, actor, "assess-flag", call)


@pages.post("/lots/{lot_id}/short-dated-use", response_class=HTMLResponse)
async def lot_short_dated(request: Request, lot_id: int, actor: LotReviewer) -> Response:
    def call(reader: FormReader) -> Any:
        return service.approve_short_dated_use(actor=actor, lot_id=lot_id, password=reader.values.get("password", ""),
                                               otp=reader.text("otp") or None, reason=reader.text("reason"))
    return await _lot_form(request, lot_id, actor, "short-dated-use", call)


@pages.post("/lots/{lot_id}/retest-date", response_class=HTMLResponse)
async def lot_retest_date(request: Request, lot_id: int, actor: LotTester) -> Response:
    def call(reader: FormReader) -> Any:
        retest_on = reader.date("retest_on")
        if retest_on is None and not reader.problems:
            reader.problems.append(FieldProblem("retest_on", "Use a date such as 2026-03-11."))
        reader.check()
        return service.set_retest_date(actor=actor, lot_id=lot_id, retest_on=retest_on, reason=reader.text("reason"))
    return await _lot_form(request, lot_id, actor, "retest-date", call)


@pages.get("/lots/{lot_id}/labels.pdf")
def lot_labels(lot_id: int, actor: Viewer) -> Response:
    pdf = service.lot_labels_pdf(actor=actor, lot_id=lot_id)
    # Inline: the browser's PDF viewer opens it and prints on the label printer.
    return Response(pdf, media_type="application/pdf",
                    headers={"content-disposition": f'inline; filename="lot-{lot_id}-labels.pdf"'})


@pages.get("/scan", response_class=HTMLResponse)
def scan(request: Request, actor: Viewer, code: str = "") -> Response:
    if not code.strip():
        return _page(request, "materials/scan.html", {})
    try:
        lot = service.find_by_scan(actor=actor, code=code.strip())
    except NotFound as exc:
        return _page(request, "materials/scan.html", {"values": {"code": code},
                                                      "errors": {"code": translate(request, exc.message)}},
                     status=404)
    return see_other(f"/lots/{lot.id}")


# ---------------------------------------------------------------- stock


@pages.get("/stock", response_class=HTMLResponse)
def stock_on_hand(request: Request, actor: Viewer, group_by: str = "lot", material: str = "",
                  location: str = "") -> Response:
    try:
        rows = service.on_hand(actor=actor, material_code=material or None, location_code=location or None,
                               group_by=group_by)
    except ValidationFailed as exc:
        return _refused(request, exc, "materials/stock.html", {"rows": [], "group_by": group_by},
                        {"material": material, "location": location})
    return _page(request, "materials/stock.html", {"rows": rows, "group_by": group_by,
                                                   "values": {"material": material, "location": location}})


@pages.get("/stock/export")
def stock_export(actor: Viewer, format: str = "csv", group_by: str = "lot", material: str = "",
                 location: str = "") -> Response:
    content, media_type, filename = service.export_on_hand(actor=actor, fmt=format, group_by=group_by,
                                                           material_code=material or None,
                                                           location_code=location or None)
    return Response(content, media_type=media_type,
                    headers={"content-disposition": f'attachment; filename="{filename}"'})


@pages.get("/stock/movements", response_class=HTMLResponse)
def movement_list(request: Request, actor: Viewer, material: str = "", kind: str = "", pending: str = "",
                  lot: str = "", after: int | None = None) -> Response:
    rows = service.list_movements(actor=actor, material_code=material or None, kind=kind or None,
                                  lot_id=int(lot) if lot.isdigit() else None,
                                  override_pending=True if pending else None, after_id=after, limit=LIST_LIMIT + 1)
    movements, next_page = page_of_rows(request, rows)
    return _page(request, "materials/movements.html", {"movements": movements, "next_page": next_page,
                                                       "kind": kind, "pending": pending,
                                                       "values": {"material": material, "lot": lot}})


@pages.post("/stock/movements/{movement_id}/review", response_class=HTMLResponse)
async def movement_review(request: Request, movement_id: int, actor: LotReviewer) -> Response:
    values = await form_values(request)
    try:
        await perform(service.review_fefo_override, actor=actor, movement_id=movement_id,
                      comment=values.get("comment", ""))
    except DomainError as exc:
        rows = await perform(service.list_movements, actor=actor, override_pending=True, limit=LIST_LIMIT)
        values["movement_id"] = str(movement_id)
        return _refused(request, exc, "materials/movements.html", {"movements": rows, "kind": "", "pending": "1"},
                        values)
    return see_other("/stock/movements?pending=1")


def _expiry_dashboard(*, actor: Actor) -> dict[str, Any]:
    rows = service.expiry_report(actor=actor, within_days=max(EXPIRY_WINDOWS))
    # Buckets for the eye: expired, then the 30/60/90-day windows, each row in its nearest window.
    expired = [r for r in rows if r.days_to_expiry <= 0]
    windows = []
    lower = 0
    for upper in EXPIRY_WINDOWS:
        windows.append((upper, [r for r in rows if lower < r.days_to_expiry <= upper]))
        lower = upper
    retest = [r for r in rows if r.days_to_retest is not None and r.days_to_retest <= max(EXPIRY_WINDOWS)]
    return {"expired": expired, "windows": windows, "retest_due": retest,
            "flagged": service.list_lots(actor=actor, flagged=True, limit=LIST_LIMIT)}


@pages.get("/stock/expiry", response_class=HTMLResponse)
def expiry_dashboard(request: Request, actor: Viewer) -> Response:
    return _page(request, "materials/expiry.html", _expiry_dashboard(actor=actor))


# ---------------------------------------------------------------- locations


@pages.get("/locations", response_class=HTMLResponse)
def location_tree(request: Request, actor: Viewer) -> Response:
    rows = service.list_locations(actor=actor, limit=5000)
    # Site → warehouse → zone → bin: the path orders a depth-first walk of the tree.
    return _page(request, "materials/locations.html", {"locations": sorted(rows, key=lambda r: r.path)})


@pages.post("/locations", response_class=HTMLResponse)
async def location_create(request: Request, actor: LocationKeeper) -> Response:
    values = await form_values(request)
    try:
        await perform(service.create_location, actor=actor, code=values.get("code", ""), name=values.get("name", ""),
                      kind=values.get("kind", ""), parent_code=values.get("parent_code") or None,
                      storage_class=values.get("storage_class", ""),
                      light_protected=values.get("light_protected") == "on",
                      status_zone=values.get("status_zone", ""))
    except DomainError as exc:
        rows = await perform(service.list_locations, actor=actor, limit=5000)
        return _refused(request, exc, "materials/locations.html",
                        {"locations": sorted(rows, key=lambda r: r.path)}, values)
    return see_other("/locations")


# ---------------------------------------------------------------- cycle counts


@pages.get("/cycle-counts", response_class=HTMLResponse)
def count_list(request: Request, actor: Viewer, state: str = "") -> Response:
    rows = service.list_cycle_counts(actor=actor, state=state or None)
    return _page(request, "materials/counts.html", {"counts": rows, "state": state})


@pages.post("/cycle-counts", response_class=HTMLResponse)
async def count_open(request: Request, actor: Counter) -> Response:
    values = await form_values(request)
    try:
        row = await perform(service.open_cycle_count, actor=actor, location_code=values.get("location_code", ""))
    except DomainError as exc:
        rows = await perform(service.list_cycle_counts, actor=actor)
        return _refused(request, exc, "materials/counts.html", {"counts": rows, "state": ""}, values)
    return see_other(f"/cycle-counts/{row.id}")


def _count_detail(*, actor: Actor, record_id: int) -> dict[str, Any]:
    return {"count": service.get_cycle_count(actor=actor, count_id=record_id),
            "transitions": available_transitions(actor=actor, collection=COUNT_LIFECYCLE.collection,
                                                 record_id=record_id)}


@pages.get("/cycle-counts/{count_id}", response_class=HTMLResponse)
def count_detail(request: Request, count_id: int, actor: Viewer) -> Response:
    return _page(request, "materials/count_detail.html", _count_detail(actor=actor, record_id=count_id))


@pages.post("/cycle-counts/{count_id}/lines", response_class=HTMLResponse)
async def count_record(request: Request, count_id: int, actor: Counter) -> Response:
    values = await form_values(request)
    reader = FormReader(values)
    try:
        counted = reader.number("counted")
        if counted is None and not reader.problems:
            reader.problems.append(FieldProblem("counted", "Enter the counted quantity."))
        reader.check()
        await perform(service.record_count, actor=actor, count_id=count_id,
                      container_number=reader.text("container_number"), counted=counted)
    except DomainError as exc:
        context = await perform(_count_detail, actor=actor, record_id=count_id)
        return _refused(request, exc, "materials/count_detail.html", context, values)
    return see_other(f"/cycle-counts/{count_id}")


@pages.post("/cycle-counts/{count_id}/transitions/{name}", response_class=HTMLResponse)
async def count_transition(request: Request, count_id: int, name: str, actor: Viewer) -> Response:
    return await _transition(request, actor=actor, collection=COUNT_LIFECYCLE.collection, record_id=count_id,
                             name=name, detail=_count_detail, template="materials/count_detail.html",
                             back=f"/cycle-counts/{count_id}")
