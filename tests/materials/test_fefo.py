"""First-expiry-first-out allocation: which containers a batch gets, in which order, and what is reserved."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from pharmos.core.actor import Actor
from pharmos.core.clock import site_today
from pharmos.core.db import read_session
from pharmos.core.errors import PermissionDenied, ValidationFailed
from pharmos.materials import service as materials
from pharmos.materials.ledger import reconcile
from pharmos.materials.models import StockReservation
from pharmos.materials.views import Allocation, LotView
from tests.conftest import password_of
from tests.materials import factories as f

TODAY = site_today()


class Shelf:
    """Stock of RM-0001 in every situation FEFO has to tell apart."""

    def __init__(self, site: dict[str, Actor], *, min_remaining: int = 0) -> None:
        self.site = site
        self.qa = site["qa.li"]
        self.clerk = f.warehouse_user(site)
        f.location_tree(self.clerk)
        f.approved_material(self.clerk, self.qa, "RM-0001", min_remaining_shelf_life_days=min_remaining)
        self.supplier = f.approved_supplier(self.clerk, self.qa, ["RM-0001"])

    def released(self, days: int, quantity: str, containers: int = 1, **kw: Any) -> LotView:
        return f.released_lot(self.site, material_code="RM-0001", supplier_id=self.supplier.id, quantity=quantity,
                              containers=containers, expires_on=TODAY + timedelta(days=days), receiver=self.clerk,
                              **kw)

    def quarantined(self, days: int, quantity: str) -> LotView:
        return f.received_lot(self.site, material_code="RM-0001", supplier_id=self.supplier.id, quantity=quantity,
                              expires_on=TODAY + timedelta(days=days), receiver=self.clerk)

    def allocate(self, quantity: str, **kw: Any) -> Allocation:
        return materials.allocate(actor=self.clerk, material_code="RM-0001", quantity=quantity, unit="kg",
                                  purpose="BO-2026-0001", **kw)


def stock_of_every_kind(shelf: Shelf) -> dict[str, LotView]:
    """Usable and unusable lots, with ties in expiry and partly reserved stock."""
    lots = {
        "late": shelf.released(400, "20", containers=2),
        "mid": shelf.released(200, "9", containers=3),
        "mid_tie": shelf.released(200, "4"),
        "short_dated": shelf.released(20, "5"),
        "short_dated_approved": shelf.released(25, "2"),
        "quarantined": shelf.quarantined(100, "50"),
        "retest_overdue": shelf.released(150, "50", retest_on=TODAY + timedelta(days=60)),
        "partly_reserved": shelf.released(120, "6"),
    }
    materials.approve_short_dated_use(actor=shelf.qa, lot_id=lots["short_dated_approved"].id,
                                      password=password_of("qa.li"), reason="Used this week")
    f.as_time_passes(lots["retest_overdue"].id, retest_on=TODAY)
    materials.reserve_stock(actor=shelf.clerk, container_number=lots["partly_reserved"].containers[0].number,
                            quantity="2", unit="kg", purpose="BO-2026-0000")
    return lots


@pytest.mark.requirement("EU GMP Part I 5.61")
def test_allocation_takes_the_earliest_usable_expiry_first(site: dict[str, Actor]) -> None:
    # given stock of every kind
    shelf = Shelf(site)
    lots = stock_of_every_kind(shelf)
    # when 14 kg are allocated
    allocation = shelf.allocate("14")
    # then the approved short-dated lot comes first, then the free part of the partly reserved lot, then the
    # 200-day lots in lot-number and container order; quarantined, retest-overdue, unapproved short-dated are skipped
    assert [(line.lot_number, line.container_number, line.quantity) for line in allocation.lines] == [
        (lots["short_dated_approved"].number, lots["short_dated_approved"].containers[0].number, Decimal(2)),
        (lots["partly_reserved"].number, lots["partly_reserved"].containers[0].number, Decimal(4)),
        (lots["mid"].number, lots["mid"].containers[0].number, Decimal(3)),
        (lots["mid"].number, lots["mid"].containers[1].number, Decimal(3)),
        (lots["mid"].number, lots["mid"].containers[2].number, Decimal(2)),
    ]
    assert (allocation.requested, allocation.unit, allocation.shortfall) == (Decimal(14), "kg", Decimal(0))
    assert all(line.reservation_id is None for line in allocation.lines)
    assert allocation.lines[0].location_code == "RCV-01"


def test_allocation_reports_a_shortfall_and_respects_minimum_remaining_shelf_life(site: dict[str, Actor]) -> None:
    # given a material needing 100 days of shelf life left, with lots at 50, 150 and 300 days
    shelf = Shelf(site, min_remaining=100)
    shelf.released(50, "10")
    at_150 = shelf.released(150, "10")
    at_300 = shelf.released(300, "10")
    # when 25 kg are asked for
    allocation = shelf.allocate("25")
    # then the 50-day lot is not offered and 5 kg are short
    assert [line.lot_number for line in allocation.lines] == [at_150.number, at_300.number]
    assert allocation.shortfall == Decimal(5)
    # and a batch may ask for more remaining shelf life, never for less than the material's minimum
    assert [line.lot_number for line in shelf.allocate("25", min_remaining_days=200).lines] == [at_300.number]
    assert [line.lot_number for line in shelf.allocate("25", min_remaining_days=0).lines] == [
        at_150.number, at_300.number]
    with pytest.raises(ValidationFailed) as bad:
        shelf.allocate("5", min_remaining_days=-1)
    assert {p.field for p in bad.value.fields} == {"min_remaining_days"}


def test_allocation_with_reserve_holds_the_stock_for_the_batch(site: dict[str, Actor]) -> None:
    # given two usable lots of 10 kg
    shelf = Shelf(site)
    first = shelf.released(100, "10")
    second = shelf.released(200, "10")
    # when 12 kg are allocated and reserved for BO-2026-0001
    reserved = materials.allocate(actor=shelf.clerk, material_code="RM-0001", quantity="12000", unit="g",
                                  purpose="BO-2026-0001", reserve=True)
    # then each line carries its reservation and the lots' available stock drops
    assert [(line.lot_number, line.quantity) for line in reserved.lines] == [
        (first.number, Decimal(10)), (second.number, Decimal(2))]
    assert all(line.reservation_id is not None for line in reserved.lines)
    after = {lot.id: lot for lot in (materials.get_lot(actor=shelf.qa, lot_id=x.id) for x in (first, second))}
    assert (after[first.id].reserved, after[first.id].available) == (Decimal(10), Decimal(0))
    assert (after[second.id].reserved, after[second.id].available) == (Decimal(2), Decimal(8))
    # and the next allocation only sees what is left
    assert [(line.lot_number, line.quantity) for line in shelf.allocate("20").lines] == [(second.number, Decimal(8))]
    # and the batch issues against its reservation without tripping FEFO
    issued = materials.issue_stock(actor=shelf.clerk, container_number=reserved.lines[1].container_number,
                                   quantity="2", unit="kg", reference="BO-2026-0001",
                                   reservation_id=reserved.lines[1].reservation_id)
    assert not issued.fefo_override
    with read_session() as session:
        assert reconcile(session) == []


def test_allocation_needs_the_right_and_an_approved_material(site: dict[str, Actor]) -> None:
    # given a material still in draft
    shelf = Shelf(site)
    materials.draft_material(actor=shelf.clerk, code="RM-0009", name_zh="草稿物料", material_type="excipient",
                             base_unit="kg", storage_condition="15-25C")
    # then allocating it is refused naming the material, and a viewer may not allocate at all
    with pytest.raises(ValidationFailed) as draft:
        materials.allocate(actor=shelf.clerk, material_code="RM-0009", quantity="1", unit="kg", purpose="BO-1")
    assert {p.field for p in draft.value.fields} == {"material_code"}
    with pytest.raises(PermissionDenied):
        materials.allocate(actor=site["viewer.chen"], material_code="RM-0001", quantity="1", unit="kg", purpose="X")


# ---------------------------------------------------------------- FEFO as a property


@pytest.fixture
def shelf(sqlite_url: str) -> dict[str, Any]:
    """Built once per test; Hypothesis's examples share it (each cleans up its reservations)."""
    return {}


def usable_stock(shelf: Shelf, min_remaining: int | None) -> dict[str, tuple[tuple[date, str, str], Decimal]]:
    """The oracle: container → (FEFO key, free quantity) of every usable container, from the lot pages' own rule."""
    found = {}
    for summary in materials.list_lots(actor=shelf.qa, material_code="RM-0001", limit=100):
        lot = materials.get_lot(actor=shelf.qa, lot_id=summary.id)
        if lot.use_problems or (lot.expires_on - TODAY).days < (min_remaining or 0):
            continue
        for container in lot.containers:
            if container.available > 0:
                found[container.number] = ((lot.expires_on, lot.number, container.number), container.available)
    return found


@pytest.mark.requirement("EU GMP Part I 5.61")
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(requested=st.decimals("0.001", "120", places=3), min_remaining=st.sampled_from([None, 0, 100, 150, 300]),
       reserve=st.booleans())
def test_fefo_allocation_is_ordered_usable_and_complete(shelf: dict[str, Any], requested: Decimal,
                                                        min_remaining: int | None, reserve: bool) -> None:
    # given stock of every kind (made on the first example)
    if not shelf:
        shelf["shelf"] = Shelf(f.site_people())
        stock_of_every_kind(shelf["shelf"])
    current: Shelf = shelf["shelf"]
    usable = usable_stock(current, min_remaining)
    # when any quantity is allocated, with or without reserving
    allocation = current.allocate(str(requested), min_remaining_days=min_remaining, reserve=reserve)
    # then only usable containers are offered, never more than each has free
    for line in allocation.lines:
        assert line.container_number in usable
        assert Decimal(0) < line.quantity <= usable[line.container_number][1]
    # and in first-expiry-first-out order (expiry, then lot, then container)
    keys = [usable[line.container_number][0] for line in allocation.lines]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    # and greedily: every container but the last is emptied, and no earlier usable one is passed over
    assert all(line.quantity == usable[line.container_number][1] for line in allocation.lines[:-1])
    if allocation.lines:
        last = keys[-1]
        assert {n for n, (key, _) in usable.items() if key <= last} == {line.container_number
                                                                          for line in allocation.lines}
    # and the total is what was asked for, or all that is usable
    total = sum((line.quantity for line in allocation.lines), Decimal(0))
    assert total == min(requested, sum((free for _, free in usable.values()), Decimal(0)))
    assert allocation.shortfall == requested - total
    if reserve:
        with read_session() as session:
            assert session.scalar(select(func.count(StockReservation.id)).where(
                StockReservation.id.in_([line.reservation_id for line in allocation.lines]))) == len(
                allocation.lines)
        for line in allocation.lines:
            assert line.reservation_id is not None
            materials.cancel_reservation(actor=current.clerk, reservation_id=line.reservation_id,
                                         reason="Property example done")
