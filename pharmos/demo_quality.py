"""The demo site's quality records: deviations and CAPA of a CHO monoclonal-antibody plant.

Called by ``pharmos.demo.load_demo_site`` after the warehouse and the equipment are loaded,
so the deviations link to real lots, equipment and the batches of the demo plan. Every
record goes through ``pharmos.quality.service`` and the lifecycles with real sign-ins and
signatures (药品GMP 第二百四十八条至第二百五十二条; EU GMP Part I 1.4(xiv); ICH Q10 3.2.2):

- anyone reports (the warehouse clerk, an operator); QA specialists classify with a risk
  score and name the investigator; the investigator — production, engineering or QA —
  investigates and signs the investigation; only the QA manager approves and closes, never
  the reporter or the investigator;
- CAPA are planned by a QA specialist, implemented and signed by their owner, and closed
  by the QA manager after the effectiveness check.

What the demo shows:

- ``1号冷库`` ran at 9.6 °C for 45 minutes overnight: a major deviation under investigation
  by engineering, linked to the cold room and the two cell-culture media lots stored in it,
  which are now on quality hold (issuing them is refused);
- the N-1 seed bioreactor of batch BO-2026-0007 lost pH control: investigated by the
  upstream supervisor, approved by QA, with one CAPA open and one implemented whose
  effectiveness check falls due in 90 days;
- a missing second-person signature in a batch record: a minor deviation closed the same
  day, with its CAPA closed after an immediate (0-day) effectiveness check;
- the buffer-room balance's failed calibration raised its deviation automatically (see
  ``pharmos.demo_equipment``): QA classified it with a short due date because three batches
  wait on it, linked those batches, and the investigator has asked for an extension that
  waits for the QA manager's decision;
- a particle excursion in the filling room reported by an operator, waiting for QA;
- a CAPA from the 2025 self-inspection, open.

The clock is never faked, so no deviation can be overdue on the day the demo is loaded:
the extension request and the short due date are what the inbox shows instead; the
deviations and CAPA become overdue on their own as the days pass, and the daily
escalation job (run once at the end, as ``pharmos quality escalate`` does every night)
flags them then.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import NamedTuple

from pharmos.compliance.lifecycle import apply_transition
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today, utcnow
from pharmos.demo_documents import load_demo_revisions
from pharmos.materials import service as materials
from pharmos.quality import service as quality

# Batches of the demo plan (see pharmos.demo_equipment and pharmos.demo_materials).
SEED_BATCH = "BO-2026-0007"
DOCUMENTED_BATCH = "BO-2026-0006"
FILLING_BATCH = "BO-2026-0010"
# The batches weighed on the failed balance whose impact is not yet judged.
PENDING_IMPACT_BATCHES = ("BO-2026-0005", "BO-2026-0006", "BO-2026-0008")
# Cell-culture media stored in 1号冷库 during the excursion.
COLD_ROOM_MATERIALS = ("RM-10001", "RM-10002")
COLD_ROOM = "EQ-CR-001"
SEED_BIOREACTOR = "EQ-BR-002"
FILLING_LINE = "EQ-FL-001"
FAILED_BALANCE = "EQ-BAL-002"
_DEVIATIONS = "deviations"
_CAPAS = "capas"


class _Staff(NamedTuple):
    qa_manager: Actor  # approves and closes deviations, judges CAPA effectiveness
    qa_specialist: Actor  # classifies, plans CAPA
    second_qa_specialist: Actor  # investigates the balance deviation
    clerk: Actor  # warehouse: reports the cold-room excursion
    technician: Actor  # engineering: investigates the cold room, owns the CO2 controller CAPA
    operator: Actor  # upstream: reports the pH excursion
    upstream_supervisor: Actor  # investigates the pH deviation, owns the SOP CAPA
    downstream_operator: Actor  # reports the documentation error and the particle excursion
    downstream_supervisor: Actor  # investigates the documentation error, owns its CAPA


def _released_lot(clerk: Actor, material_code: str) -> str:
    lots = materials.list_lots(actor=clerk, material_code=material_code, state="released")
    return lots[0].number


def _classify(qa: Actor, deviation_id: int, classification: str, scores: tuple[int, int, int], rationale: str,
              *, investigator: str | None = None, due_on: date | None = None) -> None:
    severity, occurrence, detectability = scores
    quality.classify_deviation(actor=qa, deviation_id=deviation_id, classification=classification,
                               severity=severity, occurrence=occurrence, detectability=detectability,
                               rationale=rationale, due_on=due_on)
    apply_transition(actor=qa, collection=_DEVIATIONS, record_id=deviation_id, name="classify")
    if investigator is not None:
        quality.assign_investigator(actor=qa, deviation_id=deviation_id, username=investigator)


def _cold_room_excursion(staff: _Staff) -> int:
    """Reported by the clerk at the morning check; investigated by engineering; the media lots are on hold."""
    now = utcnow()
    lots = [_released_lot(staff.clerk, code) for code in COLD_ROOM_MATERIALS]
    deviation = quality.report_deviation(
        actor=staff.clerk, title="1号冷库温度超出 2–8 °C：最高 9.6 °C，持续 45 分钟", area="WH2-CR1 1号冷库",
        description=("早班巡查时温湿度监控系统显示 1号冷库夜间 02:10–02:55 温度超出 2–8 °C，最高 9.6 °C（探头 "
                     "TT-CR1-02，靠近库门）。夜班未收到报警短信。库内存放细胞培养基等原辅料。"),
        occurred_at=now - timedelta(hours=6), discovered_at=now - timedelta(hours=2),
        immediate_action=("确认当前温度已恢复至 4.8 °C；库内物料挂“待处理”标识，暂停发料；通知 QA 和设备工程部；"
                          "导出监控系统温度曲线及报警记录"),
        links=[quality.LinkInput("equipment", COLD_ROOM), *(quality.LinkInput("lot", lot) for lot in lots)])
    _classify(staff.qa_specialist, deviation.id, "major", (3, 2, 2),
              "涉及温度敏感原辅料（培养基）超出贮存条件；持续时间短、幅度小，需评估对物料质量的影响及报警系统失效原因",
              investigator=staff.technician.username)
    apply_transition(actor=staff.technician, collection=_DEVIATIONS, record_id=deviation.id,
                     name="start_investigation")
    quality.record_investigation(
        actor=staff.technician, deviation_id=deviation.id, root_cause_category="machine",
        five_whys=["为什么温度超标？压缩机 02:05 过载停机，约 50 分钟后自动复位",
                   "为什么压缩机过载？冷凝器翅片积灰严重，散热不良",
                   "为什么未及时发现？报警短信网关 SIM 卡欠费停机，报警仅在本地显示"])
    return deviation.id


def _ph_excursion(staff: _Staff, password: str) -> int:
    """The N-1 seed culture's pH dropped: investigated, signed, approved by QA; two CAPA follow."""
    now = utcnow()
    deviation = quality.report_deviation(
        actor=staff.operator, title=f"{SEED_BATCH} N-1 种子扩增 pH 低于控制范围（最低 6.72）",
        area="B2-202 上游细胞培养间",
        description=(f"{SEED_BIOREACTOR} 500 L 反应器 N-1 种子扩增第 2 天，pH 由 7.05 降至 6.72，低于工艺规程 "
                     "6.90–7.30，持续约 35 分钟；期间 CO2 通气持续开启。"),
        occurred_at=now - timedelta(hours=5), discovered_at=now - timedelta(hours=4, minutes=20),
        immediate_action=("切换为手动控制，关闭 CO2 通气，补加 1 M 碳酸氢钠后 pH 恢复至 7.02；"
                          "通知生产主管和 QA；取样做细胞计数及活率"),
        links=[quality.LinkInput("equipment", SEED_BIOREACTOR), quality.LinkInput("batch", SEED_BATCH)])
    _classify(staff.qa_specialist, deviation.id, "major", (3, 2, 3),
              "关键工艺参数（pH）超出控制范围，可能影响细胞生长及产品质量属性；需调查根本原因并评估对种子批的影响",
              investigator=staff.upstream_supervisor.username)
    investigator = staff.upstream_supervisor
    apply_transition(actor=investigator, collection=_DEVIATIONS, record_id=deviation.id, name="start_investigation")
    quality.record_investigation(
        actor=investigator, deviation_id=deviation.id,
        five_whys=["为什么 pH 下降？CO2 通气量远高于设定值", "为什么通气量偏高？CO2 质量流量控制器零点漂移",
                   "为什么未被发现？投用前仅做单点检查，未校验流量控制器零点"],
        root_cause_category="machine", root_cause="CO2 质量流量控制器（MFC-502）零点漂移，导致 CO2 过量通入",
        impact_assessment=("偏离持续约 35 分钟，幅度 0.18；取样细胞活率 96.5%，活细胞密度符合传代标准；"
                           "参照工艺表征研究（PC-2025-011），pH 6.7 持续 2 小时内对生长及糖型无显著影响"),
        product_impact=False,
        conclusion="对种子批及后续生产批无影响，批次可继续；更换流量控制器并修订投用前检查程序")
    apply_transition(actor=investigator, collection=_DEVIATIONS, record_id=deviation.id, name="submit",
                     password=password, meaning="performed")
    apply_transition(actor=staff.qa_manager, collection=_DEVIATIONS, record_id=deviation.id, name="approve",
                     password=password, meaning="approved")
    today = site_today()
    quality.create_capa(
        actor=staff.qa_specialist, kind="corrective", title="更换 500 L 反应器 CO2 质量流量控制器并校准",
        description="更换 MFC-502，并对同型号流量控制器（共 6 台）进行零点和量程校准",
        source_type="deviation", deviation_id=deviation.id, owner_username=staff.technician.username,
        due_on=today + timedelta(days=14), effectiveness_criteria="更换后连续 3 批种子扩增 pH 控制均在 6.90–7.30 内",
        effectiveness_check_days=60)
    sop = quality.create_capa(
        actor=staff.qa_specialist, kind="preventive", title="修订 SOP-PR-0212：反应器投用前增加气体流量控制器零点检查",
        description="在 500 L 和 2000 L 反应器投用前检查表中增加 CO2/O2/空气流量控制器零点检查，并培训上游操作人员",
        source_type="deviation", deviation_id=deviation.id, owner_username=investigator.username,
        due_on=today + timedelta(days=30), effectiveness_criteria="3 个月内未再发生因流量控制器漂移导致的 pH 偏离",
        effectiveness_check_days=90)
    quality.record_implementation(actor=investigator, capa_id=sop.id,
                                  summary=("SOP-PR-0212 第 6 版已生效（增加第 5.3 条零点检查），"
                                           "上游 12 名操作人员完成培训并考核合格"))
    apply_transition(actor=investigator, collection=_CAPAS, record_id=sop.id, name="implement",
                     password=password, meaning="performed")
    return deviation.id


def _documentation_error(staff: _Staff, password: str) -> int:
    """A missing reviewer signature, found at batch record review: minor, corrected, closed the same day."""
    now = utcnow()
    deviation = quality.report_deviation(
        actor=staff.downstream_operator, title=f"{DOCUMENTED_BATCH} 批生产记录缓冲液配制步骤漏签复核人",
        area="B2-306 配液间",
        description=(f"批记录审核时发现 {DOCUMENTED_BATCH} 批生产记录第 14 页“平衡缓冲液配制”步骤操作人已签名，"
                     "复核人签名栏空白。称量打印条及电导率记录完整。"),
        occurred_at=now - timedelta(days=3), discovered_at=now - timedelta(hours=8),
        immediate_action="复核人根据称量打印条和电导率记录确认操作正确后按 GDP 补签并注明日期和原因",
        links=[quality.LinkInput("batch", DOCUMENTED_BATCH)])
    _classify(staff.second_qa_specialist, deviation.id, "minor", (1, 2, 1),
              "文件记录缺陷，原始数据完整可追溯，对产品质量无影响", investigator=staff.downstream_supervisor.username)
    investigator = staff.downstream_supervisor
    apply_transition(actor=investigator, collection=_DEVIATIONS, record_id=deviation.id, name="start_investigation")
    quality.record_investigation(
        actor=investigator, deviation_id=deviation.id,
        five_whys=["为什么漏签？复核人被临时叫去处理层析系统报警", "为什么返回后未补签？批记录模板复核栏不醒目"],
        root_cause_category="man", root_cause="复核人操作中断后未回到记录补签；批记录模板未突出复核要求",
        impact_assessment="称量打印条与电导率记录证明配制正确；缓冲液放行检测合格，对产品无影响",
        product_impact=False, conclusion="补签完成；修订批记录模板，复核栏设为醒目必填项")
    apply_transition(actor=investigator, collection=_DEVIATIONS, record_id=deviation.id, name="submit",
                     password=password, meaning="performed")
    apply_transition(actor=staff.qa_manager, collection=_DEVIATIONS, record_id=deviation.id, name="approve",
                     password=password, meaning="approved")
    # The template change can be checked at once: the next printed record shows it or not.
    capa = quality.create_capa(
        actor=staff.second_qa_specialist, kind="corrective", title="修订缓冲液配制批记录模板：复核签名栏醒目必填",
        source_type="deviation", deviation_id=deviation.id, owner_username=investigator.username,
        due_on=site_today() + timedelta(days=7), effectiveness_criteria="新版模板打印件复核栏加粗标示并注明“必填”",
        effectiveness_check_days=0)
    quality.record_implementation(actor=investigator, capa_id=capa.id,
                                  summary=("批记录模板 BR-DS-014 第 3 版已生效，复核栏加粗并标注“必填”；"
                                           "已培训下游配液人员"))
    apply_transition(actor=investigator, collection=_CAPAS, record_id=capa.id, name="implement",
                     password=password, meaning="performed")
    quality.record_effectiveness_check(actor=staff.qa_manager, capa_id=capa.id, effective=True,
                                       result="核对新版模板打印件：复核栏加粗并标注“必填”，符合要求")
    apply_transition(actor=staff.qa_manager, collection=_CAPAS, record_id=capa.id, name="close",
                     password=password, meaning="approved")
    apply_transition(actor=staff.qa_manager, collection=_DEVIATIONS, record_id=deviation.id, name="close",
                     password=password, meaning="approved")
    return deviation.id


def _balance_deviation(staff: _Staff) -> int:
    """The failed calibration's deviation: classified, batches linked, an extension waiting for QA."""
    qa = staff.qa_specialist
    raised = quality.list_deviations(actor=qa, linked=f"equipment:{FAILED_BALANCE}", open_only=True)
    assert raised, "the failed calibration of the demo raises its deviation"
    deviation_id = raised[0].id
    for batch in PENDING_IMPACT_BATCHES:
        quality.add_deviation_link(actor=qa, deviation_id=deviation_id, record_type="batch", reference=batch,
                                   reason="影响评估中结论待定的批次，评估完成前暂停放行")
    # Three batches wait on the outcome, so QA wants it within a week rather than 20 working days.
    _classify(qa, deviation_id, "major", (3, 3, 2),
              "缓冲液称量天平超差，涉及 5 个批次的缓冲液配制；需评估对已称量物料及批次的影响",
              investigator=staff.second_qa_specialist.username, due_on=quality.add_working_days(site_today(), 5))
    investigator = staff.second_qa_specialist
    apply_transition(actor=investigator, collection=_DEVIATIONS, record_id=deviation_id, name="start_investigation")
    quality.record_investigation(actor=investigator, deviation_id=deviation_id, root_cause_category="measurement")
    due = quality.get_deviation(actor=investigator, deviation_id=deviation_id).due_on
    assert due is not None
    quality.request_extension(actor=investigator, deviation_id=deviation_id,
                              requested_due_on=quality.add_working_days(due, 10),
                              justification="天平已送 Mettler Toledo 维修，厂家故障分析报告预计 10 个工作日后提供；"
                                            "其余批次的影响评估需据此确定称量偏差开始时间")
    return deviation_id


def _particle_excursion(staff: _Staff) -> int:
    """Reported during filling; waits for QA's classification."""
    now = utcnow()
    deviation = quality.report_deviation(
        actor=staff.downstream_operator, title="A 级灌装区悬浮粒子（≥5.0 µm）超出警戒限", area="C1-105 A级灌装间",
        description=(f"{FILLING_BATCH} 灌装第 2 小时，在线粒子监测点 P-105-03（灌装针附近）≥5.0 µm 粒子 "
                     "连续 3 次读数 15–18 个/m³，超出警戒限（10 个/m³），未超过行动限（20 个/m³）。"),
        occurred_at=now - timedelta(hours=1, minutes=30), discovered_at=now - timedelta(hours=1, minutes=25),
        immediate_action="暂停灌装，检查 RABS 手套及层流风速，擦拭消毒后读数恢复正常；恢复灌装前 QA 现场确认",
        links=[quality.LinkInput("equipment", FILLING_LINE), quality.LinkInput("batch", FILLING_BATCH)])
    return deviation.id


def _self_inspection_capa(staff: _Staff) -> None:
    quality.create_capa(
        actor=staff.qa_specialist, kind="preventive", title="SOP 定期回顾周期由 36 个月缩短为 24 个月并完成积压回顾",
        description="自检发现 SI-2025-07：部分 SOP 超过 3 年未回顾。已修订受控设置，需完成 37 份积压 SOP 的回顾",
        source_type="audit", source_reference="SI-2025-07", owner_username=staff.second_qa_specialist.username,
        due_on=site_today() + timedelta(days=60), effectiveness_criteria="下次自检中无超期未回顾的 SOP")


def load_demo_quality(*, sign_in: Callable[[str], Actor], password: str) -> None:
    """Load the demo deviations and CAPA; ``sign_in`` returns a signed-in demo user."""
    staff = _Staff(qa_manager=sign_in("qa.lina"), qa_specialist=sign_in("qa.zhangwei"),
                   second_qa_specialist=sign_in("qa.sunli"), clerk=sign_in("wh.zhoutao"),
                   technician=sign_in("eng.wuhao"), operator=sign_in("prod.liuyang"),
                   upstream_supervisor=sign_in("prod.chenjie"), downstream_operator=sign_in("prod.huangmin"),
                   downstream_supervisor=sign_in("prod.mawei"))
    _balance_deviation(staff)
    _cold_room_excursion(staff)
    _ph_excursion(staff, password)
    _documentation_error(staff, password)
    particles = _particle_excursion(staff)
    _self_inspection_capa(staff)
    quality.escalate_overdue(actor=Actor.system("job:quality-escalation"))
    change = _ph_probe_change(staff, sign_in, password)
    load_demo_revisions(sign_in=sign_in, password=password, change_control=change)
    _complaints(staff, particles)


def _ph_probe_change(staff: _Staff, sign_in: Callable[[str], Actor], password: str) -> str:
    """The upstream supervisor proposes a new pH probe; two of four functions have signed, two are pending."""
    change = quality.propose_change(
        actor=staff.upstream_supervisor, change_type="equipment",
        title="50L 一次性生物反应器 pH 探头更换为 Hamilton EasyFerm Plus",
        description=("现用 pH 探头在 BO-2026-0007 种子罐培养中失控（见偏差记录），且该型号已停产。拟更换为 Hamilton "
                     "EasyFerm Plus，增加两点校准和培养中漂移检查，并修订 SOP-USP-0002。"),
        justification="消除 pH 控制失效的根本原因；原型号停产，备件无法保证。",
        affected_records=[f"equipment:{SEED_BIOREACTOR}", "document:SOP-USP-0002", "process:上游细胞培养"],
        target_date=site_today() + timedelta(days=45))
    quality.classify_change(
        actor=staff.qa_manager, change_id=change.id, classification="moderate", regulatory_filing=False,
        rationale="同类型、同原理的在线测量元件更换，不改变工艺参数和控制范围；需确认对 pH 控制和数据完整性的影响",
        functions={"production": "prod.mawei", "qc": "qc.wangfang", "equipment": "eng.wuhao", "qa": "qa.sunli"})
    apply_transition(actor=staff.qa_manager, collection="change-controls", record_id=change.id, name="classify")
    quality.assess_change(
        actor=sign_in("qc.wangfang"), change_id=change.id, function="qc", impact_level="low",
        impact="离线 pH 复核方法不变；需比对新旧探头在 3 个缓冲液点的读数。",
        required_actions="完成新旧探头比对试验并出具报告", decision="approved", password=password)
    quality.assess_change(
        actor=staff.technician, change_id=change.id, function="equipment", impact_level="medium",
        impact="需要新的探头接口适配器和变送器参数设置；纳入计量校准计划。",
        required_actions="完成安装确认（IQ）和校准，更新设备台账和备件清单", decision="approved", password=password)
    return change.number


def _complaints(staff: _Staff, particle_deviation: int) -> None:
    """A hospital's visible-particle complaint under investigation, and a distributor's carton complaint just in."""
    today = site_today()
    hospital = quality.receive_complaint(
        actor=staff.second_qa_specialist, received_on=today - timedelta(days=2), channel="phone",
        customer="上海市第一人民医院 药剂科", customer_contact="王药师 021-6324xxxx", region="上海",
        product="重组抗 HER2 人源化单克隆抗体注射液 440 mg/20 mL", lot_number="DP-2609-004",
        description="配液时发现 1 支西林瓶内有可见白色异物，未使用；同批其余 9 支外观正常。",
        sample_received=True, sample_received_on=today - timedelta(days=1))
    quality.classify_complaint(actor=staff.qa_specialist, complaint_id=hospital.id, classification="major",
                               category="quality_defect", adverse_event=False,
                               investigator_username=staff.second_qa_specialist.username)
    apply_transition(actor=staff.qa_specialist, collection="complaints", record_id=hospital.id, name="classify")
    deviation = quality.get_deviation(actor=staff.qa_specialist, deviation_id=particle_deviation)
    quality.link_complaint(actor=staff.qa_specialist, complaint_id=hospital.id, record=f"deviation:{deviation.number}")
    quality.record_complaint_investigation(
        actor=staff.second_qa_specialist, complaint_id=hospital.id,
        investigation="留样目检 200 支未见异物；退回样品送 QC 做异物鉴定（FTIR）；调阅该批灌装记录和环境监测数据。")
    quality.receive_complaint(
        actor=staff.second_qa_specialist, received_on=today, channel="distributor",
        customer="国药控股分销中心有限公司", customer_contact="质量部 李经理", region="北京",
        product="重组抗 HER2 人源化单克隆抗体注射液 440 mg/20 mL", lot_number="DP-2608-011",
        description="到货 3 箱中 1 箱外箱破损、1 个小盒压痕，冷链温度记录正常。", sample_received=False)
