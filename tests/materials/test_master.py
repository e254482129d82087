"""Material master versions, suppliers and the approved supplier list, storage locations."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from pharmos.compliance.audit import count_entries
from pharmos.compliance.lifecycle import apply_transition
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today
from pharmos.core.db import read_session
from pharmos.core.errors import Conflict, NotFound, PermissionDenied, TransitionRefused, ValidationFailed
from pharmos.materials import service as materials
from pharmos.materials.master import validate_material_fields
from pharmos.materials.models import Material, MaterialUnit, StorageLocation, Supplier
from pharmos.materials.receiving import OrderLineInput, ReceiptLineInput
from tests.conftest import password_of
from tests.materials import factories as f

# Service rules: SQLite is enough; this module's API tests run on both back-ends.
pytestmark = pytest.mark.sqlite_only

TODAY = site_today()
GOOD: dict[str, Any] = {"code": "RM-0001", "name_zh": "氯化钠", "name_en": "Sodium chloride",
                        "material_type": "excipient", "base_unit": "kg", "storage_condition": "15-25C"}


@pytest.fixture
def lite(sqlite_url: str) -> dict[str, Actor]:
    """The site's people on SQLite only, for the rule tests."""
    return f.site_people()


def _rows() -> tuple[int, int, int, int, int]:
    with read_session() as session:
        return (session.scalar(select(func.count(Material.id))) or 0,
                session.scalar(select(func.count(MaterialUnit.id))) or 0,
                session.scalar(select(func.count(Supplier.id))) or 0,
                session.scalar(select(func.count(StorageLocation.id))) or 0,
                count_entries(session))


def _fields(error: pytest.ExceptionInfo[Any]) -> set[str]:
    return {p.field for p in error.value.fields}


# ---------------------------------------------------------------- material master


def test_a_material_is_drafted_approved_and_changed_through_new_versions(site: dict[str, Actor]) -> None:
    # given
    clerk, qa = f.warehouse_user(site), site["qa.li"]
    draft = materials.draft_material(actor=clerk, **GOOD, pack_units={"bag": "25"}, shelf_life_days=1095)
    # when
    apply_transition(actor=qa, collection="materials", record_id=draft.id, name="approve",
                     password=password_of("qa.li"), meaning="approved")
    v2 = materials.draft_material(actor=clerk, **{**GOOD, "name_en": "Sodium chloride, Ph. Eur."})
    # then: v1 stays in force until v2 is approved; v2 keeps v1's pack units
    assert (draft.version, draft.state, draft.author) == (1, "draft", clerk.username)
    assert (v2.version, v2.state) == (2, "draft")
    assert [(p.unit, p.factor_to_base) for p in v2.pack_units] == [("bag", Decimal(25))]
    assert materials.current_material(actor=clerk, code="RM-0001").id == draft.id
    with pytest.raises(Conflict):
        materials.draft_material(actor=clerk, **GOOD)
    apply_transition(actor=qa, collection="materials", record_id=v2.id, name="approve",
                     password=password_of("qa.li"), meaning="approved")
    current = materials.current_material(actor=clerk, code="RM-0001")
    assert current.id == v2.id and current.name_en == "Sodium chloride, Ph. Eur."
    assert [s.meaning for s in current.signatures] == ["approved"]
    assert materials.get_material(actor=clerk, material_id=draft.id).state == "obsolete"
    with read_session() as session:
        row = session.get(Material, draft.id)
        assert row is not None and row.author_id == clerk.user_id


@pytest.mark.requirement("21 CFR 11.70")
def test_the_approval_signature_covers_the_pack_units(site: dict[str, Actor]) -> None:
    # given: an approved material whose bag is 25 kg
    from sqlalchemy import update

    from pharmos.core.db import transaction

    clerk, qa = f.warehouse_user(site), site["qa.li"]
    draft = materials.draft_material(actor=clerk, **GOOD, pack_units={"bag": "25"})
    apply_transition(actor=qa, collection="materials", record_id=draft.id, name="approve",
                     password=password_of("qa.li"), meaning="approved")
    assert [s.valid for s in materials.get_material(actor=clerk, material_id=draft.id).signatures] == [True]
    # when: someone with database access makes the bag 20 kg behind the lifecycle's back
    with transaction(actor=f.SETUP, reason="tampering") as session:
        session.execute(update(MaterialUnit).where(MaterialUnit.material_id == draft.id).values(
            factor_to_base=Decimal(20)))
    # then: QA's approval no longer matches what it approved
    signature = materials.get_material(actor=clerk, material_id=draft.id).signatures[0]
    assert not signature.valid and signature.problem == "Record changed after signing."


@pytest.mark.requirement("EU GMP Annex 11 §14")
def test_the_author_of_a_material_cannot_approve_it(lite: dict[str, Actor]) -> None:
    # given: QA drafts the material herself
    qa = lite["qa.li"]
    draft = materials.draft_material(actor=qa, **GOOD)
    # when / then
    with pytest.raises(TransitionRefused, match="author"):
        apply_transition(actor=qa, collection="materials", record_id=draft.id, name="approve",
                         password=password_of("qa.li"), meaning="approved")
    assert materials.get_material(actor=qa, material_id=draft.id).state == "draft"


@pytest.mark.parametrize(("change", "field"), [
    pytest.param({"code": "rm 1"}, "code", id="code with lower case and space"),
    pytest.param({"code": "-RM"}, "code", id="code starting with a hyphen"),
    pytest.param({"name_zh": " "}, "name_zh", id="no Chinese name"),
    pytest.param({"material_type": "gold"}, "material_type", id="unknown type"),
    pytest.param({"base_unit": "lb"}, "base_unit", id="unknown base unit"),
    pytest.param({"storage_condition": "cool"}, "storage_condition", id="unknown storage condition"),
    pytest.param({"shelf_life_days": -1}, "shelf_life_days", id="negative shelf life"),
    pytest.param({"retest_interval_days": "90"}, "retest_interval_days", id="retest interval as text"),
    pytest.param({"shelf_life_days": 100, "retest_interval_days": 200}, "retest_interval_days",
                 id="retest after shelf life"),
    pytest.param({"min_remaining_shelf_life_days": -3}, "min_remaining_shelf_life_days", id="negative minimum"),
    pytest.param({"pack_units": {"kg": "1"}}, "pack_units.kg", id="pack unit named like a standard unit"),
    pytest.param({"pack_units": {"drum": "0"}}, "pack_units.drum", id="zero pack factor"),
    pytest.param({"pack_units": {"drum": "-25"}}, "pack_units.drum", id="negative pack factor"),
    pytest.param({"pack_units": {"drum": "a lot"}}, "pack_units.drum", id="pack factor not a number"),
    pytest.param({"colour": "blue"}, "colour", id="unknown field"),
])
def test_material_fields_are_checked_one_by_one(change: dict[str, Any], field: str) -> None:
    # given / when
    problems = validate_material_fields(**{**GOOD, **change})
    # then
    assert [p.field for p in problems] == [field]


def test_valid_material_fields_have_no_problems() -> None:
    # given / when / then
    assert validate_material_fields(**GOOD, pack_units={"drum": Decimal("25.5")}, shelf_life_days=730,
                                    retest_interval_days=365) == []


def test_a_bad_material_draft_writes_nothing(lite: dict[str, Actor]) -> None:
    # given
    clerk = f.warehouse_user(lite)
    before = _rows()
    # when
    with pytest.raises(ValidationFailed) as refused:
        materials.draft_material(actor=clerk, **{**GOOD, "base_unit": "lb", "storage_condition": "cool"})
    # then
    assert _fields(refused) == {"base_unit", "storage_condition"}
    assert _rows() == before


def test_only_material_editors_draft_materials(lite: dict[str, Actor]) -> None:
    # given / when / then
    with pytest.raises(PermissionDenied):
        materials.draft_material(actor=lite["viewer.chen"], **GOOD)


def test_a_draft_is_revised_with_a_reason_and_an_approved_version_is_not(lite: dict[str, Actor]) -> None:
    # given
    clerk, qa = f.warehouse_user(lite), lite["qa.li"]
    draft = materials.draft_material(actor=clerk, **GOOD, pack_units={"bag": "25"})
    # when
    revised = materials.revise_material_draft(actor=clerk, material_id=draft.id, reason="Supplier spec v3",
                                              storage_condition="le30C", pack_units={"bag": "20", "drum": "50"})
    # then: changed fields changed, the others kept
    assert revised.storage_condition == "le30C" and revised.name_zh == "氯化钠"
    assert {(p.unit, p.factor_to_base) for p in revised.pack_units} == {("bag", Decimal(20)), ("drum", Decimal(50))}
    with pytest.raises(ValidationFailed) as no_reason:
        materials.revise_material_draft(actor=clerk, material_id=draft.id, reason=" ", name_zh="盐")
    assert _fields(no_reason) == {"reason"}
    with pytest.raises(ValidationFailed) as bad:
        materials.revise_material_draft(actor=clerk, material_id=draft.id, reason="typo", shelf_life_days=-1)
    assert _fields(bad) == {"shelf_life_days"}
    apply_transition(actor=qa, collection="materials", record_id=draft.id, name="approve",
                     password=password_of("qa.li"), meaning="approved")
    with pytest.raises(Conflict, match="only drafts"):
        materials.revise_material_draft(actor=clerk, material_id=draft.id, reason="late", name_zh="盐")
    with pytest.raises(NotFound):
        materials.revise_material_draft(actor=clerk, material_id=999, reason="x", name_zh="盐")


def test_materials_are_listed_and_searched(lite: dict[str, Actor]) -> None:
    # given
    clerk, qa = f.warehouse_user(lite), lite["qa.li"]
    f.approved_material(clerk, qa, "RM-0001", name_zh="CHO培养基", name_en="CHO medium")
    materials.draft_material(actor=clerk, **{**GOOD, "code": "PK-0001", "name_zh": "西林瓶", "name_en": "Vial 10R",
                                             "material_type": "packaging", "base_unit": "each"})
    # when / then
    assert [m.code for m in materials.list_materials(actor=clerk, query="vial")] == ["PK-0001"]
    assert [m.code for m in materials.list_materials(actor=clerk, query="培养基")] == ["RM-0001"]
    assert [m.code for m in materials.list_materials(actor=clerk, state="approved")] == ["RM-0001"]
    assert [m.code for m in materials.list_materials(actor=clerk, material_type="packaging")] == ["PK-0001"]
    with pytest.raises(NotFound):
        materials.current_material(actor=clerk, code="PK-0001")
    with pytest.raises(ValidationFailed):
        materials.list_materials(actor=clerk, state="retired")


# ---------------------------------------------------------------- suppliers


def test_suppliers_are_created_updated_and_qualified_per_material(site: dict[str, Actor]) -> None:
    # given
    clerk, qa = f.warehouse_user(site), site["qa.li"]
    f.approved_material(clerk, qa, "RM-0001")
    supplier = materials.create_supplier(actor=clerk, code="SUP-001", name="苏州赛默", kind="distributor",
                                         last_audit_on=TODAY - timedelta(days=100),
                                         next_audit_due=TODAY + timedelta(days=265))
    # when
    materials.set_supplier_approval(actor=qa, supplier_id=supplier.id, material_code="RM-0001",
                                    status="conditional", note="CAPA-12 open", reason="Audit observations")
    updated = materials.set_supplier_approval(actor=qa, supplier_id=supplier.id, material_code="RM-0001",
                                              status="approved", reason="CAPA-12 closed")
    renamed = materials.update_supplier(actor=clerk, supplier_id=supplier.id, reason="Company renamed",
                                        name="苏州赛默飞世尔")
    # then
    assert [(a.material_code, a.status, a.decided_by) for a in updated.approvals] == [("RM-0001", "approved", "qa.li")]
    assert renamed.name == "苏州赛默飞世尔" and renamed.kind == "distributor"
    assert renamed.on_time_delivery_pct is None and renamed.receipt_count == 0
    assert [s.code for s in materials.list_suppliers(actor=clerk, query="赛默")] == ["SUP-001"]


def test_bad_supplier_inputs_are_refused(lite: dict[str, Actor]) -> None:
    # given
    clerk, qa = f.warehouse_user(lite), lite["qa.li"]
    supplier = materials.create_supplier(actor=clerk, code="SUP-001", name="苏州赛默")
    before = _rows()
    # when / then
    with pytest.raises(Conflict):
        materials.create_supplier(actor=clerk, code="SUP-001", name="另一家")
    with pytest.raises(ValidationFailed) as bad:
        materials.create_supplier(actor=clerk, code="SUP-002", name="", kind="broker",
                                  last_audit_on=TODAY, next_audit_due=TODAY - timedelta(days=1))
    assert _fields(bad) == {"name", "kind", "next_audit_due"}
    with pytest.raises(ValidationFailed) as unknown:
        materials.set_supplier_approval(actor=qa, supplier_id=supplier.id, material_code="RM-0404",
                                        status="approved", reason="Audit")
    assert _fields(unknown) == {"material_code"}
    with pytest.raises(ValidationFailed) as status:
        materials.set_supplier_approval(actor=qa, supplier_id=supplier.id, material_code="RM-0001",
                                        status="maybe", reason="Audit")
    assert _fields(status) == {"status"}
    with pytest.raises(ValidationFailed) as reason:
        materials.update_supplier(actor=clerk, supplier_id=supplier.id, reason="", name="X")
    assert _fields(reason) == {"reason"}
    with pytest.raises(PermissionDenied):
        materials.set_supplier_approval(actor=clerk, supplier_id=supplier.id, material_code="RM-0001",
                                        status="approved", reason="I like them")
    assert _rows() == before


def test_on_time_delivery_counts_receipt_lines_by_their_due_date(lite: dict[str, Actor]) -> None:
    # given: one line due yesterday, one due next week
    clerk, qa = f.warehouse_user(lite), lite["qa.li"]
    f.location_tree(clerk)
    f.approved_material(clerk, qa, "RM-0001")
    supplier = f.approved_supplier(clerk, qa, ["RM-0001"])
    order = materials.create_purchase_order(actor=clerk, supplier_id=supplier.id, lines=[
        OrderLineInput("RM-0001", "10", "kg", TODAY - timedelta(days=1)),
        OrderLineInput("RM-0001", "10", "kg", TODAY + timedelta(days=7))])
    # when
    materials.receive_delivery(actor=clerk, order_id=order.id, location_code="RCV-01", lines=[
        ReceiptLineInput(line.id, f"SL-{line.line_no}", TODAY + timedelta(days=300), "10", "kg")
        for line in order.lines])
    # then
    figures = materials.get_supplier(actor=clerk, supplier_id=supplier.id)
    assert figures.on_time_delivery_pct == 50.0 and figures.receipt_count == 1


# ---------------------------------------------------------------- locations


def test_the_location_tree_has_paths_from_the_site_down(site: dict[str, Actor]) -> None:
    # given
    clerk = f.warehouse_user(site)
    # when
    tree = f.location_tree(clerk)
    # then
    assert tree["CR-A01"].path == "HD/WH1/CR/CR-A01" and tree["CR-A01"].storage_class == "2-8C"
    assert tree["AMB-A01"].light_protected
    bins = materials.list_locations(actor=site["viewer.chen"], kind="bin")
    assert [b.code for b in bins] == ["RCV-01", "CR-A01", "AMB-A01", "FRZ-01"]
    assert [z.code for z in materials.list_locations(actor=clerk, parent_id=tree["WH1"].id)] == \
        ["RCV", "CR", "AMB", "FRZ"]
    assert materials.get_location(actor=clerk, location_id=tree["FRZ-01"].id).path == "HD/WH1/FRZ/FRZ-01"


@pytest.mark.parametrize(("kwargs", "field"), [
    pytest.param({"code": "B-1", "kind": "bin", "parent_code": "WH1"}, "parent_code", id="bin under a warehouse"),
    pytest.param({"code": "S2", "kind": "site", "parent_code": "HD"}, "parent_code", id="site with a parent"),
    pytest.param({"code": "Z9", "kind": "zone", "parent_code": None}, "parent_code", id="zone without parent"),
    pytest.param({"code": "Z9", "kind": "zone", "parent_code": "WH9"}, "parent_code", id="unknown parent"),
    pytest.param({"code": "Z9", "kind": "shelf", "parent_code": "WH1"}, "kind", id="unknown kind"),
    pytest.param({"code": "Z9", "kind": "zone", "parent_code": "WH1", "storage_class": "warm"}, "storage_class",
                 id="unknown storage class"),
    pytest.param({"code": "Z9", "kind": "zone", "parent_code": "WH1", "status_zone": "blocked"}, "status_zone",
                 id="unknown status zone"),
    pytest.param({"code": "cr 2", "kind": "zone", "parent_code": "WH1"}, "code", id="bad code"),
])
def test_a_location_out_of_place_is_refused(lite: dict[str, Actor], kwargs: dict[str, Any], field: str) -> None:
    # given
    clerk = f.warehouse_user(lite)
    f.location_tree(clerk)
    before = _rows()
    # when
    with pytest.raises(ValidationFailed) as refused:
        materials.create_location(actor=clerk, name="新库位", **{"storage_class": "15-25C", **kwargs})
    # then
    assert field in _fields(refused)
    assert _rows() == before


def test_a_location_holding_stock_keeps_a_class_its_stock_needs(site: dict[str, Actor]) -> None:
    # given: a 15–25 °C lot in RCV-01
    clerk, qa = f.warehouse_user(site), site["qa.li"]
    tree = f.location_tree(clerk)
    f.approved_material(clerk, qa, "RM-0001")
    supplier = f.approved_supplier(clerk, qa, ["RM-0001"])
    lot = f.received_lot(site, material_code="RM-0001", supplier_id=supplier.id, receiver=clerk)
    # when / then: making it a cold room or deactivating it is refused
    with pytest.raises(Conflict, match=lot.containers[0].number) as refused:
        materials.update_location(actor=clerk, location_id=tree["RCV-01"].id, reason="Convert to cold room",
                                  storage_class="2-8C")
    assert _fields(refused) == {"storage_class"}
    with pytest.raises(Conflict) as inactive:
        materials.update_location(actor=clerk, location_id=tree["RCV-01"].id, reason="Closed", active=False)
    assert _fields(inactive) == {"active"}
    with pytest.raises(Conflict):
        materials.update_location(actor=clerk, location_id=tree["RCV"].id, reason="Zone converted",
                                  storage_class="-20C")
    assert materials.get_location(actor=clerk, location_id=tree["RCV-01"].id).storage_class == "15-25C"
    # when: an empty bin changes class
    changed = materials.update_location(actor=clerk, location_id=tree["AMB-A01"].id, reason="Now a fridge",
                                        storage_class="2-8C", name="冷藏A01")
    # then
    assert (changed.storage_class, changed.name, changed.light_protected) == ("2-8C", "冷藏A01", True)
    with pytest.raises(ValidationFailed):
        materials.update_location(actor=clerk, location_id=tree["AMB-A01"].id, reason="", name="x")


def test_only_location_managers_create_locations(lite: dict[str, Actor]) -> None:
    # given / when / then
    with pytest.raises(PermissionDenied):
        materials.create_location(actor=lite["qa.li"], code="HD", name="基地", kind="site", storage_class="15-25C")
