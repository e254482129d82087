"""Equipment on PostgreSQL: usability latency, the daily due-date scan, the impact assessment of a failed calibration.

Targets (issue #4): with 5,000 equipment, 200,000 logbook entries and 50,000 calibrations,
``usability()`` p95 < 20 ms (batch execution asks it before every step) and
``run_daily_equipment_scan`` < 5 s.

    .venv/bin/python benchmarks/equipment_usability.py [--equipment 5000] [--logbook 200000]
        [--calibrations 50000] [--calls 2000] [--routes 20] [--hot 30] [--hotter 5]

Equipment classes and inspection routes are made through the services; equipment, their
qualification records, calibrations with their points, logbooks and preventive-maintenance
plans are bulk-loaded with COPY, generated equipment by equipment the way the services
would have written them (the cached status on each equipment row is what its own logbook
and calibrations say; the seed bypasses the audit trail, which the timed calls do not
read). Then it times, in-process:

- ``usability(equipment_id=…)`` over random equipment (p50 / p95 / p99);
- ``run_daily_equipment_scan`` twice: the first run is a cold start (no reminder raised and
  no work order generated before: go-live), the second must find nothing new; then as of
  tomorrow, a typical night (only what enters its window that day);
- a failed ``record_calibration`` on instruments used ~40 (and ~400) times since their last
  passing calibration: it opens the impact assessment listing every one of those uses;
  then ``get_impact_assessment`` reading it back.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time
from decimal import Decimal
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
    timing_row,
    verdict,
)

USABILITY_TARGET_MS = 20.0
SCAN_TARGET_S = 5.0
AUTHOR = "bench-import"
Q4 = Decimal("0.0001")


@dataclass(frozen=True)
class BenchClass:
    code: str
    name_zh: str
    prefix: str
    share: float
    instrument: bool = False
    calibration_days: int | None = None
    requalification_days: int | None = 365
    clean_hold_hours: int | None = None
    dirty_hold_hours: int | None = None
    # instruments: (range low, range high, unit, tolerance)
    span: tuple[str, str, str, str] | None = None


CLASSES = (
    BenchClass("bioreactor", "生物反应器", "BR", 0.04, clean_hold_hours=72, dirty_hold_hours=24),
    BenchClass("chromatography", "层析系统", "CS", 0.03, clean_hold_hours=96, dirty_hold_hours=24),
    BenchClass("ufdf", "超滤/渗滤系统", "UF", 0.02, clean_hold_hours=72, dirty_hold_hours=24),
    BenchClass("vessel", "配液罐/储罐", "TK", 0.08, clean_hold_hours=72, dirty_hold_hours=24),
    BenchClass("filling_line", "无菌灌装线", "FL", 0.01, clean_hold_hours=24, dirty_hold_hours=12),
    BenchClass("autoclave", "湿热灭菌柜", "AC", 0.03),
    BenchClass("ult_freezer", "超低温冰箱", "FRZ", 0.06, requalification_days=730),
    BenchClass("cold_room", "冷库", "CR", 0.02, requalification_days=730),
    BenchClass("balance", "天平", "BAL", 0.20, True, 180, None, span=("0", "6100", "g", "0.1")),
    BenchClass("ph_meter", "pH计", "PH", 0.13, True, 90, None, span=("0", "14", "pH", "0.05")),
    BenchClass("pressure_gauge", "压力表", "PG", 0.20, True, 180, None, span=("0", "1.6", "MPa", "0.016")),
    BenchClass("thermometer", "温度计/温度探头", "TT", 0.18, True, 365, None, span=("-100", "150", "°C", "0.5")),
)
STATES = [("in_service", 0.88), ("out_of_service", 0.03), ("commissioning", 0.05), ("retired", 0.04)]
TASKS = ("检查运行参数及报警记录", "检查紧固件、密封件及管路接头", "清洁并润滑运动部件", "功能测试并记录结果")


@dataclass
class Row:
    """One equipment being generated, with its status cache and what its logbook says."""

    id: int
    number: str
    cls: BenchClass
    class_id: int
    state: str
    installed: datetime
    pq_on: date | None = None
    requalification_due: date | None = None
    last_pass: date | None = None
    calibration_status: str = "not_required"
    clean_status: str = "not_tracked"
    clean_expires_at: datetime | None = None
    dirty_since: datetime | None = None
    in_use_by: str | None = None
    in_use_since: datetime | None = None
    counter: Decimal = Decimal(0)
    entries: list[tuple[Any, ...]] = field(default_factory=list)  # logbook rows without their id
    uses: int = 0


def provision() -> dict[str, int]:
    """The equipment classes, through the service; returns code → id."""
    from pharmos.auth.service import ensure_builtin_roles
    from pharmos.core.actor import Actor
    from pharmos.equipment import service

    system = Actor.system("bench")
    ensure_builtin_roles(actor=system)
    ids = {}
    for c in CLASSES:
        view = service.create_equipment_class(
            actor=system, code=c.code, name_zh=c.name_zh, name_en=c.code.replace("_", " "), number_prefix=c.prefix,
            is_instrument=c.instrument, calibration_interval_days=c.calibration_days,
            requalification_interval_days=c.requalification_days, clean_hold_hours=c.clean_hold_hours,
            dirty_hold_hours=c.dirty_hold_hours)
        ids[c.code] = view.id
    return ids


class Seeder:
    def __init__(self, args: argparse.Namespace, class_ids: dict[str, int]) -> None:
        self.args = args
        self.rng = random.Random(20261123)
        self.now = datetime.now(UTC).replace(microsecond=0)
        self.today = self.now.date()  # replaced by the site's today before generating
        self.class_ids = class_ids
        self.rows: list[Row] = []
        self.calibrations: list[tuple[Any, ...]] = []
        self.points: list[tuple[Any, ...]] = []
        self.qualifications: list[tuple[Any, ...]] = []
        self.sequences: dict[str, int] = {}
        self.hot: list[int] = []
        self.hotter: list[int] = []

    def at(self, day: date, hour: int = 9) -> datetime:
        return datetime.combine(day, day_time(hour), UTC) + timedelta(minutes=self.rng.randint(0, 59))

    def entry(self, row: Row, kind: str, at: datetime, *, reference: str = "", description: str = "",
              valid_until: datetime | None = None, counter_value: Decimal | None = None, source: str = "") -> None:
        row.entries.append((row.id, kind, at, reference, description, valid_until, counter_value, source, None,
                            AUTHOR))

    def number(self, key: str, fmt: Callable[[int], str]) -> str:
        self.sequences[key] = self.sequences.get(key, 0) + 1
        return fmt(self.sequences[key])

    # ------------------------------------------------------------ per equipment

    def equipment(self) -> None:
        weights = [c.share for c in CLASSES]
        names, state_weights = zip(*STATES, strict=True)
        classes = self.rng.choices(CLASSES, weights, k=self.args.equipment)
        # Calibration history long enough that the instruments hold ~args.calibrations records.
        per_day = sum(1 / c.calibration_days for c in classes if c.instrument and c.calibration_days)
        self.history_days = int(self.args.calibrations / per_day) if per_day else 0
        for n, cls in enumerate(classes, start=1):
            state = self.rng.choices(names, state_weights)[0]
            number = self.number(f"EQ-{cls.prefix}-#", lambda s, p=cls.prefix: f"EQ-{p}-{s:03d}")
            installed = self.now - timedelta(days=self.rng.randint(60, 3000))
            if cls.instrument:
                installed = min(installed, self.now - timedelta(days=self.history_days + 30))
            row = Row(n, number, cls, self.class_ids[cls.code], state, installed)
            self.entry(row, "note", installed, description="Registered")
            self.rows.append(row)
        hot_candidates = [r for r in self.rows if r.cls.code == "balance" and r.state == "in_service"]
        self.rng.shuffle(hot_candidates)
        self.hot = [r.id for r in hot_candidates[:self.args.hot]]
        self.hotter = [r.id for r in hot_candidates[self.args.hot:self.args.hot + self.args.hotter]]

    def qualification(self, row: Row) -> None:
        """IQ, OQ, PQ a month after installation, then a passed requalification every interval."""
        if row.state == "commissioning" and self.rng.random() < 0.5:
            return
        pq_day = (row.installed + timedelta(days=30)).date()
        phases = [("IQ", pq_day - timedelta(days=20)), ("OQ", pq_day - timedelta(days=10))]
        if row.state != "commissioning":
            phases.append(("PQ", pq_day))
            row.pq_on = last = pq_day
            interval = row.cls.requalification_days
            if interval:
                # A few requalifications are overdue, some fall due within the reminder window.
                threshold = self.today - timedelta(days=self.rng.randint(-30, 15))
                while last + timedelta(days=interval) < threshold:
                    last += timedelta(days=interval)
                if last != pq_day:
                    phases.append(("RQ", last))
                row.requalification_due = last + timedelta(days=interval)
        for phase, on in phases:
            self.qualifications.append((row.id, phase, f"VP-{row.number[3:]}-{phase}-{on:%y%m}", on, True, "验证部",
                                        "", self.at(on, 16)))
            self.entry(row, "qualification", self.at(on, 16), description=f"{phase} passed")
            if phase == "PQ" and row.state in ("in_service", "out_of_service", "retired"):
                self.entry(row, "status", self.at(on, 17), description="Released to service")

    def calibrations_of(self, row: Row) -> None:
        cls = row.cls
        if not cls.instrument or cls.calibration_days is None or cls.span is None:
            return
        low, high, unit, tolerance_text = cls.span
        tolerance = Decimal(tolerance_text)
        interval = cls.calibration_days
        # Most instruments are inside their interval; some overdue, a few failed their last calibration.
        roll = self.rng.random()
        if row.state == "commissioning":
            last = self.today - timedelta(days=self.rng.randint(1, 20))
        elif roll < 0.03:
            last = self.today - timedelta(days=interval + self.rng.randint(1, 60))
        else:
            last = self.today - timedelta(days=self.rng.randint(0, interval - 1))
        if row.id in self.hot or row.id in self.hotter:
            last = self.today - timedelta(days=min(interval - 1, 120))
        failed_last = row.state == "out_of_service" and roll > 0.5
        count = max(1, round(self.history_days / interval))
        days = [last - timedelta(days=interval * k + self.rng.randint(-5, 5) * (k > 0)) for k in range(count)]
        days.reverse()
        if failed_last:
            days.append(min(self.today, last + timedelta(days=self.rng.randint(1, 30))))
        lo, hi = Decimal(low), Decimal(high)
        for k, day in enumerate(days):
            fail = failed_last and k == len(days) - 1
            recorded = self.at(day, 14)
            number = self.number(f"CAL-{recorded:%y%m}-#", lambda s, r=recorded: f"CAL-{r:%y%m}-{s:04d}")
            result = "fail" if fail else "pass"
            next_due = None if fail else day + timedelta(days=interval)
            self.calibrations.append((number, row.id, day, "internal", "计量室", "", "标准器", result, fail, next_due,
                                      "", "recorded", None, AUTHOR, recorded))
            cal_index = len(self.calibrations)  # becomes the calibration id
            for share in (Decimal("0.1"), Decimal("0.5"), Decimal("0.9")):
                nominal = (lo + (hi - lo) * share).quantize(Q4)
                drift = tolerance * Decimal(self.rng.randint(-40, 40)) / 100
                as_left = (nominal + (tolerance * Decimal("1.5") if fail else drift)).quantize(Q4)
                as_found = (nominal + drift * 2).quantize(Q4) if not fail else as_left
                self.points.append((cal_index, nominal, as_found, as_left, tolerance, unit))
            self.entry(row, "calibration", recorded, reference=number, source=number,
                       description=f"Calibration {'failed' if fail else 'passed'}")
            if not fail:
                row.last_pass = day
        row.calibration_status = "out_of_tolerance" if failed_last else "in_tolerance"

    def uses(self, row: Row, count: int, since: datetime) -> None:
        """``count`` uses in [since, now - 1 day]: started, ended (counter), cleaned where tracked."""
        tracked = row.cls.clean_hold_hours is not None
        window = (self.now - timedelta(days=1)) - since
        if count <= 0 or window.total_seconds() <= 0:
            return
        slot = window / count
        for k in range(count):
            start = since + slot * k + timedelta(seconds=self.rng.randint(0, max(1, int(slot.total_seconds() / 4))))
            hours = self.rng.randint(1, max(1, min(72, int(slot.total_seconds() / 3600 / 3))))
            end = start + timedelta(hours=hours)
            batch = f"BO-{start:%Y}-{self.rng.randint(1, 999):04d}"
            self.entry(row, "use_started", start, reference=batch)
            counter_value = None
            if not row.cls.instrument:
                row.counter += hours
                counter_value = row.counter
            self.entry(row, "use_ended", end, reference=batch, counter_value=counter_value)
            if tracked:
                cleaned = end + timedelta(hours=1)
                hold = timedelta(hours=row.cls.clean_hold_hours or 0)
                self.entry(row, "cleaned", cleaned, reference=batch, description="SOP-CL-001",
                           valid_until=cleaned + hold)
                row.clean_status, row.clean_expires_at, row.dirty_since = "clean", cleaned + hold, None
            row.uses += 1

    def finish_status(self, row: Row) -> None:
        """The last few hours: some vessels in use by a batch, some dirty, some cleaned today."""
        if row.cls.clean_hold_hours is None:
            return
        if row.clean_status == "not_tracked":
            row.clean_status = "dirty"  # never cleaned since registration
        if row.state != "in_service":
            return
        roll = self.rng.random()
        hold = timedelta(hours=row.cls.clean_hold_hours)
        cleaned = self.now - timedelta(hours=self.rng.randint(2, 20))
        if roll < 0.80:
            self.entry(row, "cleaned", cleaned, description="SOP-CL-001", valid_until=cleaned + hold)
            row.clean_status, row.clean_expires_at, row.dirty_since = "clean", cleaned + hold, None
        if 0.20 <= roll < 0.30:
            started = cleaned + timedelta(minutes=30)
            batch = f"BO-{self.today:%Y}-{self.rng.randint(1, 999):04d}"
            self.entry(row, "use_started", started, reference=batch)
            row.in_use_by, row.in_use_since = batch, started
        elif roll >= 0.80:
            ended = self.now - timedelta(hours=self.rng.randint(1, 20))
            batch = f"BO-{self.today:%Y}-{self.rng.randint(1, 999):04d}"
            self.entry(row, "use_started", ended - timedelta(hours=self.rng.randint(2, 4)), reference=batch)
            self.entry(row, "use_ended", ended, reference=batch)
            row.clean_status, row.clean_expires_at, row.dirty_since = "dirty", None, ended

    def generate(self) -> None:
        self.equipment()
        for row in self.rows:
            self.qualification(row)
            self.calibrations_of(row)
        fixed = sum(len(r.entries) for r in self.rows)
        hot_uses = 40 * len(self.hot) + 400 * len(self.hotter)
        # What is left of the logbook budget goes to uses (2 or 3 entries each) and today's status.
        budget = max(0, self.args.logbook - fixed - 2 * hot_uses)
        usable = [r for r in self.rows if r.state != "commissioning"]
        per_use = sum(3 if r.cls.clean_hold_hours else 2 for r in usable) / max(1, len(usable))
        uses_each = budget / per_use / max(1, len(usable))
        for row in self.rows:
            if row.id in self.hot or row.id in self.hotter:
                assert row.last_pass is not None
                since = datetime.combine(row.last_pass, day_time(18), UTC)
                self.uses(row, 40 if row.id in self.hot else 400, since)
                continue
            if row.state == "commissioning":
                continue
            released = datetime.combine(row.pq_on or row.installed.date(), day_time(18), UTC)
            self.uses(row, max(0, round(self.rng.gauss(uses_each, uses_each / 3))), released)
            self.finish_status(row)
        for row in self.rows:
            if row.cls.clean_hold_hours is not None and row.clean_status == "not_tracked":
                row.clean_status = "dirty"

    # ------------------------------------------------------------ COPY

    def equipment_rows(self) -> Any:
        for row in self.rows:
            cls = row.cls
            low, high, unit, tolerance = cls.span if cls.span else (None, None, "", None)
            requal_due = row.requalification_due
            due = (row.last_pass + timedelta(days=cls.calibration_days)
                   if row.last_pass and cls.calibration_days else None)
            iq = oq = None  # filled from the qualification records when copied
            status = row.calibration_status if cls.instrument else "not_required"
            if cls.instrument and row.last_pass is None and status != "out_of_tolerance":
                status = "never_calibrated"
            yield (row.id, row.number, f"{cls.name_zh} {row.number[3:]}", f"{cls.code} {row.number[3:]}", row.class_id,
                   f"B{row.id % 5 + 1}-{row.id % 40 + 100}", "厂家", "型号", f"SN-{row.id:06d}",
                   row.installed.date(), "生产部", None, True, row.state, row.installed, iq, oq, row.pq_on, None,
                   requal_due, cls.instrument, low, high, unit, tolerance, None, row.last_pass, due, status,
                   row.clean_status, row.clean_expires_at, row.dirty_since, row.in_use_by, row.in_use_since,
                   row.counter, "h", None, AUTHOR, row.installed)

    def copy(self, url: str) -> dict[str, int]:
        import psycopg

        logbook = sorted((e for r in self.rows for e in r.entries), key=lambda e: e[2])
        qual_by_equipment: dict[int, dict[str, date]] = {}
        for q in self.qualifications:
            qual_by_equipment.setdefault(q[0], {})[q[1]] = q[3]
        plans = self.plans()
        with psycopg.connect(psycopg_dsn(url)) as conn, conn.cursor() as cur:
            with cur.copy("COPY equipment (id, number, name_zh, name_en, class_id, location, manufacturer, model, "
                          "serial_number, install_date, owner_department, owner_id, gmp_critical, state, "
                          "state_changed_at, iq_on, oq_on, pq_on, requalification_interval_days, "
                          "requalification_due_on, calibration_required, range_low, range_high, range_unit, "
                          "tolerance, calibration_interval_days, last_calibrated_on, calibration_due_on, "
                          "calibration_status, clean_status, clean_expires_at, dirty_since, in_use_by, in_use_since, "
                          "usage_counter, usage_unit, author_id, author, created_at) FROM STDIN") as copy:
                for values in self.equipment_rows():
                    dates = qual_by_equipment.get(values[0], {})
                    values = (*values[:15], dates.get("IQ"), dates.get("OQ"), *values[17:])
                    copy.write_row(values)
            with cur.copy("COPY equipment_qualification (equipment_id, phase, protocol_number, completed_on, passed, "
                          "performed_by, note, recorded_at) FROM STDIN") as copy:
                for q in self.qualifications:
                    copy.write_row(q)
            with cur.copy("COPY calibration (id, number, equipment_id, performed_on, kind, performed_by, "
                          "certificate_number, reference_standard, result, as_found_out_of_tolerance, next_due_on, "
                          "comment, state, author_id, author, recorded_at) FROM STDIN") as copy:
                for n, c in enumerate(self.calibrations, start=1):
                    copy.write_row((n, *c))
            with cur.copy("COPY calibration_point (calibration_id, nominal, as_found, as_left, tolerance, unit) "
                          "FROM STDIN") as copy:
                for p in self.points:
                    copy.write_row(p)
            with cur.copy("COPY equipment_logbook (equipment_id, kind, at, reference, description, valid_until, "
                          "counter_value, source_number, actor_id, actor) FROM STDIN") as copy:
                for e in logbook:
                    copy.write_row(e)
            with cur.copy("COPY maintenance_plan (id, number, equipment_id, title, basis, interval_days, "
                          "interval_usage, lead_days, next_due_on, next_due_counter, estimated_hours, active) "
                          "FROM STDIN") as copy:
                for p in plans:
                    copy.write_row(p)
            with cur.copy("COPY maintenance_plan_task (plan_id, position, text, mandatory) FROM STDIN") as copy:
                for p in plans:
                    for position, text in enumerate(self.rng.sample(TASKS, 3), start=1):
                        copy.write_row((p[0], position, text, True))
            # The numbering service continues after the loaded numbers (never reused).
            self.sequences["PM-#"] = len(plans)
            cur.executemany("INSERT INTO number_sequence (key, last_value) VALUES (%s, %s) "
                            "ON CONFLICT (key) DO UPDATE SET last_value = EXCLUDED.last_value",
                            list(self.sequences.items()))
            for table in ("equipment", "equipment_qualification", "calibration", "calibration_point",
                          "equipment_logbook", "maintenance_plan", "maintenance_plan_task"):
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                            f"(SELECT max(id) FROM {table}))")
            conn.commit()
            conn.autocommit = True
            for table in ("equipment", "equipment_qualification", "calibration", "calibration_point",
                          "equipment_logbook", "maintenance_plan", "maintenance_plan_task"):
                cur.execute(f"VACUUM ANALYZE {table}")
        return {"equipment": len(self.rows), "instruments": sum(1 for r in self.rows if r.cls.instrument),
                "qualifications": len(self.qualifications), "calibrations": len(self.calibrations),
                "points": len(self.points), "logbook": len(logbook), "plans": len(plans)}

    def plans(self) -> list[tuple[Any, ...]]:
        """Process equipment: a calendar plan each, some a usage plan; a fifth of the instruments a yearly service.

        Go-live: no work order exists yet, so the first scan generates every one whose window has opened.
        """
        plans: list[tuple[Any, ...]] = []
        for row in self.rows:
            if row.cls.instrument and self.rng.random() > 0.2:
                continue
            active = row.state != "retired"
            interval = 365 if row.cls.instrument else self.rng.choice((30, 90, 182, 365))
            lead = self.rng.choice((7, 14))
            next_due = self.today + timedelta(days=self.rng.randint(-3, interval))
            plans.append((len(plans) + 1, f"PM-{len(plans) + 1:04d}", row.id, "定期预防性维护", "calendar", interval,
                          None, lead, next_due, None, Decimal(4), active))
            if not row.cls.instrument and self.rng.random() < 0.25:
                interval_usage = Decimal(self.rng.choice((250, 500, 1000)))
                next_counter = row.counter + interval_usage * Decimal(self.rng.randint(-5, 100)) / 100
                plans.append((len(plans) + 1, f"PM-{len(plans) + 1:04d}", row.id, "运行小时保养", "usage", None,
                              interval_usage, 0, None, max(Decimal(1), next_counter.quantize(Q4)), Decimal(3),
                              active))
        return plans


# ---------------------------------------------------------------- timing


def make_routes(count: int, rows: list[Row]) -> int:
    """Inspection routes through the service: shift routes (3 rounds a day) and daily ones, 8 checks each."""
    from pharmos.core.actor import Actor
    from pharmos.equipment import service

    system = Actor.system("bench")
    rng = random.Random(7)
    in_service = [r for r in rows if r.state == "in_service"]
    for n in range(count):
        checks = []
        for r in rng.sample(in_service, 8):
            point = service.InspectionPointInput
            if r.cls.code in ("ult_freezer", "cold_room"):
                low, high = ("-86", "-70") if r.cls.code == "ult_freezer" else ("2", "8")
                checks.append(point(equipment_number=r.number, prompt_zh="温度", prompt_en="Temperature",
                                    kind="numeric", unit="°C", lower_limit=Decimal(low), upper_limit=Decimal(high)))
            elif r.cls.instrument:
                checks.append(point(equipment_number=r.number, prompt_zh="校准状态标签有效",
                                    prompt_en="Calibration label valid", kind="yes_no"))
            else:
                checks.append(point(equipment_number=r.number, prompt_zh="运行状态", prompt_en="Condition",
                                    kind="text"))
        shift = n % 2 == 0
        service.create_inspection_route(actor=system, code=f"R-{n + 1:03d}", name_zh=f"巡检路线 {n + 1}",
                                        frequency="shift" if shift else "daily",
                                        shift_starts=("08:00", "16:00", "00:00") if shift else ("08:00",),
                                        window_hours=8, points=checks)
    return count


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = call()
    return (time.perf_counter() - started) * 1e3, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--equipment", type=int, default=5_000)
    parser.add_argument("--logbook", type=int, default=200_000)
    parser.add_argument("--calibrations", type=int, default=50_000)
    parser.add_argument("--calls", type=int, default=2_000, help="usability() calls on random equipment")
    parser.add_argument("--routes", type=int, default=20)
    parser.add_argument("--hot", type=int, default=30, help="balances used ~40 times since their last pass")
    parser.add_argument("--hotter", type=int, default=5, help="balances used ~400 times since their last pass")
    args = parser.parse_args(argv)
    banner("equipment: usability, daily due-date scan, impact assessment (PostgreSQL)")
    if postgres_missing():
        return 0
    with pg_database() as url:
        migrate(url)
        from pharmos.core.actor import Actor
        from pharmos.core.clock import site_today
        from pharmos.equipment import service

        class_ids = provision()
        started = time.perf_counter()
        seeder = Seeder(args, class_ids)
        seeder.today = site_today()
        seeder.generate()
        counts = seeder.copy(url)
        print(f"seeded  : {counts['equipment']:,} equipment ({counts['instruments']:,} instruments), "
              f"{counts['logbook']:,} logbook entries, {counts['calibrations']:,} calibrations "
              f"({counts['points']:,} points), {counts['qualifications']:,} qualification records, "
              f"{counts['plans']:,} PM plans in {time.perf_counter() - started:.1f} s (COPY)")
        make_routes(args.routes, seeder.rows)
        print(f"routes  : {args.routes} inspection routes of 8 checks (half 3 shifts a day) via the service")

        rng = random.Random(11)
        ids = [rng.randint(1, len(seeder.rows)) for _ in range(args.calls)]
        print(f"load average before timing: {load_average()}")
        figures: list[tuple[str, ...]] = [("measure", "p50", "p95", "p99 / max", "verdict")]

        for equipment_id in ids[:50]:  # warm-up: pool, plan cache
            service.usability(equipment_id=equipment_id)
        samples = []
        unusable = 0
        reasons: dict[str, int] = {}
        cpu_before = time.process_time()
        for equipment_id in ids:
            ms, view = timed(lambda e=equipment_id: service.usability(equipment_id=e))
            samples.append(ms)
            if not view.usable:
                unusable += 1
            for r in view.reasons:
                reasons[r.code] = reasons.get(r.code, 0) + 1
        cpu_ms = (time.process_time() - cpu_before) * 1e3 / len(ids)
        figures.append(timing_row(f"usability(equipment_id) x {len(ids):,} random equipment", samples,
                                  target=USABILITY_TARGET_MS, digits=2))
        print(f"usability: {unusable:,} of {len(ids):,} answers not usable; client CPU {cpu_ms:.2f} ms/call; "
              f"reasons: " + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1])))

        job = Actor.system("job:daily-equipment-scan")
        scans = []
        tomorrow = seeder.today + timedelta(days=1)
        for label, day in (("first run (cold start)", None), ("second run (idempotent)", None),
                           ("next night (--today tomorrow)", tomorrow)):
            seconds_ms, result = timed(lambda d=day: service.run_daily_equipment_scan(actor=job, today=d))
            scans.append((label, seconds_ms / 1e3, result))
            figures.append((f"run_daily_equipment_scan, {label}", "-", f"{seconds_ms / 1e3:.2f} s", "-",
                            verdict(seconds_ms / 1e3, SCAN_TARGET_S, unit="s", measure="")))

        engineer = Actor.system("bench-metrology")
        for group, members, uses in (("~40", seeder.hot, 40), ("~400", seeder.hotter, 400)):
            record_ms, read_ms, items = [], [], []
            for equipment_id in members:
                row = seeder.rows[equipment_id - 1]
                low, high, _unit, tolerance = row.cls.span or ("0", "1", "", "1")
                nominal = ((Decimal(low) + Decimal(high)) / 2).quantize(Q4)
                off = nominal + Decimal(tolerance) * 3
                ms, calibration = timed(lambda e=equipment_id, n=nominal, o=off: service.record_calibration(
                    actor=engineer, equipment_id=e, performed_on=seeder.today, kind="internal",
                    performed_by="计量室", result="fail", comment="期间核查超差", reference_standard="F1 砝码",
                    points=[service.CalibrationPointInput(nominal=n, as_left=o, as_found=o)]))
                record_ms.append(ms)
                assert calibration.impact_assessment_id is not None
                ms, assessment = timed(lambda a=calibration.impact_assessment_id: service.get_impact_assessment(
                    actor=engineer, assessment_id=a))
                read_ms.append(ms)
                items.append(len(assessment.items))
            if not members:
                continue
            spread = f"{min(items)}–{max(items)} items (expected {uses})"
            for label, values in (("record_calibration(fail) + impact assessment", record_ms),
                                  ("get_impact_assessment", read_ms)):
                values.sort()
                figures.append((f"{label}, {len(members)} instrument(s), {group} uses: {spread}",
                                f"{statistics.median(values):.1f} ms",
                                f"{percentiles(values)[1]:.1f} ms" if len(values) > 1 else "-",
                                f"{values[-1]:.1f} ms", "(no target)"))

    print_results(figures)
    for label, seconds, result in scans:
        print(f"scan {label}: {seconds:.2f} s; reminders raised {result.reminders_raised}, work orders generated "
              f"{len(result.work_orders_generated)}, rounds scheduled {result.rounds_scheduled}, rounds missed "
              f"{len(result.rounds_missed)}, calibrations overdue {result.calibrations_overdue}, requalifications "
              f"overdue {result.requalifications_overdue} (job's own figure {result.seconds:.2f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
