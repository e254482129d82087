"""Reach batch states the way users do: order from an effective recipe, start, enter, scan and sign.

People: batches are ordered by a planner (plan.he: batches.plan, stock.issue), executed by
op.liu (trained on the recipe's SOP by read-and-understood) and critical steps verified by a
second operator (op.zhao). Stock: released lots received by the warehouse and released by
qa.li; equipment: a usable unit of the recipe's class (tests/equipment/factories.py).

Shared by every batches test; keep names and signatures stable and add helpers at the end.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from pharmos.batches import service as batches
from pharmos.batches.mbr import BomLineInput, ParameterInput
from pharmos.batches.views import BatchView, StepView
from pharmos.compliance.lifecycle import apply_transition
from pharmos.core.actor import Actor
from pharmos.core.clock import utcnow
from pharmos.core.errors import Conflict, ValidationFailed
from pharmos.quality import training
from tests.batches.mbr_factories import Ingredients, MbrSetup, author, effective_mbr, ingredients, reviewer
from tests.batches.mbr_factories import transition as mbr_transition
from tests.conftest import password_of
from tests.equipment.factories import usable_equipment
from tests.materials.factories import SETUP, approved_supplier, location_tree, person, released_lot, warehouse_user
from tests.quality.training_factories import acknowledge, require

__all__ = [
    "ExecutionSetup",
    "planned_batch",
    "planner",
    "process_mbr",
    "released_stock",
    "sign",
    "start",
    "started_batch",
    "step_by_code",
    "trained",
    "verifier",
]


@dataclass(frozen=True)
class ExecutionSetup:
    """What a started batch was made with: people, equipment and the released stock it may use."""

    recipe: MbrSetup
    operator: Actor  # op.liu, trained on the SOP
    verifier: Actor  # op.zhao, a second operator (four-eyes)
    planner: Actor
    equipment_number: str  # a usable unit of the recipe's equipment class
    lots: dict[str, str] = field(default_factory=dict)  # material code → released lot number
    containers: dict[str, str] = field(default_factory=dict)  # material code → a container number of that lot


def planner() -> Actor:
    """Orders batches and reserves their stock (batches.plan, stock.issue)."""
    return person("plan.he", "planner", "何计划")


def verifier() -> Actor:
    """A second operator, who verifies critical steps performed by op.liu."""
    return person("op.zhao", "operator", "赵敏")


def trained(site: dict[str, Actor], sop_number: str, *people: Actor) -> None:
    """``people`` (operators) trained on the SOP: required for operators, each signs read-and-understood."""
    with contextlib.suppress(Conflict, ValidationFailed):  # required by an earlier call in this test
        require(site, document_number=sop_number)
    training.sync_training(actor=SETUP)
    for who in people:
        if not training.is_qualified(username=who.username, document_number=sop_number).qualified:
            acknowledge(who, sop_number)


def released_stock(site: dict[str, Actor], material_codes: tuple[str, ...], *, quantity: str = "10",
                   supplier_code: str = "SUP-EBR") -> tuple[dict[str, str], dict[str, str]]:
    """One released lot (two containers) of each material; returns (lot numbers, container numbers) by code."""
    clerk = warehouse_user(site)
    with contextlib.suppress(Conflict, ValidationFailed):
        location_tree(clerk)
    supplier = None
    with contextlib.suppress(Conflict, ValidationFailed):
        supplier = approved_supplier(clerk, site["qa.li"], material_codes, code=supplier_code)
    if supplier is None:
        from pharmos.materials import service as materials

        supplier = next(s for s in materials.list_suppliers(actor=SETUP) if s.code == supplier_code)
    lots, containers = {}, {}
    for code in material_codes:
        lot = released_lot(site, material_code=code, supplier_id=supplier.id, quantity=quantity, containers=2)
        lots[code], containers[code] = lot.number, lot.containers[0].number
    return lots, containers


def start(batch_id: int, who: Actor) -> BatchView:
    apply_transition(actor=who, collection="batches", record_id=batch_id, name="start")
    return batches.get_batch(actor=who, batch_id=batch_id)


def step_by_code(batch: BatchView | int, code: str, who: Actor = SETUP) -> StepView:
    view = batches.get_batch(actor=who, batch_id=batch if isinstance(batch, int) else batch.id)
    step = next(s for s in view.steps if s.code == code)
    return batches.get_step(actor=who, batch_id=view.id, step_id=step.id)


def sign(who: Actor, batch_id: int, step_id: int) -> StepView:
    return batches.sign_step(actor=who, batch_id=batch_id, step_id=step_id, password=password_of(who.username))


def planned_batch(site: dict[str, Actor], setup: ExecutionSetup | None = None, *,
                  recipe: MbrSetup | None = None, planned_size: str = "200") -> tuple[BatchView, ExecutionSetup]:
    """A batch ordered by plan.he from ``effective_mbr`` (or ``recipe``), stock reserved FEFO; not started.

    Pass the ``setup`` of an earlier call to order another batch with the same recipe, people,
    equipment and stock.
    """
    if setup is None:
        recipe = recipe or effective_mbr(site)
        operator, second = site["op.liu"], verifier()
        trained(site, recipe.sop_number, operator, second)
        unit = usable_equipment(site, recipe.equipment_class_code)
        lots, containers = released_stock(site, recipe.material_codes)
        setup = ExecutionSetup(recipe=recipe, operator=operator, verifier=second, planner=planner(),
                               equipment_number=unit.number, lots=lots, containers=containers)
    ordered = batches.order_batch(actor=setup.planner, mbr_id=setup.recipe.mbr.id, planned_size=Decimal(planned_size),
                                  planned_start=utcnow() + timedelta(hours=1))
    return ordered, setup


def started_batch(site: dict[str, Actor], setup: ExecutionSetup | None = None, *,
                  recipe: MbrSetup | None = None, planned_size: str = "200") -> tuple[BatchView, ExecutionSetup]:
    """``planned_batch`` started by op.liu (its first steps open)."""
    ordered, setup = planned_batch(site, setup, recipe=recipe, planned_size=planned_size)
    return start(ordered.id, setup.operator), setup


def process_mbr(site: dict[str, Actor], *, made: Ingredients | None = None, **step_fields: Any) -> MbrSetup:
    """An effective recipe without dispensing, for execution rules (made like ``effective_mbr``).

    - BOM: Tris 1.2 kg per 200 L, not dispensed (its lot is scanned where it is added)
    - 1.1 缓冲液配制 (process; SOP; TEMP numeric [15, 25] °C)
    - 2.1 柱平衡 (critical; equipment class and SOP; PH numeric [6.8, 7.2] critical; START timestamp)
    - 3.1 取样 (MODE choice step/gradient expecting step) and, in parallel,
      4.1 清场 (CLEAN check; NOTE optional text)
    """
    made = made or ingredients(site)
    who, checker = author(), reviewer()
    mbr = batches.create_mbr(actor=who, title="缓冲液配制与层析", product_code=made.product_code, stage="other",
                             batch_size=Decimal("200"), batch_unit="L", theoretical_yield=Decimal("500"),
                             yield_unit="g", yield_low_pct=Decimal("80"), yield_high_pct=Decimal("105"))
    tris = made.material_codes[0]
    batches.set_bom(actor=who, mbr_id=mbr.id, lines=[
        BomLineInput(tris, Decimal("1.200"), "kg", Decimal("2"), dispensed=False)])
    for name, parallel in (("配制 Preparation", False), ("层析 Chromatography", False), ("取样 Sampling", False),
                           ("清场 Line clearance", True)):
        batches.add_phase(actor=who, mbr_id=mbr.id, name=name, parallel_with_previous=parallel)
    batches.add_step(actor=who, mbr_id=mbr.id, phase_seq=1, title="缓冲液配制 Prepare buffer",
                     sop_numbers=[made.sop_number], instructions="加入 Tris，搅拌至溶解。",
                     parameters=[ParameterInput("TEMP", "温度", "numeric", unit="°C", target=Decimal("20"),
                                                lower=Decimal("15"), upper=Decimal("25"))], **step_fields)
    batches.add_step(actor=who, mbr_id=mbr.id, phase_seq=2, title="柱平衡 Column equilibration", critical=True,
                     equipment_classes=[made.equipment_class_code], sop_numbers=[made.sop_number],
                     parameters=[ParameterInput("PH", "平衡液 pH", "numeric", target=Decimal("7.0"),
                                                lower=Decimal("6.8"), upper=Decimal("7.2"), critical=True),
                                 ParameterInput("START", "开始时间", "timestamp", required=False)])
    batches.add_step(actor=who, mbr_id=mbr.id, phase_seq=3, title="取样 Sampling",
                     parameters=[ParameterInput("MODE", "洗脱方式", "choice", choices=("step", "gradient"),
                                                expected="step")])
    batches.add_step(actor=who, mbr_id=mbr.id, phase_seq=4, title="清场 Line clearance",
                     parameters=[ParameterInput("CLEAN", "清场合格", "check", expected="pass"),
                                 ParameterInput("NOTE", "备注", "text", required=False)])
    mbr_transition(who, mbr.id, "submit")
    batches.review_mbr(actor=checker, mbr_id=mbr.id, password=password_of(checker.username), comment="OK")
    mbr_transition(site["qa.li"], mbr.id, "approve")
    mbr_transition(site["qa.li"], mbr.id, "make_effective")
    return MbrSetup(batches.get_mbr(actor=who, mbr_id=mbr.id), made.product_code, made.material_codes,
                    made.equipment_class_code, made.sop_number, who, checker)
