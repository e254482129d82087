"""Saved filters of the quality lists: named query strings per person and list, shared only by QA; bad ones refused
naming the field with nothing written. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from pharmos.core.actor import Actor
from pharmos.core.db import read_session
from pharmos.core.errors import NotFound, PermissionDenied, ValidationFailed
from pharmos.quality import service as quality
from pharmos.quality.models import SavedFilter

# Service rules: SQLite is enough; this module's API tests run on both back-ends.
pytestmark = pytest.mark.sqlite_only


def saved() -> int:
    with read_session() as session:
        return session.scalar(select(func.count(SavedFilter.id))) or 0


def test_a_person_keeps_filters_per_list_and_sees_shared_ones(site: dict[str, Actor]) -> None:
    # given
    viewer, qa = site["viewer.chen"], site["qa.zhang"]
    # when
    mine = quality.save_filter(actor=viewer, list_name="deviations", name=" Overdue majors ",
                               query="?classification=major&overdue=1&q=")
    quality.save_filter(actor=viewer, list_name="capas", name="Overdue majors", query="overdue=1")
    shared = quality.save_filter(actor=qa, list_name="deviations", name="Awaiting QA", query="state=reported",
                                 shared=True)
    quality.save_filter(actor=qa, list_name="deviations", name="Private", query="mine=1")
    # then
    assert mine.name == "Overdue majors" and mine.query == "classification=major&overdue=1" and mine.mine
    seen = quality.list_saved_filters(actor=viewer, list_name="deviations")
    assert [(s.name, s.owner, s.mine, s.shared) for s in seen] == [
        ("Awaiting QA", "qa.zhang", False, True), ("Overdue majors", "viewer.chen", True, False)]
    assert [s.name for s in quality.list_saved_filters(actor=viewer, list_name="capas")] == ["Overdue majors"]
    assert shared.shared


@pytest.mark.parametrize(("change", "field"), [
    ({"query": "colour=red"}, "query"),
    ({"query": "state=reported&category=packaging"}, "query"),
    ({"query": "=&&="}, "query"),
    ({"name": ""}, "name"),
    ({"name": "x" * 81}, "name"),
    ({"list_name": "batches"}, "list_name"),
    ({"name": "Mine"}, "name"),  # a duplicate of the one saved first
])
def test_a_bad_filter_is_refused_naming_the_field_and_writes_nothing(site: dict[str, Actor], change: dict[str, Any],
                                                                     field: str) -> None:
    # given
    viewer = site["viewer.chen"]
    quality.save_filter(actor=viewer, list_name="deviations", name="Mine", query="mine=1")
    before = saved()
    values = {"list_name": "deviations", "name": "New", "query": "state=reported", **change}
    # when
    with pytest.raises(ValidationFailed) as caught:
        quality.save_filter(actor=viewer, **values)
    # then
    assert field in [p.field for p in caught.value.fields]
    assert saved() == before


def test_only_qa_shares_and_only_the_owner_deletes(site: dict[str, Actor]) -> None:
    # given
    viewer, qa = site["viewer.chen"], site["qa.zhang"]
    theirs = quality.save_filter(actor=qa, list_name="complaints", name="Critical", query="classification=critical",
                                 shared=True)
    before = saved()
    # when / then
    with pytest.raises(PermissionDenied):
        quality.save_filter(actor=viewer, list_name="complaints", name="Team", query="state=received", shared=True)
    with pytest.raises(PermissionDenied):
        quality.delete_saved_filter(actor=viewer, filter_id=theirs.id)
    with pytest.raises(NotFound):
        quality.delete_saved_filter(actor=qa, filter_id=theirs.id + 1000)
    assert saved() == before
    quality.delete_saved_filter(actor=qa, filter_id=theirs.id)
    assert quality.list_saved_filters(actor=viewer, list_name="complaints") == []


def test_the_same_name_may_be_used_by_another_person(site: dict[str, Actor]) -> None:
    # given
    quality.save_filter(actor=site["viewer.chen"], list_name="deviations", name="Mine", query="mine=1")
    # when
    other = quality.save_filter(actor=site["qa.zhang"], list_name="deviations", name="Mine", query="mine=1")
    # then
    assert other.owner == "qa.zhang" and saved() == 2


@pytest.mark.parametrize(("path", "list_name", "query"), [
    ("/quality/change-controls", "change_controls", "state=under_assessment"),
    ("/quality/documents", "documents", "doc_type=sop"),
    ("/quality/training/records", "training", "overdue=1"),
])
def test_every_quality_list_offers_and_shows_saved_filters(site: dict[str, Actor], path: str, list_name: str,
                                                           query: str) -> None:
    # given
    from fastapi.testclient import TestClient

    from pharmos.app import create_app
    from tests.conftest import password_of
    from tests.test_web_pages import HTML, sign_in

    quality.save_filter(actor=site["qa.zhang"], list_name=list_name, name="Mine to check", query=query)
    client = TestClient(create_app())
    sign_in(client, "qa.zhang", password_of("qa.zhang"))
    # when
    page = client.get(f"{path}?{query}", headers=HTML)
    # then
    assert page.status_code == 200
    assert f'data-list="{list_name}"' in page.text and 'id="save-filter-form"' in page.text
    assert f'href="{path}?{query}">Mine to check</a>' in page.text
