"""Reach master-batch-record states the way users do: through the services and signed transitions.

People: the recipe is written and submitted by a production supervisor (sup.gao, created on first
use), reviewed by another production supervisor (sup.wu, who also reviews the SOP), approved and
made effective by QA (qa.li). Materials are drafted by the warehouse (wh.zhao) and approved by
qa.li; the SOP is an effective controlled document (tests/quality/document_factories.py).

Shared by every batches test; keep names and signatures stable and add helpers at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pharmos.batches import service as batches
from pharmos.batches.mbr import BomLineInput, ParameterInput
from pharmos.batches.views import MbrView
from pharmos.compliance.lifecycle import apply_transition
from pharmos.core.actor import Actor
from pharmos.core.errors import NotFound
from pharmos.materials import service as materials
from tests.conftest import password_of
from tests.equipment.factories import ensure_class
from tests.materials.factories import SETUP, approved_material, person, warehouse_user
from tests.quality.document_factories import effective_document

__all__ = [
    "COLLECTION",
    "MbrSetup",
    "author",
    "draft_mbr",
    "effective_mbr",
    "ingredients",
    "reviewer",
    "transition",
]

COLLECTION = "master-batch-records"


@dataclass(frozen=True)
class MbrSetup:
    """An effective recipe and what it refers to (codes to build lots, equipment and training on)."""

    mbr: MbrView
    product_code: str
    material_codes: tuple[str, ...]  # the two dispensed BOM lines, in line order
    equipment_class_code: str  # required by the critical chromatography step (2.1)
    sop_number: str  # required by the critical chromatography step (2.1)
    author: Actor
    reviewer: Actor


def author(username: str = "sup.gao") -> Actor:
    """A production supervisor who writes recipes (mbr.author)."""
    return person(username, "production_supervisor", "高主管")


def reviewer(username: str = "sup.wu") -> Actor:
    """A second production supervisor who reviews them (mbr.review)."""
    return person(username, "production_supervisor", "吴主管")


def transition(actor: Actor, mbr_id: int, name: str, *, reason: str | None = None) -> str:
    """Apply a recipe transition as ``actor``, signing with their password where it is needed."""
    return apply_transition(actor=actor, collection=COLLECTION, record_id=mbr_id, name=name,
                            password=password_of(actor.username), reason=reason)


def _approved(site: dict[str, Actor], code: str, **fields: Any) -> str:
    try:
        materials.current_material(actor=SETUP, code=code)
    except NotFound:
        approved_material(warehouse_user(site), site["qa.li"], code, **fields)
    return code


@dataclass(frozen=True)
class Ingredients:
    product_code: str
    material_codes: tuple[str, str]
    equipment_class_code: str
    sop_number: str


def ingredients(site: dict[str, Actor], *, product_code: str = "DS-MAB01",
                material_codes: tuple[str, str] = ("RM-TRIS", "RM-NACL"),
                equipment_class_code: str = "ph_meter", sop_number: str | None = None) -> Ingredients:
    """Approved product and raw materials, an equipment class and an effective SOP (made on first use).

    ``equipment_class_code`` is one of tests/equipment/factories.ensure_class's codes, so
    ``usable_equipment(site, class_code)`` makes a unit of it.
    """
    _approved(site, product_code, name_zh="单抗原液", name_en="mAb drug substance", material_type="intermediate",
              storage_condition="2-8C", base_unit="g", shelf_life_days=730)
    _approved(site, material_codes[0], name_zh="三羟甲基氨基甲烷", name_en="Tromethamine (Tris)")
    _approved(site, material_codes[1], name_zh="氯化钠", name_en="Sodium chloride")
    ensure_class(equipment_class_code)
    if sop_number is None:
        sop_number = effective_document(site, title_zh="层析柱平衡操作规程", department="PROD").number
    return Ingredients(product_code, material_codes, equipment_class_code, sop_number)


def draft_mbr(site: dict[str, Actor], *, stage: str = "downstream", made: Ingredients | None = None,
              by: Actor | None = None) -> tuple[MbrView, Ingredients]:
    """A complete recipe in draft: BOM of two dispensed lines, a dispensing phase and a chromatography phase.

    - 1.1 称量配料 (dispense, both BOM lines, 240 min time limit)
    - 2.1 柱平衡 (critical; equipment class and SOP; pH 7.0 [6.8, 7.2] critical, duration 20–60 min, check)
    - 2.2 洗脱 (choice step/gradient expecting "step", optional free text)
    """
    made = made or ingredients(site)
    who = by or author()
    mbr = batches.create_mbr(actor=who, title="单抗原液 层析纯化", product_code=made.product_code, stage=stage,
                             batch_size=Decimal("200"), batch_unit="L", theoretical_yield=Decimal("500"),
                             yield_unit="g", yield_low_pct=Decimal("80"), yield_high_pct=Decimal("105"),
                             description="Protein A 捕获层析")
    tris, nacl = made.material_codes
    batches.set_bom(actor=who, mbr_id=mbr.id, lines=[
        BomLineInput(tris, Decimal("1.200"), "kg", Decimal("2"), step_code="1.1"),
        BomLineInput(nacl, Decimal("0.900"), "kg", Decimal("2"), step_code="1.1"),
    ])
    batches.add_phase(actor=who, mbr_id=mbr.id, name="配料 Dispensing")
    batches.add_phase(actor=who, mbr_id=mbr.id, name="层析 Chromatography")
    batches.add_step(actor=who, mbr_id=mbr.id, phase_seq=1, title="称量配料 Weigh buffer materials",
                     instructions="按批记录称量每种物料。\n扫描容器标签。", kind="dispense", time_limit_minutes=240)
    batches.add_step(
        actor=who, mbr_id=mbr.id, phase_seq=2, title="柱平衡 Column equilibration",
        instructions="用平衡缓冲液平衡层析柱，记录 pH。", critical=True,
        equipment_classes=[made.equipment_class_code], sop_numbers=[made.sop_number],
        parameters=[
            ParameterInput("PH", "平衡液 pH", "numeric", target=Decimal("7.0"), lower=Decimal("6.8"),
                           upper=Decimal("7.2"), critical=True),
            ParameterInput("EQ_TIME", "平衡时间", "duration", unit="min", target=Decimal("30"), lower=Decimal("20"),
                           upper=Decimal("60")),
            ParameterInput("COLUMN_OK", "层析柱完整性已确认", "check", expected="yes"),
        ])
    view = batches.add_step(
        actor=who, mbr_id=mbr.id, phase_seq=2, title="洗脱 Elution",
        parameters=[
            ParameterInput("MODE", "洗脱方式", "choice", choices=("step", "gradient"), expected="step"),
            ParameterInput("NOTE", "观察记录", "text", required=False),
        ])
    return view, made


def effective_mbr(site: dict[str, Actor], *, stage: str = "downstream", made: Ingredients | None = None
                  ) -> MbrSetup:
    """``draft_mbr`` submitted (sup.gao signs "authored"), reviewed (sup.wu), approved and made effective (qa.li)."""
    who, checker = author(), reviewer()
    draft, made = draft_mbr(site, stage=stage, made=made, by=who)
    transition(who, draft.id, "submit")
    batches.review_mbr(actor=checker, mbr_id=draft.id, password=password_of(checker.username),
                       comment="Checked against the validated process.")
    transition(site["qa.li"], draft.id, "approve")
    transition(site["qa.li"], draft.id, "make_effective")
    return MbrSetup(batches.get_mbr(actor=who, mbr_id=draft.id), made.product_code, made.material_codes,
                    made.equipment_class_code, made.sop_number, who, checker)
