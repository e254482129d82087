"""Receiving deliveries into quarantined lots, and the lot lifecycle QA and QC drive from there."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from pharmos.compliance.audit import AuditEntry, count_entries
from pharmos.compliance.lifecycle import apply_transition
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today
from pharmos.core.db import read_session
from pharmos.core.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    SignatureRefused,
    TransitionRefused,
    ValidationFailed,
)
from pharmos.materials import service as materials
from pharmos.materials.ledger import reconcile
from pharmos.materials.models import Container, Lot, Receipt, StockMovement
from pharmos.materials.receiving import OrderLineInput, ReceiptLineInput, split_evenly
from tests.conftest import password_of
from tests.materials import factories as f

# Service rules: SQLite is enough; this module's API tests run on both back-ends.
pytestmark = pytest.mark.sqlite_only

TODAY = site_today()
IN_A_YEAR = TODAY + timedelta(days=365)


@pytest.fixture
def lite(sqlite_url: str) -> dict[str, Actor]:
    """The site's people on SQLite only, for the rule tests."""
    return f.site_people()


def _counts() -> dict[str, int]:
    with read_session() as session:
        return {"lots": session.scalar(select(func.count(Lot.id))) or 0,
                "containers": session.scalar(select(func.count(Container.id))) or 0,
                "movements": session.scalar(select(func.count(StockMovement.id))) or 0,
                "receipts": session.scalar(select(func.count(Receipt.id))) or 0,
                "audit": count_entries(session)}


def _fields(error: pytest.ExceptionInfo[Any]) -> set[str]:
    return {p.field for p in error.value.fields}


class Dock:
    """A warehouse with one approved material (and a cold-chain one) from one approved supplier."""

    def __init__(self, site: dict[str, Actor]) -> None:
        self.site = site
        self.qa = site["qa.li"]
        self.clerk = f.warehouse_user(site)
        self.locations = f.location_tree(self.clerk)
        self.material = f.approved_material(self.clerk, self.qa, "RM-0001", pack_units={"drum": "25"},
                                            retest_interval_days=180)
        self.cold = f.approved_material(self.clerk, self.qa, "RM-0002", storage_condition="2-8C", base_unit="L")
        self.supplier = f.approved_supplier(self.clerk, self.qa, ["RM-0001", "RM-0002"])

    def order(self, *lines: OrderLineInput, supplier_id: int | None = None) -> Any:
        lines = lines or (OrderLineInput("RM-0001", "100", "kg", TODAY + timedelta(days=7)),)
        return materials.create_purchase_order(actor=self.clerk, supplier_id=supplier_id or self.supplier.id,
                                               lines=list(lines))

    def line(self, order: Any, index: int = 0, **kw: Any) -> ReceiptLineInput:
        values: dict[str, Any] = {"supplier_lot": "SL-1", "expires_on": IN_A_YEAR, "quantity": "100", "unit": "kg"}
        values.update(kw)
        return ReceiptLineInput(order_line_id=order.lines[index].id, **values)

    def receive(self, order: Any, *lines: ReceiptLineInput, **kw: Any) -> Any:
        kw.setdefault("location_code", "RCV-01")
        return materials.receive_delivery(actor=kw.pop("actor", self.clerk), order_id=order.id,
                                          lines=list(lines or [self.line(order)]), **kw)


# ---------------------------------------------------------------- the main path, both back-ends


@pytest.mark.requirement("ALCOA+ attributable: unique record identifiers")
def test_a_delivery_becomes_a_quarantined_lot_with_numbered_containers_and_ledger_entries(
        site: dict[str, Actor]) -> None:
    # given
    dock = Dock(site)
    order = dock.order()
    # when
    receipt = dock.receive(order, dock.line(order, quantity="4", unit="drum", containers=3,
                                            manufactured_on=TODAY - timedelta(days=10)),
                           delivery_note="DN-778")
    # then
    assert receipt.number == f"RC-{TODAY:%Y}-0001"
    assert order.number == f"PO-{TODAY:%Y}-0001"
    (lot,) = receipt.lots
    assert lot.number == f"LOT-{TODAY:%y%m%d}-001"
    assert lot.state == "quarantine"
    assert lot.quantity_received == Decimal(100) and lot.unit == "kg"
    assert lot.received_by == dock.clerk.username
    assert lot.retest_on == TODAY - timedelta(days=10) + timedelta(days=180)
    assert [c.number for c in lot.containers] == [f"{lot.number}-C01", f"{lot.number}-C02", f"{lot.number}-C03"]
    assert [c.quantity for c in lot.containers] == [Decimal("33.333333"), Decimal("33.333333"),
                                                    Decimal("33.333334")]
    assert {c.location_code for c in lot.containers} == {"RCV-01"}
    assert lot.use_problems == (f"Lot {lot.number} is quarantine, not released.",)
    with read_session() as session:
        movements = session.scalars(select(StockMovement).where(StockMovement.lot_id == lot.id)).all()
        assert [(m.kind, m.reference) for m in movements] == [("receipt", receipt.number)] * 3
        assert sum(m.quantity_change for m in movements) == Decimal(100)
        assert reconcile(session) == []
        row = session.get(Lot, lot.id)
        assert row is not None and row.received_by_id == dock.clerk.user_id
    assert materials.get_purchase_order(actor=dock.clerk, order_id=order.id).lines[0].received_base == Decimal(100)


@pytest.mark.requirement("EU GMP Annex 11 §14")
def test_the_receiver_cannot_release_the_lot_even_with_the_release_right(site: dict[str, Actor]) -> None:
    # given: a QA specialist who also receives goods
    dock = Dock(site)
    receiver = f.person("qa.wu", ["qa_specialist", "warehouse"])
    lot = f.received_lot(site, material_code="RM-0001", supplier_id=dock.supplier.id, receiver=receiver)
    apply_transition(actor=f.qc_user(site), collection="lots", record_id=lot.id, name="start_testing")
    before = _counts()
    # when / then
    with pytest.raises(TransitionRefused, match="author"):
        apply_transition(actor=receiver, collection="lots", record_id=lot.id, name="release",
                         password=password_of(receiver.username), meaning="released")
    assert materials.get_lot(actor=dock.qa, lot_id=lot.id).state == "under_test"
    assert _counts() == before


@pytest.mark.requirement("21 CFR 11.200(a)(1)")
def test_release_with_a_wrong_password_is_refused_and_changes_nothing(site: dict[str, Actor]) -> None:
    # given
    dock = Dock(site)
    lot = f.received_lot(site, material_code="RM-0001", supplier_id=dock.supplier.id)
    apply_transition(actor=f.qc_user(site), collection="lots", record_id=lot.id, name="start_testing")
    before = _counts()
    # when
    with pytest.raises(SignatureRefused):
        apply_transition(actor=dock.qa, collection="lots", record_id=lot.id, name="release",
                         password="not-her-password", meaning="released")
    # then: the lot is unchanged; only the failed signing is recorded, against the user
    after = materials.get_lot(actor=dock.qa, lot_id=lot.id)
    assert after.state == "under_test" and after.signatures == ()
    assert {k: v for k, v in _counts().items() if k != "audit"} == {k: v for k, v in before.items() if k != "audit"}
    with read_session() as session:
        new = session.execute(select(AuditEntry.record_type, AuditEntry.action)
                              .order_by(AuditEntry.id).offset(before["audit"])).all()
    assert ("user", "signature_failed") in new and {record_type for record_type, _ in new} == {"user"}


@pytest.mark.requirement("21 CFR 11.50(a)")
def test_qa_releases_holds_and_rejects_lots_with_signatures(site: dict[str, Actor]) -> None:
    # given
    dock = Dock(site)
    released = f.released_lot(site, material_code="RM-0001", supplier_id=dock.supplier.id)
    other = f.received_lot(site, material_code="RM-0001", supplier_id=dock.supplier.id, supplier_lot="SL-2")
    # when
    apply_transition(actor=dock.qa, collection="lots", record_id=released.id, name="hold",
                     password=password_of("qa.li"), meaning="held", reason="Customer complaint CMP-7")
    apply_transition(actor=dock.qa, collection="lots", record_id=other.id, name="reject",
                     password=password_of("qa.li"), meaning="rejected", reason="Damaged drums")
    # then
    assert released.state == "released" and released.use_problems == ()
    assert [s.meaning for s in released.signatures] == ["released"]
    held = materials.get_lot(actor=dock.qa, lot_id=released.id)
    assert held.state == "quarantine" and [s.meaning for s in held.signatures] == ["released", "held"]
    assert all(s.valid for s in held.signatures)
    rejected = materials.get_lot(actor=dock.qa, lot_id=other.id)
    assert rejected.state == "rejected" and rejected.signatures[0].printed_name == "李娜"
    assert materials.lot_use_problems(lot_id=other.id) == [f"Lot {other.number} is rejected, not released."]
    # the status history is read from the audit trail, and shown to a viewer without audit rights
    history = materials.get_lot(actor=site["viewer.chen"], lot_id=released.id).history
    assert [(h.from_state, h.to_state) for h in history] == [
        (None, "quarantine"), ("quarantine", "under_test"), ("under_test", "released"), ("released", "quarantine")]
    assert history[-1].actor == "qa.li" and history[-1].reason == "Customer complaint CMP-7"


def test_a_cold_chain_excursion_flags_the_lot_for_qa_before_release(site: dict[str, Actor]) -> None:
    # given
    dock = Dock(site)
    # when: the logger shows 11 °C for a 2–8 °C material
    lot = f.received_lot(site, material_code="RM-0002", supplier_id=dock.supplier.id, unit="L",
                         location_code="RCV-01", transport_min_c="3.5", transport_max_c="11")
    # then: flagged, alert in the audit trail, release blocked until QA assessed it
    assert "excursion" in lot.qa_flag and not lot.qa_flag_assessed
    with read_session() as session:
        alerts = session.scalars(select(AuditEntry.changes).where(AuditEntry.record_type == "lot",
                                                                  AuditEntry.record_id == str(lot.id),
                                                                  AuditEntry.action == "qa_alert")).all()
    assert len(alerts) == 1 and "11" in alerts[0]
    assert [v.number for v in materials.list_lots(actor=dock.qa, flagged=True)] == [lot.number]
    apply_transition(actor=f.qc_user(site), collection="lots", record_id=lot.id, name="start_testing")
    with pytest.raises(TransitionRefused, match="assess"):
        apply_transition(actor=dock.qa, collection="lots", record_id=lot.id, name="release",
                         password=password_of("qa.li"), meaning="released")
    # when: QA assesses the excursion with a signature
    assessed = materials.assess_qa_flag(actor=dock.qa, lot_id=lot.id, password=password_of("qa.li"),
                                        reason="Stability data cover 24 h at 11 °C")
    # then
    assert assessed.qa_flag_assessed and [s.meaning for s in assessed.signatures] == ["reviewed"]
    assert materials.list_lots(actor=dock.qa, flagged=True) == []
    apply_transition(actor=dock.qa, collection="lots", record_id=lot.id, name="release",
                     password=password_of("qa.li"), meaning="released")
    assert materials.get_lot(actor=dock.qa, lot_id=lot.id).state == "released"


# ---------------------------------------------------------------- bad inputs: clear error, nothing written


def _bad_receipts() -> list[Any]:
    def line(**kw: Any) -> Any:
        return lambda dock, order: dock.receive(order, dock.line(order, **kw))

    def two(first: dict[str, Any], second: dict[str, Any]) -> Any:
        return lambda dock, order: dock.receive(order, dock.line(order, **first), dock.line(order, **second))

    return [
        pytest.param(line(unit="box"), "lines[0].unit", id="unknown unit"),
        pytest.param(line(unit="L"), "lines[0].unit", id="unit of another dimension"),
        pytest.param(line(quantity="0"), "lines[0].quantity", id="zero quantity"),
        pytest.param(line(quantity="-5"), "lines[0].quantity", id="negative quantity"),
        pytest.param(line(quantity="lots"), "lines[0].quantity", id="not a number"),
        pytest.param(line(containers=0), "lines[0].containers", id="no containers"),
        pytest.param(line(manufactured_on=IN_A_YEAR, expires_on=IN_A_YEAR - timedelta(days=1)),
                     "lines[0].expires_on", id="expiry before manufacture"),
        pytest.param(line(manufactured_on=TODAY - timedelta(days=3), expires_on=TODAY - timedelta(days=3)),
                     "lines[0].expires_on", id="expiry equal to manufacture"),
        pytest.param(line(manufactured_on=TODAY + timedelta(days=2)), "lines[0].manufactured_on",
                     id="manufactured in the future"),
        pytest.param(line(expires_on=TODAY), "lines[0].expires_on", id="already expired"),
        pytest.param(line(expires_on=None), "lines[0].expires_on", id="no expiry"),
        pytest.param(line(retest_on=IN_A_YEAR + timedelta(days=1)), "lines[0].retest_on", id="retest after expiry"),
        pytest.param(line(supplier_lot="  "), "lines[0].supplier_lot", id="no supplier lot"),
        pytest.param(line(quantity="111"), "lines[0].over_tolerance_reason", id="over tolerance without reason"),
        pytest.param(two({"quantity": "60"}, {"quantity": "60", "supplier_lot": "SL-2"}),
                     "lines[1].over_tolerance_reason", id="over tolerance across lines"),
        pytest.param(two({"quantity": "40"}, {"quantity": "40"}), "lines[1].supplier_lot",
                     id="duplicate supplier lot"),
        pytest.param(lambda dock, order: dock.receive(order, replace(dock.line(order), order_line_id=987654)),
                     "lines[0].order_line_id", id="line of another order"),
        pytest.param(lambda dock, order: dock.receive(order, location_code="CR"), "location_code",
                     id="zone instead of bin"),
        pytest.param(lambda dock, order: dock.receive(order, location_code="NOWHERE"), "location_code",
                     id="unknown location"),
        pytest.param(lambda dock, order: dock.receive(order, transport_min_c="x"), "transport_min_c",
                     id="temperature not a number"),
    ]


@pytest.mark.parametrize(("attempt", "field"), _bad_receipts())
def test_a_bad_receipt_names_the_field_and_writes_nothing(lite: dict[str, Actor], attempt: Any, field: str) -> None:
    # given
    dock = Dock(lite)
    order = dock.order()
    before = _counts()
    # when
    with pytest.raises(ValidationFailed) as refused:
        attempt(dock, order)
    # then
    assert field in _fields(refused), refused.value.fields
    assert _counts() == before
    assert materials.get_purchase_order(actor=dock.clerk, order_id=order.id).lines[0].received_base == 0


@pytest.mark.parametrize("status", ["disqualified", None])
def test_receiving_from_a_supplier_not_approved_for_the_material_is_refused(lite: dict[str, Actor],
                                                                           status: str | None) -> None:
    # given: a second supplier, disqualified for RM-0001 or not on the list at all
    dock = Dock(lite)
    other = materials.create_supplier(actor=dock.clerk, code="SUP-009", name="华东试剂")
    if status:
        materials.set_supplier_approval(actor=dock.qa, supplier_id=other.id, material_code="RM-0001",
                                        status=status, reason="Audit findings")
    order = dock.order(supplier_id=other.id)
    before = _counts()
    # when
    with pytest.raises(ValidationFailed) as refused:
        dock.receive(order)
    # then
    assert _fields(refused) == {"lines[0].order_line_id"}
    assert ("disqualified" if status else "not on the approved supplier list") in refused.value.fields[0].message
    assert _counts() == before


def test_a_conditional_supplier_is_received_but_flagged_for_qa(lite: dict[str, Actor]) -> None:
    # given
    dock = Dock(lite)
    materials.set_supplier_approval(actor=dock.qa, supplier_id=dock.supplier.id, material_code="RM-0001",
                                    status="conditional", note="CAPA open", reason="Audit observation")
    # when
    (lot,) = dock.receive(dock.order()).lots
    # then
    assert lot.qa_flag.startswith("Conditional supplier SUP-001") and "CAPA open" in lot.qa_flag
    assert lot.qa_flag_assessed is False


def test_cold_chain_material_without_transport_record_is_refused(lite: dict[str, Actor]) -> None:
    # given
    dock = Dock(lite)
    order = dock.order(OrderLineInput("RM-0002", "20", "L", TODAY))
    before = _counts()
    # when
    with pytest.raises(ValidationFailed) as refused:
        dock.receive(order, dock.line(order, quantity="20", unit="L"), transport_min_c="4")
    # then
    assert _fields(refused) == {"transport_max_c"}
    assert _counts() == before


def test_a_cold_chain_delivery_within_range_is_not_flagged(lite: dict[str, Actor]) -> None:
    # given
    dock = Dock(lite)
    order = dock.order(OrderLineInput("RM-0002", "20", "L", TODAY))
    # when
    (lot,) = dock.receive(order, dock.line(order, quantity="20000", unit="mL"), transport_min_c="2.5",
                          transport_max_c="7.9", logger_id="TL-0042").lots
    # then
    assert lot.qa_flag == "" and lot.qa_flag_assessed and lot.quantity_received == Decimal(20)


def test_over_tolerance_with_a_reason_is_received_and_the_reason_audited(lite: dict[str, Actor]) -> None:
    # given
    dock = Dock(lite)
    order = dock.order()
    # when
    (lot,) = dock.receive(order, dock.line(order, quantity="125", over_tolerance_reason="Supplier packs 5 drums")
                          ).lots
    # then
    assert lot.quantity_received == Decimal(125)
    with read_session() as session:
        event = session.scalar(select(AuditEntry.changes).where(AuditEntry.action == "over_tolerance_receipt"))
    assert event is not None and "Supplier packs 5 drums" in event


def test_nothing_is_received_against_a_closed_order_and_an_order_with_receipts_cannot_be_cancelled(
        lite: dict[str, Actor]) -> None:
    # given
    dock = Dock(lite)
    order = dock.order()
    dock.receive(order, dock.line(order, quantity="50"))
    # when / then
    with pytest.raises(Conflict, match="close it instead"):
        materials.cancel_purchase_order(actor=dock.clerk, order_id=order.id, reason="Not needed")
    with pytest.raises(ValidationFailed):
        materials.close_purchase_order(actor=dock.clerk, order_id=order.id, reason=" ")
    closed = materials.close_purchase_order(actor=dock.clerk, order_id=order.id, reason="Balance not needed")
    assert closed.status == "closed"
    with pytest.raises(ValidationFailed) as refused:
        dock.receive(order, dock.line(order, quantity="50", supplier_lot="SL-2"))
    assert _fields(refused) == {"order_id"}
    unused = dock.order()
    assert materials.cancel_purchase_order(actor=dock.clerk, order_id=unused.id, reason="Duplicate").status == \
        "cancelled"
    assert [o.number for o in materials.list_purchase_orders(actor=dock.clerk, status="open")] == []
    # a scanned number (any case) finds its order, whatever its status
    assert [o.id for o in materials.list_purchase_orders(actor=dock.clerk, number=f" {order.number.lower()} ")] == \
        [order.id]


@pytest.mark.parametrize(("line", "field"), [
    pytest.param(OrderLineInput("RM-9999", "5", "kg", TODAY), "lines[0].material_code", id="unknown material"),
    pytest.param(OrderLineInput("RM-0001", "5", "each", TODAY), "lines[0].unit", id="unit mismatch"),
    pytest.param(OrderLineInput("RM-0001", "0", "kg", TODAY), "lines[0].quantity", id="zero quantity"),
    pytest.param(OrderLineInput("RM-0001", "5", "kg", None), "lines[0].due_on", id="no due date"),
    pytest.param(OrderLineInput("RM-0001", "5", "kg", TODAY, tolerance_pct="-1"), "lines[0].tolerance_pct",
                 id="negative tolerance"),
])
def test_a_bad_purchase_order_line_is_refused(lite: dict[str, Actor], line: OrderLineInput, field: str) -> None:
    # given
    dock = Dock(lite)
    # when
    with pytest.raises(ValidationFailed) as refused:
        dock.order(line)
    # then
    assert _fields(refused) == {field}
    assert materials.list_purchase_orders(actor=dock.clerk) == []


def test_an_order_needs_an_approved_material_version(lite: dict[str, Actor]) -> None:
    # given: a material still in draft
    dock = Dock(lite)
    materials.draft_material(actor=dock.clerk, code="RM-0100", name_zh="草稿物料", material_type="excipient",
                             base_unit="kg", storage_condition="15-25C")
    # when / then
    with pytest.raises(ValidationFailed) as refused:
        dock.order(OrderLineInput("RM-0100", "1", "kg", TODAY))
    assert _fields(refused) == {"lines[0].material_code"}


def test_only_the_warehouse_receives(lite: dict[str, Actor]) -> None:
    # given
    dock = Dock(lite)
    order = dock.order()
    # when / then
    with pytest.raises(PermissionDenied):
        dock.receive(order, actor=lite["qa.li"])


# ---------------------------------------------------------------- finding and listing lots


def test_a_scanned_lot_or_container_number_opens_the_lot(lite: dict[str, Actor]) -> None:
    # given
    dock = Dock(lite)
    (lot,) = dock.receive(dock.order(), ).lots
    viewer = lite["viewer.chen"]
    # when / then
    assert materials.find_by_scan(actor=viewer, code=lot.number).id == lot.id
    assert materials.find_by_scan(actor=viewer, code=f" {lot.containers[0].number.lower()}\n").id == lot.id
    with pytest.raises(NotFound):
        materials.find_by_scan(actor=viewer, code="LOT-000000-999")
    with pytest.raises(ValidationFailed):
        materials.find_by_scan(actor=viewer, code="  ")


def test_lots_are_listed_by_state_material_and_expiry(lite: dict[str, Actor]) -> None:
    # given
    dock = Dock(lite)
    soon = f.received_lot(lite, material_code="RM-0001", supplier_id=dock.supplier.id,
                          expires_on=TODAY + timedelta(days=20), receiver=dock.clerk)
    late = f.received_lot(lite, material_code="RM-0001", supplier_id=dock.supplier.id, receiver=dock.clerk)
    apply_transition(actor=f.qc_user(lite), collection="lots", record_id=late.id, name="start_testing")
    gone = f.received_lot(lite, material_code="RM-0001", supplier_id=dock.supplier.id, receiver=dock.clerk)
    f.as_time_passes(gone.id, expires_on=TODAY - timedelta(days=1))
    # when / then: already expired is not "expiring"
    assert [v.id for v in materials.list_lots(actor=dock.clerk, expiring_within_days=30)] == [soon.id]
    assert [v.id for v in materials.list_lots(actor=dock.clerk, state="under_test")] == [late.id]
    assert [v.id for v in materials.list_lots(actor=dock.clerk, material_code="RM-0001", after_id=soon.id)] == \
        [late.id, gone.id]
    with pytest.raises(ValidationFailed):
        materials.list_lots(actor=dock.clerk, state="lost")
    assert [r.number for r in materials.list_receipts(actor=dock.clerk)] == [soon.receipt_number,
                                                                             late.receipt_number, gone.receipt_number]


# ---------------------------------------------------------------- may the lot be used?


def test_short_dated_lot_needs_qa_approval_which_the_receiver_cannot_give(lite: dict[str, Actor]) -> None:
    # given: a released lot with 20 days of shelf life left (the default window is 30)
    dock = Dock(lite)
    lot = f.released_lot(lite, material_code="RM-0001", supplier_id=dock.supplier.id,
                         expires_on=TODAY + timedelta(days=20))
    # then
    assert materials.lot_use_problems(lot_id=lot.id) == [
        f"Issuing a lot within 30 days of expiry needs QA approval (lot {lot.number} expires on "
        f"{(TODAY + timedelta(days=20)).isoformat()})."]
    # when: QA approves with a signature
    approved = materials.approve_short_dated_use(actor=lite["qa.zhang"], lot_id=lot.id,
                                                 password=password_of("qa.zhang"), reason="Batch B-17 uses it now")
    # then
    assert approved.short_dated_use_approved and approved.use_problems == ()
    assert [s.meaning for s in approved.signatures] == ["released", "approved"]
    assert materials.lot_use_problems(lot_id=lot.id, at=TODAY + timedelta(days=20)) == [
        f"Lot {lot.number} expired on {(TODAY + timedelta(days=20)).isoformat()}."]


def test_the_short_dated_window_is_a_controlled_setting(lite: dict[str, Actor]) -> None:
    # given
    dock = Dock(lite)
    lot = f.released_lot(lite, material_code="RM-0001", supplier_id=dock.supplier.id,
                         expires_on=TODAY + timedelta(days=20))
    # when
    f.effective_setting(lite, "materials.short_dated_days", "10")
    # then
    assert materials.lot_use_problems(lot_id=lot.id) == []


def test_the_receiver_cannot_approve_short_dated_use(lite: dict[str, Actor]) -> None:
    # given: a QA reviewer who received the lot
    dock = Dock(lite)
    receiver = f.person("qa.wu", ["qa_specialist", "warehouse"])
    lot = f.received_lot(lite, material_code="RM-0001", supplier_id=dock.supplier.id, receiver=receiver,
                         expires_on=TODAY + timedelta(days=20))
    before = _counts()
    # when / then
    with pytest.raises(SignatureRefused, match="author"):
        materials.approve_short_dated_use(actor=receiver, lot_id=lot.id, password=password_of("qa.wu"),
                                          reason="Needed")
    assert _counts() == before
    assert not materials.get_lot(actor=receiver, lot_id=lot.id).short_dated_use_approved


def test_minimum_remaining_shelf_life_of_the_material_blocks_use(lite: dict[str, Actor]) -> None:
    # given: the material wants 90 days left; the lot has 60
    dock = Dock(lite)
    f.approved_material(dock.clerk, dock.qa, "RM-0003", min_remaining_shelf_life_days=90)
    materials.set_supplier_approval(actor=dock.qa, supplier_id=dock.supplier.id, material_code="RM-0003",
                                    status="approved", reason="Qualified")
    lot = f.released_lot(lite, material_code="RM-0003", supplier_id=dock.supplier.id,
                         expires_on=TODAY + timedelta(days=60))
    # when
    problems = materials.lot_use_problems(lot_id=lot.id)
    # then
    assert problems == [f"Less than 90 days of shelf life remain for lot {lot.number} "
                        f"(expires on {(TODAY + timedelta(days=60)).isoformat()})."]


def test_a_lot_past_its_retest_date_cannot_be_used_or_released_until_qc_sets_a_new_date(
        lite: dict[str, Actor]) -> None:
    # given: a lot whose retest date is today
    dock = Dock(lite)
    lot = f.received_lot(lite, material_code="RM-0001", supplier_id=dock.supplier.id, retest_on=TODAY,
                         manufactured_on=TODAY - timedelta(days=200))
    qc = f.qc_user(lite)
    apply_transition(actor=qc, collection="lots", record_id=lot.id, name="start_testing")
    assert f"Retest of lot {lot.number} was due on {TODAY.isoformat()}." in materials.lot_use_problems(lot_id=lot.id)
    # when / then: release is refused
    with pytest.raises(TransitionRefused, match="retest"):
        apply_transition(actor=dock.qa, collection="lots", record_id=lot.id, name="release",
                         password=password_of("qa.li"), meaning="released")
    # when: QC sets a new retest date, QA releases
    for bad, field in ((TODAY, "retest_on"), (IN_A_YEAR + timedelta(days=1), "retest_on")):
        with pytest.raises(ValidationFailed) as refused:
            materials.set_retest_date(actor=qc, lot_id=lot.id, retest_on=bad, reason="Retest passed")
        assert _fields(refused) == {field}
    with pytest.raises(ValidationFailed):
        materials.set_retest_date(actor=qc, lot_id=lot.id, retest_on=TODAY + timedelta(days=90), reason="")
    renewed = materials.set_retest_date(actor=qc, lot_id=lot.id, retest_on=TODAY + timedelta(days=90),
                                        reason="Retest QC-2026-114 passed")
    apply_transition(actor=dock.qa, collection="lots", record_id=lot.id, name="release",
                     password=password_of("qa.li"), meaning="released")
    # then
    assert renewed.retest_on == TODAY + timedelta(days=90)
    assert materials.lot_use_problems(lot_id=lot.id) == []
    with pytest.raises(Conflict, match="under test"):
        materials.set_retest_date(actor=qc, lot_id=lot.id, retest_on=TODAY + timedelta(days=30), reason="Again")


def test_assessing_a_flag_needs_a_flag_and_the_right_password(lite: dict[str, Actor]) -> None:
    # given
    dock = Dock(lite)
    plain = f.received_lot(lite, material_code="RM-0001", supplier_id=dock.supplier.id, receiver=dock.clerk)
    materials.set_supplier_approval(actor=dock.qa, supplier_id=dock.supplier.id, material_code="RM-0001",
                                    status="conditional", reason="Audit observation")
    flagged = f.received_lot(lite, material_code="RM-0001", supplier_id=dock.supplier.id, receiver=dock.clerk)
    # when / then
    with pytest.raises(Conflict):
        materials.assess_qa_flag(actor=dock.qa, lot_id=plain.id, password=password_of("qa.li"), reason="ok")
    with pytest.raises(SignatureRefused):
        materials.assess_qa_flag(actor=dock.qa, lot_id=flagged.id, password="wrong", reason="ok")
    with pytest.raises(ValidationFailed):
        materials.assess_qa_flag(actor=dock.qa, lot_id=flagged.id, password=password_of("qa.li"), reason="")
    with pytest.raises(PermissionDenied):
        materials.assess_qa_flag(actor=dock.clerk, lot_id=flagged.id, password=password_of(dock.clerk.username),
                                 reason="ok")
    assert not materials.get_lot(actor=dock.qa, lot_id=flagged.id).qa_flag_assessed


# ---------------------------------------------------------------- pure rules


@pytest.mark.parametrize(("quantity", "containers", "shares"), [
    (Decimal(10), 1, [Decimal(10)]),
    (Decimal(10), 4, [Decimal("2.5")] * 4),
    (Decimal(1), 3, [Decimal("0.333333"), Decimal("0.333333"), Decimal("0.333334")]),
])
def test_quantity_is_split_evenly_with_the_remainder_on_the_last_container(
        quantity: Decimal, containers: int, shares: list[Decimal]) -> None:
    # given / when
    split = split_evenly(quantity, containers)
    # then
    assert split == shares and sum(split) == quantity


def test_use_problems_need_no_session_to_explain_themselves() -> None:
    # given
    from pharmos.materials.models import Material
    from pharmos.materials.receiving import use_problems_of
    lot = Lot(number="LOT-260101-001", state="released", expires_on=date(2026, 3, 1), retest_on=date(2026, 2, 1),
              short_dated_use_approved=False)
    material = Material(min_remaining_shelf_life_days=0)
    # when
    problems = use_problems_of(lot, material, at=date(2026, 2, 10), short_dated=30)
    # then
    assert problems == ["Retest of lot LOT-260101-001 was due on 2026-02-01.",
                        "Issuing a lot within 30 days of expiry needs QA approval (lot LOT-260101-001 expires on "
                        "2026-03-01)."]
