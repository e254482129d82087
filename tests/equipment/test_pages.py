"""Equipment web pages: they render for a viewer, are refused to the anonymous, and refuse bad input next to
the field while writing nothing."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pharmos.compliance.lifecycle import apply_transition
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today
from pharmos.equipment import service as equipment
from pharmos.equipment.maintenance import PlanTaskInput
from pharmos.equipment.rounds import InspectionPointInput
from tests.conftest import password_of
from tests.equipment.factories import SETUP, calibrate, engineer, new_equipment, usable_equipment
from tests.test_web_pages import HTML, csrf_of, sign_in


@pytest.fixture
def plant(site: dict[str, Actor]) -> dict[str, Any]:
    """A usable bioreactor with a plan, a work order, a fault, a spare part and a daily round started by op.liu;
    a balance whose last calibration failed (impact assessment open); a bioreactor still in commissioning."""
    eng = engineer()
    reactor = usable_equipment(site, "bioreactor", name_zh="50L 生物反应器")
    balance = usable_equipment(site, "balance", name_zh="分析天平")
    equipment.start_use(actor=site["op.liu"], equipment_id=balance.id, reference="B2611-001")
    equipment.end_use(actor=site["op.liu"], equipment_id=balance.id, reference="B2611-001")
    failed = calibrate(balance.id, on=site_today(), as_left="100.0100", as_found="100.0100", result="fail")
    commissioning = new_equipment("bioreactor", name_zh="200L 生物反应器")
    plan = equipment.create_maintenance_plan(actor=eng, equipment_id=reactor.id, title="月度保养", basis="calendar",
                                             interval_days=30, tasks=[PlanTaskInput(text="检查机械密封")])
    order = equipment.create_work_order(actor=eng, equipment_id=reactor.id, title="更换搅拌密封",
                                        tasks=[PlanTaskInput(text="拆卸旧密封")])
    fault = equipment.report_fault(actor=site["op.liu"], number=reactor.number, description="搅拌电机异响")
    part = equipment.create_spare_part(actor=eng, code="SP-SEAL-01", name_zh="机械密封", reorder_point=2,
                                       fits=[reactor.number])
    equipment.create_inspection_route(
        actor=eng, code="R-USP-DAILY", name_zh="上游车间日巡检", frequency="daily", shift_starts=("00:00",),
        window_hours=24, points=[
            InspectionPointInput(equipment_number=reactor.number, prompt_zh="罐温", kind="numeric", unit="°C",
                                 lower_limit="30", upper_limit="40"),
            InspectionPointInput(equipment_number=reactor.number, prompt_zh="搅拌无异响", kind="yes_no")])
    equipment.schedule_rounds(actor=eng, on=site_today())
    round_ = equipment.list_inspection_rounds(actor=SETUP, on=site_today())[0]
    apply_transition(actor=site["op.liu"], collection="inspection-rounds", record_id=round_.id, name="start")
    calibration = equipment.get_calibration(actor=SETUP, calibration_id=failed.id)  # type: ignore[attr-defined]
    return {"reactor": reactor, "balance": balance, "calibration": calibration, "commissioning": commissioning,
            "plan": plan, "order": order, "fault": fault, "part": part, "round": round_}


@pytest.fixture
def client(plant: dict[str, Any]) -> TestClient:
    from pharmos.app import create_app

    return TestClient(create_app())


def _paths(plant: dict[str, Any]) -> list[str]:
    reactor, calibration = plant["reactor"], plant["calibration"]
    return ["/equipment", "/equipment?calibration=out_of_tolerance", "/equipment?state=commissioning",
            f"/equipment/{reactor.id}", f"/equipment/{plant['balance'].id}", f"/equipment/{reactor.id}?logbook=1",
            "/equipment/calibrations", f"/equipment/calibrations/{calibration.id}",
            f"/equipment/impact-assessments/{calibration.impact_assessment_id}", "/equipment/calendar",
            "/equipment/calendar?month=2026-01", "/equipment/work-orders", "/equipment/work-orders?state=planned",
            f"/equipment/work-orders/{plant['order'].id}", "/equipment/plans", f"/equipment/plans/{plant['plan'].id}",
            "/equipment/faults", f"/equipment/faults/{plant['fault'].id}", "/equipment/tablet",
            f"/equipment/rounds/{plant['round'].id}", "/equipment/spare-parts", "/equipment/spare-parts?low=1",
            f"/equipment/spare-parts/{plant['part'].id}", "/equipment/kpis", "/"]


def test_equipment_pages_render_for_a_viewer(client: TestClient, plant: dict[str, Any]) -> None:
    # given
    sign_in(client, "viewer.chen", password_of("viewer.chen"))
    paths = _paths(plant)
    # when
    pages = {path: client.get(path, headers=HTML) for path in paths}
    # then
    assert {path: r.status_code for path, r in pages.items()} == dict.fromkeys(paths, 200)
    reactor, balance = plant["reactor"], plant["balance"]
    ledger = pages["/equipment"].text
    assert reactor.number in ledger and "50L 生物反应器" in ledger and 'data-usable="yes"' in ledger
    assert 'data-usable="no"' in ledger  # the balance out of tolerance, the reactor in commissioning
    detail = pages[f"/equipment/{balance.id}"].text
    assert 'id="not-usable"' in detail and 'data-reason="calibration_failed"' in detail
    assert f'href="/equipment/{balance.id}/labels.pdf"' in detail
    assert plant["calibration"].impact_assessment_number in pages["/equipment/calibrations"].text
    assert "B2611-001" in pages[f"/equipment/impact-assessments/{plant['calibration'].impact_assessment_id}"].text
    assert 'data-low="1"' in pages["/equipment/spare-parts"].text
    assert 'data-figure="calibrations_overdue"' in pages["/"].text
    assert 'data-figure="instruments_out_of_tolerance"' in pages["/"].text
    # a viewer sees no forms that would change anything
    assert f'action="/equipment/{reactor.id}/use/start"' not in pages[f"/equipment/{reactor.id}"].text


def test_equipment_pages_are_refused_to_the_anonymous(client: TestClient, plant: dict[str, Any]) -> None:
    # given: nobody signed in
    paths = [p for p in _paths(plant) if p != "/"]
    # when
    pages = {path: client.get(path, headers=HTML, follow_redirects=False) for path in paths}
    # then: every page sends to the sign-in page instead of showing anything
    assert {path: r.status_code for path, r in pages.items()} == dict.fromkeys(paths, 303)
    assert all(r.headers["location"].startswith("/login?next=") for r in pages.values())


def test_viewer_may_not_open_the_fault_report_or_import_forms(client: TestClient) -> None:
    # given
    sign_in(client, "viewer.chen", password_of("viewer.chen"))
    # when
    pages = [client.get(path, headers=HTML) for path in ("/equipment/faults/new", "/equipment/import")]
    # then
    assert [r.status_code for r in pages] == [403, 403]


def test_round_result_out_of_range_without_comment_is_refused_at_the_comment_and_writes_nothing(
        client: TestClient, plant: dict[str, Any], site: dict[str, Actor]) -> None:
    # given: op.liu walks the round he started; the first check is the vessel temperature, 30–40 °C
    sign_in(client, "op.liu", password_of("op.liu"))
    round_, reactor = plant["round"], plant["reactor"]
    page = client.get(f"/equipment/rounds/{round_.id}", headers=HTML)
    point_id = re.search(r'name="point_id" value="(\d+)"', page.text)
    assert point_id and re.search(r'<input id="f-scanned"[^>]*autofocus', page.text)
    faults_before = len(equipment.list_faults(actor=SETUP, limit=500))
    # when: 55 °C is scanned and typed without a comment
    response = client.post(f"/equipment/rounds/{round_.id}/results", headers=HTML, data={
        "csrf_token": csrf_of(page.text), "point_id": point_id.group(1), "scanned": reactor.number.lower(),
        "value": "55", "comment": ""})
    # then: the comment field says why, the typed reading is kept, nothing was recorded or reported
    assert response.status_code == 422
    assert re.search(r'id="e-comment"[^>]*>[^<]+', response.text)
    assert 'value="55"' in response.text
    assert equipment.get_inspection_round(actor=SETUP, round_id=round_.id).results == ()
    assert len(equipment.list_faults(actor=SETUP, limit=500)) == faults_before


def test_round_result_at_the_wrong_equipment_is_refused_at_the_scan_field(client: TestClient,
                                                                          plant: dict[str, Any]) -> None:
    # given
    sign_in(client, "op.liu", password_of("op.liu"))
    round_ = plant["round"]
    page = client.get(f"/equipment/rounds/{round_.id}", headers=HTML)
    point_id = re.search(r'name="point_id" value="(\d+)"', page.text)
    assert point_id
    # when: the label of another equipment is scanned
    response = client.post(f"/equipment/rounds/{round_.id}/results", headers=HTML, data={
        "csrf_token": csrf_of(page.text), "point_id": point_id.group(1),
        "scanned": plant["commissioning"].number, "value": "35"})
    # then
    assert response.status_code == 422
    assert re.search(r'id="e-scanned"[^>]*>[^<]*' + re.escape(plant["commissioning"].number), response.text)
    assert equipment.get_inspection_round(actor=SETUP, round_id=round_.id).results == ()


def test_round_result_in_range_moves_to_the_next_check(client: TestClient, plant: dict[str, Any]) -> None:
    # given
    sign_in(client, "op.liu", password_of("op.liu"))
    round_, reactor = plant["round"], plant["reactor"]
    page = client.get(f"/equipment/rounds/{round_.id}", headers=HTML)
    point_id = re.search(r'name="point_id" value="(\d+)"', page.text)
    assert point_id
    # when
    response = client.post(f"/equipment/rounds/{round_.id}/results", headers=HTML, data={
        "csrf_token": csrf_of(page.text), "point_id": point_id.group(1), "scanned": reactor.number,
        "value": "36.5"}, follow_redirects=True)
    # then: recorded, and the page now asks the second check (a yes/no question)
    assert response.status_code == 200
    assert 'aria-valuenow="1"' in response.text
    assert 'name="value" value="yes"' in response.text
    assert len(equipment.get_inspection_round(actor=SETUP, round_id=round_.id).results) == 1


def test_start_use_of_unusable_equipment_is_refused_with_every_reason_and_writes_nothing(
        client: TestClient, plant: dict[str, Any]) -> None:
    # given: a bioreactor still in commissioning, never qualified or cleaned
    sign_in(client, "op.liu", password_of("op.liu"))
    target = plant["commissioning"]
    page = client.get(f"/equipment/{target.id}", headers=HTML)
    assert f'action="/equipment/{target.id}/use/start"' in page.text
    entries_before = len(equipment.list_logbook(actor=SETUP, equipment_id=target.id))
    # when
    response = client.post(f"/equipment/{target.id}/use/start", headers=HTML, data={
        "csrf_token": csrf_of(page.text), "reference": "B2611-002"})
    # then: the start-use form says why, on the equipment page; nothing changed
    assert response.status_code >= 400
    form = response.text.split('id="start-use"', 1)[1].split("</form>", 1)[0]
    assert 'class="banner banner--error"' in form
    assert equipment.get_equipment(actor=SETUP, equipment_id=target.id).in_use_by is None
    assert len(equipment.list_logbook(actor=SETUP, equipment_id=target.id)) == entries_before


def test_calibration_form_names_the_point_outside_tolerance_and_writes_nothing(client: TestClient,
                                                                               plant: dict[str, Any]) -> None:
    # given: the metrology engineer records a calibration of the balance (tolerance ± 0.001 g)
    sign_in(client, "eng.sun", password_of("eng.sun"))
    balance = plant["balance"]
    form = client.get(f"/equipment/{balance.id}/calibrations/new", headers=HTML)
    before = len(equipment.list_calibrations(actor=SETUP, equipment_id=balance.id))
    # when: "pass" with an as-left reading outside tolerance
    response = client.post(f"/equipment/{balance.id}/calibrations/new", headers=HTML, data={
        "csrf_token": csrf_of(form.text), "performed_on": site_today().isoformat(), "kind": "internal",
        "performed_by": "计量室 孙工", "result": "pass", "points[0].nominal": "100",
        "points[0].as_left": "100.0200"})
    # then
    assert response.status_code == 422
    assert re.search(r'id="e-points\[0\]\.as_left"', response.text)
    assert 'value="100.0200"' in response.text
    assert len(equipment.list_calibrations(actor=SETUP, equipment_id=balance.id)) == before


def test_calendar_highlights_an_overdue_calibration(client: TestClient, plant: dict[str, Any]) -> None:
    # given: a pH meter calibrated 100 days ago on a 90-day interval
    meter = new_equipment("ph_meter", name_zh="pH计")
    calibrate(meter.id, on=site_today() - timedelta(days=100))
    sign_in(client, "viewer.chen", password_of("viewer.chen"))
    due = site_today() - timedelta(days=10)
    # when
    page = client.get(f"/equipment/calendar?month={due:%Y-%m}", headers=HTML)
    # then
    assert page.status_code == 200
    cell = page.text.split(f'data-date="{due.isoformat()}"', 1)[1].split("</td>", 1)[0]
    assert meter.number in cell and 'data-overdue="1"' in cell
    assert 'id="overdue"' in page.text


def test_the_maintenance_forms_render_for_an_engineer(client: TestClient, plant: dict[str, Any]) -> None:
    # given: the engineer has started the work order, so its checklist, labour and parts forms are live
    sign_in(client, "eng.sun", password_of("eng.sun"))
    apply_transition(actor=engineer(), collection="work-orders", record_id=plant["order"].id, name="start")
    paths = ["/equipment/faults/new?equipment=" + plant["reactor"].number, "/equipment/import",
             "/equipment/plans/new", f"/equipment/{plant['balance'].id}/calibrations/new",
             f"/equipment/work-orders/{plant['order'].id}", f"/equipment/faults/{plant['fault'].id}",
             f"/equipment/{plant['reactor'].id}"]
    # when
    pages = {path: client.get(path, headers=HTML) for path in paths}
    # then
    assert {path: r.status_code for path, r in pages.items()} == dict.fromkeys(paths, 200)
    assert 'accept="image/*" capture="environment"' in pages[paths[0]].text
    order = pages[f"/equipment/work-orders/{plant['order'].id}"].text
    assert f'action="/equipment/work-orders/{plant["order"].id}/parts"' in order and "SP-SEAL-01" in order
    fault, reactor = plant["fault"].id, plant["reactor"].id
    assert f'action="/equipment/faults/{fault}/triage"' in pages[f"/equipment/faults/{fault}"].text
    assert f'action="/equipment/{reactor}/qualifications"' in pages[f"/equipment/{reactor}"].text
