"""The demo site's electronic batch records: two effective recipes and three batches of HD-mAb01.

- MBR for the monoclonal-antibody downstream process (深层过滤 → 蛋白A亲和层析 → 低pH病毒灭活 →
  阴离子交换层析 → 超滤/换液), written by the downstream supervisor, reviewed by the upstream
  supervisor, approved and made effective by the QA manager — with Chinese instructions.
- MBR for formulation and fill-finish (配液 → 除菌过滤 → 灌装 → 轧盖 → 目检), effective too.
- Three downstream batches, executed on the tablet by the operators through the same services:
  one released by QA, one in execution (the first steps signed), and one waiting for QA review
  with exceptions — a pH out of limit in the virus inactivation (a critical parameter: the
  deviation is raised automatically and the batch was put on hold, then resumed) and a
  corrected entry with its reason.

Everything goes through ``pharmos.batches.service`` (and the lifecycles), so signatures, the
audit trail, stock issues and genealogy are genuine. Materials, equipment, SOPs and people are
those of the other demo loaders (pharmos.demo_materials, demo_equipment, demo_documents).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from pharmos.batches import service as batches
from pharmos.batches.mbr import BomLineInput, ParameterInput
from pharmos.compliance.lifecycle import apply_transition
from pharmos.core.actor import Actor
from pharmos.core.clock import utcnow
from pharmos.equipment import service as equipment

__all__ = ["DEMO_MBR_TITLES", "build_batches_demo"]

_MBRS = "master-batch-records"
_BATCHES = "batches"
AUTHOR = "prod.mawei"  # downstream production supervisor: writes the recipes, verifies critical steps
REVIEWER = "prod.chenjie"  # upstream production supervisor: reviews the recipes (药品GMP 第一百七十条)
QA_MANAGER = "qa.lina"  # approves recipes, releases batches
QA_REVIEWER = "qa.zhangwei"  # reviews the batch exceptions
PLANNER = "plan.xuting"
OPERATOR = "prod.huangmin"  # downstream operator (not trained on SOP-DSP-0002 — see demo_documents)
SECOND_OPERATOR = "prod.liuyang"  # trained on the virus-inactivation SOP; performs that step
DOWNSTREAM_TITLE = "HD-mAb01 原液下游纯化工艺规程"
FILL_TITLE = "HD-mAb01 注射液配制与无菌灌装工艺规程"
DEMO_MBR_TITLES = (DOWNSTREAM_TITLE, FILL_TITLE)

_P = ParameterInput


def _downstream(mbr_id: int, author: Actor) -> None:
    batches.set_bom(actor=author, mbr_id=mbr_id, lines=[
        BomLineInput("RM-30001", "6.05", "kg", "2", step_code="1.1"),
        BomLineInput("RM-30002", "8.77", "kg", "2", step_code="1.1"),
        BomLineInput("CS-60001", "3", "each", "0", dispensed=False, scan_required=False, rounding_places=0),
    ])
    phases = ("缓冲液称量配制", "深层过滤", "蛋白A亲和层析", "低pH病毒灭活", "阴离子交换层析", "超滤/换液")
    for name in phases:
        batches.add_phase(actor=author, mbr_id=mbr_id, name=name)
    batches.add_step(
        actor=author, mbr_id=mbr_id, phase_seq=1, kind="dispense", title="称量 Tris 与氯化钠（平衡缓冲液）",
        time_limit_minutes=240,
        instructions="1. 核对物料标签与批号，扫描容器条码。\n2. 在已校准的台秤上去皮后称量，净重须在目标量的 ±2% 内。\n"
                     "3. 每个容器称量后立即打印称量标签并贴于容器上。")
    batches.add_step(
        actor=author, mbr_id=mbr_id, phase_seq=2, title="收获液深层过滤澄清",
        instructions="1. 安装 D0HC 深层过滤器（3 个），用注射用水冲洗至少 100 L/m²。\n"
                     "2. 以 ≤150 LMH 通量过滤收获液，记录最大跨膜压差与滤液浊度。",
        parameters=[_P("DP_MAX", "最大压差", "numeric", unit="kPa", target="80", lower="0", upper="150"),
                    _P("TURBIDITY", "滤液浊度", "numeric", unit="NTU", target="5", lower="0", upper="20")])
    batches.add_step(
        actor=author, mbr_id=mbr_id, phase_seq=3, title="蛋白A亲和层析捕获（上样、淋洗、洗脱）", critical=True,
        sop_numbers=("SOP-DSP-0001",),
        instructions="1. 用平衡缓冲液平衡层析柱至出口 pH 与电导稳定。\n2. 上样载量不超过 45 g/L 填料。\n"
                     "3. 以 pH 3.5 醋酸缓冲液洗脱，按 UV280 收集洗脱峰。",
        parameters=[_P("LOAD", "上样载量", "numeric", unit="g/L", target="38", lower="20", upper="45",
                       critical=True),
                    _P("PEAK", "洗脱峰收集", "choice", choices=("按UV280自动收集", "手动收集"),
                       expected="按UV280自动收集")])
    batches.add_step(
        actor=author, mbr_id=mbr_id, phase_seq=4, title="低pH孵育病毒灭活", critical=True,
        sop_numbers=("SOP-DSP-0002",), equipment_classes=("ph_meter",),
        instructions="1. 扫描已校准的 pH 计。\n2. 用 0.5 M 醋酸将洗脱液调至 pH 3.5–3.7，室温孵育 60–120 分钟。\n"
                     "3. 孵育结束后用 1 M Tris 中和至 pH 5.5。**pH 为关键工艺参数，超限将自动触发偏差。**",
        parameters=[_P("PH", "孵育 pH", "numeric", target="3.6", lower="3.4", upper="3.8", critical=True),
                    _P("HOLD", "孵育时间", "duration", unit="min", target="75", lower="60", upper="120",
                       critical=True),
                    _P("TEMP", "孵育温度", "numeric", unit="°C", target="21", lower="18", upper="25")])
    batches.add_step(
        actor=author, mbr_id=mbr_id, phase_seq=5, title="阴离子交换层析（流穿模式）",
        instructions="1. 调节上样液电导至 5–9 mS/cm。\n2. 流穿模式收集产品，记录上样电导并目视检查流穿液。",
        parameters=[_P("COND", "上样电导", "numeric", unit="mS/cm", target="7", lower="5", upper="9"),
                    _P("CLEAR", "流穿液澄清无异物", "check", expected="pass")])
    batches.add_step(
        actor=author, mbr_id=mbr_id, phase_seq=6, title="超滤浓缩与换液，除菌过滤", critical=True,
        sop_numbers=("SOP-DSP-0003",),
        instructions="1. 30 kDa 膜包浓缩至约 50 g/L，用制剂缓冲液渗滤 8 倍体积。\n"
                     "2. 0.22 µm 过滤至一次性储液袋，过滤前后做滤器完整性测试。",
        parameters=[_P("CONC", "终浓度", "numeric", unit="g/L", target="50", lower="48", upper="55",
                       critical=True),
                    _P("DIAVOL", "渗滤体积倍数", "numeric", unit="DV", target="8", lower="7", upper="10"),
                    _P("INTEGRITY", "滤器完整性测试", "check", expected="pass", critical=True)])


def _fill_finish(mbr_id: int, author: Actor) -> None:
    batches.set_bom(actor=author, mbr_id=mbr_id, lines=[
        BomLineInput("IM-80001", "10.5", "L", "1", step_code="1.1"),
        BomLineInput("PK-70003", "1050", "each", "0", dispensed=False, scan_required=False, rounding_places=0),
        BomLineInput("PK-70012", "1050", "each", "0", dispensed=False, scan_required=False, rounding_places=0),
        BomLineInput("PK-70022", "1050", "each", "0", dispensed=False, scan_required=False, rounding_places=0),
    ])
    for name in ("配液", "除菌过滤", "灌装", "轧盖", "目检"):
        batches.add_phase(actor=author, mbr_id=mbr_id, name=name)
    batches.add_step(
        actor=author, mbr_id=mbr_id, phase_seq=1, kind="dispense", title="原液解冻与配液称量",
        instructions="1. 原液于 2–8 °C 解冻不少于 24 小时。\n2. 扫描原液容器，称量并记录；配液罐混匀 15 分钟。")
    batches.add_step(
        actor=author, mbr_id=mbr_id, phase_seq=2, title="除菌过滤（双级 0.22 µm）", critical=True,
        sop_numbers=("SOP-DSP-0003",),
        instructions="1. 过滤前进行滤器起泡点测试。\n2. 过滤至灌装缓冲罐，过滤后再次进行完整性测试。",
        parameters=[_P("BP_PRE", "过滤前起泡点", "numeric", unit="psi", lower="50", critical=True),
                    _P("BP_POST", "过滤后起泡点", "numeric", unit="psi", lower="50", critical=True)])
    batches.add_step(
        actor=author, mbr_id=mbr_id, phase_seq=3, title="西林瓶灌装加塞", critical=True,
        instructions="1. 每 30 分钟抽取 5 支称量装量。\n2. 记录装量与环境监测结果（A 级区）。",
        parameters=[_P("FILL", "平均装量", "numeric", unit="mL", target="10.4", lower="10.2", upper="10.6",
                       critical=True),
                    _P("EM", "A级区环境监测", "check", expected="pass")])
    batches.add_step(
        actor=author, mbr_id=mbr_id, phase_seq=4, title="轧盖",
        instructions="轧盖后目视检查铝盖外观，抽检密封性。",
        parameters=[_P("CRIMP", "轧盖外观", "check", expected="pass")])
    batches.add_step(
        actor=author, mbr_id=mbr_id, phase_seq=5, title="100% 灯检（目检）",
        instructions="按灯检规程逐支检查可见异物、裂纹、装量异常；记录剔除数量。",
        parameters=[_P("REJECTS", "剔除数量", "numeric", unit="支", lower="0", upper="50")])


def _effective_mbr(sign_in: Callable[[str], Actor], password: str, *, build: Callable[[int, Actor], None],
                   **header: Any) -> int:
    author, reviewer, qa = sign_in(AUTHOR), sign_in(REVIEWER), sign_in(QA_MANAGER)
    mbr = batches.create_mbr(actor=author, **header)
    build(mbr.id, author)
    apply_transition(actor=author, collection=_MBRS, record_id=mbr.id, name="submit", password=password)
    batches.review_mbr(actor=reviewer, mbr_id=mbr.id, password=password, comment="已与工艺验证报告核对，参数范围一致。")
    apply_transition(actor=qa, collection=_MBRS, record_id=mbr.id, name="approve", password=password)
    apply_transition(actor=qa, collection=_MBRS, record_id=mbr.id, name="make_effective")
    return mbr.id


def _usable(actor: Actor, class_code: str, prefer: str) -> str:
    """The number of a usable unit of the class, the one whose name contains ``prefer`` first."""
    units = equipment.list_equipment(actor=actor, class_code=class_code, limit=50)
    units.sort(key=lambda u: prefer not in (u.name_zh or ""))
    for unit in units:
        if equipment.usability(equipment_id=unit.id).usable:
            return unit.number
    raise RuntimeError(f"demo: no usable {class_code}")


class _Floor:
    """The shop floor executing a downstream batch: operators record, sign and verify through the services."""

    def __init__(self, sign_in: Callable[[str], Actor], password: str) -> None:
        self.password = password
        self.operator, self.second = sign_in(OPERATOR), sign_in(SECOND_OPERATOR)
        self.supervisor = sign_in(AUTHOR)
        self.balance = _usable(self.operator, "balance", "台秤")
        self.ph_meter = _usable(self.operator, "ph_meter", "配液间")

    def current(self, batch_id: int) -> Any:
        batch = batches.get_batch(actor=self.operator, batch_id=batch_id)
        return next(s for s in batch.steps if s.id in batch.current_step_ids)

    def run_step(self, batch_id: int, values: dict[str, str], *, corrections: dict[str, tuple[str, str]] | None = None,
                 last: dict[str, str] | None = None, on_hold_resume: str = "") -> None:
        step = batches.get_step(actor=self.operator, batch_id=batch_id, step_id=self.current(batch_id).id)
        # The virus-inactivation SOP is signed by the operator trained on it (药品GMP 第二十七条).
        who = self.second if "SOP-DSP-0002" in step.sop_numbers else self.operator
        for line in step.materials:
            self.dispense(who, batch_id, line)
        if "ph_meter" in step.equipment_classes:
            batches.scan_equipment(actor=who, batch_id=batch_id, step_id=step.id, number=self.ph_meter)
        # A critical value out of limit holds the batch at once, so it is entered after the others.
        late = last or {}
        for pe in step.parameters:
            code = pe.parameter.code
            if code in values and code not in late:
                step = batches.record_entry(actor=who, batch_id=batch_id, step_id=step.id, parameter_code=code,
                                            value=values[code])
        for code, value in late.items():
            step = batches.record_entry(actor=who, batch_id=batch_id, step_id=step.id, parameter_code=code,
                                        value=value)
        for code, (value, reason) in (corrections or {}).items():
            entry = next(pe.current for pe in step.parameters if pe.parameter.code == code and pe.current)
            step = batches.correct_entry(actor=who, batch_id=batch_id, step_id=step.id, entry_id=entry.id,
                                         value=value, reason=reason)
        if on_hold_resume and batches.get_batch(actor=who, batch_id=batch_id).state == "on_hold":
            # The supervisor resumes once QA has the deviation in hand (the exception stays for review).
            apply_transition(actor=self.supervisor, collection=_BATCHES, record_id=batch_id, name="resume",
                             reason=on_hold_resume)
        batches.sign_step(actor=who, batch_id=batch_id, step_id=step.id, password=self.password)
        if step.critical:
            batches.verify_step(actor=self.supervisor, batch_id=batch_id, step_id=step.id, password=self.password)

    def dispense(self, who: Actor, batch_id: int, line: Any) -> None:
        remaining = line.target - line.dispensed_total
        for reservation in line.reservations:
            if remaining <= 0:
                break
            net = min(remaining, Decimal(str(reservation["quantity"])))
            tare = Decimal("0.412")
            batches.dispense(actor=who, batch_id=batch_id, line_no=line.line_no,
                             container_number=reservation["container_number"], gross=net + tare, tare=tare,
                             balance_number=self.balance)
            remaining -= net


_GOOD = {"DP_MAX": "96", "TURBIDITY": "4.2", "LOAD": "39.5", "PEAK": "按UV280自动收集", "PH": "3.62",
         "HOLD": "78", "TEMP": "21.4", "COND": "7.1", "CLEAR": "pass", "CONC": "51.2", "DIAVOL": "8",
         "INTEGRITY": "pass"}
_STEPS = 6  # steps of the downstream recipe


def _order(sign_in: Callable[[str], Actor], mbr_id: int, *, days_ago: int) -> int:
    batch = batches.order_batch(actor=sign_in(PLANNER), mbr_id=mbr_id, planned_size=Decimal("2000"),
                                planned_start=utcnow() - timedelta(days=days_ago))
    apply_transition(actor=sign_in(AUTHOR), collection=_BATCHES, record_id=batch.id, name="start")
    return batch.id


def _finish(floor: _Floor, batch_id: int, actual_yield: str) -> None:
    batches.record_yield(actor=floor.supervisor, batch_id=batch_id, actual_yield=Decimal(actual_yield))
    apply_transition(actor=floor.supervisor, collection=_BATCHES, record_id=batch_id, name="complete")


def _read_protein_a_revision(sign_in: Callable[[str], Actor], password: str) -> None:
    """The operators sign the Protein A SOP revision that became effective today before they execute it.

    Step signing checks ``is_qualified`` on the current version (药品GMP 第二十七条): without this the
    demo batches would stop at the Protein A step, as they should.
    """
    from pharmos.quality import service as quality

    records = quality.list_training_records(actor=sign_in("qa.sunli"), state="assigned", limit=1000)
    for record in records:
        # prod.liuyang keeps it open: the README tour has him read and sign it.
        if record.username in (OPERATOR, AUTHOR) and record.subject.startswith("SOP-DSP-0001"):
            apply_transition(actor=sign_in(record.username), collection="training-records", record_id=record.id,
                             name="acknowledge", password=password)


def build_batches_demo(*, sign_in: Callable[[str], Actor], password: str) -> None:
    """Two effective recipes, a released batch, a batch in execution and one waiting for review."""
    _read_protein_a_revision(sign_in, password)
    downstream = _effective_mbr(
        sign_in, password, build=_downstream, title=DOWNSTREAM_TITLE, product_code="IM-80001", stage="downstream",
        batch_size=Decimal("2000"), batch_unit="L", theoretical_yield=Decimal("18"), yield_unit="L",
        yield_low_pct=Decimal("85"), yield_high_pct=Decimal("110"),
        description="2000 L 收获液纯化为 HD-mAb01 原液（约 18 L，50 g/L）。依据工艺验证报告 PV-2026-003。")
    _effective_mbr(
        sign_in, password, build=_fill_finish, title=FILL_TITLE, product_code="FP-90001", stage="formulation_fill",
        batch_size=Decimal("10.5"), batch_unit="L", theoretical_yield=Decimal("1000"), yield_unit="each",
        yield_low_pct=Decimal("90"), yield_high_pct=Decimal("102"),
        description="HD-mAb01 原液配制、除菌过滤、10R 西林瓶灌装（10 mL/支）、轧盖和灯检。")
    floor = _Floor(sign_in, password)

    # Released: ran as the recipe prescribes; QA released it with a signature.
    released = _order(sign_in, downstream, days_ago=6)
    for _ in range(_STEPS):
        floor.run_step(released, _GOOD)
    _finish(floor, released, "17.6")
    apply_transition(actor=sign_in(QA_MANAGER), collection=_BATCHES, record_id=released, name="release",
                     password=password, reason="批记录审核无异常，检验结果符合质量标准")

    # Waiting for review: the pH of the virus inactivation was out of limit (critical: a deviation was
    # raised and the batch held, then resumed), and a turbidity typo was corrected with its reason.
    review = _order(sign_in, downstream, days_ago=2)
    floor.run_step(review, _GOOD)
    floor.run_step(review, {**_GOOD, "TURBIDITY": "42"}, corrections={"TURBIDITY": ("4.2", "录入错误：小数点遗漏")})
    floor.run_step(review, _GOOD)
    floor.run_step(review, _GOOD, last={"PH": "3.86"},
                   on_hold_resume="偏差已报告QA，经评估可继续后续工序，产品处置待偏差调查结论")
    floor.run_step(review, _GOOD)
    floor.run_step(review, _GOOD)
    _finish(floor, review, "17.1")

    # In execution: weighed and filtered this morning; the Protein A step is next.
    running = _order(sign_in, downstream, days_ago=0)
    floor.run_step(running, _GOOD)
    floor.run_step(running, _GOOD)
