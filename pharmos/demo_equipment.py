"""The demo site's equipment: a CHO monoclonal-antibody plant's ledger, metrology and maintenance.

Called by ``pharmos.demo.load_demo_site`` after the warehouse is loaded. Every record goes
through ``pharmos.equipment.service`` and the lifecycles with real sign-ins and signatures,
so the equipment audit trail and the logbooks are as genuine as the rest of the demo:

- the metrology engineer registers and qualifies equipment and records calibrations; only the
  QA manager releases equipment to service and approves calibration records (EU GMP Annex 15
  §3, 药品GMP 第九十二条);
- operators record use and cleaning; the daily round of the clean area is walked on a tablet
  by scanning each equipment's QR label;
- maintenance technicians carry out work orders and sign them; the equipment owner (a
  production supervisor) closes them with a second signature;
- a QA specialist assesses the impact of an out-of-tolerance balance on the batches weighed
  on it since its last passing calibration.

The clock is never faked. Dates in the past come the way they come at a real go-live: the
qualification protocols and calibration certificates carry their own (past) dates. Two
instruments are overdue because the annual metrology review shortened their calibration
interval after they were released (the new interval counts from their last calibration).
Yesterday's cold-chain round was never walked, so the daily scan at the end flags it
missed; the same scan raises the due-date reminders and generates the due preventive work
orders, exactly as ``pharmos equipment daily-scan`` does every night.

All dates are relative to the day the demo is loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import NamedTuple

from pharmos.compliance.lifecycle import apply_transition
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today
from pharmos.equipment import service as equipment

# Batches of the demo plan (the materials demo issues stock to BO-2026-0007 and -0008).
SEED_BATCH = "BO-2026-0007"
BUFFER_BATCH = "BO-2026-0008"
PREVIOUS_HARVEST = "BO-2026-0005"
# Batches whose buffers were weighed on the balance that later failed its calibration.
WEIGHED_ON_FAILED_BALANCE = ("BO-2026-0003", "BO-2026-0004", "BO-2026-0005", "BO-2026-0006", "BO-2026-0008")

# ---------------------------------------------------------------- classes


class DemoClass(NamedTuple):
    code: str
    name_zh: str
    name_en: str
    prefix: str
    is_instrument: bool = False
    calibration_interval_days: int | None = None
    requalification_interval_days: int | None = None
    clean_hold_hours: int | None = None
    dirty_hold_hours: int | None = None


# Hold times come from the cleaning validation (EU GMP Annex 15 §10.11-§10.12): how long a
# cleaned vessel stays clean, how long a used one may wait before cleaning.
CLASSES: tuple[DemoClass, ...] = (
    DemoClass("bioreactor", "生物反应器", "Bioreactor", "BR", requalification_interval_days=365,
              clean_hold_hours=72, dirty_hold_hours=24),
    DemoClass("chromatography", "层析系统", "Chromatography system", "CS", requalification_interval_days=365,
              clean_hold_hours=96, dirty_hold_hours=24),
    DemoClass("ufdf", "超滤/渗滤系统", "UF/DF system", "UF", requalification_interval_days=365,
              clean_hold_hours=72, dirty_hold_hours=24),
    DemoClass("filling_line", "无菌灌装线", "Aseptic filling line", "FL", requalification_interval_days=365,
              clean_hold_hours=24, dirty_hold_hours=12),
    DemoClass("autoclave", "湿热灭菌柜", "Steam steriliser (autoclave)", "AC", requalification_interval_days=365),
    DemoClass("ult_freezer", "超低温冰箱（−80 °C）", "Ultra-low freezer (−80 °C)", "FRZ",
              requalification_interval_days=730),
    DemoClass("cold_room", "冷库（2–8 °C）", "Cold room (2–8 °C)", "CR", requalification_interval_days=730),
    DemoClass("balance", "天平", "Balance", "BAL", is_instrument=True, calibration_interval_days=180),
    DemoClass("ph_meter", "pH计", "pH meter", "PH", is_instrument=True, calibration_interval_days=90),
)

# ---------------------------------------------------------------- equipment


class DemoPoint(NamedTuple):
    nominal: str
    as_left: str
    as_found: str | None = None


class DemoInstrument(NamedTuple):
    range_low: str
    range_high: str
    range_unit: str
    tolerance: str
    reference_standard: str
    points: tuple[DemoPoint, ...]
    calibrated_days_ago: int
    interval_days: int | None = None  # None: the class's


class DemoEquipment(NamedTuple):
    key: str
    class_code: str
    name_zh: str
    name_en: str
    location: str
    manufacturer: str
    model: str
    serial_number: str
    installed_days_ago: int
    department: str
    owner: str | None
    pq_days_ago: int | None  # None: PQ not done yet (stays in commissioning)
    instrument: DemoInstrument | None = None
    usage_unit: str = "h"


_UP, _DOWN, _FILL = "生产部（上游）", "生产部（下游）", "生产部（无菌制剂）"
_QC, _WH, _ENG = "质量控制部", "仓储物流部", "设备工程部"
_WEIGHTS_E2 = "E2 级标准砝码组 JL-FM-003（苏州市计量测试院 2026-03 检定）"
_WEIGHTS_F1 = "F1 级标准砝码组 JL-FM-007（苏州市计量测试院 2026-03 检定）"
_BUFFERS = "pH 4.01 / 7.00 / 10.01 标准缓冲液（可溯源至 NIST SRM 185/186）"

EQUIPMENT: tuple[DemoEquipment, ...] = (
    DemoEquipment("br50", "bioreactor", "50 L 一次性种子生物反应器", "50 L single-use seed bioreactor",
                  "B2-201 上游细胞培养间", "Sartorius", "Biostat STR 50", "STR50-21-0456", 900, _UP,
                  "prod.chenjie", 300),
    DemoEquipment("br500", "bioreactor", "500 L 一次性生物反应器（N-1）", "500 L single-use bioreactor (N-1)",
                  "B2-202 上游细胞培养间", "Sartorius", "Biostat STR 500", "STR500-21-0112", 900, _UP,
                  "prod.chenjie", 300),
    DemoEquipment("br2000a", "bioreactor", "2000 L 一次性生物反应器 1#", "2000 L single-use bioreactor #1",
                  "B2-203 生产细胞培养间", "Thermo Fisher", "HyPerforma S.U.B. 2000", "SUB2000-20-3381", 1100, _UP,
                  "prod.chenjie", 320),
    DemoEquipment("br2000b", "bioreactor", "2000 L 一次性生物反应器 2#", "2000 L single-use bioreactor #2",
                  "B2-203 生产细胞培养间", "Thermo Fisher", "HyPerforma S.U.B. 2000", "SUB2000-20-3382", 1100, _UP,
                  "prod.chenjie", 320),
    DemoEquipment("cs1", "chromatography", "工艺层析系统 1#（Protein A 捕获）", "Process chromatography system #1",
                  "B2-301 下游纯化间", "Cytiva", "ÄKTA process 10 mm", "AP10-19-2207", 1000, _DOWN,
                  "prod.mawei", 200),
    DemoEquipment("cs2", "chromatography", "工艺层析系统 2#（精纯，调试中）", "Process chromatography system #2",
                  "B2-302 下游纯化间", "Cytiva", "ÄKTA ready 450", "AR450-26-0031", 40, _DOWN,
                  "prod.mawei", None),
    DemoEquipment("uf1", "ufdf", "切向流超滤/渗滤系统", "Tangential-flow UF/DF system",
                  "B2-303 下游纯化间", "Sartorius", "Sartoflow Smart", "SFS-22-0874", 800, _DOWN,
                  "prod.mawei", 250),
    DemoEquipment("fl1", "filling_line", "西林瓶无菌灌装加塞线（RABS）",
                  "Vial aseptic filling and stoppering line (RABS)",
                  "C1-105 A级灌装间", "东富龙 Tofflon", "SGF-300 + RABS", "TF-SGF-2020-118", 1200, _FILL,
                  "prod.mawei", 280),
    DemoEquipment("ac1", "autoclave", "脉动真空湿热灭菌柜（器具、胶塞）", "Pulse-vacuum steam steriliser",
                  "C1-102 器具灭菌间", "山东新华医疗", "XG1.DWB-1.2", "XH-2019-44821", 1500, _FILL,
                  "prod.mawei", 340),
    DemoEquipment("ac2", "autoclave", "湿热灭菌柜（废弃物灭活）", "Steam steriliser (waste inactivation)",
                  "B2-210 废弃物处理间", "山东新华医疗", "XG1.DMD-0.6", "XH-2021-50377", 900, _UP,
                  "prod.chenjie", 150),
    DemoEquipment("frz1", "ult_freezer", "−80 °C 超低温冰箱（原液）", "−80 °C ultra-low freezer (drug substance)",
                  "WH2-ULT 超低温冰箱区", "Thermo Fisher", "TSX60086V", "TSX-0523-1187", 600, _WH, None, 400),
    DemoEquipment("frz2", "ult_freezer", "−80 °C 超低温冰箱（细胞库）", "−80 °C ultra-low freezer (cell bank)",
                  "Q2-108 细胞库", "海尔生物医疗", "DW-86L828J", "HR-86-2022-0915", 700, _QC, None, 360),
    DemoEquipment("cr1", "cold_room", "1号冷库（2–8 °C，原辅料）", "Cold room 1 (2–8 °C, raw materials)",
                  "WH2-CR1", "苏州冷链工程", "组合式冷库 60 m³", "SZL-CR-2018-01", 2500, _WH, None, 420),
    DemoEquipment("cr2", "cold_room", "2号冷库（2–8 °C，成品）", "Cold room 2 (2–8 °C, finished product)",
                  "WH2-CR2", "苏州冷链工程", "组合式冷库 80 m³", "SZL-CR-2018-02", 2500, _WH, None, 420),
    DemoEquipment("bal1", "balance", "分析天平（QC 理化室）", "Analytical balance (QC lab)",
                  "Q2-201 理化实验室", "Mettler Toledo", "XPR225DR", "B947362518", 700, _QC, None, 200,
                  DemoInstrument("0", "220", "g", "0.0005", _WEIGHTS_E2,
                                 (DemoPoint("10", "10.0001", "10.0002"), DemoPoint("100", "100.0002", "100.0002"),
                                  DemoPoint("200", "200.0003", "200.0004")), 165)),
    DemoEquipment("bal2", "balance", "精密天平（缓冲液称量间）", "Precision balance (buffer weighing room)",
                  "B2-305 称量间", "Mettler Toledo", "XSR6002S", "C118452907", 800, _DOWN, "prod.mawei", 250,
                  DemoInstrument("0", "6100", "g", "0.1", _WEIGHTS_F1,
                                 (DemoPoint("500", "500.02", "500.03"), DemoPoint("2000", "2000.03", "2000.04"),
                                  DemoPoint("5000", "5000.05", "5000.06")), 60)),
    DemoEquipment("bal3", "balance", "台秤（150 kg，配液间）", "Platform scale (150 kg, buffer preparation)",
                  "B2-306 配液间", "Mettler Toledo", "ICS429g-150", "D302277610", 900, _DOWN, "prod.mawei", 250,
                  DemoInstrument("0", "150", "kg", "0.02", "M1 级标准砝码 20 kg ×5（JL-FM-011）",
                                 (DemoPoint("20", "20.002"), DemoPoint("100", "100.008")), 140)),
    DemoEquipment("ph1", "ph_meter", "pH计（QC 理化室）", "pH meter (QC lab)",
                  "Q2-201 理化实验室", "Mettler Toledo", "SevenExcellence S470", "B205133712", 600, _QC, None, 200,
                  DemoInstrument("0", "14", "pH", "0.05", _BUFFERS,
                                 (DemoPoint("4.01", "4.02", "4.03"), DemoPoint("7.00", "7.00", "7.01"),
                                  DemoPoint("10.01", "10.00", "9.99")), 20)),
    DemoEquipment("ph2", "ph_meter", "pH计（配液间）", "pH meter (buffer preparation)",
                  "B2-306 配液间", "Mettler Toledo", "SevenCompact S220", "B117026655", 600, _DOWN, "prod.mawei", 250,
                  DemoInstrument("0", "14", "pH", "0.05", _BUFFERS,
                                 (DemoPoint("4.01", "4.01"), DemoPoint("7.00", "7.01"), DemoPoint("10.01", "10.02")),
                                 75)),
)

# Annual metrology review: intervals shortened after release, so these are now overdue.
INTERVAL_CHANGES: tuple[tuple[str, int, str], ...] = (
    ("bal3", 120, "2026年度计量回顾：配液间台秤漂移趋势接近允差（MR-2026-004），校准周期由180天缩短为120天"),
    ("ph2", 60, "2026年度计量回顾：配液间pH计使用频次高、电极老化快（MR-2026-005），校准周期由90天缩短为60天"),
)

# The buffer-room balance fails today's calibration: found and left out of tolerance.
FAILED_CALIBRATION = (DemoPoint("500", "500.32", "500.34"), DemoPoint("2000", "2000.41", "2000.45"),
                      DemoPoint("5000", "5000.58", "5000.61"))

# ---------------------------------------------------------------- maintenance, rounds, spare parts


class DemoPlan(NamedTuple):
    equipment_key: str
    title: str
    basis: str  # calendar | usage
    interval: int
    first_due_in_days: int | None  # calendar plans
    lead_days: int
    estimated_hours: str
    tasks: tuple[str, ...]


PLANS: tuple[DemoPlan, ...] = (
    DemoPlan("fl1", "灌装线月度预防性维护", "calendar", 30, -2, 7, "6",
             ("检查灌装泵陶瓷柱塞及密封圈磨损", "检查RABS手套完整性并记录", "校验称重抽检模块零点",
              "清洁并润滑传动链条")),
    DemoPlan("ac1", "灭菌柜季度预防性维护", "calendar", 90, 4, 7, "4",
             ("检查门密封圈及门联锁", "排放并清洗蒸汽疏水阀", "检查真空泵运行电流及噪音",
              "核对温度探头显示与记录仪一致")),
    DemoPlan("br2000a", "2000 L 反应器半年度维护", "calendar", 182, 45, 14, "8",
             ("检查搅拌电机及磁力耦合器", "检查称重模块零点与线性", "检查气体质量流量控制器", "更换进气过滤器")),
    DemoPlan("cr1", "冷库季度维护", "calendar", 90, 20, 7, "3",
             ("清洁冷凝器翅片", "检查制冷剂压力", "检查门封条及防冻加热", "核对温湿度监控探头")),
    DemoPlan("uf1", "超滤系统泵头及隔膜检查", "usage", 500, None, 0, "3",
             ("检查四隔膜泵隔膜及阀片", "检查压力传感器零点", "检查管路接头泄漏")),
)
# Counter reading of the UF/DF system's operating-hours meter (its plan is due at 500 h).
UF_HOURS = "512.5"
# The chromatography system's PM: generated, carried out, signed and closed during loading.
CLOSED_PLAN = DemoPlan("cs1", "层析系统季度预防性维护", "calendar", 90, 3, 7, "4",
                       ("更换系统泵单向阀密封", "检查电导率及pH电极读数", "紫外检测器灯源能量测试", "系统压力保持测试"))


class DemoPart(NamedTuple):
    code: str
    name_zh: str
    name_en: str
    unit: str
    reorder_point: int
    received: int
    location: str
    fits: tuple[str, ...]  # equipment keys


SPARE_PARTS: tuple[DemoPart, ...] = (
    DemoPart("SP-BR-001", "搅拌轴机械密封组件（S.U.B. 2000）", "Agitator mechanical seal kit (S.U.B. 2000)", "set", 2,
             2, "备件库 E-01-03", ("br2000a", "br2000b")),
    DemoPart("SP-CS-001", "系统泵单向阀密封套件", "System pump check-valve seal kit", "set", 2, 6,
             "备件库 E-02-01", ("cs1", "cs2")),
    DemoPart("SP-CS-002", "紫外检测器氘灯", "UV detector deuterium lamp", "pc", 1, 3, "备件库 E-02-02", ("cs1", "cs2")),
    DemoPart("SP-UF-001", "四隔膜泵隔膜", "Quaternary diaphragm pump membrane", "pc", 2, 6, "备件库 E-02-04", ("uf1",)),
    DemoPart("SP-FL-001", "灌装泵陶瓷柱塞密封圈", "Filling pump ceramic piston seal", "pc", 8, 24,
             "备件库 E-03-01", ("fl1",)),
    DemoPart("SP-AC-001", "灭菌柜门密封圈", "Steriliser door gasket", "pc", 1, 2, "备件库 E-03-02", ("ac1", "ac2")),
    DemoPart("SP-PH-001", "pH 复合电极（InLab Expert Pro）", "pH combination electrode (InLab Expert Pro)", "pc", 2, 4,
             "备件库 E-04-01", ("ph1", "ph2")),
    DemoPart("SP-FRZ-001", "压缩机启动电容", "Compressor start capacitor", "pc", 1, 2, "备件库 E-04-02",
             ("frz1", "frz2")),
)


class DemoCheck(NamedTuple):
    equipment_key: str
    prompt_zh: str
    prompt_en: str
    kind: str  # numeric | yes_no | text
    unit: str = ""
    lower: str | None = None
    upper: str | None = None
    answer: str = ""  # what the technician records in today's round
    comment: str = ""


# 洁净区设备日巡检: walked at the start of the day shift on a tablet (EU GMP Part I 3.34 / 药品GMP 第八十条).
CLEAN_AREA_ROUTE = ("CLEAN-DAILY", "洁净区设备日巡检", "Clean-area equipment daily round", (
    DemoCheck("br500", "罐压（MPa）", "Vessel pressure (MPa)", "numeric", "MPa", "0", "0.05", "0.012"),
    DemoCheck("br500", "罐温（°C）", "Vessel temperature (°C)", "numeric", "°C", "36.0", "37.5", "36.8"),
    DemoCheck("br2000a", "反应器夹套无泄漏，排水阀关闭", "Jacket free of leaks, drain valve closed", "yes_no",
              answer="yes"),
    DemoCheck("ac1", "灭菌柜夹套压力（MPa）", "Steriliser jacket pressure (MPa)", "numeric", "MPa", "0.20", "0.25",
              "0.22"),
    DemoCheck("ac1", "门密封圈完好无破损", "Door gasket intact", "yes_no", answer="yes"),
    DemoCheck("fl1", "RABS 内外压差（Pa）", "RABS differential pressure (Pa)", "numeric", "Pa", "10", None, "14"),
    DemoCheck("fl1", "设备状态及异常情况描述", "Equipment status and anything unusual", "text",
              answer="运行正常，A级区粒子在线监测无报警"),
    DemoCheck("frz1", "冰箱显示温度（°C）", "Freezer display temperature (°C)", "numeric", "°C", "-86", "-70", "-68.5",
              "除霜后回温，已关紧柜门，30分钟后复测 -79.2 °C；报修检查门封"),
))
# 冷链设备日巡检: yesterday's round was scheduled and never walked (flagged missed by the scan).
COLD_CHAIN_ROUTE = ("COLD-DAILY", "冷链设备日巡检", "Cold-chain equipment daily round", (
    DemoCheck("cr1", "库温（°C）", "Room temperature (°C)", "numeric", "°C", "2", "8"),
    DemoCheck("cr2", "库温（°C）", "Room temperature (°C)", "numeric", "°C", "2", "8"),
    DemoCheck("frz1", "冰箱显示温度（°C）", "Freezer display temperature (°C)", "numeric", "°C", "-86", "-70"),
    DemoCheck("frz2", "冰箱显示温度（°C）", "Freezer display temperature (°C)", "numeric", "°C", "-86", "-70"),
    DemoCheck("cr2", "报警系统测试正常", "Alarm test passed", "yes_no"),
))

# ---------------------------------------------------------------- loading


class _Staff(NamedTuple):
    engineer: Actor  # metrology engineer: registers, qualifies, calibrates, plans maintenance and rounds
    technician: Actor  # maintenance lead: carries out preventive work orders, triages faults
    second_technician: Actor  # repairs faults
    qa_manager: Actor  # releases equipment, approves calibrations
    qa_specialist: Actor  # assesses impact of out-of-tolerance instruments
    upstream_owner: Actor  # production supervisor: owns upstream equipment, closes its work orders
    downstream_owner: Actor
    operator: Actor  # upstream operator: uses and cleans
    downstream_operator: Actor


def _register_classes(engineer: Actor) -> None:
    for c in CLASSES:
        equipment.create_equipment_class(
            actor=engineer, code=c.code, name_zh=c.name_zh, name_en=c.name_en, number_prefix=c.prefix,
            is_instrument=c.is_instrument, calibration_interval_days=c.calibration_interval_days,
            requalification_interval_days=c.requalification_interval_days, clean_hold_hours=c.clean_hold_hours,
            dirty_hold_hours=c.dirty_hold_hours)


def _register(engineer: Actor, today: date) -> dict[str, tuple[DemoEquipment, int, str]]:
    """Register every equipment (numbers from the class sequences); returns key → (demo, id, number)."""
    registered: dict[str, tuple[DemoEquipment, int, str]] = {}
    for e in EQUIPMENT:
        instrument = e.instrument
        view = equipment.register_equipment(
            actor=engineer, class_code=e.class_code, name_zh=e.name_zh, name_en=e.name_en, location=e.location,
            manufacturer=e.manufacturer, model=e.model, serial_number=e.serial_number,
            install_date=today - timedelta(days=e.installed_days_ago), owner_department=e.department,
            owner_username=e.owner,
            range_low=Decimal(instrument.range_low) if instrument else None,
            range_high=Decimal(instrument.range_high) if instrument else None,
            range_unit=instrument.range_unit if instrument else "",
            tolerance=Decimal(instrument.tolerance) if instrument else None,
            calibration_interval_days=instrument.interval_days if instrument else None, usage_unit=e.usage_unit)
        registered[e.key] = (e, view.id, view.number)
    return registered


def _qualify(engineer: Actor, e: DemoEquipment, equipment_id: int, number: str, today: date) -> None:
    """IQ and OQ before the PQ; equipment still being qualified has its IQ and OQ only."""
    pq_days_ago = e.pq_days_ago if e.pq_days_ago is not None else 5
    phases = [("IQ", pq_days_ago + 20), ("OQ", pq_days_ago + 10)]
    if e.pq_days_ago is not None:
        phases.append(("PQ", pq_days_ago))
    for phase, days_ago in phases:
        equipment.record_qualification(
            actor=engineer, equipment_id=equipment_id, phase=phase, protocol_number=f"VP-{number[3:]}-{phase}-01",
            completed_on=today - timedelta(days=days_ago), passed=True, performed_by="验证部 何静（验证工程师）",
            note="按批准的验证方案执行，所有可接受标准均符合" if phase == "PQ" else "")


def _calibrate(engineer: Actor, equipment_id: int, instrument: DemoInstrument, points: tuple[DemoPoint, ...],
               performed_on: date, *, result: str = "pass", comment: str = "", external: bool = False) -> int:
    view = equipment.record_calibration(
        actor=engineer, equipment_id=equipment_id, performed_on=performed_on,
        kind="external" if external else "internal",
        performed_by="苏州市计量测试院" if external else "设备工程部计量室 孙强",
        certificate_number=f"SZJL-{performed_on:%Y%m}-{equipment_id:04d}" if external else "",
        reference_standard=instrument.reference_standard, result=result, comment=comment,
        points=[equipment.CalibrationPointInput(nominal=Decimal(p.nominal), as_left=Decimal(p.as_left),
                                                as_found=Decimal(p.as_found) if p.as_found else None)
                for p in points])
    return view.id


def _commission(staff: _Staff, registered: dict[str, tuple[DemoEquipment, int, str]], password: str,
                today: date) -> None:
    """Qualify, calibrate and release; the QA manager approves the calibration records."""
    for key, (e, equipment_id, number) in registered.items():
        _qualify(staff.engineer, e, equipment_id, number, today)
        if e.instrument is not None:
            calibration_id = _calibrate(staff.engineer, equipment_id, e.instrument, e.instrument.points,
                                        today - timedelta(days=e.instrument.calibrated_days_ago),
                                        external=e.class_code == "balance")
            # 21 CFR 211.68 / 药品GMP 第九十三条: calibration records are reviewed; one waits for QA.
            if key != "ph1":
                apply_transition(actor=staff.qa_manager, collection="calibrations", record_id=calibration_id,
                                 name="approve", password=password, meaning="approved")
        if e.pq_days_ago is not None:
            apply_transition(actor=staff.qa_manager, collection="equipment", record_id=equipment_id,
                             name="release_to_service", password=password, meaning="approved")
    for key, interval, reason in INTERVAL_CHANGES:
        equipment.update_equipment(actor=staff.engineer, equipment_id=registered[key][1], reason=reason,
                                   calibration_interval_days=interval)


def _production_day(staff: _Staff, ids: dict[str, int]) -> None:
    """Cleaning, use and counters: one clean, one in use by a batch, one dirty after its batch."""
    upstream, downstream = staff.operator, staff.downstream_operator
    for key in ("br50", "br500", "br2000a", "cs1", "uf1", "fl1"):
        actor = upstream if key.startswith("br") else downstream
        equipment.record_cleaning(actor=actor, equipment_id=ids[key], procedure=_CLEANING[key],
                                  note="投产前清洁，目检无残留")
    # The 2000 L #1 finished the previous batch's production culture: now waiting for cleaning.
    equipment.start_use(actor=upstream, equipment_id=ids["br2000a"], reference=PREVIOUS_HARVEST,
                        activity="生产培养（收获）")
    equipment.end_use(actor=upstream, equipment_id=ids["br2000a"], reference=PREVIOUS_HARVEST,
                      counter_value=Decimal("336"), note="收获完成，转入待清洁")
    # The N-1 seed culture of today's batch.
    equipment.start_use(actor=upstream, equipment_id=ids["br500"], reference=SEED_BATCH, activity="N-1 种子扩增")


_CLEANING = {
    "br50": "SOP-PR-0211 一次性反应器袋更换及外表面清洁",
    "br500": "SOP-PR-0212 500 L 反应器 CIP/SIP",
    "br2000a": "SOP-PR-0213 2000 L 反应器 CIP/SIP",
    "cs1": "SOP-PR-0301 层析系统在线清洁（0.5 M NaOH）",
    "uf1": "SOP-PR-0311 超滤系统清洁及膜包保存",
    "fl1": "SOP-PR-0405 灌装线清洁及灭菌（CIP/SIP）",
}


def _failed_balance(staff: _Staff, registered: dict[str, tuple[DemoEquipment, int, str]], today: date) -> None:
    """Buffers weighed on the balance since its last pass, then today's calibration fails: assess the batches."""
    e, balance_id, _number = registered["bal2"]
    assert e.instrument is not None
    for batch in WEIGHED_ON_FAILED_BALANCE:
        equipment.start_use(actor=staff.downstream_operator, equipment_id=balance_id, reference=batch,
                            activity="缓冲液原料称量")
        equipment.end_use(actor=staff.downstream_operator, equipment_id=balance_id, reference=batch)
    calibration_id = _calibrate(
        staff.engineer, balance_id, e.instrument, FAILED_CALIBRATION, today, result="fail",
        comment="期间核查发现示值偏大，校准确认三个校准点均超出 ±0.1 g 允差，无法调整；送厂家维修")
    # EU GMP Part I 3.44: an instrument found out of tolerance is taken out of use.
    apply_transition(actor=staff.engineer, collection="equipment", record_id=balance_id, name="take_out_of_service",
                     reason="校准不合格（超差），停用并送厂家维修")
    calibration = equipment.get_calibration(actor=staff.qa_specialist, calibration_id=calibration_id)
    assert calibration.impact_assessment_id is not None, "a failed calibration opens an impact assessment"
    assessment = equipment.get_impact_assessment(actor=staff.qa_specialist,
                                                 assessment_id=calibration.impact_assessment_id)
    verdicts = {
        "BO-2026-0003": ("no_impact",
                         "称量 Tris 12.5 kg，最大偏差约 0.6 g（0.005%），远小于配方允差 ±1%，对缓冲液无影响"),
        "BO-2026-0004": ("no_impact", "称量氯化钠 25.0 kg，偏差 <0.01%，缓冲液电导率放行检测合格，无影响"),
    }
    for item in assessment.items:
        if item.reference in verdicts:
            verdict, comment = verdicts[item.reference]
            equipment.judge_impact_item(actor=staff.qa_specialist, assessment_id=assessment.id, item_id=item.id,
                                        verdict=verdict, comment=comment)


def _maintenance(staff: _Staff, ids: dict[str, int], password: str, today: date) -> None:
    """A PM carried out and closed, the plans whose work orders the daily scan generates, a fault repair."""
    engineer = staff.engineer
    equipment.create_maintenance_plan(
        actor=engineer, equipment_id=ids[CLOSED_PLAN.equipment_key], title=CLOSED_PLAN.title, basis="calendar",
        interval_days=CLOSED_PLAN.interval, lead_days=CLOSED_PLAN.lead_days,
        first_due_on=today + timedelta(days=CLOSED_PLAN.first_due_in_days or 0),
        estimated_hours=Decimal(CLOSED_PLAN.estimated_hours),
        tasks=[equipment.PlanTaskInput(text=t) for t in CLOSED_PLAN.tasks])
    generated = equipment.generate_due_work_orders(actor=engineer)
    work_order = next(w for w in equipment.list_work_orders(actor=engineer, equipment_id=ids["cs1"])
                      if w.number in generated)
    tech = staff.technician
    apply_transition(actor=tech, collection="work-orders", record_id=work_order.id, name="start")
    results = ("已更换，系统泵流量测试 ±2% 合格", "电导率 12.88 mS/cm 标准液读数 12.85，合格", "氘灯能量 78%，合格",
               "0.5 MPa 保压 10 分钟压降 0.004 MPa，合格")
    for task, result in zip(equipment.get_work_order(actor=tech, work_order_id=work_order.id).tasks, results,
                            strict=True):
        equipment.record_task_result(actor=tech, work_order_id=work_order.id, task_id=task.id, done=True,
                                     result=result)
    equipment.issue_spare_part_to_work_order(actor=tech, work_order_id=work_order.id, part_code="SP-CS-001",
                                             quantity=Decimal(1))
    equipment.record_findings(actor=tech, work_order_id=work_order.id,
                              findings="单向阀密封轻微磨损已更换；其余检查项目均符合要求，设备可继续使用")
    equipment.log_labour(actor=tech, work_order_id=work_order.id, technician=tech.username, hours=Decimal("3.5"),
                         worked_on=today)
    apply_transition(actor=tech, collection="work-orders", record_id=work_order.id, name="complete",
                     password=password, meaning="performed")
    # The owner's signature accepts the work before the system goes back to production.
    apply_transition(actor=staff.downstream_owner, collection="work-orders", record_id=work_order.id, name="close",
                     password=password, meaning="approved")

    for p in PLANS:
        equipment.create_maintenance_plan(
            actor=engineer, equipment_id=ids[p.equipment_key], title=p.title, basis=p.basis,
            interval_days=p.interval if p.basis == "calendar" else None,
            interval_usage=Decimal(p.interval) if p.basis == "usage" else None, lead_days=p.lead_days,
            first_due_on=today + timedelta(days=p.first_due_in_days) if p.first_due_in_days is not None else None,
            estimated_hours=Decimal(p.estimated_hours), tasks=[equipment.PlanTaskInput(text=t) for t in p.tasks])
    # The UF/DF system's hour meter has passed its 500 h plan: the daily scan generates its work order.
    equipment.record_counter(actor=staff.downstream_operator, equipment_id=ids["uf1"], value=Decimal(UF_HOURS),
                             note="运行小时表读数")


def _fault(staff: _Staff, ids: dict[str, int]) -> None:
    """The 2000 L #2 stops with a leaking agitator seal: triaged, assigned, a corrective work order in progress."""
    fault = equipment.report_fault(
        actor=staff.operator, equipment_id=ids["br2000b"], severity="major", stops_equipment=True,
        description="搅拌启动后底部轴封处有液滴渗出并伴有异响，已停止搅拌，未投料")
    equipment.triage_fault(actor=staff.technician, fault_id=fault.id, severity="major", stops_equipment=True)
    apply_transition(actor=staff.technician, collection="faults", record_id=fault.id, name="triage")
    fault = equipment.assign_fault(actor=staff.technician, fault_id=fault.id,
                                   username=staff.second_technician.username, create_work_order=True)
    apply_transition(actor=staff.technician, collection="faults", record_id=fault.id, name="assign")
    order = next(w for w in equipment.list_work_orders(actor=staff.second_technician, equipment_id=ids["br2000b"])
                 if w.number == fault.work_order_number)
    apply_transition(actor=staff.second_technician, collection="work-orders", record_id=order.id, name="start")
    equipment.issue_spare_part_to_work_order(actor=staff.second_technician, work_order_id=order.id,
                                             part_code="SP-BR-001", quantity=Decimal(1))


def _spare_parts(engineer: Actor, numbers: dict[str, str]) -> None:
    for part in SPARE_PARTS:
        view = equipment.create_spare_part(
            actor=engineer, code=part.code, name_zh=part.name_zh, name_en=part.name_en, unit=part.unit,
            reorder_point=Decimal(part.reorder_point), storage_location=part.location,
            fits=[numbers[key] for key in part.fits])
        equipment.receive_spare_parts(actor=engineer, part_id=view.id, quantity=Decimal(part.received),
                                      reason="期初库存（备件库盘点 2026-11）")


def _route(engineer: Actor, route: tuple[str, str, str, tuple[DemoCheck, ...]], numbers: dict[str, str]) -> int:
    code, name_zh, name_en, checks = route
    view = equipment.create_inspection_route(
        actor=engineer, code=code, name_zh=name_zh, name_en=name_en, frequency="daily", shift_starts=("08:00",),
        window_hours=10, points=[equipment.InspectionPointInput(
            equipment_number=numbers[c.equipment_key], prompt_zh=c.prompt_zh, prompt_en=c.prompt_en, kind=c.kind,
            unit=c.unit, lower_limit=Decimal(c.lower) if c.lower is not None else None,
            upper_limit=Decimal(c.upper) if c.upper is not None else None) for c in checks])
    return view.id


def _rounds(staff: _Staff, numbers: dict[str, str], password: str, today: date) -> None:
    """Yesterday's cold-chain round was never walked; today's clean-area round is walked and signed."""
    engineer = staff.engineer
    _route(engineer, COLD_CHAIN_ROUTE, numbers)
    equipment.schedule_rounds(actor=engineer, on=today - timedelta(days=1))
    clean_route_id = _route(engineer, CLEAN_AREA_ROUTE, numbers)
    equipment.schedule_rounds(actor=engineer, on=today)
    walker = staff.operator
    today_round = next(r for r in equipment.list_inspection_rounds(actor=walker, route_id=clean_route_id, on=today))
    apply_transition(actor=walker, collection="inspection-rounds", record_id=today_round.id, name="start")
    round_view = equipment.get_inspection_round(actor=walker, round_id=today_round.id)
    checks = CLEAN_AREA_ROUTE[3]
    for point, check in zip(round_view.points, checks, strict=True):
        # The tablet's scanner reads the QR label on the equipment: proof the technician stood there.
        equipment.record_round_result(actor=walker, round_id=today_round.id, point_id=point.id,
                                      scanned=point.equipment_number, value=check.answer, comment=check.comment)
    apply_transition(actor=walker, collection="inspection-rounds", record_id=today_round.id, name="complete",
                     password=password, meaning="performed")


def load_demo_equipment(*, sign_in: Callable[[str], Actor], password: str) -> None:
    """Load the demo equipment, metrology and maintenance records; ``sign_in`` returns a signed-in demo user."""
    today = site_today()
    staff = _Staff(engineer=sign_in("eng.sunqiang"), technician=sign_in("eng.wuhao"),
                   second_technician=sign_in("eng.zhoubin"),
                   qa_manager=sign_in("qa.lina"), qa_specialist=sign_in("qa.zhangwei"),
                   upstream_owner=sign_in("prod.chenjie"), downstream_owner=sign_in("prod.mawei"),
                   operator=sign_in("prod.liuyang"), downstream_operator=sign_in("prod.huangmin"))
    _register_classes(staff.engineer)
    registered = _register(staff.engineer, today)
    ids = {key: equipment_id for key, (_e, equipment_id, _n) in registered.items()}
    numbers = {key: number for key, (_e, _id, number) in registered.items()}
    _commission(staff, registered, password, today)
    _spare_parts(staff.engineer, numbers)
    _production_day(staff, ids)
    _failed_balance(staff, registered, today)
    _maintenance(staff, ids, password, today)
    _fault(staff, ids)
    _rounds(staff, numbers, password, today)
    equipment.run_daily_equipment_scan(actor=Actor.system("job:daily-equipment-scan"))
