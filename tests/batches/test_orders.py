"""Batch orders: from the effective recipe only, numbered, scaled, steps copied, stock reserved FEFO; cancel returns it.

Every refusal names its field and writes nothing (batch rows, reservations, audit entries).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from pharmos.batches import service as batches
from pharmos.batches.models import Batch, BatchMaterial, BatchStep
from pharmos.compliance.audit import AuditEntry
from pharmos.compliance.lifecycle import apply_transition
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today, utcnow
from pharmos.core.db import read_session
from pharmos.core.errors import Conflict, PermissionDenied, ValidationFailed
from pharmos.materials import service as materials
from tests.batches.batch_factories import planned_batch, planner, released_stock, started_batch
from tests.batches.mbr_factories import draft_mbr, effective_mbr
from tests.materials.factories import SETUP

pytestmark = pytest.mark.sqlite_only


def footprint() -> dict[str, Any]:
    with read_session() as session:
        return {
            "batches": session.scalar(select(func.count(Batch.id))),
            "lines": session.scalar(select(func.count(BatchMaterial.id))),
            "steps": session.scalar(select(func.count(BatchStep.id))),
            "audit": session.scalar(select(func.count(AuditEntry.id))),
        }


def reserved(code: str) -> Decimal:
    return sum((row.reserved for row in materials.on_hand(actor=SETUP, material_code=code)), Decimal(0))


def test_a_started_batch_has_its_first_step_open_and_its_stock_reserved(site: dict[str, Actor]) -> None:
    # given / when
    batch, setup = started_batch(site)

    # then: number B<yyMM><seq>, scaled lines reserved FEFO, first step open with its time limit
    assert batch.number == f"B{utcnow():%y%m}0001"
    assert batch.state == "in_progress" and batch.started_at is not None
    assert [(m.material_code, m.target, m.low, m.high) for m in batch.materials] == [
        (setup.recipe.material_codes[0], Decimal("1.200"), Decimal("1.176"), Decimal("1.224")),
        (setup.recipe.material_codes[1], Decimal("0.900"), Decimal("0.882"), Decimal("0.918"))]
    assert all(m.reservations and m.reservations[0]["lot_number"] == setup.lots[m.material_code]
               for m in batch.materials)
    assert [(s.code, s.state) for s in batch.steps] == [("1.1", "open"), ("2.1", "pending"), ("2.2", "pending")]
    first = batch.steps[0]
    assert first.due_at is not None and first.available_at is not None
    assert first.due_at - first.available_at == timedelta(minutes=240)
    assert batch.current_step_ids == (first.id,)


def test_an_order_scales_the_bom_and_the_yield_but_not_the_parameters(site: dict[str, Actor]) -> None:
    # given
    _, setup = started_batch(site)

    # when: half the recipe's 200 L
    half = batches.order_batch(actor=setup.planner, mbr_id=setup.recipe.mbr.id, planned_size="100",
                               planned_start=site_today())

    # then
    assert half.number.endswith("0002") and half.state == "planned"
    assert half.scale_factor == Decimal("0.5") and half.theoretical_yield == Decimal("250")
    assert [m.target for m in half.materials] == [Decimal("0.600"), Decimal("0.450")]
    step = batches.get_step(actor=setup.planner, batch_id=half.id, step_id=half.steps[1].id)
    assert next((p.parameter.code, p.parameter.lower, p.parameter.upper) for p in step.parameters) == (
        "PH", Decimal("6.8"), Decimal("7.2"))


def test_ordering_from_a_draft_recipe_is_refused_naming_the_recipe(site: dict[str, Actor]) -> None:
    # given
    draft, _ = draft_mbr(site)
    who = planner()
    before = footprint()

    # when
    with pytest.raises(Conflict) as refused:
        batches.order_batch(actor=who, mbr_id=draft.id, planned_size="200", planned_start=site_today())

    # then
    assert [p.field for p in refused.value.fields] == ["mbr_id"]
    assert footprint() == before


def test_bad_sizes_and_starts_are_named_together(site: dict[str, Actor]) -> None:
    who = planner()
    before = footprint()
    with pytest.raises(ValidationFailed) as refused:
        batches.order_batch(actor=who, mbr_id=1, planned_size="-5", planned_start="tomorrow")  # type: ignore[arg-type]
    assert [p.field for p in refused.value.fields] == ["planned_size", "planned_start"]
    assert footprint() == before


def test_a_shortage_names_every_short_line_and_reserves_nothing(site: dict[str, Actor]) -> None:
    # given: stock for 200 L (10 kg lots); 2000 L needs 12 kg Tris and 9 kg NaCl
    recipe = effective_mbr(site)
    released_stock(site, recipe.material_codes)
    who = planner()
    before, tris_reserved = footprint(), reserved(recipe.material_codes[0])

    # when
    with pytest.raises(Conflict) as refused:
        batches.order_batch(actor=who, mbr_id=recipe.mbr.id, planned_size="2000", planned_start=site_today())

    # then
    assert [p.field for p in refused.value.fields] == ["materials.1.material_code"]
    assert footprint() == before and reserved(recipe.material_codes[0]) == tris_reserved


def test_an_operator_may_not_order_batches(site: dict[str, Actor]) -> None:
    recipe = effective_mbr(site)
    with pytest.raises(PermissionDenied):
        batches.order_batch(actor=site["op.liu"], mbr_id=recipe.mbr.id, planned_size="200",
                            planned_start=site_today())


def test_cancelling_a_planned_batch_returns_its_reservations(site: dict[str, Actor]) -> None:
    # given
    batch, setup = planned_batch(site)
    code = setup.recipe.material_codes[0]
    assert reserved(code) == Decimal("1.200")

    # when
    apply_transition(actor=setup.planner, collection="batches", record_id=batch.id, name="cancel",
                     reason="Campaign postponed")

    # then
    view = batches.get_batch(actor=setup.planner, batch_id=batch.id)
    assert view.state == "cancelled" and all(not m.reservations for m in view.materials)
    assert reserved(code) == 0
