"""Electronic signatures: re-authentication, manifest, binding to content and record, separation of duties."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from pharmos.auth import service as auth
from pharmos.compliance.audit import AuditEntry
from pharmos.compliance.lifecycle import apply_transition
from pharmos.compliance.signatures import ElectronicSignature, content_hash, separation_problem, signatures_for
from pharmos.core.actor import Actor
from pharmos.core.clock import utcnow
from pharmos.core.db import get_database, read_session
from pharmos.core.errors import AuthenticationFailed, SignatureRefused, TransitionRefused
from pharmos.site import service as settings
from pharmos.site.models import ControlledSetting
from tests.conftest import password_of

COLLECTION = "controlled-settings"


def _draft(actor: Actor, key: str = "deviation.due_days.minor", value: str = "30") -> int:
    return settings.draft_setting(actor=actor, key=key, value=value, description="Minor deviation due days").id


def _submit(actor: Actor, setting_id: int) -> None:
    apply_transition(actor=actor, collection=COLLECTION, record_id=setting_id, name="submit",
                     password=password_of(actor.username), meaning="authored")


def _signatures(setting_id: int) -> list[Any]:
    with read_session() as session:
        record = session.get(ControlledSetting, setting_id)
        assert record is not None
        return signatures_for(session, record)


def _audit_actions(action: str) -> list[Any]:
    with read_session() as session:
        return list(session.execute(select(AuditEntry.actor, AuditEntry.record_id, AuditEntry.changes)
                                    .where(AuditEntry.action == action).order_by(AuditEntry.id)))


def _execute(sql: str, **params: object) -> None:
    with get_database().write_engine.begin() as conn:
        conn.execute(text(sql), params)


def _drop_signature_triggers() -> None:
    """Test setup only: let a raw UPDATE simulate a tampering database administrator."""
    engine = get_database().write_engine
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            names = conn.execute(text(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = 'electronic_signature'::regclass "
                "AND NOT tgisinternal")).scalars().all()
            for name in names:
                conn.execute(text(f'DROP TRIGGER IF EXISTS "{name}" ON electronic_signature'))
        else:
            names = conn.execute(text(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'electronic_signature'"
            )).scalars().all()
            for name in names:
                conn.execute(text(f'DROP TRIGGER IF EXISTS "{name}"'))


@pytest.mark.requirement("21 CFR 11.200(a)(1)")
def test_wrong_password_refuses_the_signature_and_is_audited(site: dict[str, Actor]) -> None:
    # given
    author = site["qa.zhang"]
    setting_id = _draft(author)
    # when
    with pytest.raises(SignatureRefused) as exc:
        apply_transition(actor=author, collection=COLLECTION, record_id=setting_id, name="submit",
                         password="not-my-password", meaning="authored")
    # then
    assert exc.value.status == 401
    assert [f.field for f in exc.value.fields] == ["password"]
    assert settings.get_setting(actor=author, setting_id=setting_id).state == "draft"
    assert _signatures(setting_id) == []
    failed = _audit_actions("signature_failed")
    assert [(f.actor, f.record_id) for f in failed] == [("qa.zhang", str(author.user_id))]


@pytest.mark.requirement("21 CFR 11.300(d)")
def test_wrong_signing_passwords_count_toward_lockout(site: dict[str, Actor]) -> None:
    # given
    author = site["qa.zhang"]
    setting_id = _draft(author)
    # when
    for _ in range(5):
        with pytest.raises(SignatureRefused):
            apply_transition(actor=author, collection=COLLECTION, record_id=setting_id, name="submit",
                             password="not-my-password", meaning="authored")
    # then
    assert len(_audit_actions("security.account_locked")) == 1
    with pytest.raises(SignatureRefused) as exc:
        _submit(author, setting_id)
    assert exc.value.status == 403
    with pytest.raises(AuthenticationFailed):
        auth.login(username="qa.zhang", password=password_of("qa.zhang"))


@pytest.mark.requirement("21 CFR 11.50(a)")
def test_signature_records_printed_name_meaning_utc_time_and_content_hash(site: dict[str, Actor]) -> None:
    # given
    author = site["qa.zhang"]
    setting_id = _draft(author)
    before = utcnow()
    # when
    _submit(author, setting_id)
    # then
    with read_session() as session:
        record = session.get(ControlledSetting, setting_id)
        assert record is not None
        sig = session.scalars(select(ElectronicSignature)
                              .where(ElectronicSignature.record_id == str(setting_id))).one()
        assert sig.printed_name == "张伟"
        assert sig.signer_username == "qa.zhang"
        assert sig.meaning == "authored"
        assert sig.signed_at.tzinfo is not None and sig.signed_at.utcoffset() == timedelta(0)
        assert before - timedelta(seconds=1) <= sig.signed_at.astimezone(UTC) <= utcnow()
        assert sig.content_hash == content_hash(record)
    views = _signatures(setting_id)
    assert [(v.printed_name, v.meaning, v.valid) for v in views] == [("张伟", "authored", True)]


@pytest.mark.requirement("21 CFR 11.70")
def test_record_changed_after_signing_shows_the_signature_invalid(site: dict[str, Actor]) -> None:
    # given
    author = site["qa.zhang"]
    setting_id = _draft(author)
    _submit(author, setting_id)
    assert [v.valid for v in _signatures(setting_id)] == [True]
    # when
    _execute("UPDATE site_controlled_setting SET value = '45' WHERE id = :id", id=setting_id)
    # then
    views = _signatures(setting_id)
    assert [v.valid for v in views] == [False]
    assert views[0].problem == "Record changed after signing."


@pytest.mark.requirement("21 CFR 11.70")
def test_signature_moved_to_another_record_is_invalid(site: dict[str, Actor]) -> None:
    # given
    author = site["qa.zhang"]
    first = _draft(author, key="deviation.due_days.minor", value="30")
    second = _draft(author, key="deviation.due_days.major", value="30")
    _submit(author, first)
    _submit(author, second)
    _drop_signature_triggers()
    # when: the first record's signature is re-pointed at the second
    _execute("UPDATE electronic_signature SET record_id = :second WHERE record_id = :first",
             first=str(first), second=str(second))
    # then
    views = _signatures(second)
    assert len(views) == 2
    moved = [v for v in views if not v.valid]
    assert len(moved) == 1
    assert moved[0].problem is not None and "moved" in moved[0].problem


@pytest.mark.requirement("21 CFR 11.70")
def test_signature_manifest_edit_is_detected(site: dict[str, Actor]) -> None:
    # given
    author = site["qa.zhang"]
    setting_id = _draft(author)
    _submit(author, setting_id)
    _drop_signature_triggers()
    # when
    _execute("UPDATE electronic_signature SET printed_name = '李娜' WHERE record_id = :id", id=str(setting_id))
    # then
    assert [v.valid for v in _signatures(setting_id)] == [False]


@pytest.mark.requirement("EU GMP Annex 11 §14")
def test_author_cannot_approve_their_own_setting(site: dict[str, Actor]) -> None:
    # given: the QA manager both drafts and submits
    manager = site["qa.li"]
    setting_id = _draft(manager)
    _submit(manager, setting_id)
    # when
    with read_session() as session:
        record = session.get(ControlledSetting, setting_id)
        assert record is not None
        problem = separation_problem(session, record, meaning="approved", user_id=manager.user_id)
        other = separation_problem(session, record, meaning="approved", user_id=site["qa.zhang"].user_id)
    # then
    assert problem is not None and "author" in problem
    assert other is None
    with pytest.raises(TransitionRefused):
        apply_transition(actor=manager, collection=COLLECTION, record_id=setting_id, name="approve",
                         password=password_of("qa.li"), meaning="approved")
    assert settings.get_setting(actor=manager, setting_id=setting_id).state == "in_review"
    assert [v.meaning for v in _signatures(setting_id)] == ["authored"]


@pytest.mark.requirement("EU GMP Annex 11 §14")
def test_api_shows_why_the_author_cannot_approve(site: dict[str, Actor]) -> None:
    # given
    from pharmos.app import create_app

    client = TestClient(create_app())
    token = client.post("/api/v1/auth/token",
                        json={"username": "qa.li", "password": password_of("qa.li")}).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    setting_id = _draft(site["qa.li"])
    _submit(site["qa.li"], setting_id)
    # when
    listed = client.get(f"/api/v1/controlled-settings/{setting_id}/transitions", headers=headers)
    applied = client.post(f"/api/v1/controlled-settings/{setting_id}/transitions/approve", headers=headers,
                          json={"password": password_of("qa.li"), "meaning": "approved"})
    # then
    assert listed.status_code == 200
    approve = next(t for t in listed.json() if t["name"] == "approve")
    assert approve["allowed"] is False and "author" in approve["why_not"]
    assert applied.status_code == 409
    assert applied.headers["content-type"].startswith("application/problem+json")
    assert "author" in applied.json()["detail"]
    shown = client.get(f"/api/v1/controlled-settings/{setting_id}", headers=headers).json()
    assert shown["state"] == "in_review"
    assert [(s["meaning"], s["printed_name"], s["valid"]) for s in shown["signatures"]] == \
        [("authored", "李娜", True)]


def test_a_different_approver_can_approve(site: dict[str, Actor]) -> None:
    # given
    setting_id = _draft(site["qa.zhang"])
    _submit(site["qa.zhang"], setting_id)
    # when
    state = apply_transition(actor=site["qa.li"], collection=COLLECTION, record_id=setting_id, name="approve",
                             password=password_of("qa.li"), meaning="approved")
    # then
    assert state == "effective"
    views = _signatures(setting_id)
    assert [(v.printed_name, v.meaning, v.valid) for v in views] == \
        [("张伟", "authored", True), ("李娜", "approved", True)]
    assert settings.effective_value(key="deviation.due_days.minor") == "30"
