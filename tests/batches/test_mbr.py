"""Master batch record rules: authoring and its validation, review, lifecycle, signatures, versions.

Bad inputs are refused naming the field, with nothing written (recipe rows and their audit
entries counted).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from pharmos.batches import service as batches
from pharmos.batches.mbr import BomLineInput, ParameterInput
from pharmos.batches.models import MasterBatchRecord, MbrMaterial, MbrParameter, MbrPhase, MbrStep
from pharmos.compliance.audit import AuditEntry
from pharmos.compliance.lifecycle import available_transitions
from pharmos.core.actor import Actor
from pharmos.core.db import read_session
from pharmos.core.errors import Conflict, DomainError, PermissionDenied, SignatureRefused, ValidationFailed
from tests.batches.mbr_factories import (
    COLLECTION,
    author,
    draft_mbr,
    effective_mbr,
    ingredients,
    reviewer,
    transition,
)
from tests.conftest import password_of
from tests.materials.factories import person

pytestmark = pytest.mark.sqlite_only


def written() -> dict[str, Any]:
    with read_session() as session:
        counts: dict[str, Any] = {model.__name__: session.scalar(select(func.count(model.id))) or 0
                                  for model in (MasterBatchRecord, MbrMaterial, MbrPhase, MbrStep, MbrParameter)}
        counts["audit"] = session.scalar(select(func.count(AuditEntry.id)).where(AuditEntry.record_type.in_(
            ("master_batch_record", "mbr_material", "mbr_phase", "mbr_step", "mbr_parameter")))) or 0
        counts["snapshots"] = [r.content_snapshot for r in session.scalars(select(MasterBatchRecord))]
        return counts


def fields_of(refusal: pytest.ExceptionInfo[DomainError]) -> set[str]:
    return {p.field for p in refusal.value.fields}


def header(**overrides: Any) -> dict[str, Any]:
    return {"title": "单抗原液 层析纯化", "product_code": "DS-MAB01", "stage": "downstream",
            "batch_size": Decimal("200"), "batch_unit": "L", "theoretical_yield": Decimal("500"), "yield_unit": "g",
            "yield_low_pct": Decimal("80"), "yield_high_pct": Decimal("105")} | overrides


# ---------------------------------------------------------------- authoring


def test_the_factory_recipe_is_effective_with_every_part_and_signature(site: dict[str, Actor]) -> None:
    # given / when
    setup = effective_mbr(site)

    # then
    mbr = setup.mbr
    assert (mbr.number, mbr.version, mbr.state) == ("MBR-0001", 1, "effective")
    assert [s.meaning for s in mbr.signatures if s.valid] == ["authored", "reviewed", "approved"]
    assert [(m.material_code, m.quantity, m.step_code) for m in mbr.materials] == [
        ("RM-TRIS", Decimal("1.2"), "1.1"), ("RM-NACL", Decimal("0.9"), "1.1")]
    steps = [s for phase in mbr.phases for s in phase.steps]
    assert [(s.code, s.seq, s.kind, s.critical) for s in steps] == [
        ("1.1", 1, "dispense", False), ("2.1", 2, "process", True), ("2.2", 3, "process", False)]
    ph = steps[1].parameters[0]
    assert (ph.code, ph.target, ph.lower, ph.upper, ph.critical) == ("PH", Decimal("7.0"), Decimal("6.8"),
                                                                     Decimal("7.2"), True)
    assert steps[1].equipment_classes == (setup.equipment_class_code,)
    assert steps[1].sop_numbers == (setup.sop_number,)
    assert steps[2].parameters[0].choices == ("step", "gradient")


def test_create_refuses_each_bad_header_field_and_writes_nothing(site: dict[str, Actor]) -> None:
    # given
    ingredients(site)
    before = written()

    # when
    with pytest.raises(ValidationFailed) as refused:
        batches.create_mbr(actor=author(), **header(
            title=" ", product_code="NO-SUCH", stage="sideways", batch_size=Decimal("0"), batch_unit="barrel",
            theoretical_yield="lots", yield_low_pct=Decimal("90"), yield_high_pct=Decimal("250")))

    # then
    assert fields_of(refused) == {"title", "product_code", "stage", "batch_size", "batch_unit", "theoretical_yield",
                                  "yield_high_pct"}
    assert written() == before


@pytest.mark.parametrize(("overrides", "field"), [
    ({"yield_low_pct": Decimal("95"), "yield_high_pct": Decimal("90")}, "yield_low_pct"),
    ({"yield_low_pct": Decimal("0")}, "yield_low_pct"),
    ({"yield_unit": "L"}, "yield_unit"),  # the product is kept in g
    ({"product_code": "RM-TRIS", "yield_unit": "mL"}, "yield_unit"),
    ({"batch_size": Decimal("-1")}, "batch_size"),
    ({"batch_size": "1.0000001"}, "batch_size"),
])
def test_create_refuses_an_inconsistent_header(site: dict[str, Actor], overrides: dict[str, Any],
                                               field: str) -> None:
    # given
    ingredients(site)
    before = written()

    # when
    with pytest.raises(ValidationFailed) as refused:
        batches.create_mbr(actor=author(), **header(**overrides))

    # then
    assert field in fields_of(refused)
    assert written() == before


def test_only_authors_write_recipes(site: dict[str, Actor]) -> None:
    # given
    ingredients(site)

    # when / then
    with pytest.raises(PermissionDenied):
        batches.create_mbr(actor=site["op.liu"], **header())
    assert written()["MasterBatchRecord"] == 0


def test_set_bom_names_each_bad_line_field_and_writes_nothing(site: dict[str, Actor]) -> None:
    # given
    draft, _ = draft_mbr(site)
    before = written()

    # when
    with pytest.raises(ValidationFailed) as refused:
        batches.set_bom(actor=author(), mbr_id=draft.id, lines=[
            BomLineInput("NO-SUCH", Decimal("1"), "kg", Decimal("2")),
            BomLineInput("RM-TRIS", Decimal("0"), "kg", Decimal("101")),
            BomLineInput("RM-NACL", Decimal("1"), "L", Decimal("2"), rounding_places=9),
            BomLineInput("DS-MAB01", Decimal("1.2345"), "g", Decimal("2"), rounding_places=2),
        ])

    # then
    assert fields_of(refused) == {"lines.0.material_code", "lines.1.quantity", "lines.1.tolerance_pct",
                                  "lines.2.unit", "lines.2.rounding_places", "lines.3.material_code",
                                  "lines.3.quantity"}
    assert written() == before


def test_add_step_names_each_bad_parameter_and_reference_and_writes_nothing(site: dict[str, Actor]) -> None:
    # given
    draft, _ = draft_mbr(site)
    before = written()

    # when
    with pytest.raises(ValidationFailed) as refused:
        batches.add_step(actor=author(), mbr_id=draft.id, phase_seq=2, title="离心", kind="stir",
                         equipment_classes=["centrifuge"], sop_numbers=["SOP-NONE-9999"], time_limit_minutes=0,
                         parameters=[
                             ParameterInput("RPM", "转速", "numeric", target=Decimal("5"), lower=Decimal("10"),
                                            upper=Decimal("1")),
                             ParameterInput("MODE", "方式", "choice", choices=("a",)),
                             ParameterInput("PICK", "选择", "choice", choices=("a", "b"), expected="c"),
                             ParameterInput("X", "x", "colour"),
                             ParameterInput("RPM", "again", "text", upper=Decimal("3")),
                             ParameterInput("T", "温度", "numeric", target=Decimal("20"), lower=Decimal("25")),
                             ParameterInput("CPP", "关键", "numeric", critical=True),
                         ])

    # then
    assert fields_of(refused) == {
        "kind", "equipment_classes.0", "sop_numbers.0", "time_limit_minutes", "parameters.0.lower",
        "parameters.1.choices", "parameters.2.expected", "parameters.3.kind", "parameters.4.code",
        "parameters.4.upper", "parameters.5.target", "parameters.6.lower"}
    assert written() == before


def test_add_step_to_a_missing_phase_names_phase_seq(site: dict[str, Actor]) -> None:
    # given
    draft, _ = draft_mbr(site)
    before = written()

    # when
    with pytest.raises(ValidationFailed) as refused:
        batches.add_step(actor=author(), mbr_id=draft.id, phase_seq=9, title="不存在")

    # then
    assert fields_of(refused) == {"phase_seq"}
    assert written() == before


def test_steps_keep_recipe_order_and_unique_codes_through_adds_and_removals(site: dict[str, Actor]) -> None:
    # given
    draft, _ = draft_mbr(site)
    who = author()

    # when: a step appended to phase 1 after phase 2 exists, then step 2.1 removed and another added
    view = batches.add_step(actor=who, mbr_id=draft.id, phase_seq=1, title="复核称量")
    step_21 = next(s for p in view.phases for s in p.steps if s.code == "2.1")
    batches.remove_step(actor=who, mbr_id=draft.id, step_id=step_21.id)
    view = batches.add_step(actor=who, mbr_id=draft.id, phase_seq=2, title="再平衡")

    # then
    assert [(s.code, s.seq) for p in view.phases for s in p.steps] == [
        ("1.1", 1), ("1.2", 2), ("2.2", 3), ("2.3", 4)]
    with read_session() as session:  # the removed step's parameters went with it
        assert session.scalar(select(func.count(MbrParameter.id)).where(MbrParameter.step_id == step_21.id)) == 0


def test_every_draft_edit_rebuilds_the_content_snapshot(site: dict[str, Actor]) -> None:
    # given
    draft, _ = draft_mbr(site)
    who = author()
    step = draft.phases[1].steps[1]

    # when
    batches.update_step(actor=who, mbr_id=draft.id, step_id=step.id, title="梯度洗脱",
                        parameters=[ParameterInput("MODE", "洗脱方式", "choice", choices=("gradient", "step"))])
    batches.update_mbr_header(actor=who, mbr_id=draft.id, reason="收率窗口按验证结果调整",
                              yield_low_pct=Decimal("85"))

    # then
    with read_session() as session:
        snapshot = session.get(MasterBatchRecord, draft.id).content_snapshot  # type: ignore[union-attr]
    assert snapshot["header"]["yield_low_pct"] == "85"
    edited = next(s for s in snapshot["steps"] if s["code"] == "2.2")
    assert edited["title"] == "梯度洗脱"
    assert [p["code"] for p in edited["parameters"]] == ["MODE"]
    assert edited["parameters"][0]["choices"] == ["gradient", "step"]


def test_header_edit_needs_a_reason_and_known_fields(site: dict[str, Actor]) -> None:
    # given
    draft, _ = draft_mbr(site)
    before = written()

    # when / then
    with pytest.raises(ValidationFailed) as no_reason:
        batches.update_mbr_header(actor=author(), mbr_id=draft.id, reason=" ", title="新标题")
    with pytest.raises(ValidationFailed) as unknown:
        batches.update_mbr_header(actor=author(), mbr_id=draft.id, reason="r", colour="blue")
    with pytest.raises(ValidationFailed) as window:
        batches.update_mbr_header(actor=author(), mbr_id=draft.id, reason="r", yield_low_pct=Decimal("110"))
    assert fields_of(no_reason) == {"reason"}
    assert fields_of(unknown) == {"colour"}
    assert fields_of(window) == {"yield_low_pct"}
    assert written() == before


# ---------------------------------------------------------------- submit, review, approve


def test_an_incomplete_recipe_cannot_be_submitted_and_the_reason_is_shown(site: dict[str, Actor]) -> None:
    # given: the BOM names step 2.1, which is not a dispensing step
    draft, _ = draft_mbr(site)
    who = author()
    batches.set_bom(actor=who, mbr_id=draft.id, lines=[BomLineInput("RM-TRIS", Decimal("1"), "kg", Decimal("2"),
                                                                    step_code="2.1")])

    # when
    options = {o.name: o for o in available_transitions(actor=who, collection=COLLECTION, record_id=draft.id)}
    with pytest.raises(DomainError):
        transition(who, draft.id, "submit")

    # then
    assert not options["submit"].allowed
    assert "2.1 is not a dispensing step" in (options["submit"].why_not or "")
    assert "Dispensing step 1.1 has no BOM line" in (options["submit"].why_not or "")
    assert batches.get_mbr(actor=who, mbr_id=draft.id).state == "draft"


def test_a_submitted_recipe_is_not_edited(site: dict[str, Actor]) -> None:
    # given
    draft, _ = draft_mbr(site)
    who = author()
    transition(who, draft.id, "submit")
    before = written()

    # when / then
    with pytest.raises(Conflict):
        batches.set_bom(actor=who, mbr_id=draft.id, lines=[])
    with pytest.raises(Conflict):
        batches.add_phase(actor=who, mbr_id=draft.id, name="包装")
    with pytest.raises(Conflict):
        batches.remove_step(actor=who, mbr_id=draft.id, step_id=draft.phases[0].steps[0].id)
    assert written() == before


def test_the_author_may_neither_review_nor_approve(site: dict[str, Actor]) -> None:
    # given: someone holding authoring, review and approval rights writes the recipe
    both = person("pm.qian", ["production_supervisor", "qa_manager"], "钱经理")
    draft, _ = draft_mbr(site, by=both)
    transition(both, draft.id, "submit")

    # when / then
    with pytest.raises(PermissionDenied):
        batches.review_mbr(actor=both, mbr_id=draft.id, password=password_of(both.username))
    batches.review_mbr(actor=reviewer(), mbr_id=draft.id, password=password_of("sup.wu"))
    with pytest.raises((SignatureRefused, DomainError)):
        transition(both, draft.id, "approve")
    assert batches.get_mbr(actor=both, mbr_id=draft.id).state == "in_review"


def test_approval_waits_for_the_production_review(site: dict[str, Actor]) -> None:
    # given
    draft, _ = draft_mbr(site)
    transition(author(), draft.id, "submit")

    # when
    options = {o.name: o for o in available_transitions(actor=site["qa.li"], collection=COLLECTION,
                                                        record_id=draft.id)}

    # then
    assert not options["approve"].allowed
    with pytest.raises(DomainError):
        transition(site["qa.li"], draft.id, "approve")


def test_review_needs_the_password_and_writes_nothing_when_wrong(site: dict[str, Actor]) -> None:
    # given
    draft, _ = draft_mbr(site)
    transition(author(), draft.id, "submit")

    # when / then
    with pytest.raises(ValidationFailed) as blank:
        batches.review_mbr(actor=reviewer(), mbr_id=draft.id, password="")
    with pytest.raises(SignatureRefused):
        batches.review_mbr(actor=reviewer(), mbr_id=draft.id, password="wrong-password")
    assert fields_of(blank) == {"password"}
    assert [s.meaning for s in batches.get_mbr(actor=reviewer(), mbr_id=draft.id).signatures] == ["authored"]


def test_editing_after_return_breaks_the_signatures_until_signed_again(site: dict[str, Actor]) -> None:
    # given: submitted and reviewed, then returned to the author
    draft, _ = draft_mbr(site)
    who, checker = author(), reviewer()
    transition(who, draft.id, "submit")
    batches.review_mbr(actor=checker, mbr_id=draft.id, password=password_of(checker.username))
    transition(checker, draft.id, "return", reason="pH 限度需与验证报告一致")

    # when
    batches.update_step(actor=who, mbr_id=draft.id, step_id=draft.phases[1].steps[0].id, time_limit_minutes=90)

    # then: both signatures show the content changed; approval needs a fresh review
    signatures = batches.get_mbr(actor=who, mbr_id=draft.id).signatures
    assert [(s.meaning, s.valid) for s in signatures] == [("authored", False), ("reviewed", False)]
    transition(who, draft.id, "submit")
    with pytest.raises(DomainError):
        transition(site["qa.li"], draft.id, "approve")
    batches.review_mbr(actor=checker, mbr_id=draft.id, password=password_of(checker.username))
    transition(site["qa.li"], draft.id, "approve")
    assert batches.get_mbr(actor=who, mbr_id=draft.id).state == "approved"


# ---------------------------------------------------------------- versions


def test_a_new_version_copies_everything_and_supersedes_the_old_one_when_effective(site: dict[str, Actor]) -> None:
    # given
    setup = effective_mbr(site)
    who = setup.author

    # when
    v2 = batches.new_mbr_version(actor=who, mbr_id=setup.mbr.id, change_summary="平衡时间延长")

    # then: the copy is a draft with the same content
    assert (v2.number, v2.version, v2.state, v2.change_summary) == (setup.mbr.number, 2, "draft", "平衡时间延长")
    assert [(m.material_code, m.quantity) for m in v2.materials] == [
        (m.material_code, m.quantity) for m in setup.mbr.materials]
    assert [(s.code, s.title, len(s.parameters)) for p in v2.phases for s in p.steps] == [
        (s.code, s.title, len(s.parameters)) for p in setup.mbr.phases for s in p.steps]
    assert v2.signatures == ()
    with pytest.raises(Conflict):  # only one open version of a number at a time
        batches.new_mbr_version(actor=who, mbr_id=setup.mbr.id, change_summary="again")

    # when: v2 is taken to effective
    transition(who, v2.id, "submit")
    batches.review_mbr(actor=setup.reviewer, mbr_id=v2.id, password=password_of(setup.reviewer.username))
    transition(site["qa.li"], v2.id, "approve")
    transition(site["qa.li"], v2.id, "make_effective")

    # then: one effective version per product and stage
    assert batches.get_mbr(actor=who, mbr_id=setup.mbr.id).state == "superseded"
    current = batches.effective_mbr(product_code=setup.product_code, stage="downstream")
    assert current is not None and current.id == v2.id
    assert batches.effective_mbr(product_code=setup.product_code, stage="upstream") is None


def test_a_new_version_needs_an_effective_source_and_a_summary(site: dict[str, Actor]) -> None:
    # given
    draft, _ = draft_mbr(site)
    before = written()

    # when / then
    with pytest.raises(Conflict):
        batches.new_mbr_version(actor=author(), mbr_id=draft.id, change_summary="copy a draft")
    with pytest.raises(ValidationFailed) as blank:
        batches.new_mbr_version(actor=author(), mbr_id=draft.id, change_summary="")
    assert fields_of(blank) == {"change_summary"}
    assert written() == before


def test_making_a_second_recipe_effective_for_the_same_product_and_stage_supersedes_the_first(
        site: dict[str, Actor]) -> None:
    # given
    first = effective_mbr(site)

    # when: a different recipe number for the same product and stage
    second = effective_mbr(site, made=ingredients(site, sop_number=first.sop_number))

    # then
    assert second.mbr.number == "MBR-0002"
    assert batches.get_mbr(actor=site["viewer.chen"], mbr_id=first.mbr.id).state == "superseded"
    listed = batches.list_mbrs(actor=site["viewer.chen"], state="effective")
    assert [m.id for m in listed] == [second.mbr.id]


def test_list_filters_and_refuses_unknown_filters(site: dict[str, Actor]) -> None:
    # given
    draft, _ = draft_mbr(site)
    viewer = site["viewer.chen"]

    # when
    by_query = batches.list_mbrs(actor=viewer, query="层析")
    by_stage = batches.list_mbrs(actor=viewer, stage="upstream")

    # then
    assert [m.id for m in by_query] == [draft.id] and by_query[0].step_count == 3
    assert by_stage == []
    with pytest.raises(ValidationFailed) as refused:
        batches.list_mbrs(actor=viewer, state="nonsense")
    assert fields_of(refused) == {"state"}


def test_bom_lines_are_added_and_removed_one_at_a_time_with_the_line_fields_named(site: dict[str, Actor]) -> None:
    # given
    draft, _ = draft_mbr(site)
    who = author()
    before = written()

    # when
    with pytest.raises(ValidationFailed) as refused:
        batches.add_bom_line(actor=who, mbr_id=draft.id, line=BomLineInput("RM-NACL", "0", "kg", "2"))

    # then
    assert fields_of(refused) == {"quantity"}
    assert written() == before

    # when
    added = batches.add_bom_line(actor=who, mbr_id=draft.id, line=BomLineInput("RM-NACL", "50", "g", "5",
                                                                               step_code="2.1", dispensed=False))
    removed = batches.remove_bom_line(actor=who, mbr_id=draft.id, line_no=1)

    # then
    assert [(m.line_no, m.material_code, m.unit) for m in added.materials][-1] == (3, "RM-NACL", "g")
    assert [(m.line_no, m.material_code) for m in removed.materials] == [(1, "RM-NACL"), (2, "RM-NACL")]
