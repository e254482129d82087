"""A batch's output lot: recorded into quarantine, released or rejected with its batch, summarised for genealogy."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from pharmos.core.actor import Actor
from pharmos.core.clock import site_today
from pharmos.core.db import read_session
from pharmos.core.errors import Conflict, PermissionDenied, ValidationFailed
from pharmos.materials import service as materials
from pharmos.materials.models import Lot, StockMovement
from tests.materials.factories import (
    approved_material,
    approved_supplier,
    location_tree,
    person,
    released_lot,
    warehouse_user,
)

pytestmark = pytest.mark.sqlite_only


@pytest.fixture
def product(site: dict[str, Actor]) -> str:
    clerk = warehouse_user(site)
    location_tree(clerk)
    approved_material(clerk, site["qa.li"], code="DS-0001", storage_condition="2-8C", shelf_life_days=730,
                      retest_interval_days=180, material_type="intermediate")
    return "DS-0001"


def _lot_count() -> int:
    with read_session() as session:
        return session.scalar(select(func.count()).select_from(Lot)) or 0


def _movement_count() -> int:
    with read_session() as session:
        return session.scalar(select(func.count()).select_from(StockMovement)) or 0


def test_output_lot_is_quarantined_with_expiry_from_shelf_life(site: dict[str, Actor], product: str) -> None:
    # given
    operator = site["op.liu"]
    # when
    lot = materials.record_production_output(actor=operator, material_code=product, quantity="12.5", unit="kg",
                                             batch_number="B26110001")
    # then
    assert lot.state == "quarantine"
    assert lot.supplier_lot == "B26110001" and lot.supplier_id is None
    assert lot.expires_on == site_today() + timedelta(days=730)
    assert lot.retest_on == site_today() + timedelta(days=180)
    assert [c.quantity for c in lot.containers] == [Decimal("12.5")]
    assert lot.containers[0].location_code == "CR-A01"  # the only 2–8 °C bin
    movements = materials.list_movements(actor=operator, lot_id=lot.id)
    assert [(m.kind, m.reference) for m in movements] == [("receipt", "B26110001")]


def test_output_goes_to_the_named_bin_and_refuses_an_unfit_one(site: dict[str, Actor], product: str) -> None:
    # given
    operator, before = site["op.liu"], _lot_count()
    # when
    with pytest.raises(ValidationFailed) as refused:
        materials.record_production_output(actor=operator, material_code=product, quantity="1", unit="kg",
                                           batch_number="B26110002", location_code="AMB-A01")
    # then
    assert [p.field for p in refused.value.fields] == ["location_code"]
    assert _lot_count() == before


def test_bad_output_names_every_field_and_writes_nothing(site: dict[str, Actor], product: str) -> None:
    # given
    lots, movements = _lot_count(), _movement_count()
    # when
    with pytest.raises(ValidationFailed) as refused:
        materials.record_production_output(actor=site["op.liu"], material_code="NOPE", quantity="0", unit="kg",
                                           batch_number="B26110003",
                                           manufactured_on=site_today() + timedelta(days=2))
    # then
    assert {p.field for p in refused.value.fields} == {"quantity", "manufactured_on", "material_code"}
    assert (_lot_count(), _movement_count()) == (lots, movements)


def test_output_of_a_material_without_shelf_life_is_refused(site: dict[str, Actor]) -> None:
    # given
    clerk = warehouse_user(site)
    location_tree(clerk)
    approved_material(clerk, site["qa.li"], code="DS-0002")
    # when
    with pytest.raises(ValidationFailed) as refused:
        materials.record_production_output(actor=site["op.liu"], material_code="DS-0002", quantity="1", unit="kg",
                                           batch_number="B26110004")
    # then
    assert [p.field for p in refused.value.fields] == ["material_code"]


def test_one_output_lot_per_batch_and_only_producers_record_it(site: dict[str, Actor], product: str) -> None:
    # given
    materials.record_production_output(actor=site["op.liu"], material_code=product, quantity="1", unit="kg",
                                       batch_number="B26110005")
    # when / then
    with pytest.raises(Conflict):
        materials.record_production_output(actor=site["op.liu"], material_code=product, quantity="1", unit="kg",
                                           batch_number="B26110005")
    with pytest.raises(PermissionDenied):
        materials.record_production_output(actor=site["viewer.chen"], material_code=product, quantity="1",
                                           unit="kg", batch_number="B26110006")


def test_certify_releases_the_output_lot_with_the_batch_in_its_history(site: dict[str, Actor], product: str) -> None:
    # given
    lot = materials.record_production_output(actor=site["op.liu"], material_code=product, quantity="2", unit="kg",
                                             batch_number="B26110007")
    # when
    released = materials.certify_produced_lot(actor=site["qa.li"], lot_id=lot.id, batch_number="B26110007")
    # then
    assert released.state == "released"
    assert released.history[-1].to_state == "released"
    assert released.history[-1].reason == "Released with batch B26110007"
    assert materials.lot_use_problems(lot_id=lot.id) == []


def test_certify_refuses_another_batchs_or_a_suppliers_lot(site: dict[str, Actor], product: str) -> None:
    # given
    clerk = warehouse_user(site)
    own = materials.record_production_output(actor=site["op.liu"], material_code=product, quantity="2", unit="kg",
                                             batch_number="B26110008")
    supplier = approved_supplier(clerk, site["qa.li"], ["DS-0001"])
    bought = released_lot(site, material_code="DS-0001", supplier_id=supplier.id, location_code="CR-A01",
                          transport_min_c="3", transport_max_c="6")
    # when / then
    for lot_id in (own.id, bought.id):
        with pytest.raises(ValidationFailed) as refused:
            materials.certify_produced_lot(actor=site["qa.li"], lot_id=lot_id, batch_number="B26119999")
        assert [p.field for p in refused.value.fields] == ["lot_id"]
    assert materials.get_lot(actor=site["qa.li"], lot_id=own.id).state == "quarantine"
    with pytest.raises(PermissionDenied):
        materials.certify_produced_lot(actor=site["op.liu"], lot_id=own.id, batch_number="B26110008")


def test_reject_needs_a_reason_and_rejects_the_lot(site: dict[str, Actor], product: str) -> None:
    # given
    lot = materials.record_production_output(actor=site["op.liu"], material_code=product, quantity="2", unit="kg",
                                             batch_number="B26110009")
    # when
    with pytest.raises(ValidationFailed) as refused:
        materials.reject_produced_lot(actor=site["qa.li"], lot_id=lot.id, batch_number="B26110009", reason=" ")
    rejected = materials.reject_produced_lot(actor=site["qa.li"], lot_id=lot.id, batch_number="B26110009",
                                             reason="Bioburden out of limit")
    # then
    assert [p.field for p in refused.value.fields] == ["reason"]
    assert rejected.state == "rejected"
    assert "Bioburden out of limit" in (rejected.history[-1].reason or "")
    with pytest.raises(Conflict):
        materials.certify_produced_lot(actor=site["qa.li"], lot_id=lot.id, batch_number="B26110009")


def test_lot_summaries_name_material_supplier_and_origin(site: dict[str, Actor], product: str) -> None:
    # given
    clerk = warehouse_user(site)
    supplier = approved_supplier(clerk, site["qa.li"], ["DS-0001"])
    bought = released_lot(site, material_code="DS-0001", supplier_id=supplier.id, location_code="CR-A01",
                          transport_min_c="3", transport_max_c="6", supplier_lot="SUP-LOT-7")
    made = materials.record_production_output(actor=person("sup.ma", "production_supervisor"), material_code=product,
                                              quantity="2", unit="kg", batch_number="B26110010")
    # when
    summaries = materials.lot_summaries(lot_ids=[bought.id, made.id, 987654])
    # then
    assert set(summaries) == {bought.id, made.id}
    assert (summaries[bought.id].supplier_lot, summaries[bought.id].supplier_name) == ("SUP-LOT-7", supplier.name)
    assert summaries[bought.id].produced is False and summaries[made.id].produced is True
    assert summaries[made.id].material_name == "物料DS-0001" and summaries[made.id].state == "quarantine"
