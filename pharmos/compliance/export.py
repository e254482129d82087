"""Audit-trail exports for inspectors: CSV for spreadsheets, PDF for the inspection file.

21 CFR 11.10(b): the system generates accurate and complete copies of records in human
readable and electronic form suitable for inspection. EU GMP Annex 11 §8.1: clear printed
copies of electronically stored data. The export reads through the same search service as
the audit-trail viewer, states the chain verification result, and is itself audited.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from pharmos.compliance.audit import VerificationResult, record_event
from pharmos.compliance.service import AuditEntryView, AuditQuery, search_audit, verify_audit_trail
from pharmos.core.actor import Actor
from pharmos.core.clock import as_utc, utcnow
from pharmos.core.config import get_settings
from pharmos.core.db import transaction
from pharmos.core.errors import PermissionDenied, ValidationFailed
from pharmos.core.labels import PDF_FONT
from pharmos.core.pdf import numbered_canvas, register_cjk_font

FORMATS = {"csv": "text/csv; charset=utf-8", "pdf": "application/pdf"}
CSV_COLUMNS = (
    "id", "time_utc", "time_local", "actor", "record_type", "record_id", "action", "changes", "reason",
    "request_id", "hash",
)
_PAGE_SIZE = 500


@dataclass(frozen=True)
class ExportRow:
    """One audit entry as an inspector reads it, shared by the CSV and PDF renderings."""

    id: int
    time_utc: str
    time_local: str
    actor: str
    record_type: str
    record_id: str
    action: str
    changes: str
    reason: str
    request_id: str
    hash: str

    def as_csv(self) -> list[str]:
        return [str(self.id), self.time_utc, self.time_local, self.actor, self.record_type, self.record_id,
                self.action, self.changes, self.reason, self.request_id, self.hash]


def _value(value: Any) -> str:
    if value is None:
        return "∅"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def describe_changes(changes: dict[str, Any]) -> str:
    """Field-level changes as ``field: old → new``; event details as ``key: value``.

    21 CFR 11.10(e): the previous value stays visible next to the new one.
    """
    parts = []
    for key in sorted(changes):
        value = changes[key]
        if isinstance(value, list) and len(value) == 2:
            old, new = value
            if old is None:
                parts.append(f"{key}: {_value(new)}")
            else:
                parts.append(f"{key}: {_value(old)} → {_value(new)}")
        else:
            parts.append(f"{key}: {_value(value)}")
    return "; ".join(parts)


def describe_query(query: AuditQuery) -> str:
    parts = []
    for name in ("record_type", "record_id", "actor", "action"):
        value = getattr(query, name)
        if value:
            parts.append(f"{name}={value}")
    for name in ("since", "until"):
        value = getattr(query, name)
        if value is not None:
            parts.append(f"{name}={as_utc(value).isoformat()}")
    return ", ".join(parts) or "all entries"


def _query_details(query: AuditQuery) -> dict[str, str]:
    details = {}
    for name in ("record_type", "record_id", "actor", "action", "since", "until"):
        value = getattr(query, name)
        if value is None or value == "":
            continue
        details[name] = as_utc(value).isoformat() if isinstance(value, datetime) else str(value)
    return details


def _site_zone() -> tzinfo:
    return ZoneInfo(get_settings().site_timezone)


def _local(at: datetime, zone: tzinfo) -> str:
    return as_utc(at).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")


def _row(entry: AuditEntryView, zone: tzinfo) -> ExportRow:
    return ExportRow(
        id=entry.id,
        time_utc=as_utc(entry.at).isoformat().replace("+00:00", "Z"),
        time_local=_local(entry.at, zone),
        actor=entry.actor,
        record_type=entry.record_type,
        record_id=entry.record_id,
        action=entry.action,
        changes=describe_changes(entry.changes),
        reason=entry.reason or "",
        request_id=entry.request_id or "",
        hash=entry.hash,
    )


def iter_entries(*, actor: Actor, query: AuditQuery) -> Iterator[AuditEntryView]:
    """Every entry matching ``query``, oldest first, paged through the viewer's search."""
    after_id: int | None = None
    while True:
        batch = search_audit(actor=actor, query=query, after_id=after_id, limit=_PAGE_SIZE)
        yield from batch
        if len(batch) < _PAGE_SIZE:
            return
        after_id = batch[-1].id


@dataclass(frozen=True)
class ExportHeader:
    site_name: str
    filter: str
    generated_at_utc: datetime
    generated_local: str
    exported_by: str
    verification: VerificationResult

    @property
    def verification_text(self) -> str:
        v = self.verification
        if v.ok:
            return f"Audit chain intact: {v.checked} entries verified (SHA-256 hash chain)."
        return f"AUDIT CHAIN BROKEN at entry {v.first_broken_id}: {v.problem} ({v.checked} entries verified before it)."


def _csv(rows: list[ExportRow]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(row.as_csv())
    # The BOM makes Excel (zh-CN Windows) open UTF-8 instead of GBK-garbled Chinese.
    return buffer.getvalue().encode("utf-8-sig")


def _pdf(header: ExportHeader, rows: list[ExportRow]) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import LongTable, Paragraph, SimpleDocTemplate, Spacer, TableStyle

    register_cjk_font()
    page_size = landscape(A4)
    margin = 12 * mm
    title = f"{header.site_name} — Audit trail / 审计追踪"
    canvas = numbered_canvas(page_size=page_size, margin=margin, header_left=title,
                             header_right=f"Generated {header.generated_local} by {header.exported_by}",
                             footer_left=f"Filter: {header.filter}")

    small = ParagraphStyle("cell", fontName=PDF_FONT, fontSize=7, leading=8.5, wordWrap="CJK")
    head = ParagraphStyle("head", parent=small, fontSize=7.5)
    body = ParagraphStyle("body", fontName=PDF_FONT, fontSize=9, leading=12, wordWrap="CJK")
    verdict = ParagraphStyle("verdict", parent=body, fontSize=11, leading=14,
                             textColor=colors.darkgreen if header.verification.ok else colors.red)

    def cell(text: str, style: ParagraphStyle = small) -> Paragraph:
        return Paragraph(escape(text).replace("\n", "<br/>"), style)

    story: list[Any] = [
        Paragraph(escape(title), ParagraphStyle("title", parent=body, fontSize=14, leading=18)),
        Spacer(1, 2 * mm),
        Paragraph(escape(header.verification_text), verdict),
        Spacer(1, 1 * mm),
        cell(f"Site: {header.site_name}", body),
        cell(f"Filter: {header.filter}", body),
        cell(f"Entries in this export: {len(rows)}", body),
        cell(f"Generated: {header.generated_at_utc.isoformat().replace('+00:00', 'Z')} "
             f"({header.generated_local}) by {header.exported_by}", body),
        Spacer(1, 3 * mm),
    ]
    labels = ["ID", "Time / 时间", "Actor / 操作人", "Record / 记录", "Action / 动作", "Changes / 变更",
              "Reason / 原因", "Request · Hash"]
    data: list[list[Any]] = [[cell(label, head) for label in labels]]
    for r in rows:
        data.append([
            cell(str(r.id)),
            cell(f"{r.time_local}\n{r.time_utc}"),
            cell(r.actor),
            cell(f"{r.record_type}:{r.record_id}"),
            cell(r.action),
            cell(r.changes),
            cell(r.reason),
            cell(f"{r.request_id}\n{r.hash}" if r.request_id else r.hash),
        ])
    usable = page_size[0] - 2 * margin
    fractions = [0.04, 0.12, 0.09, 0.10, 0.07, 0.33, 0.11, 0.14]
    # splitInRow: one entry with a long change text may run over several pages.
    table = LongTable(data, colWidths=[usable * f for f in fractions], repeatRows=1, splitInRow=1)
    table.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8edf3")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 2),
        ("RIGHTPADDING", (0, 0), (-1, -1), 2),
    ]))
    story.append(table)
    if not rows:
        story.append(cell("No audit entries match this filter.", body))

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=page_size, leftMargin=margin, rightMargin=margin,
                            topMargin=14 * mm, bottomMargin=12 * mm, title="Audit trail export",
                            author=header.exported_by, subject=header.filter)
    doc.build(story, canvasmaker=canvas)
    return buffer.getvalue()


def export_audit(*, actor: Actor, fmt: str, query: AuditQuery) -> tuple[bytes, str, str]:
    """An inspection copy of the audit trail: (content, media type, filename). The export is audited."""
    if not actor.can("audit.export"):
        raise PermissionDenied("You do not have the permission audit.export.")
    fmt = (fmt or "").strip().lower()
    if fmt not in FORMATS:
        raise ValidationFailed.on("format", f"Format must be one of: {', '.join(FORMATS)}.")
    settings = get_settings()
    zone = _site_zone()
    rows = [_row(entry, zone) for entry in iter_entries(actor=actor, query=query)]
    now = utcnow()
    header = ExportHeader(
        site_name=settings.site_name,
        filter=describe_query(query),
        generated_at_utc=now,
        generated_local=_local(now, zone),
        exported_by=f"{actor.full_name} ({actor.username})" if actor.full_name != actor.username else actor.username,
        verification=verify_audit_trail(actor=actor),
    )
    content = _csv(rows) if fmt == "csv" else _pdf(header, rows)
    filename = f"audit-trail-{now.strftime('%Y%m%dT%H%M%SZ')}.{fmt}"
    with transaction(actor=actor, reason="Audit trail exported for inspection") as session:
        record_event(session, record_type="audit_trail", record_id=filename, action="export", details={
            "format": fmt,
            "filter": _query_details(query),
            "rows": len(rows),
            "chain_ok": header.verification.ok,
            # Lets an inspector confirm a copy on file is the one the system produced.
            "sha256": hashlib.sha256(content).hexdigest(),
        })
    return content, FORMATS[fmt], filename
