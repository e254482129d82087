"""Container status labels: one PDF page per container, status band per lot state, issuance audited."""

from __future__ import annotations

import base64
import re
import zlib
from datetime import date, timedelta
from decimal import Decimal

import pytest

from pharmos.compliance.audit import AuditEntry
from pharmos.compliance.lifecycle import apply_transition
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today
from pharmos.core.db import read_session
from pharmos.core.errors import NotFound, PermissionDenied, ValidationFailed
from pharmos.materials import service as materials
from pharmos.materials.labels import STATUS_BANDS, label_status, status_band
from tests.conftest import password_of
from tests.materials.factories import (
    approved_material,
    approved_supplier,
    location_tree,
    received_lot,
    released_lot,
    warehouse_user,
)

# Service rules: SQLite is enough; this module's API tests run on both back-ends.
pytestmark = pytest.mark.sqlite_only


def _pdf_text(pdf: bytes) -> str:
    """Text the PDF's content streams show (reportlab's ASCII85+Flate streams, CID font = UTF-16BE)."""
    shown: list[str] = []
    for match in re.finditer(rb"/Filter \[ /ASCII85Decode /FlateDecode \] /Length (\d+)\s*>>\s*stream\r?\n", pdf):
        raw = pdf[match.end():match.end() + int(match.group(1))]
        stream = zlib.decompress(base64.a85decode(raw, adobe=True))
        for literal in re.findall(rb"\((.*?)(?<!\\)\)\s*Tj", stream, flags=re.S):
            data = re.sub(rb"\\([0-7]{1,3})", lambda m: bytes([int(m.group(1), 8)]), literal)
            data = re.sub(rb"\\(.)", rb"\1", data, flags=re.S)
            shown.append(data.decode("utf-16-be", errors="replace"))
    return "\n".join(shown)


def _pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type /Page\b(?!s)", pdf))


def _label_events(lot_id: int) -> list[tuple[str, str]]:
    """(actor, changes) of each labels_printed entry of the lot, oldest first."""
    with read_session() as session:
        return [(e.actor, e.changes) for e in session.query(AuditEntry).filter_by(
            record_type="lot", record_id=str(lot_id), action="labels_printed").order_by(AuditEntry.id)]


@pytest.fixture
def stocked(site: dict[str, Actor]) -> dict[str, Actor]:
    """A warehouse clerk, locations, an approved material RM-0001 and its approved supplier."""
    clerk = warehouse_user(site)
    location_tree(clerk)
    approved_material(clerk, site["qa.li"], name_zh="磷酸氢二钠", name_en="Disodium phosphate")
    approved_supplier(clerk, site["qa.li"], ["RM-0001"])
    return {**site, "clerk": clerk}


# ---------------------------------------------------------------- the status band


@pytest.mark.parametrize(("state", "text", "colour"), [
    ("quarantine", "待验 QUARANTINE", "#FFD200"),
    ("under_test", "检验中 UNDER TEST", "#FFD200"),
    ("released", "合格 RELEASED", "#1E8E3E"),
    ("rejected", "不合格 REJECTED", "#D32F2F"),
    ("expired", "过期 EXPIRED", "#D32F2F"),
])
def test_each_lot_state_has_its_status_text_and_colour(state: str, text: str, colour: str) -> None:
    # given / when
    band = status_band(state)

    # then
    assert band.text == text
    assert band.colour == colour


def test_every_lot_state_of_the_lifecycle_has_a_status_band() -> None:
    # given
    from pharmos.materials.lifecycle import LOT_LIFECYCLE

    # when / then
    assert set(LOT_LIFECYCLE.states) == set(STATUS_BANDS)
    with pytest.raises(ValueError, match="no status label"):
        status_band("lost")


def test_a_lot_past_expiry_is_labelled_expired_before_the_daily_job_runs() -> None:
    # given
    today = date(2026, 5, 1)

    # when / then
    assert label_status(state="released", expires_on=today, today=today) == "expired"
    assert label_status(state="quarantine", expires_on=today - timedelta(days=3), today=today) == "expired"
    assert label_status(state="released", expires_on=today + timedelta(days=1), today=today) == "released"
    assert label_status(state="rejected", expires_on=today - timedelta(days=3), today=today) == "rejected"


# ---------------------------------------------------------------- printing through the service


@pytest.mark.requirement("EU GMP Part I 5.13")
def test_released_lot_prints_one_labelled_page_per_container(stocked: dict[str, Actor]) -> None:
    # given: a released lot of 3 containers (25 kg split 8.333333 / 8.333333 / 8.333334)
    lot = released_lot(stocked, material_code="RM-0001", supplier_id=materials.list_suppliers(
        actor=stocked["qa.li"])[0].id, quantity="25", containers=3, receiver=stocked["clerk"],
        retest_on=site_today() + timedelta(days=200))

    # when
    pdf = materials.lot_labels_pdf(actor=stocked["clerk"], lot_id=lot.id)

    # then
    assert pdf.startswith(b"%PDF")
    assert _pages(pdf) == 3
    text = _pdf_text(pdf)
    assert text.count("合格 RELEASED") == 3
    assert "QUARANTINE" not in text
    for container in lot.containers:
        assert container.number in text
    assert "RM-0001  磷酸氢二钠" in text
    assert "Disodium phosphate" in text
    assert lot.number in text
    assert "8.333334 kg" in text
    assert lot.expires_on.isoformat() in text
    assert (site_today() + timedelta(days=200)).isoformat() in text
    assert "15–25 °C（常温受控）" in text.replace("-", "–")


def test_quarantined_lot_label_says_quarantine(stocked: dict[str, Actor]) -> None:
    # given
    supplier = materials.list_suppliers(actor=stocked["qa.li"])[0]
    lot = received_lot(stocked, material_code="RM-0001", supplier_id=supplier.id, receiver=stocked["clerk"])

    # when
    text = _pdf_text(materials.lot_labels_pdf(actor=stocked["clerk"], lot_id=lot.id))

    # then
    assert "待验 QUARANTINE" in text
    assert "RELEASED" not in text


def test_rejected_lot_label_says_rejected(stocked: dict[str, Actor]) -> None:
    # given: QA rejects a quarantined lot
    supplier = materials.list_suppliers(actor=stocked["qa.li"])[0]
    lot = received_lot(stocked, material_code="RM-0001", supplier_id=supplier.id, receiver=stocked["clerk"])
    qa = stocked["qa.li"]
    apply_transition(actor=qa, collection="lots", record_id=lot.id, name="reject",
                     password=password_of(qa.username), meaning="rejected", reason="Failed identity test")

    # when
    text = _pdf_text(materials.lot_labels_pdf(actor=qa, lot_id=lot.id))

    # then
    assert "不合格 REJECTED" in text


@pytest.mark.requirement("21 CFR 11.10(e)")
def test_printing_labels_is_recorded_in_the_audit_trail(stocked: dict[str, Actor]) -> None:
    # given
    supplier = materials.list_suppliers(actor=stocked["qa.li"])[0]
    lot = received_lot(stocked, material_code="RM-0001", supplier_id=supplier.id, quantity="4", containers=2,
                       receiver=stocked["clerk"])
    assert _label_events(lot.id) == []

    # when: the clerk prints the second container's label only
    second = lot.containers[1].number
    pdf = materials.lot_labels_pdf(actor=stocked["clerk"], lot_id=lot.id, container_numbers=[second])

    # then
    assert _pages(pdf) == 1
    assert second in _pdf_text(pdf)
    events = _label_events(lot.id)
    assert len(events) == 1
    actor, changes = events[0]
    assert actor == stocked["clerk"].username
    assert '"containers":["' + second + '"]' in changes
    assert '"status":"quarantine"' in changes


def test_containers_of_another_lot_are_refused_and_nothing_is_recorded(stocked: dict[str, Actor]) -> None:
    # given: two lots
    supplier = materials.list_suppliers(actor=stocked["qa.li"])[0]
    first = received_lot(stocked, material_code="RM-0001", supplier_id=supplier.id, receiver=stocked["clerk"])
    other = received_lot(stocked, material_code="RM-0001", supplier_id=supplier.id, receiver=stocked["clerk"])

    # when
    with pytest.raises(ValidationFailed) as refused:
        materials.lot_labels_pdf(actor=stocked["clerk"], lot_id=first.id,
                                 container_numbers=[other.containers[0].number])

    # then
    assert refused.value.fields[0].field == "container_numbers"
    assert other.containers[0].number in refused.value.message
    assert _label_events(first.id) == []


def test_unknown_lot_and_missing_permission_are_refused(stocked: dict[str, Actor]) -> None:
    # given
    supplier = materials.list_suppliers(actor=stocked["qa.li"])[0]
    lot = received_lot(stocked, material_code="RM-0001", supplier_id=supplier.id, receiver=stocked["clerk"])
    outsider = Actor(username="guest", full_name="guest", user_id=999, permissions=frozenset())

    # when / then
    with pytest.raises(NotFound):
        materials.lot_labels_pdf(actor=stocked["clerk"], lot_id=lot.id + 1000)
    with pytest.raises(PermissionDenied):
        materials.lot_labels_pdf(actor=outsider, lot_id=lot.id)
    assert _label_events(lot.id) == []


def test_label_quantities_read_as_a_person_writes_them() -> None:
    # given
    from pharmos.materials.labels import quantity_text

    # when / then
    assert quantity_text(Decimal("25.000000"), "kg") == "25 kg"
    assert quantity_text(Decimal("100"), "each") == "100 each"
    assert quantity_text(Decimal("0.500000"), "L") == "0.5 L"
