"""Spare parts: the part master, the append-only stock ledger, and issuing parts to work orders."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from pharmos.compliance.audit import count_entries
from pharmos.core.actor import Actor
from pharmos.core.db import get_database, read_session
from pharmos.core.errors import Conflict, DomainError, NotFound, PermissionDenied, ValidationFailed
from pharmos.equipment import service as equipment
from pharmos.equipment.models import SparePart, SparePartFit, SparePartMovement
from pharmos.equipment.views import EquipmentView, WorkOrderView
from tests.concurrency import all_at_once
from tests.equipment import factories as f
from tests.materials.factories import site_people

# Service rules: SQLite is enough; this module's API tests run on both back-ends.
pytestmark = pytest.mark.sqlite_only


def footprint() -> dict[str, Any]:
    """Everything a refused spare-part call must leave untouched."""
    with read_session() as session:
        return {
            "parts": sorted(session.execute(select(SparePart.code, SparePart.on_hand, SparePart.reorder_point,
                                                   SparePart.name_zh, SparePart.active)).all()),
            "fits": sorted(session.execute(select(SparePartFit.part_id, SparePartFit.equipment_id)).all()),
            "movements": session.scalar(select(func.count(SparePartMovement.id))),
            "audit": count_entries(session),
        }


def ledger_mismatches() -> list[tuple[str, Decimal, Decimal]]:
    """Parts whose cached on-hand differs from the sum of their movements."""
    with read_session() as session:
        totals = dict(session.execute(select(SparePartMovement.part_id, func.sum(SparePartMovement.change))
                                      .group_by(SparePartMovement.part_id)).all())
        return [(code, Decimal(on_hand), Decimal(totals.get(part_id, 0)))
                for part_id, code, on_hand in session.execute(select(SparePart.id, SparePart.code, SparePart.on_hand))
                if Decimal(on_hand) != Decimal(totals.get(part_id, 0))]


def fields_of(error: pytest.ExceptionInfo[Any]) -> set[str]:
    return {p.field for p in error.value.fields}


class Workshop:
    """A bioreactor with a work order in progress, and a seal that fits it (10 in stock)."""

    def __init__(self) -> None:
        self.manager = f.engineer()
        self.technician = f.technician()
        self.reactor: EquipmentView = f.new_equipment("bioreactor")
        self.other: EquipmentView = f.new_equipment("bioreactor", serial_number="BR-OTHER")
        self.order = self.work_order(self.reactor)
        self.seal = equipment.create_spare_part(actor=self.manager, code="SP-SEAL-001", name_zh="机械密封",
                                                name_en="Mechanical seal", reorder_point=2,
                                                storage_location="备件库 A-01", fits=[self.reactor.number])
        equipment.receive_spare_parts(actor=self.manager, part_id=self.seal.id, quantity=10, reason="PO-2026-0101")

    def work_order(self, target: EquipmentView, *, start: bool = True) -> WorkOrderView:
        order = equipment.create_work_order(actor=self.manager, equipment_id=target.id, title="更换机械密封")
        if start:
            f.sign(self.technician, "work-orders", order.id, "start")
        return order

    def on_hand(self, part_id: int) -> Decimal:
        return equipment.get_spare_part(actor=f.SETUP, part_id=part_id).on_hand


@pytest.fixture
def shop(site: dict[str, Actor]) -> Workshop:
    """On SQLite and PostgreSQL."""
    return Workshop()


# ---------------------------------------------------------------- part master


def test_a_spare_part_is_created_with_the_equipment_it_fits_and_updated_with_a_reason(shop: Workshop) -> None:
    # given the seal created for the reactor and received
    seal = equipment.get_spare_part(actor=f.SETUP, code="sp-seal-001")
    assert (seal.code, seal.unit, seal.on_hand, seal.fits, seal.low_stock) == (
        "SP-SEAL-001", "pc", Decimal(10), (shop.reactor.number,), False)
    # when it is updated to fit the other reactor too and its reorder point raised
    updated = equipment.update_spare_part(actor=shop.manager, part_id=seal.id, reason="Same seal on BR-002",
                                          fits=[shop.other.number, shop.reactor.number], reorder_point="12")
    # then both reactors are listed, it counts as low stock, and the lists filter by both
    assert set(updated.fits) == {shop.reactor.number, shop.other.number} and updated.low_stock
    assert [p.code for p in equipment.list_spare_parts(actor=f.SETUP, low_stock=True)] == ["SP-SEAL-001"]
    assert equipment.list_spare_parts(actor=f.SETUP, low_stock=False) == []
    assert [p.code for p in equipment.list_spare_parts(actor=f.SETUP, equipment_id=shop.other.id)] == ["SP-SEAL-001"]
    assert [p.code for p in equipment.list_spare_parts(actor=f.SETUP, query="密封")] == ["SP-SEAL-001"]
    # and dropping a fit removes it
    narrowed = equipment.update_spare_part(actor=shop.manager, part_id=seal.id, reason="BR-002 uses another seal",
                                           fits=[shop.reactor.number])
    assert narrowed.fits == (shop.reactor.number,)
    assert equipment.list_spare_parts(actor=f.SETUP, equipment_id=shop.other.id) == []


BAD_PARTS = [
    pytest.param({"code": "sp seal!"}, "code", ValidationFailed, id="code with spaces and signs"),
    pytest.param({"code": "SP-SEAL-001"}, "code", Conflict, id="code already used"),
    pytest.param({"name_zh": " "}, "name_zh", ValidationFailed, id="no Chinese name"),
    pytest.param({"unit": ""}, "unit", ValidationFailed, id="no unit"),
    pytest.param({"reorder_point": "-1"}, "reorder_point", ValidationFailed, id="negative reorder point"),
    pytest.param({"reorder_point": "lots"}, "reorder_point", ValidationFailed, id="reorder point not a number"),
    pytest.param({"fits": ["EQ-NOPE-001"]}, "fits[0]", ValidationFailed, id="fits unknown equipment"),
]


@pytest.mark.parametrize(("overrides", "field", "error"), BAD_PARTS)
def test_a_bad_spare_part_is_refused_naming_the_field(shop: Workshop, overrides: dict[str, Any], field: str,
                                                      error: type[DomainError]) -> None:
    # given the workshop's parts
    before = footprint()
    fields: dict[str, Any] = {"code": "SP-GASKET-001", "name_zh": "垫片"} | overrides
    # when a part with one bad input is created
    with pytest.raises(error) as refused:
        equipment.create_spare_part(actor=shop.manager, **fields)
    # then the field is named, and nothing is written
    assert fields_of(refused) == {field}
    assert footprint() == before


def test_an_update_without_a_reason_is_refused(shop: Workshop) -> None:
    # given the seal
    before = footprint()
    # when it is changed without a reason
    with pytest.raises(ValidationFailed) as refused:
        equipment.update_spare_part(actor=shop.manager, part_id=shop.seal.id, reason=" ", name_zh="密封件")
    # then the reason is named, and nothing is written
    assert fields_of(refused) == {"reason"}
    assert footprint() == before


# ---------------------------------------------------------------- receipts and adjustments


def test_receipts_and_adjustments_are_journalled_and_never_go_below_zero(shop: Workshop) -> None:
    # given ten seals on hand
    # when five more are received and three found damaged
    equipment.receive_spare_parts(actor=shop.manager, part_id=shop.seal.id, quantity="5")
    adjusted = equipment.adjust_spare_parts(actor=shop.manager, part_id=shop.seal.id, change="-3",
                                            reason="Found damaged at stock take")
    # then twelve are on hand and the ledger shows every movement
    assert adjusted.on_hand == Decimal(12)
    moves = equipment.list_spare_part_movements(actor=f.SETUP, part_id=shop.seal.id)
    assert [(m.kind, m.change, m.reason) for m in moves] == [
        ("receipt", Decimal(10), "PO-2026-0101"), ("receipt", Decimal(5), ""),
        ("adjustment", Decimal(-3), "Found damaged at stock take")]
    assert equipment.list_spare_part_movements(actor=f.SETUP, part_id=shop.seal.id, after_id=moves[1].id) == moves[2:]
    assert ledger_mismatches() == []


@pytest.mark.parametrize(("call", "field", "error"), [
    pytest.param("receive", "quantity", ValidationFailed, id="receipt of zero"),
    pytest.param("receive_nan", "quantity", ValidationFailed, id="receipt not finite"),
    pytest.param("adjust_zero", "change", ValidationFailed, id="adjustment of zero"),
    pytest.param("adjust_no_reason", "reason", ValidationFailed, id="adjustment without reason"),
    pytest.param("adjust_below_zero", "change", Conflict, id="adjustment below zero"),
])
def test_a_bad_receipt_or_adjustment_is_refused_naming_the_field(shop: Workshop, call: str, field: str,
                                                                 error: type[DomainError]) -> None:
    # given ten seals on hand
    before = footprint()
    calls: dict[str, Callable[[], Any]] = {
        "receive": lambda: equipment.receive_spare_parts(actor=shop.manager, part_id=shop.seal.id, quantity=0),
        "receive_nan": lambda: equipment.receive_spare_parts(actor=shop.manager, part_id=shop.seal.id,
                                                             quantity="NaN"),
        "adjust_zero": lambda: equipment.adjust_spare_parts(actor=shop.manager, part_id=shop.seal.id, change="0",
                                                            reason="count"),
        "adjust_no_reason": lambda: equipment.adjust_spare_parts(actor=shop.manager, part_id=shop.seal.id,
                                                                 change="-1", reason=""),
        "adjust_below_zero": lambda: equipment.adjust_spare_parts(actor=shop.manager, part_id=shop.seal.id,
                                                                  change="-11", reason="Lost"),
    }
    # when the bad call is made
    with pytest.raises(error) as refused:
        calls[call]()
    # then the field is named, and nothing is written
    assert fields_of(refused) == {field}
    assert footprint() == before


# ---------------------------------------------------------------- work orders


def test_parts_issued_to_a_work_order_show_on_it_and_unused_ones_come_back(shop: Workshop) -> None:
    # given the reactor's work order in progress and ten seals
    # when the technician takes three seals for it
    issued = equipment.issue_spare_part_to_work_order(actor=shop.technician, work_order_id=shop.order.id,
                                                      part_code="sp-seal-001", quantity="3")
    # then the work order lists them and seven are left on the shelf
    assert [(p.part_code, p.quantity, p.actor) for p in issued.parts] == [
        ("SP-SEAL-001", Decimal(3), shop.technician.username)]
    assert shop.on_hand(shop.seal.id) == Decimal(7)
    # when one unused seal is brought back
    returned = equipment.return_spare_part_from_work_order(actor=shop.technician, work_order_id=shop.order.id,
                                                           part_code="SP-SEAL-001", quantity=1)
    # then the order keeps the history, the shelf has eight, and the ledger names the order
    assert [p.quantity for p in returned.parts] == [Decimal(3), Decimal(-1)]
    assert shop.on_hand(shop.seal.id) == Decimal(8)
    moves = equipment.list_spare_part_movements(actor=f.SETUP, part_id=shop.seal.id)
    assert [(m.kind, m.change, m.work_order_number) for m in moves[1:]] == [
        ("issue", Decimal(-3), shop.order.number), ("return", Decimal(1), shop.order.number)]
    assert ledger_mismatches() == []


@pytest.mark.requirement("EU GMP Part I 3.34")
@pytest.mark.parametrize(("case", "field", "error"), [
    pytest.param("order_not_started", "work_order_id", Conflict, id="work order not in progress"),
    pytest.param("part_not_fitting", "part_code", ValidationFailed, id="part does not fit the equipment"),
    pytest.param("unknown_part", "part_code", ValidationFailed, id="unknown part"),
    pytest.param("more_than_on_hand", "quantity", Conflict, id="more than on hand"),
    pytest.param("zero", "quantity", ValidationFailed, id="zero quantity"),
    pytest.param("return_more_than_issued", "quantity", ValidationFailed, id="return more than issued"),
])
def test_a_bad_issue_or_return_is_refused_naming_the_field(shop: Workshop, case: str, field: str,
                                                           error: type[DomainError]) -> None:
    # given a planned work order, one in progress on another reactor, and two seals issued to the main order
    planned = shop.work_order(shop.reactor, start=False)
    elsewhere = shop.work_order(shop.other)
    equipment.issue_spare_part_to_work_order(actor=shop.technician, work_order_id=shop.order.id,
                                             part_code="SP-SEAL-001", quantity=2)
    before = footprint()
    issue = equipment.issue_spare_part_to_work_order
    calls: dict[str, Callable[[], Any]] = {
        "order_not_started": lambda: issue(actor=shop.technician, work_order_id=planned.id, part_code="SP-SEAL-001",
                                           quantity=1),
        "part_not_fitting": lambda: issue(actor=shop.technician, work_order_id=elsewhere.id,
                                          part_code="SP-SEAL-001", quantity=1),
        "unknown_part": lambda: issue(actor=shop.technician, work_order_id=shop.order.id, part_code="SP-NOPE",
                                      quantity=1),
        "more_than_on_hand": lambda: issue(actor=shop.technician, work_order_id=shop.order.id,
                                           part_code="SP-SEAL-001", quantity=9),
        "zero": lambda: issue(actor=shop.technician, work_order_id=shop.order.id, part_code="SP-SEAL-001",
                              quantity="0"),
        "return_more_than_issued": lambda: equipment.return_spare_part_from_work_order(
            actor=shop.technician, work_order_id=shop.order.id, part_code="SP-SEAL-001", quantity=3),
    }
    # when the bad call is made
    with pytest.raises(error) as refused:
        calls[case]()
    # then the field is named (with how many are on hand where that is the problem), and nothing is written
    assert fields_of(refused) == {field}
    if case == "more_than_on_hand":
        assert "Only 8 pc on hand" in refused.value.fields[0].message
    assert footprint() == before


def test_only_maintenance_issues_and_manages_parts(shop: Workshop, site: dict[str, Actor]) -> None:
    # given an operator and a viewer
    before = footprint()
    # when they try to issue or receive parts
    with pytest.raises(PermissionDenied):
        equipment.issue_spare_part_to_work_order(actor=site["op.liu"], work_order_id=shop.order.id,
                                                 part_code="SP-SEAL-001", quantity=1)
    with pytest.raises(PermissionDenied):
        equipment.receive_spare_parts(actor=site["viewer.chen"], part_id=shop.seal.id, quantity=1)
    # then nothing is written, though both may look the part up
    assert footprint() == before
    assert equipment.get_spare_part(actor=site["viewer.chen"], part_id=shop.seal.id).on_hand == Decimal(10)
    with pytest.raises(NotFound):
        equipment.get_spare_part(actor=site["viewer.chen"], part_id=9999)


# ---------------------------------------------------------------- the ledger is append-only and never overdrawn


@pytest.mark.requirement("21 CFR 11.10(e)")
@pytest.mark.parametrize("statement", [
    "UPDATE spare_part_movement SET change = change * 2",
    "DELETE FROM spare_part_movement",
])
def test_the_database_refuses_to_rewrite_the_spare_part_ledger(shop: Workshop, statement: str) -> None:
    # given a receipt on the ledger
    before = footprint()
    # when anyone edits or deletes ledger rows behind the services' back
    with pytest.raises(DBAPIError) as refused, get_database().write_engine.begin() as connection:
        connection.execute(text(statement))
    # then the database itself refuses, and the ledger still agrees with the balance
    assert "append-only" in str(refused.value)
    assert footprint() == before
    assert ledger_mismatches() == []


@pytest.mark.postgres
def test_parallel_issues_of_one_part_never_overdraw_it(pg_url: str) -> None:
    # given ten seals on hand and a work order in progress
    site_people()
    shop = Workshop()
    # when 8 technicians take 3 seals each at the same moment
    issued, refused = all_at_once(8, lambda: equipment.issue_spare_part_to_work_order(
        actor=shop.technician, work_order_id=shop.order.id, part_code="SP-SEAL-001", quantity=3))
    # then exactly 3 issues go through and 5 are refused as conflicts on the quantity
    assert len(issued) == 3, refused
    assert len(refused) == 5 and all(isinstance(e, Conflict) for e in refused), refused
    assert all(p.field == "quantity" for e in refused for p in e.fields)  # type: ignore[attr-defined]
    # and one seal is left, with 3 issues on the ledger that agree with it
    assert shop.on_hand(shop.seal.id) == Decimal(1)
    with read_session() as session:
        assert session.scalar(select(func.count(SparePartMovement.id)).where(SparePartMovement.kind == "issue")) == 3
    assert ledger_mismatches() == []


_codes = itertools.count(1)
operation = st.one_of(
    st.tuples(st.just("receive"), st.decimals(min_value=Decimal("0.5"), max_value=Decimal(20), places=1)),
    st.tuples(st.just("issue"), st.decimals(min_value=Decimal("0.1"), max_value=Decimal(20), places=1)),
    st.tuples(st.just("adjust"), st.decimals(min_value=Decimal(-20), max_value=Decimal(20), places=1)),
    st.tuples(st.just("return"), st.decimals(min_value=Decimal("0.1"), max_value=Decimal(5), places=1)),
)


@pytest.fixture
def lite_shop(sqlite_url: str) -> Workshop:
    """SQLite only, for the property test."""
    site_people()
    return Workshop()


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(operations=st.lists(operation, min_size=1, max_size=12))
def test_no_sequence_of_movements_makes_on_hand_negative_or_breaks_the_ledger(
        lite_shop: Workshop, operations: list[tuple[str, Decimal]]) -> None:
    # given a fresh part for each example, fitting the reactor whose work order is in progress
    code = f"SP-P-{next(_codes):04d}"
    part = equipment.create_spare_part(actor=lite_shop.manager, code=code, name_zh="属性测试备件",
                                       fits=[lite_shop.reactor.number])
    for kind, value in operations:
        before = footprint()
        # when each movement is tried
        try:
            if kind == "receive":
                equipment.receive_spare_parts(actor=lite_shop.manager, part_id=part.id, quantity=value)
            elif kind == "issue":
                equipment.issue_spare_part_to_work_order(actor=lite_shop.technician,
                                                         work_order_id=lite_shop.order.id, part_code=code,
                                                         quantity=value)
            elif kind == "adjust":
                equipment.adjust_spare_parts(actor=lite_shop.manager, part_id=part.id, change=value,
                                             reason="Property test")
            else:
                equipment.return_spare_part_from_work_order(actor=lite_shop.technician,
                                                            work_order_id=lite_shop.order.id, part_code=code,
                                                            quantity=value)
        except DomainError:
            # then a refused movement writes nothing at all
            assert footprint() == before
        # and no balance is ever negative, and every cached balance equals the sum of its movements
        with read_session() as session:
            assert session.scalar(select(func.count(SparePart.id)).where(SparePart.on_hand < 0)) == 0
        assert ledger_mismatches() == []
