"""Genealogy trace over 1,000,000 links on PostgreSQL (issue #6 target: p95 < 200 ms).

    .venv/bin/python benchmarks/batches_genealogy.py [--links 1000000] [--calls 200]

The graph is what years of production leave behind, bulk-loaded with ``COPY``:

- supplier lots (raw materials, media, resins, packaging) received in time order;
- intermediate lots (drug substance batches), each made from ~6 supplier lots taken from the
  ones in stock at the time (a sliding window: FEFO uses recent lots, so each supplier lot
  feeds ~15–20 batches, fan-out) — fan-in 6;
- finished lots (filled drug product), each from 2 intermediate lots of about the same time
  plus ~4–5 supplier lots (excipients, vials, stoppers).

About 48 % of the links go supplier → intermediate and 52 % into finished lots. What is timed
is what ``genealogy.trace`` does after resolving the scanned number (a unique-index lookup):
the recursive CTE (``genealogy.walk``, depth 10) and the lot details
(``materials.service.lot_summaries``) — backward from random finished lots (a recall's "what
went in") and forward from random supplier lots ("where did this supplier lot go").
"""

from __future__ import annotations

import argparse
import random
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

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
    timing_row,
)

TARGET_MS = 200.0
FAN_IN_INTERMEDIATE = 6
WINDOW = 400  # supplier lots "in stock" around a batch's time


def plan(links: int) -> tuple[int, int, int]:
    """(supplier lots, intermediate lots, finished lots) giving about ``links`` links."""
    # per finished lot: 2 intermediates + 4.5 supplier lots; per intermediate: 6 supplier lots.
    per_pair = FAN_IN_INTERMEDIATE + 6.5  # one intermediate and one finished lot
    pairs = int(links / per_pair)
    return max(pairs * 5 // 8, WINDOW * 2), pairs, pairs


def generate(links: int, seed: int = 6):  # type: ignore[no-untyped-def]
    """Yield COPY rows of genealogy_link; lot ids: suppliers 1..S, intermediates S+1.., finished after."""
    rng = random.Random(seed)
    suppliers, intermediates, finished = plan(links)
    first_intermediate = suppliers + 1
    first_finished = first_intermediate + intermediates
    now = datetime(2026, 11, 1, tzinfo=UTC)

    def window(position: float) -> range:
        centre = int(position * suppliers)
        low = max(1, min(centre - WINDOW // 2, suppliers - WINDOW))
        return range(low, low + WINDOW)

    count = 0
    for i in range(intermediates):
        child = first_intermediate + i
        batch = f"DS{i:07d}"
        for parent in rng.sample(window(i / intermediates), FAN_IN_INTERMEDIATE):
            yield (batch, parent, f"LOT-{parent:08d}", child, f"LOT-{child:08d}", "1.5", "kg", now)
            count += 1
    for i in range(finished):
        child = first_finished + i
        batch = f"DP{i:07d}"
        near = first_intermediate + min(intermediates - 2, max(0, i + rng.randint(-20, 20)))
        parents = [near, near + 1, *rng.sample(window(i / finished), 4 + i % 2)]
        for parent in parents:
            yield (batch, parent, f"LOT-{parent:08d}", child, f"LOT-{child:08d}", "0.25", "kg", now)
            count += 1


def load(url: str, links: int) -> int:
    import psycopg

    loaded = 0
    with psycopg.connect(psycopg_dsn(url)) as conn:
        with conn.cursor() as cur, cur.copy(
                "COPY genealogy_link (batch_number, parent_lot_id, parent_lot_number, child_lot_id, "
                "child_lot_number, quantity, unit, created_at) FROM STDIN") as copy:
            for row in generate(links):
                copy.write_row(row)
                loaded += 1
        conn.commit()
        finish_copy(conn, ["genealogy_link"], {})
    return loaded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--links", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    banner("batches genealogy trace (PostgreSQL)")
    if postgres_missing():
        return
    from pharmos.batches.genealogy import walk
    from pharmos.core.db import configure_database, read_session
    from pharmos.materials import service as materials

    suppliers, intermediates, finished = plan(args.links)
    with pg_database() as url:
        migrate(url)
        configure_database(url)
        loaded = load(url, args.links)
        print(f"loaded  : {loaded:,} links; {suppliers:,} supplier lots, {intermediates:,} intermediate lots, "
              f"{finished:,} finished lots; load average {load_average()}")
        rng = random.Random(11)
        first_finished = suppliers + intermediates + 1
        sizes: dict[str, list[int]] = {"backward": [], "forward": []}

        def trace(direction: str, lot_id: int) -> list[object]:
            with read_session() as session:
                reached, _ = walk(session, lot_id=lot_id, direction=direction, max_depth=10)
            materials.lot_summaries(lot_ids=[lot_id, *(r.lot_id for r in reached)])
            sizes[direction].append(len(reached))
            return list(reached)

        figures: list[tuple[str, ...]] = [("case", "p50", "p95", "p99", "lots reached (median)", "verdict")]
        for direction, pick in (
                ("backward", lambda: rng.randint(first_finished, first_finished + finished - 1)),
                ("forward", lambda: rng.randint(WINDOW, suppliers - WINDOW))):
            samples, _ = measure(lambda d=direction, p=pick: trace(d, p()), args.calls)  # type: ignore[misc]
            reached = sorted(sizes[direction])[len(sizes[direction]) // 2]
            label = ("backward from a finished lot" if direction == "backward" else "forward from a supplier lot")
            figures.append(timing_row(label, samples, str(reached), target=TARGET_MS))
        print_results(figures)


if __name__ == "__main__":
    main()
