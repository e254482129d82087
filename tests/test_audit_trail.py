"""The audit trail at database level: complete, attributable, append-only, tamper-evident.

21 CFR 11.10(e) and EU GMP Annex 11 §9 on both SQLite and PostgreSQL. Tampering tests act
as an attacker with direct database access: they drop the append-only triggers first and
then show that the hash chain still gives the edit away.
"""

from __future__ import annotations

import contextvars
import itertools
import threading
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from pharmos.auth import service as auth
from pharmos.compliance.audit import REDACTED, AuditEntry
from pharmos.compliance.service import AuditQuery, search_audit, verify_audit_trail
from pharmos.core.actor import Actor
from pharmos.core.context import set_request_id
from pharmos.core.db import get_database, read_session
from pharmos.core.errors import ValidationFailed
from pharmos.site import service as site_settings

_keys = itertools.count(1)


def _entries(actor: Actor, record_type: str, record_id: str | int) -> list[Any]:
    return search_audit(actor=actor, query=AuditQuery(record_type=record_type, record_id=str(record_id)))


def _entry_count() -> int:
    with read_session() as session:
        return len(session.scalars(select(AuditEntry.id)).all())


def _is_postgres() -> bool:
    return not get_database().is_sqlite


def _execute_raw(sql: str, params: dict[str, Any] | None = None) -> None:
    with get_database().write_engine.begin() as conn:
        conn.execute(text(sql), params or {})


def _drop_append_only_guard() -> None:
    """What an attacker with the database password would do first."""
    if _is_postgres():
        _execute_raw("DROP TRIGGER audit_entry_append_only ON audit_entry")
    else:
        _execute_raw("DROP TRIGGER audit_entry_no_update")
        _execute_raw("DROP TRIGGER audit_entry_no_delete")


def _drafted_and_revised(author: Actor, revisions: int = 3) -> tuple[int, list[int]]:
    """A controlled setting with some revisions; returns its id and its audit entry ids."""
    view = site_settings.draft_setting(actor=author, key=f"deviation.due_days.k{next(_keys)}", value="30")
    for n in range(revisions):
        site_settings.revise_draft(actor=author, setting_id=view.id, value=str(31 + n), description="",
                                   reason=f"Revision {n + 1} per CC-2026-0001")
    return view.id, [e.id for e in _entries(author, "controlled_setting", view.id)]


# --- what is recorded --------------------------------------------------------------------------


@pytest.mark.requirement("21 CFR 11.10(e)")
@pytest.mark.requirement("EU GMP Annex 11 §9")
def test_create_and_update_record_who_what_why_and_request(site: dict[str, Actor]) -> None:
    # given a QA specialist working under one HTTP request id
    author = site["qa.zhang"]

    def work() -> int:
        set_request_id("req-cc-0042")
        view = site_settings.draft_setting(actor=author, key="deviation.due_days.minor", value="30")
        site_settings.revise_draft(actor=author, setting_id=view.id, value="21", description="Shorter",
                                   reason="CAPA-2026-0007 shortens the due date")
        return view.id

    # when the setting is drafted and then revised
    setting_id = contextvars.copy_context().run(work)

    # then the trail holds a create and an update, attributed and with the reason given
    created, updated = _entries(author, "controlled_setting", setting_id)
    assert (created.action, updated.action) == ("create", "update")
    assert created.changes["value"] == [None, "30"]
    assert created.changes["key"] == [None, "deviation.due_days.minor"]
    assert updated.changes == {"value": ["30", "21"], "description": ["", "Shorter"]}
    assert updated.reason == "CAPA-2026-0007 shortens the due date"
    assert created.reason == "Controlled setting drafted"
    for entry in (created, updated):
        assert (entry.actor, entry.actor_id) == ("qa.zhang", author.user_id)
        assert entry.request_id == "req-cc-0042"
    assert created.at <= updated.at


@pytest.mark.requirement("21 CFR 11.10(e)")
def test_delete_records_the_old_values(site: dict[str, Actor]) -> None:
    # given the viewer role held by viewer.chen
    admin = site["admin.wang"]
    link_entries_before = search_audit(actor=admin, query=AuditQuery(record_type="user_role", action="delete"))

    # when the administrator revokes it
    auth.revoke_role(actor=admin, username="viewer.chen", role="viewer", reason="Moved to another site")

    # then the deletion is in the trail with what was deleted, by whom and why
    deleted = search_audit(actor=admin, query=AuditQuery(record_type="user_role", action="delete"))
    assert len(deleted) == len(link_entries_before) + 1
    entry = deleted[-1]
    assert entry.changes["user_id"] == [site["viewer.chen"].user_id, None]
    assert entry.changes["granted_by"] == ["test-setup", None]
    assert (entry.actor, entry.reason) == ("admin.wang", "Moved to another site")


@pytest.mark.requirement("21 CFR 11.10(e)")
def test_rolled_back_service_call_leaves_no_audit_entry(site: dict[str, Actor]) -> None:
    # given the trail as it stands
    admin = site["admin.wang"]
    before = _entry_count()

    # when creating a user fails after the user row was already flushed (unknown role)
    with pytest.raises(ValidationFailed) as refused:
        auth.create_user(actor=admin, username="qc.zhao", full_name="赵敏", password="qc.zhao-pass1",
                         roles=["no_such_role"])

    # then the refusal names the field and neither the user nor its audit entry exists
    assert [p.field for p in refused.value.fields] == ["roles"]
    assert _entry_count() == before
    assert _entries(admin, "user", "qc.zhao") == []
    assert "qc.zhao" not in {u.username for u in auth.list_users(actor=admin)}
    assert verify_audit_trail(actor=admin).ok


@pytest.mark.requirement("21 CFR 11.300")
def test_secret_fields_are_redacted(site: dict[str, Actor]) -> None:
    # given an administrator
    admin = site["admin.wang"]

    # when a user is created and then has its password reset
    created = auth.create_user(actor=admin, username="qc.zhao", full_name="赵敏", password="qc.zhao-pass1",
                               roles=["viewer"])
    auth.reset_password(actor=admin, username="qc.zhao", reason="Forgotten password, ticket 881")

    # then the trail records that the password changed but never a hash of it
    create, reset = _entries(admin, "user", created.id)
    assert create.changes["password_hash"] == [None, REDACTED]
    assert reset.changes["password_hash"] == [REDACTED, REDACTED]
    assert reset.changes["must_change_password"] == [False, True]
    with read_session() as session:
        raw = session.scalars(select(AuditEntry.changes)).all()
    assert not [c for c in raw if "$argon2" in c]


# --- append-only --------------------------------------------------------------------------------


@pytest.mark.requirement("21 CFR 11.10(e)")
@pytest.mark.parametrize("statement", [
    "UPDATE audit_entry SET reason = 'tidied up' WHERE id = 1",
    "DELETE FROM audit_entry WHERE id = 1",
])
def test_database_refuses_changes_to_audit_entries(site: dict[str, Actor], statement: str) -> None:
    # given a trail with entries
    admin = site["admin.wang"]
    assert _entry_count() > 1

    # when someone edits or deletes an entry straight in the database
    with pytest.raises(DBAPIError, match="append-only"):
        _execute_raw(statement)

    # then the entry is untouched and the chain intact
    assert _entries(admin, "role", "1")[0].reason == "Built-in roles provisioned"
    assert verify_audit_trail(actor=admin).ok


@pytest.mark.requirement("21 CFR 11.10(e)")
@pytest.mark.requirement("21 CFR 11.70")
@pytest.mark.parametrize("statement", [
    "UPDATE electronic_signature SET meaning = 'approved'",
    "DELETE FROM electronic_signature",
])
def test_database_refuses_changes_to_signatures(db_url: str, statement: str) -> None:
    # given a stored signature
    _execute_raw(
        "INSERT INTO electronic_signature (record_type, record_id, signer_id, signer_username, printed_name, "
        "meaning, signed_at, reason, content_hash, binding) VALUES ('controlled_setting', '1', 2, 'qa.li', "
        "'李娜', 'reviewed', :at, NULL, :h, :h)",
        {"at": "2026-03-11 08:00:00+00:00" if _is_postgres() else "2026-03-11 08:00:00.000000", "h": "a" * 64},
    )

    # when someone edits or deletes it straight in the database
    with pytest.raises(DBAPIError, match="append-only"):
        _execute_raw(statement)

    # then it is still there, unchanged
    with get_database().write_engine.connect() as conn:
        assert conn.execute(text("SELECT meaning FROM electronic_signature")).scalars().all() == ["reviewed"]


@pytest.mark.requirement("21 CFR 11.10(e)")
def test_postgres_refuses_truncating_the_trail(site: dict[str, Actor]) -> None:
    if not _is_postgres():
        pytest.skip("TRUNCATE fires no row triggers on SQLite (it is DELETE there, refused above)")
    # given a trail with entries
    before = _entry_count()

    # when someone truncates it
    with pytest.raises(DBAPIError, match="append-only"):
        _execute_raw("TRUNCATE audit_entry")

    # then every entry is still there
    assert _entry_count() == before > 0


# --- tamper evidence ----------------------------------------------------------------------------


@pytest.mark.requirement("21 CFR 11.10(e)")
def test_edited_entry_is_named_by_verification(site: dict[str, Actor]) -> None:
    # given a setting with revisions, and the append-only guard removed by an attacker
    admin = site["admin.wang"]
    _, ids = _drafted_and_revised(site["qa.zhang"])
    target = ids[2]
    _drop_append_only_guard()

    # when the attacker rewrites what one revision changed
    _execute_raw("UPDATE audit_entry SET changes = :c WHERE id = :id",
                 {"c": orjson.dumps({"value": ["31", "45"]}).decode(), "id": target})

    # then verification fails at exactly that entry
    result = verify_audit_trail(actor=admin)
    assert result.ok is False
    assert result.first_broken_id == target
    assert str(target) in (result.problem or "")


@pytest.mark.requirement("21 CFR 11.10(e)")
def test_edited_entry_with_recomputed_hash_breaks_the_next_link(site: dict[str, Actor]) -> None:
    # given a setting with revisions, and the append-only guard removed by an attacker
    admin = site["admin.wang"]
    _, ids = _drafted_and_revised(site["qa.zhang"])
    target = ids[1]
    _drop_append_only_guard()

    # when the attacker edits an entry's reason and also recomputes that entry's own hash
    from pharmos.compliance.audit import entry_hash
    with get_database().write_engine.begin() as conn:
        row = conn.execute(select(AuditEntry.__table__).where(AuditEntry.id == target)).mappings().one()
        forged = dict(row, reason="Typo corrected")
        forged_hash = entry_hash(**{k: v for k, v in forged.items() if k != "hash"})
        conn.execute(text("UPDATE audit_entry SET reason = :r, hash = :h WHERE id = :id"),
                     {"r": "Typo corrected", "h": forged_hash, "id": target})

    # then the forged entry verifies on its own but the following entry no longer links to it
    result = verify_audit_trail(actor=admin)
    assert result.ok is False
    assert result.first_broken_id == target + 1


@pytest.mark.requirement("21 CFR 11.10(e)")
def test_deleted_entry_is_named_by_verification(site: dict[str, Actor]) -> None:
    # given a setting with revisions, and the append-only guard removed by an attacker
    admin = site["admin.wang"]
    _, ids = _drafted_and_revised(site["qa.zhang"])
    target = ids[1]
    _drop_append_only_guard()

    # when the attacker deletes one entry
    _execute_raw("DELETE FROM audit_entry WHERE id = :id", {"id": target})

    # then verification reports that entry as missing
    result = verify_audit_trail(actor=admin)
    assert result.ok is False
    assert result.first_broken_id == target
    assert "missing" in (result.problem or "")


@pytest.mark.requirement("21 CFR 11.10(e)")
def test_reordered_entries_are_named_by_verification(site: dict[str, Actor]) -> None:
    # given a setting with revisions, and the append-only guard removed by an attacker
    admin = site["admin.wang"]
    _, ids = _drafted_and_revised(site["qa.zhang"])
    first, second = ids[1], ids[2]
    _drop_append_only_guard()

    # when the attacker swaps two consecutive entries (ids exchanged, contents kept)
    with get_database().write_engine.begin() as conn:
        conn.execute(text("UPDATE audit_entry SET id = -1 WHERE id = :a"), {"a": first})
        conn.execute(text("UPDATE audit_entry SET id = :a WHERE id = :b"), {"a": first, "b": second})
        conn.execute(text("UPDATE audit_entry SET id = :b WHERE id = -1"), {"b": second})

    # then verification fails at the first of the two
    result = verify_audit_trail(actor=admin)
    assert result.ok is False
    assert result.first_broken_id == first


def test_verification_of_an_untouched_trail_is_ok(site: dict[str, Actor]) -> None:
    # given a trail written only through the services
    admin = site["admin.wang"]
    _drafted_and_revised(site["qa.zhang"])

    # when it is verified
    result = verify_audit_trail(actor=admin)

    # then every entry checks out
    assert result.ok is True
    assert result.checked == _entry_count() > 0
    assert result.first_broken_id is None


# --- properties and concurrency -----------------------------------------------------------------

_values = st.text(alphabet="0123456789abcdef天数", min_size=1, max_size=12)


@pytest.mark.requirement("21 CFR 11.10(e)")
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(_values, min_size=1, max_size=6))
def test_any_sequence_of_updates_leaves_an_intact_chain(site: dict[str, Actor], values: list[str]) -> None:
    # given a draft setting
    author = site["qa.zhang"]
    view = site_settings.draft_setting(actor=author, key=f"review.period.k{next(_keys)}", value="initial")

    # when it is revised through any sequence of values
    for value in values:
        site_settings.revise_draft(actor=author, setting_id=view.id, value=value, description="",
                                   reason="Hypothesis revision")

    # then each real change is one update entry, old → new, and the chain is intact
    updates = [e for e in _entries(author, "controlled_setting", view.id) if e.action == "update"]
    previous = ["initial", *values]
    expected = [[old, new] for old, new in itertools.pairwise(previous) if old != new]
    assert [u.changes["value"] for u in updates] == expected
    result = verify_audit_trail(actor=author)
    assert result.ok, result.problem
    assert result.checked == _entry_count()


@pytest.mark.requirement("21 CFR 11.10(e)")
def test_concurrent_writers_leave_one_contiguous_chain(site: dict[str, Actor]) -> None:
    if not _is_postgres():
        pytest.skip("SQLite serialises writers with BEGIN IMMEDIATE; the race exists on PostgreSQL")
    # given eight QA specialists' sessions drafting settings at the same time
    author = site["qa.zhang"]
    before = _entry_count()
    threads, per_thread = 8, 6
    start = threading.Barrier(threads)
    failures: list[BaseException] = []

    def drafter(n: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                site_settings.draft_setting(actor=author, key=f"concurrency.t{n}.s{i}", value=str(i))
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    # when they all write
    workers = [threading.Thread(target=drafter, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()

    # then there is one chain, intact, with contiguous ids and one entry per draft
    assert failures == []
    with read_session() as session:
        ids = session.scalars(select(AuditEntry.id).order_by(AuditEntry.id)).all()
    assert ids == list(range(1, len(ids) + 1))
    assert len(ids) == before + threads * per_thread
    result = verify_audit_trail(actor=author)
    assert result.ok, result.problem
    assert result.checked == len(ids)


@pytest.mark.requirement("21 CFR 11.10(e)")
def test_a_unit_of_work_that_flushes_many_times_is_chained_once_and_a_rollback_leaves_nothing(
        site: dict[str, Actor]) -> None:
    # given: one unit of work flushing twice, and one refused after flushing
    from pharmos.core.db import transaction
    from pharmos.site.models import ControlledSetting

    qa = site["qa.zhang"]
    before = _entry_count()
    with transaction(actor=qa, reason="two flushes") as session:
        row = ControlledSetting(number="CS-T-1", key="flush.twice", version=1, value="1", state="draft",
                                author_id=qa.user_id, author=qa.username)
        session.add(row)
        session.flush()
        row.value = "2"
        session.flush()
    with pytest.raises(RuntimeError), transaction(actor=qa, reason="refused") as session:
        session.add(ControlledSetting(number="CS-T-2", key="flush.refused", version=1, value="1", state="draft",
                                      author_id=qa.user_id, author=qa.username))
        session.flush()
        raise RuntimeError("refused after the flush")

    # when
    entries = _entries(qa, "controlled_setting", row.id)
    result = verify_audit_trail(actor=site["admin.wang"])

    # then: both flushes are in the trail, in order, stamped with the commit's one time; nothing of the rollback
    assert [e.action for e in entries] == ["create", "update"]
    assert entries[1].changes["value"] == ["1", "2"] and entries[0].at == entries[1].at
    assert _entry_count() == before + 2
    assert result.ok
