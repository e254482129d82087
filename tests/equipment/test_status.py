"""Usability, use, cleaning, counters and the logbook (status.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import DBAPIError

from pharmos.compliance.audit import count_entries
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today, utcnow
from pharmos.core.db import get_database, read_session
from pharmos.core.errors import Conflict, DomainError, NotFound, PermissionDenied, TransitionRefused, ValidationFailed
from pharmos.equipment import service as equipment
from pharmos.equipment import status as status_module
from pharmos.equipment.models import Equipment, LogbookEntry
from pharmos.equipment.views import EquipmentView, LogbookEntryView
from tests.equipment import factories as f
from tests.materials.factories import site_people

# Service rules: SQLite is enough; this module's API tests run on both back-ends.
pytestmark = pytest.mark.sqlite_only


@pytest.fixture
def lite(sqlite_url: str) -> dict[str, Actor]:
    """The site's people on SQLite only, for the many rule tests."""
    return site_people()


def footprint() -> dict[str, Any]:
    """Everything a refused status call must leave untouched."""
    with read_session() as session:
        return {"equipment": sorted(session.execute(select(
                    Equipment.id, Equipment.clean_status, Equipment.clean_expires_at, Equipment.dirty_since,
                    Equipment.in_use_by, Equipment.in_use_since, Equipment.usage_counter, Equipment.state)).all()),
                "logbook": session.scalar(select(func.count(LogbookEntry.id))),
                "audit": count_entries(session)}


def fields_of(error: pytest.ExceptionInfo[Any]) -> set[str]:
    return {p.field for p in error.value.fields}


def codes(equipment_id: int, *, at: datetime | None = None, for_reference: str | None = None) -> list[str]:
    view = equipment.usability(equipment_id=equipment_id, at=at, for_reference=for_reference)
    assert view.usable == (not view.reasons)
    return [r.code for r in view.reasons]


def entries(equipment_id: int) -> list[LogbookEntryView]:
    found: list[LogbookEntryView] = []
    while True:
        page = equipment.list_logbook(actor=f.SETUP, equipment_id=equipment_id,
                                      after_id=found[-1].id if found else None, limit=200)
        if not page:
            return found
        found += page


# ---------------------------------------------------------------- usability, reason by reason


def test_usable_equipment_has_no_reason(site: dict[str, Actor]) -> None:
    # given a qualified, released, clean bioreactor and a calibrated, released balance
    reactor = f.usable_equipment(site, "bioreactor")
    balance = f.usable_equipment(site, "balance")
    # when their usability is asked now and by number
    # then both are usable
    assert codes(reactor.id) == [] and codes(balance.id) == []
    assert equipment.usability(number=reactor.number.lower()).usable
    assert equipment.check_usability(actor=site["viewer.chen"], equipment_id=reactor.id).usable


@pytest.mark.requirement("EU GMP Part I 3.44")
def test_commissioning_and_unqualified_equipment_is_not_usable(site: dict[str, Actor]) -> None:
    # given a freezer and a balance just registered
    freezer = f.new_equipment("freezer")
    balance = f.new_equipment("balance")
    # when usability is asked
    # then commissioning, missing PQ and (for the balance) missing calibration are the reasons
    assert codes(freezer.id) == ["commissioning", "not_qualified"]
    assert codes(balance.id) == ["commissioning", "calibration_missing", "not_qualified"]


@pytest.mark.requirement("EU GMP Part I 3.44")
def test_equipment_taken_out_of_service_is_not_usable(site: dict[str, Actor]) -> None:
    # given a usable bioreactor
    view = f.usable_equipment(site, "bioreactor")
    # when QA takes it out of service through its lifecycle
    f.sign(site["qa.li"], "equipment", view.id, "take_out_of_service", reason="Agitator noise, FLT pending")
    # then out of service is the one reason
    assert codes(view.id) == ["out_of_service"]


@pytest.mark.requirement("药品GMP 第九十二条")
def test_an_instrument_past_its_calibration_due_date_is_not_usable(site: dict[str, Actor]) -> None:
    # given a balance calibrated yesterday (interval 180 days)
    view = f.usable_equipment(site, "balance")
    due = equipment.get_equipment(actor=f.SETUP, equipment_id=view.id).calibration_due_on
    assert due is not None
    # when usability is asked for a batch planned after the due date, and on the due date itself
    # then only the later one is refused, for the overdue calibration
    assert codes(view.id, at=utcnow() + timedelta(days=182)) == ["calibration_overdue"]
    assert codes(view.id, at=utcnow() + timedelta(days=178)) == []


@pytest.mark.requirement("药品GMP 第九十二条")
def test_an_instrument_whose_calibration_failed_is_not_usable(site: dict[str, Actor]) -> None:
    # given a usable balance
    view = f.usable_equipment(site, "balance")
    # when today's calibration finds it out of tolerance
    f.calibrate(view.id, on=site_today(), as_left="100.0100", result="fail", comment="Drift at 100 g")
    # then the failed calibration is a reason
    assert "calibration_failed" in codes(view.id)


@pytest.mark.requirement("EU GMP Annex 15 §4.1")
def test_equipment_past_its_requalification_date_is_not_usable(lite: dict[str, Actor]) -> None:
    # given a freezer qualified 30 days ago (requalification every 365 days)
    view = f.usable_equipment(lite, "freezer")
    # when usability is asked for a date after requalification fell due
    # then the expired qualification is the one reason
    assert codes(view.id, at=utcnow() + timedelta(days=337)) == ["qualification_expired"]
    assert codes(view.id, at=utcnow() + timedelta(days=333)) == []


@pytest.mark.requirement("EU GMP Part I 5.19")
def test_dirty_equipment_is_not_usable_and_its_dirty_hold_expires(site: dict[str, Actor]) -> None:
    # given a clean bioreactor (dirty hold 24 h)
    view = f.usable_equipment(site, "bioreactor")
    # when it is marked dirty
    equipment.mark_dirty(actor=site["op.liu"], equipment_id=view.id, reason="Medium spilled on the port")
    # then it is not clean now, and a day later its dirty hold has expired too
    assert codes(view.id) == ["not_clean"]
    assert codes(view.id, at=utcnow() + timedelta(hours=25)) == ["not_clean", "dirty_hold_expired"]


@pytest.mark.requirement("EU GMP Part I 5.20")
def test_clean_equipment_stays_usable_only_for_its_clean_hold_time(lite: dict[str, Actor]) -> None:
    # given a bioreactor cleaned now (clean hold 72 h)
    view = f.usable_equipment(lite, "bioreactor")
    # when usability is asked within and after the hold time
    # then only after it does the expired clean hold refuse
    assert codes(view.id, at=utcnow() + timedelta(hours=71)) == []
    assert codes(view.id, at=utcnow() + timedelta(hours=73)) == ["clean_hold_expired"]


def test_equipment_in_use_is_usable_only_for_the_same_batch(site: dict[str, Actor]) -> None:
    # given a bioreactor in use by batch B2026-001
    view = f.usable_equipment(site, "bioreactor")
    equipment.start_use(actor=site["op.liu"], equipment_id=view.id, reference="B2026-001", activity="Seed train")
    # when usability is asked for another batch, for none and for the same batch
    # then only the same batch may use it
    assert codes(view.id, for_reference="B2026-002") == ["in_use"]
    assert codes(view.id) == ["in_use"]
    assert codes(view.id, for_reference="B2026-001") == []


def test_usability_refuses_the_past_and_unknown_equipment(lite: dict[str, Actor]) -> None:
    # given a bioreactor
    view = f.usable_equipment(lite, "bioreactor")
    # when usability is asked for an hour ago, for four minutes ago, and for equipment that does not exist
    with pytest.raises(ValidationFailed) as past:
        equipment.usability(equipment_id=view.id, at=utcnow() - timedelta(hours=1))
    recent = equipment.usability(equipment_id=view.id, at=utcnow() - timedelta(minutes=4))
    with pytest.raises(NotFound):
        equipment.usability(number="EQ-NOPE-001")
    # then the past is refused on `at` (the logbook answers it), a moment ago is fine
    assert fields_of(past) == {"at"}
    assert recent.usable
    # and the API wrapper needs the view right
    with pytest.raises(PermissionDenied):
        equipment.check_usability(actor=Actor(username="nobody", full_name="nobody"), equipment_id=view.id)


@contextmanager
def counted_selects() -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    engine = get_database().read_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_usability_is_one_read_however_long_the_logbook(site: dict[str, Actor]) -> None:
    # given a bioreactor with a long logbook
    view = f.usable_equipment(site, "bioreactor")
    op = site["op.liu"]
    for batch in range(5):
        equipment.start_use(actor=op, equipment_id=view.id, reference=f"B-{batch}")
        equipment.end_use(actor=op, equipment_id=view.id, reference=f"B-{batch}")
        equipment.record_cleaning(actor=op, equipment_id=view.id, procedure="SOP-CL-001")
    # when usability is asked
    with counted_selects() as selects:
        answer = equipment.usability(equipment_id=view.id, for_reference="B-9")
    # then one SELECT of the equipment with its class answered it, without reading the logbook
    assert answer.usable
    assert len(selects) == 1
    assert "equipment_logbook" not in selects[0]


# ---------------------------------------------------------------- use


@pytest.mark.requirement("EU GMP Part I 3.44")
def test_starting_to_use_unusable_equipment_is_refused_with_every_reason(site: dict[str, Actor]) -> None:
    # given a bioreactor just registered (commissioning, not qualified, never cleaned)
    view = f.new_equipment("bioreactor")
    reasons = equipment.usability(equipment_id=view.id).reasons
    op = site["op.liu"]
    before = footprint()
    # when an operator starts using it for a batch
    with pytest.raises(TransitionRefused) as refused:
        equipment.start_use(actor=op, equipment_id=view.id, reference="B2026-001")
    # then the refusal names every reason and nothing was written
    assert [r.code for r in reasons] == ["commissioning", "not_qualified", "not_clean"]
    for reason in reasons:
        assert reason.message_en in refused.value.message
    assert refused.value.message.count("; ") == len(reasons) - 1
    assert footprint() == before


def test_use_starts_and_ends_and_leaves_the_equipment_dirty(site: dict[str, Actor]) -> None:
    # given a clean, usable bioreactor
    view = f.usable_equipment(site, "bioreactor")
    op = site["op.liu"]
    # when batch B2026-001 uses it (started by number) and ends with a counter reading
    started = equipment.start_use(actor=op, number=view.number, reference="B2026-001", activity="Production")
    ended = equipment.end_use(actor=op, equipment_id=view.id, reference="B2026-001", counter_value="12.5",
                              note="Run complete")
    # then it was in use by the batch, and is now free, dirty since the end and at counter 12.5
    assert (started.in_use_by, started.in_use_since is not None) == ("B2026-001", True)
    assert (ended.in_use_by, ended.clean_status, ended.clean_expires_at) == (None, "dirty", None)
    assert ended.dirty_since is not None and ended.usage_counter == Decimal("12.5")
    kinds = [(e.kind, e.reference) for e in entries(view.id)][-3:]
    assert kinds == [("use_started", "B2026-001"), ("use_ended", "B2026-001"), ("counter", "B2026-001")]


def test_use_of_equipment_without_cleaning_tracked_does_not_make_it_dirty(lite: dict[str, Actor]) -> None:
    # given a usable balance (cleaning not tracked)
    view = f.usable_equipment(lite, "balance")
    # when a weighing uses it
    equipment.start_use(actor=lite["op.liu"], equipment_id=view.id, reference="DISP-0001")
    ended = equipment.end_use(actor=lite["op.liu"], equipment_id=view.id, reference="DISP-0001")
    # then it stays not tracked and usable
    assert ended.clean_status == "not_tracked"
    assert codes(view.id) == []


@pytest.mark.parametrize("reference", ["", " ", "-B1", "B 1", "B" * 61, "批次1"])
def test_a_bad_reference_is_refused(lite: dict[str, Actor], reference: str) -> None:
    # given a usable bioreactor
    view = f.usable_equipment(lite, "bioreactor")
    op = lite["op.liu"]
    before = footprint()
    # when use is started with a malformed reference
    with pytest.raises(ValidationFailed) as refused:
        equipment.start_use(actor=op, equipment_id=view.id, reference=reference)
    # then the reference is named and nothing was written
    assert fields_of(refused) == {"reference"}
    assert footprint() == before


def test_use_ends_only_for_the_batch_using_it(lite: dict[str, Actor]) -> None:
    # given a bioreactor in use by B1 (counter at 0)
    view = f.usable_equipment(lite, "bioreactor")
    op = lite["op.liu"]
    equipment.start_use(actor=op, equipment_id=view.id, reference="B1")
    before = footprint()
    # when B2 ends the use, B1 starts it again, or B1 ends it with a negative counter
    with pytest.raises(Conflict) as other:
        equipment.end_use(actor=op, equipment_id=view.id, reference="B2")
    with pytest.raises(Conflict):
        equipment.start_use(actor=op, equipment_id=view.id, reference="B1")
    with pytest.raises(ValidationFailed) as negative:
        equipment.end_use(actor=op, equipment_id=view.id, reference="B1", counter_value="-1")
    # then each is refused and nothing was written
    assert fields_of(other) == {"reference"} and fields_of(negative) == {"counter_value"}
    assert footprint() == before
    # and a free equipment has no use to end
    equipment.end_use(actor=op, equipment_id=view.id, reference="B1")
    with pytest.raises(Conflict):
        equipment.end_use(actor=op, equipment_id=view.id, reference="B1")


def test_using_needs_the_use_right(site: dict[str, Actor]) -> None:
    # given a usable bioreactor
    view = f.usable_equipment(site, "bioreactor")
    before = footprint()
    # when a viewer starts using it or cleans it
    with pytest.raises(PermissionDenied):
        equipment.start_use(actor=site["viewer.chen"], equipment_id=view.id, reference="B1")
    with pytest.raises(PermissionDenied):
        equipment.record_cleaning(actor=site["viewer.chen"], equipment_id=view.id, procedure="SOP-CL-001")
    # then nothing was written
    assert footprint() == before


# ---------------------------------------------------------------- cleaning


@pytest.mark.requirement("EU GMP Part I 5.20")
def test_cleaning_sets_the_clean_hold_and_logs_it(site: dict[str, Actor]) -> None:
    # given a bioreactor used and therefore dirty
    view = f.usable_equipment(site, "bioreactor")
    op = site["op.liu"]
    equipment.start_use(actor=op, equipment_id=view.id, reference="B1")
    equipment.end_use(actor=op, equipment_id=view.id, reference="B1")
    # when it is cleaned after the batch
    before = utcnow()
    cleaned = equipment.record_cleaning(actor=op, equipment_id=view.id, procedure="SOP-CL-001 CIP",
                                        reference="B1", note="Conductivity OK")
    # then it is clean for 72 hours and the logbook entry carries that limit
    assert (cleaned.clean_status, cleaned.dirty_since) == ("clean", None)
    assert cleaned.clean_expires_at is not None
    assert before + timedelta(hours=72) <= cleaned.clean_expires_at <= utcnow() + timedelta(hours=72)
    last = entries(view.id)[-1]
    assert (last.kind, last.reference, last.valid_until) == ("cleaned", "B1", cleaned.clean_expires_at)
    assert last.description == "SOP-CL-001 CIP: Conductivity OK"


def test_cleaning_is_refused_in_use_untracked_or_without_a_procedure(lite: dict[str, Actor]) -> None:
    # given a bioreactor in use and a balance (cleaning not tracked)
    reactor = f.usable_equipment(lite, "bioreactor")
    balance = f.usable_equipment(lite, "balance")
    op = lite["op.liu"]
    equipment.start_use(actor=op, equipment_id=reactor.id, reference="B1")
    before = footprint()
    # when either is cleaned, or cleaning is recorded without a procedure
    with pytest.raises(Conflict):
        equipment.record_cleaning(actor=op, equipment_id=reactor.id, procedure="SOP-CL-001")
    with pytest.raises(Conflict):
        equipment.record_cleaning(actor=op, equipment_id=balance.id, procedure="SOP-CL-001")
    with pytest.raises(ValidationFailed) as no_procedure:
        equipment.record_cleaning(actor=op, equipment_id=reactor.id, procedure=" ")
    with pytest.raises(ValidationFailed) as no_reason:
        equipment.mark_dirty(actor=op, equipment_id=reactor.id, reason="")
    # then all are refused and nothing was written
    assert fields_of(no_procedure) == {"procedure"} and fields_of(no_reason) == {"reason"}
    assert footprint() == before


@pytest.mark.requirement("EU GMP Part I 5.19")
def test_cleaning_after_the_dirty_hold_expired_needs_a_note(lite: dict[str, Actor],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # given a bioreactor marked dirty (dirty hold 24 h) and, on the server clock, 25 hours passing
    view = f.usable_equipment(lite, "bioreactor")
    op = lite["op.liu"]
    equipment.mark_dirty(actor=op, equipment_id=view.id, reason="Spill")
    later = utcnow() + timedelta(hours=25)
    monkeypatch.setattr(status_module, "utcnow", lambda: later)
    before = footprint()
    # when it is cleaned without a note
    with pytest.raises(ValidationFailed) as refused:
        equipment.record_cleaning(actor=op, equipment_id=view.id, procedure="SOP-CL-001")
    # then the note is asked for and nothing was written
    assert fields_of(refused) == {"note"}
    assert footprint() == before
    # and with a note on the extended cleaning it is clean again
    cleaned = equipment.record_cleaning(actor=op, equipment_id=view.id, procedure="SOP-CL-002 extended",
                                        note="Extended soak 2 h per SOP-CL-002")
    assert cleaned.clean_status == "clean"


def test_marking_dirty_twice_keeps_the_first_dirty_time(lite: dict[str, Actor]) -> None:
    # given a clean bioreactor marked dirty once
    view = f.usable_equipment(lite, "bioreactor")
    op = lite["op.liu"]
    first = equipment.mark_dirty(actor=op, equipment_id=view.id, reason="Spill")
    # when it is marked dirty again
    second = equipment.mark_dirty(actor=op, equipment_id=view.id, reason="Door seal opened")
    # then the dirty hold still counts from the first time, and both are in the logbook
    assert second.dirty_since == first.dirty_since
    assert [e.kind for e in entries(view.id)][-2:] == ["marked_dirty", "marked_dirty"]


# ---------------------------------------------------------------- counters


def test_counter_readings_only_go_up(site: dict[str, Actor]) -> None:
    # given a bioreactor at counter 100 h
    view = f.new_equipment("bioreactor")
    op = site["op.liu"]
    equipment.record_counter(actor=op, equipment_id=view.id, value="100")
    before = footprint()
    # when a negative, a lower and a non-numeric reading are recorded
    with pytest.raises(ValidationFailed) as negative:
        equipment.record_counter(actor=op, equipment_id=view.id, value=-5)
    with pytest.raises(ValidationFailed) as lower:
        equipment.record_counter(actor=op, equipment_id=view.id, value="99.5")
    with pytest.raises(ValidationFailed) as nonsense:
        equipment.record_counter(actor=op, equipment_id=view.id, value="NaN")
    # then each is refused on `value` with the reason, and nothing was written
    assert fields_of(negative) == fields_of(lower) == fields_of(nonsense) == {"value"}
    assert "negative" in negative.value.message
    assert "lower than the last reading 100" in lower.value.message
    assert footprint() == before
    # and an equal or higher reading is recorded with a logbook entry
    equipment.record_counter(actor=op, equipment_id=view.id, value=Decimal("100"))
    after = equipment.record_counter(actor=op, equipment_id=view.id, value="150.25", note="Weekly reading")
    assert after.usage_counter == Decimal("150.25")
    assert [(e.kind, e.counter_value) for e in entries(view.id)][-1] == ("counter", Decimal("150.25"))


# ---------------------------------------------------------------- logbook


def test_the_logbook_pages_filters_and_takes_notes(site: dict[str, Actor]) -> None:
    # given a bioreactor with a few entries
    view = f.usable_equipment(site, "bioreactor")
    op = site["op.liu"]
    note = equipment.add_logbook_note(actor=op, equipment_id=view.id, text="Sight glass replaced")
    viewer = site["viewer.chen"]
    # when the logbook is read in pages, by kind and newest first
    everything = entries(view.id)
    first = equipment.list_logbook(actor=viewer, equipment_id=view.id, limit=2)
    rest = equipment.list_logbook(actor=viewer, equipment_id=view.id, after_id=first[-1].id)
    qualifications = equipment.list_logbook(actor=viewer, equipment_id=view.id, kind="qualification")
    newest = equipment.list_logbook(actor=viewer, equipment_id=view.id, newest_first=True, limit=1)
    # then the pages join up in id order, filters apply and the note is the newest entry
    assert [e.id for e in first + rest] == [e.id for e in everything]
    assert [e.id for e in everything] == sorted(e.id for e in everything)
    assert [e.kind for e in qualifications] == ["qualification"] * 3
    assert newest == [note] and (note.kind, note.actor, note.equipment_number) == ("note", "op.liu", view.number)
    # and a viewer may read but not write it, and an empty note is refused
    with pytest.raises(PermissionDenied):
        equipment.add_logbook_note(actor=viewer, equipment_id=view.id, text="x")
    with pytest.raises(ValidationFailed) as empty:
        equipment.add_logbook_note(actor=op, equipment_id=view.id, text="  ")
    assert fields_of(empty) == {"text"}
    with pytest.raises(ValidationFailed) as bad_kind:
        equipment.list_logbook(actor=viewer, equipment_id=view.id, kind="gossip")
    assert fields_of(bad_kind) == {"kind"}


@pytest.mark.requirement("21 CFR 11.10(e)")
@pytest.mark.parametrize("statement", [
    "UPDATE equipment_logbook SET description = 'rewritten'",
    "DELETE FROM equipment_logbook",
])
def test_the_database_refuses_to_rewrite_the_logbook(site: dict[str, Actor], statement: str) -> None:
    # given a bioreactor with its registration entry
    view = f.new_equipment("bioreactor")
    # when anyone edits or deletes logbook entries behind the services' back
    with pytest.raises(DBAPIError) as refused, get_database().write_engine.begin() as connection:
        connection.execute(text(statement))
    # then the database itself refuses, and the entry is unchanged
    assert "append-only" in str(refused.value)
    assert [(e.kind, e.description) for e in entries(view.id)] == [("note", "Registered")]


# ---------------------------------------------------------------- the cache always says what the logbook says


def expected_from_logbook(log: list[LogbookEntryView]) -> dict[str, Any]:
    """The cleaning and use status an inspector would read off the logbook alone."""
    in_use_by: str | None = None
    in_use_since: datetime | None = None
    clean_status, clean_expires_at, dirty_since = "dirty", None, None
    for entry in log:
        if entry.kind == "use_started":
            in_use_by, in_use_since = entry.reference, entry.at
        elif entry.kind == "use_ended":
            in_use_by, in_use_since = None, None
        if entry.kind == "cleaned":
            clean_status, clean_expires_at, dirty_since = "clean", entry.valid_until, None
        elif entry.kind in ("use_ended", "marked_dirty"):
            if clean_status != "dirty" or dirty_since is None:
                dirty_since = entry.at
            clean_status, clean_expires_at = "dirty", None
    return {"in_use_by": in_use_by, "in_use_since": in_use_since, "clean_status": clean_status,
            "clean_expires_at": clean_expires_at, "dirty_since": dirty_since}


def cached(view: EquipmentView) -> dict[str, Any]:
    return {"in_use_by": view.in_use_by, "in_use_since": view.in_use_since, "clean_status": view.clean_status,
            "clean_expires_at": view.clean_expires_at, "dirty_since": view.dirty_since}


@pytest.fixture
def shared_reactor(lite: dict[str, Actor]) -> dict[str, Any]:
    """One usable bioreactor; Hypothesis's examples continue from wherever the previous one left it."""
    return {"view": f.usable_equipment(lite, "bioreactor"), "op": lite["op.liu"]}


operation = st.tuples(st.sampled_from(["start", "end", "clean", "dirty"]), st.sampled_from(["B1", "B2"]))


@pytest.mark.requirement("EU GMP Part I 4.31")
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(operations=st.lists(operation, min_size=1, max_size=10))
def test_the_status_cache_always_matches_the_logbook(shared_reactor: dict[str, Any],
                                                     operations: list[tuple[str, str]]) -> None:
    # given the shared bioreactor in whatever state earlier examples left it
    view, op = shared_reactor["view"], shared_reactor["op"]
    for kind, reference in operations:
        before = footprint()
        # when an operator starts, ends, cleans or soils it (some of which are refused)
        try:
            if kind == "start":
                equipment.start_use(actor=op, equipment_id=view.id, reference=reference)
            elif kind == "end":
                equipment.end_use(actor=op, equipment_id=view.id, reference=reference)
            elif kind == "clean":
                equipment.record_cleaning(actor=op, equipment_id=view.id, procedure="SOP-CL-001")
            else:
                equipment.mark_dirty(actor=op, equipment_id=view.id, reason="Spill")
        except DomainError:
            # then a refused step wrote nothing
            assert footprint() == before
        # then the cached status is exactly what the logbook says
        current = equipment.get_equipment(actor=f.SETUP, equipment_id=view.id)
        assert cached(current) == expected_from_logbook(entries(view.id))
        # and the equipment is usable for a batch exactly when it is clean and free (or used by that batch)
        usable = equipment.usability(equipment_id=view.id, for_reference=reference).usable
        assert usable == (current.clean_status == "clean" and current.in_use_by in (None, reference))
