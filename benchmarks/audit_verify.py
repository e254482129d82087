"""`audit verify` throughput: entries verified per second on a 1,000,000-entry chain.

Target (issue): >= 200,000 entries/s on SQLite and on PostgreSQL.

    .venv/bin/python benchmarks/audit_verify.py [--entries 1000000] [--backend both|sqlite|postgres]

Fills a throwaway database with realistic chained entries (hashes from
``pharmos.compliance.audit.entry_hash``, bulk-inserted), then times ``verify_chain`` alone.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from harness import banner, cpu_seconds, load_average, migrate, pg_database, pg_reachable, sqlite_database

from pharmos.compliance.audit import GENESIS_HASH, entry_hash, verify_chain

TARGET = 200_000
COLUMNS = ("id", "at", "actor_id", "actor", "record_type", "record_id", "action", "changes", "reason",
           "request_id", "prev_hash", "hash")

_ACTORS = [(i, name) for i, name in enumerate(
    ["admin.wang", "qa.li", "qa.zhang", "viewer.chen", "op.liu", "qc.zhao", "eng.sun", "wh.zhou",
     "planner.wu", "qa.zheng", "op.feng", "op.chu", "qc.wei", "eng.jiang", "wh.shen"], start=1)]
_REASONS = [None, None, "Controlled setting drafted", "Annual review of the parameter", "Typo in the description",
            "CAPA-2026-0017 action 3", "Role change approved by QA (CC-2026-0042)", "Deviation DEV-2026-0108"]


def _changes(rng: random.Random, record_type: str, action: str) -> str:
    if action == "create":
        body: dict[str, Any] = {
            "number": [None, f"CS-2026-{rng.randint(1, 9999):04d}"],
            "key": [None, rng.choice(["deviation.due_days.minor", "capa.effectiveness_days", "batch.review_hours"])],
            "value": [None, str(rng.randint(1, 365))],
            "state": [None, "draft"],
            "author": [None, rng.choice(_ACTORS)[1]],
            "description": [None, "默认偏差处理期限（天）" if rng.random() < 0.5 else "Default review period"],
        }
    elif action == "update":
        body = {"state": [rng.choice(["draft", "in_review"]), rng.choice(["in_review", "effective"])]}
        if rng.random() < 0.4:
            body["value"] = [str(rng.randint(1, 90)), str(rng.randint(1, 90))]
    else:
        body = {"kind": rng.choice(["web", "api"]),
                "client": f"10.20.{rng.randint(0, 255)}.{rng.randint(1, 254)}"}
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS).decode()


def chained_rows(count: int, *, sqlite: bool) -> Iterator[tuple[Any, ...]]:
    """Realistic entries in chain order; ``at`` in the form each back-end stores it."""
    rng = random.Random(20260311)
    at = datetime(2026, 1, 5, 1, 30, tzinfo=UTC)
    prev = GENESIS_HASH
    kinds = [("controlled_setting", "create"), ("controlled_setting", "update"), ("controlled_setting", "update"),
             ("user", "login"), ("user", "update"), ("role_permission", "create"), ("user_role", "create"),
             ("signature", "create")]
    for i in range(1, count + 1):
        at += timedelta(microseconds=rng.randint(1, 60_000_000))
        actor_id, actor = rng.choice(_ACTORS)
        record_type, action = rng.choice(kinds)
        row = {
            "id": i, "at": at, "actor_id": actor_id, "actor": actor, "record_type": record_type,
            "record_id": str(rng.randint(1, 50_000)), "action": action,
            "changes": _changes(rng, record_type, action), "reason": rng.choice(_REASONS),
            "request_id": uuid.UUID(int=rng.getrandbits(128)).hex if rng.random() < 0.8 else None,
        }
        digest = entry_hash(prev_hash=prev, **row)
        # SQLAlchemy's SQLite DATETIME storage format (naive UTC text, always with microseconds).
        stored_at = at.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else at
        yield (i, stored_at, actor_id, actor, record_type, row["record_id"], action, row["changes"], row["reason"],
               row["request_id"], prev, digest)
        prev = digest


def fill_sqlite(url: str, count: int) -> None:
    conn = sqlite3.connect(url.split("sqlite:///", 1)[1])
    sql = f"INSERT INTO audit_entry ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    rows = chained_rows(count, sqlite=True)
    with conn:
        while True:
            chunk = [row for _, row in zip(range(50_000), rows, strict=False)]
            if not chunk:
                break
            conn.executemany(sql, chunk)
    conn.close()


def fill_postgres(url: str, count: int) -> None:
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY audit_entry ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in chained_rows(count, sqlite=False):
                copy.write_row(row)
        cur.execute("ANALYZE audit_entry")


def measure(url: str, count: int, label: str) -> float:
    from pharmos.core.db import read_session

    migrate(url)
    started = time.perf_counter()
    (fill_sqlite if url.startswith("sqlite") else fill_postgres)(url, count)
    print(f"{label:<10} filled {count:,} entries in {time.perf_counter() - started:.1f} s")
    if url.startswith("sqlite"):
        # Fold the bulk load into the main file as the auto-checkpoint of a live site would.
        conn = sqlite3.connect(url.split("sqlite:///", 1)[1])
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
    print(f"{label:<10} load average before timing: {load_average()}")
    with read_session() as session:
        cpu_before = cpu_seconds()
        started = time.perf_counter()
        result = verify_chain(session)
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds() - cpu_before
    rate = result.checked / elapsed if elapsed else 0.0
    verdict = "meets" if rate >= TARGET else "MISSES"
    print(f"{label:<10} verify_chain: ok={result.ok} checked={result.checked:,} in {elapsed:.2f} s "
          f"= {rate:,.0f} entries/s ({verdict} target {TARGET:,}/s)")
    print(f"{label:<10} client CPU {cpu:.2f} s (this process + verification workers) "
          f"= {result.checked / cpu if cpu else 0:,.0f} entries per CPU-second")
    if not result.ok or result.checked != count:
        print(f"{label:<10} UNEXPECTED verification result: {result}")
    return rate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=["both", "sqlite", "postgres"], default="both")
    args = parser.parse_args(argv)
    banner("audit verify throughput")
    if args.backend in ("both", "sqlite"):
        with sqlite_database() as url:
            measure(url, args.entries, "sqlite")
    if args.backend in ("both", "postgres"):
        reason = pg_reachable()
        if reason is not None:
            print(f"postgres   skipped: {reason}")
        else:
            with pg_database() as url:
                measure(url, args.entries, "postgres")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
