"""What every benchmark shares: the machine banner and throwaway databases.

Benchmarks print figures; they are not tests and assert nothing about speed.
"""

from __future__ import annotations

import os
import platform
import resource
import shlex
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PG_ADMIN_DSN = os.environ.get("PHARMOS_BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")


def banner(title: str) -> None:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    print(f"== {title}")
    print(f"command : {shlex.join([Path(sys.executable).name, *sys.argv])}")
    print(f"machine : nproc={os.cpu_count()} cpu={cpu!r} python={platform.python_version()} "
          f"({platform.system()} {platform.release()})")


def load_average() -> str:
    """Other work on the machine skews every figure; print it next to them."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def cpu_seconds() -> float:
    """CPU time of this process and of its finished child processes (user + system)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def pg_reachable() -> str | None:
    """None when the benchmark PostgreSQL answers, else why not."""
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_DSN, connect_timeout=3):
            return None
    except Exception as exc:  # any failure means "skip the PG figure"
        return str(exc)


@contextmanager
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards; yields its SQLAlchemy URL."""
    import psycopg

    name = f"pharmos_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = "postgresql+psycopg://" + PG_ADMIN_DSN.split("://", 1)[1].rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        from pharmos.core.db import get_database

        get_database().dispose()
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def sqlite_database() -> Iterator[str]:
    """A SQLite file in a temporary directory, removed afterwards; yields its URL."""
    with tempfile.TemporaryDirectory(prefix="pharmos_bench_") as tmp:
        try:
            yield f"sqlite:///{Path(tmp) / 'bench.db'}"
        finally:
            from pharmos.core.db import get_database

            get_database().dispose()


def migrate(url: str) -> None:
    # The benchmark configures the process-wide database like `pharmos migrate` does.
    os.environ["PHARMOS_DATABASE_URL"] = url
    from pharmos.core.config import reset_settings_cache
    from pharmos.core.migrate import upgrade_head

    reset_settings_cache()
    upgrade_head(url)
