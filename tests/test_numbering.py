"""Human identifiers: unique, never reused, gapless per sequence, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from pharmos.core.actor import Actor
from pharmos.core.db import read_session, transaction
from pharmos.core.numbering import NumberSequence, next_number, next_numbers, validate_pattern


def _number(system: Actor, **kwargs: object) -> str:
    with transaction(actor=system) as session:
        return next_number(session, **kwargs)  # type: ignore[arg-type]


def _sequence_rows() -> int:
    with read_session() as session:
        return int(session.scalar(select(func.count()).select_from(NumberSequence)) or 0)


@pytest.mark.parametrize(("pattern", "named"), [
    ("{prefix}-{date:%Y}", "{seq}"),
    ("{prefix}-{lot}-{seq:04d}", "lot"),
    ("DEV-{seq:04d}-{site}", "site"),
])
def test_invalid_pattern_is_refused_and_writes_nothing(db_url: str, system: Actor, pattern: str,
                                                       named: str) -> None:
    # given an empty database
    assert _sequence_rows() == 0

    # when a number is asked for with a malformed pattern
    with pytest.raises(ValueError) as refused:
        _number(system, prefix="DEV", pattern=pattern)

    # then the error names the pattern and the offending field, and no sequence was created
    message = str(refused.value)
    assert repr(pattern) in message
    assert named in message.replace(repr(pattern), "")
    assert _sequence_rows() == 0


def test_valid_patterns_pass_validation() -> None:
    # given / when / then the patterns the modules use are accepted
    for pattern in ("{prefix}-{date:%Y}-{seq:04d}", "LOT-{date:%y%m%d}-{seq:03d}", "{prefix}{seq}"):
        validate_pattern(pattern)


@pytest.mark.requirement("ALCOA+ attributable: unique record identifiers")
def test_sequence_counts_up_and_restarts_each_year(db_url: str, system: Actor) -> None:
    # given deviations raised at the end of 2025 and the start of 2026
    late_2025 = datetime(2025, 12, 31, 23, 0, tzinfo=UTC)
    early_2026 = datetime(2026, 1, 1, 1, 0, tzinfo=UTC)

    # when numbers are drawn in that order
    numbers = [
        _number(system, prefix="DEV", at=late_2025),
        _number(system, prefix="DEV", at=late_2025),
        _number(system, prefix="DEV", at=early_2026),
        _number(system, prefix="DEV", at=early_2026),
        _number(system, prefix="CAPA", at=early_2026),
    ]

    # then each year and each prefix has its own sequence starting at 1
    assert numbers == ["DEV-2025-0001", "DEV-2025-0002", "DEV-2026-0001", "DEV-2026-0002", "CAPA-2026-0001"]


@pytest.mark.requirement("ALCOA+ complete: gapless numbering")
def test_rolled_back_transaction_gives_its_number_back(db_url: str, system: Actor) -> None:
    # given one deviation already numbered
    at = datetime(2026, 3, 11, tzinfo=UTC)
    assert _number(system, prefix="DEV", at=at) == "DEV-2026-0001"

    # when a second one draws a number and then fails
    drawn: list[str] = []
    with pytest.raises(RuntimeError), transaction(actor=system) as session:
        drawn.append(next_number(session, prefix="DEV", at=at))
        raise RuntimeError("save refused")

    # then the number it drew is handed out again: no gap in the register
    assert drawn == ["DEV-2026-0002"]
    assert _number(system, prefix="DEV", at=at) == "DEV-2026-0002"


def test_rolled_back_first_use_of_a_sequence_leaves_nothing(db_url: str, system: Actor) -> None:
    # given a prefix never used before
    at = datetime(2026, 3, 11, tzinfo=UTC)

    # when its first number is drawn in a transaction that fails
    with pytest.raises(RuntimeError), transaction(actor=system) as session:
        next_number(session, prefix="OOS", at=at)
        raise RuntimeError("save refused")

    # then the sequence row itself was rolled back and numbering starts at 1
    assert _sequence_rows() == 0
    assert _number(system, prefix="OOS", at=at) == "OOS-2026-0001"


@pytest.mark.requirement("ALCOA+ attributable: unique record identifiers")
def test_concurrent_callers_get_distinct_contiguous_numbers(pg_url: str, system: Actor) -> None:
    # given 8 threads each drawing 25 numbers, each in its own transaction, from one new sequence
    threads, per_thread = 8, 25
    at = datetime(2026, 3, 11, tzinfo=UTC)
    start = threading.Barrier(threads)
    drawn: list[str] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def caller() -> None:
        try:
            start.wait()
            for _ in range(per_thread):
                number = _number(system, prefix="LOT", at=at)
                with lock:
                    drawn.append(number)
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    # when they all run at once
    workers = [threading.Thread(target=caller) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()

    # then 200 distinct numbers were issued, 1..200 without a gap
    assert failures == []
    assert sorted(drawn) == [f"LOT-2026-{n:04d}" for n in range(1, threads * per_thread + 1)]


def test_a_block_of_numbers_continues_the_sequence_without_gaps(db_url: str, system: Actor) -> None:
    # given a sequence that has handed out one number
    at = datetime(2026, 11, 23, tzinfo=UTC)
    assert _number(system, prefix="WO", pattern="{prefix}-{date:%y%m}-{seq:04d}", at=at) == "WO-2611-0001"

    # when a job takes a block of three, and then one more number is asked for
    with transaction(actor=system) as session:
        block = next_numbers(session, prefix="WO", pattern="{prefix}-{date:%y%m}-{seq:04d}", at=at, count=3)
    after = _number(system, prefix="WO", pattern="{prefix}-{date:%y%m}-{seq:04d}", at=at)

    # then the block is consecutive and the next single number follows it
    assert block == ["WO-2611-0002", "WO-2611-0003", "WO-2611-0004"]
    assert after == "WO-2611-0005"
    with pytest.raises(ValueError), transaction(actor=system) as session:
        next_numbers(session, prefix="WO", count=0)
