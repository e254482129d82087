"""The executed batch record PDF: generated from the data, in Chinese, complete (values, limits, corrections with the
original value, signatures), and every printing audited (EU GMP Annex 11 §8.1; 21 CFR 11.10(b))."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from pharmos.batches import service as batches
from pharmos.compliance.audit import AuditEntry
from pharmos.core.actor import Actor
from pharmos.core.db import read_session
from pharmos.core.errors import NotFound, PermissionDenied
from tests.batches.batch_factories import started_batch, step_by_code
from tests.batches.test_dispensing import product_with_shelf_life
from tests.conftest import password_of
from tests.equipment.factories import usable_equipment

pytestmark = pytest.mark.sqlite_only


def text_of(pdf: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def prints() -> int:
    with read_session() as session:
        return session.scalar(select(func.count(AuditEntry.id)).where(
            AuditEntry.record_type == "batch", AuditEntry.action == "print")) or 0


@pytest.fixture
def recorded(site: dict[str, Actor]) -> tuple[int, str]:
    """A batch with both lines dispensed, step 1.1 signed, a pH out of limit and a corrected equilibration time."""
    product_with_shelf_life(site)
    batch, setup = started_batch(site)
    who = setup.operator
    balance = usable_equipment(site, "balance").number
    for line_no, code, net in ((1, "RM-TRIS", "1.200"), (2, "RM-NACL", "0.900")):
        batches.dispense(actor=who, batch_id=batch.id, line_no=line_no, container_number=setup.containers[code],
                         net=net, balance_number=balance)
    batches.sign_step(actor=who, batch_id=batch.id, step_id=step_by_code(batch, "1.1").id,
                      password=password_of(who.username))
    step = step_by_code(batch, "2.1")
    view = batches.record_entry(actor=who, batch_id=batch.id, step_id=step.id, parameter_code="EQ_TIME", value="47")
    original = next(pe.current for pe in view.parameters if pe.parameter.code == "EQ_TIME")
    assert original is not None
    batches.correct_entry(actor=who, batch_id=batch.id, step_id=step.id, entry_id=original.id, value="35",
                          reason="抄录错误")
    # Last: a critical value out of limit puts the batch on hold.
    batches.record_entry(actor=who, batch_id=batch.id, step_id=step.id, parameter_code="PH", value="7.65")
    return batch.id, batch.number


def test_the_record_shows_the_batch_an_out_of_limit_value_and_a_corrections_original(
        site: dict[str, Actor], recorded: tuple[int, str]) -> None:
    # given
    batch_id, number = recorded
    before = prints()

    # when
    pdf = batches.batch_record_pdf(actor=site["viewer.chen"], batch_id=batch_id)

    # then
    assert pdf.startswith(b"%PDF")
    text = text_of(pdf)
    assert number in text and "批生产记录" in text
    assert "7.65" in text and "超出限度" in text  # the out-of-limit pH, judged
    assert "[原值，已更正] 47" in text and "抄录错误" in text  # the corrected value stays visible with its reason
    assert "RM-TRIS" in text and "执行" in text  # dispenses and the performer's signature meaning
    assert prints() == before + 1


def test_printing_needs_the_view_right_and_an_existing_batch(site: dict[str, Actor],
                                                             recorded: tuple[int, str]) -> None:
    # given
    batch_id, _ = recorded
    outsider = Actor(username="nobody", full_name="Nobody", user_id=0)
    before = prints()

    # when / then
    with pytest.raises(PermissionDenied):
        batches.batch_record_pdf(actor=outsider, batch_id=batch_id)
    with pytest.raises(NotFound):
        batches.batch_record_pdf(actor=site["viewer.chen"], batch_id=batch_id + 999)
    assert prints() == before
