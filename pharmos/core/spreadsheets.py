"""CSV and Excel files as users keep them: one writer and one reader for every module's exchange.

Exports write the site's local time (spreadsheets have no time zones), a UTF-8 BOM for
Excel on zh-CN Windows and text cells that cannot turn into formulas. Imports read the
first sheet by column name, refuse unusable headers at once and hand each data row to a
``RowReader`` that notes one problem per bad cell (field ``row N: column``), so a module
can report every bad row together and write nothing unless all rows are acceptable.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from pharmos.core.clock import as_utc, utcnow
from pharmos.core.config import get_settings
from pharmos.core.errors import FieldProblem, ValidationFailed

__all__ = [
    "EXPORT_FORMATS",
    "MAX_IMPORT_ROWS",
    "MAX_UPLOAD_BYTES",
    "RowReader",
    "TableRow",
    "all_pages",
    "blank",
    "download",
    "export_format",
    "read_table",
    "refuse_import",
    "spreadsheet",
]

EXPORT_FORMATS: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
# What a person keeps in a spreadsheet, not a data dump: a bigger file is a migration project.
MAX_IMPORT_ROWS = 5000
# The largest upload the API and the import pages accept (transport hygiene; the rows are judged by the module).
MAX_UPLOAD_BYTES = 10 * 1024 * 1024

_TRUE = frozenset({"true", "yes", "y", "1", "是", "x", "✓"})
_FALSE = frozenset({"false", "no", "n", "0", "否"})


def export_format(fmt: str) -> str:
    """``fmt`` normalised, or ValidationFailed on ``format``."""
    fmt = (fmt or "").strip().lower()
    if fmt not in EXPORT_FORMATS:
        raise ValidationFailed.on("format", f"Format must be one of: {', '.join(EXPORT_FORMATS)}.")
    return fmt


# ---------------------------------------------------------------- writing


def _site_zone() -> ZoneInfo:
    return ZoneInfo(get_settings().site_timezone)


def _plain(value: Any) -> Any:
    """A cell value both renderings understand: text, Decimal, int, date, or None."""
    if value is None or (isinstance(value, str | int | Decimal | date) and not isinstance(value, datetime | bool)):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        # Spreadsheets have no time zones: write the site's local time, stated in the column name.
        return as_utc(value).astimezone(_site_zone()).strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def _csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    # OWASP CSV injection: a cell a user typed must not run as a formula when Excel opens it.
    return "'" + text if isinstance(value, str) and text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def spreadsheet(fmt: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, sheet: str) -> bytes:
    """The rows under a header row as CSV (UTF-8 with BOM) or one Excel sheet."""
    cells = [[_plain(v) for v in row] for row in rows]
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(columns)
        for row in cells:
            writer.writerow([_csv_text(v) for v in row])
        # The BOM makes Excel (zh-CN Windows) open UTF-8 instead of GBK-garbled Chinese.
        return buffer.getvalue().encode("utf-8-sig")
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    ws = book.active
    assert ws is not None
    ws.title = sheet[:31]
    ws.append(list(columns))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for r, row in enumerate(cells, start=2):
        for c, value in enumerate(row, start=1):
            cell = ws.cell(row=r, column=c, value=value)
            if isinstance(value, str):
                # Text stays text: openpyxl would otherwise turn "=…" into a live formula.
                cell.data_type = "s"
            elif isinstance(value, date):
                cell.number_format = "yyyy-mm-dd"
    ws.freeze_panes = "A2"
    for c, name in enumerate(columns, start=1):
        width = max([len(name), *(len(_csv_text(row[c - 1])) for row in cells[:200])]) + 2
        ws.column_dimensions[ws.cell(row=1, column=c).column_letter].width = min(width, 60)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def download(fmt: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, name: str,
             sheet: str) -> tuple[bytes, str, str]:
    """(content, media type, filename) of an export; the filename carries the site-local time of export."""
    fmt = export_format(fmt)
    stamp = utcnow().astimezone(_site_zone()).strftime("%Y%m%d-%H%M")
    return (spreadsheet(fmt, columns, rows, sheet=sheet), EXPORT_FORMATS[fmt], f"{name}-{stamp}.{fmt}")


def all_pages(fetch: Callable[[int | None], Sequence[Any]], key: Callable[[Any], int]) -> Iterator[Any]:
    """Every item of a cursor-paginated service list (``after_id``), page by page."""
    after: int | None = None
    while True:
        batch = fetch(after)
        if not batch:
            return
        yield from batch
        after = key(batch[-1])


# ---------------------------------------------------------------- reading


@dataclass
class TableRow:
    number: int  # as the spreadsheet shows it: the header is row 1
    values: dict[str, Any]


def _decode_csv(content: bytes) -> str:
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        # Excel on zh-CN Windows saves "CSV" in the ANSI code page (GBK, a subset of GB 18030).
        return content.decode("gb18030")
    except UnicodeDecodeError:
        raise ValidationFailed.on("file", "The CSV file is neither UTF-8 nor GB 18030 text.") from None


def _raw_rows(content: bytes, filename: str) -> Iterator[Sequence[Any]]:
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if extension == "csv":
        yield from csv.reader(io.StringIO(_decode_csv(content), newline=""))
        return
    if extension in ("xlsx", "xlsm"):
        from openpyxl import load_workbook

        try:
            book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        except Exception:  # a broken upload is the user's problem to fix, not a crash
            raise ValidationFailed.on("file", "The file is not a readable Excel (.xlsx) workbook.") from None
        try:
            sheet = book.worksheets[0]
            yield from sheet.iter_rows(values_only=True)
        finally:
            book.close()
        return
    if extension == "xls":
        raise ValidationFailed.on("file", "Old Excel .xls files are not read; save the sheet as .xlsx or CSV.")
    raise ValidationFailed.on("file", "Upload a .csv or .xlsx file.")


def blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def read_table(content: bytes, filename: str, *, required: Sequence[str], optional: Sequence[str],
               ignored: Sequence[str] = ()) -> list[TableRow]:
    """The data rows of the file's first sheet by column name; refuses unusable headers at once."""
    if not content:
        raise ValidationFailed.on("file", "The file is empty.")
    raw = _raw_rows(content, filename)
    header: list[str] | None = None
    rows: list[TableRow] = []
    for number, cells in enumerate(raw, start=1):
        if header is None:
            if all(blank(c) for c in cells):
                raise ValidationFailed.on("file", "Row 1 must hold the column names.")
            header = [str(c).strip().lower() if c is not None else "" for c in cells]
            problems = []
            known = set(required) | set(optional) | set(ignored)
            for position, name in enumerate(header, start=1):
                if name and name not in known:
                    problems.append(FieldProblem(f"column {position}", f"Unknown column {name!r}."))
                elif name and header.index(name) != position - 1:
                    problems.append(FieldProblem(f"column {position}", f"Column {name!r} appears twice."))
            for name in required:
                if name not in header:
                    problems.append(FieldProblem(name, f"The required column {name!r} is missing."))
            if problems:
                raise ValidationFailed(
                    f"The file's columns do not match. Required: {', '.join(required)}; "
                    f"optional: {', '.join(optional)}.", problems)
            continue
        if all(blank(c) for c in cells):
            continue
        if len(rows) >= MAX_IMPORT_ROWS:
            raise ValidationFailed.on("file", f"At most {MAX_IMPORT_ROWS} rows per file; split the file.")
        values = {name: cells[i] if i < len(cells) else None
                  for i, name in enumerate(header) if name and name not in ignored}
        extra = [c for c in cells[len(header):] if not blank(c)]
        if extra:
            values["__extra__"] = extra
        rows.append(TableRow(number, values))
    if header is None:
        raise ValidationFailed.on("file", "The file is empty.")
    if not rows:
        raise ValidationFailed.on("file", "The file has column names but no rows.")
    return rows


class RowReader:
    """Turns one row's cells into typed values, noting a problem per bad cell."""

    def __init__(self, row: TableRow, problems: list[FieldProblem]) -> None:
        self.row = row
        self.problems = problems
        if "__extra__" in row.values:
            self.problem("columns", "Cells beyond the last named column.")

    def problem(self, column: str, message: str) -> None:
        self.problems.append(FieldProblem(f"row {self.row.number}: {column}", message))

    def adopt(self, found: Sequence[FieldProblem]) -> None:
        for p in found:
            self.problem(p.field, p.message)

    def is_blank(self, column: str) -> bool:
        return blank(self.row.values.get(column))

    def text(self, column: str) -> str:
        value = self.row.values.get(column)
        if value is None:
            return ""
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # a code typed as a number in Excel comes back as 1001.0
        if isinstance(value, datetime | date):
            return value.isoformat()
        return str(value).strip()

    def boolean(self, column: str, default: bool) -> bool | None:
        value = self.row.values.get(column)
        if blank(value):
            return default
        if isinstance(value, bool):
            return value
        text = self.text(column).lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        self.problem(column, f"{text!r} is not yes or no (use true/false, yes/no, 是/否).")
        return None

    def whole(self, column: str) -> int | None:
        """A whole number, or None when blank or bad (bad ones noted)."""
        value = self.row.values.get(column)
        if blank(value):
            return None
        if isinstance(value, bool):
            self.problem(column, "Must be a whole number.")
            return None
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        text = self.text(column)
        if re.fullmatch(r"[+-]?\d+", text):
            return int(text)
        self.problem(column, f"{text!r} is not a whole number.")
        return None

    def decimal(self, column: str, *, required: bool = False) -> Decimal | None:
        """A finite decimal number, or None when blank or bad (bad ones noted)."""
        value = self.row.values.get(column)
        if blank(value):
            if required:
                self.problem(column, "Required.")
            return None
        if isinstance(value, bool):
            self.problem(column, "Must be a number.")
            return None
        # repr of an Excel float is the shortest exact decimal (25.5, not 25.499999…).
        text = repr(value) if isinstance(value, float) else self.text(column)
        try:
            number = Decimal(text)
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite():
            self.problem(column, f"{self.text(column)!r} is not a number.")
            return None
        return number

    def day(self, column: str, *, required: bool = False) -> date | None:
        value = self.row.values.get(column)
        if blank(value):
            if required:
                self.problem(column, "Required.")
            return None
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        text = self.text(column)
        match = re.fullmatch(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})", text)
        if match:
            try:
                return date(int(match[1]), int(match[2]), int(match[3]))
            except ValueError:
                pass
        self.problem(column, f"{text!r} is not a date (use YYYY-MM-DD).")
        return None


def refuse_import(problems: list[FieldProblem], rows: int) -> ValidationFailed:
    """The error of an all-or-nothing import that found ``problems`` in a file of ``rows`` data rows."""
    failing = len({p.field.split(":", 1)[0] for p in problems})
    return ValidationFailed(f"Nothing was imported: {len(problems)} problem(s) in {failing} of {rows} row(s). "
                            "Correct the file and import it again.", problems)
