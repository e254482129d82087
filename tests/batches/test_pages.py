"""Shop-floor and QA pages of batches: the tablet executes one step at a time through the services, refused input
comes back next to its field with nothing written, QA reviews by exception, and the record prints as a PDF."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from pharmos.batches import service as batches
from pharmos.batches.models import Batch, BatchEntry, Dispense
from pharmos.compliance.signatures import ElectronicSignature
from pharmos.core.actor import Actor
from pharmos.core.db import read_session
from tests.batches.batch_factories import ExecutionSetup, started_batch, step_by_code
from tests.batches.test_dispensing import product_with_shelf_life
from tests.conftest import password_of
from tests.equipment.factories import usable_equipment
from tests.test_web_pages import HTML, csrf_of, sign_in


@pytest.fixture
def floor(site: dict[str, Actor]) -> dict[str, Any]:
    """A started batch (1.1 dispense RM-TRIS + RM-NACL; 2.1 critical with PH 6.8–7.2; 2.2) and a usable balance."""
    product_with_shelf_life(site)
    batch, setup = started_batch(site)
    return {"batch": batch, "setup": setup, "balance": usable_equipment(site, "balance").number}


@pytest.fixture
def client(floor: dict[str, Any]) -> TestClient:
    from pharmos.app import create_app

    return TestClient(create_app())


def written() -> dict[str, int]:
    with read_session() as session:
        return {"batches": session.scalar(select(func.count(Batch.id))) or 0,
                "dispenses": session.scalar(select(func.count(Dispense.id))) or 0,
                "entries": session.scalar(select(func.count(BatchEntry.id))) or 0,
                "signatures": session.scalar(select(func.count(ElectronicSignature.id))) or 0}


def error_of(html: str, field: str) -> str:
    found = re.search(rf'id="e-{re.escape(field)}"[^>]*>([^<]+)', html)
    assert found, f"no error shown for {field}"
    return found.group(1)


def post(client: TestClient, page: str, action: str, data: dict[str, str]) -> Any:
    token = csrf_of(client.get(page, headers=HTML).text)
    return client.post(action, data={"csrf_token": token, **data}, headers=HTML, follow_redirects=False)


def dispense_lines(client: TestClient, floor: dict[str, Any]) -> None:
    batch, setup = floor["batch"], floor["setup"]
    step = step_by_code(batch, "1.1")
    page = f"/batches/{batch.id}/execute"
    for line_no, code, net in (("1", "RM-TRIS", "1.200"), ("2", "RM-NACL", "0.900")):
        response = post(client, page, f"/batches/{batch.id}/steps/{step.id}/dispense", {
            "line_no": line_no, "container_number": setup.containers[code], "balance_number": floor["balance"],
            "gross": "", "tare": "", "net": net})
        assert response.status_code == 303, response.text


def sign_dispensing(client: TestClient, floor: dict[str, Any]) -> None:
    batch, setup = floor["batch"], floor["setup"]
    step = step_by_code(batch, "1.1")
    response = post(client, f"/batches/{batch.id}/execute", f"/batches/{batch.id}/steps/{step.id}/sign",
                    {"password": password_of(setup.operator.username)})
    assert response.status_code == 303, response.text


def test_batch_pages_render_for_a_viewer_without_execution_forms(client: TestClient, floor: dict[str, Any]) -> None:
    # given
    batch = floor["batch"]
    sign_in(client, "viewer.chen", password_of("viewer.chen"))
    paths = ["/batches", "/batches?state=in_progress", f"/batches?q={batch.number}", f"/batches/{batch.id}",
             f"/batches/{batch.id}/execute", f"/batches/{batch.id}/review", "/batches/genealogy"]

    # when
    pages = {path: client.get(path, headers=HTML) for path in paths}

    # then
    assert {p: r.status_code for p, r in pages.items()} == dict.fromkeys(paths, 200)
    assert batch.number in pages["/batches"].text
    detail = pages[f"/batches/{batch.id}"].text
    assert 'id="step-table"' in detail and 'data-step="2.1"' in detail and "record.pdf" in detail
    tablet = pages[f"/batches/{batch.id}/execute"].text
    assert 'data-step="1.1"' in tablet and "dispense-1-form" not in tablet and "sign-form" not in tablet


def test_operator_dispenses_on_the_tablet_and_gets_the_label_link(client: TestClient, floor: dict[str, Any]) -> None:
    # given
    batch, setup = floor["batch"], floor["setup"]
    sign_in(client, setup.operator.username, password_of(setup.operator.username))
    page = client.get(f"/batches/{batch.id}/execute", headers=HTML).text
    assert 'id="dispense-1-form"' in page and "autofocus" in page

    # when
    dispense_lines(client, floor)
    after = client.get(f"/batches/{batch.id}/execute", headers=HTML).text

    # then
    lines = {m.line_no: m for m in batches.get_batch(actor=setup.operator, batch_id=batch.id).materials}
    assert lines[1].complete and lines[2].complete and lines[1].dispensed_total == Decimal("1.2")
    assert "label.pdf" in after and 'id="ready-to-sign"' in after
    label = re.search(r'href="(/batches/\d+/dispenses/\d+/label\.pdf)"', after)
    assert label and client.get(label.group(1)).headers["content-type"] == "application/pdf"


def test_a_refused_dispense_shows_the_problem_at_the_field_and_writes_nothing(
        client: TestClient, floor: dict[str, Any]) -> None:
    # given
    batch, setup = floor["batch"], floor["setup"]
    step = step_by_code(batch, "1.1")
    sign_in(client, setup.operator.username, password_of(setup.operator.username))
    before = written()

    # when: a net of 5 kg on a 1.176–1.224 kg line, and a weight that is not a number
    too_much = post(client, f"/batches/{batch.id}/execute", f"/batches/{batch.id}/steps/{step.id}/dispense", {
        "line_no": "1", "container_number": setup.containers["RM-TRIS"], "balance_number": floor["balance"],
        "net": "5"})
    garbled = post(client, f"/batches/{batch.id}/execute", f"/batches/{batch.id}/steps/{step.id}/dispense", {
        "line_no": "1", "container_number": setup.containers["RM-TRIS"], "balance_number": floor["balance"],
        "net": "1,2kg"})

    # then
    assert too_much.status_code in (409, 422) and 'id="dispense-1-form"' in too_much.text
    assert "role=\"alert\"" in too_much.text
    assert garbled.status_code == 422 and error_of(garbled.text, "net")
    assert 'value="1,2kg"' in garbled.text
    assert written() == before


def test_live_limit_feedback_is_wired_to_the_limits_and_an_out_of_limit_value_is_marked(
        client: TestClient, floor: dict[str, Any]) -> None:
    # given: dispensed and signed, the critical step 2.1 is current
    batch, setup = floor["batch"], floor["setup"]
    sign_in(client, setup.operator.username, password_of(setup.operator.username))
    dispense_lines(client, floor)
    sign_dispensing(client, floor)
    step = step_by_code(batch, "2.1")
    page = client.get(f"/batches/{batch.id}/execute", headers=HTML).text
    assert 'data-step="2.1"' in page and 'data-lower="6.8' in page and 'data-upper="7.2' in page
    assert '<script src="/static/batches.js" defer></script>' in page

    # when
    response = post(client, f"/batches/{batch.id}/execute", f"/batches/{batch.id}/steps/{step.id}/entries",
                    {"parameter_code": "PH", "value": "7.6"})
    after = client.get(response.headers["location"], headers=HTML).text

    # then: the value is recorded, marked out of limit in words, and the critical exception shows its deviation
    assert response.status_code == 303
    assert 'data-within="no"' in after and "data-exception=\"EX-01\"" in after
    exceptions = batches.list_exceptions(actor=setup.operator, batch_id=batch.id)
    assert exceptions[0].kind == "out_of_limit" and exceptions[0].deviation_number
    assert exceptions[0].deviation_number in after


def test_a_bad_value_and_a_wrong_password_are_refused_at_their_fields(client: TestClient,
                                                                      floor: dict[str, Any]) -> None:
    # given
    batch, setup = floor["batch"], floor["setup"]
    sign_in(client, setup.operator.username, password_of(setup.operator.username))
    dispense_lines(client, floor)
    sign_dispensing(client, floor)
    step = step_by_code(batch, "2.1")
    before = written()

    # when
    bad_value = post(client, f"/batches/{batch.id}/execute", f"/batches/{batch.id}/steps/{step.id}/entries",
                     {"parameter_code": "PH", "value": "seven"})
    bad_password = post(client, f"/batches/{batch.id}/execute", f"/batches/{batch.id}/steps/{step.id}/sign",
                        {"password": "not-my-password"})

    # then
    assert bad_value.status_code == 422 and 'id="entry-PH-form"' in bad_value.text
    assert 'value="seven"' in bad_value.text and 'role="alert"' in bad_value.text
    assert bad_password.status_code in (401, 403, 409, 422) and 'id="sign-form"' in bad_password.text
    assert 'id="sign-blockers"' in bad_password.text
    assert written() == before


def test_a_step_is_opened_out_of_order_only_with_a_reason_from_the_batch_page(client: TestClient,
                                                                            floor: dict[str, Any]) -> None:
    # given: 1.1 (dispensing) still open, so 2.2 waits
    batch, setup = floor["batch"], floor["setup"]
    sign_in(client, setup.operator.username, password_of(setup.operator.username))
    later = step_by_code(batch, "2.2")
    page = client.get(f"/batches/{batch.id}", headers=HTML).text
    assert f'id="override-{later.id}"' in page
    assert f'id="override-{step_by_code(batch, "2.1").id}"' not in page  # critical: never out of order
    before = written()

    # when
    refused = post(client, f"/batches/{batch.id}", f"/batches/{batch.id}/steps/{later.id}/override", {"reason": ""})
    done = post(client, f"/batches/{batch.id}", f"/batches/{batch.id}/steps/{later.id}/override",
                {"reason": "Elution buffer ready; column waiting"})

    # then
    assert refused.status_code == 422 and error_of(refused.text, "reason")
    assert done.status_code == 303
    assert written()["entries"] == before["entries"]
    exceptions = batches.list_exceptions(actor=setup.operator, batch_id=batch.id)
    assert [(e.kind, e.step_code) for e in exceptions] == [("override", "2.2")]


def test_order_form_refuses_a_bad_size_and_orders_from_the_effective_recipe(
        client: TestClient, floor: dict[str, Any], site: dict[str, Actor]) -> None:
    # given
    setup: ExecutionSetup = floor["setup"]
    sign_in(client, setup.planner.username, password_of(setup.planner.username))
    form = client.get("/batches/new", headers=HTML).text
    assert setup.recipe.mbr.number in form
    before = written()

    # when
    refused = post(client, "/batches/new", "/batches/new", {"mbr_id": str(setup.recipe.mbr.id),
                                                             "planned_size": "abc", "planned_start": ""})
    written_after_refusal = written()
    ordered = post(client, "/batches/new", "/batches/new", {"mbr_id": str(setup.recipe.mbr.id),
                                                             "planned_size": "100",
                                                             "planned_start": "2030-01-05T08:00"})

    # then
    assert refused.status_code == 422 and error_of(refused.text, "planned_size")
    assert error_of(refused.text, "planned_start")
    assert written_after_refusal == before
    assert ordered.status_code == 303, ordered.text
    new = batches.get_batch(actor=site["qa.li"], batch_id=int(ordered.headers["location"].rsplit("/", 1)[1]))
    assert new.state == "planned" and new.planned_size == Decimal("100")


def test_qa_reviews_the_exception_on_the_review_page_and_an_empty_comment_is_refused(
        client: TestClient, floor: dict[str, Any], site: dict[str, Actor]) -> None:
    # given: an out-of-limit pH recorded by the operator
    batch, setup = floor["batch"], floor["setup"]
    step = step_by_code(batch, "1.1")
    for line_no, code, net in ((1, "RM-TRIS", "1.200"), (2, "RM-NACL", "0.900")):
        batches.dispense(actor=setup.operator, batch_id=batch.id, line_no=line_no,
                         container_number=setup.containers[code], net=net, balance_number=floor["balance"])
    batches.sign_step(actor=setup.operator, batch_id=batch.id, step_id=step.id,
                      password=password_of(setup.operator.username))
    step = step_by_code(batch, "2.1")
    batches.record_entry(actor=setup.operator, batch_id=batch.id, step_id=step.id, parameter_code="PH", value="7.6")
    exception = batches.list_exceptions(actor=site["qa.li"], batch_id=batch.id)[0]
    sign_in(client, "qa.zhang", password_of("qa.zhang"))
    page = f"/batches/{batch.id}/review"
    listing = client.get(page, headers=HTML).text
    assert f'id="exception-{exception.id}"' in listing and exception.deviation_number in listing

    # when
    empty = post(client, page, f"/batches/{batch.id}/exceptions/{exception.id}/review", {"comment": ""})
    state_after_empty = batches.list_exceptions(actor=site["qa.li"], batch_id=batch.id)[0].state
    done = post(client, page, f"/batches/{batch.id}/exceptions/{exception.id}/review",
                {"comment": "pH 探头已复校，数据有效；见偏差调查"})

    # then
    assert empty.status_code == 422 and error_of(empty.text, "comment")
    assert state_after_empty == "open"
    assert done.status_code == 303
    reviewed = batches.list_exceptions(actor=site["qa.li"], batch_id=batch.id)[0]
    assert reviewed.state == "reviewed" and reviewed.reviewed_by == "qa.zhang"


def test_the_batch_record_prints_as_a_pdf_from_the_page_and_the_api(client: TestClient,
                                                                    floor: dict[str, Any]) -> None:
    # given
    batch = floor["batch"]
    sign_in(client, "viewer.chen", password_of("viewer.chen"))

    # when
    page = client.get(f"/batches/{batch.id}/record.pdf")
    api = client.get(f"/api/v1/batches/{batch.id}/record.pdf")
    missing = client.get("/batches/999999/record.pdf", headers=HTML)

    # then
    assert page.status_code == 200 and page.headers["content-type"] == "application/pdf"
    assert page.content.startswith(b"%PDF")
    assert api.status_code == 200
    assert missing.status_code == 404
