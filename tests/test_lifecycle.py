"""The lifecycle mechanism: declaration checks, input validation, and a stateful model of controlled settings."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import ClassVar

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from sqlalchemy import func, select

from pharmos.auth import service as auth
from pharmos.compliance.audit import AuditEntry, count_entries
from pharmos.compliance.lifecycle import Lifecycle, Transition, apply_transition
from pharmos.compliance.signatures import ElectronicSignature, signatures_for
from pharmos.core.actor import Actor
from pharmos.core.db import read_session
from pharmos.core.errors import Conflict, PermissionDenied, SignatureRefused, TransitionRefused, ValidationFailed
from pharmos.site import service as site_settings
from pharmos.site.lifecycle import SETTING_LIFECYCLE
from pharmos.site.models import ControlledSetting
from tests.conftest import password_of

COLLECTION = "controlled-settings"


# ---------------------------------------------------------------- declaration


def test_lifecycle_with_an_undeclared_state_is_refused() -> None:
    # given
    transitions = (Transition("close", ("open",), "closed", "settings.edit", "Close", "关闭"),)
    # when / then
    with pytest.raises(ValueError, match="closed"):
        Lifecycle(record_type="demo", model=ControlledSetting, collection="demo", view_permission="settings.view",
                  initial="open", states={"open": "being worked on"}, transitions=transitions)


def test_lifecycle_with_an_undeclared_initial_state_is_refused() -> None:
    # given / when / then
    with pytest.raises(ValueError, match="initial"):
        Lifecycle(record_type="demo", model=ControlledSetting, collection="demo", view_permission="settings.view",
                  initial="new", states={"open": "being worked on"}, transitions=())


@pytest.mark.requirement("21 CFR 11.50(a)(3)")
def test_lifecycle_with_an_unknown_signature_meaning_is_refused() -> None:
    # given
    transitions = (Transition("close", ("open",), "closed", "settings.edit", "Close", "关闭", signature="blessed"),)
    # when / then
    with pytest.raises(ValueError, match="blessed"):
        Lifecycle(record_type="demo", model=ControlledSetting, collection="demo", view_permission="settings.view",
                  initial="open", states={"open": "being worked on", "closed": "done"}, transitions=transitions)


def test_lifecycle_with_duplicate_transition_names_is_refused() -> None:
    # given
    t = Transition("close", ("open",), "closed", "settings.edit", "Close", "关闭")
    # when / then
    with pytest.raises(ValueError, match="duplicate"):
        Lifecycle(record_type="demo", model=ControlledSetting, collection="demo", view_permission="settings.view",
                  initial="open", states={"open": "being worked on", "closed": "done"}, transitions=(t, t))


# ---------------------------------------------------------------- input validation


def _audit_count() -> int:
    with read_session() as session:
        return count_entries(session)


def _submitted(site: dict[str, Actor]) -> int:
    author = site["qa.zhang"]
    setting_id = site_settings.draft_setting(actor=author, key="deviation.due_days.minor", value="30").id
    apply_transition(actor=author, collection=COLLECTION, record_id=setting_id, name="submit",
                     password=password_of("qa.zhang"), meaning="authored")
    return setting_id


@pytest.mark.requirement("EU GMP Annex 11 §9")
def test_missing_reason_is_refused_naming_reason(site: dict[str, Actor]) -> None:
    # given
    setting_id = _submitted(site)
    before = _audit_count()
    # when
    with pytest.raises(ValidationFailed) as exc:
        apply_transition(actor=site["qa.li"], collection=COLLECTION, record_id=setting_id, name="return",
                         reason="   ")
    # then
    assert exc.value.status == 422
    assert [f.field for f in exc.value.fields] == ["reason"]
    assert _audit_count() == before
    assert site_settings.get_setting(actor=site["qa.li"], setting_id=setting_id).state == "in_review"


@pytest.mark.requirement("21 CFR 11.200(a)(1)")
def test_missing_password_is_refused_naming_password(site: dict[str, Actor]) -> None:
    # given
    setting_id = _submitted(site)
    before = _audit_count()
    # when
    with pytest.raises(ValidationFailed) as exc:
        apply_transition(actor=site["qa.li"], collection=COLLECTION, record_id=setting_id, name="approve",
                         meaning="approved")
    # then
    assert exc.value.status == 422
    assert [f.field for f in exc.value.fields] == ["password"]
    assert _audit_count() == before


@pytest.mark.requirement("21 CFR 11.50(a)(3)")
def test_wrong_meaning_is_refused_naming_meaning(site: dict[str, Actor]) -> None:
    # given
    setting_id = _submitted(site)
    before = _audit_count()
    # when
    with pytest.raises(ValidationFailed) as exc:
        apply_transition(actor=site["qa.li"], collection=COLLECTION, record_id=setting_id, name="approve",
                         password=password_of("qa.li"), meaning="reviewed")
    # then
    assert [f.field for f in exc.value.fields] == ["meaning"]
    assert _audit_count() == before
    assert site_settings.get_setting(actor=site["qa.li"], setting_id=setting_id).state == "in_review"


def test_validation_errors_reach_the_api_as_problem_fields(site: dict[str, Actor]) -> None:
    # given
    from pharmos.app import create_app

    client = TestClient(create_app())
    setting_id = _submitted(site)
    token = client.post("/api/v1/auth/token",
                        json={"username": "qa.li", "password": password_of("qa.li")}).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    base = f"/api/v1/controlled-settings/{setting_id}/transitions"
    # when
    no_reason = client.post(f"{base}/return", headers=headers, json={})
    no_password = client.post(f"{base}/approve", headers=headers, json={"meaning": "approved"})
    wrong_meaning = client.post(f"{base}/approve", headers=headers,
                                json={"password": password_of("qa.li"), "meaning": "reviewed"})
    # then
    for response, name in ((no_reason, "reason"), (no_password, "password"), (wrong_meaning, "meaning")):
        assert response.status_code == 422
        assert response.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in response.json()["errors"]] == [name]


def test_transition_without_its_permission_is_403_and_writes_nothing(site: dict[str, Actor]) -> None:
    # given
    from pharmos.app import create_app

    setting_id = _submitted(site)
    before = _audit_count()
    client = TestClient(create_app())
    token = client.post("/api/v1/auth/token", json={"username": "viewer.chen",
                                                    "password": password_of("viewer.chen")}).json()["access_token"]
    # when
    with pytest.raises(PermissionDenied):
        apply_transition(actor=site["qa.zhang"], collection=COLLECTION, record_id=setting_id, name="approve",
                         password=password_of("qa.zhang"), meaning="approved")
    response = client.post(f"/api/v1/controlled-settings/{setting_id}/transitions/return",
                           headers={"Authorization": f"Bearer {token}"}, json={"reason": "Looks wrong"})
    # then
    assert response.status_code == 403
    assert "settings.approve" in response.json()["detail"]
    assert site_settings.get_setting(actor=site["qa.li"], setting_id=setting_id).state == "in_review"
    with read_session() as session:
        written = session.scalars(select(AuditEntry.action).where(AuditEntry.id > before)).all()
    assert written == ["login"]  # the viewer's own sign-in, nothing from the refused transitions


def test_unknown_transition_is_not_found(site: dict[str, Actor]) -> None:
    # given
    setting_id = _submitted(site)
    # when / then
    from pharmos.core.errors import NotFound

    with pytest.raises(NotFound):
        apply_transition(actor=site["qa.li"], collection=COLLECTION, record_id=setting_id, name="publish")


def test_approving_a_new_version_supersedes_the_effective_one(site: dict[str, Actor]) -> None:
    # given
    author, approver = site["qa.zhang"], site["qa.li"]
    first = _submitted(site)
    apply_transition(actor=approver, collection=COLLECTION, record_id=first, name="approve",
                     password=password_of("qa.li"), meaning="approved")
    second = site_settings.draft_setting(actor=author, key="deviation.due_days.minor", value="45").id
    apply_transition(actor=author, collection=COLLECTION, record_id=second, name="submit",
                     password=password_of("qa.zhang"), meaning="authored")
    # when
    apply_transition(actor=approver, collection=COLLECTION, record_id=second, name="approve",
                     password=password_of("qa.li"), meaning="approved")
    # then
    assert site_settings.get_setting(actor=approver, setting_id=first).state == "superseded"
    assert site_settings.get_setting(actor=approver, setting_id=second).state == "effective"
    assert site_settings.effective_value(key="deviation.due_days.minor") == "45"


# ---------------------------------------------------------------- stateful model


AUTHOR, APPROVER = "qa.zhang", "qa.li"
# Mostly the expected person, sometimes the other one (who should be refused or separated).
AUTHORS = st.sampled_from((AUTHOR, AUTHOR, AUTHOR, APPROVER))
APPROVERS = st.sampled_from((APPROVER, APPROVER, APPROVER, AUTHOR))
MOSTLY_RIGHT = st.sampled_from((True, True, True, False))


@dataclass
class ModelRecord:
    key: str
    author: str
    state: str = "draft"
    authored_by: set[str] = field(default_factory=set)


class SettingLifecycleMachine(RuleBasedStateMachine):
    """Random draft/submit/return/approve/retire sequences by an author and an approver."""

    # One database and one pair of users for all examples (Argon2 makes accounts costly);
    # each example works on its own keys so examples cannot see each other's records.
    people: ClassVar[dict[str, Actor]]

    def __init__(self) -> None:
        super().__init__()
        suffix = uuid.uuid4().hex[:10]
        self.keys = (f"deviation.due_days.m{suffix}", f"capa.due_days.d{suffix}")
        self.records: dict[int, ModelRecord] = {}
        self.applied_signatures = 0
        # Each example starts from clean failure counters, so replays behave identically.
        for username in (AUTHOR, APPROVER):
            auth.unlock_user(actor=Actor.system("test-setup"), username=username, reason="Next example")
        self.failures = {AUTHOR: 0, APPROVER: 0}

    # -- model of the rules

    def expected_refusal(self, record: ModelRecord, name: str, username: str) -> bool:
        t = SETTING_LIFECYCLE.transition(name)
        if record.state not in t.source or not self.people[username].can(t.permission):
            return True
        if t.signature in ("approved", "released"):
            return username == record.author or username in record.authored_by
        return False

    # -- rules

    @rule(key_index=st.sampled_from((0, 1)), username=AUTHORS)
    def draft(self, key_index: int, username: str) -> None:
        key = self.keys[key_index]
        open_version = any(r.key == key and r.state in ("draft", "in_review") for r in self.records.values())
        before = _audit_count()
        try:
            view = site_settings.draft_setting(actor=self.people[username], key=key, value="30")
        except Conflict:
            assert open_version
            assert _audit_count() == before
            return
        assert not open_version
        self.records[view.id] = ModelRecord(key, username)

    # One rule per transition, so each is tried about as often as drafting.
    @precondition(lambda self: bool(self.records))
    @rule(data=st.data(), username=AUTHORS, right_password=MOSTLY_RIGHT)
    def submit(self, data: st.DataObject, username: str, right_password: bool) -> None:
        self.attempt(data, "submit", username, right_password)

    @precondition(lambda self: bool(self.records))
    @rule(data=st.data(), username=APPROVERS)
    def return_to_author(self, data: st.DataObject, username: str) -> None:
        self.attempt(data, "return", username, True)

    @precondition(lambda self: bool(self.records))
    @rule(data=st.data(), username=APPROVERS, right_password=MOSTLY_RIGHT)
    def approve(self, data: st.DataObject, username: str, right_password: bool) -> None:
        self.attempt(data, "approve", username, right_password)

    @precondition(lambda self: bool(self.records))
    @rule(data=st.data(), username=APPROVERS, right_password=MOSTLY_RIGHT)
    def retire(self, data: st.DataObject, username: str, right_password: bool) -> None:
        self.attempt(data, "retire", username, right_password)

    def attempt(self, data: st.DataObject, name: str, username: str, right_password: bool) -> None:
        t = SETTING_LIFECYCLE.transition(name)
        # Mostly aim at records the transition can apply to, sometimes at any record (to be refused).
        # Draw positions, not ids: ids grow across examples in the shared database.
        ready = sorted(i for i, r in self.records.items() if r.state in t.source)
        aimed = data.draw(st.sampled_from((True, True, True, False)))
        pool = ready if aimed and ready else sorted(self.records)
        record_id = pool[data.draw(st.integers(0, len(pool) - 1))]
        record = self.records[record_id]
        # Stay clear of the lockout threshold: lockout has its own tests.
        right_password = right_password or t.signature is None or self.failures[username] >= 3
        refused = self.expected_refusal(record, name, username)
        before = _audit_count()
        try:
            state = apply_transition(
                actor=self.people[username], collection=COLLECTION, record_id=record_id, name=name,
                password=password_of(username) if right_password else "wrong-password-1",
                meaning=t.signature, reason=f"Stateful test: {name}",
            )
        except PermissionDenied:
            assert not self.people[username].can(t.permission)
            assert _audit_count() == before
            return
        except TransitionRefused:
            event(f"refused {name}")
            assert refused, f"{username} was refused {name} on {record}"
            assert _audit_count() == before
            return
        except SignatureRefused:
            assert not right_password and not refused
            self.failures[username] += 1
            # Only the signer's account changed: the failure count and the failed-signature event.
            written = self._new_entries(before)
            assert {(rt, rid) for rt, rid, _ in written} == {("user", str(self.people[username].user_id))}
            assert "signature_failed" in [action for _, _, action in written]
            return
        assert not refused, f"{username} could {name} on {record}"
        event(f"applied {name}")
        assert right_password
        assert state == t.target
        if t.signature is not None:
            self.applied_signatures += 1
            self.failures[username] = 0
            if t.signature == "authored":
                record.authored_by.add(username)
        if name == "approve":
            for other in self.records.values():
                if other.key == record.key and other.state == "effective":
                    other.state = "superseded"
        record.state = t.target

    def _new_entries(self, after_id: int) -> list[tuple[str, str, str]]:
        with read_session() as session:
            rows = session.execute(select(AuditEntry.record_type, AuditEntry.record_id, AuditEntry.action)
                                   .where(AuditEntry.id > after_id).order_by(AuditEntry.id))
            return [(rt, rid, action) for rt, rid, action in rows]

    # -- invariants

    @invariant()
    def at_most_one_effective_version_per_key(self) -> None:
        with read_session() as session:
            counts = session.execute(select(ControlledSetting.key, func.count())
                                     .where(ControlledSetting.state == "effective",
                                            ControlledSetting.key.in_(self.keys))
                                     .group_by(ControlledSetting.key)).all()
        assert all(n <= 1 for _, n in counts), counts

    @invariant()
    def states_are_declared_and_match_the_model(self) -> None:
        with read_session() as session:
            stored = dict(session.execute(select(ControlledSetting.id, ControlledSetting.state)
                                          .where(ControlledSetting.key.in_(self.keys))).all())
        assert set(stored.values()) <= set(SETTING_LIFECYCLE.states)
        assert stored == {i: r.state for i, r in self.records.items()}

    @invariant()
    def every_signed_transition_left_one_valid_signature(self) -> None:
        with read_session() as session:
            ids = [str(i) for i in self.records]
            total = session.scalar(select(func.count()).select_from(ElectronicSignature)
                                   .where(ElectronicSignature.record_id.in_(ids)))
            valid = sum(v.valid for row in session.scalars(select(ControlledSetting)
                                                           .where(ControlledSetting.key.in_(self.keys)))
                        for v in signatures_for(session, row))
        assert total == valid == self.applied_signatures


@pytest.mark.requirement("21 CFR 11.10(f)")
def test_setting_lifecycle_state_machine(sqlite_url: str, system: Actor) -> None:
    # given
    auth.ensure_builtin_roles(actor=system)
    auth.create_user(actor=system, username=AUTHOR, full_name="张伟", password=password_of(AUTHOR),
                     roles=["qa_specialist"])
    auth.create_user(actor=system, username=APPROVER, full_name="李娜", password=password_of(APPROVER),
                     roles=["qa_manager"])

    class Machine(SettingLifecycleMachine):
        people: ClassVar[dict[str, Actor]] = {
            u: auth.login(username=u, password=password_of(u)).actor for u in (AUTHOR, APPROVER)}

    # when / then: every step is checked against the model and the invariants
    run_state_machine_as_test(Machine, settings=settings(
        max_examples=100, stateful_step_count=40, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
