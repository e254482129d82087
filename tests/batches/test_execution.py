"""Execution: steps in the recipe's order, server-stamped values with limits, scans, signing with every cross-module
check listed at once, four-eyes verification, corrections that keep the original and reopen a signed step.

Every refusal names its field and writes nothing (entries, signatures, step states, audit entries).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from pharmos.batches import service as batches
from pharmos.batches.models import BatchEntry, BatchException, BatchStep
from pharmos.batches.views import BatchView
from pharmos.compliance.audit import AuditEntry
from pharmos.compliance.signatures import ElectronicSignature
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today
from pharmos.core.db import read_session
from pharmos.core.errors import Conflict, TransitionRefused, ValidationFailed
from pharmos.equipment import service as equipment
from tests.batches.batch_factories import ExecutionSetup, process_mbr, sign, started_batch, step_by_code
from tests.conftest import password_of
from tests.equipment.factories import calibrate, engineer, new_equipment, qualify
from tests.materials.factories import approved_supplier, as_time_passes, person, received_lot, warehouse_user

pytestmark = pytest.mark.sqlite_only


def footprint() -> dict[str, Any]:
    """Everything a refused execution call must leave untouched."""
    with read_session() as session:
        return {
            "entries": session.scalar(select(func.count(BatchEntry.id))),
            "exceptions": session.scalar(select(func.count(BatchException.id))),
            "signatures": session.scalar(select(func.count(ElectronicSignature.id))),
            "steps": sorted(session.execute(select(BatchStep.id, BatchStep.state, BatchStep.signature_round)).all()),
            "audit": session.scalar(select(func.count(AuditEntry.id))),
        }


@pytest.fixture
def run(site: dict[str, Actor]) -> tuple[BatchView, ExecutionSetup]:
    """A started batch of the process recipe (1.1 → 2.1 critical → 3.1 ∥ 4.1)."""
    return started_batch(site, recipe=process_mbr(site))


def enter(who: Actor, batch_id: int, step_id: int, code: str, value: str, reason: str = "") -> Any:
    return batches.record_entry(actor=who, batch_id=batch_id, step_id=step_id, parameter_code=code, value=value,
                                reason=reason)


def prepare_buffer(batch: BatchView, setup: ExecutionSetup) -> int:
    """Step 1.1 filled in (temperature, Tris lot scanned) but not signed; returns its id."""
    step = step_by_code(batch, "1.1")
    enter(setup.operator, batch.id, step.id, "TEMP", "20.5")
    batches.scan_lot(actor=setup.operator, batch_id=batch.id, step_id=step.id,
                     code=setup.containers[setup.recipe.material_codes[0]])
    return step.id


def equilibrate(batch: BatchView, setup: ExecutionSetup) -> int:
    """1.1 signed, 2.1 filled in (pH, pH meter scanned) but not signed; returns 2.1's id."""
    sign(setup.operator, batch.id, prepare_buffer(batch, setup))
    step = step_by_code(batch, "2.1")
    enter(setup.operator, batch.id, step.id, "PH", "7.05")
    batches.scan_equipment(actor=setup.operator, batch_id=batch.id, step_id=step.id, number=setup.equipment_number)
    return step.id


def fields(error: pytest.ExceptionInfo[Any]) -> list[str]:
    return [p.field for p in error.value.fields]


# ---------------------------------------------------------------- the happy path


def test_steps_are_signed_in_order_critical_ones_verified_and_parallel_phases_open_together(
        run: tuple[BatchView, ExecutionSetup]) -> None:
    # given
    batch, setup = run
    step_id = equilibrate(batch, setup)

    # when
    performed = sign(setup.operator, batch.id, step_id)
    verified = batches.verify_step(actor=setup.verifier, batch_id=batch.id, step_id=step_id,
                                   password=password_of(setup.verifier.username))

    # then
    assert performed.state == "performed" and performed.performed_by == "op.liu"
    assert verified.state == "done" and verified.verified_by == "op.zhao"
    assert [(s.meaning, s.valid) for s in verified.signatures] == [("performed", True), ("verified", True)]
    view = batches.get_batch(actor=setup.operator, batch_id=batch.id)
    assert [(s.code, s.state) for s in view.steps] == [("1.1", "done"), ("2.1", "done"), ("3.1", "open"),
                                                       ("4.1", "open")]
    assert view.steps_done == 2 and set(view.current_step_ids) == {view.steps[2].id, view.steps[3].id}
    # EU GMP Part I 4.31: the pH meter is in use by this batch (dirty when execution completes).
    assert equipment.get_equipment(actor=setup.operator, number=setup.equipment_number).in_use_by == batch.number


def test_entries_are_server_stamped_and_checked_against_limits(run: tuple[BatchView, ExecutionSetup]) -> None:
    # given
    batch, setup = run
    step_id = prepare_buffer(batch, setup)

    # when: 30 °C is outside [15, 25] (not a critical parameter)
    view = enter(setup.operator, batch.id, step_id, "TEMP", "30", reason="Thermometer re-read")

    # then: the original stays, the new value is out of limit, two exceptions, the batch runs on
    [temp] = view.parameters
    assert temp.current.value == "30" and temp.current.within_limits is False
    assert temp.current.corrects_id == temp.history[0].id and temp.history[0].value == "20.5"
    assert [(x.label, x.kind, x.critical) for x in view.exceptions] == [
        ("EX-01", "out_of_limit", False), ("EX-02", "correction", False)]
    assert batches.get_batch(actor=setup.operator, batch_id=batch.id).state == "in_progress"


@pytest.mark.parametrize(("code", "value"), [("START", "2026-11-03T09:30"), ("START", "not a time"),
                                             ("TEMP", "20,5"), ("TEMP", ""), ("TEMP", "NaN")])
def test_malformed_values_are_refused_naming_the_value(run: tuple[BatchView, ExecutionSetup], code: str,
                                                       value: str) -> None:
    # given
    batch, setup = run
    step_id = equilibrate(batch, setup) if code == "START" else step_by_code(batch, "1.1").id
    before = footprint()

    # when
    with pytest.raises(ValidationFailed) as refused:
        enter(setup.operator, batch.id, step_id, code, value)

    # then
    assert fields(refused) == ["value"]
    assert footprint() == before


def test_a_critical_value_out_of_limit_raises_a_deviation_and_holds_the_batch(
        run: tuple[BatchView, ExecutionSetup]) -> None:
    # given
    from pharmos.quality import service as quality

    batch, setup = run
    step_id = equilibrate(batch, setup)

    # when
    view = enter(setup.operator, batch.id, step_id, "PH", "7.6", reason="Second reading after recalibration")

    # then
    critical = [x for x in view.exceptions if x.kind == "out_of_limit"]
    assert len(critical) == 1 and critical[0].critical and critical[0].deviation_number
    held = batches.get_batch(actor=setup.operator, batch_id=batch.id)
    assert held.state == "on_hold" and critical[0].deviation_number in held.hold_reason
    holds = quality.open_quality_holds(record_type="batch", reference=batch.number)
    assert [h.deviation_number for h in holds] == [critical[0].deviation_number]


# ---------------------------------------------------------------- refusals: every reason, nothing written


def test_signing_lists_every_missing_thing_at_once(run: tuple[BatchView, ExecutionSetup]) -> None:
    # given: nothing entered in 1.1
    batch, setup = run
    step = step_by_code(batch, "1.1", setup.operator)
    before = footprint()

    # when
    with pytest.raises(TransitionRefused) as refused:
        batches.sign_step(actor=setup.operator, batch_id=batch.id, step_id=step.id, password="")

    # then
    assert fields(refused) == ["password", "parameters.TEMP"]
    assert footprint() == before
    assert step.sign_blockers == ("温度: not recorded.",)


def test_signing_out_of_order_is_refused_naming_the_step(run: tuple[BatchView, ExecutionSetup]) -> None:
    # given: 1.1 still open
    batch, setup = run
    later = step_by_code(batch, "2.1")
    before = footprint()

    # when
    with pytest.raises(TransitionRefused) as refused:
        sign(setup.operator, batch.id, later.id)

    # then
    assert "step" in fields(refused) and "sign 1.1 first" in refused.value.message
    assert footprint() == before


def test_a_non_critical_step_opened_out_of_order_is_an_override_exception(
        run: tuple[BatchView, ExecutionSetup]) -> None:
    # given: 1.1 still open; 3.1 and 4.1 (non-critical) wait for 2.1; 2.1 is critical
    batch, setup = run
    later, critical = step_by_code(batch, "3.1"), step_by_code(batch, "2.1")
    before = footprint()

    # when a reason is missing, or the step is critical
    with pytest.raises(ValidationFailed) as no_reason:
        batches.open_step_out_of_order(actor=setup.operator, batch_id=batch.id, step_id=later.id, reason=" ")
    with pytest.raises(Conflict) as refused:
        batches.open_step_out_of_order(actor=setup.operator, batch_id=batch.id, step_id=critical.id,
                                       reason="Column ready early")

    # then nothing is written
    assert fields(no_reason) == ["reason"] and fields(refused) == ["step"]
    assert footprint() == before

    # when the operator overrides the order with a reason
    opened = batches.open_step_out_of_order(actor=setup.operator, batch_id=batch.id, step_id=later.id,
                                            reason="Buffer prepared the evening before")

    # then the step is open and the override waits for QA's review
    assert opened.state == "open"
    exceptions = batches.list_exceptions(actor=setup.operator, batch_id=batch.id)
    assert [(e.kind, e.step_code, e.reason, e.state) for e in exceptions] == [
        ("override", "3.1", "Buffer prepared the evening before", "open")]
    assert "1.1" in exceptions[0].description


def test_entries_into_a_step_not_yet_available_are_refused(run: tuple[BatchView, ExecutionSetup]) -> None:
    batch, setup = run
    later = step_by_code(batch, "2.1")
    before = footprint()
    with pytest.raises(Conflict) as refused:
        enter(setup.operator, batch.id, later.id, "PH", "7.0")
    assert fields(refused) == ["step"]
    assert footprint() == before


def test_an_untrained_operator_may_not_sign(run: tuple[BatchView, ExecutionSetup]) -> None:
    # given: op.wei is an operator who has not read the SOP
    batch, setup = run
    step_id = prepare_buffer(batch, setup)
    untrained = person("op.wei", "operator", "魏军")
    before = footprint()

    # when
    with pytest.raises(TransitionRefused) as refused:
        sign(untrained, batch.id, step_id)

    # then
    assert fields(refused) == ["sop"] and setup.recipe.sop_number in refused.value.message
    assert footprint() == before


def test_the_performer_may_not_verify_their_own_step(run: tuple[BatchView, ExecutionSetup]) -> None:
    # given
    batch, setup = run
    step_id = equilibrate(batch, setup)
    sign(setup.operator, batch.id, step_id)
    before = footprint()

    # when
    with pytest.raises(TransitionRefused) as refused:
        batches.verify_step(actor=setup.operator, batch_id=batch.id, step_id=step_id,
                            password=password_of(setup.operator.username))

    # then
    assert fields(refused) == ["verifier"]
    assert footprint() == before


def test_signing_while_on_hold_is_refused(run: tuple[BatchView, ExecutionSetup], site: dict[str, Actor]) -> None:
    # given: QA holds the batch through its lifecycle
    from pharmos.compliance.lifecycle import apply_transition

    batch, setup = run
    step_id = prepare_buffer(batch, setup)
    apply_transition(actor=site["qa.li"], collection="batches", record_id=batch.id, name="hold",
                     reason="Environmental monitoring excursion in room B2-301")
    before = footprint()

    # when
    with pytest.raises(TransitionRefused) as refused:
        sign(setup.operator, batch.id, step_id)

    # then
    assert fields(refused) == ["batch"]
    assert footprint() == before


def test_editing_a_signed_entry_needs_a_reason_and_then_reopens_the_step(
        run: tuple[BatchView, ExecutionSetup]) -> None:
    # given: 1.1 signed
    batch, setup = run
    step_id = prepare_buffer(batch, setup)
    sign(setup.operator, batch.id, step_id)
    before = footprint()

    # when: without a reason
    with pytest.raises(ValidationFailed) as refused:
        enter(setup.operator, batch.id, step_id, "TEMP", "21")

    # then
    assert fields(refused) == ["reason"]
    assert footprint() == before

    # when: with one, through the correction of the entry
    current = step_by_code(batch, "1.1").parameters[0].current
    assert current is not None
    view = batches.correct_entry(actor=setup.operator, batch_id=batch.id, step_id=step_id, entry_id=current.id,
                                 value="21", reason="Transcription error: display read 21.0")

    # then: the step is open again in a new round; its first signature no longer covers it
    assert view.state == "open" and view.performed_by is None
    assert [(s.meaning, s.valid) for s in view.signatures] == [("performed", False)]
    assert view.parameters[0].history[0].value == "20.5" and view.parameters[0].current.value == "21"
    assert [x.kind for x in view.exceptions] == ["correction"]
    with read_session() as session:
        assert session.get(BatchStep, step_id).signature_round == 1  # type: ignore[union-attr]
    assert sign(setup.operator, batch.id, step_id).state == "done"


def test_quarantined_and_wrong_lots_are_refused_at_the_scan(run: tuple[BatchView, ExecutionSetup],
                                                           site: dict[str, Actor]) -> None:
    # given: a quarantined Tris lot, and a released NaCl lot (another material)
    batch, setup = run
    tris, nacl = setup.recipe.material_codes
    supplier = approved_supplier(warehouse_user(site), site["qa.li"], [tris], code="SUP-Q")
    quarantined = received_lot(site, material_code=tris, supplier_id=supplier.id)
    step = step_by_code(batch, "1.1")
    before = footprint()

    # when
    with pytest.raises(ValidationFailed) as not_released:
        batches.scan_lot(actor=setup.operator, batch_id=batch.id, step_id=step.id, code=quarantined.number)
    with pytest.raises(ValidationFailed) as wrong:
        batches.scan_lot(actor=setup.operator, batch_id=batch.id, step_id=step.id, code=setup.lots[nacl])

    # then
    assert fields(not_released) and set(fields(not_released)) == {"code"}
    assert fields(wrong) == ["code"] and f"this batch takes {tris}" in wrong.value.message
    assert footprint() == before


def test_a_scanned_lot_that_expired_since_blocks_the_signature(run: tuple[BatchView, ExecutionSetup]) -> None:
    # given: the Tris lot was scanned and has expired since
    from pharmos.materials import service as materials

    batch, setup = run
    step_id = prepare_buffer(batch, setup)
    lot = materials.find_by_scan(actor=setup.operator, code=setup.lots[setup.recipe.material_codes[0]])
    as_time_passes(lot.id, expires_on=site_today() - timedelta(days=1))
    before = footprint()

    # when
    with pytest.raises(TransitionRefused) as refused:
        sign(setup.operator, batch.id, step_id)

    # then
    assert fields(refused) == ["lots"]
    assert footprint() == before


def test_equipment_overdue_for_calibration_is_refused_at_the_scan(run: tuple[BatchView, ExecutionSetup],
                                                                 site: dict[str, Actor]) -> None:
    # given: a pH meter last calibrated 120 days ago (interval 90 days)
    batch, setup = run
    sign(setup.operator, batch.id, prepare_buffer(batch, setup))
    overdue = new_equipment(setup.recipe.equipment_class_code)
    qualify(overdue.id)
    calibrate(overdue.id, on=site_today() - timedelta(days=120))
    step = step_by_code(batch, "2.1")
    before = footprint()

    # when
    with pytest.raises(ValidationFailed) as refused:
        batches.scan_equipment(actor=setup.operator, batch_id=batch.id, step_id=step.id, number=overdue.number)

    # then
    assert set(fields(refused)) == {"number"} and "Calibration overdue" in refused.value.message
    assert footprint() == before


def test_equipment_taken_by_another_batch_since_the_scan_blocks_the_signature(
        run: tuple[BatchView, ExecutionSetup]) -> None:
    # given: the pH meter was scanned, then another batch started using it
    batch, setup = run
    step_id = equilibrate(batch, setup)
    equipment.start_use(actor=engineer(), number=setup.equipment_number, reference="B99990001")
    before = footprint()

    # when
    with pytest.raises(TransitionRefused) as refused:
        sign(setup.operator, batch.id, step_id)

    # then
    assert fields(refused) == ["equipment"] and "In use by B99990001" in refused.value.message
    assert footprint() == before
