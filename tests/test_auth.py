"""Accounts, passwords, lockout, sessions, API tokens, MFA and segregation of duties (services and API)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from pharmos.auth import service as auth
from pharmos.auth.models import ApiToken, User
from pharmos.compliance.audit import AuditEntry, count_entries
from pharmos.compliance.signatures import authenticate_signer
from pharmos.core.actor import Actor
from pharmos.core.clock import utcnow
from pharmos.core.config import reset_settings_cache
from pharmos.core.crypto import token_digest
from pharmos.core.db import get_database, read_session
from pharmos.core.errors import AuthenticationFailed, Conflict, SignatureRefused, ValidationFailed
from tests.conftest import password_of


def _fields(exc: pytest.ExceptionInfo[Exception]) -> set[str]:
    return {f.field for f in exc.value.fields}  # type: ignore[attr-defined]


def _audit(action: str, record_type: str | None = None) -> list[Any]:
    with read_session() as session:
        stmt = select(AuditEntry.id, AuditEntry.actor, AuditEntry.record_type, AuditEntry.record_id,
                      AuditEntry.reason, AuditEntry.changes).where(AuditEntry.action == action).order_by(AuditEntry.id)
        if record_type:
            stmt = stmt.where(AuditEntry.record_type == record_type)
        return list(session.execute(stmt))


def _audit_count() -> int:
    with read_session() as session:
        return count_entries(session)


def _user_id(username: str) -> int:
    with read_session() as session:
        uid = session.scalar(select(User.id).where(User.username == username))
        assert uid is not None
        return uid


def _execute(sql: str, **params: object) -> None:
    with get_database().write_engine.begin() as conn:
        conn.execute(text(sql), params)


def _fail_login(username: str, times: int) -> None:
    for _ in range(times):
        with pytest.raises(AuthenticationFailed):
            auth.login(username=username, password="definitely-wrong-1")


# ---------------------------------------------------------------- password policy and accounts


@pytest.mark.requirement("21 CFR 11.300(b)")
@pytest.mark.parametrize("password", ["short-1", "new.person"])
def test_password_policy_names_the_field_and_creates_nothing(db_url: str, system: Actor, password: str) -> None:
    # given
    auth.ensure_builtin_roles(actor=system)
    before = _audit_count()
    # when
    with pytest.raises(ValidationFailed) as exc:
        auth.create_user(actor=system, username="new.person", full_name="New Person", password=password)
    # then
    assert _fields(exc) == {"password"}
    assert _audit_count() == before
    with read_session() as session:
        assert session.scalar(select(User).where(User.username == "new.person")) is None


@pytest.mark.requirement("21 CFR 11.100(a)")
def test_username_of_deactivated_user_is_never_reused(site: dict[str, Actor], system: Actor) -> None:
    # given
    admin = site["admin.wang"]
    auth.deactivate_user(actor=admin, username="op.liu", reason="Left the company")
    # when
    with pytest.raises(Conflict) as exc:
        auth.create_user(actor=system, username="op.liu", full_name="Another Liu", password="another-pass-1")
    # then
    assert _fields(exc) == {"username"}
    with pytest.raises(AuthenticationFailed):
        auth.login(username="op.liu", password=password_of("op.liu"))


@pytest.mark.requirement("21 CFR 11.300(a)")
def test_passwords_are_stored_as_argon2_hashes(site: dict[str, Actor]) -> None:
    # given / when
    with read_session() as session:
        stored = session.scalar(select(User.password_hash).where(User.username == "qa.li"))
    # then
    assert stored is not None
    assert stored.startswith("$argon2id$")
    assert password_of("qa.li") not in stored


# ---------------------------------------------------------------- lockout


@pytest.mark.requirement("21 CFR 11.300(d)")
def test_five_failures_lock_the_account_and_raise_a_security_event(site: dict[str, Actor]) -> None:
    # given
    _fail_login("qa.zhang", 4)
    assert _audit("security.account_locked") == []
    # when
    _fail_login("qa.zhang", 1)
    # then
    locked = _audit("security.account_locked")
    assert [e.record_id for e in locked] == [str(_user_id("qa.zhang"))]
    assert len(_audit("login_failed")) == 5
    with pytest.raises(AuthenticationFailed) as exc:
        auth.login(username="qa.zhang", password=password_of("qa.zhang"))
    assert exc.value.code == "account-locked"


@pytest.mark.requirement("21 CFR 11.300(d)")
def test_a_success_resets_the_failure_count(site: dict[str, Actor]) -> None:
    # given
    _fail_login("qa.zhang", 4)
    auth.login(username="qa.zhang", password=password_of("qa.zhang"))
    # when
    _fail_login("qa.zhang", 4)
    # then
    assert _audit("security.account_locked") == []
    auth.login(username="qa.zhang", password=password_of("qa.zhang"))


def test_unknown_user_and_wrong_password_get_the_same_message(site: dict[str, Actor]) -> None:
    # given / when
    with pytest.raises(AuthenticationFailed) as unknown:
        auth.login(username="nobody.here", password="whatever-pass-1")
    with pytest.raises(AuthenticationFailed) as wrong:
        auth.login(username="qa.li", password="whatever-pass-1")
    # then
    assert (unknown.value.message, unknown.value.code, unknown.value.status) == \
        (wrong.value.message, wrong.value.code, wrong.value.status)


def test_unknown_user_and_wrong_password_look_the_same_over_the_api(site: dict[str, Actor]) -> None:
    # given
    from pharmos.app import create_app

    client = TestClient(create_app())
    # when
    unknown = client.post("/api/v1/auth/token", json={"username": "nobody.here", "password": "whatever-pass-1"})
    wrong = client.post("/api/v1/auth/token", json={"username": "qa.li", "password": "whatever-pass-1"})
    # then
    assert unknown.status_code == wrong.status_code == 401

    def strip(body: dict[str, object]) -> dict[str, object]:
        return {k: v for k, v in body.items() if k != "request_id"}

    assert strip(unknown.json()) == strip(wrong.json())


@pytest.mark.requirement("21 CFR 11.300(d)")
def test_admin_unlock_restores_login(site: dict[str, Actor]) -> None:
    # given
    _fail_login("op.liu", 5)
    # when
    auth.unlock_user(actor=site["admin.wang"], username="op.liu", reason="Identity confirmed by phone")
    # then
    result = auth.login(username="op.liu", password=password_of("op.liu"))
    assert result.actor.username == "op.liu"
    with read_session() as session:
        user = session.scalar(select(User).where(User.username == "op.liu"))
        assert user is not None and user.locked_at is None and user.failed_login_count == 0


def test_unlock_requires_a_reason(site: dict[str, Actor]) -> None:
    # given
    _fail_login("op.liu", 5)
    # when
    with pytest.raises(ValidationFailed) as exc:
        auth.unlock_user(actor=site["admin.wang"], username="op.liu", reason="  ")
    # then
    assert _fields(exc) == {"reason"}
    with pytest.raises(AuthenticationFailed):
        auth.login(username="op.liu", password=password_of("op.liu"))


# ---------------------------------------------------------------- reset and expiry


@pytest.mark.requirement("21 CFR 11.300(b)")
def test_admin_reset_issues_a_temporary_password_that_blocks_signing(site: dict[str, Actor]) -> None:
    # given
    temp = auth.reset_password(actor=site["admin.wang"], username="qa.li", reason="Forgot password")
    # when
    actor = auth.login(username="qa.li", password=temp).actor
    # then
    assert actor.must_change_password
    with pytest.raises(SignatureRefused) as exc:
        authenticate_signer(actor=actor, password=temp)
    assert _fields(exc) == {"password"}
    with pytest.raises(AuthenticationFailed):
        auth.login(username="qa.li", password=password_of("qa.li"))
    # and after changing it, signing works
    auth.change_password(actor=actor, current_password=temp, new_password="qa.li-new-pass-2")
    fresh = auth.login(username="qa.li", password="qa.li-new-pass-2").actor
    assert not fresh.must_change_password
    assert authenticate_signer(actor=fresh, password="qa.li-new-pass-2").user_id == fresh.user_id


def test_change_password_applies_the_policy_to_new_password(site: dict[str, Actor]) -> None:
    # given
    actor = site["qa.zhang"]
    # when
    with pytest.raises(ValidationFailed) as exc:
        auth.change_password(actor=actor, current_password=password_of("qa.zhang"), new_password="short")
    # then
    assert _fields(exc) == {"new_password"}
    auth.login(username="qa.zhang", password=password_of("qa.zhang"))


@pytest.mark.requirement("21 CFR 11.300(b)")
def test_expired_password_must_be_changed(site: dict[str, Actor], monkeypatch: pytest.MonkeyPatch) -> None:
    # given
    monkeypatch.setenv("PHARMOS_PASSWORD_MAX_AGE_DAYS", "30")
    reset_settings_cache()
    assert not auth.login(username="qa.li", password=password_of("qa.li")).actor.must_change_password
    _execute("UPDATE auth_user SET password_changed_at = :at WHERE username = 'qa.li'",
             at=utcnow() - timedelta(days=31))
    # when
    actor = auth.login(username="qa.li", password=password_of("qa.li")).actor
    # then
    assert actor.must_change_password
    with pytest.raises(SignatureRefused):
        authenticate_signer(actor=actor, password=password_of("qa.li"))


@pytest.mark.requirement("21 CFR 11.300(b)")
def test_a_personal_api_token_is_suspended_while_its_owners_password_is_expired(
        site: dict[str, Actor], monkeypatch: pytest.MonkeyPatch) -> None:
    # given: a token issued while the password was current
    from pharmos.app import create_app

    monkeypatch.setenv("PHARMOS_PASSWORD_MAX_AGE_DAYS", "30")
    reset_settings_cache()
    client = TestClient(create_app())
    token, _ = auth.create_api_token(actor=site["qa.zhang"], name="LIMS", scopes=["settings.view"])
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/controlled-settings", headers=headers).status_code == 200
    # when: the password passes its maximum age
    _execute("UPDATE auth_user SET password_changed_at = :at WHERE username = 'qa.zhang'",
             at=utcnow() - timedelta(days=31))
    suspended = client.get("/api/v1/controlled-settings", headers=headers)
    # then: refused until the owner changes the password, then working again
    assert suspended.status_code == 403 and suspended.json()["type"].endswith("/password-change-required")
    expired = auth.login(username="qa.zhang", password=password_of("qa.zhang")).actor
    auth.change_password(actor=expired, current_password=password_of("qa.zhang"), new_password="Revised-pass-2026")
    assert client.get("/api/v1/controlled-settings", headers=headers).status_code == 200


# ---------------------------------------------------------------- sessions


@pytest.mark.requirement("EU GMP Annex 11 §12.1")
def test_session_expires_after_idle_timeout(site: dict[str, Actor]) -> None:
    # given
    result = auth.login(username="viewer.chen", password=password_of("viewer.chen"))
    assert auth.resolve_session(result.token) is not None
    # when
    _execute("UPDATE auth_session SET last_seen_at = :at WHERE token_hash = :h",
             at=utcnow() - timedelta(minutes=result.idle_minutes + 1), h=token_digest(result.token))
    # then
    assert auth.resolve_session(result.token) is None


def test_activity_within_idle_timeout_keeps_session(site: dict[str, Actor]) -> None:
    # given
    result = auth.login(username="viewer.chen", password=password_of("viewer.chen"))
    # when
    _execute("UPDATE auth_session SET last_seen_at = :at WHERE token_hash = :h",
             at=utcnow() - timedelta(minutes=result.idle_minutes - 1), h=token_digest(result.token))
    # then
    assert auth.resolve_session(result.token) is not None
    with read_session() as session:
        seen = session.scalar(text("SELECT last_seen_at FROM auth_session WHERE token_hash = :h"),
                              {"h": token_digest(result.token)})
    from pharmos.core.clock import as_utc

    seen_at = as_utc(datetime.fromisoformat(seen) if isinstance(seen, str) else seen)
    assert utcnow() - seen_at < timedelta(minutes=1)  # activity moved the idle clock forward


@pytest.mark.requirement("EU GMP Annex 11 §12.1")
def test_session_expires_at_the_absolute_limit(site: dict[str, Actor]) -> None:
    # given
    result = auth.login(username="viewer.chen", password=password_of("viewer.chen"))
    # when
    _execute("UPDATE auth_session SET expires_at = :at WHERE token_hash = :h",
             at=utcnow() - timedelta(seconds=1), h=token_digest(result.token))
    # then
    assert auth.resolve_session(result.token) is None


def test_logout_revokes_the_session_server_side(site: dict[str, Actor]) -> None:
    # given
    from pharmos.app import create_app

    client = TestClient(create_app())
    token = client.post("/api/v1/auth/token", json={"username": "qa.zhang",
                                                    "password": password_of("qa.zhang")}).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    # when
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    # then
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 401
    assert auth.resolve_session(token) is None
    assert [e.actor for e in _audit("logout")] == ["qa.zhang"]


# ---------------------------------------------------------------- API tokens


def test_api_login_issues_a_bearer_token(site: dict[str, Actor]) -> None:
    # given
    from pharmos.app import create_app

    client = TestClient(create_app())
    # when
    response = client.post("/api/v1/auth/token", json={"username": "qa.li", "password": password_of("qa.li")})
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer" and body["must_change_password"] is False
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.json()["username"] == "qa.li"
    assert "settings.approve" in me.json()["permissions"]


@pytest.mark.requirement("21 CFR 11.300(a)")
def test_personal_api_token_is_hashed_scoped_and_revocable(site: dict[str, Actor]) -> None:
    # given
    from pharmos.app import create_app

    client = TestClient(create_app())
    owner = site["qa.zhang"]
    assert owner.can("settings.edit")
    token, view = auth.create_api_token(actor=owner, name="LIMS read-only", scopes=["settings.view"])
    headers = {"Authorization": f"Bearer {token}"}
    # then: hashed at rest
    with read_session() as session:
        row = session.get(ApiToken, view.id)
        assert row is not None
        assert row.token_hash == token_digest(token) and token not in row.token_hash
        assert token.startswith(row.prefix) and len(row.prefix) < len(token)
    # when / then: scoped below its owner's permissions
    assert client.get("/api/v1/controlled-settings", headers=headers).status_code == 200
    drafted = client.post("/api/v1/controlled-settings", headers=headers,
                          json={"key": "deviation.due_days.minor", "value": "30"})
    assert drafted.status_code == 403
    # when / then: revoked tokens stop working
    auth.revoke_api_token(actor=owner, token_id=view.id)
    assert client.get("/api/v1/controlled-settings", headers=headers).status_code == 401


def test_api_token_scopes_must_be_held_by_owner(site: dict[str, Actor]) -> None:
    # given
    viewer = site["viewer.chen"]
    # when
    with pytest.raises(ValidationFailed) as exc:
        auth.create_api_token(actor=viewer, name="sneaky", scopes=["settings.approve"])
    # then
    assert _fields(exc) == {"scopes"}
    assert auth.list_api_tokens(actor=viewer) == []


# ---------------------------------------------------------------- MFA


def next_code(totp: pyotp.TOTP) -> str:
    """The code of the next 30-second step: still accepted (±1 step), and newer than one just used."""
    return totp.at(time.time() + totp.interval)


@pytest.mark.requirement("21 CFR 11.200(a)(1)")
def test_totp_enrolment_then_login_requires_the_code(site: dict[str, Actor]) -> None:
    # given
    actor = site["qa.li"]
    enrolment = auth.begin_totp_enrolment(actor=actor)
    totp = pyotp.TOTP(enrolment.secret)
    with pytest.raises(ValidationFailed) as bad:
        auth.confirm_totp_enrolment(actor=actor, code="000000" if totp.now() != "000000" else "111111")
    assert _fields(bad) == {"code"}
    auth.confirm_totp_enrolment(actor=actor, code=totp.now())
    # when / then: no code
    with pytest.raises(AuthenticationFailed) as missing:
        auth.login(username="qa.li", password=password_of("qa.li"))
    assert missing.value.code == "otp-required"
    # when / then: wrong code
    wrong = f"{(int(totp.now()) + 500000) % 1000000:06d}"
    with pytest.raises(AuthenticationFailed) as refused:
        auth.login(username="qa.li", password=password_of("qa.li"), otp=wrong)
    assert refused.value.code == "authentication-failed"
    # when / then: right code (the next step's: the enrolment used this step's code)
    code = next_code(totp)
    assert auth.login(username="qa.li", password=password_of("qa.li"), otp=code).actor.username == "qa.li"
    # when / then: the same code again, within its window, is refused (RFC 6238 §5.2)
    with pytest.raises(AuthenticationFailed) as replayed:
        auth.login(username="qa.li", password=password_of("qa.li"), otp=code)
    assert replayed.value.code == "authentication-failed"


def test_signing_with_mfa_needs_the_code(site: dict[str, Actor]) -> None:
    # given
    actor = site["qa.li"]
    enrolment = auth.begin_totp_enrolment(actor=actor)
    auth.confirm_totp_enrolment(actor=actor, code=pyotp.TOTP(enrolment.secret).now())
    # when
    with pytest.raises(SignatureRefused) as exc:
        authenticate_signer(actor=actor, password=password_of("qa.li"))
    # then
    assert _fields(exc) == {"otp"}
    code = next_code(pyotp.TOTP(enrolment.secret))
    proof = authenticate_signer(actor=actor, password=password_of("qa.li"), otp=code)
    assert proof.user_id == actor.user_id
    # a signature's code cannot be replayed for another signature
    with pytest.raises(SignatureRefused):
        authenticate_signer(actor=actor, password=password_of("qa.li"), otp=code)


# ---------------------------------------------------------------- roles


@pytest.mark.requirement("EU GMP Annex 11 §12.3")
def test_qa_approval_cannot_be_granted_to_an_administrator(site: dict[str, Actor]) -> None:
    # given
    admin = site["admin.wang"]
    before = _audit_count()
    # when
    with pytest.raises(ValidationFailed) as exc:
        auth.grant_role(actor=admin, username="admin.wang", role="qa_manager", reason="Covering holidays")
    # then
    assert _fields(exc) == {"role"}
    assert _audit_count() == before
    assert "qa_manager" not in auth.get_user(actor=admin, username="admin.wang").roles


def test_creating_a_user_with_conflicting_roles_is_refused(site: dict[str, Actor], system: Actor) -> None:
    # given / when
    with pytest.raises(ValidationFailed) as exc:
        auth.create_user(actor=system, username="dual.role", full_name="Dual Role", password="dual-role-pass1",
                         roles=["admin", "qa_manager"])
    # then
    assert _fields(exc) == {"roles"}
    with read_session() as session:
        assert session.scalar(select(User).where(User.username == "dual.role")) is None


def test_creating_a_user_with_an_unknown_role_names_roles(site: dict[str, Actor], system: Actor) -> None:
    # given / when
    with pytest.raises(ValidationFailed) as exc:
        auth.create_user(actor=system, username="new.person", full_name="New Person", password="new-person-pass1",
                         roles=["viewer", "wizard"])
    # then
    assert _fields(exc) == {"roles"}
    with read_session() as session:
        assert session.scalar(select(User).where(User.username == "new.person")) is None


@pytest.mark.requirement("21 CFR 11.10(e)")
def test_every_grant_and_revoke_is_audited(site: dict[str, Actor]) -> None:
    # given
    admin = site["admin.wang"]
    before_create = len(_audit("create", "user_role"))
    before_delete = len(_audit("delete", "user_role"))
    # when
    auth.grant_role(actor=admin, username="op.liu", role="qc_analyst", reason="Cross-trained in QC")
    auth.revoke_role(actor=admin, username="op.liu", role="qc_analyst", reason="Training lapsed")
    # then
    created = _audit("create", "user_role")[before_create:]
    deleted = _audit("delete", "user_role")[before_delete:]
    assert len(created) == 1 and len(deleted) == 1
    assert created[0].actor == deleted[0].actor == "admin.wang"
    assert created[0].reason == "Cross-trained in QC"
    assert deleted[0].reason == "Training lapsed"
    assert "qc_analyst" not in auth.get_user(actor=admin, username="op.liu").roles


def test_granting_a_role_needs_the_permission(site: dict[str, Actor]) -> None:
    # given
    qa = site["qa.li"]
    # when / then
    from pharmos.core.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        auth.grant_role(actor=qa, username="op.liu", role="qc_analyst")
    assert "qc_analyst" not in auth.get_user(actor=site["admin.wang"], username="op.liu").roles


@pytest.mark.requirement("21 CFR 11.300(b)")
def test_temporary_password_confines_the_api_to_changing_it(site: dict[str, Actor]) -> None:
    # given a user whose password an administrator reset, signed in to the API
    from pharmos.app import create_app

    temp = auth.reset_password(actor=site["admin.wang"], username="qa.zhang", reason="Forgotten")
    client = TestClient(create_app())
    token = client.post("/api/v1/auth/token", json={"username": "qa.zhang", "password": temp}).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    # when they call an ordinary route, and then change the password
    refused = client.get("/api/v1/controlled-settings", headers=headers)
    changed = client.post("/api/v1/auth/password", headers=headers,
                          json={"current_password": temp, "new_password": "a-brand-new-pass1"})
    after = client.get("/api/v1/controlled-settings", headers=headers)
    # then only the password change was allowed until it was done
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("/password-change-required")
    assert changed.status_code == 204
    assert after.status_code == 200


@pytest.mark.requirement("EU GMP Annex 11 §9")
def test_role_revocation_over_the_api_keeps_its_reason(site: dict[str, Actor]) -> None:
    # given an administrator's API session
    from pharmos.app import create_app

    client = TestClient(create_app())
    token = client.post("/api/v1/auth/token",
                        json={"username": "admin.wang", "password": password_of("admin.wang")}).json()["access_token"]
    # when a role is revoked with a reason
    response = client.delete("/api/v1/users/op.liu/roles/operator", params={"reason": "Moved to QC"},
                             headers={"Authorization": f"Bearer {token}"})
    # then the audit entry of the revocation carries that reason
    assert response.status_code == 204
    with read_session() as session:
        reason = session.scalars(select(AuditEntry.reason).where(AuditEntry.record_type == "user_role",
                                                                 AuditEntry.action == "delete")).one()
    assert reason == "Moved to QC"
