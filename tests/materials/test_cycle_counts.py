"""Cycle counts: list what should be there, count it, and post the variances only after someone else approves."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from pharmos.compliance.audit import count_entries
from pharmos.compliance.lifecycle import apply_transition
from pharmos.core.actor import Actor
from pharmos.core.db import read_session
from pharmos.core.errors import Conflict, NotFound, PermissionDenied, TransitionRefused, ValidationFailed
from pharmos.materials import service as materials
from pharmos.materials.ledger import reconcile
from pharmos.materials.models import CycleCount, CycleCountLine, StockMovement
from pharmos.materials.views import CycleCountView, LotView
from tests.conftest import password_of
from tests.materials import factories as f

# Service rules: SQLite is enough; this module's API tests run on both back-ends.
pytestmark = pytest.mark.sqlite_only


class Warehouse:
    """Three containers in the ambient bin, one in the cold room, one emptied; a counter who is also QA."""

    def __init__(self, site: dict[str, Actor]) -> None:
        self.site = site
        self.qa = site["qa.li"]
        self.clerk = f.warehouse_user(site)
        f.location_tree(self.clerk)
        f.approved_material(self.clerk, self.qa, "RM-0001")
        f.approved_material(self.clerk, self.qa, "RM-0002", storage_condition="2-8C")
        supplier = f.approved_supplier(self.clerk, self.qa, ["RM-0001", "RM-0002"])
        # A counter with QA rights too, so only the separation of duties stops self-approval.
        self.counter = f.person("wh.qa.zhou", ["warehouse", "qa_specialist"], "周敏")
        self.ambient: LotView = f.received_lot(site, material_code="RM-0001", supplier_id=supplier.id,
                                               quantity="30", containers=3, receiver=self.clerk)
        self.cold: LotView = f.received_lot(site, material_code="RM-0002", supplier_id=supplier.id, quantity="8",
                                            receiver=self.clerk, transport_min_c="4", transport_max_c="6")
        self.empty: LotView = f.received_lot(site, material_code="RM-0001", supplier_id=supplier.id, quantity="1",
                                             receiver=self.clerk)
        for container in self.ambient.containers:
            materials.put_away(actor=self.clerk, container_number=container.number, to_location_code="AMB-A01")
        materials.put_away(actor=self.clerk, container_number=self.cold.containers[0].number,
                           to_location_code="CR-A01")
        materials.adjust_stock(actor=self.clerk, container_number=self.empty.containers[0].number, change="-1",
                               unit="kg", reason="Used up in sampling")

    def count_all(self, count: CycleCountView, found: dict[str, str]) -> CycleCountView:
        for line in count.lines:
            count = materials.record_count(actor=self.counter, count_id=count.id,
                                           container_number=line.container_number,
                                           counted=found.get(line.container_number, str(line.expected)))
        return count

    def transition(self, actor: Actor, count: CycleCountView, name: str, **kw: Any) -> str:
        return apply_transition(actor=actor, collection="cycle-counts", record_id=count.id, name=name,
                                password=password_of(actor.username), **kw)


@pytest.fixture
def warehouse(site: dict[str, Actor]) -> Warehouse:
    return Warehouse(site)


def movements() -> int:
    with read_session() as session:
        return session.scalar(select(func.count(StockMovement.id))) or 0


def test_a_count_lists_every_container_holding_stock_under_the_location(warehouse: Warehouse) -> None:
    # when a count of the cold-room bin is opened
    cold = materials.open_cycle_count(actor=warehouse.clerk, location_code="CR-A01")
    # then it lists only that bin's container
    assert [line.container_number for line in cold.lines] == [warehouse.cold.containers[0].number]
    apply_transition(actor=warehouse.clerk, collection="cycle-counts", record_id=cold.id, name="cancel",
                     reason="Opened by mistake")
    # when a count of the whole warehouse is opened
    count = materials.open_cycle_count(actor=warehouse.clerk, location_code="WH1")
    # then every container with stock below it is listed with its expected quantity; the emptied one is not
    assert count.state == "open" and count.number.startswith("CC-") and count.location_code == "WH1"
    assert {(line.container_number, line.expected, line.counted) for line in count.lines} == {
        *((c.number, Decimal(10), None) for c in warehouse.ambient.containers),
        (warehouse.cold.containers[0].number, Decimal(8), None)}


@pytest.mark.requirement("21 CFR 11.10(g)")
def test_variances_post_only_after_someone_else_approves(warehouse: Warehouse) -> None:
    # given a count of the ambient bin where one container is 0.5 kg short and one 0.2 kg over
    count = materials.open_cycle_count(actor=warehouse.counter, location_code="AMB")
    short, over, right = (c.number for c in warehouse.ambient.containers)
    count = warehouse.count_all(count, {short: "9.5", over: "10.2"})
    # then the variances show before anything is posted
    assert {line.container_number: line.variance for line in count.lines} == {
        short: Decimal("-0.5"), over: Decimal("0.2"), right: Decimal(0)}
    # when the counter submits with a signature
    before = movements()
    assert warehouse.transition(warehouse.counter, count, "submit", meaning="performed") == "submitted"
    assert movements() == before
    # then the counter cannot approve their own count, even holding the right to
    with pytest.raises(TransitionRefused) as own:
        warehouse.transition(warehouse.counter, count, "approve", meaning="approved")
    assert "author" in str(own.value)
    assert movements() == before
    # when QA approves
    assert warehouse.transition(warehouse.qa, count, "approve", meaning="approved") == "approved"
    # then the two variances are posted as adjustments referencing the count, and the ledger agrees
    posted = materials.list_movements(actor=warehouse.qa, kind="adjustment", after_id=0)
    posted = [m for m in posted if m.reference == count.number]
    assert {(m.container_number, m.quantity_change) for m in posted} == {
        (short, Decimal("-0.5")), (over, Decimal("0.2"))}
    lot = materials.get_lot(actor=warehouse.qa, lot_id=warehouse.ambient.id)
    assert {c.number: c.quantity for c in lot.containers} == {short: Decimal("9.5"), over: Decimal("10.2"),
                                                              right: Decimal(10)}
    with read_session() as session:
        assert reconcile(session) == []
    assert materials.get_cycle_count(actor=warehouse.qa, count_id=count.id).signatures


def test_a_count_goes_back_for_recount_and_counts_only_while_open(warehouse: Warehouse) -> None:
    # given a submitted count
    count = materials.open_cycle_count(actor=warehouse.counter, location_code="CR")
    count = warehouse.count_all(count, {warehouse.cold.containers[0].number: "7"})
    warehouse.transition(warehouse.counter, count, "submit", meaning="performed")
    # then it cannot be changed while submitted
    with pytest.raises(Conflict):
        materials.record_count(actor=warehouse.counter, count_id=count.id,
                               container_number=warehouse.cold.containers[0].number, counted="8")
    # when QA sends it back for recount with a reason
    apply_transition(actor=warehouse.qa, collection="cycle-counts", record_id=count.id, name="recount",
                     reason="Check the second shelf")
    # then it is open again and the recount is recorded
    recounted = materials.record_count(actor=warehouse.counter, count_id=count.id,
                                       container_number=warehouse.cold.containers[0].number, counted="8")
    assert (recounted.state, recounted.lines[0].variance) == ("open", Decimal(0))


def test_submit_needs_every_container_counted(warehouse: Warehouse) -> None:
    # given a count with nothing recorded
    count = materials.open_cycle_count(actor=warehouse.counter, location_code="AMB-A01")
    # when it is submitted
    with pytest.raises(TransitionRefused) as refused:
        warehouse.transition(warehouse.counter, count, "submit", meaning="performed")
    # then the guard says why
    assert "counted" in str(refused.value)


@pytest.mark.parametrize(("call", "field"), [
    pytest.param(lambda w, count, number: materials.record_count(
        actor=w.counter, count_id=count.id, container_number=number, counted="-1"), "counted", id="negative count"),
    pytest.param(lambda w, count, number: materials.record_count(
        actor=w.counter, count_id=count.id, container_number=number, counted="ten"), "counted", id="not a number"),
    pytest.param(lambda w, count, number: materials.record_count(
        actor=w.counter, count_id=count.id, container_number=w.cold.containers[0].number, counted="1"),
        "container_number", id="container not on the count"),
    pytest.param(lambda w, count, number: materials.open_cycle_count(actor=w.counter, location_code="FRZ"),
                 "location_code", id="nothing to count"),
    pytest.param(lambda w, count, number: materials.open_cycle_count(actor=w.counter, location_code="WH9"),
                 "location_code", id="unknown location"),
])
def test_bad_count_input_is_refused_naming_the_field_and_writes_nothing(warehouse: Warehouse, call: Any,
                                                                        field: str) -> None:
    # given an open count of the ambient bin
    count = materials.open_cycle_count(actor=warehouse.counter, location_code="AMB-A01")
    with read_session() as session:
        before = (count_entries(session), session.scalar(select(func.count(CycleCount.id))),
                  session.scalar(select(CycleCountLine.counted).where(CycleCountLine.count_id == count.id).limit(1)))
    # when a bad input is given
    with pytest.raises(ValidationFailed) as refused:
        call(warehouse, count, count.lines[0].container_number)
    # then it names the field and nothing is written
    assert {p.field for p in refused.value.fields} == {field}
    with read_session() as session:
        assert before == (count_entries(session), session.scalar(select(func.count(CycleCount.id))),
                          session.scalar(select(CycleCountLine.counted).where(
                              CycleCountLine.count_id == count.id).limit(1)))


def test_one_open_count_per_container_and_who_may_count(warehouse: Warehouse) -> None:
    # given an open count of the warehouse
    first = materials.open_cycle_count(actor=warehouse.counter, location_code="WH1")
    # then a second count over the same containers is refused until the first is finished
    with pytest.raises(Conflict) as busy:
        materials.open_cycle_count(actor=warehouse.counter, location_code="AMB")
    assert first.number in str(busy.value)
    # and a viewer may neither open nor record a count
    viewer = warehouse.site["viewer.chen"]
    with pytest.raises(PermissionDenied):
        materials.open_cycle_count(actor=viewer, location_code="CR")
    with pytest.raises(PermissionDenied):
        materials.record_count(actor=viewer, count_id=first.id, container_number="x", counted="1")
    # and the list and page show it
    assert [c.number for c in materials.list_cycle_counts(actor=viewer, state="open")] == [first.number]
    with pytest.raises(NotFound):
        materials.get_cycle_count(actor=viewer, count_id=999_999)
