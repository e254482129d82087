"""The demo site: a Chinese biologics plant (华东生物制药有限公司) built through the services.

Staff and controlled settings are here; the warehouse (materials, suppliers, lots, stock)
is in ``pharmos.demo_materials``, the equipment ledger, metrology and maintenance in
``pharmos.demo_equipment``, deviations and CAPA in ``pharmos.demo_quality``, recipes and batches in
``pharmos.demo_batches``.

Everything here goes through the same services, lifecycles and signatures as real use,
so the demo's audit trail is a genuine, verifiable chain and its records have real
electronic signatures. Demo passwords are documented on purpose: never load this into
a production database (``pharmos demo`` only runs against a fresh database).
"""

from __future__ import annotations

from typing import NamedTuple

from pharmos.auth import service as auth
from pharmos.compliance.lifecycle import apply_transition
from pharmos.core.actor import Actor
from pharmos.core.clock import clock_shifted
from pharmos.demo_batches import build_batches_demo
from pharmos.demo_documents import HISTORY as DOCUMENT_HISTORY
from pharmos.demo_documents import load_demo_documents
from pharmos.demo_equipment import load_demo_equipment
from pharmos.demo_materials import load_demo_materials
from pharmos.demo_quality import load_demo_quality
from pharmos.site import lifecycle as _site_lifecycle  # noqa: F401 - registers the settings lifecycle
from pharmos.site import service as site

COMPANY = "华东生物制药有限公司"
DEMO_PASSWORD = "Pharmos@2026"  # noqa: S105 - documented demo password, demo site only
_COLLECTION = "controlled-settings"

QA = "质量保证部"
QC = "质量控制部"
UPSTREAM = "生产部（上游）"
DOWNSTREAM = "生产部（下游）"
WAREHOUSE = "仓储物流部"
ENGINEERING = "设备工程部"
PLANNING = "计划部"
IT = "信息技术部"
DEPARTMENTS = (QA, QC, UPSTREAM, DOWNSTREAM, WAREHOUSE, ENGINEERING, PLANNING, IT)


class DemoLogin(NamedTuple):
    username: str
    password: str
    role: str
    full_name: str


class _Staff(NamedTuple):
    username: str
    full_name: str
    role: str
    department: str
    language: str = "zh_CN"


_STAFF: tuple[_Staff, ...] = (
    _Staff("it.zhaolei", "赵磊", "admin", IT),
    _Staff("qa.lina", "李娜", "qa_manager", QA),
    _Staff("qa.zhangwei", "张伟", "qa_specialist", QA),
    _Staff("qa.sunli", "孙丽", "qa_specialist", QA, "en"),
    _Staff("qc.wangfang", "王芳", "qc_analyst", QC),
    _Staff("qc.gaoyan", "高燕", "qc_analyst", QC),
    _Staff("prod.chenjie", "陈杰", "production_supervisor", UPSTREAM),
    _Staff("prod.liuyang", "刘洋", "operator", UPSTREAM),
    _Staff("prod.mawei", "马伟", "production_supervisor", DOWNSTREAM),
    _Staff("prod.huangmin", "黄敏", "operator", DOWNSTREAM),
    _Staff("wh.zhoutao", "周涛", "warehouse", WAREHOUSE),
    _Staff("eng.wuhao", "吴昊", "maintenance", ENGINEERING),
    _Staff("eng.sunqiang", "孙强", "maintenance", ENGINEERING),  # metrology engineer (计量工程师)
    _Staff("eng.zhoubin", "周斌", "maintenance", ENGINEERING),  # maintenance technician
    _Staff("plan.xuting", "徐婷", "planner", PLANNING),
    _Staff("viewer.majing", "马静", "viewer", QA),
)

# Every demo account, for the CLI's login table and the docs. MFA is not enrolled for
# any of them, so each signs in with the password alone.
DEMO_LOGINS: tuple[DemoLogin, ...] = tuple(
    DemoLogin(s.username, DEMO_PASSWORD, s.role, s.full_name) for s in _STAFF
)


def _create_staff(actor: Actor) -> None:
    for person in _STAFF:
        auth.create_user(actor=actor, username=person.username, full_name=person.full_name,
                         password=DEMO_PASSWORD, email=f"{person.username}@hdbio.example.cn",
                         language=person.language, department=person.department, roles=[person.role])


_SIGNED_IN: dict[str, Actor] = {}


def _signed_in(username: str) -> Actor:
    # One login per demo user: each login costs an Argon2 verification (RFC 9106 cost), and the
    # loader acts hundreds of times; signatures still re-enter the password every time.
    if username not in _SIGNED_IN:
        _SIGNED_IN[username] = auth.login(username=username, password=DEMO_PASSWORD,
                                          client="pharmos demo loader").actor
    return _SIGNED_IN[username]


def _draft(author: Actor, key: str, value: str, description: str) -> int:
    return site.draft_setting(actor=author, key=key, value=value, description=description).id


def _submit(author: Actor, setting_id: int) -> None:
    apply_transition(actor=author, collection=_COLLECTION, record_id=setting_id, name="submit",
                     password=DEMO_PASSWORD, meaning="authored")


def _approve(approver: Actor, setting_id: int, reason: str | None = None) -> None:
    apply_transition(actor=approver, collection=_COLLECTION, record_id=setting_id, name="approve",
                     password=DEMO_PASSWORD, meaning="approved", reason=reason)


def _make_effective(author: Actor, approver: Actor, key: str, value: str, description: str) -> int:
    setting_id = _draft(author, key, value, description)
    _submit(author, setting_id)
    _approve(approver, setting_id)
    return setting_id


def _load_settings() -> None:
    # EU GMP Chapter 1 / ICH Q10: the QA specialist authors, the QA manager approves.
    author = _signed_in("qa.zhangwei")
    second_author = _signed_in("qa.sunli")
    approver = _signed_in("qa.lina")

    _make_effective(author, approver, "site.company_name", COMPANY, "持证企业名称（用于报告页眉）")
    _make_effective(author, approver, "quality.deviation_due_days.minor", "15", "轻微偏差自分级起关闭期限（工作日）")
    _make_effective(author, approver, "quality.deviation_due_days.major", "20", "主要偏差自分级起关闭期限（工作日）")
    _make_effective(author, approver, "quality.deviation_due_days.critical", "30",
                    "重大偏差自分级起关闭期限（工作日），含根本原因调查")
    # The warehouse keeps quarantine, released and rejected ambient stock in separate zones.
    _make_effective(author, approver, "materials.status_by_zone", "true",
                    "常温库按区域管理物料状态（待验区/合格品区/不合格品区）；冷库按系统状态管理")
    _make_effective(author, approver, "materials.short_dated_days", "30", "距有效期不足该天数的批次发料须经QA批准")

    # Superseded: the periodic review interval was shortened from 36 to 24 months.
    _make_effective(author, approver, "document.periodic_review_months", "36", "SOP定期回顾周期（月）")
    newer = _draft(second_author, "document.periodic_review_months", "24",
                   "SOP定期回顾周期（月）：按2025年自检发现缩短为24个月")
    _submit(second_author, newer)
    _approve(approver, newer, reason="自检发现 SI-2025-07：回顾周期过长")

    # In review: submitted and signed by its author, waiting for the QA manager.
    pending = _draft(author, "calibration.reminder_days", "30", "计量器具校准到期前提醒天数")
    _submit(author, pending)

    # Draft: returned by QA with a reason, then revised by its author; not resubmitted yet.
    draft = _draft(second_author, "materials.expiry_warning_days", "60", "物料批次有效期预警天数")
    _submit(second_author, draft)
    apply_transition(actor=approver, collection=_COLLECTION, record_id=draft, name="return",
                     reason="请与仓储物流部确认：冷库物料周转快，建议30天")
    site.revise_draft(actor=second_author, setting_id=draft, value="30", description="物料批次有效期预警天数",
                      reason="按QA退回意见与仓储物流部确认后修改为30天")


def load_demo_site(*, actor: Actor) -> tuple[DemoLogin, ...]:
    """Load the demo site into a freshly migrated database; returns the demo logins."""
    _SIGNED_IN.clear()  # a fresh database has fresh users
    # The staff, the settings and the SOPs date from before today, so the demo has a past (pharmos.demo_documents).
    with clock_shifted(-DOCUMENT_HISTORY):
        auth.ensure_builtin_roles(actor=actor)
        _create_staff(actor)
        _load_settings()
        load_demo_documents(sign_in=_signed_in, password=DEMO_PASSWORD)
    load_demo_materials(sign_in=_signed_in, password=DEMO_PASSWORD)
    load_demo_equipment(sign_in=_signed_in, password=DEMO_PASSWORD)
    load_demo_quality(sign_in=_signed_in, password=DEMO_PASSWORD)
    # After quality: operators sign the Protein A SOP revision that becomes effective today first.
    build_batches_demo(sign_in=_signed_in, password=DEMO_PASSWORD)
    return DEMO_LOGINS
