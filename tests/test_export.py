"""Audit-trail exports for inspectors (21 CFR 11.10(b)): CSV and PDF, permission-checked, audited."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import re
import zlib
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from pharmos.auth import service as auth
from pharmos.compliance.audit import count_entries
from pharmos.compliance.export import CSV_COLUMNS, export_audit
from pharmos.compliance.service import AuditQuery, search_audit
from pharmos.core.actor import Actor
from pharmos.core.db import read_session
from pharmos.core.errors import PermissionDenied, ValidationFailed


def _entries() -> int:
    with read_session() as session:
        return count_entries(session)


def _pdf_text(pdf: bytes) -> str:
    """Text shown by the PDF's content streams, decoded with the standard library only.

    Handles what reportlab writes: ASCII85+Flate streams of literal strings. Good enough
    to prove the words are there, not a general parser.
    """
    shown: list[str] = []
    for match in re.finditer(rb"/Filter \[ /ASCII85Decode /FlateDecode \] /Length (\d+)\s*>>\s*stream\r?\n", pdf):
        raw = pdf[match.end():match.end() + int(match.group(1))]
        stream = zlib.decompress(base64.a85decode(raw, adobe=True))
        for literal in re.findall(rb"\((.*?)(?<!\\)\)\s*Tj", stream, flags=re.S):
            data = re.sub(rb"\\([0-7]{1,3})", lambda m: bytes([int(m.group(1), 8)]), literal)
            data = re.sub(rb"\\(.)", rb"\1", data, flags=re.S)
            # Every string is set in the CID font, whose encoding (UniGB-UCS2-H) is UTF-16BE.
            shown.append(data.decode("utf-16-be", errors="replace"))
    return "\n".join(shown)


@pytest.mark.requirement("21 CFR 11.10(b)")
def test_csv_export_has_bom_and_every_matching_entry_with_chinese_names(site: dict[str, Actor]) -> None:
    # given: the site fixture created users such as 李娜 (qa.li)
    qa = site["qa.li"]
    expected = search_audit(actor=qa, query=AuditQuery(record_type="user"), limit=1000)

    # when
    content, media_type, filename = export_audit(actor=qa, fmt="csv", query=AuditQuery(record_type="user"))

    # then
    assert content.startswith(b"\xef\xbb\xbf")
    assert media_type.startswith("text/csv")
    assert filename.endswith(".csv")
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert tuple(rows[0]) == CSV_COLUMNS
    body = rows[1:]
    assert [int(r[0]) for r in body] == [e.id for e in expected]
    assert all(r[4] == "user" for r in body)
    assert any("full_name: 李娜" in r[7] for r in body)
    assert [r[10] for r in body] == [e.hash for e in expected]
    first = expected[0]
    local = first.at + timedelta(hours=8)  # Asia/Shanghai, no daylight saving
    assert body[0][1].startswith(first.at.strftime("%Y-%m-%dT%H:%M:%S"))
    assert body[0][2] == local.strftime("%Y-%m-%d %H:%M:%S") + " CST"


def test_csv_renders_field_changes_with_old_and_new_values(site: dict[str, Actor], system: Actor) -> None:
    # given: a role change on an existing user
    auth.grant_role(actor=system, username="viewer.chen", role="qc_analyst", reason="调岗至QC")
    auth.deactivate_user(actor=system, username="op.liu", reason="离职")

    # when
    content, _, _ = export_audit(actor=site["qa.li"], fmt="csv", query=AuditQuery(action="update"))

    # then
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))[1:]
    deactivation = [r for r in rows if "is_active" in r[7]]
    assert deactivation, rows
    assert "is_active: true → false" in deactivation[0][7]
    assert deactivation[0][8] == "离职"


@pytest.mark.requirement("21 CFR 11.10(b)")
def test_pdf_export_is_a_paged_pdf_with_chinese_text_and_chain_result(site: dict[str, Actor]) -> None:
    # given
    qa = site["qa.li"]
    total = _entries()

    # when
    content, media_type, filename = export_audit(actor=qa, fmt="pdf", query=AuditQuery())

    # then
    assert content.startswith(b"%PDF-")
    assert content.rstrip().endswith(b"%%EOF")
    assert media_type == "application/pdf"
    assert filename.endswith(".pdf")
    assert b"/BaseFont /STSong-Light" in content
    pages = max(int(n) for n in re.findall(rb"/Count (\d+)", content))
    assert pages >= 2  # dozens of entries do not fit on one landscape page
    text = _pdf_text(content)
    assert "李娜" in text
    assert f"Audit chain intact: {total} entries verified" in text
    assert f"Page 1 of {pages}" in text
    assert f"Page {pages} of {pages}" in text
    assert "qa.li" in text


def test_pdf_says_when_the_chain_is_broken(sqlite_url: str, system: Actor) -> None:
    # given: a tampered entry (SQLite, where the append-only trigger can be dropped by the owner)
    import sqlite3

    auth.ensure_builtin_roles(actor=system)
    path = sqlite_url.split("sqlite:///", 1)[1]
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TRIGGER IF EXISTS audit_entry_no_update")
    conn.execute("UPDATE audit_entry SET reason = 'edited' WHERE id = 2")
    conn.close()

    # when
    content, _, _ = export_audit(actor=system, fmt="pdf", query=AuditQuery())

    # then
    assert "AUDIT CHAIN BROKEN at entry 2" in _pdf_text(content)


def test_export_without_the_export_permission_is_refused_and_writes_nothing(site: dict[str, Actor]) -> None:
    # given: the viewer holds neither audit.view nor audit.export; production_supervisor-like
    # actors may view but not export
    viewer = site["viewer.chen"]
    viewing_only = Actor(username="sup", full_name="sup", user_id=999, permissions=frozenset({"audit.view"}))
    before = _entries()

    # when / then
    for actor in (viewer, viewing_only):
        with pytest.raises(PermissionDenied, match=r"audit\.export"):
            export_audit(actor=actor, fmt="csv", query=AuditQuery())
    assert _entries() == before


def test_unknown_format_names_the_field_and_writes_nothing(site: dict[str, Actor]) -> None:
    # given
    before = _entries()

    # when
    with pytest.raises(ValidationFailed) as refused:
        export_audit(actor=site["qa.li"], fmt="xlsx", query=AuditQuery())

    # then
    assert [p.field for p in refused.value.fields] == ["format"]
    assert _entries() == before


@pytest.mark.requirement("21 CFR 11.10(e)")
def test_the_export_is_itself_in_the_audit_trail(site: dict[str, Actor]) -> None:
    # given
    qa = site["qa.li"]
    query = AuditQuery(record_type="user", actor="test-setup")
    matching = len(search_audit(actor=qa, query=query, limit=1000))

    # when
    content, _, filename = export_audit(actor=qa, fmt="csv", query=query)

    # then
    exports = search_audit(actor=qa, query=AuditQuery(action="export"))
    assert len(exports) == 1
    entry = exports[0]
    assert (entry.actor, entry.actor_id, entry.record_type, entry.record_id) == ("qa.li", qa.user_id,
                                                                                 "audit_trail", filename)
    assert entry.changes["format"] == "csv"
    assert entry.changes["rows"] == matching
    assert entry.changes["filter"] == {"record_type": "user", "actor": "test-setup"}
    assert entry.changes["sha256"] == hashlib.sha256(content).hexdigest()


def test_export_route_downloads_csv_and_refuses_a_viewer(site: dict[str, Actor]) -> None:
    # given
    from pharmos.app import create_app

    client = TestClient(create_app())
    qa_token = auth.login(username="qa.li", password="qa.li-pass1").token
    viewer_token = auth.login(username="viewer.chen", password="viewer.chen-pass1").token

    # when
    ok = client.get("/api/v1/audit-entries/export", params={"format": "csv", "record_type": "user"},
                    headers={"Authorization": f"Bearer {qa_token}"})
    refused = client.get("/api/v1/audit-entries/export", params={"format": "csv"},
                         headers={"Authorization": f"Bearer {viewer_token}"})
    bad = client.get("/api/v1/audit-entries/export", params={"format": "doc"},
                     headers={"Authorization": f"Bearer {qa_token}"})

    # then
    assert ok.status_code == 200, ok.text
    assert ok.content.startswith(b"\xef\xbb\xbf")
    assert "attachment" in ok.headers["content-disposition"]
    assert refused.status_code == 403
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "format"


def test_pdf_keeps_every_character_of_a_change_longer_than_a_page(sqlite_url: str, system: Actor) -> None:
    # given: one entry whose change text alone needs several pages
    from pharmos.compliance.audit import record_event
    from pharmos.core.db import transaction

    with transaction(actor=system) as session:
        record_event(session, record_type="deviation", record_id="DEV-2026-0042", action="note",
                     details={"description": "无菌灌装线A级区沉降菌超标" * 600})

    # when
    content, _, _ = export_audit(actor=system, fmt="pdf", query=AuditQuery(record_type="deviation"))

    # then
    text = _pdf_text(content)
    assert max(int(n) for n in re.findall(rb"/Count (\d+)", content)) >= 3
    assert text.count("菌") == 2 * 600
    assert text.count("灌") == 600


def test_a_time_without_offset_is_refused_naming_the_field(site: dict[str, Actor]) -> None:
    # given: an ambiguous time (site-local or UTC?)
    from datetime import datetime

    before = _entries()

    # when
    with pytest.raises(ValidationFailed) as refused:
        export_audit(actor=site["qa.li"], fmt="csv", query=AuditQuery(since=datetime(2026, 3, 1, 8, 0)))

    # then
    assert [p.field for p in refused.value.fields] == ["since"]
    assert _entries() == before
