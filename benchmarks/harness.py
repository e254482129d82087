"""What every benchmark shares: the machine banner, throwaway databases, timing and the result table.

Benchmarks print figures; they are not tests and assert nothing about speed.
"""

from __future__ import annotations

import os
import platform
import resource
import shlex
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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


def postgres_missing() -> bool:
    """True, after saying why, when the benchmark PostgreSQL does not answer (the benchmark is then skipped)."""
    reason = pg_reachable()
    if reason is not None:
        print(f"skipped: PostgreSQL unreachable: {reason}")
    return reason is not None


def psycopg_dsn(url: str) -> str:
    """A benchmark database's SQLAlchemy URL as psycopg connects to it (for COPY)."""
    return url.replace("postgresql+psycopg://", "postgresql://")


def finish_copy(conn: Any, tables: Sequence[str], sequences: dict[str, int]) -> None:
    """After a COPY seed: numbers and ids continue after the loaded ones, and the planner sees the new rows."""
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO number_sequence (key, last_value) VALUES (%s, %s) "
                        "ON CONFLICT (key) DO UPDATE SET last_value = EXCLUDED.last_value", list(sequences.items()))
        for table in tables:
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT coalesce(max(id), 1) FROM {table}))")
        conn.commit()
        conn.autocommit = True
        for table in tables:
            cur.execute(f"VACUUM ANALYZE {table}")


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


# ---------------------------------------------------------------- timing and the result table


def percentiles(samples_ms: list[float]) -> tuple[float, float, float]:
    """p50, p95 and p99 of the samples."""
    cuts = statistics.quantiles(samples_ms, n=100, method="inclusive")
    return cuts[49], cuts[94], cuts[98]


def measure(call: Callable[[], Any], calls: int, warmup: int = 5) -> tuple[list[float], Any]:
    """Wall-clock samples (ms) of ``calls`` calls after ``warmup`` untimed ones, and the last result."""
    result = None
    for _ in range(warmup):
        result = call()
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        result = call()
        samples.append((time.perf_counter() - started) * 1e3)
    return samples, result


def verdict(value: float, target: float | None, *, unit: str = "ms", measure: str = "p95") -> str:
    if target is None:
        return "(no target)"
    goal = f"{measure} < {target:.0f} {unit}" if measure else f"< {target:.0f} {unit}"
    return f"meets {goal}" if value < target else f"MISSES {goal}"


def timing_row(label: str, samples: list[float], *extra: str, target: float | None,
               digits: int = 1) -> tuple[str, ...]:
    """A result-table row: label, p50, p95, p99, the extra cells, and the verdict on p95."""
    p50, p95, p99 = percentiles(samples)
    return (label, *(f"{p:.{digits}f} ms" for p in (p50, p95, p99)), *extra, verdict(p95, target))


def time_cases(figures: list[tuple[str, ...]], cases: Sequence[tuple[str, Callable[[], Any]]], calls: int,
               target: float | None) -> None:
    """Time each (label, call) returning rows and add its row with the rows' count; a failing case says so."""
    for label, call in cases:
        try:
            samples, result = measure(call, calls)
        except Exception as exc:  # a filter the service does not take: say so, keep measuring the rest
            figures.append((label, "-", "-", "-", "-", f"ERROR {type(exc).__name__}: {exc}"[:90]))
            continue
        figures.append(timing_row(label, samples, str(len(result)), target=target))


def table_lines(figures: list[tuple[str, ...]]) -> Iterator[str]:
    """The figures as aligned columns; the first row is the header, underlined."""
    widths = [max(len(row[i]) for row in figures) for i in range(len(figures[0]))]
    for n, row in enumerate(figures):
        yield "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row))
        if n == 0:
            yield "  ".join("-" * w for w in widths)


def print_results(figures: list[tuple[str, ...]]) -> None:
    """The machine's load after timing, then the result table."""
    print(f"\nload average after: {load_average()} (nproc={os.cpu_count()}; other work on the machine inflates "
          "every wall-clock figure)")
    for line in table_lines(figures):
        print(line)
