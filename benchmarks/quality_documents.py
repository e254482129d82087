"""Controlled documents and training on PostgreSQL: 10,000 documents, their versions and training records.

Issue #5 asks for a benchmark with 10,000 documents. Targets used here: document list
pages p95 under 150 ms (as the deviation lists), ``is_qualified`` — which batch execution
calls for every signed step — p95 under 20 ms, the qualification matrix of the largest role
under 1 s.

    .venv/bin/python benchmarks/quality_documents.py [--documents 10000] [--operators 200] [--calls 200]

Staff are made through the auth service. Documents (SOPs, specifications, forms, master
documents, policies over eight departments), their 1–4 versions (the latest effective, older
ones superseded, a few new drafts and versions in review), each version's Markdown file,
training requirements by role and the training records a site accumulates (completed
read-and-understood on every version a person had to read, some assigned, some of them
overdue) are bulk-loaded with COPY the way the services would have written them; the
number sequences continue after the loaded numbers. The seed bypasses the audit trail,
which the timed calls do not read. Then it times, in-process through
``pharmos.quality.service``:

- ``list_documents`` with each filter, for QA (sees every version) and for an operator
  (effective versions only, plus those they write, review or approve);
- ``get_document`` by number with its versions, and ``version_file`` (the bytes re-hashed
  against the stored SHA-256 before they are served);
- ``register_document`` (numbering, version 1 in draft, audit trail);
- ``is_qualified`` now and one year ago, for random people and documents;
- ``qualification_matrix`` for the operators and for one department, and
  ``documents_due_for_review``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from harness import (
    banner,
    finish_copy,
    load_average,
    measure,
    migrate,
    pg_database,
    postgres_missing,
    print_results,
    psycopg_dsn,
    time_cases,
    timing_row,
)

LIST_TARGET_MS = 150.0
QUALIFIED_TARGET_MS = 20.0
MATRIX_TARGET_MS = 1000.0
PASSWORD = "Bench-documents-2026"
AUTHOR = "bench-import"
DEPARTMENTS = ("QA", "QC", "USP", "DSP", "WH", "EN", "RA", "VAL")
DOC_TYPES = (("sop", "SOP", 0.70), ("specification", "SPEC", 0.12), ("form", "FORM", 0.12),
             ("master", "MD", 0.03), ("policy", "POL", 0.03))
TOPICS = ("细胞复苏与扩增", "一次性生物反应器操作", "培养基配制", "Protein A 亲和层析", "低 pH 病毒灭活",
          "除菌过滤及完整性测试", "洁净区更衣", "环境监测", "取样管理", "OOS 调查", "分析天平使用与期间核查",
          "物料接收", "冷库温度监控", "设备预防性维护", "计量器具校准", "偏差管理", "变更控制", "文件管理",
          "培训管理", "批记录审核与放行", "清洁验证", "灌装线操作", "缓冲液配制", "超滤换液", "纯化水系统运行")
# Roles, head-count and how many documents each role must be trained on.
STAFF = (("operator", "op", None, 60), ("production_supervisor", "sup", 20, 80), ("qc_analyst", "qc", 40, 80),
         ("qa_specialist", "qas", 10, 120), ("qa_manager", "qam", 3, 120), ("warehouse", "wh", 30, 30),
         ("maintenance", "eng", 20, 40))


def provision(args: argparse.Namespace) -> dict[str, list[tuple[int, str, str]]]:
    """Staff through the auth service: role -> [(user id, username, full name)]."""
    from pharmos.auth.service import create_user, ensure_builtin_roles
    from pharmos.core.actor import Actor

    system = Actor.system("bench")
    ensure_builtin_roles(actor=system)
    people: dict[str, list[tuple[int, str, str]]] = {}
    for role, prefix, count, _docs in STAFF:
        for n in range(1, (count or args.operators) + 1):
            view = create_user(actor=system, username=f"{prefix}{n:03d}", full_name=f"{prefix} {n}",
                               password=PASSWORD, roles=[role], department=DEPARTMENTS[n % len(DEPARTMENTS)])
            people.setdefault(role, []).append((view.id, view.username, view.full_name))
    return people


class Seeder:
    def __init__(self, args: argparse.Namespace, people: dict[str, list[tuple[int, str, str]]], today: date) -> None:
        self.args = args
        self.rng = random.Random(20261123)
        self.today = today
        self.now = datetime.now(UTC).replace(microsecond=0)
        self.people = people
        self.documents: list[tuple[Any, ...]] = []
        self.versions: list[tuple[Any, ...]] = []
        self.files: list[tuple[int, bytes]] = []
        self.requirements: list[tuple[Any, ...]] = []
        self.records: list[tuple[Any, ...]] = []
        self.sequences: dict[str, int] = {}
        # document id -> [(version id, version, effective_at, retired_at)] of versions that were in force
        self.in_force: dict[int, list[tuple[int, int, datetime, datetime | None]]] = {}
        self.numbers: list[str] = []

    def generate(self) -> None:
        owner_id, owner, _ = self.people["qa_specialist"][0]
        reviewer_id, reviewer, _ = self.people["production_supervisor"][0]
        approver_id, approver, _ = self.people["qa_manager"][0]
        version_id = 0
        for doc_id in range(1, self.args.documents + 1):
            doc_type, prefix = self._doc_type()
            department = self.rng.choice(DEPARTMENTS)
            key = f"{prefix}-{department}"
            self.sequences[key] = self.sequences.get(key, 0) + 1
            number = f"{prefix}-{department}-{self.sequences[key]:04d}"
            self.numbers.append(number)
            topic = self.rng.choice(TOPICS)
            kind = {"sop": "操作规程", "specification": "质量标准"}.get(doc_type, "记录表")
            title = f"{topic}{kind}（{department}-{doc_id}）"
            versions = self.rng.choices((1, 2, 3, 4), (0.45, 0.30, 0.15, 0.10))[0]
            first = self.now - timedelta(days=self.rng.randint(400, 2500))
            span = (self.now - first) / versions
            history: list[tuple[int, int, datetime, datetime | None]] = []
            for v in range(1, versions + 1):
                version_id += 1
                effective_at = first + span * (v - 1)
                retired_at = first + span * v if v < versions else None
                content = f"# {number} {title}\n\n版本 {v}.0\n\n" + ("本规程规定了操作步骤、职责和记录要求。\n" * 40)
                data = content.encode()
                self.files.append((version_id, data))
                self.versions.append((
                    version_id, doc_id, v, f"第 {v} 版", "", owner_id, owner, json.dumps([reviewer_id]),
                    json.dumps([reviewer]), approver_id, approver, effective_at.date(), f"{number}-v{v}.md",
                    "text/markdown", len(data), hashlib.sha256(data).hexdigest(),
                    "effective" if retired_at is None else "superseded", effective_at - timedelta(days=20),
                    effective_at - timedelta(days=5), effective_at, retired_at))
                history.append((version_id, v, effective_at, retired_at))
            self.in_force[doc_id] = history
            if self.rng.random() < 0.05:  # a revision under way
                version_id += 1
                self.files.append((version_id, b"# draft\n"))
                self.versions.append((
                    version_id, doc_id, versions + 1, "修订中", "", owner_id, owner, json.dumps([reviewer_id]),
                    json.dumps([reviewer]), approver_id, approver, None, f"{number}-v{versions + 1}.md",
                    "text/markdown", 8, hashlib.sha256(b"# draft\n").hexdigest(),
                    self.rng.choice(("draft", "in_review")), self.now, None, None, None))
            # Periodic reviews keep moving the date: spread it over the coming two years, a few weeks overdue at most.
            next_review = self.today + timedelta(days=self.rng.randint(-30, 730))
            self.documents.append((doc_id, number, doc_type, title, "", department, owner_id, owner, 24, 14,
                                   versions, next_review, False, first - timedelta(days=30)))
        self._training()

    def _doc_type(self) -> tuple[str, str]:
        names = [(t, p) for t, p, _ in DOC_TYPES]
        return self.rng.choices(names, [w for _, _, w in DOC_TYPES])[0]

    def _training(self) -> None:
        requirement_id = record_id = 0
        sops = [d for d in self.documents if d[2] == "sop"]
        for role, _prefix, _count, docs in STAFF:
            for doc in self.rng.sample(sops, min(docs, len(sops))):
                requirement_id += 1
                self.requirements.append((requirement_id, role, doc[0], None, True, AUTHOR, self.now))
                for user_id, username, full_name in self.people[role]:
                    for version_id, v, effective_at, retired_at in self.in_force[doc[0]]:
                        due = (effective_at + timedelta(days=14)).date()
                        subject = f"{doc[1]} v{v}.0 {doc[3]}"
                        record_id += 1
                        if retired_at is None and self.rng.random() < 0.06:  # current version not read yet
                            self.records.append((
                                record_id, user_id, username, full_name, "read_and_understood", doc[0], version_id,
                                None, subject, AUTHOR, effective_at, due, "assigned", None, "", None, "", "", None))
                        else:
                            done = effective_at + timedelta(days=self.rng.randint(0, 13), hours=2)
                            self.records.append((
                                record_id, user_id, username, full_name, "read_and_understood", doc[0], version_id,
                                None, subject, AUTHOR, effective_at, due, "completed", done, "", None, "", "", None))

    def copy(self, url: str) -> dict[str, int]:
        import psycopg

        with psycopg.connect(psycopg_dsn(url)) as conn, conn.cursor() as cur:
            with cur.copy("COPY controlled_document (id, number, doc_type, title_zh, title_en, department, owner_id, "
                          "owner, review_interval_months, training_due_days, effective_version, next_review_on, "
                          "obsolete, created_at) FROM STDIN") as copy:
                for row in self.documents:
                    copy.write_row(row)
            with cur.copy("COPY document_version (id, document_id, version, change_summary, change_control, "
                          "author_id, author, reviewer_ids, reviewers, approver_id, approver, effective_on, filename, "
                          "media_type, size, sha256, state, created_at, approved_at, effective_at, retired_at) "
                          "FROM STDIN") as copy:
                for row in self.versions:
                    copy.write_row(row)
            with cur.copy("COPY document_file (version_id, content) FROM STDIN") as copy:
                for row in self.files:
                    copy.write_row(row)
            with cur.copy("COPY training_requirement (id, role, document_id, skill_id, active, created_by, "
                          "created_at) FROM STDIN") as copy:
                for row in self.requirements:
                    copy.write_row(row)
            with cur.copy("COPY training_record (id, user_id, username, full_name, kind, document_id, version_id, "
                          "skill_id, subject, assigned_by, assigned_at, due_on, state, completed_at, trainer, "
                          "trainer_id, result, notes, valid_until) FROM STDIN") as copy:
                for row in self.records:
                    copy.write_row(row)
            finish_copy(conn, ("controlled_document", "document_version", "document_file", "training_requirement",
                               "training_record"), self.sequences)
        return {"documents": len(self.documents), "versions": len(self.versions),
                "requirements": len(self.requirements), "records": len(self.records)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=10_000)
    parser.add_argument("--operators", type=int, default=200)
    parser.add_argument("--calls", type=int, default=200, help="calls per timed case")
    args = parser.parse_args(argv)
    banner("quality: controlled documents and training (PostgreSQL)")
    if postgres_missing():
        return 0
    figures: list[tuple[str, ...]] = [("measure", "p50", "p95", "p99", "rows", "verdict")]
    with pg_database() as url:
        migrate(url)
        from pharmos.auth.service import login
        from pharmos.core.clock import site_today
        from pharmos.quality import service

        people = provision(args)
        started = time.perf_counter()
        seeder = Seeder(args, people, site_today())
        seeder.generate()
        counts = seeder.copy(url)
        print(f"seeded  : {counts['documents']:,} documents, {counts['versions']:,} versions with files, "
              f"{counts['requirements']:,} training requirements, {counts['records']:,} training records, "
              f"{sum(len(v) for v in people.values()):,} people in {time.perf_counter() - started:.1f} s (COPY)")
        qa = login(username="qam001", password=PASSWORD).actor
        operator = login(username="op001", password=PASSWORD).actor
        rng = random.Random(7)
        a_number = seeder.numbers[len(seeder.numbers) // 2]
        a_document = service.get_document(actor=qa, number=a_number)
        print(f"load average before timing: {load_average()}")

        def documents(actor: Any, **filters: Any) -> Callable[[], Any]:
            return lambda: service.list_documents(actor=actor, **filters)

        def record(label: str, samples: list[float], rows: str, target: float | None) -> None:
            figures.append(timing_row(label, samples, rows, target=target))

        cases: list[tuple[str, Callable[[], Any]]] = [
            ("list_documents() first page, QA", documents(qa)),
            ("list_documents() first page, operator", documents(operator)),
            ("list_documents(after_id=5000) deep page, QA", documents(qa, after_id=5000)),
            ("list_documents(doc_type=specification)", documents(qa, doc_type="specification")),
            ("list_documents(department=USP)", documents(qa, department="USP")),
            ("list_documents(state=in_review), QA", documents(qa, state="in_review")),
            ("list_documents(query='层析') common text", documents(qa, query="层析")),
            ("list_documents(query='层析'), operator", documents(operator, query="层析")),
            ("list_documents(query=one number)", documents(qa, query=seeder.numbers[-1])),
            ("list_documents(due_for_review=True)", documents(qa, due_for_review=True)),
        ]
        time_cases(figures, cases, args.calls, LIST_TARGET_MS)

        samples, _ = measure(lambda: service.get_document(actor=qa, number=a_number), args.calls)
        record(f"get_document(number) with {len(a_document.versions)} versions", samples, "1", LIST_TARGET_MS)
        version = a_document.effective_version or 1
        samples, _ = measure(lambda: service.version_file(actor=operator, document_id=a_document.id,
                                                          version=version), args.calls)
        record("version_file (SHA-256 re-checked), operator", samples, "1", LIST_TARGET_MS)
        samples = []
        for n in range(min(args.calls, 100)):
            begun = time.perf_counter()
            service.register_document(actor=qa, doc_type="sop", title_zh=f"基准测试新规程 {n}", department="QA",
                                      owner_username="qas001")
            samples.append((time.perf_counter() - begun) * 1e3)
        record(f"register_document x {len(samples)}", samples, "1", None)

        requirement_pairs = [(username, seeder.documents[r[2] - 1][1]) for r in seeder.requirements
                             for role in (r[1],) for _uid, username, _ in people[role][:5]]
        for label, at in (("now", None), ("one year ago", datetime.now(UTC) - timedelta(days=365))):
            samples, qualified = [], 0
            for _ in range(args.calls * 2):
                username, number = rng.choice(requirement_pairs)
                begun = time.perf_counter()
                answer = service.is_qualified(username=username, document_number=number, at=at)
                samples.append((time.perf_counter() - begun) * 1e3)
                qualified += answer.qualified
            record(f"is_qualified(user, document, at={label}) x {len(samples)}", samples,
                   f"{qualified} qualified", QUALIFIED_TARGET_MS)

        matrix_calls = max(5, args.calls // 20)
        for label, filters in (("role=operator", {"role": "operator"}), ("department=USP", {"department": "USP"})):
            samples, matrix = measure(lambda f=filters: service.qualification_matrix(actor=qa, **f), matrix_calls,
                                      warmup=1)
            record(f"qualification_matrix({label}) x {matrix_calls}", samples,
                   f"{len(matrix.rows)}x{len(matrix.columns)}", MATRIX_TARGET_MS)
        samples, due = measure(lambda: service.documents_due_for_review(actor=qa), max(5, args.calls // 10))
        record("documents_due_for_review()", samples, str(len(due)), LIST_TARGET_MS)

    print_results(figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
