"""Stock movements on the ledger: put-away, transfer, issue, return, adjustment, sampling, destruction,
reservations, on-hand, the movement history, QA review of FEFO overrides and the daily stock review."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from pharmos.compliance.audit import AuditEntry, count_entries
from pharmos.compliance.lifecycle import apply_transition
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today
from pharmos.core.db import read_session
from pharmos.core.errors import Conflict, DomainError, NotFound, PermissionDenied, ValidationFailed
from pharmos.materials import service as materials
from pharmos.materials.ledger import reconcile
from pharmos.materials.models import Container, FefoOverrideReview, StockMovement, StockReservation
from pharmos.materials.views import LotView
from tests.conftest import password_of
from tests.materials import factories as f

# Service rules: SQLite is enough; this module's API tests run on both back-ends.
pytestmark = pytest.mark.sqlite_only

TODAY = site_today()


def footprint() -> dict[str, Any]:
    """Everything a refused stock call must leave untouched."""
    with read_session() as session:
        return {"movements": session.scalar(select(func.count(StockMovement.id))),
                "reservations": session.scalar(select(func.count(StockReservation.id))),
                "balances": sorted(session.execute(select(Container.number, Container.quantity, Container.reserved,
                                                          Container.location_id)).all()),
                "audit": count_entries(session)}


def ledger_mismatches() -> list[Any]:
    with read_session() as session:
        return reconcile(session)


def fields_of(error: pytest.ExceptionInfo[Any]) -> set[str]:
    return {p.field for p in error.value.fields}


class Store:
    """A warehouse with an ambient, a cold and a light-sensitive material from one approved supplier."""

    def __init__(self, site: dict[str, Actor]) -> None:
        self.site = site
        self.qa = site["qa.li"]
        self.clerk = f.warehouse_user(site)
        self.locations = f.location_tree(self.clerk)
        self.ambient = f.approved_material(self.clerk, self.qa, "RM-0001", pack_units={"drum": "25"})
        self.cold = f.approved_material(self.clerk, self.qa, "RM-0002", storage_condition="2-8C", base_unit="L")
        self.dark = f.approved_material(self.clerk, self.qa, "RM-0003", protect_from_light=True)
        self.supplier = f.approved_supplier(self.clerk, self.qa, ["RM-0001", "RM-0002", "RM-0003"])

    def received(self, code: str = "RM-0001", **kw: Any) -> LotView:
        kw.setdefault("unit", "L" if code == "RM-0002" else "kg")
        if code == "RM-0002":  # cold chain: the transport record is part of the receipt
            kw.setdefault("transport_min_c", "3")
            kw.setdefault("transport_max_c", "6")
        return f.received_lot(self.site, material_code=code, supplier_id=self.supplier.id, receiver=self.clerk, **kw)

    def released(self, code: str = "RM-0001", **kw: Any) -> LotView:
        kw.setdefault("unit", "L" if code == "RM-0002" else "kg")
        if code == "RM-0002":  # cold chain: the transport record is part of the receipt
            kw.setdefault("transport_min_c", "3")
            kw.setdefault("transport_max_c", "6")
        return f.released_lot(self.site, material_code=code, supplier_id=self.supplier.id, receiver=self.clerk, **kw)

    def lot(self, lot_id: int) -> LotView:
        return materials.get_lot(actor=self.qa, lot_id=lot_id)


@pytest.fixture
def store(site: dict[str, Actor]) -> Store:
    """On SQLite and PostgreSQL."""
    return Store(site)


@pytest.fixture
def lite(sqlite_url: str) -> Store:
    """SQLite only, for the many rule tests."""
    return Store(f.site_people())


# ---------------------------------------------------------------- put-away and transfer


def test_put_away_moves_the_container_and_journals_the_move(store: Store) -> None:
    # given a received container on the dock
    lot = store.received(quantity="40", containers=2)
    container = lot.containers[0].number
    # when the clerk puts it away into the ambient bin
    moved = materials.put_away(actor=store.clerk, container_number=container, to_location_code="AMB-A01")
    # then the ledger shows the move, the container is there and its quantity is unchanged
    assert (moved.kind, moved.from_location_code, moved.to_location_code) == ("put_away", "RCV-01", "AMB-A01")
    assert (moved.quantity_change, moved.quantity, moved.unit) == (Decimal(0), Decimal(20), "kg")
    after = {c.number: c for c in store.lot(lot.id).containers}
    assert after[container].location_code == "AMB-A01" and after[container].quantity == Decimal(20)
    # and a later transfer goes on from there
    again = materials.transfer_stock(actor=store.clerk, container_number=container, to_location_code="RCV-01",
                                     reason="Make room")
    assert (again.kind, again.from_location_code, again.to_location_code, again.reason) == (
        "transfer", "AMB-A01", "RCV-01", "Make room")
    assert ledger_mismatches() == []


@pytest.mark.requirement("EU GMP Part I 3.19")
@pytest.mark.parametrize(("code", "target", "says"), [
    pytest.param("RM-0001", "CR-A01", "does not satisfy", id="ambient material into the cold room"),
    pytest.param("RM-0002", "AMB-A01", "does not satisfy", id="cold material into an ambient bin"),
    pytest.param("RM-0003", "RCV-01", "protected from light", id="light-sensitive into an open bin"),
    pytest.param("RM-0001", "AMB", "only put into bins", id="a zone, not a bin"),
    pytest.param("RM-0001", "NOPE-01", "No location", id="unknown location"),
    pytest.param("RM-0001", "", "required", id="no location"),
])
def test_put_away_into_the_wrong_place_is_refused_and_writes_nothing(lite: Store, code: str, target: str,
                                                                     says: str) -> None:
    # given a received container
    lot = lite.received(code, quantity="10")
    before = footprint()
    # when it is put away into the wrong place
    with pytest.raises(ValidationFailed) as refused:
        materials.put_away(actor=lite.clerk, container_number=lot.containers[0].number, to_location_code=target)
    # then the error names the target field and says why; nothing is written
    assert fields_of(refused) == {"to_location_code"}
    assert says in str(refused.value)
    assert footprint() == before


def test_put_away_refuses_an_inactive_bin_and_the_same_bin(lite: Store) -> None:
    # given a container on the dock and a bin taken out of use
    lot = lite.received(quantity="10")
    spare = materials.create_location(actor=lite.clerk, code="AMB-A02", name="常温A02", kind="bin", parent_code="AMB",
                                      storage_class="15-25C")
    materials.update_location(actor=lite.clerk, location_id=spare.id, reason="Broken shelf", active=False)
    before = footprint()
    # when it is put into the inactive bin, or "moved" to where it already is
    for target, says in (("AMB-A02", "inactive"), ("RCV-01", "already in")):
        with pytest.raises(ValidationFailed) as refused:
            materials.put_away(actor=lite.clerk, container_number=lot.containers[0].number, to_location_code=target)
        # then each is refused naming the target; nothing is written
        assert fields_of(refused) == {"to_location_code"} and says in str(refused.value)
    assert footprint() == before


def test_status_by_zone_keeps_quarantined_and_released_stock_apart(lite: Store) -> None:
    # given status-by-zone in force, a quarantine zone and a released zone
    f.effective_setting(lite.site, "materials.status_by_zone", "true")
    for zone, status in (("QZ", "quarantine"), ("RZ", "released")):
        materials.create_location(actor=lite.clerk, code=zone, name=zone, kind="zone", parent_code="WH1",
                                  storage_class="15-25C", status_zone=status)
        materials.create_location(actor=lite.clerk, code=f"{zone}-01", name=zone, kind="bin", parent_code=zone,
                                  storage_class="15-25C")
    quarantined = lite.received(quantity="5")
    released = lite.released(quantity="5")
    before = footprint()
    # when quarantined stock goes to the released zone and released stock to the quarantine zone
    for lot, target in ((quarantined, "RZ-01"), (released, "QZ-01")):
        with pytest.raises(ValidationFailed) as refused:
            materials.put_away(actor=lite.clerk, container_number=lot.containers[0].number, to_location_code=target)
        # then both are refused naming the target
        assert fields_of(refused) == {"to_location_code"} and "holds" in str(refused.value)
    assert footprint() == before
    # and each goes into its own zone
    materials.put_away(actor=lite.clerk, container_number=quarantined.containers[0].number, to_location_code="QZ-01")
    materials.put_away(actor=lite.clerk, container_number=released.containers[0].number, to_location_code="RZ-01")


def test_without_status_by_zone_any_status_may_share_a_zone(lite: Store) -> None:
    # given a released-only zone but the setting at its default (status by system)
    materials.create_location(actor=lite.clerk, code="RZ", name="RZ", kind="zone", parent_code="WH1",
                              storage_class="15-25C", status_zone="released")
    materials.create_location(actor=lite.clerk, code="RZ-01", name="RZ", kind="bin", parent_code="RZ",
                              storage_class="15-25C")
    lot = lite.received(quantity="5")
    # when quarantined stock is put there
    moved = materials.put_away(actor=lite.clerk, container_number=lot.containers[0].number, to_location_code="RZ-01")
    # then the system status, not the place, keeps it from use
    assert moved.to_location_code == "RZ-01"


# ---------------------------------------------------------------- issue


def test_issue_of_a_released_lot_takes_stock_out_in_any_unit_of_its_dimension(store: Store) -> None:
    # given a released lot of 50 kg in two containers (drum = 25 kg)
    lot = store.released(quantity="50", containers=2)
    first = lot.containers[0].number
    # when 2500 g and then one drum are issued
    issued = materials.issue_stock(actor=store.clerk, container_number=first, quantity="2500", unit="g",
                                   reference="BO-2026-0001")
    # then the movement records the quantity as entered and the change in the base unit
    assert (issued.kind, issued.quantity, issued.unit, issued.quantity_change) == (
        "issue", Decimal(2500), "g", Decimal("-2.5"))
    assert (issued.reference, issued.fefo_override, issued.lot_number) == ("BO-2026-0001", False, lot.number)
    materials.issue_stock(actor=store.clerk, container_number=lot.containers[1].number, quantity="1", unit="drum",
                          reference="BO-2026-0001")
    after = store.lot(lot.id)
    assert (after.on_hand, after.available) == (Decimal("22.5"), Decimal("22.5"))
    assert ledger_mismatches() == []


def test_issuing_exactly_what_is_left_in_small_steps_empties_the_container(lite: Store) -> None:
    # given 0.3 kg (binary floating point cannot hold 0.1 or 0.2 exactly)
    lot = lite.released(quantity="0.3")
    number = lot.containers[0].number
    # when 0.1 kg and then 0.2 kg are issued
    materials.issue_stock(actor=lite.clerk, container_number=number, quantity="0.1", unit="kg", reference="BO-1")
    materials.issue_stock(actor=lite.clerk, container_number=number, quantity="0.2", unit="kg", reference="BO-1")
    # then the container is exactly empty and the ledger agrees
    assert lite.lot(lot.id).on_hand == Decimal(0)
    assert ledger_mismatches() == []


@pytest.mark.requirement("EU GMP Part I 5.61")
@pytest.mark.parametrize("situation", ["quarantine", "under_test", "rejected", "expired", "past expiry",
                                       "retest overdue", "short-dated"])
def test_issue_of_unusable_stock_is_refused_naming_every_reason_and_writes_nothing(lite: Store,
                                                                                   situation: str) -> None:
    # given a lot that may not be used
    qc = f.qc_user(lite.site)
    if situation in ("quarantine", "under_test", "rejected"):
        lot = lite.received(quantity="10")
        if situation != "quarantine":
            apply_transition(actor=qc, collection="lots", record_id=lot.id, name="start_testing")
        if situation == "rejected":
            apply_transition(actor=lite.qa, collection="lots", record_id=lot.id, name="reject",
                             password=password_of("qa.li"), reason="Assay out of specification")
        says = f"is {situation}"
    elif situation == "short-dated":
        lot = lite.released(quantity="10", expires_on=TODAY + timedelta(days=10))
        says = "needs QA approval"
    else:
        lot = lite.released(quantity="10", retest_on=TODAY + timedelta(days=30))
        if situation == "retest overdue":
            f.as_time_passes(lot.id, retest_on=TODAY)
            says = "Retest"
        else:
            f.as_time_passes(lot.id, expires_on=TODAY - timedelta(days=1))
            says = "expired"
            if situation == "expired":
                apply_transition(actor=f.SETUP, collection="lots", record_id=lot.id, name="expire")
    before = footprint()
    # when it is issued
    with pytest.raises(ValidationFailed) as refused:
        materials.issue_stock(actor=lite.clerk, container_number=lot.containers[0].number, quantity="1", unit="kg",
                              reference="BO-2026-0001")
    # then the refusal names the container and says why; nothing is written
    assert fields_of(refused) == {"container_number"}
    assert says in str(refused.value)
    assert footprint() == before


def test_issue_refusal_lists_every_reason(lite: Store) -> None:
    # given a quarantined lot whose retest date has also passed
    lot = lite.received(quantity="10", retest_on=TODAY + timedelta(days=30))
    f.as_time_passes(lot.id, retest_on=TODAY - timedelta(days=1))
    # when it is issued
    with pytest.raises(ValidationFailed) as refused:
        materials.issue_stock(actor=lite.clerk, container_number=lot.containers[0].number, quantity="1", unit="kg",
                              reference="BO-1")
    # then both reasons are given, each on the container field
    messages = [p.message for p in refused.value.fields]
    assert len(messages) == 2
    assert any("not released" in m for m in messages) and any("Retest" in m for m in messages)


def test_short_dated_lot_is_issued_once_qa_approves(lite: Store) -> None:
    # given a released lot 10 days from expiry, approved for use by QA
    lot = lite.released(quantity="10", expires_on=TODAY + timedelta(days=10))
    materials.approve_short_dated_use(actor=lite.qa, lot_id=lot.id, password=password_of("qa.li"),
                                      reason="Consumed this week")
    # when it is issued
    issued = materials.issue_stock(actor=lite.clerk, container_number=lot.containers[0].number, quantity="1",
                                   unit="kg", reference="BO-1")
    # then it goes out
    assert issued.quantity_change == Decimal(-1)


@pytest.mark.parametrize(("call", "field"), [
    pytest.param(lambda s, c: materials.issue_stock(actor=s.clerk, container_number=c, quantity="0", unit="kg",
                                                    reference="BO-1"), "quantity", id="issue zero"),
    pytest.param(lambda s, c: materials.issue_stock(actor=s.clerk, container_number=c, quantity="-1", unit="kg",
                                                    reference="BO-1"), "quantity", id="issue negative"),
    pytest.param(lambda s, c: materials.issue_stock(actor=s.clerk, container_number=c, quantity="abc", unit="kg",
                                                    reference="BO-1"), "quantity", id="issue not a number"),
    pytest.param(lambda s, c: materials.issue_stock(actor=s.clerk, container_number=c, quantity="1", unit="L",
                                                    reference="BO-1"), "unit", id="issue in litres of a kg material"),
    pytest.param(lambda s, c: materials.issue_stock(actor=s.clerk, container_number=c, quantity="1", unit="bucket",
                                                    reference="BO-1"), "unit", id="issue in an unknown unit"),
    pytest.param(lambda s, c: materials.issue_stock(actor=s.clerk, container_number=c, quantity="1", unit="kg",
                                                    reference=" "), "reference", id="issue for nothing"),
    pytest.param(lambda s, c: materials.issue_stock(actor=s.clerk, container_number="LOT-X-C01", quantity="1",
                                                    unit="kg", reference="BO-1"), "container_number",
                 id="issue from an unknown container"),
    pytest.param(lambda s, c: materials.return_stock(actor=s.clerk, container_number=c, quantity="0", unit="kg",
                                                     to_location_code="AMB-A01", reason="Unused"), "quantity",
                 id="return zero"),
    pytest.param(lambda s, c: materials.return_stock(actor=s.clerk, container_number=c, quantity="1", unit="kg",
                                                     to_location_code="AMB-A01", reason="Unused"), "quantity",
                 id="return what was never issued"),
    pytest.param(lambda s, c: materials.return_stock(actor=s.clerk, container_number=c, quantity="1", unit="kg",
                                                     to_location_code="AMB-A01", reason=""), "reason",
                 id="return without a reason"),
    pytest.param(lambda s, c: materials.adjust_stock(actor=s.clerk, container_number=c, change="0", unit="kg",
                                                     reason="Recount"), "change", id="adjust by zero"),
    pytest.param(lambda s, c: materials.adjust_stock(actor=s.clerk, container_number=c, change="-1", unit="kg",
                                                     reason=""), "reason", id="adjust without a reason"),
    pytest.param(lambda s, c: materials.sample_lot(actor=s.clerk, container_number=c, quantity="-0.1", unit="kg"),
                 "quantity", id="sample negative"),
    pytest.param(lambda s, c: materials.destroy_stock(actor=s.clerk, container_number=c, quantity="1", unit="kg",
                                                      reason="Expired"), "container_number",
                 id="destroy released stock"),
    pytest.param(lambda s, c: materials.reserve_stock(actor=s.clerk, container_number=c, quantity="0", unit="kg",
                                                      purpose="BO-1"), "quantity", id="reserve zero"),
    pytest.param(lambda s, c: materials.reserve_stock(actor=s.clerk, container_number=c, quantity="1", unit="kg",
                                                      purpose=""), "purpose", id="reserve for nothing"),
    pytest.param(lambda s, c: materials.allocate(actor=s.clerk, material_code="RM-0001", quantity="-5", unit="kg",
                                                 purpose="BO-1", reserve=True), "quantity", id="allocate negative"),
    pytest.param(lambda s, c: materials.allocate(actor=s.clerk, material_code="RM-9999", quantity="5", unit="kg",
                                                 purpose="BO-1", reserve=True), "material_code",
                 id="allocate an unknown material"),
    pytest.param(lambda s, c: materials.allocate(actor=s.clerk, material_code="RM-0001", quantity="5", unit="mL",
                                                 purpose="BO-1", reserve=True), "unit",
                 id="allocate in the wrong unit"),
])
def test_bad_stock_input_is_refused_naming_the_field_and_writes_nothing(
        lite: Store, call: Callable[[Store, str], Any], field: str) -> None:
    # given a released container with stock
    lot = lite.released(quantity="10")
    before = footprint()
    # when a stock call gets a bad input
    with pytest.raises(ValidationFailed) as refused:
        call(lite, lot.containers[0].number)
    # then the error names the field; nothing is written
    assert field in fields_of(refused)
    assert footprint() == before


def test_issuing_more_than_is_available_is_a_conflict_on_quantity(lite: Store) -> None:
    # given 10 kg of which 4 kg are reserved
    lot = lite.released(quantity="10")
    number = lot.containers[0].number
    materials.reserve_stock(actor=lite.clerk, container_number=number, quantity="4", unit="kg", purpose="BO-7")
    before = footprint()
    # when 7 kg are issued without the reservation
    with pytest.raises(Conflict) as refused:
        materials.issue_stock(actor=lite.clerk, container_number=number, quantity="7", unit="kg", reference="BO-1")
    # then it is refused naming the quantity; nothing is written
    assert fields_of(refused) == {"quantity"} and "6" in str(refused.value)
    assert footprint() == before


def test_only_stock_clerks_move_stock(lite: Store) -> None:
    # given a released container and a viewer
    lot = lite.released(quantity="10")
    viewer = lite.site["viewer.chen"]
    before = footprint()
    # when the viewer tries to issue, put away or adjust
    for call in (
        lambda: materials.issue_stock(actor=viewer, container_number=lot.containers[0].number, quantity="1",
                                      unit="kg", reference="BO-1"),
        lambda: materials.put_away(actor=viewer, container_number=lot.containers[0].number,
                                   to_location_code="AMB-A01"),
        lambda: materials.adjust_stock(actor=viewer, container_number=lot.containers[0].number, change="1",
                                       unit="kg", reason="x"),
    ):
        # then each is denied; nothing is written
        with pytest.raises(PermissionDenied):
            call()
    assert footprint() == before


# ---------------------------------------------------------------- FEFO at issue and QA review


@pytest.mark.requirement("EU GMP Part I 5.61")
def test_issuing_a_later_expiring_lot_needs_a_reason_and_goes_to_qa_review(store: Store) -> None:
    # given two released lots: one expiring in 100 days, one in 300
    early = store.released(quantity="10", expires_on=TODAY + timedelta(days=100))
    late = store.released(quantity="10", expires_on=TODAY + timedelta(days=300))
    before = footprint()
    # when the later lot is issued without a reason
    with pytest.raises(ValidationFailed) as refused:
        materials.issue_stock(actor=store.clerk, container_number=late.containers[0].number, quantity="1",
                              unit="kg", reference="BO-1")
    # then FEFO refuses it, naming the reason field and the earlier container; nothing is written
    assert fields_of(refused) == {"fefo_override_reason"}
    assert early.containers[0].number in str(refused.value)
    assert footprint() == before
    # when it is issued with a reason
    override = materials.issue_stock(actor=store.clerk, container_number=late.containers[0].number, quantity="1",
                                     unit="kg", reference="BO-1", fefo_override_reason="Customer requires lot")
    # then it is flagged and pending QA review
    assert override.fefo_override and override.reason == "Customer requires lot"
    assert [m.id for m in materials.list_movements(actor=store.qa, override_pending=True)] == [override.id]
    # and the earliest lot needs no reason
    plain = materials.issue_stock(actor=store.clerk, container_number=early.containers[0].number, quantity="1",
                                  unit="kg", reference="BO-1")
    assert not plain.fefo_override
    # when QA reviews the override
    reviewed = materials.review_fefo_override(actor=store.qa, movement_id=override.id, comment="Justified")
    # then it is no longer pending and shows the reviewer
    assert reviewed.reviewed_by == "qa.li"
    assert materials.list_movements(actor=store.qa, override_pending=True) == []
    with pytest.raises(Conflict):
        materials.review_fefo_override(actor=store.qa, movement_id=override.id, comment="Again")


def test_fefo_ignores_earlier_lots_that_may_not_be_used_or_have_nothing_free(lite: Store) -> None:
    # given an earlier quarantined lot, an earlier released lot fully reserved, and a later released lot
    lite.received(quantity="10", expires_on=TODAY + timedelta(days=50))
    reserved = lite.released(quantity="10", expires_on=TODAY + timedelta(days=100))
    materials.reserve_stock(actor=lite.clerk, container_number=reserved.containers[0].number, quantity="10",
                            unit="kg", purpose="BO-9")
    late = lite.released(quantity="10", expires_on=TODAY + timedelta(days=300))
    # when the later lot is issued
    issued = materials.issue_stock(actor=lite.clerk, container_number=late.containers[0].number, quantity="1",
                                   unit="kg", reference="BO-1")
    # then it follows FEFO: nothing earlier was usable
    assert not issued.fefo_override


def test_fefo_override_review_needs_qa_a_comment_and_another_person(lite: Store) -> None:
    # given an override issued by a QA specialist who also works in the warehouse
    both = f.person("qa.wh", ["warehouse", "qa_specialist"])
    lite.released(quantity="10", expires_on=TODAY + timedelta(days=100))
    late = lite.released(quantity="10", expires_on=TODAY + timedelta(days=300))
    override = materials.issue_stock(actor=both, container_number=late.containers[0].number, quantity="1",
                                     unit="kg", reference="BO-1", fefo_override_reason="Urgent")
    plain = materials.list_movements(actor=lite.qa, kind="receipt")[0]
    before = footprint()
    # then the issuer cannot review it, a clerk may not, a comment is needed and only overrides are reviewed
    with pytest.raises(Conflict):
        materials.review_fefo_override(actor=both, movement_id=override.id, comment="Fine by me")
    with pytest.raises(PermissionDenied):
        materials.review_fefo_override(actor=lite.clerk, movement_id=override.id, comment="OK")
    with pytest.raises(ValidationFailed) as no_comment:
        materials.review_fefo_override(actor=lite.qa, movement_id=override.id, comment=" ")
    assert fields_of(no_comment) == {"comment"}
    with pytest.raises(Conflict):
        materials.review_fefo_override(actor=lite.qa, movement_id=plain.id, comment="OK")
    with pytest.raises(NotFound):
        materials.review_fefo_override(actor=lite.qa, movement_id=999_999, comment="OK")
    assert footprint() == before


# ---------------------------------------------------------------- return, adjustment, sampling, destruction


def test_return_adjust_sample_and_destroy_keep_the_ledger_in_step(store: Store) -> None:
    # given a released container of 20 kg on the dock
    lot = store.released(quantity="20")
    number = lot.containers[0].number
    # when 5 kg are issued, 2 kg returned into the ambient bin, 1 kg found missing and 0.5 kg sampled
    materials.issue_stock(actor=store.clerk, container_number=number, quantity="5", unit="kg", reference="BO-1")
    back = materials.return_stock(actor=store.clerk, container_number=number, quantity="2", unit="kg",
                                  to_location_code="AMB-A01", reason="Not used", reference="BO-1")
    adjusted = materials.adjust_stock(actor=store.clerk, container_number=number, change="-1", unit="kg",
                                      reason="Bag torn on receipt")
    sampled = materials.sample_lot(actor=f.qc_user(store.site), container_number=number, quantity="500",
                                   unit="g")
    # then each movement records its change and the container holds 15.5 kg in the return bin
    assert (back.kind, back.quantity_change, back.to_location_code) == ("return", Decimal(2), "AMB-A01")
    assert (adjusted.quantity_change, adjusted.reason) == (Decimal(-1), "Bag torn on receipt")
    assert (sampled.kind, sampled.quantity_change, sampled.reason) == ("sampling", Decimal("-0.5"), "QC sampling")
    container = store.lot(lot.id).containers[0]
    assert (container.quantity, container.location_code) == (Decimal("15.5"), "AMB-A01")
    assert [m.kind for m in materials.list_movements(actor=store.qa, lot_id=lot.id)] == [
        "receipt", "issue", "return", "adjustment", "sampling"]
    assert ledger_mismatches() == []


def test_an_adjustment_cannot_make_stock_negative(lite: Store) -> None:
    # given 3 kg
    lot = lite.released(quantity="3")
    before = footprint()
    # when 4 kg are adjusted away
    with pytest.raises(Conflict) as refused:
        materials.adjust_stock(actor=lite.clerk, container_number=lot.containers[0].number, change="-4", unit="kg",
                               reason="Recount")
    # then it is refused naming the change; nothing is written
    assert fields_of(refused) == {"change"}
    assert footprint() == before


def test_sampling_is_for_live_lots_and_destruction_for_dead_ones(lite: Store) -> None:
    # given a quarantined lot and a rejected one
    quarantined = lite.received(quantity="10")
    rejected = lite.received(quantity="10")
    apply_transition(actor=lite.qa, collection="lots", record_id=rejected.id, name="reject",
                     password=password_of("qa.li"), reason="Wrong material delivered")
    qc = f.qc_user(lite.site)
    # then QC samples the quarantined lot
    assert materials.sample_lot(actor=qc, container_number=quarantined.containers[0].number, quantity="0.1",
                                unit="kg").kind == "sampling"
    before = footprint()
    # but not the rejected one, and the quarantined one is not destroyed
    with pytest.raises(ValidationFailed) as not_sampled:
        materials.sample_lot(actor=qc, container_number=rejected.containers[0].number, quantity="0.1", unit="kg")
    with pytest.raises(ValidationFailed) as not_destroyed:
        materials.destroy_stock(actor=lite.clerk, container_number=quarantined.containers[0].number, quantity="1",
                                unit="kg", reason="Surplus")
    assert fields_of(not_sampled) == fields_of(not_destroyed) == {"container_number"}
    assert footprint() == before
    # and the rejected lot is destroyed, with its reason
    destroyed = materials.destroy_stock(actor=lite.clerk, container_number=rejected.containers[0].number,
                                        quantity="10", unit="kg", reason="Incinerated, record DR-12")
    assert (destroyed.kind, destroyed.quantity_change) == ("destruction", Decimal(-10))
    assert lite.lot(rejected.id).on_hand == Decimal(0)


# ---------------------------------------------------------------- reservations


def test_issue_against_a_reservation_consumes_it(store: Store) -> None:
    # given 10 kg with 6 kg reserved for BO-7
    lot = store.released(quantity="10")
    number = lot.containers[0].number
    line = materials.reserve_stock(actor=store.clerk, container_number=number, quantity="6", unit="kg",
                                   purpose="BO-7")
    assert store.lot(lot.id).available == Decimal(4)
    # when 4 kg are issued against it, then the other 2
    materials.issue_stock(actor=store.clerk, container_number=number, quantity="4", unit="kg", reference="BO-7",
                          reservation_id=line.reservation_id)
    # then the reservation shrinks by what was issued and the free stock is untouched
    after = store.lot(lot.id)
    assert (after.on_hand, after.reserved, after.available) == (Decimal(6), Decimal(2), Decimal(4))
    materials.issue_stock(actor=store.clerk, container_number=number, quantity="2", unit="kg", reference="BO-7",
                          reservation_id=line.reservation_id)
    after = store.lot(lot.id)
    assert (after.on_hand, after.reserved, after.available) == (Decimal(4), Decimal(0), Decimal(4))
    # and an issued reservation cannot be used again
    with pytest.raises(Conflict) as refused:
        materials.issue_stock(actor=store.clerk, container_number=number, quantity="1", unit="kg",
                              reference="BO-7", reservation_id=line.reservation_id)
    assert fields_of(refused) == {"reservation_id"}
    assert ledger_mismatches() == []


def test_cancelling_a_reservation_frees_the_stock(lite: Store) -> None:
    # given a reservation of 3 kg
    lot = lite.released(quantity="10")
    line = materials.reserve_stock(actor=lite.clerk, container_number=lot.containers[0].number, quantity="3",
                                   unit="kg", purpose="BO-7")
    assert line.reservation_id is not None
    # when it is cancelled without and then with a reason
    with pytest.raises(ValidationFailed):
        materials.cancel_reservation(actor=lite.clerk, reservation_id=line.reservation_id, reason="")
    materials.cancel_reservation(actor=lite.clerk, reservation_id=line.reservation_id, reason="Batch postponed")
    # then the stock is free again, and it cannot be cancelled twice
    assert lite.lot(lot.id).available == Decimal(10)
    with pytest.raises(Conflict):
        materials.cancel_reservation(actor=lite.clerk, reservation_id=line.reservation_id, reason="Again")
    with pytest.raises(NotFound):
        materials.cancel_reservation(actor=lite.clerk, reservation_id=999_999, reason="x")


# ---------------------------------------------------------------- on hand and reports


def test_on_hand_by_lot_location_and_material(store: Store) -> None:
    # given two lots of RM-0001 (one in two places) and one of RM-0002 in the cold room
    a = store.released(quantity="30", containers=3, expires_on=TODAY + timedelta(days=200))
    b = store.received(quantity="5", expires_on=TODAY + timedelta(days=100))
    c = store.received("RM-0002", quantity="8")
    materials.put_away(actor=store.clerk, container_number=a.containers[0].number, to_location_code="AMB-A01")
    materials.put_away(actor=store.clerk, container_number=c.containers[0].number, to_location_code="CR-A01")
    materials.reserve_stock(actor=store.clerk, container_number=a.containers[1].number, quantity="4", unit="kg",
                            purpose="BO-1")
    materials.issue_stock(actor=store.clerk, container_number=a.containers[2].number, quantity="10", unit="kg",
                          reference="BO-1")
    clerk = store.clerk
    # when on-hand is asked by lot for RM-0001
    by_lot = materials.on_hand(actor=clerk, material_code="RM-0001", group_by="lot")
    # then each lot with stock shows, earliest expiry first, with reserved and available (the empty container not)
    assert [(r.lot_number, r.lot_state, r.containers, r.on_hand, r.reserved, r.available, r.unit) for r in by_lot] == [
        (b.number, "quarantine", 1, Decimal(5), Decimal(0), Decimal(5), "kg"),
        (a.number, "released", 2, Decimal(20), Decimal(4), Decimal(16), "kg")]
    # and by location
    by_place = materials.on_hand(actor=clerk, group_by="location")
    assert {(r.location_code, r.material_code): r.on_hand for r in by_place} == {
        ("AMB-A01", "RM-0001"): Decimal(10), ("RCV-01", "RM-0001"): Decimal(15), ("CR-A01", "RM-0002"): Decimal(8)}
    # and by material, also within a warehouse subtree and for one lot
    by_material = materials.on_hand(actor=clerk, group_by="material", location_code="WH1")
    assert [(r.material_code, r.on_hand, r.unit) for r in by_material] == [
        ("RM-0001", Decimal(25), "kg"), ("RM-0002", Decimal(8), "L")]
    assert [r.on_hand for r in materials.on_hand(actor=clerk, location_code="CR", group_by="material")] == [
        Decimal(8)]
    assert [r.on_hand for r in materials.on_hand(actor=clerk, lot_id=a.id)] == [Decimal(20)]
    assert materials.on_hand(actor=clerk, material_code="RM-4040") == []
    with pytest.raises(ValidationFailed) as bad:
        materials.on_hand(actor=clerk, group_by="supplier")
    assert fields_of(bad) == {"group_by"}


def test_expiry_report_lists_lots_in_stock_expiring_or_due_for_retest(lite: Store) -> None:
    # given lots expiring in 20, 60 and 400 days, one due for retest in 45 days, and one emptied
    soon = lite.released(quantity="5", expires_on=TODAY + timedelta(days=20))
    later = lite.received(quantity="5", expires_on=TODAY + timedelta(days=60))
    lite.received(quantity="5", expires_on=TODAY + timedelta(days=400))
    retest = lite.received(quantity="5", expires_on=TODAY + timedelta(days=400), retest_on=TODAY + timedelta(days=45))
    empty = lite.received(quantity="5", expires_on=TODAY + timedelta(days=10))
    materials.adjust_stock(actor=lite.clerk, container_number=empty.containers[0].number, change="-5", unit="kg",
                           reason="Spilt")
    # when the 90-day report is run
    rows = materials.expiry_report(actor=lite.clerk, within_days=90)
    # then it lists the lots in stock in expiry order with their days left
    assert [(r.lot_number, r.days_to_expiry, r.days_to_retest) for r in rows] == [
        (soon.number, 20, None), (later.number, 60, None), (retest.number, 400, 45)]
    assert rows[0].on_hand == Decimal(5)
    with pytest.raises(ValidationFailed):
        materials.expiry_report(actor=lite.clerk, within_days=-1)


@pytest.mark.requirement("EU GMP Part I 5.61")
def test_daily_stock_review_expires_lots_and_warns_of_expiry_and_retest(store: Store) -> None:
    # given a released and a quarantined lot past expiry, one expiring in 20 days, one due for retest in 10
    past = store.released(quantity="5")
    held = store.received(quantity="5")
    for lot in (past, held):
        f.as_time_passes(lot.id, expires_on=TODAY - timedelta(days=1))
    soon = store.received(quantity="5", expires_on=TODAY + timedelta(days=20))
    retest = store.released(quantity="5", retest_on=TODAY + timedelta(days=10))
    store.released(quantity="5", expires_on=TODAY + timedelta(days=200))
    system = Actor.system("scheduler")
    with read_session() as session:
        runs_before = session.scalar(select(func.count(AuditEntry.id)).where(
            AuditEntry.record_type == "stock_review"))
    # when the daily review runs
    result = materials.run_daily_stock_review(actor=system)
    # then the lots past expiry are expired through their lifecycle
    assert sorted(result.expired) == sorted([past.number, held.number])
    assert store.lot(past.id).state == store.lot(held.id).state == "expired"
    # and the warning lists hold the lots within 30 days, flagged to QA the first time
    assert [r.lot_number for r in result.expiring] == [soon.number]
    assert [r.lot_number for r in result.retest_due] == [retest.number]
    assert sorted(result.flagged) == sorted([soon.number, retest.number])
    # and the run is one audit event
    with read_session() as session:
        assert session.scalar(select(func.count(AuditEntry.id)).where(
            AuditEntry.record_type == "stock_review")) == (runs_before or 0) + 1
    # when it runs again, nothing new is expired or flagged
    again = materials.run_daily_stock_review(actor=system)
    assert (again.expired, again.flagged) == ((), ())
    assert [r.lot_number for r in again.expiring] == [soon.number]
    # and only the job's right may run it
    with pytest.raises(PermissionDenied):
        materials.run_daily_stock_review(actor=store.clerk)


def test_movement_history_filters(lite: Store) -> None:
    # given movements of two materials
    a = lite.released(quantity="10")
    c = lite.received("RM-0002", quantity="4")
    materials.issue_stock(actor=lite.clerk, container_number=a.containers[0].number, quantity="1", unit="kg",
                          reference="BO-1")
    materials.put_away(actor=lite.clerk, container_number=c.containers[0].number, to_location_code="CR-A01")
    # then the history filters by lot, material and kind, and pages on
    everything = materials.list_movements(actor=lite.clerk)
    assert [m.kind for m in everything] == ["receipt", "receipt", "issue", "put_away"]
    assert [m.kind for m in materials.list_movements(actor=lite.clerk, material_code="RM-0002")] == [
        "receipt", "put_away"]
    assert [m.kind for m in materials.list_movements(actor=lite.clerk, lot_id=a.id, kind="issue")] == ["issue"]
    assert [m.id for m in materials.list_movements(actor=lite.clerk, after_id=everything[1].id, limit=1)] == [
        everything[2].id]
    assert len(materials.list_movements(actor=lite.clerk, override_pending=False)) == 4
    with pytest.raises(ValidationFailed) as bad:
        materials.list_movements(actor=lite.clerk, kind="theft")
    assert fields_of(bad) == {"kind"}
    with read_session() as session:
        assert session.scalar(select(func.count(FefoOverrideReview.id))) == 0


# ---------------------------------------------------------------- the ledger's invariant, as a property

operation = st.one_of(
    st.tuples(st.just("issue"), st.integers(0, 3), st.decimals("0.001", "12", places=3)),
    st.tuples(st.just("adjust"), st.integers(0, 3), st.decimals("-12", "12", places=3)),
    st.tuples(st.just("transfer"), st.integers(0, 3), st.sampled_from(["AMB-A01", "RCV-01", "CR-A01"])),
    st.tuples(st.just("return"), st.integers(0, 3), st.decimals("0.001", "5", places=3)),
    st.tuples(st.just("receipt"), st.integers(0, 3), st.decimals("0.5", "20", places=1)),
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(operations=st.lists(operation, min_size=1, max_size=12))
def test_no_sequence_of_movements_makes_a_balance_negative_or_breaks_the_ledger(
        lite: Store, operations: list[tuple[str, int, Any]]) -> None:
    # given a fresh released lot of two containers (each example adds its own stock)
    lot = lite.released(quantity="10", containers=2)
    pool = [c.number for c in lot.containers]
    for kind, which, value in operations:
        number = pool[which % len(pool)]
        before = footprint()
        # when each movement is tried
        try:
            if kind == "issue":
                materials.issue_stock(actor=lite.clerk, container_number=number, quantity=value, unit="kg",
                                      reference="BO-P", fefo_override_reason="Property test")
            elif kind == "adjust":
                materials.adjust_stock(actor=lite.clerk, container_number=number, change=value, unit="kg",
                                       reason="Property test")
            elif kind == "transfer":
                materials.transfer_stock(actor=lite.clerk, container_number=number, to_location_code=value)
            elif kind == "return":
                materials.return_stock(actor=lite.clerk, container_number=number, quantity=value, unit="kg",
                                       to_location_code="RCV-01", reason="Property test")
            else:
                received = lite.received(quantity=str(value))
                pool.append(received.containers[0].number)
        except DomainError:
            # then a refused movement writes nothing at all
            assert footprint() == before
        # and no balance is ever negative, reserved stays within it, and the cache equals the ledger
        with read_session() as session:
            assert session.scalar(select(func.count(Container.id)).where(
                (Container.quantity < 0) | (Container.reserved < 0) | (Container.reserved > Container.quantity))) == 0
        assert ledger_mismatches() == []
