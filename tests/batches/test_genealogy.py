"""Genealogy: backward and forward traces over several levels, by lot or container number, bounded by depth."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from pharmos.batches import service as batches
from pharmos.batches.genealogy import link_lots
from pharmos.batches.models import Batch, GenealogyLink
from pharmos.core.actor import Actor
from pharmos.core.db import read_session, transaction
from pharmos.core.errors import NotFound, ValidationFailed
from pharmos.materials import service as materials
from pharmos.materials.views import LotView
from tests.materials.factories import (
    SETUP,
    approved_material,
    approved_supplier,
    location_tree,
    person,
    received_lot,
    warehouse_user,
)

pytestmark = pytest.mark.sqlite_only


def _link(batch_number: str, parent: LotView, child: LotView, quantity: str = "1") -> None:
    # The batch rows of these links are not the point here: a batch made elsewhere (another site's
    # record, a migration) is known by number only, which is what the trace reports.
    with transaction(actor=SETUP, reason="test arrangement: genealogy") as session:
        link_lots(session, batch=Batch(number=batch_number), parent_lot_id=parent.id, parent_lot_number=parent.number,
                  child_lot_id=child.id, child_lot_number=child.number, quantity=Decimal(quantity), unit="kg")


@pytest.fixture
def tree(site: dict[str, Actor]) -> dict[str, LotView]:
    """Supplier lots A and B → intermediate I (batch DS01) → finished F (batch DP01); C unrelated."""
    clerk = warehouse_user(site)
    location_tree(clerk)
    approved_material(clerk, site["qa.li"], "RM-0001")
    approved_material(clerk, site["qa.li"], "DS-0001", shelf_life_days=730, material_type="intermediate")
    approved_material(clerk, site["qa.li"], "DP-0001", shelf_life_days=730, material_type="finished_product")
    supplier = approved_supplier(clerk, site["qa.li"], ["RM-0001"])
    maker = person("sup.ma", "production_supervisor")
    lots = {name: received_lot(site, material_code="RM-0001", supplier_id=supplier.id, supplier_lot=f"S-{name}")
            for name in ("A", "B", "C")}
    lots["I"] = materials.record_production_output(actor=maker, material_code="DS-0001", quantity="2", unit="kg",
                                                   batch_number="DS01")
    lots["F"] = materials.record_production_output(actor=maker, material_code="DP-0001", quantity="2", unit="kg",
                                                   batch_number="DP01")
    _link("DS01", lots["A"], lots["I"])
    _link("DS01", lots["B"], lots["I"])
    _link("DP01", lots["I"], lots["F"])
    return lots


def test_backward_trace_finds_every_level_with_its_batch(site: dict[str, Actor], tree: dict[str, LotView]) -> None:
    # when
    view = batches.trace(actor=site["viewer.chen"], lot=tree["F"].number, direction="backward")
    # then
    assert [(n.lot_number, n.depth, n.via_batch) for n in view.nodes] == [
        (tree["F"].number, 0, None), (tree["I"].number, 1, "DP01"),
        *sorted([(tree["A"].number, 2, "DS01"), (tree["B"].number, 2, "DS01")])]
    assert view.batches == ("DP01", "DS01") and not view.truncated
    supplier_node = next(n for n in view.nodes if n.lot_number == tree["A"].number)
    assert (supplier_node.material_code, supplier_node.supplier_lot, supplier_node.state) == (
        "RM-0001", "S-A", "quarantine")


def test_forward_trace_from_a_container_number(site: dict[str, Actor], tree: dict[str, LotView]) -> None:
    # when
    view = batches.trace(actor=site["viewer.chen"], lot=tree["A"].containers[0].number, direction="forward")
    # then
    assert view.lot_number == tree["A"].number
    assert [(n.lot_number, n.depth) for n in view.nodes] == [
        (tree["A"].number, 0), (tree["I"].number, 1), (tree["F"].number, 2)]


def test_an_unlinked_lot_traces_to_itself(site: dict[str, Actor], tree: dict[str, LotView]) -> None:
    # when
    view = batches.trace(actor=site["viewer.chen"], lot=tree["C"].number, direction="forward")
    # then
    assert [n.lot_number for n in view.nodes] == [tree["C"].number] and view.batches == ()


def test_depth_bounds_the_trace_and_says_it_was_cut(site: dict[str, Actor], tree: dict[str, LotView]) -> None:
    # when
    view = batches.trace(actor=site["viewer.chen"], lot=tree["F"].number, direction="backward", max_depth=1)
    # then
    assert [n.lot_number for n in view.nodes] == [tree["F"].number, tree["I"].number]
    assert view.truncated


def test_bad_trace_requests_name_their_fields(site: dict[str, Actor], tree: dict[str, LotView]) -> None:
    # when
    with pytest.raises(ValidationFailed) as refused:
        batches.trace(actor=site["viewer.chen"], lot=" ", direction="sideways", max_depth=0)
    with pytest.raises(NotFound):
        batches.trace(actor=site["viewer.chen"], lot="LOT-000000-999", direction="backward")
    # then
    assert {p.field for p in refused.value.fields} == {"lot", "direction", "max_depth"}


def test_the_same_edge_in_one_batch_adds_up(site: dict[str, Actor], tree: dict[str, LotView]) -> None:
    # when
    _link("DS01", tree["A"], tree["I"], quantity="0.5")
    # then
    with read_session() as session:
        rows = session.execute(select(GenealogyLink.quantity).where(
            GenealogyLink.parent_lot_id == tree["A"].id, GenealogyLink.child_lot_id == tree["I"].id)).all()
    assert [Decimal(str(r[0])) for r in rows] == [Decimal("1.5")]
