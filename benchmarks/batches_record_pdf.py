"""Executed batch record PDF for a 300-step batch (issue #6 target: under 10 s).

    .venv/bin/python benchmarks/batches_record_pdf.py [--steps 300] [--parameters 3] [--runs 3]

What is measured: ``pharmos.batches.record_pdf.render_batch_record`` — the whole layout and
PDF generation (A4, Chinese CID font, page X of Y) — on a SYNTHESISED record of ``--steps``
steps with ``--parameters`` parameter values each (one in five corrected, one in twenty out of
limit), a performer and verifier signature per step, 40 dispenses, 15 exceptions, a
reconciliation and a genealogy. Building a real 300-step master batch record and executing
it through the services would take far longer than the PDF itself and measure the services
instead; the data read (``collect_batch_record``) is a handful of indexed queries plus one
``step_view`` per step and is reported separately by the step-sign benchmark's database.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import banner, load_average

TARGET_S = 10.0


def synthetic_record(steps: int = 300, parameters: int = 3):  # type: ignore[no-untyped-def]
    """A BatchRecord as ``collect_batch_record`` would return it for a long, fully executed batch."""
    from pharmos.batches.record_pdf import BatchRecord
    from pharmos.batches.views import (
        BatchView,
        DispenseView,
        EntryView,
        ExceptionView,
        GenealogyNode,
        GenealogyView,
        MaterialReconciliation,
        MbrParameterView,
        ParameterEntryView,
        StepView,
    )
    from pharmos.compliance.signatures import SignatureView

    t0 = datetime(2026, 11, 3, 1, 0, tzinfo=UTC)
    step_views = []
    entry_id = 0
    for i in range(steps):
        at = t0 + timedelta(minutes=7 * i)
        pes = []
        for j in range(parameters):
            entry_id += 1
            p = MbrParameterView(id=j, seq=j, code=f"P{j}", label=f"温度 Temperature {j}", kind="numeric", unit="°C",
                                 target=Decimal("22"), lower=Decimal("18"), upper=Decimal("25"), choices=(),
                                 expected="", critical=j == 0, required=True)
            out = (i * parameters + j) % 20 == 0
            value = Decimal("26.4") if out else Decimal("21.7")
            current = EntryView(id=entry_id, step_id=i, kind="parameter", parameter_code=p.code, value=str(value),
                                numeric_value=value, unit="°C", reference_id=None, within_limits=not out,
                                recorded_by="prod.huangmin", recorded_at=at, corrects_id=None, correction_reason="",
                                superseded=False)
            history: tuple[EntryView, ...] = ()
            if (i + j) % 5 == 0:
                history = (EntryView(id=entry_id, step_id=i, kind="parameter", parameter_code=p.code, value="12.7",
                                     numeric_value=Decimal("12.7"), unit="°C", reference_id=None, within_limits=False,
                                     recorded_by="prod.huangmin", recorded_at=at, corrects_id=None,
                                     correction_reason="", superseded=True),)
                current = EntryView(**{**current.__dict__, "corrects_id": entry_id,
                                       "correction_reason": "录入错误：小数点位置 typo"})
            pes.append(ParameterEntryView(parameter=p, current=current, history=history))
        sigs = (SignatureView(id=2 * i, printed_name="黄敏", username="prod.huangmin", meaning="performed",
                              signed_at=at, reason=None, valid=True, problem=None),
                SignatureView(id=2 * i + 1, printed_name="马伟", username="prod.mawei", meaning="verified",
                              signed_at=at + timedelta(minutes=2), reason=None, valid=True, problem=None))
        equipment = (EntryView(id=0, step_id=i, kind="equipment", parameter_code="", value=f"EQ-{i % 12:03d}",
                               numeric_value=None, unit="", reference_id=None, within_limits=None,
                               recorded_by="prod.huangmin", recorded_at=at, corrects_id=None, correction_reason="",
                               superseded=False),)
        step_views.append(StepView(
            id=i, batch_id=1, batch_number="B26110001", seq=i + 1, code=f"{i // 10 + 1}.{i % 10 + 1}",
            title=f"层析柱平衡与上样 第{i + 1}步", phase_seq=i // 10 + 1, phase_name=f"阶段 {i // 10 + 1} 纯化",
            critical=i % 4 == 0, state="done", available_at=at, due_at=None, performed_by="prod.huangmin",
            performed_at=at, verified_by="prod.mawei", verified_at=at, parameters=tuple(pes), equipment=equipment,
            signatures=sigs))
    dispenses = tuple(DispenseView(
        id=k, number=f"DSP-{k:05d}", batch_id=1, batch_number="B26110001", material_line_id=k % 8, line_no=k % 8 + 1,
        material_code=f"RM-3000{k % 8}", material_name="氯化钠", container_number=f"C-{k:05d}", lot_id=k,
        lot_number=f"L2611{k:04d}", gross=Decimal("25.412"), tare=Decimal("0.412"), net=Decimal("25.000"), unit="kg",
        balance_number="BAL-03", weight_source="manual", allocated_lot=True, substitution_reason="",
        dispensed_by="prod.huangmin", dispensed_at=t0, labels_printed=1) for k in range(40))
    exceptions = tuple(ExceptionView(
        id=k, batch_id=1, batch_number="B26110001", label=f"EX-{k + 1:02d}", kind="out_of_limit", critical=k % 3 == 0,
        step_id=k, step_code=f"{k + 1}.1", entry_id=None, description="温度超出限度 26.4 °C（18–25 °C）",
        context={"value": "26.4", "lower": "18", "upper": "25"}, reason="", raised_by="prod.huangmin", raised_at=t0,
        deviation_number=f"DEV-2026-{k:04d}" if k % 3 == 0 else None, state="reviewed", reviewed_by="qa.zhangwei",
        reviewed_at=t0, review_comment="已评估，无产品质量影响") for k in range(15))
    signature = SignatureView(id=9999, printed_name="李娜", username="qa.lina", meaning="released", signed_at=t0,
                              reason="批记录审核无误", valid=True, problem=None)
    batch = BatchView(
        id=1, number="B26110001", mbr_id=1, mbr_number="MBR-0001", mbr_version=2, product_code="IM-80001",
        product_name="HD-mAb01 原液", stage="downstream", planned_size=Decimal("2000"), unit="L",
        scale_factor=Decimal("1"), planned_start=t0, state="released", ordered_by="plan.xuting", created_at=t0,
        started_at=t0, completed_at=t0, decided_at=t0, hold_reason="", theoretical_yield=Decimal("18.0"),
        yield_unit="L", yield_low_pct=Decimal("85"), yield_high_pct=Decimal("105"), actual_yield=Decimal("17.6"),
        yield_pct=Decimal("97.8"), reconciliation_note="", output_lot_id=7, output_lot_number="HD-DS-2611003",
        steps_total=steps, steps_done=steps, signatures=(signature,))
    reconciliation = tuple(MaterialReconciliation(
        line_no=k + 1, material_code=f"RM-3000{k}", target=Decimal("125"), dispensed=Decimal("125.000"), unit="kg",
        difference=Decimal("0"), within_tolerance=True) for k in range(8))
    genealogy = GenealogyView(lot_id=7, lot_number="HD-DS-2611003", direction="backward", nodes=tuple(
        GenealogyNode(lot_id=k, lot_number=f"L2611{k:04d}", material_code=f"RM-3000{k % 8}", material_name="氯化钠",
                      supplier_lot=f"K55{k:06d}", state="released", depth=1, via_batch="B26110001")
        for k in range(40)), batches=("B26110001",))
    return BatchRecord(batch=batch, steps=tuple(step_views), exceptions=exceptions, dispenses=dispenses,
                       reconciliation=reconciliation, genealogy=genealogy)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--parameters", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    banner("Batch record PDF (synthesised record, render only)")
    from pharmos.batches.record_pdf import render_batch_record

    record = synthetic_record(args.steps, args.parameters)
    render_batch_record(synthetic_record(3, 1), printed_by="warm-up")  # font registration, imports
    timings, size = [], 0
    for _ in range(args.runs):
        started = time.perf_counter()
        content = render_batch_record(record, printed_by="bench")
        timings.append(time.perf_counter() - started)
        size = len(content)
    import io

    from pypdf import PdfReader

    pages = len(PdfReader(io.BytesIO(content)).pages)
    print(f"load    : {load_average()}")
    print(f"record  : {args.steps} steps × {args.parameters} parameters (synthesised), {pages} pages, "
          f"{size / 1024:.0f} KiB")
    print(f"render  : median {statistics.median(timings):.2f} s, max {max(timings):.2f} s over {args.runs} runs "
          f"(target < {TARGET_S:.0f} s: {'met' if max(timings) < TARGET_S else 'NOT met'})")


if __name__ == "__main__":
    main()
