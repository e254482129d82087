"""A quality record as a printable PDF: its fields, its signatures and its audit trail.

One layout for every quality record (deviation, CAPA, change control, document version,
training record, complaint): each module builds a ``RecordPrintout`` from its own view and
calls ``render_record_pdf``. Printing is audited (action ``print``) because a printed copy
leaves the system (EU GMP Annex 11 §8.1: clear printed copies of electronically stored data;
21 CFR 11.10(b): accurate and complete copies in human readable form for inspection).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmos.compliance.audit import AuditEntry, record_event
from pharmos.compliance.export import describe_changes
from pharmos.compliance.signatures import MEANINGS, SignatureView
from pharmos.core.actor import Actor
from pharmos.core.clock import as_utc, utcnow
from pharmos.core.config import get_settings
from pharmos.core.db import transaction
from pharmos.core.pdf import numbered_canvas, paragraph, register_cjk_font

__all__ = [
    "PrintSection",
    "PrintTable",
    "RecordPrintout",
    "audit_rows",
    "print_capa",
    "print_deviation",
    "printed",
    "render_record_pdf",
]

PDF_MEDIA_TYPE = "application/pdf"


@dataclass(frozen=True)
class PrintSection:
    """A titled block of label/value pairs."""

    title: str
    rows: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class PrintTable:
    """A titled table (linked records, assessments, tasks, …)."""

    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class AuditRow:
    at: datetime
    actor: str
    action: str
    changes: str
    reason: str
    hash: str


@dataclass(frozen=True)
class RecordPrintout:
    kind: str  # "Deviation / 偏差"
    number: str
    title: str
    state: str
    sections: tuple[PrintSection, ...]
    signatures: tuple[SignatureView, ...]
    audit: tuple[AuditRow, ...]
    tables: tuple[PrintTable, ...] = field(default_factory=tuple)


def text(value: Any) -> str:
    """A field value as printed: dates ISO, times in UTC, booleans yes/no, lists one per line, empty as —."""
    if value is None or value == "" or value == () or value == []:
        return "—"
    if isinstance(value, bool):
        return "Yes / 是" if value else "No / 否"
    if isinstance(value, datetime):
        return as_utc(value).strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "\n".join(text(v) for v in value)
    return str(value)


def audit_rows(session: Session, *, record_type: str, record_ids: Sequence[int | str]) -> tuple[AuditRow, ...]:
    """The audit entries of a record (and of its child rows, given their ids), oldest first."""
    ids = [str(i) for i in record_ids]
    entries = session.scalars(select(AuditEntry).where(
        AuditEntry.record_type == record_type, AuditEntry.record_id.in_(ids)).order_by(AuditEntry.id))
    return tuple(AuditRow(as_utc(e.at), e.actor, e.action, describe_changes(orjson.loads(e.changes)),
                          e.reason or "", e.hash) for e in entries)


def render_record_pdf(printout: RecordPrintout, *, printed_by: str) -> bytes:
    """The record as an A4 PDF: header, fields, tables, signatures (with validity), audit trail."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import KeepTogether, LongTable, SimpleDocTemplate, Spacer, TableStyle

    font = register_cjk_font()
    page_size = A4
    margin = 14 * mm
    now = utcnow().strftime("%Y-%m-%d %H:%M UTC")
    site = get_settings().site_name
    canvas = numbered_canvas(page_size=page_size, margin=margin, header_left=f"{site} — {printout.kind}",
                             header_right=f"{printout.number} · printed {now} by {printed_by}",
                             footer_left="Printed copy: the electronic record in Pharmos is the original / "
                                         "打印件：以 Pharmos 中的电子记录为准")
    body = ParagraphStyle("body", fontName=font, fontSize=9, leading=12, wordWrap="CJK")
    small = ParagraphStyle("small", parent=body, fontSize=7.5, leading=9.5)
    heading = ParagraphStyle("heading", parent=body, fontSize=11, leading=15, spaceBefore=6, spaceAfter=3)
    title = ParagraphStyle("title", parent=body, fontSize=15, leading=20)
    usable = page_size[0] - 2 * margin
    grid = TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
    ])
    headed = TableStyle([*grid.getCommands(), ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8edf3"))])

    def table(headers: Sequence[str], rows: Sequence[Sequence[str]], fractions: Sequence[float]) -> Any:
        data = [[paragraph(h, small) for h in headers]] + [[paragraph(c, small) for c in r] for r in rows]
        t = LongTable(data, colWidths=[usable * f for f in fractions], repeatRows=1, splitInRow=1)
        t.setStyle(headed)
        return t

    story: list[Any] = [
        paragraph(f"{printout.kind}  {printout.number}", title),
        paragraph(printout.title, body),
        paragraph(f"State / 状态: {printout.state}", body),
        Spacer(1, 3 * mm),
    ]
    for section in printout.sections:
        rows = [[paragraph(label, small), paragraph(value, body)] for label, value in section.rows]
        block = LongTable(rows, colWidths=[usable * 0.28, usable * 0.72], splitInRow=1)
        block.setStyle(grid)
        story += [paragraph(section.title, heading), block]
    for extra in printout.tables:
        story.append(paragraph(extra.title, heading))
        if extra.rows:
            story.append(table(extra.headers, extra.rows, [1 / len(extra.headers)] * len(extra.headers)))
        else:
            story.append(paragraph("None / 无", body))
    # 21 CFR 11.50: each signature shows the printed name, the date and time, and the meaning.
    story.append(paragraph("Electronic signatures / 电子签名", heading))
    if printout.signatures:
        story.append(table(
            ("Signed by / 签名人", "Meaning / 含义", "Signed at / 签名时间", "Reason / 原因", "Valid / 有效"),
            [(f"{s.printed_name} ({s.username})", " / ".join(MEANINGS.get(s.meaning, (s.meaning, s.meaning))),
              text(s.signed_at), s.reason or "—",
              "Yes / 是" if s.valid else f"NO / 否 — {s.problem or 'changed after signing'}")
             for s in printout.signatures], (0.24, 0.18, 0.2, 0.2, 0.18)))
    else:
        story.append(paragraph("No signatures / 无签名", body))
    story.append(KeepTogether([paragraph("Audit trail / 审计追踪", heading)]))
    story.append(table(
        ("Time (UTC) / 时间", "By / 操作人", "Action / 动作", "Changes / 变更", "Reason / 原因"),
        [(text(a.at), a.actor, a.action, a.changes, a.reason or "—") for a in printout.audit],
        (0.16, 0.12, 0.1, 0.44, 0.18)))
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=page_size, leftMargin=margin, rightMargin=margin,
                            topMargin=14 * mm, bottomMargin=12 * mm, title=f"{printout.number} {printout.title}",
                            author=printed_by, subject=printout.kind)
    doc.build(story, canvasmaker=canvas)
    return buffer.getvalue()


def printed(*, actor: Actor, printout: RecordPrintout, record_type: str, record_id: int,
            filename_stem: str) -> tuple[bytes, str, str]:
    """Render ``printout`` and audit the printing; (content, media type, filename) for a download."""
    name = f"{actor.full_name} ({actor.username})" if actor.full_name and actor.full_name != actor.username \
        else actor.username
    content = render_record_pdf(printout, printed_by=name)
    with transaction(actor=actor, reason=f"{printout.number} printed") as session:
        record_event(session, record_type=record_type, record_id=record_id, action="print",
                     details={"number": printout.number, "pages_sha256": _sha256(content)})
    return content, PDF_MEDIA_TYPE, f"{filename_stem}.pdf"


def _sha256(content: bytes) -> str:
    import hashlib

    return hashlib.sha256(content).hexdigest()


def print_deviation(*, actor: Actor, deviation_id: int) -> tuple[bytes, str, str]:
    from pharmos.core.db import read_session
    from pharmos.quality.deviations import get_deviation

    d = get_deviation(actor=actor, deviation_id=deviation_id)
    with read_session() as session:
        audit = audit_rows(session, record_type="deviation", record_ids=[d.id])
    printout = RecordPrintout(
        kind="Deviation / 偏差", number=d.number, title=d.title, state=d.state,
        sections=(
            PrintSection("Report / 报告", (
                ("Description / 描述", d.description), ("Area / 地点", text(d.area)),
                ("Occurred / 发生时间", text(d.occurred_at)), ("Discovered / 发现时间", text(d.discovered_at)),
                ("Immediate action / 紧急措施", text(d.immediate_action)), ("Source / 来源", text(d.source)),
                ("Reported by / 报告人", f"{d.reported_by}, {text(d.reported_at)}"))),
            PrintSection("Classification / 分级", (
                ("Class / 级别", text(d.classification)),
                ("Risk S×O×D / 风险", f"{text(d.severity)} × {text(d.occurrence)} × {text(d.detectability)}"
                                      f" = {text(d.risk_priority)}"),
                ("Rationale / 理由", text(d.classification_rationale)), ("Due on / 截止日期", text(d.due_on)),
                ("Extensions granted / 已批准延期", str(d.extensions_granted)))),
            PrintSection("Investigation / 调查", (
                ("Investigator / 调查人", text(d.investigator)),
                ("5 Why", "\n".join(f"{i}. {w}" for i, w in enumerate(d.five_whys, 1)) or "—"),
                ("Root cause category / 根本原因类别", text(d.root_cause_category)),
                ("Root cause / 根本原因", text(d.root_cause)),
                ("Impact assessment / 影响评估", text(d.impact_assessment)),
                ("Product impact / 影响产品", text(d.product_impact)), ("Conclusion / 结论", text(d.conclusion)))),
        ),
        tables=(
            PrintTable("Linked records / 关联记录", ("Type / 类型", "Reference / 编号", "Added by / 添加人"),
                       tuple((link.record_type, link.reference, link.added_by) for link in d.links)),
            PrintTable("Extensions / 延期", ("Requested / 申请", "Justification / 理由", "Decision / 决定"),
                       tuple((f"{e.current_due_on} → {e.requested_due_on} ({e.requested_by})", e.justification,
                              f"{e.decision} {e.decided_by} {e.decision_comment}".strip())
                             for e in d.extensions)),
            PrintTable("CAPA", ("Number / 编号", "Title / 标题", "Owner / 负责人", "State / 状态"),
                       tuple((c.number, c.title, c.owner, c.state) for c in d.capas)),
        ),
        signatures=d.signatures, audit=audit)
    return printed(actor=actor, printout=printout, record_type="deviation", record_id=d.id, filename_stem=d.number)


def print_capa(*, actor: Actor, capa_id: int) -> tuple[bytes, str, str]:
    from pharmos.core.db import read_session
    from pharmos.quality.capa import get_capa

    c = get_capa(actor=actor, capa_id=capa_id)
    with read_session() as session:
        audit = audit_rows(session, record_type="capa", record_ids=[c.id])
    printout = RecordPrintout(
        kind="CAPA / 纠正预防措施", number=c.number, title=c.title, state=c.state,
        sections=(
            PrintSection("Action / 措施", (
                ("Kind / 类型", c.kind), ("Description / 描述", text(c.description)),
                ("Source / 来源", f"{c.source_type} {c.source_reference}".strip()), ("Owner / 负责人", c.owner),
                ("Due on / 截止日期", text(c.due_on)), ("Created by / 创建人", f"{c.author}, {text(c.created_at)}"))),
            PrintSection("Implementation and effectiveness / 实施与有效性", (
                ("Implementation / 实施情况", text(c.implementation_summary)),
                ("Implemented at / 实施时间", text(c.implemented_at)),
                ("Effectiveness criteria / 有效性标准", text(c.effectiveness_criteria)),
                ("Effectiveness check due / 有效性检查日期", text(c.effectiveness_due_on)),
                ("Effectiveness result / 有效性结果", text(c.effectiveness_result)),
                ("Effective / 有效", text(c.effective)), ("Closed at / 关闭时间", text(c.closed_at)))),
        ),
        signatures=c.signatures, audit=audit)
    return printed(actor=actor, printout=printout, record_type="capa", record_id=c.id, filename_stem=c.number)
