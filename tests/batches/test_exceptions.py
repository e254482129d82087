"""Exceptions and review by exception: numbered per batch, critical ones raise a deviation and hold the batch with
an audited reason, QA reviews each with a comment and never one they raised; release is blocked until then."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from pharmos.batches import service as batches
from pharmos.batches.models import BatchException
from pharmos.compliance.audit import AuditEntry
from pharmos.core.actor import Actor
from pharmos.core.db import read_session
from pharmos.core.errors import Conflict, PermissionDenied, ValidationFailed
from tests.batches.batch_factories import process_mbr, sign, started_batch, step_by_code, trained
from tests.materials.factories import person

pytestmark = pytest.mark.sqlite_only


def out_of_limit(site: dict[str, Actor], value: str = "30") -> tuple[int, int]:
    """A started process batch with TEMP out of limit in 1.1; (batch id, exception id)."""
    batch, setup = started_batch(site, recipe=process_mbr(site))
    step = step_by_code(batch, "1.1")
    batches.record_entry(actor=setup.operator, batch_id=batch.id, step_id=step.id, parameter_code="TEMP", value=value)
    [exception] = batches.list_exceptions(actor=setup.operator, batch_id=batch.id)
    return batch.id, exception.id


def test_exceptions_are_numbered_within_the_batch_and_filtered_by_state(site: dict[str, Actor]) -> None:
    # given
    batch_id, exception_id = out_of_limit(site)

    # when
    batches.review_exception(actor=site["qa.li"], batch_id=batch_id, exception_id=exception_id,
                             comment="Short excursion, buffer re-measured.")

    # then
    [reviewed] = batches.list_exceptions(actor=site["qa.li"], batch_id=batch_id, state="reviewed")
    assert reviewed.label == "EX-01" and reviewed.context["value"] == "30" and reviewed.context["upper"] == "25"
    assert batches.list_exceptions(actor=site["qa.li"], batch_id=batch_id, state="open") == []
    with pytest.raises(ValidationFailed) as refused:
        batches.list_exceptions(actor=site["qa.li"], batch_id=batch_id, state="closed")
    assert [p.field for p in refused.value.fields] == ["state"]


def test_a_review_needs_a_comment_the_right_and_another_person(site: dict[str, Actor]) -> None:
    # given
    batch_id, exception_id = out_of_limit(site)
    with read_session() as session:
        before = session.scalar(select(BatchException.state).where(BatchException.id == exception_id))

    # when / then
    with pytest.raises(ValidationFailed) as no_comment:
        batches.review_exception(actor=site["qa.li"], batch_id=batch_id, exception_id=exception_id, comment=" ")
    assert [p.field for p in no_comment.value.fields] == ["comment"]
    with pytest.raises(PermissionDenied):
        batches.review_exception(actor=site["op.liu"], batch_id=batch_id, exception_id=exception_id, comment="ok")
    with read_session() as session:
        assert session.scalar(select(BatchException.state).where(BatchException.id == exception_id)) == before


def test_nobody_reviews_an_exception_they_raised(site: dict[str, Actor]) -> None:
    # given: an exception raised by a person who also holds batches.review (operator and QA specialist)
    batch, setup = started_batch(site, recipe=process_mbr(site))
    both = person("op.qa", ["operator", "qa_specialist"], "双岗")
    trained(site, setup.recipe.sop_number, both)
    step = step_by_code(batch, "1.1")
    batches.record_entry(actor=both, batch_id=batch.id, step_id=step.id, parameter_code="TEMP", value="10")
    [exception] = batches.list_exceptions(actor=both, batch_id=batch.id)

    # when
    with pytest.raises(Conflict) as refused:
        batches.review_exception(actor=both, batch_id=batch.id, exception_id=exception.id, comment="Fine.")

    # then
    assert [p.field for p in refused.value.fields] == ["exception_id"]
    assert batches.list_exceptions(actor=both, batch_id=batch.id)[0].state == "open"


def test_a_critical_exception_holds_the_batch_with_an_audited_reason(site: dict[str, Actor]) -> None:
    # given
    batch, setup = started_batch(site, recipe=process_mbr(site))
    first = step_by_code(batch, "1.1")
    batches.record_entry(actor=setup.operator, batch_id=batch.id, step_id=first.id, parameter_code="TEMP",
                         value="20")
    sign(setup.operator, batch.id, first.id)
    second = step_by_code(batch, "2.1")

    # when: the critical pH is out of limit
    batches.record_entry(actor=setup.operator, batch_id=batch.id, step_id=second.id, parameter_code="PH",
                         value="6.2")

    # then: the hold is in the batch's audit trail with the deviation named in its reason
    [exception] = batches.list_exceptions(actor=setup.operator, batch_id=batch.id)
    assert exception.critical and exception.deviation_number
    with read_session() as session:
        reasons = session.scalars(select(AuditEntry.reason).where(
            AuditEntry.record_type == "batch", AuditEntry.record_id == str(batch.id))).all()
    assert any(exception.deviation_number in (r or "") for r in reasons)
    view = batches.get_batch(actor=site["qa.li"], batch_id=batch.id)
    assert view.state == "on_hold" and view.open_exceptions == 1
