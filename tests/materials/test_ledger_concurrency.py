"""The stock ledger under pressure: parallel issues on PostgreSQL, and a journal the database keeps append-only."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from pharmos.core.actor import Actor
from pharmos.core.db import get_database, read_session
from pharmos.core.errors import Conflict
from pharmos.materials import service as materials
from pharmos.materials.ledger import reconcile
from pharmos.materials.models import Container, StockMovement, StockReservation
from pharmos.materials.views import LotView
from tests.concurrency import all_at_once
from tests.materials import factories as f


def released_container(site: dict[str, Actor], quantity: str = "10") -> tuple[Actor, LotView]:
    qa = site["qa.li"]
    clerk = f.warehouse_user(site)
    f.location_tree(clerk)
    f.approved_material(clerk, qa, "RM-0001")
    supplier = f.approved_supplier(clerk, qa, ["RM-0001"])
    return clerk, f.released_lot(site, material_code="RM-0001", supplier_id=supplier.id, quantity=quantity,
                                 receiver=clerk)


@pytest.mark.postgres
def test_parallel_issues_of_one_container_never_overdraw_it(pg_url: str) -> None:
    # given one released container holding 10 kg
    clerk, lot = released_container(f.site_people())
    number = lot.containers[0].number
    # when 8 clerks issue 2 kg each at the same moment
    issued, refused = all_at_once(8, lambda: materials.issue_stock(
        actor=clerk, container_number=number, quantity="2", unit="kg", reference="BO-2026-0001"))
    # then exactly 5 issues go through and 3 are refused as conflicts on the quantity
    assert len(issued) == 5
    assert len(refused) == 3 and all(isinstance(e, Conflict) for e in refused), refused
    assert all(p.field == "quantity" for e in refused for p in e.fields)  # type: ignore[attr-defined]
    # and the container is exactly empty, with 5 issues on the ledger that agree with it
    with read_session() as session:
        assert session.scalar(select(Container.quantity).where(Container.number == number)) == Decimal(0)
        assert session.scalar(select(func.count(StockMovement.id)).where(StockMovement.kind == "issue")) == 5
        assert reconcile(session) == []


@pytest.mark.postgres
def test_parallel_allocations_never_reserve_more_than_is_there(pg_url: str) -> None:
    # given one released container holding 10 kg
    clerk, lot = released_container(f.site_people())
    # when 8 planners allocate and reserve 2 kg each at the same moment
    allocations, errors = all_at_once(8, lambda: materials.allocate(
        actor=clerk, material_code="RM-0001", quantity="2", unit="kg", purpose="BO-2026-0002", reserve=True))
    # then 5 are covered, 3 come back short, and the container is exactly fully reserved
    assert errors == []
    assert sorted(a.shortfall for a in allocations) == [Decimal(0)] * 5 + [Decimal(2)] * 3
    with read_session() as session:
        container = session.scalar(select(Container).where(Container.id == lot.containers[0].id))
        assert container is not None and (container.quantity, container.reserved) == (Decimal(10), Decimal(10))
        assert session.scalar(select(func.sum(StockReservation.quantity))) == Decimal(10)


@pytest.mark.requirement("21 CFR 11.10(e)")
@pytest.mark.parametrize("statement", [
    "UPDATE stock_movement SET quantity_change = quantity_change * 2",
    "DELETE FROM stock_movement",
])
def test_the_database_refuses_to_rewrite_the_stock_ledger(site: dict[str, Actor], statement: str) -> None:
    # given a receipt on the ledger
    released_container(site)
    # when anyone edits or deletes ledger rows behind the services' back
    with pytest.raises(DBAPIError) as refused, get_database().write_engine.begin() as connection:
        connection.execute(text(statement))
    # then the database itself refuses, and the entry is unchanged
    assert "append-only" in str(refused.value)
    with read_session() as session:
        assert session.scalar(select(func.count(StockMovement.id))) == 1
        assert session.scalar(select(StockMovement.quantity_change)) == Decimal(10)
        assert reconcile(session) == []


def test_the_database_refuses_a_negative_balance_written_directly(site: dict[str, Actor]) -> None:
    # given a container of 10 kg
    released_container(site)
    # when its balance is written below zero directly
    with pytest.raises(DBAPIError), get_database().write_engine.begin() as connection:
        connection.execute(text("UPDATE lot_container SET quantity = -1"))
    # then the CHECK constraint refuses it
    with read_session() as session:
        assert session.scalar(select(Container.quantity)) == Decimal(10)
