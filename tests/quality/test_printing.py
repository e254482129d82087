"""Printable records: a deviation, a CAPA and a complaint as PDFs carrying the record number, every signer's printed
name and meaning, and the audit trail; printing is itself audited; a person without quality.view cannot print.

EU GMP Annex 11 §8.1 / 21 CFR 11.10(b): accurate and complete copies in human-readable form. Runs on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import func, select

from pharmos.compliance.audit import AuditEntry
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today
from pharmos.core.db import read_session
from pharmos.core.errors import PermissionDenied
from pharmos.quality import service as quality
from tests.api_client import Api
from tests.quality import complaint_factories as cf
from tests.quality import factories as f
from tests.quality.factories import person

# Service rules: SQLite is enough; this module's API tests run on both back-ends.
pytestmark = pytest.mark.sqlite_only


def pdf_text(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    # Table cells wrap; compare on the words, whitespace collapsed.
    return re.sub(r"\s+", " ", " ".join(page.extract_text() or "" for page in reader.pages))


def prints(record_type: str, record_id: int) -> int:
    with read_session() as session:
        return session.scalar(select(func.count(AuditEntry.id)).where(
            AuditEntry.record_type == record_type, AuditEntry.record_id == str(record_id),
            AuditEntry.action == "print")) or 0


def _closed_deviation(site: dict[str, Actor]) -> tuple[str, int, Callable[[Actor], tuple[bytes, str, str]]]:
    d = f.closed_deviation(site)
    return "deviation", d.id, lambda actor: quality.print_deviation(actor=actor, deviation_id=d.id)


def _capa(site: dict[str, Actor]) -> tuple[str, int, Callable[[Actor], tuple[bytes, str, str]]]:
    d = f.approved_deviation(site)
    c = quality.create_capa(actor=site["qa.li"], kind="corrective", title="Add valve CV-12 to the PM plan",
                            source_type="deviation", deviation_id=d.id, owner_username="op.liu",
                            due_on=site_today() + timedelta(days=30), effectiveness_criteria="No recurrence")
    quality.record_implementation(actor=site["op.liu"], capa_id=c.id, summary="Valve added to the PM plan.")
    f.sign(site["op.liu"], c.id, "implement", collection="capas")
    return "capa", c.id, lambda actor: quality.print_capa(actor=actor, capa_id=c.id)


def _complaint(site: dict[str, Actor]) -> tuple[str, int, Callable[[Actor], tuple[bytes, str, str]]]:
    c = cf.closed_complaint(site)
    return "complaint", c.id, lambda actor: quality.print_complaint(actor=actor, complaint_id=c.id)


RECORDS = {"deviation": _closed_deviation, "capa": _capa, "complaint": _complaint}


@pytest.mark.parametrize("kind", list(RECORDS))
def test_the_pdf_shows_number_signatures_and_audit_trail_and_the_print_is_audited(site: dict[str, Actor],
                                                                                  kind: str) -> None:
    # given
    record_type, record_id, print_it = RECORDS[kind](site)
    view: Any = {"deviation": lambda: quality.get_deviation(actor=site["viewer.chen"], deviation_id=record_id),
                 "capa": lambda: quality.get_capa(actor=site["viewer.chen"], capa_id=record_id),
                 "complaint": lambda: quality.get_complaint(actor=site["viewer.chen"], complaint_id=record_id)}[kind]()
    before = prints(record_type, record_id)
    # when
    content, media_type, filename = print_it(site["viewer.chen"])
    # then
    assert media_type == "application/pdf" and content.startswith(b"%PDF-")
    assert filename == f"{view.number}.pdf"
    words = pdf_text(content)
    assert view.number in words
    assert view.signatures
    for signature in view.signatures:
        assert signature.printed_name in words and signature.username in words
    labels = {"performed": "Performed", "approved": "Approved", "verified": "Verified"}
    assert labels[view.signatures[-1].meaning] in words
    assert "Audit trail" in words and "create" in words and "update" in words
    assert prints(record_type, record_id) == before + 1
    # the next print shows the earlier one in its trail
    assert "print" in pdf_text(print_it(site["viewer.chen"])[0])


@pytest.mark.parametrize("kind", list(RECORDS))
def test_someone_without_quality_view_cannot_print(site: dict[str, Actor], kind: str) -> None:
    # given
    record_type, record_id, print_it = RECORDS[kind](site)
    outsider = person("ext.auditor", [], "外部审计")  # signed in, but holding no role
    # when / then
    with pytest.raises(PermissionDenied):
        print_it(outsider)
    assert prints(record_type, record_id) == 0


def test_the_pdf_routes_download_and_refuse_without_the_right(site: dict[str, Actor]) -> None:
    # given
    from pharmos.app import create_app

    deviation = f.closed_deviation(site)
    complaint = cf.closed_complaint(site)
    api = Api(TestClient(create_app()))
    person("ext.auditor", [], "外部审计")
    # when
    responses = {path: api.get("viewer.chen", path) for path in (
        f"/deviations/{deviation.id}/pdf", f"/capas/{_capa(site)[1]}/pdf", f"/complaints/{complaint.id}/pdf")}
    refused = api.get("ext.auditor", f"/complaints/{complaint.id}/pdf")
    missing = api.get("viewer.chen", "/complaints/999999/pdf")
    # then
    for path, response in responses.items():
        assert response.status_code == 200, (path, response.text)
        assert response.headers["content-type"] == "application/pdf"
        assert response.content.startswith(b"%PDF-") and ".pdf" in response.headers["content-disposition"]
    assert complaint.number in pdf_text(responses[f"/complaints/{complaint.id}/pdf"].content)
    assert refused.status_code == 403 and refused.headers["content-type"].startswith("application/problem+json")
    assert missing.status_code == 404
    assert prints("complaint", complaint.id) == 1
