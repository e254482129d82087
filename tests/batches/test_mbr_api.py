"""The master-batch-record REST API and pages on both databases: a recipe written, reviewed, approved and made
effective over the API (transitions through the generic compliance route), bad input refused as problem+json
naming the field with nothing written, and the pages rendering for a viewer and refusing a bad form."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from pharmos.batches.models import MasterBatchRecord, MbrMaterial, MbrParameter, MbrPhase, MbrStep
from pharmos.compliance.audit import AuditEntry
from pharmos.core.actor import Actor
from pharmos.core.db import read_session
from tests.api_client import API, Api
from tests.batches.mbr_factories import author, effective_mbr, ingredients, reviewer
from tests.conftest import password_of
from tests.test_web_pages import HTML, csrf_of, sign_in

PROBLEM = "application/problem+json"
AUTHOR, REVIEWER, QA, VIEWER = "sup.gao", "sup.wu", "qa.li", "viewer.chen"


@pytest.fixture
def api(site: dict[str, Actor]) -> Api:
    from pharmos.app import create_app

    author(), reviewer()
    return Api(TestClient(create_app()))


def written() -> dict[str, int]:
    with read_session() as session:
        counts = {model.__name__: session.scalar(select(func.count(model.id))) or 0
                  for model in (MasterBatchRecord, MbrMaterial, MbrPhase, MbrStep, MbrParameter)}
        counts["audit"] = session.scalar(select(func.count(AuditEntry.id)).where(AuditEntry.record_type.in_(
            ("master_batch_record", "mbr_material", "mbr_phase", "mbr_step", "mbr_parameter")))) or 0
        return counts


def assert_problem(response: Any, status: int, *fields: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert set(fields) <= {e["field"] for e in body.get("errors", [])}, body
    return body


def header(**overrides: Any) -> dict[str, Any]:
    return {"title": "单抗原液 层析纯化", "product_code": "DS-MAB01", "stage": "downstream", "batch_size": "200",
            "batch_unit": "L", "theoretical_yield": "500", "yield_unit": "g", "yield_low_pct": "80",
            "yield_high_pct": "105"} | overrides


def test_a_recipe_is_written_reviewed_approved_and_made_effective_over_the_api(api: Api,
                                                                              site: dict[str, Actor]) -> None:
    # given
    made = ingredients(site)

    # when: written
    mbr = api.ok(api.post(AUTHOR, "/master-batch-records", header()), 201)
    mid = mbr["id"]
    api.ok(api.patch(AUTHOR, f"/master-batch-records/{mid}", {"reason": "收率窗口", "yield_low_pct": "85"}))
    api.ok(api.put(AUTHOR, f"/master-batch-records/{mid}/bom", {"lines": [
        {"material_code": "RM-TRIS", "quantity": "1.200", "unit": "kg", "tolerance_pct": "2", "step_code": "1.1"},
        {"material_code": "RM-NACL", "quantity": "0.9", "unit": "kg", "tolerance_pct": "2", "step_code": "1.1"}]}))
    api.ok(api.post(AUTHOR, f"/master-batch-records/{mid}/phases", {"name": "配料"}), 201)
    api.ok(api.post(AUTHOR, f"/master-batch-records/{mid}/phases", {"name": "层析"}), 201)
    api.ok(api.post(AUTHOR, f"/master-batch-records/{mid}/steps", {
        "phase_seq": 1, "title": "称量配料", "kind": "dispense"}), 201)
    api.ok(api.post(AUTHOR, f"/master-batch-records/{mid}/steps", {
        "phase_seq": 2, "title": "柱平衡", "critical": True, "equipment_classes": [made.equipment_class_code],
        "sop_numbers": [made.sop_number], "parameters": [
            {"code": "PH", "label": "pH", "kind": "numeric", "target": "7.0", "lower": "6.8", "upper": "7.2",
             "critical": True}]}), 201)
    extra = api.ok(api.post(AUTHOR, f"/master-batch-records/{mid}/steps", {"phase_seq": 2, "title": "多余"}), 201)
    extra_id = next(s["id"] for p in extra["phases"] for s in p["steps"] if s["code"] == "2.2")
    changed = api.ok(api.put(AUTHOR, f"/master-batch-records/{mid}/steps/{extra_id}", {
        "title": "洗脱", "parameters": [{"code": "MODE", "label": "方式", "kind": "choice",
                                         "choices": ["step", "gradient"], "expected": "step"}]}))
    assert [s["title"] for p in changed["phases"] for s in p["steps"]] == ["称量配料", "柱平衡", "洗脱"]
    removed = api.client.delete(f"{API}/master-batch-records/{mid}/steps/{extra_id}", headers=api.headers(AUTHOR))
    assert api.ok(removed)["step_count"] == 2

    # when: signed through the generic transition route and the review route
    api.ok(api.transition(AUTHOR, "master-batch-records", mid, "submit", sign=True))
    api.ok(api.post(REVIEWER, f"/master-batch-records/{mid}/review", {"password": password_of(REVIEWER),
                                                                      "comment": "与验证报告一致"}))
    api.ok(api.transition(QA, "master-batch-records", mid, "approve", sign=True))
    api.ok(api.transition(QA, "master-batch-records", mid, "make_effective"))

    # then
    final = api.ok(api.get(VIEWER, f"/master-batch-records/{mid}"))
    assert final["state"] == "effective" and final["number"] == "MBR-0001"
    assert [(s["meaning"], s["valid"]) for s in final["signatures"]] == [
        ("authored", True), ("reviewed", True), ("approved", True)]
    assert Decimal(final["yield_low_pct"]) == Decimal("85")
    assert Decimal(final["phases"][1]["steps"][0]["parameters"][0]["lower"]) == Decimal("6.8")
    scaled = api.ok(api.get(VIEWER, f"/master-batch-records/{mid}/scaled-bom", planned_size="150"))
    assert [(line["target"], line["low"], line["high"]) for line in scaled] == [
        ("0.900", "0.882", "0.918"), ("0.675", "0.662", "0.689")]
    listed = api.ok(api.get(VIEWER, "/master-batch-records", state="effective"))
    assert [m["id"] for m in listed["items"]] == [mid]
    v2 = api.ok(api.post(AUTHOR, f"/master-batch-records/{mid}/versions", {"change_summary": "平衡时间延长"}), 201)
    assert (v2["number"], v2["version"], v2["state"]) == ("MBR-0001", 2, "draft")


def test_bad_api_input_is_a_problem_naming_the_field_and_writes_nothing(api: Api, site: dict[str, Actor]) -> None:
    # given
    ingredients(site)
    mid = api.ok(api.post(AUTHOR, "/master-batch-records", header()), 201)["id"]
    before = written()

    # when / then
    assert_problem(api.post(AUTHOR, "/master-batch-records", header(batch_size="0", yield_high_pct="250")), 422,
                   "batch_size", "yield_high_pct")
    assert_problem(api.put(AUTHOR, f"/master-batch-records/{mid}/bom", {"lines": [
        {"material_code": "NO-SUCH", "quantity": "1", "unit": "kg", "tolerance_pct": "2"}]}), 422,
        "lines.0.material_code")
    api.ok(api.post(AUTHOR, f"/master-batch-records/{mid}/phases", {"name": "层析"}), 201)
    before = written()
    assert_problem(api.post(AUTHOR, f"/master-batch-records/{mid}/steps", {
        "phase_seq": 1, "title": "x", "parameters": [
            {"code": "PH", "label": "pH", "kind": "numeric", "lower": "7.2", "upper": "6.8"}]}), 422,
        "parameters.0.lower")
    assert_problem(api.patch(AUTHOR, f"/master-batch-records/{mid}", {"reason": "", "title": "t"}), 422, "reason")
    assert_problem(api.get(VIEWER, f"/master-batch-records/{mid}/scaled-bom", planned_size="-1"), 422,
                   "planned_size")
    assert api.post(VIEWER, "/master-batch-records", header()).status_code == 403
    assert api.get(VIEWER, "/master-batch-records/999999").status_code == 404
    assert written() == before


def test_pages_render_for_a_viewer_and_a_bad_form_shows_the_field_error(site: dict[str, Actor]) -> None:
    # given
    from pharmos.app import create_app

    setup = effective_mbr(site)
    client = TestClient(create_app())
    sign_in(client, VIEWER, password_of(VIEWER))

    # when
    listing = client.get("/batches/mbrs", headers=HTML)
    detail = client.get(f"/batches/mbrs/{setup.mbr.id}", headers=HTML)

    # then: the viewer sees the recipe, with no authoring form
    assert listing.status_code == 200 and setup.mbr.number in listing.text
    assert detail.status_code == 200
    assert 'data-step="2.1"' in detail.text and 'data-parameter="PH"' in detail.text
    assert "sig sig--valid" in detail.text and 'id="step-form"' not in detail.text
    assert "按批记录称量每种物料。<br>" in detail.text  # instructions escaped, line breaks kept

    # given: the author on the new-recipe form
    client = TestClient(create_app())
    sign_in(client, AUTHOR, password_of(AUTHOR))
    form = client.get("/batches/mbrs/new", headers=HTML)
    before = written()

    # when: a batch size of zero and an unknown product
    response = client.post("/batches/mbrs/new", headers=HTML, data={
        "csrf_token": csrf_of(form.text), "title": "新工艺<script>", "product_code": "NO-SUCH", "stage": "downstream",
        "batch_size": "0", "batch_unit": "L", "theoretical_yield": "500", "yield_unit": "g", "yield_low_pct": "80",
        "yield_high_pct": "105"})

    # then
    assert response.status_code == 422
    assert re.search(r'id="e-batch_size"', response.text) and re.search(r'id="e-product_code"', response.text)
    assert 'value="新工艺&lt;script&gt;"' in response.text
    assert written() == before

    # when: a step with a bad parameter limit on the draft's page (form row 1, the first row left empty)
    draft = client.post("/batches/mbrs/new", headers=HTML, follow_redirects=False, data={
        "csrf_token": csrf_of(form.text), **header(product_code=setup.product_code, stage="upstream")})
    assert draft.status_code == 303
    page = client.get(draft.headers["location"], headers=HTML)
    base = draft.headers["location"]
    client.post(f"{base}/phases", headers=HTML, data={"csrf_token": csrf_of(page.text), "name": "发酵"})
    refused = client.post(f"{base}/steps", headers=HTML, data={
        "csrf_token": csrf_of(page.text), "phase_seq": "1", "title": "补料", "kind": "process",
        "parameters.1.code": "TEMP", "parameters.1.label": "温度", "parameters.1.kind": "numeric",
        "parameters.1.lower": "37", "parameters.1.upper": "30", "parameters.1.required": "on"})

    # then
    assert refused.status_code == 422
    assert 'id="e-parameters.1.lower"' in refused.text and 'value="37"' in refused.text
