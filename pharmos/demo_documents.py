"""The demo site's controlled documents and training: the SOPs of a CHO monoclonal-antibody plant.

Called by ``pharmos.demo.load_demo_site`` right after the staff exist, under a clock shifted
``HISTORY`` days into the past, so the site has a past: the SOPs became effective five weeks
ago, people read and signed them in the days after, and one operator never did — his
read-and-understood training is now overdue, which the qualification matrix, the dashboard
and batch execution's ``is_qualified`` show. ``load_demo_revisions`` then runs at the
present time (after the equipment and deviations exist): a revision in review under a change
control, a revision approved to become effective next week, and one effective today whose
new training is due in two weeks.

Every record goes through ``pharmos.quality.service`` and the lifecycles with real sign-ins
and signatures (药品GMP 第八章, 第二十七条; 21 CFR 11.50): the owner writes and signs
("authored"), a second person reviews ("reviewed"), the QA manager approves ("approved"),
and each person signs their own training ("acknowledged"). The files are Markdown
written here; nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import NamedTuple

from pharmos.compliance.lifecycle import apply_transition
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today
from pharmos.quality import service as quality

HISTORY = timedelta(days=35)  # how long ago the SOPs became effective
_VERSIONS = "document-versions"
_TRAINING = "training-records"
APPROVER = "qa.lina"  # the QA manager approves every SOP
# Who never signed his training on the virus-inactivation SOP: overdue since three weeks.
OVERDUE_USER = "prod.huangmin"
OVERDUE_DOCUMENT = "SOP-DSP-0002"


class _Sop(NamedTuple):
    number: str
    title_zh: str
    title_en: str
    department: str
    owner: str
    reviewer: str
    roles: tuple[str, ...]  # roles that must read it
    purpose: str


_OPERATIONS = ("operator", "production_supervisor")
_SOPS: tuple[_Sop, ...] = (
    _Sop("SOP-QA-0001", "文件管理规程", "Document control", "QA", "qa.zhangwei", "qa.sunli",
         ("qa_specialist",), "规定 GMP 文件的起草、审核、批准、生效、分发、回收、定期回顾和作废。"),
    _Sop("SOP-QA-0002", "偏差管理规程", "Deviation management", "QA", "qa.zhangwei", "qa.sunli",
         ("qa_specialist", "qc_analyst", *_OPERATIONS, "warehouse", "maintenance"),
         "规定偏差的报告、分级、调查、影响评估、批准和关闭。"),
    _Sop("SOP-QA-0003", "纠正和预防措施管理规程", "CAPA management", "QA", "qa.zhangwei", "qa.sunli",
         ("qa_specialist",), "规定 CAPA 的制定、实施、有效性检查和关闭。"),
    _Sop("SOP-QA-0004", "变更控制管理规程", "Change control", "QA", "qa.sunli", "qa.zhangwei",
         ("qa_specialist", "production_supervisor"), "规定变更的提出、分级、跨部门评估、批准、实施和有效性评价。"),
    _Sop("SOP-QA-0005", "产品质量投诉处理规程", "Product complaints", "QA", "qa.sunli", "qa.zhangwei",
         ("qa_specialist",), "规定投诉的接收、分级、调查、答复和趋势分析。"),
    _Sop("SOP-QA-0006", "培训管理规程", "Training management", "QA", "qa.sunli", "qa.zhangwei",
         ("qa_specialist",), "规定岗位培训要求、文件阅读培训、考核和培训记录。"),
    _Sop("SOP-QA-0007", "批记录审核与产品放行规程", "Batch record review and release", "QA", "qa.zhangwei",
         "qa.sunli", ("qa_specialist",), "规定批生产记录和批检验记录的审核以及质量受权人放行。"),
    _Sop("SOP-QA-0008", "洁净区更衣规程", "Cleanroom gowning", "QA", "qa.sunli", "qa.zhangwei",
         (*_OPERATIONS, "qc_analyst"), "规定进入 C 级、B 级洁净区的更衣程序和更衣确认。"),
    _Sop("SOP-QC-0001", "取样管理规程", "Sampling", "QC", "qc.wangfang", "qa.zhangwei",
         ("qc_analyst", "warehouse"), "规定原辅料、中间产品和成品的取样计划、取样方法和样品管理。"),
    _Sop("SOP-QC-0002", "实验室偏差和 OOS 调查规程", "Laboratory deviations and OOS", "QC", "qc.wangfang",
         "qa.zhangwei", ("qc_analyst",), "规定检验结果超标（OOS）的实验室调查和全面调查。"),
    _Sop("SOP-QC-0003", "分析天平使用与期间核查规程", "Analytical balances", "QC", "qc.gaoyan", "qa.zhangwei",
         ("qc_analyst",), "规定分析天平的使用、日常校准和期间核查。"),
    _Sop("SOP-USP-0001", "细胞复苏与扩增操作规程", "Cell thaw and expansion", "USP", "prod.chenjie", "qa.zhangwei",
         _OPERATIONS, "规定工作细胞库细胞的复苏、摇瓶扩增和种子罐接种。"),
    _Sop("SOP-USP-0002", "50L 一次性生物反应器操作规程", "50 L single-use bioreactor", "USP", "prod.chenjie",
         "qa.zhangwei", _OPERATIONS, "规定 50L 一次性生物反应器的安装、灭菌检查、培养控制和收获。"),
    _Sop("SOP-USP-0003", "培养基配制操作规程", "Media preparation", "USP", "prod.chenjie", "qa.sunli",
         _OPERATIONS, "规定细胞培养基和补料的称量、配制、过滤和储存。"),
    _Sop("SOP-DSP-0001", "Protein A 亲和层析操作规程", "Protein A chromatography", "DSP", "prod.mawei", "qa.zhangwei",
         _OPERATIONS, "规定 Protein A 亲和层析的装柱、平衡、上样、洗脱、再生和保存。"),
    _Sop("SOP-DSP-0002", "低 pH 病毒灭活操作规程", "Low-pH virus inactivation", "DSP", "prod.mawei", "qa.zhangwei",
         _OPERATIONS, "规定低 pH 病毒灭活的 pH 调节、保持时间、温度控制和中和。"),
    _Sop("SOP-DSP-0003", "除菌过滤及滤器完整性测试规程", "Sterile filtration and integrity testing", "DSP",
         "prod.mawei", "qa.sunli", _OPERATIONS, "规定除菌过滤操作以及过滤前后的滤器完整性测试。"),
    _Sop("SOP-WH-0001", "物料接收与请验规程", "Goods receipt", "WH", "qa.sunli", "qa.zhangwei", ("warehouse",),
         "规定物料到货核对、冷链检查、待验标识和请验。"),
    _Sop("SOP-WH-0002", "冷库温度监控与异常处理规程", "Cold-room monitoring", "WH", "qa.sunli", "qa.zhangwei",
         ("warehouse", "maintenance"), "规定冷库温度的连续监控、报警响应和温度偏离的处理。"),
    _Sop("SOP-EN-0001", "设备预防性维护管理规程", "Preventive maintenance", "EN", "eng.wuhao", "qa.zhangwei",
         ("maintenance",), "规定预防性维护计划的制定、工单执行和记录。"),
    _Sop("SOP-EN-0002", "计量器具校准管理规程", "Calibration of instruments", "EN", "eng.sunqiang", "qa.zhangwei",
         ("maintenance", "qc_analyst"), "规定计量器具的校准周期、校准记录、超差处理和标识。"),
)


def _markdown(sop: _Sop, version: int, change: str = "") -> bytes:
    """The SOP's text as its author would write it (Markdown is one of the accepted formats)."""
    history = f"\n| {version}.0 | {change or '新建'} |" if version > 1 else ""
    return (f"# {sop.number} {sop.title_zh}\n\n*{sop.title_en}* · 版本 {version}.0\n\n"
            f"## 1 目的\n\n{sop.purpose}\n\n## 2 范围\n\n适用于华东生物制药有限公司原液及制剂生产基地。\n\n"
            f"## 3 职责\n\n- 执行人员：按本规程操作并如实记录。\n- 部门负责人：组织培训并监督执行。\n"
            f"- QA：监督本规程的执行。\n\n## 4 程序\n\n4.1 操作前确认设备状态、物料状态和环境条件符合要求。\n\n"
            f"4.2 按批记录逐步操作，关键步骤由第二人复核。\n\n4.3 发生偏离时立即停止并按 SOP-QA-0002 报告偏差。\n\n"
            f"## 5 记录\n\n所有记录在 Pharmos 中填写并电子签名。\n\n## 6 修订历史\n\n| 版本 | 变更内容 |\n"
            f"|---|---|\n| 1.0 | 新建 |{history}\n").encode()


def _through_approval(sign_in: Callable[[str], Actor], password: str, sop: _Sop, version_id: int, *,
                      effective_in_days: int = 0) -> None:
    """Reviewers, approver and date named by the author; then authored, reviewed and approved, each signed."""
    author = sign_in(sop.owner)
    quality.edit_draft(actor=author, version_id=version_id, reviewers=[sop.reviewer], approver=APPROVER,
                       effective_on=site_today() + timedelta(days=effective_in_days))
    apply_transition(actor=author, collection=_VERSIONS, record_id=version_id, name="submit", password=password)
    quality.review_version(actor=sign_in(sop.reviewer), version_id=version_id, password=password,
                           comment="内容与现行工艺一致，同意。")
    apply_transition(actor=sign_in(APPROVER), collection=_VERSIONS, record_id=version_id, name="approve",
                     password=password)


def load_demo_documents(*, sign_in: Callable[[str], Actor], password: str) -> None:
    """The SOPs, who must read them, their approval and everybody's read-and-understood signatures.

    Meant to run under ``clock_shifted(-HISTORY)``; the signatures are dated the days after.
    """
    registrar = sign_in("qa.zhangwei")  # document control (文件管理员)
    trainer = sign_in("qa.sunli")
    versions: dict[str, int] = {}
    for sop in _SOPS:
        document = quality.register_document(actor=registrar, doc_type="sop", number=sop.number,
                                             title_zh=sop.title_zh, title_en=sop.title_en,
                                             department=sop.department, owner_username=sop.owner)
        version_id = document.versions[0].id
        quality.upload_version_file(actor=sign_in(sop.owner), version_id=version_id, filename=f"{sop.number}.md",
                                    content=_markdown(sop, 1), media_type="text/markdown")
        for role in sop.roles:
            quality.add_requirement(actor=trainer, role=role, document_number=sop.number)
        versions[sop.number] = version_id
    # A skill that is not a document: the aseptic gowning qualification, renewed every year.
    quality.create_skill(actor=trainer, code="GOWN-B", name_zh="B 级洁净区更衣确认",
                         name_en="Grade B gowning qualification", validity_months=12)
    quality.add_requirement(actor=trainer, role="operator", skill_code="GOWN-B")
    approver = sign_in(APPROVER)
    for sop in _SOPS:
        _through_approval(sign_in, password, sop, versions[sop.number])
        # Effective today (in the shifted past): read-and-understood training is assigned to every role holder.
        apply_transition(actor=approver, collection=_VERSIONS, record_id=versions[sop.number], name="make_effective")
    _everybody_reads(sign_in, password)
    for username in ("prod.liuyang", "prod.huangmin"):
        record = quality.assign_training(actor=trainer, usernames=[username], skill_code="GOWN-B",
                                         due_on=site_today() + timedelta(days=7), kind="assessment")[0]
        quality.record_training_result(actor=trainer, record_id=record.id, result="pass",
                                       trainer_notes="更衣后手套、前臂、胸前接触碟均为 0 CFU，连续三次合格。")
        apply_transition(actor=trainer, collection=_TRAINING, record_id=record.id, name="complete",
                         password=password)


def _everybody_reads(sign_in: Callable[[str], Actor], password: str) -> None:
    """Each person signs what they were assigned, except the one overdue training of the demo."""
    from pharmos.core.clock import clock_shifted

    # Two days after the SOPs became effective (the caller shifted the clock HISTORY into the past).
    with clock_shifted(-HISTORY + timedelta(days=2)):
        records = quality.list_training_records(actor=sign_in("qa.sunli"), state="assigned", limit=1000)
        for record in records:
            if record.kind != "read_and_understood":
                continue
            if record.username == OVERDUE_USER and record.subject.startswith(OVERDUE_DOCUMENT):
                continue
            apply_transition(actor=sign_in(record.username), collection=_TRAINING, record_id=record.id,
                             name="acknowledge", password=password)


def load_demo_revisions(*, sign_in: Callable[[str], Actor], password: str, change_control: str) -> None:
    """Today's document work: revisions in review, approved for next week, and effective today."""
    by_number = {sop.number: sop for sop in _SOPS}
    # The bioreactor SOP is revised under the pH-probe change control; the author submitted it for review.
    sop = by_number["SOP-USP-0002"]
    author = sign_in(sop.owner)
    document = quality.get_document(actor=author, number=sop.number)
    draft = quality.start_revision(actor=author, document_id=document.id, change_control=change_control,
                                   change_summary="pH 探头更换为 Hamilton EasyFerm Plus，增加两点校准和漂移检查步骤")
    quality.upload_version_file(actor=author, version_id=draft.id, filename=f"{sop.number}-v2.md",
                                content=_markdown(sop, 2, "pH 探头更换及校准步骤"), media_type="text/markdown")
    quality.edit_draft(actor=author, version_id=draft.id, reviewers=[sop.reviewer], approver=APPROVER,
                       effective_on=site_today() + timedelta(days=14))
    apply_transition(actor=author, collection=_VERSIONS, record_id=draft.id, name="submit", password=password)
    # The deviation SOP's revision is approved and becomes effective next week (the daily job will do it).
    _revise(sign_in, password, by_number["SOP-QA-0002"], "增加偏差分级的风险评分（严重性×发生率×可检测性）",
            effective_in_days=7)
    # The Protein A SOP's revision became effective today: its readers have two weeks to sign it.
    version_id = _revise(sign_in, password, by_number["SOP-DSP-0001"], "增加柱效测定的验收标准", effective_in_days=0)
    apply_transition(actor=sign_in(APPROVER), collection=_VERSIONS, record_id=version_id, name="make_effective")


def _revise(sign_in: Callable[[str], Actor], password: str, sop: _Sop, change: str, *, effective_in_days: int) -> int:
    author = sign_in(sop.owner)
    document = quality.get_document(actor=author, number=sop.number)
    draft = quality.start_revision(actor=author, document_id=document.id, change_summary=change)
    quality.upload_version_file(actor=author, version_id=draft.id, filename=f"{sop.number}-v2.md",
                                content=_markdown(sop, 2, change), media_type="text/markdown")
    _through_approval(sign_in, password, sop, draft.id, effective_in_days=effective_in_days)
    return draft.id
