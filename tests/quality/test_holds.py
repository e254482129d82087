"""Quality holds: a lot or batch named in an open deviation is not used until the deviation is closed or cancelled."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pharmos.core.actor import Actor
from pharmos.core.errors import ValidationFailed
from pharmos.materials import service as materials
from pharmos.materials.views import LotView
from pharmos.quality import service as quality
from pharmos.quality.views import DeviationView
from tests.materials import factories as mf
from tests.quality import factories as f

# Service rules: SQLite is enough; this module's API tests run on both back-ends.
pytestmark = pytest.mark.sqlite_only


def released_lot(site: dict[str, Actor]) -> tuple[Actor, LotView]:
    clerk = mf.warehouse_user(site)
    mf.location_tree(clerk)
    mf.approved_material(clerk, site["qa.li"], "RM-0001")
    supplier = mf.approved_supplier(clerk, site["qa.li"], ["RM-0001"])
    return clerk, mf.released_lot(site, material_code="RM-0001", supplier_id=supplier.id, receiver=clerk,
                                  quantity="20", containers=2)


def test_open_deviations_hold_their_linked_records(site: dict[str, Actor]) -> None:
    # given
    first = f.report(site, links=[("batch", "BO-2026-101")])
    second = f.investigating(site, links=[("batch", "BO-2026-101")], classification="critical")
    f.report(site, links=[("batch", "BO-2026-102")])
    # when
    holds = quality.open_quality_holds(record_type="batch", reference="bo-2026-101")
    # then
    assert [(h.deviation_number, h.state, h.classification) for h in holds] == [
        (first.number, "reported", ""), (second.number, "investigating", "critical")]
    assert quality.open_quality_holds(record_type="lot", reference="BO-2026-101") == []


@pytest.mark.parametrize("ending", [f.closed_deviation, f.cancelled_deviation])
def test_holds_end_when_the_deviation_is_closed_or_cancelled(site: dict[str, Actor],
                                                            ending: Callable[..., DeviationView]) -> None:
    # when
    ended = ending(site, links=[("batch", "BO-2026-103")])
    # then
    assert ended.state in ("closed", "cancelled")
    assert quality.open_quality_holds(record_type="batch", reference="BO-2026-103") == []


def test_a_lot_under_an_open_deviation_cannot_be_issued(site: dict[str, Actor]) -> None:
    # given
    clerk, lot = released_lot(site)
    container = lot.containers[0].number
    assert materials.lot_use_problems(lot_id=lot.id) == []
    deviation = f.report(site, links=[("lot", lot.number)])
    # when
    problems = materials.lot_use_problems(lot_id=lot.id)
    with pytest.raises(ValidationFailed) as refused:
        materials.issue_stock(actor=clerk, container_number=container, quantity="1", unit="kg", reference="BO-1")
    # then
    assert problems == [f"On hold by deviation {deviation.number} (reported)."]
    assert f"On hold by deviation {deviation.number} (reported)." in str(refused.value)
    assert {p.field for p in refused.value.fields} == {"container_number"}
    assert materials.get_lot(actor=clerk, lot_id=lot.id).containers[0].quantity == lot.containers[0].quantity
    with pytest.raises(ValidationFailed):
        materials.reserve_stock(actor=clerk, container_number=container, quantity="1", unit="kg", purpose="BO-1")


@pytest.mark.parametrize("release", ["close", "cancel"])
def test_the_lot_is_usable_again_once_the_deviation_is_closed_or_cancelled(site: dict[str, Actor],
                                                                           release: str) -> None:
    # given
    clerk, lot = released_lot(site)
    make: dict[str, Any] = {"close": f.closed_deviation, "cancel": f.cancelled_deviation}
    # when
    deviation = make[release](site, links=[("lot", lot.containers[1].number)])
    # then
    assert [link.reference for link in deviation.links] == [lot.number]
    assert materials.lot_use_problems(lot_id=lot.id) == []
    issued = materials.issue_stock(actor=clerk, container_number=lot.containers[0].number, quantity="1", unit="kg",
                                   reference="BO-1")
    assert issued.container_number == lot.containers[0].number


def test_unlinking_a_lot_by_mistake_releases_the_hold(site: dict[str, Actor]) -> None:
    # given
    _, lot = released_lot(site)
    deviation = f.report(site, links=[("lot", lot.number)])
    # when
    quality.remove_deviation_link(actor=f.classifier(site), deviation_id=deviation.id, record_type="lot",
                                  reference=lot.number, reason="Wrong lot scanned")
    # then
    assert materials.lot_use_problems(lot_id=lot.id) == []


def test_fefo_passes_over_a_held_lot_and_the_lot_list_shows_the_hold(site: dict[str, Actor]) -> None:
    # given two released lots of one material, the earlier-expiring one held by an open deviation
    from datetime import timedelta

    from pharmos.core.clock import site_today

    clerk = mf.warehouse_user(site)
    mf.location_tree(clerk)
    mf.approved_material(clerk, site["qa.li"], "RM-0001")
    supplier = mf.approved_supplier(clerk, site["qa.li"], ["RM-0001"])
    earlier = mf.released_lot(site, material_code="RM-0001", supplier_id=supplier.id, receiver=clerk, quantity="10",
                              expires_on=site_today() + timedelta(days=200))
    later = mf.released_lot(site, material_code="RM-0001", supplier_id=supplier.id, receiver=clerk, quantity="10",
                            expires_on=site_today() + timedelta(days=400))
    deviation = f.report(site, links=[("lot", earlier.number)])

    # when FEFO allocates, the later lot is issued without an override, and the lots are listed
    allocation = materials.allocate(actor=clerk, material_code="RM-0001", quantity="5", unit="kg", purpose="BO-9")
    issued = materials.issue_stock(actor=clerk, container_number=later.containers[0].number, quantity="1",
                                   unit="kg", reference="BO-9")
    listed = {lot.number: lot for lot in materials.list_lots(actor=clerk, material_code="RM-0001")}

    # then the held lot is neither allocated nor a FEFO rival, and its hold shows in the list
    assert [line.lot_number for line in allocation.lines] == [later.number]
    assert issued.fefo_override is False
    assert listed[earlier.number].use_problems == (f"On hold by deviation {deviation.number} (reported).",)
    assert listed[later.number].use_problems == ()
