"""Audited write overhead on PostgreSQL: 10,000 audited updates vs the same updates unaudited.

Target (issue): overhead < 30 %.

    .venv/bin/python benchmarks/audited_writes.py [--updates 10000] [--block 500]

Both sides run the same code path: one unit of work per update through
``pharmos.core.db.transaction`` that loads the row by id and changes its value. The audited
side is the real ``ControlledSetting`` (after_flush hook, chain lock, hash, entry insert);
the other is a table with identical columns mapped on a separate declarative base that does
not inherit ``Audited``. The two run in alternating blocks so that load from other work on
the machine falls on both alike.
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime
from typing import Any

from harness import banner, load_average, migrate, pg_database, postgres_missing
from sqlalchemy import BigInteger, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from pharmos.core.actor import Actor
from pharmos.core.clock import utcnow
from pharmos.core.db import BigId, UTCDateTime, get_database, transaction
from pharmos.site.models import ControlledSetting

TARGET_PCT = 30.0


class UnauditedBase(DeclarativeBase):
    pass


class UnauditedSetting(UnauditedBase):
    """ControlledSetting's columns without the Audited mixin: the baseline."""

    __tablename__ = "bench_unaudited_setting"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True, nullable=False)
    key: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    value: Mapped[str] = mapped_column(Text, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    state: Mapped[str] = mapped_column(String(20), nullable=False)
    author_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    author: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    effective_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


ACTOR = Actor(username="qa.li", full_name="李质量", user_id=2, permissions=frozenset({"settings.edit"}))
SEED: dict[str, Any] = {"number": "CS-2026-0001", "key": "deviation.due_days.minor", "version": 1, "value": "30",
                        "description": "默认偏差处理期限（天）", "state": "draft", "author_id": 2, "author": "qa.li"}


def seed() -> tuple[int, int]:
    UnauditedBase.metadata.create_all(get_database().write_engine)
    with transaction(actor=ACTOR, reason="Controlled setting drafted") as session:
        audited, plain = ControlledSetting(**SEED), UnauditedSetting(**SEED)
        session.add_all([audited, plain])
        session.flush()
        return audited.id, plain.id


def update_block(model: type[Any], row_id: int, start: int, count: int) -> float:
    began = time.perf_counter()
    for i in range(start, start + count):
        with transaction(actor=ACTOR, reason="Periodic review of the parameter") as session:
            row = session.get(model, row_id)
            row.value = str(30 + i % 60)
    return time.perf_counter() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=10_000)
    parser.add_argument("--block", type=int, default=500)
    args = parser.parse_args(argv)
    banner("audited write overhead (PostgreSQL)")
    if postgres_missing():
        return 0
    with pg_database() as url:
        migrate(url)
        audited_id, plain_id = seed()
        update_block(ControlledSetting, audited_id, 0, 200)  # warm-up: pools, statement caches
        update_block(UnauditedSetting, plain_id, 0, 200)
        print(f"load average before timing: {load_average()}")
        audited = plain = 0.0
        done = 0
        while done < args.updates:
            n = min(args.block, args.updates - done)
            plain += update_block(UnauditedSetting, plain_id, done, n)
            audited += update_block(ControlledSetting, audited_id, done, n)
            done += n
        from pharmos.compliance.audit import count_entries, verify_chain
        from pharmos.core.db import read_session

        with read_session() as session:
            entries = count_entries(session)
            intact = verify_chain(session).ok
    overhead = (audited - plain) / plain * 100
    verdict = "meets" if overhead < TARGET_PCT else "MISSES"
    print(f"unaudited : {args.updates:,} updates in {plain:.2f} s = {plain / args.updates * 1e3:.3f} ms/update")
    print(f"audited   : {args.updates:,} updates in {audited:.2f} s = {audited / args.updates * 1e3:.3f} ms/update "
          f"({entries:,} audit entries written, chain intact={intact})")
    print(f"overhead  : {overhead:.1f} % ({verdict} target < {TARGET_PCT:.0f} %)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
