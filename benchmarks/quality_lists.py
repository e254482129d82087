"""Quality lists on PostgreSQL: deviation and CAPA list filters, reporting a deviation, open quality holds.

Targets (issue #5): with 100,000 deviations and 100,000 CAPA, the list page p95 with filters
under 150 ms server time; reporting a deviation with 3 linked records p95 (reported).

    .venv/bin/python benchmarks/quality_lists.py [--deviations 100000] [--capas 100000]
        [--years 5] [--calls 200] [--reports 200]

Users, the equipment and the materials' locations are made through the services; materials,
lots and their containers, deviations with ~3 linked records each (lots, batches,
equipment, materials), due-date extensions and CAPA are bulk-loaded with COPY, generated
the way the services would have written them: states follow each record's age (recent ones
open, old ones closed), due dates are working days from classification by class, CAPA
follow their deviation's state and carry their effectiveness check dates, and the number
sequences continue after the loaded numbers. The seed bypasses the audit trail, which the
timed calls do not read. Then it times, in-process through ``pharmos.quality.service``:

- ``list_deviations`` with each filter (state, classification, overdue, open only, query
  text common and rare, investigator, linked lot and batch, combined) and a deep cursor page;
- ``list_capas`` with each filter (state, owner, overdue, awaiting effectiveness, source
  type, deviation, open only);
- ``report_deviation`` with 3 links (a lot, an equipment, a batch): validation, numbering,
  links and audit trail in one transaction;
- ``open_quality_holds`` for random lots and batches (what materials and batch execution ask).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time
from decimal import Decimal
from typing import Any

from harness import (
    banner,
    finish_copy,
    load_average,
    migrate,
    pg_database,
    postgres_missing,
    print_results,
    psycopg_dsn,
    time_cases,
    timing_row,
)

LIST_TARGET_MS = 150.0
AUTHOR = "bench-import"
PASSWORD = "Bench-quality-2026"
CLASS_DUE_DAYS = {"minor": 15, "major": 20, "critical": 30}
CLASSES = [("minor", 0.60), ("major", 0.32), ("critical", 0.08)]
CATEGORIES = ["man", "machine", "material", "method", "measurement", "environment"]
# (share, record type) of the links a deviation names.
LINK_TYPES = [("lot", 0.40), ("batch", 0.35), ("equipment", 0.20), ("material", 0.05)]
# What a biologics site's deviations are about: (title, area, root-cause category).
TOPICS = (
    ("{cold} 温度超出 2–8 °C 范围", "仓储物流部 冷库", "machine"),
    ("生物反应器 pH 控制偏离设定范围", "B2 上游细胞培养间", "machine"),
    ("批生产记录漏签复核人签名", "生产部", "man"),
    ("洁净区 A 级悬浮粒子超过警戒限", "C1 无菌灌装间", "environment"),
    ("层析柱压力超出操作范围", "B2 下游纯化间", "method"),
    ("缓冲液电导率不符合工艺规程", "B2 配液间", "material"),
    ("原料 COA 与供应商质量协议不一致", "质量控制部", "material"),
    ("天平期间核查超差", "质量控制部 理化实验室", "measurement"),
    ("灌装装量偏低超出控制限", "C1 无菌灌装间", "machine"),
    ("培养基批号记录错误", "生产部（上游）", "man"),
    ("除菌过滤器完整性测试失败", "C1 配制间", "material"),
    ("温湿度监控系统数据缺失", "仓储物流部", "machine"),
    ("SOP 版本使用错误", "生产部（下游）", "method"),
    ("环境监测沉降菌超出行动限", "C1 无菌灌装间", "environment"),
    ("物料标签信息与实物不符", "仓储物流部", "man"),
)
COLD = ("1号冷库", "2号冷库", "3号冷库", "冷藏车")
CAPA_TITLES = ("修订 SOP 并培训相关人员", "更换老化传感器并增加期间核查频次", "增加双人复核步骤",
               "优化报警设置与报警响应流程", "供应商现场审计并修订质量协议", "更新批记录模板",
               "增加环境监测点", "设备预防性维护周期缩短", "开展专项培训并考核", "完善数据备份与审计追踪审核")
OTHER_SOURCES = [("complaint", 0.35), ("audit", 0.35), ("change_control", 0.20), ("other", 0.10)]
# Indexes proposed for the filters that miss the target without them (--with-proposed-indexes);
# the migration owns the real ones. pg_trgm extracts trigrams from CJK text under a UTF-8 ctype.
PROPOSED_INDEXES = (
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX ix_deviation_text_trgm ON deviation USING gin "
    "(number gin_trgm_ops, title gin_trgm_ops, description gin_trgm_ops)",
    "CREATE INDEX ix_deviation_state_id ON deviation (state, id)",
    "CREATE INDEX ix_deviation_open_id ON deviation (id) WHERE state NOT IN ('closed', 'cancelled')",
)

STAFF = (  # (username, role, how many)
    ("qa.mgr", "qa_manager", 3), ("qa.spec", "qa_specialist", 8), ("prod.sup", "production_supervisor", 8),
    ("qc.ana", "qc_analyst", 6), ("eng.mnt", "maintenance", 4), ("prod.op", "operator", 6),
)


def working_days_after(start: date, days: int) -> date:
    """``days`` working days (Monday-Friday) after ``start``, as the services count due dates."""
    current = start
    while days > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            days -= 1
    return current


def _pick(rng: random.Random, weighted: list[tuple[str, float]]) -> str:
    names, weights = zip(*weighted, strict=True)
    return rng.choices(names, weights)[0]


@dataclass(frozen=True)
class Person:
    id: int
    username: str
    role: str


def provision(args: argparse.Namespace) -> dict[str, Any]:
    """Staff, a cold-room location and equipment through the services; returns who and what exists."""
    from pharmos.auth.service import create_user, ensure_builtin_roles
    from pharmos.core.actor import Actor
    from pharmos.equipment import service as equipment
    from pharmos.materials import service as materials

    system = Actor.system("bench")
    ensure_builtin_roles(actor=system)
    people = []
    for prefix, role, count in STAFF:
        for n in range(1, count + 1):
            view = create_user(actor=system, username=f"{prefix}{n:02d}", full_name=f"{prefix} {n}",
                               password=PASSWORD, roles=[role])
            people.append(Person(view.id, view.username, role))
    materials.create_location(actor=system, code="HD", name="HD", kind="site", parent_code=None,
                              storage_class="2-8C")
    materials.create_location(actor=system, code="WH", name="WH", kind="warehouse", parent_code="HD",
                              storage_class="2-8C")
    location_id = materials.create_location(actor=system, code="CR1", name="1号冷库", kind="zone", parent_code="WH",
                                            storage_class="2-8C").id
    equipment.create_equipment_class(actor=system, code="bioreactor", name_zh="生物反应器", name_en="Bioreactor",
                                     number_prefix="BR", requalification_interval_days=365)
    numbers = [equipment.register_equipment(actor=system, class_code="bioreactor", name_zh=f"生物反应器 {n}",
                                            serial_number=f"SN-{n:04d}").number
               for n in range(1, args.equipment + 1)]
    return {"people": people, "location_id": location_id, "equipment": numbers}


class Seeder:
    def __init__(self, args: argparse.Namespace, provisioned: dict[str, Any], today: date) -> None:
        self.args = args
        self.rng = random.Random(20261123)
        self.today = today
        self.now = datetime.now(UTC).replace(microsecond=0)
        self.people: list[Person] = provisioned["people"]
        self.investigators = [p for p in self.people if p.role != "operator"]
        self.capa_owners = self.people  # every built-in role carries out the CAPA assigned to it
        self.equipment: list[str] = provisioned["equipment"]
        self.location_id: int = provisioned["location_id"]
        self.material_codes = [f"RM-{i:04d}" for i in range(1, args.materials + 1)]
        self.lots = [f"LOT-B{i:07d}" for i in range(1, args.lots + 1)]
        self.deviations: list[tuple[Any, ...]] = []
        self.links: list[tuple[Any, ...]] = []
        self.extensions: list[tuple[Any, ...]] = []
        self.capas: list[tuple[Any, ...]] = []
        self.sequences: dict[str, int] = {}
        # deviation id -> (state, classification, created) for CAPA generation
        self.for_capa: list[tuple[int, str, str, datetime, date | None]] = []

    def number(self, prefix: str, at: datetime) -> str:
        key = f"{prefix}-{at:%Y}-#"
        self.sequences[key] = self.sequences.get(key, 0) + 1
        return f"{prefix}-{at:%Y}-{self.sequences[key]:04d}"

    def at(self, day: date) -> datetime:
        return datetime.combine(day, day_time(1), UTC) + timedelta(minutes=self.rng.randint(0, 720))

    def batch(self, day: date) -> str:
        return f"BO-{day:%Y}-{self.rng.randint(1, 400):04d}"

    def state_for_age(self, age: int) -> str:
        r = self.rng.random()
        table: list[tuple[str, float]]
        if age <= 7:
            table = [("reported", 0.35), ("classified", 0.25), ("investigating", 0.35), ("cancelled", 0.05)]
        elif age <= 30:
            table = [("classified", 0.05), ("investigating", 0.50), ("pending_approval", 0.15), ("approved", 0.15),
                     ("closed", 0.13), ("cancelled", 0.02)]
        elif age <= 90:
            table = [("investigating", 0.15), ("pending_approval", 0.05), ("approved", 0.25), ("closed", 0.53),
                     ("cancelled", 0.02)]
        elif age <= 365:
            table = [("investigating", 0.02), ("approved", 0.08), ("closed", 0.88), ("cancelled", 0.02)]
        else:
            table = [("approved", 0.005), ("closed", 0.97), ("cancelled", 0.025)]
        cumulative = 0.0
        for state, share in table:
            cumulative += share
            if r < cumulative:
                return state
        return table[-1][0]

    # ------------------------------------------------------------ deviations

    def deviation(self, dev_id: int, reported: datetime) -> None:
        rng = self.rng
        day = reported.date()
        age = (self.today - day).days
        state = self.state_for_age(age)
        title, area, category = rng.choice(TOPICS)
        title = title.format(cold=rng.choice(COLD))
        reporter = rng.choice(self.people)
        batch = self.batch(day)
        links = self.link_set(day, batch)
        description = (f"{day:%m月%d日}巡检/操作中发现：{title}。涉及批次 {batch}，"
                       f"相关记录：{', '.join(ref for _t, ref in links)}。已立即通知 QA 并隔离相关物料。")
        classified = state not in ("reported",) and not (state == "cancelled" and rng.random() < 0.5)
        classification, scores, rationale, due_on = "", (None, None, None), "", None
        classified_on = None
        if classified:
            classification = _pick(rng, CLASSES)
            severity = {"minor": rng.randint(1, 2), "major": rng.randint(3, 4), "critical": rng.randint(4, 5)}
            scores = (severity[classification], rng.randint(1, 5), rng.randint(1, 5))
            rpn = scores[0] * scores[1] * scores[2]
            rationale = f"按 SOP-QA-0201 偏差分级：影响程度 {classification}，风险优先数 {rpn}"
            classified_on = min(self.today, day + timedelta(days=rng.randint(0, 2)))
            due_on = working_days_after(classified_on, CLASS_DUE_DAYS[classification])
        investigating = state in ("investigating", "pending_approval", "approved", "closed")
        investigator = rng.choice(self.investigators) if investigating or (classified and rng.random() < 0.5) \
            else None
        extensions_granted = 0
        if due_on is not None and state not in ("cancelled",) and rng.random() < 0.05:
            # A due-date extension, approved by QA (or still pending for an open deviation).
            requested = due_on + timedelta(days=rng.choice((10, 15, 20)))
            pending = state not in ("closed",) and rng.random() < 0.3
            asked = self.at(min(self.today, due_on - timedelta(days=2)))
            self.extensions.append((dev_id, due_on, requested, "根本原因调查需等待供应商调查报告，申请延期",
                                    investigator.username if investigator else reporter.username,
                                    investigator.id if investigator else reporter.id, asked,
                                    "pending" if pending else "approved", "" if pending else "qa.mgr01",
                                    None if pending else asked + timedelta(hours=5),
                                    "" if pending else "同意延期"))
            if not pending:
                due_on, extensions_granted = requested, 1
        five_whys = [] if not investigating else ["为什么发生？设备报警未及时响应", "为什么未响应？报警仅在本地显示",
                                                  "为什么仅本地显示？监控系统未接入短信通知"]
        done = state in ("pending_approval", "approved", "closed")
        approved_at = self.at(min(self.today, day + timedelta(days=rng.randint(5, 25)))) \
            if state in ("approved", "closed") else None
        closed_at = None
        if state == "closed":
            closed_at = self.at(min(self.today, day + timedelta(days=rng.randint(10, 60))))
        elif state == "cancelled":
            closed_at = self.at(min(self.today, day + timedelta(days=rng.randint(0, 3))))
        overdue = due_on is not None and due_on < self.today and state not in ("closed", "cancelled")
        escalated_at = datetime.combine(due_on + timedelta(days=1), day_time(0, 30), UTC) if overdue and \
            rng.random() < 0.9 and due_on is not None else None
        self.deviations.append((
            dev_id, self.number("DEV", reported), title, description, area,
            reported - timedelta(hours=rng.randint(0, 12)), reported, "隔离相关物料/设备，通知 QA，挂待处理标识",
            "", reporter.username, reporter.id, reported,
            classification, *scores, (scores[0] * scores[1] * scores[2]) if scores[0] else None, rationale, due_on,
            extensions_granted, investigator.id if investigator else None,
            investigator.username if investigator else "", json.dumps(five_whys, ensure_ascii=False),
            category if done else "", "报警系统设计缺陷" if done else "",
            "经评估对产品质量无影响，相关批次检验结果合格" if done else "", False if done else None,
            "偏差已查明原因并制定 CAPA" if done else "", state, approved_at, closed_at, escalated_at))
        for record_type, reference in links:
            self.links.append((dev_id, record_type, reference, reporter.username, reported))
        self.for_capa.append((dev_id, state, classification, reported, due_on))

    def link_set(self, day: date, batch: str) -> list[tuple[str, str]]:
        """~3 linked records (1-5), no duplicates."""
        count = self.rng.choices((1, 2, 3, 4, 5), (0.10, 0.20, 0.40, 0.20, 0.10))[0]
        chosen: dict[tuple[str, str], None] = {}
        while len(chosen) < count:
            kind = _pick(self.rng, LINK_TYPES)
            reference = {"lot": lambda: self.rng.choice(self.lots), "batch": lambda: batch if not chosen
                         else self.batch(day), "equipment": lambda: self.rng.choice(self.equipment),
                         "material": lambda: self.rng.choice(self.material_codes)}[kind]()
            chosen[(kind, reference)] = None
        return list(chosen)

    # ------------------------------------------------------------ CAPA

    def capa_rows(self) -> None:
        rng = self.rng
        pending: list[tuple[datetime, dict[str, Any]]] = []
        numbers = {row[0]: row[1] for row in self.deviations}
        for dev_id, state, classification, reported, _due in self.for_capa:
            if state not in ("investigating", "pending_approval", "approved", "closed"):
                continue
            if classification == "minor" and rng.random() > 0.15:
                continue
            for _ in range(rng.choice((1, 1, 2))):
                created = reported + timedelta(days=rng.randint(3, 20))
                if created > self.now:
                    created = self.now - timedelta(minutes=rng.randint(1, 600))
                if state == "closed":
                    capa_state = "cancelled" if rng.random() < 0.02 else "closed"
                elif state == "approved":
                    capa_state = rng.choice(("open", "implemented", "implemented", "closed"))
                else:
                    capa_state = "open"
                pending.append((created, dict(state=capa_state, source_type="deviation",
                                              source_reference=numbers[dev_id], deviation_id=dev_id)))
        others = max(0, self.args.capas - len(pending))
        span = self.args.years * 365
        for _ in range(others):
            created = self.now - timedelta(days=span * rng.random() ** 1.15, minutes=rng.randint(0, 600))
            age = (self.today - created.date()).days
            if age <= 30:
                capa_state = _pick(rng, [("open", 0.8), ("implemented", 0.15), ("cancelled", 0.05)])
            elif age <= 180:
                capa_state = _pick(rng, [("open", 0.25), ("implemented", 0.35), ("closed", 0.37), ("cancelled", 0.03)])
            else:
                capa_state = _pick(rng, [("open", 0.01), ("implemented", 0.02), ("closed", 0.94), ("cancelled", 0.03)])
            source_type = _pick(rng, OTHER_SOURCES)
            prefix = {"complaint": "CMP", "audit": "AUD", "change_control": "CC", "other": "REF"}[source_type]
            pending.append((created, dict(state=capa_state, source_type=source_type,
                                          source_reference=f"{prefix}-{created:%Y}-{rng.randint(1, 300):04d}",
                                          deviation_id=None)))
        pending.sort(key=lambda item: item[0])
        pending = pending[:self.args.capas]
        for capa_id, (created, spec) in enumerate(pending, start=1):
            owner = rng.choice(self.capa_owners)
            author = rng.choice([p for p in self.people if p.role in ("qa_manager", "qa_specialist")])
            due_on = created.date() + timedelta(days=rng.choice((30, 45, 60, 90)))
            check_days = rng.choice((30, 60, 90, 90, 90, 180))
            state = spec["state"]
            implemented_at = closed_at = effectiveness_due = None
            summary = result = ""
            effective = None
            if state in ("implemented", "closed"):
                implemented_at = min(self.now, created + timedelta(days=rng.randint(5, 60)))
                effectiveness_due = implemented_at.date() + timedelta(days=check_days)
                summary = "已完成 SOP 修订（版本升级）并完成相关岗位培训考核"
            if state == "closed" and effectiveness_due is not None:
                # Closed on or after its effectiveness check date, never before (ICH Q10 3.2.2).
                closed_on = min(self.today, effectiveness_due + timedelta(days=rng.randint(0, 20)))
                effectiveness_due = min(effectiveness_due, closed_on)
                closed_at = self.at(closed_on)
                result, effective = "跟踪期内同类偏差未再发生，措施有效", True
            if state == "cancelled":
                closed_at = min(self.now, created + timedelta(days=rng.randint(1, 30)))
            overdue = (state == "open" and due_on < self.today) or \
                (state == "implemented" and effectiveness_due is not None and effectiveness_due < self.today)
            escalated_at = datetime.combine(self.today, day_time(0, 30), UTC) if overdue and rng.random() < 0.9 \
                else None
            self.capas.append((
                capa_id, self.number("CAPA", created), rng.choice(("corrective", "corrective", "preventive")),
                rng.choice(CAPA_TITLES), "针对根本原因制定的纠正预防措施", spec["source_type"],
                spec["source_reference"], spec["deviation_id"], owner.id, owner.username, due_on,
                "措施实施后 3 个月内同类偏差不再发生", check_days, effectiveness_due, summary, result, effective,
                state, author.id, author.username, created, implemented_at, closed_at, escalated_at))

    def generate(self) -> None:
        span = self.args.years * 365
        # More deviations in recent years (the site grew), each at a random time of its day.
        days = sorted(self.today - timedelta(days=int(span * self.rng.random() ** 1.15))
                      for _ in range(self.args.deviations))
        for dev_id, day in enumerate(days, start=1):
            reported = self.at(day)
            if reported > self.now:
                reported = self.now - timedelta(minutes=self.rng.randint(1, 600))
            self.deviation(dev_id, reported)
        self.capa_rows()

    # ------------------------------------------------------------ COPY

    def copy(self, url: str) -> dict[str, int]:
        import psycopg

        with psycopg.connect(psycopg_dsn(url)) as conn, conn.cursor() as cur:
            with cur.copy("COPY material (id, code, version, name_zh, name_en, material_type, base_unit, "
                          "storage_condition, protect_from_light, shelf_life_days, retest_interval_days, "
                          "min_remaining_shelf_life_days, sampling_plan, gmp_critical, state, author_id, author, "
                          "created_at, approved_at) FROM STDIN") as copy:
                for i, code in enumerate(self.material_codes, start=1):
                    copy.write_row((i, code, 1, f"物料{i:04d}", f"Material {i:04d}", "raw_material", "kg", "2-8C",
                                    False, 1095, None, 0, "", True, "approved", None, AUTHOR, self.now, self.now))
            with cur.copy("COPY material_lot (id, number, material_id, material_code, receipt_id, order_line_id, "
                          "supplier_id, supplier_lot, manufactured_on, expires_on, retest_on, quantity_received, "
                          "unit, state, received_by_id, received_by, received_at, qa_flag, qa_flag_assessed, "
                          "short_dated_use_approved, status_changed_at) FROM STDIN") as copy:
                for lot_id, number in enumerate(self.lots, start=1):
                    m = (lot_id - 1) % len(self.material_codes)
                    expires = self.today + timedelta(days=self.rng.randint(30, 1000))
                    received = self.now - timedelta(days=self.rng.randint(30, 700))
                    copy.write_row((lot_id, number, m + 1, self.material_codes[m], None, None, None, f"S-{lot_id}",
                                    expires - timedelta(days=1095), expires, None, Decimal(200), "kg", "released",
                                    None, AUTHOR, received, "", True, False, received))
            with cur.copy("COPY lot_container (id, number, lot_id, material_id, location_id, quantity, reserved) "
                          "FROM STDIN") as copy:
                for lot_id, number in enumerate(self.lots, start=1):
                    m = (lot_id - 1) % len(self.material_codes)
                    for c in (1, 2):
                        copy.write_row((2 * lot_id + c - 2, f"{number}-C{c:02d}", lot_id, m + 1, self.location_id,
                                        Decimal(100), Decimal(0)))
            with cur.copy("COPY deviation (id, number, title, description, area, occurred_at, discovered_at, "
                          "immediate_action, source, reported_by, author_id, reported_at, classification, severity, "
                          "occurrence, detectability, risk_priority, classification_rationale, due_on, "
                          "extensions_granted, investigator_id, investigator, five_whys, root_cause_category, "
                          "root_cause, impact_assessment, product_impact, conclusion, state, approved_at, closed_at, "
                          "escalated_at) FROM STDIN") as copy:
                for row in self.deviations:
                    copy.write_row(row)
            with cur.copy("COPY deviation_link (deviation_id, record_type, reference, added_by, added_at) "
                          "FROM STDIN") as copy:
                for row in self.links:
                    copy.write_row(row)
            with cur.copy("COPY deviation_extension (deviation_id, current_due_on, requested_due_on, justification, "
                          "requested_by, requested_by_id, requested_at, decision, decided_by, decided_at, "
                          "decision_comment) FROM STDIN") as copy:
                for row in self.extensions:
                    copy.write_row(row)
            with cur.copy("COPY capa (id, number, kind, title, description, source_type, source_reference, "
                          "deviation_id, owner_id, owner, due_on, effectiveness_criteria, effectiveness_check_days, "
                          "effectiveness_due_on, implementation_summary, effectiveness_result, effective, state, "
                          "author_id, author, created_at, implemented_at, closed_at, escalated_at) FROM STDIN") as copy:
                for row in self.capas:
                    copy.write_row(row)
            # The numbering service continues after the loaded numbers (never reused).
            finish_copy(conn, ("material", "material_lot", "lot_container", "deviation", "deviation_link",
                               "deviation_extension", "capa"), self.sequences)
        return {"deviations": len(self.deviations), "links": len(self.links), "extensions": len(self.extensions),
                "capas": len(self.capas), "lots": len(self.lots)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deviations", type=int, default=100_000)
    parser.add_argument("--capas", type=int, default=100_000)
    parser.add_argument("--years", type=int, default=5, help="history the records are spread over")
    parser.add_argument("--lots", type=int, default=20_000)
    parser.add_argument("--materials", type=int, default=300)
    parser.add_argument("--equipment", type=int, default=40)
    parser.add_argument("--calls", type=int, default=200, help="calls per list filter")
    parser.add_argument("--reports", type=int, default=200, help="report_deviation calls")
    parser.add_argument("--with-proposed-indexes", action="store_true",
                        help="create PROPOSED_INDEXES after seeding (to compare with the migration's indexes)")
    parser.add_argument("--index", action="append", default=[], metavar="SQL",
                        help="extra DDL to run after seeding, e.g. a candidate index (repeatable)")
    args = parser.parse_args(argv)
    banner("quality: deviation and CAPA lists, reporting a deviation, open quality holds (PostgreSQL)")
    if postgres_missing():
        return 0
    figures: list[tuple[str, ...]] = [("measure", "p50", "p95", "p99", "rows", "verdict")]
    with pg_database() as url:
        migrate(url)
        from pharmos.auth.service import login
        from pharmos.core.clock import site_today
        from pharmos.quality import service

        provisioned = provision(args)
        started = time.perf_counter()
        seeder = Seeder(args, provisioned, site_today())
        seeder.generate()
        counts = seeder.copy(url)
        print(f"seeded  : {counts['deviations']:,} deviations ({counts['links']:,} links, "
              f"{counts['extensions']:,} extensions), {counts['capas']:,} CAPA, {counts['lots']:,} lots "
              f"in {time.perf_counter() - started:.1f} s (COPY)")
        extra = [*(PROPOSED_INDEXES if args.with_proposed_indexes else ()), *args.index]
        if extra:
            import psycopg

            with psycopg.connect(psycopg_dsn(url), autocommit=True) as conn:
                for ddl in extra:
                    conn.execute(ddl)
                conn.execute("ANALYZE deviation")
            print("indexes : " + "; ".join(extra))
        states: dict[str, int] = {}
        for row in seeder.deviations:
            states[row[28]] = states.get(row[28], 0) + 1
        capa_states: dict[str, int] = {}
        for row in seeder.capas:
            capa_states[row[17]] = capa_states.get(row[17], 0) + 1
        print("states  : deviations " + ", ".join(f"{k} {v:,}" for k, v in sorted(states.items()))
              + "; CAPA " + ", ".join(f"{k} {v:,}" for k, v in sorted(capa_states.items())))

        qa = login(username="qa.mgr01", password=PASSWORD).actor
        reporter = login(username="prod.op01", password=PASSWORD).actor
        rng = random.Random(11)
        investigator = seeder.investigators[0].username
        owner = seeder.people[0].username
        hot_lot = max(((ref, n) for ref, n in _link_counts(seeder, "lot").items()), key=lambda kv: kv[1])[0]
        some_batch = next(link[2] for link in reversed(seeder.links) if link[1] == "batch")
        middle = len(seeder.deviations) // 2
        a_deviation = next(row[7] for row in reversed(seeder.capas) if row[7] is not None)
        print(f"load average before timing: {load_average()}")

        def deviations(**filters: Any) -> Callable[[], Any]:
            return lambda: service.list_deviations(actor=qa, **filters)

        def capas(**filters: Any) -> Callable[[], Any]:
            return lambda: service.list_capas(actor=qa, **filters)

        cases: list[tuple[str, Callable[[], Any]]] = [
            ("list_deviations() first page", deviations()),
            ("list_deviations(after_id=middle) deep page", deviations(after_id=middle)),
            ("list_deviations(state=investigating)", deviations(state="investigating")),
            ("list_deviations(state=closed)", deviations(state="closed")),
            ("list_deviations(classification=critical)", deviations(classification="critical")),
            ("list_deviations(overdue=True)", deviations(overdue=True)),
            ("list_deviations(open_only=True)", deviations(open_only=True)),
            ("list_deviations(query='pH') common text", deviations(query="pH")),
            ("list_deviations(query='除菌过滤器') ~7% rows", deviations(query="除菌过滤器")),
            ("list_deviations(query=rare lot number)", deviations(query=seeder.lots[-1])),
            ("list_deviations(query=no match)", deviations(query="不存在的关键词")),
            ("list_deviations(investigator=…)", deviations(investigator=investigator)),
            (f"list_deviations(linked=lot:{hot_lot})", deviations(linked=f"lot:{hot_lot}")),
            (f"list_deviations(linked=batch:{some_batch})", deviations(linked=f"batch:{some_batch}")),
            ("list_deviations(classification=major, overdue, open)",
             deviations(classification="major", overdue=True, open_only=True)),
            ("list_capas() first page", capas()),
            ("list_capas(state=open)", capas(state="open")),
            ("list_capas(overdue=True)", capas(overdue=True)),
            ("list_capas(awaiting_effectiveness=True)", capas(awaiting_effectiveness=True)),
            ("list_capas(owner=…)", capas(owner=owner)),
            ("list_capas(source_type=complaint)", capas(source_type="complaint")),
            ("list_capas(deviation_id=…)", capas(deviation_id=a_deviation)),
            ("list_capas(open_only=True)", capas(open_only=True)),
        ]
        time_cases(figures, cases, args.calls, LIST_TARGET_MS)

        link_input = service.LinkInput
        report_ms = []
        for n in range(args.reports):
            lot = rng.choice(seeder.lots)
            eq = rng.choice(seeder.equipment)
            batch = f"BO-{seeder.today:%Y}-{rng.randint(1, 400):04d}"
            started = time.perf_counter()
            service.report_deviation(
                actor=reporter, title=f"冷库温度超出 2–8 °C 范围（第 {n + 1} 次）", area="仓储物流部 1号冷库",
                description="温湿度监控系统报警：1号冷库温度 9.6 °C 持续 42 分钟，超出 2–8 °C。",
                discovered_at=datetime.now(UTC) - timedelta(minutes=10),
                immediate_action="转移物料至 2号冷库，通知 QA，挂待处理标识",
                links=[link_input("lot", lot), link_input("equipment", eq), link_input("batch", batch)])
            report_ms.append((time.perf_counter() - started) * 1e3)
        figures.append(timing_row(f"report_deviation with 3 links (lot, equipment, batch) x {args.reports}",
                                  report_ms, "1", target=None))

        for record_type, pool in (("lot", seeder.lots), ("batch", [link[2] for link in seeder.links
                                                                   if link[1] == "batch"])):
            refs = [rng.choice(pool) for _ in range(args.calls * 2)]
            samples, held = [], 0
            for ref in refs:
                started = time.perf_counter()
                holds = service.open_quality_holds(record_type=record_type, reference=ref)
                samples.append((time.perf_counter() - started) * 1e3)
                held += bool(holds)
            figures.append(timing_row(f"open_quality_holds({record_type}) x {len(refs)} random", samples,
                                      f"{held} held", target=None, digits=2))

    print_results(figures)
    return 0


def _link_counts(seeder: Seeder, record_type: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for link in seeder.links:
        if link[1] == record_type:
            counts[link[2]] = counts.get(link[2], 0) + 1
    return counts


if __name__ == "__main__":
    raise SystemExit(main())
