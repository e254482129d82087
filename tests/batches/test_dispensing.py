"""Weighing and dispensing: each rule refuses naming its field, writes nothing, and a good dispense issues the stock."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from pharmos.batches import service as batches
from pharmos.batches.models import BatchMaterial, Dispense
from pharmos.batches.views import BatchView
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today
from pharmos.core.db import read_session
from pharmos.core.errors import ValidationFailed
from pharmos.materials import service as materials
from pharmos.materials.models import StockMovement
from tests.batches.batch_factories import ExecutionSetup, started_batch, step_by_code
from tests.equipment.factories import calibrate, new_equipment, usable_equipment
from tests.materials.factories import (
    SETUP,
    approved_material,
    as_time_passes,
    received_lot,
    released_lot,
    warehouse_user,
)

pytestmark = pytest.mark.sqlite_only


def product_with_shelf_life(site: dict[str, Actor]) -> None:
    """The recipe's product, approved with a shelf life before the recipe factory would make it without one."""
    approved_material(warehouse_user(site), site["qa.li"], "DS-MAB01", name_zh="单抗原液", name_en="mAb drug substance",
                      material_type="intermediate", storage_condition="2-8C", base_unit="g", shelf_life_days=730)


@pytest.fixture
def ready(site: dict[str, Actor]) -> tuple[BatchView, ExecutionSetup, str]:
    """A started batch (lines: 1 RM-TRIS 1.176–1.224 kg, 2 RM-NACL 0.882–0.918 kg) and a usable balance."""
    product_with_shelf_life(site)
    batch, setup = started_batch(site)
    return batch, setup, usable_equipment(site, "balance").number


def _state() -> tuple[int, int, list[str]]:
    """What a refused dispense must not change: dispenses, ledger entries, line totals."""
    with read_session() as session:
        return (session.scalar(select(func.count()).select_from(Dispense)) or 0,
                session.scalar(select(func.count()).select_from(StockMovement)) or 0,
                [str(t) for t in session.scalars(select(BatchMaterial.dispensed_total).order_by(BatchMaterial.id))])


def _supplier_id(setup: ExecutionSetup) -> int:
    lot = materials.find_by_scan(actor=SETUP, code=setup.lots["RM-TRIS"])
    assert lot.supplier_id is not None
    return lot.supplier_id


def _refused(call_kwargs: dict[str, object]) -> list[str]:
    before = _state()
    with pytest.raises(ValidationFailed) as refused:
        batches.dispense(**call_kwargs)  # type: ignore[arg-type]
    assert _state() == before  # nothing written: no dispense, no stock movement, no line total
    return [p.field for p in refused.value.fields]


def test_dispense_issues_the_allocated_container_and_completes_the_line(
        ready: tuple[BatchView, ExecutionSetup, str]) -> None:
    # given
    batch, setup, balance = ready
    container = setup.containers["RM-TRIS"]
    on_hand = materials.find_by_scan(actor=SETUP, code=container).on_hand
    # when
    done = batches.dispense(actor=setup.operator, batch_id=batch.id, line_no=1, container_number=container,
                            gross="1.700", tare="0.500", balance_number=balance)
    # then
    assert (done.net, done.lot_number, done.allocated_lot) == (Decimal("1.200"), setup.lots["RM-TRIS"], True)
    assert done.number.startswith("DSP-")
    assert materials.find_by_scan(actor=SETUP, code=container).on_hand == on_hand - Decimal("1.2")
    movements = materials.list_movements(actor=SETUP, material_code="RM-TRIS", kind="issue")
    assert [(m.reference, m.quantity) for m in movements] == [(batch.number, Decimal("1.2"))]
    line = next(m for m in batches.get_batch(actor=SETUP, batch_id=batch.id).materials if m.line_no == 1)
    assert line.complete and line.dispensed_total == Decimal("1.2")
    step = step_by_code(batch, "1.1")
    assert step.state == "open"


def test_several_containers_fill_one_line(ready: tuple[BatchView, ExecutionSetup, str]) -> None:
    # given
    batch, setup, balance = ready
    container = setup.containers["RM-NACL"]
    # when
    batches.dispense(actor=setup.operator, batch_id=batch.id, line_no=2, container_number=container,
                     net="0.500", balance_number=balance)
    partly = next(m for m in batches.get_batch(actor=SETUP, batch_id=batch.id).materials if m.line_no == 2)
    batches.dispense(actor=setup.operator, batch_id=batch.id, line_no=2, container_number=container,
                     net="0.400", balance_number=balance)
    full = next(m for m in batches.get_batch(actor=SETUP, batch_id=batch.id).materials if m.line_no == 2)
    # then
    assert not partly.complete and partly.dispensed_total == Decimal("0.5")
    assert full.complete and full.dispensed_total == Decimal("0.9")
    assert len(batches.list_dispenses(actor=SETUP, batch_id=batch.id)) == 2


def test_net_above_the_line_window_is_refused(ready: tuple[BatchView, ExecutionSetup, str]) -> None:
    # given
    batch, setup, balance = ready
    # when
    fields = _refused({"actor": setup.operator, "batch_id": batch.id, "line_no": 1,
                       "container_number": setup.containers["RM-TRIS"], "net": "1.300", "balance_number": balance})
    # then
    assert fields == ["net"]


INCONSISTENT_WEIGHTS: list[tuple[dict[str, object], str]] = [
    ({"gross": "1.7", "tare": "0.5", "net": "1.1"}, "net"),  # net ≠ gross − tare
    ({"gross": "0.5", "tare": "0.5"}, "net"),  # nothing weighed
    ({"gross": "1.7"}, "tare"),
    ({"net": "abc"}, "net"),
    ({"net": 1.2}, "net"),  # a float has lost the balance's reading
]


def test_inconsistent_weights_are_refused(ready: tuple[BatchView, ExecutionSetup, str]) -> None:
    # given
    batch, setup, balance = ready
    for weights, field in INCONSISTENT_WEIGHTS:
        # when
        fields = _refused({"actor": setup.operator, "batch_id": batch.id, "line_no": 1,
                           "container_number": setup.containers["RM-TRIS"], "balance_number": balance, **weights})
        # then
        assert fields == [field], weights


def test_wrong_material_is_refused(ready: tuple[BatchView, ExecutionSetup, str]) -> None:
    # given
    batch, setup, balance = ready
    # when
    fields = _refused({"actor": setup.operator, "batch_id": batch.id, "line_no": 1,
                       "container_number": setup.containers["RM-NACL"], "net": "1.2", "balance_number": balance})
    # then
    assert "container_number" in fields


def test_quarantined_lot_is_refused(site: dict[str, Actor], ready: tuple[BatchView, ExecutionSetup, str]) -> None:
    # given
    batch, setup, balance = ready
    lot = received_lot(site, material_code="RM-TRIS", supplier_id=_supplier_id(setup))
    # when
    fields = _refused({"actor": setup.operator, "batch_id": batch.id, "line_no": 1,
                       "container_number": lot.containers[0].number, "net": "1.2", "balance_number": balance,
                       "substitution_reason": "Allocated drum damaged"})
    # then
    assert set(fields) == {"container_number"}


def test_expired_lot_is_refused(site: dict[str, Actor], ready: tuple[BatchView, ExecutionSetup, str]) -> None:
    # given
    batch, setup, balance = ready
    lot = released_lot(site, material_code="RM-TRIS", supplier_id=_supplier_id(setup))
    as_time_passes(lot.id, expires_on=site_today() - timedelta(days=1))
    # when
    fields = _refused({"actor": setup.operator, "batch_id": batch.id, "line_no": 1,
                       "container_number": lot.containers[0].number, "net": "1.2", "balance_number": balance,
                       "substitution_reason": "Allocated drum damaged"})
    # then
    assert set(fields) == {"container_number"}


def test_consumed_container_is_refused(site: dict[str, Actor], ready: tuple[BatchView, ExecutionSetup, str]) -> None:
    # given: a container issued to the last gram elsewhere
    batch, setup, balance = ready
    clerk = warehouse_user(site)
    lot = released_lot(site, material_code="RM-TRIS", supplier_id=_supplier_id(setup), quantity="1",
                       expires_on=site_today() + timedelta(days=200))
    materials.issue_stock(actor=clerk, container_number=lot.containers[0].number, quantity="1", unit="kg",
                          reference="B-OTHER")
    # when
    fields = _refused({"actor": setup.operator, "batch_id": batch.id, "line_no": 1,
                       "container_number": lot.containers[0].number, "net": "1.2", "balance_number": balance,
                       "substitution_reason": "Allocated drum damaged"})
    # then
    assert set(fields) == {"container_number"}


def test_another_lot_needs_a_reason_and_becomes_a_substitution_exception(
        site: dict[str, Actor], ready: tuple[BatchView, ExecutionSetup, str]) -> None:
    # given: a second released lot of the right material, not the one allocated
    batch, setup, balance = ready
    other = released_lot(site, material_code="RM-TRIS", supplier_id=_supplier_id(setup),
                         expires_on=site_today() + timedelta(days=500))
    kwargs = {"actor": setup.operator, "batch_id": batch.id, "line_no": 1,
              "container_number": other.containers[0].number, "net": "1.2", "balance_number": balance}
    # when
    fields = _refused(kwargs)
    done = batches.dispense(**kwargs, substitution_reason="Allocated drum found damaged")  # type: ignore[arg-type]
    # then
    assert fields == ["substitution_reason"]
    assert done.allocated_lot is False and done.lot_number == other.number
    raised = batches.list_exceptions(actor=SETUP, batch_id=batch.id)
    assert [(e.kind, e.reason, e.state) for e in raised] == [
        ("lot_substitution", "Allocated drum found damaged", "open")]


def test_balance_overdue_for_calibration_is_refused(site: dict[str, Actor],
                                                    ready: tuple[BatchView, ExecutionSetup, str]) -> None:
    # given: a balance last calibrated 200 days ago on a 180-day interval
    batch, setup, _ = ready
    unit = new_equipment("balance")
    calibrate(unit.id, on=site_today() - timedelta(days=200))
    before = _state()
    # when
    with pytest.raises(ValidationFailed) as refused:
        batches.dispense(actor=setup.operator, batch_id=batch.id, line_no=1,
                         container_number=setup.containers["RM-TRIS"], net="1.2", balance_number=unit.number)
    # then
    assert {p.field for p in refused.value.fields} == {"balance_number"}
    assert any("alibration" in p.message for p in refused.value.fields)
    assert _state() == before


def test_every_problem_is_named_at_once(site: dict[str, Actor], ready: tuple[BatchView, ExecutionSetup, str]) -> None:
    # given
    batch, setup, _ = ready
    # when
    fields = _refused({"actor": setup.operator, "batch_id": batch.id, "line_no": 1, "container_number": "NOPE-C01",
                       "net": "-1", "balance_number": "BAL-NONE", "weight_source": "guess"})
    # then
    assert set(fields) == {"net", "weight_source", "balance_number", "container_number"}


def test_dispensing_needs_the_batch_in_progress(site: dict[str, Actor],
                                               ready: tuple[BatchView, ExecutionSetup, str]) -> None:
    # given
    from pharmos.compliance.lifecycle import apply_transition
    from pharmos.core.errors import Conflict

    batch, setup, balance = ready
    apply_transition(actor=site["qa.li"], collection="batches", record_id=batch.id, name="hold",
                     reason="Environmental excursion")
    before = _state()
    # when
    with pytest.raises(Conflict) as refused:
        batches.dispense(actor=setup.operator, batch_id=batch.id, line_no=1,
                         container_number=setup.containers["RM-TRIS"], net="1.2", balance_number=balance)
    # then
    assert [p.field for p in refused.value.fields] == ["batch_id"]
    assert _state() == before


def test_label_pdf_counts_and_audits_each_printing(ready: tuple[BatchView, ExecutionSetup, str]) -> None:
    # given
    from pharmos.compliance.audit import AuditEntry

    batch, setup, balance = ready
    done = batches.dispense(actor=setup.operator, batch_id=batch.id, line_no=1,
                            container_number=setup.containers["RM-TRIS"], net="1.2", balance_number=balance)
    # when
    first = batches.dispensing_label_pdf(actor=setup.operator, dispense_id=done.id)
    batches.dispensing_label_pdf(actor=setup.operator, dispense_id=done.id)
    # then
    assert first.startswith(b"%PDF")
    assert batches.list_dispenses(actor=SETUP, batch_id=batch.id)[0].labels_printed == 2
    with read_session() as session:
        printed = session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.record_type == "dispense", AuditEntry.action == "label_printed"))
    assert printed == 2
