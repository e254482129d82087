"""Equipment spreadsheets: ledger and calibration-plan export/import (all rows or none), QR labels, the CLI."""

from __future__ import annotations

import base64
import csv
import io
import re
import zlib
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select
from typer.testing import CliRunner

from pharmos.compliance.audit import AuditEntry
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today
from pharmos.core.config import reset_settings_cache
from pharmos.core.db import get_database, read_session
from pharmos.core.errors import PermissionDenied, ValidationFailed
from pharmos.equipment import service as equipment
from pharmos.equipment.exchange import EQUIPMENT_COLUMNS
from pharmos.equipment.models import Equipment, LogbookEntry
from tests.equipment.factories import SETUP, calibrate, engineer, ensure_class, new_equipment

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _csv_rows(content: bytes) -> list[dict[str, str]]:
    assert content.startswith(b"\xef\xbb\xbf"), "Excel needs the UTF-8 BOM to read Chinese"
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))


def _csv_file(rows: list[list[Any]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")


def _xlsx_rows(content: bytes) -> list[list[Any]]:
    sheet = load_workbook(io.BytesIO(content)).worksheets[0]
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def _xlsx_file(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _pdf_text(pdf: bytes) -> str:
    """Text the PDF's content streams show (reportlab's ASCII85+Flate streams, CID font = UTF-16BE)."""
    shown: list[str] = []
    for match in re.finditer(rb"/Filter \[ /ASCII85Decode /FlateDecode \] /Length (\d+)\s*>>\s*stream\r?\n", pdf):
        stream = zlib.decompress(base64.a85decode(pdf[match.end():match.end() + int(match.group(1))], adobe=True))
        for literal in re.findall(rb"\((.*?)(?<!\\)\)\s*Tj", stream, flags=re.S):
            data = re.sub(rb"\\([0-7]{1,3})", lambda m: bytes([int(m.group(1), 8)]), literal)
            data = re.sub(rb"\\(.)", rb"\1", data, flags=re.S)
            shown.append(data.decode("utf-16-be", errors="replace"))
    return "\n".join(shown)


def _equipment_count() -> int:
    with read_session() as session:
        return session.scalar(select(func.count(Equipment.id))) or 0


def importer() -> Actor:
    """A maintenance engineer: holds equipment.import."""
    return engineer()


def test_the_ledger_exports_as_csv_with_the_import_columns_first(site: dict[str, Actor]) -> None:
    # given
    balance = new_equipment("balance", serial_number="B-001", name_zh="=分析天平")

    # when
    content, media_type, filename = equipment.export_equipment(actor=site["viewer.chen"], fmt="csv")

    # then
    assert media_type.startswith("text/csv") and filename.startswith("equipment-ledger-") and filename.endswith(".csv")
    (row,) = _csv_rows(content)
    assert list(row)[:len(EQUIPMENT_COLUMNS)] == list(EQUIPMENT_COLUMNS)
    assert row["number"] == balance.number and row["class_code"] == "balance"
    assert row["name_zh"] == "'=分析天平", "a cell that looks like a formula stays text"
    assert row["tolerance"] == "0.001" and row["calibration_required"] == "true"
    assert row["state"] == "commissioning"


def test_export_refuses_an_unknown_format(site: dict[str, Actor]) -> None:
    # when / then
    with pytest.raises(ValidationFailed) as refused:
        equipment.export_equipment(actor=site["viewer.chen"], fmt="pdf")
    assert [p.field for p in refused.value.fields] == ["format"]


def test_an_import_with_bad_rows_writes_nothing_and_names_every_bad_row(site: dict[str, Actor]) -> None:
    # given
    ensure_class("bioreactor")
    taken = new_equipment("bioreactor", serial_number="SN-1")
    before = _equipment_count()
    content = _csv_file([
        ["number", "class_code", "name_zh", "install_date", "range_low", "range_high", "gmp_critical"],
        ["EQ-BR-101", "bioreactor", "反应器 A", "2024-03-01", "", "", "是"],
        ["EQ-BR-102", "no_such_class", "反应器 B", "", "", "", ""],
        ["EQ-BR-103", "bioreactor", "", "2024-13-45", "", "", ""],
        ["EQ-BR-104", "bioreactor", "反应器 D", "", "10", "5", "maybe"],
        ["EQ-BR-101", "bioreactor", "反应器 E", "", "", "", ""],
        [taken.number, "bioreactor", "别的名字", "", "", "", ""],
    ])

    # when
    with pytest.raises(ValidationFailed) as refused:
        equipment.import_equipment(actor=importer(), filename="ledger.csv", content=content)

    # then
    fields = {p.field for p in refused.value.fields}
    assert {"row 3: class_code", "row 4: name_zh", "row 4: install_date", "row 5: range_high",
            "row 5: gmp_critical", "row 6: number", "row 7: name_zh"} <= fields
    assert not any(f.startswith("row 2:") for f in fields)
    assert _equipment_count() == before


def test_an_import_registers_every_row_in_one_go_and_audits_the_file(site: dict[str, Actor]) -> None:
    # given
    ensure_class("bioreactor")
    ensure_class("balance")
    content = _xlsx_file([
        ["Class_Code", "name_zh", "number", "serial_number", "manufacturer", "model", "tolerance", "range_low",
         "range_high", "range_unit", "calibration_interval_days"],
        ["bioreactor", "200L 一次性反应器", "EQ-BR-200", "S-200", "Sartorius", "STR 200", None, None, None, None,
         None],
        ["balance", "分析天平", None, "B-77", "Mettler Toledo", "XPR", 0.0001, 0, 220, "g", 180],
    ])

    # when
    checked = equipment.import_equipment(actor=importer(), filename="ledger.xlsx", content=content, dry_run=True)
    count_after_check = _equipment_count()
    result = equipment.import_equipment(actor=importer(), filename="ledger.xlsx", content=content)

    # then
    assert checked.dry_run and len(checked.created) == 2 and count_after_check == 0
    assert result.rows == 2 and result.created[0] == "EQ-BR-200" and result.created[1].startswith("EQ-BAL-")
    assert dict(result)["created"] == 2
    balance = equipment.get_equipment(actor=SETUP, number=result.created[1])
    assert balance.tolerance == Decimal("0.0001") and balance.calibration_status == "never_calibrated"
    assert balance.state == "commissioning"
    with read_session() as session:
        assert session.scalar(select(func.count(AuditEntry.id)).where(
            AuditEntry.record_type == "equipment_import", AuditEntry.action == "import")) == 1


def test_export_then_import_round_trips_the_ledger_and_adds_new_rows(site: dict[str, Actor]) -> None:
    # given
    first = new_equipment("balance", serial_number="RT-1", owner_department="QC")
    second = new_equipment("bioreactor", serial_number="RT-2", name_en="")
    exported, media_type, _ = equipment.export_equipment(actor=SETUP, fmt="xlsx")
    rows = _xlsx_rows(exported)
    header = [str(h) for h in rows[0]]
    added = dict.fromkeys(header)
    added |= {"class_code": "bioreactor", "name_zh": "新增反应器", "serial_number": "RT-3"}
    rows.append([added[h] for h in header])

    # when
    result = equipment.import_equipment(actor=importer(), filename="ledger.xlsx", content=_xlsx_file(rows))

    # then
    assert media_type == XLSX
    assert sorted(result.unchanged) == sorted([first.number, second.number]) and len(result.created) == 1
    again = {r["number"]: r for r in _csv_rows(equipment.export_equipment(actor=SETUP, fmt="csv")[0])}
    assert again[result.created[0]]["name_zh"] == "新增反应器"
    assert again[first.number]["owner_department"] == "QC" and again[first.number]["tolerance"] == "0.001"


def test_a_row_that_differs_from_the_registered_equipment_is_refused(site: dict[str, Actor]) -> None:
    # given
    item = new_equipment("bioreactor", serial_number="D-1", location="B2-301")
    content = _csv_file([["number", "class_code", "name_zh", "location"],
                         [item.number, "bioreactor", item.name_zh, "B3-999"]])

    # when
    with pytest.raises(ValidationFailed) as refused:
        equipment.import_equipment(actor=importer(), filename="ledger.csv", content=content)

    # then
    assert [p.field for p in refused.value.fields] == ["row 2: location"]
    assert equipment.get_equipment(actor=SETUP, equipment_id=item.id).location == "B2-301"


def test_importing_needs_the_import_permission(site: dict[str, Actor]) -> None:
    # given
    content = _csv_file([["class_code", "name_zh"], ["bioreactor", "反应器"]])

    # when / then
    with pytest.raises(PermissionDenied):
        equipment.import_equipment(actor=site["qa.li"], filename="ledger.csv", content=content)
    assert _equipment_count() == 0


def test_the_calibration_plan_sets_go_live_dates_only_where_no_calibration_is_recorded(
        site: dict[str, Actor]) -> None:
    # given
    today = site_today()
    paper = new_equipment("ph_meter", serial_number="P-1")
    recorded = new_equipment("ph_meter", serial_number="P-2")
    calibrate(recorded.id, on=today - timedelta(days=10))
    last = today - timedelta(days=40)
    bad = _csv_file([["number", "calibration_interval_days", "last_calibrated_on"],
                     [paper.number, "60", last.isoformat()],
                     [recorded.number, "0", (today - timedelta(days=3)).isoformat()]])
    good = _csv_file([["number", "calibration_interval_days", "tolerance", "last_calibrated_on"],
                      [paper.number, "60", "0.01", last.isoformat()],
                      [recorded.number, "120", "", ""]])

    # when
    with pytest.raises(ValidationFailed) as refused:
        equipment.import_calibration_plan(actor=importer(), filename="plan.csv", content=bad)
    untouched = equipment.get_equipment(actor=SETUP, equipment_id=paper.id)
    result = equipment.import_calibration_plan(actor=importer(), filename="plan.csv", content=good)

    # then
    assert {p.field for p in refused.value.fields} == {"row 3: calibration_interval_days",
                                                       "row 3: last_calibrated_on"}
    assert untouched.calibration_due_on is None and untouched.calibration_status == "never_calibrated"
    assert sorted(result.updated) == sorted([paper.number, recorded.number])
    now_paper = equipment.get_equipment(actor=SETUP, equipment_id=paper.id)
    assert now_paper.last_calibrated_on == last and now_paper.calibration_due_on == last + timedelta(days=60)
    assert now_paper.calibration_status == "in_tolerance" and now_paper.tolerance == Decimal("0.01")
    now_recorded = equipment.get_equipment(actor=SETUP, equipment_id=recorded.id)
    assert now_recorded.calibration_due_on == today - timedelta(days=10) + timedelta(days=120)
    with read_session() as session:
        assert session.scalar(select(func.count(LogbookEntry.id)).where(
            LogbookEntry.equipment_id == paper.id, LogbookEntry.kind == "calibration")) == 1


def test_the_calibration_plan_export_imports_back_unchanged(site: dict[str, Actor]) -> None:
    # given
    instrument = new_equipment("ph_meter", serial_number="P-9")
    calibrate(instrument.id)
    new_equipment("bioreactor", serial_number="NOT-AN-INSTRUMENT")
    content, _, _ = equipment.export_calibration_plan(actor=SETUP, fmt="csv")

    # when
    result = equipment.import_calibration_plan(actor=importer(), filename="plan.csv", content=content)

    # then
    assert [r["number"] for r in _csv_rows(content)] == [instrument.number]
    assert result.updated == () and result.unchanged == (instrument.number,)


def test_labels_carry_the_equipment_number_and_printing_is_audited(site: dict[str, Actor]) -> None:
    # given
    first = new_equipment("bioreactor", serial_number="L-1")
    second = new_equipment("balance", serial_number="L-2")

    # when
    pdf = equipment.equipment_labels_pdf(actor=site["viewer.chen"], equipment_ids=[first.id, second.id])

    # then
    assert pdf.startswith(b"%PDF")
    assert len(re.findall(rb"/Type /Page\b(?!s)", pdf)) == 2
    shown = _pdf_text(pdf)
    assert first.number in shown and second.number in shown and "位置 Location: B2-301" in shown
    with read_session() as session:
        details = session.scalar(select(AuditEntry.changes).where(AuditEntry.action == "labels_printed"))
    assert details is not None and first.number in details and second.number in details
    with pytest.raises(ValidationFailed):
        equipment.equipment_labels_pdf(actor=site["viewer.chen"], equipment_ids=[second.id + 1000])


# ---------------------------------------------------------------- the CLI


@pytest.fixture
def db_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "cli.db"
    monkeypatch.setenv("PHARMOS_DATABASE_URL", f"sqlite:///{path}")
    reset_settings_cache()
    yield path
    get_database().dispose()


def test_cli_imports_with_a_reason_and_exports_each_spreadsheet(db_file: Path, tmp_path: Path) -> None:
    # given
    from pharmos.auth import service as auth
    from pharmos.cli import app

    runner = CliRunner()
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    auth.ensure_builtin_roles(actor=Actor.system("test-setup"))
    ensure_class("bioreactor")
    ledger = tmp_path / "ledger.csv"
    ledger.write_bytes(_csv_file([["class_code", "name_zh", "number"], ["bioreactor", "反应器", "EQ-BR-777"]]))
    broken = tmp_path / "broken.csv"
    broken.write_bytes(_csv_file([["class_code", "name_zh"], ["nope", "反应器"]]))

    # when
    no_reason = runner.invoke(app, ["equipment", "import-equipment", str(ledger), "--reason", " "])
    refused = runner.invoke(app, ["equipment", "import-equipment", str(broken), "--reason", "上线导入"])
    imported = runner.invoke(app, ["equipment", "import-equipment", str(ledger), "--reason", "上线导入"])
    outputs = {what: tmp_path / f"{what}.xlsx" for what in ("equipment", "calibration-plan", "work-orders")}
    exported = [runner.invoke(app, ["equipment", "export", what, "--format", "xlsx", "-o", str(path)])
                for what, path in outputs.items()]
    unknown = runner.invoke(app, ["equipment", "export", "spare-parts"])

    # then
    assert no_reason.exit_code == 2 and "reason" in no_reason.output
    assert refused.exit_code == 2 and "row 2: class_code" in refused.output
    assert imported.exit_code == 0, imported.output
    assert "EQ-BR-777" in imported.output
    assert all(r.exit_code == 0 for r in exported), [r.output for r in exported]
    assert _xlsx_rows(outputs["equipment"].read_bytes())[1][0] == "EQ-BR-777"
    assert unknown.exit_code == 2
    with read_session() as session:
        reason = session.scalar(select(AuditEntry.reason).where(AuditEntry.record_type == "equipment_import"))
    assert reason == "上线导入"
