"""The executed batch record as a PDF, in Chinese, generated from the data (药品GMP 第一百七十五条 批生产记录).

Everything a reviewer or inspector needs on paper: the header, every step with every value,
its limits and whether it was within them, who recorded it and when, corrections with the
original value and the reason, equipment and lot scans, dispenses, the signatures with their
meaning, time and validity, the exceptions with their review and deviation numbers, the
reconciliation and the genealogy. Printing is audited because a copy leaves the system
(EU GMP Annex 11 §8.1; 21 CFR 11.10(b)).

``collect_batch_record`` reads the views, ``render_batch_record`` lays them out; the benchmark
renders a synthesised 300-step record with the latter.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from pharmos.batches.models import BatchStep
from pharmos.batches.views import (
    BatchView,
    DispenseView,
    EntryView,
    ExceptionView,
    GenealogyView,
    MaterialReconciliation,
    StepView,
)
from pharmos.compliance.audit import record_event
from pharmos.compliance.signatures import MEANINGS, SignatureView
from pharmos.core.actor import Actor
from pharmos.core.clock import as_utc, utcnow
from pharmos.core.config import get_settings
from pharmos.core.db import read_session, transaction
from pharmos.core.errors import DomainError
from pharmos.core.pdf import numbered_canvas, paragraph, register_cjk_font

__all__ = ["batch_record_pdf"]

_STATES = {"planned": "计划", "in_progress": "执行中", "on_hold": "暂停", "in_review": "待QA审核",
           "released": "已放行", "rejected": "已拒绝", "cancelled": "已取消"}
_STEP_STATES = {"pending": "未开始", "open": "进行中", "performed": "待复核", "done": "已完成"}
_EXCEPTION_KINDS = {"out_of_limit": "超出限度", "late_step": "超时", "override": "人工放行", "correction": "数据更正",
                    "lot_substitution": "批号替换", "weight_out_of_tolerance": "称量超差", "yield": "收率超限"}


@dataclass(frozen=True)
class BatchRecord:
    """Everything the printed record shows, read before rendering (the rendering touches no database)."""

    batch: BatchView
    steps: tuple[StepView, ...]
    exceptions: tuple[ExceptionView, ...]
    dispenses: tuple[DispenseView, ...]
    reconciliation: tuple[MaterialReconciliation, ...]
    genealogy: GenealogyView | None


def _text(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "是 / Yes" if value else "否 / No"
    if isinstance(value, datetime):
        return as_utc(value).strftime("%Y-%m-%d %H:%M:%S UTC")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"
    return str(value)


def _qty(value: Decimal | None, unit: str = "") -> str:
    return "—" if value is None else f"{value.normalize():f}" + (f" {unit}" if unit else "")


def _meaning(code: str) -> str:
    en, zh = MEANINGS.get(code, (code, code))
    return f"{zh} / {en}"


def _signature_line(s: SignatureView) -> str:
    validity = "有效" if s.valid else f"无效：{s.problem or '签名后记录已更改'}"
    return f"{s.printed_name} ({s.username}) · {_meaning(s.meaning)} · {_text(s.signed_at)} · {validity}" + (
        f" · 原因：{s.reason}" if s.reason else "")


def collect_batch_record(*, actor: Actor, batch_id: int) -> BatchRecord:
    """Read the batch, every step in detail, dispenses, exceptions, reconciliation and genealogy."""
    from pharmos.batches.completion import material_reconciliation
    from pharmos.batches.dispensing import list_dispenses
    from pharmos.batches.exceptions import list_exceptions
    from pharmos.batches.execution import step_view
    from pharmos.batches.genealogy import trace
    from pharmos.batches.review import get_batch

    actor.require("batches.view")
    batch = get_batch(actor=actor, batch_id=batch_id)
    with read_session() as session:
        rows = session.scalars(select(BatchStep).where(BatchStep.batch_id == batch_id).order_by(BatchStep.seq)).all()
        steps = tuple(step_view(session, row, details=True) for row in rows)
    reconciliation: Sequence[MaterialReconciliation] = ()
    if batch.actual_yield is not None:
        try:
            reconciliation = material_reconciliation(actor=actor, batch_id=batch_id)
        except DomainError:  # not reconcilable yet: the printout says so instead of failing
            reconciliation = ()
    genealogy = None
    if batch.output_lot_number:
        genealogy = trace(actor=actor, lot=batch.output_lot_number, direction="backward", max_depth=1)
    return BatchRecord(batch=batch, steps=steps,
                       exceptions=tuple(list_exceptions(actor=actor, batch_id=batch_id)),
                       dispenses=tuple(list_dispenses(actor=actor, batch_id=batch_id)),
                       reconciliation=tuple(reconciliation), genealogy=genealogy)


def batch_record_pdf(*, actor: Actor, batch_id: int) -> bytes:
    """The executed batch record as an A4 PDF in Chinese; the printing is audited."""
    record = collect_batch_record(actor=actor, batch_id=batch_id)
    name = f"{actor.full_name} ({actor.username})" if actor.full_name and actor.full_name != actor.username \
        else actor.username
    content = render_batch_record(record, printed_by=name)
    # EU GMP Annex 11 §8.1: who printed which copy of the record, and when.
    with transaction(actor=actor, reason=f"{record.batch.number} batch record printed") as session:
        record_event(session, record_type="batch", record_id=batch_id, action="print",
                     details={"number": record.batch.number, "document": "batch_record",
                              "pdf_sha256": hashlib.sha256(content).hexdigest()})
    return content


def _entry_row(entry: EntryView, parameter: Any, *, current: bool) -> tuple[str, ...]:
    limits = "—"
    if parameter.lower is not None or parameter.upper is not None:
        limits = f"{_qty(parameter.lower) if parameter.lower is not None else '−∞'} – " \
                 f"{_qty(parameter.upper) if parameter.upper is not None else '+∞'} {parameter.unit}".strip()
    elif parameter.expected:
        limits = f"应为 {parameter.expected}"
    within = "—" if entry.within_limits is None else ("符合" if entry.within_limits else "超出限度 ✗")
    value = f"{entry.value} {entry.unit}".strip()
    if not current:
        value = f"[原值，已更正] {value}"
    elif entry.corrects_id is not None:
        value = f"{value}（更正原因：{entry.correction_reason}）"
    label = f"{parameter.label}" + (" [CPP]" if parameter.critical else "")
    return (label, value, limits, within, f"{entry.recorded_by}\n{_text(entry.recorded_at)}")


def render_batch_record(record: BatchRecord, *, printed_by: str) -> bytes:
    """Lay the record out on A4 pages with a header and "page X of Y" on each."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import LongTable, SimpleDocTemplate, Spacer, TableStyle

    font = register_cjk_font()
    b = record.batch
    margin = 14 * mm
    site = get_settings().site_name
    now = utcnow().strftime("%Y-%m-%d %H:%M UTC")
    canvas = numbered_canvas(page_size=A4, margin=margin, header_left=f"{site} — 批生产记录 Batch record",
                             header_right=f"{b.number} · printed {now} by {printed_by}",
                             footer_left="打印件：以 Pharmos 中的电子批记录为准 / Printed copy: the electronic "
                                         "record in Pharmos is the original")
    body = ParagraphStyle("body", fontName=font, fontSize=8.5, leading=11, wordWrap="CJK")
    small = ParagraphStyle("small", parent=body, fontSize=7.5, leading=9.5)
    heading = ParagraphStyle("heading", parent=body, fontSize=11, leading=15, spaceBefore=8, spaceAfter=3)
    step_heading = ParagraphStyle("step", parent=body, fontSize=9.5, leading=13, spaceBefore=6, spaceAfter=2)
    title = ParagraphStyle("title", parent=body, fontSize=15, leading=20)
    usable = A4[0] - 2 * margin
    grid = [("GRID", (0, 0), (-1, -1), 0.25, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LEFTPADDING", (0, 0), (-1, -1), 3), ("RIGHTPADDING", (0, 0), (-1, -1), 3)]
    headed = TableStyle([*grid, ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8edf3"))])
    plain = TableStyle(grid)

    def table(headers: Sequence[str], rows: Sequence[Sequence[str]], fractions: Sequence[float]) -> Any:
        data = [[paragraph(h, small) for h in headers]] + [[paragraph(c, small) for c in r] for r in rows]
        t = LongTable(data, colWidths=[usable * f for f in fractions], repeatRows=1, splitInRow=1)
        t.setStyle(headed)
        return t

    def facts(rows: Sequence[tuple[str, str]]) -> Any:
        t = LongTable([[paragraph(k, small), paragraph(v, body)] for k, v in rows],
                      colWidths=[usable * 0.26, usable * 0.74], splitInRow=1)
        t.setStyle(plain)
        return t

    def none() -> Any:
        return paragraph("无 / None", body)

    story: list[Any] = [
        paragraph(f"批生产记录 Batch record  {b.number}", title),
        paragraph(f"{b.product_name}（{b.product_code}）", body),
        Spacer(1, 3 * mm),
        facts([
            ("批号 Batch", b.number),
            ("产品 Product", f"{b.product_name} ({b.product_code}) · {b.stage}"),
            ("主批记录 MBR", f"{b.mbr_number} 第 {b.mbr_version} 版"),
            ("批量 Batch size", f"{_qty(b.planned_size, b.unit)}（系数 {_qty(b.scale_factor)}）"),
            ("状态 State", f"{_STATES.get(b.state, b.state)} / {b.state}"),
            ("计划开始 Planned start", _text(b.planned_start)),
            ("下达 Ordered", f"{b.ordered_by} · {_text(b.created_at)}"),
            ("开始 Started", _text(b.started_at)),
            ("完成 Completed", _text(b.completed_at)),
            ("放行/拒绝 Decided", _text(b.decided_at)),
            ("产出批号 Output lot", b.output_lot_number or "—"),
            ("暂停原因 Hold reason", b.hold_reason or "—"),
        ]),
    ]

    # ------------------------------------------------ steps
    story.append(paragraph("工艺步骤 Steps", heading))
    dispenses_by_line: dict[int, list[DispenseView]] = {}
    for d in record.dispenses:
        dispenses_by_line.setdefault(d.line_no, []).append(d)
    phase = None
    for s in record.steps:
        if s.phase_name != phase:
            phase = s.phase_name
            story.append(paragraph(f"阶段 {s.phase_seq}：{s.phase_name}", heading))
        critical = "（关键步骤，需双人复核）" if s.critical else ""
        story.append(paragraph(f"步骤 {s.code}  {s.title}{critical} — {_STEP_STATES.get(s.state, s.state)}",
                               step_heading))
        rows: list[tuple[str, ...]] = []
        for pe in s.parameters:
            for old in pe.history:
                rows.append(_entry_row(old, pe.parameter, current=False))
            if pe.current is not None:
                rows.append(_entry_row(pe.current, pe.parameter, current=True))
            else:
                rows.append((pe.parameter.label, "未录入 / not entered", "—", "—", "—"))
        if rows:
            story.append(table(("参数 Parameter", "数值 Value", "限度 Limits", "判定 Result", "记录人/时间 By / at"),
                               rows, (0.24, 0.26, 0.17, 0.11, 0.22)))
        scans = [f"设备 {e.value}（{e.recorded_by}，{_text(e.recorded_at)}）" for e in s.equipment]
        scans += [f"物料批号 {e.value}（{e.recorded_by}，{_text(e.recorded_at)}）" for e in s.lots]
        if scans:
            story.append(paragraph("扫码 Scans: " + "；".join(scans), small))
        weighed = [d for m in s.materials for d in dispenses_by_line.get(m.line_no, [])]
        if weighed:
            story.append(table(
                ("称量 Dispense", "物料/批号 Material / lot", "毛重 Gross", "皮重 Tare", "净重 Net", "天平 Balance",
                 "称量人/时间 By / at"),
                [(d.number, f"{d.material_code} · {d.lot_number} · {d.container_number}"
                  + ("" if d.allocated_lot else f"（替换：{d.substitution_reason}）"),
                  _qty(d.gross), _qty(d.tare), _qty(d.net, d.unit), d.balance_number,
                  f"{d.dispensed_by}\n{_text(d.dispensed_at)}") for d in weighed],
                (0.12, 0.26, 0.09, 0.09, 0.11, 0.12, 0.21)))
        if s.signatures:
            story.append(paragraph("签名 Signatures: " + "；".join(_signature_line(sig) for sig in s.signatures),
                                   small))
        elif s.performed_by:
            story.append(paragraph(f"操作人 {s.performed_by} {_text(s.performed_at)}；复核人 "
                                   f"{s.verified_by or '—'} {_text(s.verified_at)}", small))

    # ------------------------------------------------ dispensing summary
    story.append(paragraph("称量配料 Dispensing", heading))
    if record.dispenses:
        story.append(table(
            ("行 Line", "物料 Material", "批号/容器 Lot / container", "毛重 Gross", "皮重 Tare", "净重 Net",
             "天平 Balance", "称量人/时间 By / at"),
            [(str(d.line_no), f"{d.material_code} {d.material_name}", f"{d.lot_number} / {d.container_number}",
              _qty(d.gross), _qty(d.tare), _qty(d.net, d.unit), d.balance_number,
              f"{d.dispensed_by}\n{_text(d.dispensed_at)}") for d in record.dispenses],
            (0.06, 0.2, 0.17, 0.09, 0.09, 0.1, 0.1, 0.19)))
    else:
        story.append(none())

    # ------------------------------------------------ exceptions
    story.append(paragraph("异常 Exceptions", heading))
    if record.exceptions:
        story.append(table(
            ("编号 No.", "类型 Kind", "步骤 Step", "描述与数据 Description", "偏差 Deviation", "审核 Review"),
            [(e.label + (" 关键" if e.critical else ""), _EXCEPTION_KINDS.get(e.kind, e.kind), e.step_code or "—",
              e.description + ("\n" + "；".join(f"{k}: {v}" for k, v in e.context.items()) if e.context else "")
              + (f"\n原因：{e.reason}" if e.reason else "") + f"\n{e.raised_by} · {_text(e.raised_at)}",
              e.deviation_number or "—",
              (f"{e.reviewed_by} · {_text(e.reviewed_at)}\n{e.review_comment}" if e.state == "reviewed"
               else "未审核 / not reviewed")) for e in record.exceptions],
            (0.08, 0.1, 0.07, 0.4, 0.12, 0.23)))
    else:
        story.append(none())

    # ------------------------------------------------ reconciliation
    story.append(paragraph("收率与物料平衡 Yield and reconciliation", heading))
    story.append(facts([
        ("理论收率 Theoretical", f"{_qty(b.theoretical_yield, b.yield_unit)}（接受范围 {_qty(b.yield_low_pct)}–"
                                 f"{_qty(b.yield_high_pct)} %）"),
        ("实际收率 Actual", f"{_qty(b.actual_yield, b.yield_unit)}"
                            + (f"（{_qty(b.yield_pct)} %）" if b.yield_pct is not None else "")),
        ("说明 Note", b.reconciliation_note or "—"),
    ]))
    if record.reconciliation:
        story.append(table(
            ("行 Line", "物料 Material", "理论 Target", "实际 Dispensed", "差异 Difference", "判定 Result"),
            [(str(r.line_no), r.material_code, _qty(r.target, r.unit), _qty(r.dispensed, r.unit),
              _qty(r.difference, r.unit), "符合" if r.within_tolerance else "超差 ✗") for r in record.reconciliation],
            (0.08, 0.26, 0.17, 0.17, 0.17, 0.15)))

    # ------------------------------------------------ genealogy
    story.append(paragraph("谱系 Genealogy", heading))
    if record.genealogy and record.genealogy.nodes:
        g = record.genealogy
        story.append(paragraph(f"产出批号 {g.lot_number} 由以下批次投料：", body))
        story.append(table(
            ("投料批号 Consumed lot", "物料 Material", "供应商批号 Supplier lot", "状态 State", "经由 Via batch"),
            [(n.lot_number, f"{n.material_code} {n.material_name}", n.supplier_lot or "—", n.state,
              n.via_batch or "—") for n in g.nodes if n.depth > 0],
            (0.2, 0.34, 0.18, 0.12, 0.16)))
    else:
        story.append(none())

    # ------------------------------------------------ batch signatures (release)
    story.append(paragraph("批记录签名 Batch signatures", heading))
    if b.signatures:
        story.append(table(
            ("签名人 Signed by", "含义 Meaning", "时间 Signed at", "原因 Reason", "有效 Valid"),
            [(f"{s.printed_name} ({s.username})", _meaning(s.meaning), _text(s.signed_at), s.reason or "—",
              "有效 / Yes" if s.valid else f"无效 / NO — {s.problem or '签名后记录已更改'}") for s in b.signatures],
            (0.24, 0.18, 0.2, 0.2, 0.18)))
    else:
        story.append(paragraph("尚未放行 / not yet released", body))

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=margin, rightMargin=margin, topMargin=14 * mm,
                            bottomMargin=12 * mm, title=f"批生产记录 {b.number}", author=printed_by,
                            subject="Batch record / 批生产记录")
    doc.build(story, canvasmaker=canvas)
    return buffer.getvalue()
