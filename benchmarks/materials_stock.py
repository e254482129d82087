"""Materials stock on PostgreSQL: on-hand and FEFO allocation latency, receipts per second.

Targets (issue #3): with 50,000 lots and 1,000,000 ledger entries, p95 < 50 ms for the
on-hand query of one material and for FEFO allocation across 500 candidate lots.

    .venv/bin/python benchmarks/materials_stock.py [--lots 50000] [--movements 1000000]
        [--materials 400] [--hot-lots 600] [--calls 200] [--duration 20] [--threads 8]
        [--workers 4] [--receipts-via api|service]

Fills a throwaway PostgreSQL database with bulk COPY (materials, lots, containers and a
ledger whose sums equal the containers' cached balances; the seed bypasses the audit trail,
which the timed calls do not read), then times ``service.on_hand`` and ``service.allocate``
in-process, and receipts (one delivery line of 2 containers each) POSTed to
/api/v1/receipts by several client threads against uvicorn workers.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from harness import (
    banner,
    load_average,
    migrate,
    percentiles,
    pg_database,
    postgres_missing,
    print_results,
    psycopg_dsn,
    verdict,
)
from http_load import free_port, stop, wait_healthy

TARGET_MS = 50.0
HOT_CODE = "RM-HOT-001"
USERNAME, PASSWORD = "wh.bench", "wh.bench-pass1"
STATES = [("released", 0.70), ("quarantine", 0.10), ("under_test", 0.05), ("rejected", 0.05), ("expired", 0.10)]
CONTAINERS_PER_LOT = 2
CONTAINER_KG = Decimal(100)
Q = Decimal("0.001")


# ---------------------------------------------------------------- seeding


def provision(args: argparse.Namespace) -> dict[str, Any]:
    """Users, locations, a supplier approved for the hot material: through the services."""
    from pharmos.auth.service import create_user, ensure_builtin_roles
    from pharmos.core.actor import Actor
    from pharmos.materials import service

    system = Actor.system("bench")
    ensure_builtin_roles(actor=system)
    create_user(actor=system, username=USERNAME, full_name="周仓管", password=PASSWORD, roles=["warehouse"])

    def place(code: str, kind: str, parent: str | None, storage_class: str) -> int:
        return service.create_location(actor=system, code=code, name=code, kind=kind, parent_code=parent,
                                       storage_class=storage_class).id

    place("HD", "site", None, "15-25C")
    place("WH1", "warehouse", "HD", "15-25C")
    place("RCV", "zone", "WH1", "15-25C")
    place("AMB", "zone", "WH1", "15-25C")
    place("CR", "zone", "WH1", "2-8C")
    bins = {"15-25C": [place(f"AMB-{i:02d}", "bin", "AMB", "15-25C") for i in range(1, 21)],
            "2-8C": [place(f"CR-{i:02d}", "bin", "CR", "2-8C") for i in range(1, 11)]}
    receiving_bin = place("RCV-01", "bin", "RCV", "15-25C")
    return {"bins": bins, "receiving_bin": receiving_bin}


def seed(url: str, args: argparse.Namespace, places: dict[str, Any]) -> dict[str, int]:
    """Bulk-load materials, lots, containers and the ledger with COPY; returns counts."""
    import psycopg

    rng = random.Random(20260311)
    today = date.today()
    now = datetime.now(UTC)
    bins: dict[str, list[int]] = places["bins"]
    receiving_bin: int = places["receiving_bin"]
    n_materials = args.materials
    conditions = ["2-8C" if i % 4 == 3 else "15-25C" for i in range(n_materials)]
    conditions[0] = "15-25C"
    with psycopg.connect(psycopg_dsn(url)) as conn, conn.cursor() as cur:
        with cur.copy("COPY material (id, code, version, name_zh, name_en, material_type, base_unit, "
                      "storage_condition, protect_from_light, shelf_life_days, retest_interval_days, "
                      "min_remaining_shelf_life_days, sampling_plan, gmp_critical, state, author_id, author, "
                      "created_at, approved_at) FROM STDIN") as copy:
            for i in range(n_materials):
                code = HOT_CODE if i == 0 else f"RM-{i:04d}"
                copy.write_row((i + 1, code, 1, f"物料{i:04d}", f"Material {i:04d}", "raw_material", "kg",
                                conditions[i], False, 1095, None, 0, "", True, "approved", None, "bench", now, now))

        # Lots: the hot material's candidates first, then the rest spread over every material.
        lot_rows: list[tuple[int, int, str]] = []  # (lot id, material index, state)
        with cur.copy("COPY material_lot (id, number, material_id, material_code, receipt_id, order_line_id, "
                      "supplier_id, supplier_lot, manufactured_on, expires_on, retest_on, quantity_received, unit, "
                      "state, received_by_id, received_by, received_at, qa_flag, qa_flag_assessed, "
                      "short_dated_use_approved, status_changed_at) FROM STDIN") as copy:
            weights = [w for _, w in STATES]
            names = [s for s, _ in STATES]
            for lot_id in range(1, args.lots + 1):
                if lot_id <= args.hot_lots:
                    m, state = 0, "released"
                else:
                    m, state = rng.randrange(n_materials), rng.choices(names, weights)[0]
                if state == "expired":
                    expires = today - timedelta(days=rng.randint(1, 300))
                elif state == "released":
                    # Past the short-dated window, so each is a FEFO candidate.
                    expires = today + timedelta(days=rng.randint(45, 1000))
                else:
                    expires = today + timedelta(days=rng.randint(1, 1000))
                received = now - timedelta(days=rng.randint(30, 700), seconds=rng.randint(0, 86399))
                code = HOT_CODE if m == 0 else f"RM-{m:04d}"
                copy.write_row((lot_id, f"LOT-B{lot_id:07d}", m + 1, code, None, None, None, f"S-{lot_id}",
                                expires - timedelta(days=1095), expires, None,
                                CONTAINER_KG * CONTAINERS_PER_LOT, "kg", state, None, "bench", received, "", True,
                                False, received))
                lot_rows.append((lot_id, m, state))

        # Ledger, container by container; the cached balance is the running sum.
        n_containers = args.lots * CONTAINERS_PER_LOT
        per_container, extra = divmod(args.movements, n_containers)
        containers: list[tuple[Any, ...]] = []
        movement_id = 0
        with cur.copy("COPY stock_movement (id, kind, lot_id, container_id, material_id, quantity_change, quantity, "
                      "unit, from_location_id, to_location_id, actor_id, actor, reason, reference, at, "
                      "fefo_override) FROM STDIN") as copy:
            container_id = 0
            for lot_id, m, _state in lot_rows:
                shelf = bins[conditions[m]]
                for c in range(1, CONTAINERS_PER_LOT + 1):
                    container_id += 1
                    count = max(1, per_container + (1 if container_id <= extra else 0))
                    at = now - timedelta(days=rng.randint(1, 700))
                    balance = CONTAINER_KG
                    movement_id += 1
                    copy.write_row((movement_id, "receipt", lot_id, container_id, m + 1, CONTAINER_KG, CONTAINER_KG,
                                    "kg", None, receiving_bin, None, "bench", "Received", f"LOT-B{lot_id:07d}", at,
                                    False))
                    location = receiving_bin
                    for k in range(1, count):
                        at += timedelta(hours=rng.randint(1, 48))
                        movement_id += 1
                        roll = rng.random()
                        if k == 1 or roll < 0.10:
                            target = rng.choice(shelf)
                            kind = "put_away" if k == 1 else "transfer"
                            copy.write_row((movement_id, kind, lot_id, container_id, m + 1, 0, balance or Q, "kg",
                                            location, target, None, "bench", "", "", at, False))
                            location = target
                            continue
                        amount = (CONTAINER_KG * Decimal(rng.randint(5, 20)) / 1000).quantize(Q)
                        if roll < 0.20 and balance > amount:
                            kind, change = "sampling", -(amount / 10).quantize(Q)
                        elif roll < 0.30:
                            kind = "adjustment"
                            change = (amount / 20).quantize(Q) * (1 if rng.random() < 0.5 else -1)
                        else:
                            kind, change = "issue", -amount
                        if balance + change < 0:
                            kind, change = "adjustment", (amount / 20).quantize(Q)
                        balance += change
                        copy.write_row((movement_id, kind, lot_id, container_id, m + 1, change, abs(change), "kg",
                                        location, None, None, "bench", "", f"BO-{lot_id % 997:04d}", at, False))
                    containers.append((container_id, f"LOT-B{lot_id:07d}-C{c:02d}", lot_id, m + 1, location,
                                       balance, Decimal(0)))
        with cur.copy("COPY lot_container (id, number, lot_id, material_id, location_id, quantity, reserved) "
                      "FROM STDIN") as copy:
            for row in containers:
                copy.write_row(row)
        for table in ("material", "material_lot", "lot_container", "stock_movement"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        conn.commit()
        conn.autocommit = True
        for table in ("material", "material_lot", "lot_container", "stock_movement"):
            cur.execute(f"VACUUM ANALYZE {table}")
    return {"materials": n_materials, "lots": args.lots, "containers": len(containers), "movements": movement_id}


# ---------------------------------------------------------------- timing


def timed(call: Callable[[], Any], calls: int, warmup: int = 10) -> tuple[list[float], float, Any]:
    """Wall-clock samples (ms), this process's CPU ms per call (less sensitive to machine load), last result."""
    result = None
    for _ in range(warmup):
        result = call()
    samples = []
    cpu_before = time.process_time()
    for _ in range(calls):
        started = time.perf_counter()
        result = call()
        samples.append((time.perf_counter() - started) * 1e3)
    return samples, (time.process_time() - cpu_before) * 1e3 / calls, result


def open_orders(actor: Any, supplier_id: int, count: int) -> list[tuple[int, int]]:
    """One open purchase order per client thread (distinct deliveries do not share a PO line)."""
    from pharmos.materials import service
    from pharmos.materials.receiving import OrderLineInput

    orders = []
    for _ in range(count):
        order = service.create_purchase_order(actor=actor, supplier_id=supplier_id, lines=[OrderLineInput(
            material_code=HOT_CODE, quantity="100000000", unit="kg", due_on=date.today() + timedelta(days=30))])
        orders.append((order.id, order.lines[0].id))
    return orders


def receipt_body(order: tuple[int, int], serial: str) -> dict[str, Any]:
    return {"order_id": order[0], "location_code": "RCV-01", "delivery_note": f"DN-{serial}",
            "lines": [{"order_line_id": order[1], "supplier_lot": f"SL-{serial}",
                       "expires_on": (date.today() + timedelta(days=720)).isoformat(), "quantity": "50",
                       "unit": "kg", "containers": 2}]}


def drive(worker: Callable[[int, Callable[[], bool]], tuple[int, int, list[float]]], threads: int,
          duration: float) -> tuple[int, int, list[float], float]:
    """Run ``worker(thread_no, keep_going)`` on ``threads`` threads for ``duration`` seconds."""
    deadline = time.perf_counter() + duration
    results: list[tuple[int, int, list[float]]] = []
    lock = threading.Lock()

    def run(n: int) -> None:
        outcome = worker(n, lambda: time.perf_counter() < deadline)
        with lock:
            results.append(outcome)

    started = time.perf_counter()
    pool = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - started
    ok = sum(r[0] for r in results)
    failed = sum(r[1] for r in results)
    latencies = [x for r in results for x in r[2]]
    return ok, failed, latencies, elapsed


def receipts_via_api(url: str, args: argparse.Namespace, orders: list[tuple[int, int]]) -> dict[str, Any]:
    import httpx

    from pharmos.core.db import get_database

    get_database().dispose()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PHARMOS_DATABASE_URL": url}
    uvicorn = [str(Path(sys.executable).with_name("uvicorn")), "--factory", "pharmos.app:create_app",
               "--workers", str(args.workers), "--host", "127.0.0.1", "--port", str(port),
               "--no-access-log", "--log-level", "warning"]
    server = subprocess.Popen(uvicorn, env=env)
    errors: list[str] = []
    try:
        wait_healthy(base, server)
        token = httpx.post(f"{base}/api/v1/auth/token", json={"username": USERNAME, "password": PASSWORD},
                           timeout=30).raise_for_status().json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}

        def worker(n: int, keep_going: Callable[[], bool]) -> tuple[int, int, list[float]]:
            ok = failed = 0
            latencies: list[float] = []
            with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
                i = 0
                while keep_going():
                    i += 1
                    started = time.perf_counter()
                    response = client.post("/api/v1/receipts", json=receipt_body(orders[n], f"{n}-{i}"))
                    latencies.append((time.perf_counter() - started) * 1e3)
                    if response.status_code == 201:
                        ok += 1
                    else:
                        failed += 1
                        if len(errors) < 3:
                            errors.append(f"{response.status_code} {response.text[:300]}")
            return ok, failed, latencies

        drive(worker, args.threads, 2.0)  # warm-up: connection pools, imports, plan caches
        ok, failed, latencies, elapsed = drive(worker, args.threads, args.duration)
    finally:
        stop(server)
    return {"ok": ok, "failed": failed, "latencies": latencies, "elapsed": elapsed, "errors": errors,
            "how": f"POST /api/v1/receipts, {args.threads} client threads, {args.workers} uvicorn workers"}


def receipts_via_service(args: argparse.Namespace, actor: Any, orders: list[tuple[int, int]]) -> dict[str, Any]:
    from pharmos.core.errors import DomainError
    from pharmos.materials import service
    from pharmos.materials.receiving import ReceiptLineInput

    errors: list[str] = []

    def worker(n: int, keep_going: Callable[[], bool]) -> tuple[int, int, list[float]]:
        ok = failed = 0
        latencies: list[float] = []
        i = 0
        while keep_going():
            i += 1
            body = receipt_body(orders[n], f"{n}-{i}")
            line = body["lines"][0]
            started = time.perf_counter()
            try:
                service.receive_delivery(actor=actor, order_id=body["order_id"], location_code="RCV-01",
                                         delivery_note=body["delivery_note"], lines=[ReceiptLineInput(
                                             order_line_id=line["order_line_id"], supplier_lot=line["supplier_lot"],
                                             expires_on=date.fromisoformat(line["expires_on"]),
                                             quantity=line["quantity"], unit="kg", containers=2)])
                ok += 1
            except DomainError as error:
                failed += 1
                if len(errors) < 3:
                    errors.append(str(error))
            latencies.append((time.perf_counter() - started) * 1e3)
        return ok, failed, latencies

    drive(worker, args.threads, 2.0)
    ok, failed, latencies, elapsed = drive(worker, args.threads, args.duration)
    return {"ok": ok, "failed": failed, "latencies": latencies, "elapsed": elapsed, "errors": errors,
            "how": f"service.receive_delivery in-process, {args.threads} threads (API not used)"}


def ledger_consistent(sample: int = 2000) -> bool:
    """The seeded containers' cached balances equal their ledger sums (checked on a sample)."""
    from sqlalchemy import select

    from pharmos.core.db import read_session
    from pharmos.materials.ledger import reconcile
    from pharmos.materials.models import Container

    with read_session() as session:
        ids = list(session.scalars(select(Container.id).where(Container.material_id == 1).limit(sample)))
        return not reconcile(session, ids)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lots", type=int, default=50_000)
    parser.add_argument("--movements", type=int, default=1_000_000)
    parser.add_argument("--materials", type=int, default=400)
    parser.add_argument("--hot-lots", type=int, default=600, help="released candidate lots of the hot material")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--duration", type=float, default=20, help="seconds of sustained receipts")
    parser.add_argument("--threads", type=int, default=8, help="client threads posting receipts")
    parser.add_argument("--workers", type=int, default=4, help="uvicorn workers")
    parser.add_argument("--receipts-via", choices=["api", "service"], default="api")
    args = parser.parse_args(argv)
    args.hot_lots = min(args.hot_lots, args.lots)
    banner("materials stock: on-hand, FEFO allocation, receipts (PostgreSQL)")
    if postgres_missing():
        return 0
    with pg_database() as url:
        migrate(url)
        from pharmos.auth.service import login
        from pharmos.core.actor import Actor
        from pharmos.materials import service

        places = provision(args)
        started = time.perf_counter()
        counts = seed(url, args, places)
        print(f"seeded  : {counts['materials']:,} materials, {counts['lots']:,} lots, {counts['containers']:,} "
              f"containers, {counts['movements']:,} ledger entries in {time.perf_counter() - started:.1f} s (COPY)")
        print(f"ledger  : cached balances equal ledger sums (hot material sample): {ledger_consistent()}")
        system = Actor.system("bench")
        supplier = service.create_supplier(actor=system, code="SUP-BENCH", name="基准供应商")
        service.set_supplier_approval(actor=system, supplier_id=supplier.id, material_code=HOT_CODE,
                                      status="approved", reason="Benchmark supplier")
        clerk = login(username=USERNAME, password=PASSWORD).actor
        candidates = service.allocate(actor=clerk, material_code=HOT_CODE, quantity="100000000", unit="kg",
                                      purpose="count candidates")
        candidate_lots = len({line.lot_id for line in candidates.lines})
        print(f"hot     : {HOT_CODE}: {candidate_lots:,} released candidate lots, "
              f"{len(candidates.lines):,} containers")
        print(f"load average before timing: {load_average()}")

        figures: list[tuple[str, ...]] = [("measure", "p50", "p95", "client CPU/call", "verdict")]

        samples, cpu, rows = timed(lambda: service.on_hand(actor=clerk, material_code=HOT_CODE), args.calls)
        p50, p95, _ = percentiles(samples)
        figures.append((f"on_hand(material_code) by lot, {len(rows):,} rows", f"{p50:.1f} ms", f"{p95:.1f} ms",
                        f"{cpu:.1f} ms", verdict(p95, TARGET_MS)))
        samples, cpu, allocation = timed(lambda: service.allocate(actor=clerk, material_code=HOT_CODE, quantity="1000",
                                                             unit="kg", purpose="BO-2026-0001"), args.calls)
        p50, p95, _ = percentiles(samples)
        figures.append((f"allocate 1,000 kg (FEFO, {len(allocation.lines)} containers picked)", f"{p50:.1f} ms",
                        f"{p95:.1f} ms", f"{cpu:.1f} ms", verdict(p95, TARGET_MS)))
        samples, cpu, allocation = timed(lambda: service.allocate(actor=clerk, material_code=HOT_CODE,
                                                             quantity="100000000", unit="kg",
                                                             purpose="BO-2026-0002"), args.calls)
        p50, p95, _ = percentiles(samples)
        figures.append((f"allocate beyond stock (all {candidate_lots} candidate lots picked)", f"{p50:.1f} ms",
                        f"{p95:.1f} ms", f"{cpu:.1f} ms", verdict(p95, TARGET_MS)))

        orders = open_orders(system, supplier.id, args.threads)
        print(f"load average before receipts: {load_average()}")
        if args.receipts_via == "api":
            receipts = receipts_via_api(url, args, orders)
        else:
            receipts = receipts_via_service(args, clerk, orders)
        rate = receipts["ok"] / receipts["elapsed"] if receipts["elapsed"] else 0.0
        p50, p95, _ = percentiles(receipts["latencies"]) if len(receipts["latencies"]) > 1 else (0.0, 0.0, 0.0)
        figures.append((f"receipts: {rate:,.1f}/s sustained ({receipts['ok']:,} in {receipts['elapsed']:.1f} s, "
                        f"{receipts['failed']} failed)", f"{p50:.1f} ms", f"{p95:.1f} ms", "-",
                        "(latency per receipt)"))
    print_results(figures)
    print(f"receipts: {receipts['how']}; each receipt = 1 lot of 2 containers, 2 ledger entries, audited")
    for error in receipts["errors"]:
        print(f"WARNING : failed receipt: {error}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
