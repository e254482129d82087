"""Spreadsheet exchange: CSV/Excel exports, material master and opening-stock imports (all or nothing)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from pharmos.compliance.audit import AuditEntry
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today
from pharmos.core.db import read_session
from pharmos.core.errors import PermissionDenied, ValidationFailed
from pharmos.materials import service as materials
from pharmos.materials.exchange import MATERIAL_COLUMNS, OPENING_STOCK_REFERENCE
from pharmos.materials.models import Container, Lot, Material, StockMovement
from tests.materials.factories import (
    approved_material,
    approved_supplier,
    location_tree,
    received_lot,
    warehouse_user,
)

# Service rules: SQLite is enough; this module's API tests run on both back-ends.
pytestmark = pytest.mark.sqlite_only

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _csv_rows(content: bytes) -> list[dict[str, str]]:
    assert content.startswith(b"\xef\xbb\xbf"), "Excel needs the UTF-8 BOM to read Chinese"
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))


def _xlsx_rows(content: bytes) -> list[dict[str, Any]]:
    sheet = load_workbook(io.BytesIO(content)).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    header = [str(h) for h in rows[0]]
    return [dict(zip(header, row, strict=True)) for row in rows[1:]]


def _csv_file(rows: list[list[Any]], encoding: str = "utf-8-sig") -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode(encoding)


def _xlsx_file(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _counts() -> dict[str, int]:
    with read_session() as session:
        return {name: int(session.scalar(select(func.count()).select_from(model)) or 0)
                for name, model in (("materials", Material), ("lots", Lot), ("containers", Container),
                                    ("movements", StockMovement), ("audit", AuditEntry))}


def _fields(error: ValidationFailed) -> dict[str, str]:
    return {p.field: p.message for p in error.fields}


@pytest.fixture
def warehouse(site: dict[str, Actor]) -> dict[str, Actor]:
    """A warehouse clerk with locations; RM-0001 (15–25 °C, kg, drum = 25 kg) and CM-0002 (2–8 °C) approved."""
    clerk = warehouse_user(site)
    location_tree(clerk)
    approved_material(clerk, site["qa.li"], code="RM-0001", name_zh="氯化钠", name_en="Sodium chloride",
                      pack_units={"drum": Decimal(25)}, retest_interval_days=180)
    approved_material(clerk, site["qa.li"], code="CM-0002", name_zh="CHO培养基", storage_condition="2-8C",
                      base_unit="L")
    approved_supplier(clerk, site["qa.li"], ["RM-0001", "CM-0002"])
    return {**site, "clerk": clerk}


# ---------------------------------------------------------------- exports


def test_on_hand_exports_to_csv_with_bom_and_to_excel_with_the_same_rows(warehouse: dict[str, Actor]) -> None:
    # given: two lots of RM-0001
    supplier = materials.list_suppliers(actor=warehouse["clerk"])[0]
    first = received_lot(warehouse, material_code="RM-0001", supplier_id=supplier.id, quantity="12.5",
                         containers=2, receiver=warehouse["clerk"])
    second = received_lot(warehouse, material_code="RM-0001", supplier_id=supplier.id, quantity="3",
                          receiver=warehouse["clerk"], expires_on=site_today() + timedelta(days=100))
    viewer = warehouse["viewer.chen"]

    # when
    content, media_type, filename = materials.export_on_hand(actor=viewer, fmt="csv", material_code="RM-0001")
    excel, excel_type, excel_name = materials.export_on_hand(actor=viewer, fmt="xlsx", material_code="RM-0001")

    # then
    assert media_type.startswith("text/csv") and filename.endswith(".csv")
    rows = _csv_rows(content)
    assert [r["lot_number"] for r in rows] == [second.number, first.number]  # earliest expiry first
    assert rows[1]["material_name"] == "氯化钠"
    assert rows[1]["on_hand"] == "12.5" and rows[1]["containers"] == "2" and rows[1]["unit"] == "kg"
    assert rows[1]["lot_state"] == "quarantine"
    assert excel_type == XLSX and excel_name.endswith(".xlsx")
    sheet = _xlsx_rows(excel)
    assert [r["lot_number"] for r in sheet] == [second.number, first.number]
    assert Decimal(str(sheet[1]["on_hand"])) == Decimal("12.5")
    assert sheet[0]["expires_on"].date() == second.expires_on


def test_expiry_report_exports_only_lots_within_the_window(warehouse: dict[str, Actor]) -> None:
    # given: one lot expiring in 20 days, one in a year
    supplier = materials.list_suppliers(actor=warehouse["clerk"])[0]
    soon = received_lot(warehouse, material_code="CM-0002", supplier_id=supplier.id, unit="L",
                        expires_on=site_today() + timedelta(days=20), receiver=warehouse["clerk"],
                        transport_min_c="3", transport_max_c="6")
    received_lot(warehouse, material_code="CM-0002", supplier_id=supplier.id, unit="L",
                 expires_on=site_today() + timedelta(days=365), receiver=warehouse["clerk"],
                 transport_min_c="3", transport_max_c="6")

    # when
    content, _, filename = materials.export_expiry_report(actor=warehouse["clerk"], fmt="csv", within_days=30)

    # then
    rows = _csv_rows(content)
    assert [r["lot_number"] for r in rows] == [soon.number]
    assert rows[0]["days_to_expiry"] == "20"
    assert rows[0]["material_name"] == "CHO培养基"
    assert "30d" in filename


def test_lot_movement_history_exports_every_ledger_entry(warehouse: dict[str, Actor]) -> None:
    # given: a 3-container lot, one container put away
    supplier = materials.list_suppliers(actor=warehouse["clerk"])[0]
    lot = received_lot(warehouse, material_code="RM-0001", supplier_id=supplier.id, quantity="9", containers=3,
                       receiver=warehouse["clerk"])
    materials.put_away(actor=warehouse["clerk"], container_number=lot.containers[0].number,
                       to_location_code="AMB-A01")

    # when
    content, _, filename = materials.export_lot_movements(actor=warehouse["clerk"], lot_id=lot.id, fmt="xlsx")

    # then
    rows = _xlsx_rows(content)
    assert [r["kind"] for r in rows] == ["receipt", "receipt", "receipt", "put_away"]
    assert rows[3]["to_location_code"] == "AMB-A01" and rows[3]["from_location_code"] == "RCV-01"
    assert all(r["actor"] == warehouse["clerk"].username for r in rows)
    assert lot.number in filename


def test_export_refuses_an_unknown_format(warehouse: dict[str, Actor]) -> None:
    # given / when
    with pytest.raises(ValidationFailed) as refused:
        materials.export_materials(actor=warehouse["clerk"], fmt="pdf")

    # then
    assert refused.value.fields[0].field == "format"


def test_text_that_looks_like_a_formula_stays_text_in_both_formats(warehouse: dict[str, Actor]) -> None:
    # given: a material whose English name starts with '='
    materials.draft_material(actor=warehouse["clerk"], code="RM-0099", name_zh="试剂", name_en="=HYPERLINK(1)",
                             material_type="raw_material", base_unit="kg", storage_condition="15-25C")

    # when
    content, _, _ = materials.export_materials(actor=warehouse["clerk"], fmt="csv", state="draft")
    excel, _, _ = materials.export_materials(actor=warehouse["clerk"], fmt="xlsx", state="draft")

    # then: OWASP CSV injection, neutralised
    assert _csv_rows(content)[0]["name_en"] == "'=HYPERLINK(1)"
    cell = load_workbook(io.BytesIO(excel)).worksheets[0]["F2"]
    assert cell.value == "=HYPERLINK(1)" and cell.data_type == "s"


def test_exported_material_master_imports_back_as_new_draft_versions(warehouse: dict[str, Actor]) -> None:
    # given: the approved material master exported to Excel
    clerk = warehouse["clerk"]
    excel, _, _ = materials.export_materials(actor=clerk, fmt="xlsx", state="approved")
    rows = _xlsx_rows(excel)
    assert {r["code"] for r in rows} == {"RM-0001", "CM-0002"}
    assert next(r for r in rows if r["code"] == "RM-0001")["pack_units"] == "drum=25"

    # when: imported unchanged
    result = materials.import_materials(actor=clerk, content=excel, filename="materials.xlsx",
                                        reason="Annual master data review")

    # then: version 2 drafts, same content
    assert dict(result) == {"rows": 2, "materials": 2, "lots": 0, "containers": 0}
    drafts = {m.code: m for m in materials.list_materials(actor=clerk, state="draft")}
    assert drafts["RM-0001"].version == 2
    assert drafts["RM-0001"].name_zh == "氯化钠"
    assert drafts["RM-0001"].retest_interval_days == 180
    assert [(p.unit, p.factor_to_base) for p in drafts["RM-0001"].pack_units] == [("drum", Decimal(25))]


# ---------------------------------------------------------------- material master import

HEADER = list(MATERIAL_COLUMNS)


def _material_row(code: str, **kw: Any) -> list[Any]:
    values = {"code": code, "name_zh": f"物料{code}", "material_type": "excipient", "base_unit": "kg",
              "storage_condition": "15-25C", "name_en": "", "protect_from_light": "", "shelf_life_days": "",
              "retest_interval_days": "", "min_remaining_shelf_life_days": "", "sampling_plan": "",
              "gmp_critical": "", "pack_units": ""}
    values.update(kw)
    return [values[c] for c in HEADER]


@pytest.mark.requirement("EU GMP Annex 11 §9")
def test_material_import_creates_drafts_in_one_audited_transaction(warehouse: dict[str, Actor]) -> None:
    # given: a CSV of three new materials
    content = _csv_file([HEADER,
                         _material_row("EX-0101", name_zh="蔗糖", name_en="Sucrose", shelf_life_days="1095",
                                       retest_interval_days="365", gmp_critical="是"),
                         _material_row("PK-0102", name_zh="西林瓶 2R", material_type="packaging", base_unit="each",
                                       pack_units="box=100; case=1200", protect_from_light="yes"),
                         _material_row("RS-0103", name_zh="蛋白A层析介质", material_type="consumable",
                                       storage_condition="2-8C", base_unit="L", gmp_critical="否")])
    before = _counts()

    # when
    result = materials.import_materials(actor=warehouse["clerk"], content=content, filename="新物料.csv",
                                        reason="Go-live master data")

    # then
    assert dict(result) == {"rows": 3, "materials": 3, "lots": 0, "containers": 0}
    assert result.created == ("EX-0101 v1", "PK-0102 v1", "RS-0103 v1")
    assert _counts()["materials"] == before["materials"] + 3
    drafts = {m.code: m for m in materials.list_materials(actor=warehouse["clerk"], state="draft")}
    assert drafts["EX-0101"].shelf_life_days == 1095 and drafts["EX-0101"].gmp_critical is True
    assert drafts["PK-0102"].protect_from_light is True
    assert {p.unit: p.factor_to_base for p in drafts["PK-0102"].pack_units} == {"box": 100, "case": 1200}
    assert drafts["RS-0103"].gmp_critical is False
    with read_session() as session:
        reasons = set(session.scalars(select(AuditEntry.reason).where(AuditEntry.id > before["audit"])))
        event = session.scalar(select(AuditEntry.changes).where(AuditEntry.record_type == "materials_import"))
    assert reasons == {"Go-live master data"}
    assert event is not None and "新物料.csv" in event


def test_material_import_reads_excel_cells_of_any_type(warehouse: dict[str, Actor]) -> None:
    # given: numbers typed as numbers, booleans as Excel booleans, columns in another order
    header = ["Name_ZH", "code", "base_unit", "material_type", "storage_condition", "shelf_life_days",
              "gmp_critical"]
    content = _xlsx_file([header, ["氢氧化钠", "RM-0201", "kg", "raw_material", "le30C", 730, False],
                          [None, None, None, None, None, None, None],
                          ["盐酸", "RM-0202", "L", "raw_material", "15-25C", 730.0, True]])

    # when
    result = materials.import_materials(actor=warehouse["clerk"], content=content, filename="m.xlsx",
                                        reason="Go-live")

    # then
    assert result.created == ("RM-0201 v1", "RM-0202 v1")
    drafts = {m.code: m for m in materials.list_materials(actor=warehouse["clerk"], state="draft")}
    assert drafts["RM-0201"].shelf_life_days == 730 and drafts["RM-0201"].gmp_critical is False


def test_material_import_reports_every_bad_row_and_writes_nothing(warehouse: dict[str, Actor]) -> None:
    # given: one good row among rows with an unknown unit, a duplicate code, a negative shelf life,
    # an unreadable yes/no, a bad pack unit, and a code with an open draft in the database
    materials.draft_material(actor=warehouse["clerk"], code="EX-0500", name_zh="草稿", material_type="excipient",
                             base_unit="kg", storage_condition="15-25C")
    content = _csv_file([HEADER,
                         _material_row("EX-0301"),                                   # row 2: good
                         _material_row("EX-0302", base_unit="lb"),                   # row 3
                         _material_row("EX-0301"),                                   # row 4: duplicate
                         _material_row("EX-0304", shelf_life_days="-5"),             # row 5
                         _material_row("EX-0305", protect_from_light="maybe"),       # row 6
                         _material_row("EX-0306", pack_units="box"),                 # row 7
                         _material_row("ex 0307", storage_condition="cold"),         # row 8: two problems
                         _material_row("EX-0500")])                                  # row 9: open draft
    before = _counts()

    # when
    with pytest.raises(ValidationFailed) as refused:
        materials.import_materials(actor=warehouse["clerk"], content=content, filename="bad.csv", reason="Go-live")

    # then
    fields = _fields(refused.value)
    assert set(fields) == {"row 3: base_unit", "row 4: code", "row 5: shelf_life_days",
                           "row 6: protect_from_light", "row 7: pack_units", "row 8: code",
                           "row 8: storage_condition", "row 9: code"}
    assert "row 2" in fields["row 4: code"]
    assert "draft" in fields["row 9: code"]
    assert "Nothing was imported" in refused.value.message
    assert _counts() == before


def test_material_import_refuses_files_it_cannot_read(warehouse: dict[str, Actor]) -> None:
    # given
    clerk = warehouse["clerk"]
    missing_column = _csv_file([["code", "name_zh", "base_unit", "storage_condition", "colour"],
                                ["EX-0401", "甘露醇", "kg", "15-25C", "white"]])
    before = _counts()

    # when / then
    with pytest.raises(ValidationFailed) as refused:
        materials.import_materials(actor=clerk, content=missing_column, filename="m.csv", reason="Go-live")
    assert set(_fields(refused.value)) == {"column 5", "material_type"}
    with pytest.raises(ValidationFailed) as refused:
        materials.import_materials(actor=clerk, content=b"PK\x03\x04 not a workbook", filename="m.xlsx",
                                   reason="Go-live")
    assert refused.value.fields[0].field == "file"
    with pytest.raises(ValidationFailed) as refused:
        materials.import_materials(actor=clerk, content=b"code\n", filename="m.txt", reason="Go-live")
    assert refused.value.fields[0].field == "file"
    with pytest.raises(ValidationFailed) as refused:
        materials.import_materials(actor=clerk, content=_csv_file([HEADER]), filename="m.csv", reason="Go-live")
    assert "no rows" in refused.value.message
    with pytest.raises(ValidationFailed) as refused:
        materials.import_materials(actor=clerk, content=_csv_file([HEADER, _material_row("EX-0402")]),
                                   filename="m.csv", reason="  ")
    assert refused.value.fields[0].field == "reason"
    assert _counts() == before


def test_material_import_needs_the_import_permission(warehouse: dict[str, Actor]) -> None:
    # given: the QA manager drafts and approves materials but does not import
    content = _csv_file([HEADER, _material_row("EX-0601")])

    # when / then
    with pytest.raises(PermissionDenied):
        materials.import_materials(actor=warehouse["qa.li"], content=content, filename="m.csv", reason="Go-live")


def test_csv_saved_by_chinese_excel_in_gb18030_is_read(warehouse: dict[str, Actor]) -> None:
    # given: "CSV (逗号分隔)" from Excel on zh-CN Windows is GBK, without a BOM
    content = _csv_file([HEADER, _material_row("EX-0701", name_zh="聚山梨酯80")], encoding="gb18030")

    # when
    result = materials.import_materials(actor=warehouse["clerk"], content=content, filename="m.csv",
                                        reason="Go-live")

    # then
    assert result.created == ("EX-0701 v1",)
    assert materials.list_materials(actor=warehouse["clerk"], query="EX-0701")[0].name_zh == "聚山梨酯80"


# ---------------------------------------------------------------- opening stock import

STOCK_HEADER = ["material_code", "quantity", "unit", "containers", "location_code", "expires_on", "manufactured_on",
                "retest_on", "supplier_code", "supplier_lot"]


@pytest.mark.requirement("EU GMP Part I 5.61")
def test_opening_stock_lands_in_quarantine_with_ledger_entries(warehouse: dict[str, Actor]) -> None:
    # given: 2 drums of RM-0001 in the ambient bin, 40 L of CM-0002 in the cold room, as Excel
    expiry = site_today() + timedelta(days=400)
    made = site_today() - timedelta(days=30)
    content = _xlsx_file([STOCK_HEADER,
                          ["RM-0001", 2, "drum", 2, "AMB-A01", expiry, made, None, "SUP-001", "NaCl-2309"],
                          ["CM-0002", 40, "L", None, "CR-A01", expiry.isoformat(), None, None, None, None]])
    before = _counts()

    # when
    result = materials.import_opening_stock(actor=warehouse["clerk"], content=content, filename="期初库存.xlsx",
                                            reason="Go-live stock take 2026-03-01")

    # then
    assert dict(result) == {"rows": 2, "materials": 0, "lots": 2, "containers": 3}
    salt = materials.find_by_scan(actor=warehouse["clerk"], code=result.created[0])
    assert salt.state == "quarantine"
    assert salt.on_hand == Decimal(50) and salt.unit == "kg"
    assert [c.quantity for c in salt.containers] == [Decimal(25), Decimal(25)]
    assert {c.location_code for c in salt.containers} == {"AMB-A01"}
    assert salt.supplier_lot == "NaCl-2309" and salt.manufactured_on == made
    assert salt.retest_on == made + timedelta(days=180)  # from the material's retest interval
    medium = materials.find_by_scan(actor=warehouse["clerk"], code=result.created[1])
    assert medium.on_hand == Decimal(40) and medium.supplier_id is None
    movements = materials.list_movements(actor=warehouse["clerk"], lot_id=salt.id)
    assert [(m.kind, m.reference) for m in movements] == [("receipt", OPENING_STOCK_REFERENCE)] * 2
    assert _counts()["movements"] == before["movements"] + 3


def test_opening_stock_reports_every_bad_row_and_writes_nothing(warehouse: dict[str, Actor]) -> None:
    # given: one good row and one bad row of each kind
    materials.draft_material(actor=warehouse["clerk"], code="EX-0900", name_zh="草稿物料", material_type="excipient",
                             base_unit="kg", storage_condition="15-25C")
    expiry = (site_today() + timedelta(days=300)).isoformat()
    content = _csv_file([STOCK_HEADER,
                         ["RM-0001", "10", "kg", "1", "AMB-A01", expiry, "", "", "", "A1"],        # 2 good
                         ["RM-9999", "10", "kg", "1", "AMB-A01", expiry, "", "", "", ""],          # 3
                         ["RM-0001", "-4", "kg", "1", "AMB-A01", expiry, "", "", "", ""],          # 4
                         ["RM-0001", "10", "L", "1", "AMB-A01", expiry, "", "", "", ""],           # 5
                         ["RM-0001", "10", "kg", "0", "AMB-A01", expiry, "", "", "", ""],          # 6
                         ["CM-0002", "10", "L", "1", "AMB-A01", expiry, "", "", "", ""],           # 7 wrong class
                         ["RM-0001", "10", "kg", "1", "AMB-A01", "31/12/2027", "", "", "", ""],    # 8
                         ["RM-0001", "10", "kg", "1", "AMB-A01", "2020-01-01", "", "", "", ""],    # 9 good: expired
                         ["RM-0001", "10", "kg", "1", "AMB", expiry, "", "", "", ""],              # 10 a zone
                         ["RM-0001", "10", "kg", "1", "AMB-A01", expiry, "", "", "SUP-404", ""],   # 11
                         ["RM-0001", "10", "kg", "1", "AMB-A01", expiry, "", "", "", "A1"],        # 12 duplicate
                         ["EX-0900", "10", "kg", "1", "AMB-A01", expiry, "", "", "", ""],          # 13 draft only
                         ["RM-0001", "10", "kg", "1", "AMB-A01", expiry, "", "2099-01-01", "", ""],  # 14
                         ])
    before = _counts()

    # when
    with pytest.raises(ValidationFailed) as refused:
        materials.import_opening_stock(actor=warehouse["clerk"], content=content, filename="stock.csv",
                                       reason="Go-live")

    # then
    fields = _fields(refused.value)
    assert set(fields) == {"row 3: material_code", "row 4: quantity", "row 5: unit", "row 6: containers",
                           "row 7: location_code", "row 8: expires_on", "row 10: location_code",
                           "row 11: supplier_code", "row 12: supplier_lot", "row 13: material_code",
                           "row 14: retest_on"}
    assert "2-8C" in fields["row 7: location_code"]
    assert "row 2" in fields["row 12: supplier_lot"]
    assert _counts() == before


@pytest.mark.requirement("EU GMP Part I 5.61")
def test_expired_opening_stock_is_accounted_for_and_expired_by_the_daily_review(warehouse: dict[str, Actor]) -> None:
    # given: a drum held past its expiry date at go-live, awaiting destruction
    content = _csv_file([STOCK_HEADER, ["RM-0001", "25", "kg", "1", "AMB-A01", "2026-01-31", "2024-02-01", "", "",
                                        "OLD-1"]])
    result = materials.import_opening_stock(actor=warehouse["clerk"], content=content, filename="s.csv",
                                            reason="Go-live")

    # when
    review = materials.run_daily_stock_review(actor=Actor.system("test-job"))

    # then: it is on the books, expired, and never usable
    lot = materials.find_by_scan(actor=warehouse["clerk"], code=result.created[0])
    assert lot.number in review.expired
    assert lot.state == "expired" and lot.on_hand == Decimal(25)
    assert any("expired" in problem for problem in lot.use_problems)


def test_opening_stock_needs_the_required_columns(warehouse: dict[str, Actor]) -> None:
    # given: no expiry column
    content = _csv_file([["material_code", "quantity", "unit", "location_code"], ["RM-0001", "1", "kg", "AMB-A01"]])

    # when
    with pytest.raises(ValidationFailed) as refused:
        materials.import_opening_stock(actor=warehouse["clerk"], content=content, filename="s.csv", reason="Go-live")

    # then
    assert set(_fields(refused.value)) == {"expires_on"}


def test_import_result_reads_as_counts() -> None:
    # given
    from pharmos.materials.exchange import ImportResult

    # when
    result = ImportResult(rows=3, lots=3, containers=7, created=("LOT-1", "LOT-2", "LOT-3"))

    # then
    assert dict(result) == {"rows": 3, "materials": 0, "lots": 3, "containers": 7}
    assert result["containers"] == 7
