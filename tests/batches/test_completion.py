"""Yield, reconciliation, completion into a quarantined output lot, and its release or rejection with the batch."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pharmos.batches import service as batches
from pharmos.batches.views import BatchView
from pharmos.compliance.lifecycle import apply_transition
from pharmos.core.actor import Actor
from pharmos.core.errors import Conflict, TransitionRefused, ValidationFailed
from pharmos.materials import service as materials
from tests.batches.batch_factories import ExecutionSetup, sign, started_batch, step_by_code
from tests.batches.test_dispensing import product_with_shelf_life
from tests.conftest import password_of
from tests.equipment.factories import usable_equipment
from tests.materials.factories import SETUP

pytestmark = pytest.mark.sqlite_only


def dispense_both_lines(batch: BatchView, setup: ExecutionSetup, balance: str) -> None:
    for line_no, code, net in ((1, "RM-TRIS", "1.200"), (2, "RM-NACL", "0.900")):
        batches.dispense(actor=setup.operator, batch_id=batch.id, line_no=line_no,
                         container_number=setup.containers[code], net=net, balance_number=balance)


def execute_all_steps(batch: BatchView, setup: ExecutionSetup) -> None:
    """Sign the dispensing step, perform and verify the critical step, perform the last one."""
    who = setup.operator
    sign(who, batch.id, step_by_code(batch, "1.1").id)
    step = step_by_code(batch, "2.1")
    for code, value in (("PH", "7.05"), ("EQ_TIME", "30"), ("COLUMN_OK", "yes")):
        batches.record_entry(actor=who, batch_id=batch.id, step_id=step.id, parameter_code=code, value=value)
    batches.scan_equipment(actor=who, batch_id=batch.id, step_id=step.id, number=setup.equipment_number)
    sign(who, batch.id, step.id)
    batches.verify_step(actor=setup.verifier, batch_id=batch.id, step_id=step.id,
                        password=password_of(setup.verifier.username))
    step = step_by_code(batch, "2.2")
    batches.record_entry(actor=who, batch_id=batch.id, step_id=step.id, parameter_code="MODE", value="step")
    sign(who, batch.id, step.id)


@pytest.fixture
def executed(site: dict[str, Actor]) -> tuple[BatchView, ExecutionSetup]:
    """A started batch, both lines dispensed and every step signed; yield not yet recorded."""
    product_with_shelf_life(site)
    batch, setup = started_batch(site)
    dispense_both_lines(batch, setup, usable_equipment(site, "balance").number)
    execute_all_steps(batch, setup)
    return batch, setup


def _transition(who: Actor, batch_id: int, name: str, *, reason: str | None = None) -> str:
    return apply_transition(actor=who, collection="batches", record_id=batch_id, name=name,
                            password=password_of(who.username), reason=reason)


def test_full_path_ends_with_the_output_lot_released(site: dict[str, Actor],
                                                     executed: tuple[BatchView, ExecutionSetup]) -> None:
    # given
    batch, setup = executed
    qa = site["qa.li"]
    # when
    recorded = batches.record_yield(actor=setup.operator, batch_id=batch.id, actual_yield="480")
    _transition(setup.operator, batch.id, "complete")
    completed = batches.get_batch(actor=qa, batch_id=batch.id)
    output = materials.get_lot(actor=qa, lot_id=completed.output_lot_id or 0)
    backward = batches.trace(actor=qa, lot=output.number, direction="backward")
    _transition(qa, batch.id, "release")
    # then
    assert recorded.yield_pct == Decimal("96.000") and recorded.open_exceptions == 0
    assert completed.state == "in_review" and completed.completed_at is not None
    assert (output.state, output.material_code, output.on_hand) == ("quarantine", "DS-MAB01", Decimal("480"))
    assert completed.output_lot_number == output.number
    assert {n.lot_number for n in backward.nodes if n.depth == 1} == set(setup.lots.values())
    assert backward.batches == (batch.number,)
    assert batches.get_batch(actor=qa, batch_id=batch.id).state == "released"
    released = materials.get_lot(actor=qa, lot_id=output.id)
    assert released.state == "released"
    assert released.history[-1].reason == f"Released with batch {batch.number}"


def test_completion_ends_the_equipment_use_of_the_batch(site: dict[str, Actor],
                                                        executed: tuple[BatchView, ExecutionSetup]) -> None:
    # given
    from pharmos.equipment import service as equipment

    batch, setup = executed
    batches.record_yield(actor=setup.operator, batch_id=batch.id, actual_yield="480")
    held = equipment.get_equipment(actor=SETUP, number=setup.equipment_number).in_use_by
    # when
    _transition(setup.operator, batch.id, "complete")
    # then
    assert held == batch.number
    assert equipment.get_equipment(actor=SETUP, number=setup.equipment_number).in_use_by is None


def test_release_is_refused_while_an_exception_is_unreviewed(site: dict[str, Actor],
                                                             executed: tuple[BatchView, ExecutionSetup]) -> None:
    # given: a low yield, explained, is an open exception
    batch, setup = executed
    qa = site["qa.li"]
    low = batches.record_yield(actor=setup.operator, batch_id=batch.id, actual_yield="300",
                               note="Column pressure alarm; partial loss of eluate")
    _transition(setup.operator, batch.id, "complete")
    # when
    with pytest.raises(TransitionRefused):
        _transition(qa, batch.id, "release")
    exception = batches.list_exceptions(actor=qa, batch_id=batch.id)[0]
    batches.review_exception(actor=site["qa.zhang"], batch_id=batch.id, exception_id=exception.id,
                             comment="Assessed: loss explained, quality unaffected")
    _transition(qa, batch.id, "release")
    # then
    assert low.yield_pct == Decimal("60.000") and low.open_exceptions == 1
    assert (exception.kind, exception.reason) == ("yield", "Column pressure alarm; partial loss of eluate")
    after = batches.get_batch(actor=qa, batch_id=batch.id)
    assert after.state == "released"
    assert materials.get_lot(actor=qa, lot_id=after.output_lot_id or 0).state == "released"


def test_release_is_refused_while_a_deviation_is_open(site: dict[str, Actor],
                                                      executed: tuple[BatchView, ExecutionSetup]) -> None:
    # given: a deviation linked to the batch, still open
    from pharmos.quality.deviations import LinkInput
    from tests.quality.factories import report

    batch, setup = executed
    qa = site["qa.li"]
    batches.record_yield(actor=setup.operator, batch_id=batch.id, actual_yield="480")
    _transition(setup.operator, batch.id, "complete")
    report(site, title="洁净区压差异常", links=[LinkInput("batch", batch.number)])
    # when
    with pytest.raises(TransitionRefused) as refused:
        _transition(qa, batch.id, "release")
    # then
    assert "Deviation" in str(refused.value)
    after = batches.get_batch(actor=qa, batch_id=batch.id)
    assert after.state == "in_review"
    assert materials.get_lot(actor=qa, lot_id=after.output_lot_id or 0).state == "quarantine"


def test_reject_rejects_the_output_lot(site: dict[str, Actor], executed: tuple[BatchView, ExecutionSetup]) -> None:
    # given
    batch, setup = executed
    qa = site["qa.li"]
    batches.record_yield(actor=setup.operator, batch_id=batch.id, actual_yield="480")
    _transition(setup.operator, batch.id, "complete")
    # when
    _transition(qa, batch.id, "reject", reason="Endotoxin out of specification")
    # then
    after = batches.get_batch(actor=qa, batch_id=batch.id)
    lot = materials.get_lot(actor=qa, lot_id=after.output_lot_id or 0)
    assert (after.state, lot.state) == ("rejected", "rejected")
    assert "Endotoxin out of specification" in (lot.history[-1].reason or "")


def test_yield_outside_the_window_needs_a_note(site: dict[str, Actor],
                                               executed: tuple[BatchView, ExecutionSetup]) -> None:
    # given
    batch, setup = executed
    # when
    with pytest.raises(ValidationFailed) as refused:
        batches.record_yield(actor=setup.operator, batch_id=batch.id, actual_yield="600")
    # then
    assert [p.field for p in refused.value.fields] == ["note"]
    after = batches.get_batch(actor=SETUP, batch_id=batch.id)
    assert after.actual_yield is None and after.open_exceptions == 0


@pytest.mark.parametrize("value", ["-1", "abc", 480.5])
def test_bad_yield_is_refused(site: dict[str, Actor], value: object) -> None:
    # given
    product_with_shelf_life(site)
    batch, setup = started_batch(site)
    # when
    with pytest.raises(ValidationFailed) as refused:
        batches.record_yield(actor=setup.operator, batch_id=batch.id, actual_yield=value)  # type: ignore[arg-type]
    # then
    assert [p.field for p in refused.value.fields] == ["actual_yield"]
    assert batches.get_batch(actor=SETUP, batch_id=batch.id).actual_yield is None


def test_complete_is_refused_without_the_yield(site: dict[str, Actor],
                                              executed: tuple[BatchView, ExecutionSetup]) -> None:
    # given
    batch, setup = executed
    # when
    with pytest.raises(TransitionRefused):
        _transition(setup.operator, batch.id, "complete")
    # then
    after = batches.get_batch(actor=SETUP, batch_id=batch.id)
    assert after.state == "in_progress" and after.output_lot_id is None


def test_reconciliation_compares_dispensed_with_target(site: dict[str, Actor]) -> None:
    # given: line 1 fully dispensed, line 2 half
    product_with_shelf_life(site)
    batch, setup = started_batch(site)
    balance = usable_equipment(site, "balance").number
    batches.dispense(actor=setup.operator, batch_id=batch.id, line_no=1, container_number=setup.containers["RM-TRIS"],
                     net="1.190", balance_number=balance)
    batches.dispense(actor=setup.operator, batch_id=batch.id, line_no=2, container_number=setup.containers["RM-NACL"],
                     net="0.450", balance_number=balance)
    # when
    rows = batches.material_reconciliation(actor=site["viewer.chen"], batch_id=batch.id)
    # then
    assert [(r.line_no, r.dispensed, r.difference, r.within_tolerance) for r in rows] == [
        (1, Decimal("1.19"), Decimal("-0.01"), True), (2, Decimal("0.45"), Decimal("-0.45"), False)]


def test_yield_is_recorded_only_while_in_progress(site: dict[str, Actor],
                                                  executed: tuple[BatchView, ExecutionSetup]) -> None:
    # given
    batch, setup = executed
    batches.record_yield(actor=setup.operator, batch_id=batch.id, actual_yield="480")
    _transition(setup.operator, batch.id, "complete")
    # when
    with pytest.raises(Conflict):
        batches.record_yield(actor=setup.operator, batch_id=batch.id, actual_yield="490")
    # then
    assert batches.get_batch(actor=SETUP, batch_id=batch.id).actual_yield == Decimal("480")
