"""A service called inside another service's unit of work joins it (one commit, savepoint per call)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from pharmos.auth.models import Role
from pharmos.compliance.audit import AuditEntry, verify_chain
from pharmos.core.actor import Actor
from pharmos.core.db import read_session, transaction

OUTER = Actor.system("batch-execution")
INNER = Actor.system("stock-ledger")


def _role(session, name: str) -> None:
    session.add(Role(name=name, label_en=name, label_zh=name))


def _names() -> set[str]:
    with read_session() as session:
        return set(session.scalars(select(Role.name)))


def _audit_of(name: str) -> list[tuple[str, str | None]]:
    with read_session() as session:
        rows = session.execute(select(AuditEntry.actor, AuditEntry.reason, AuditEntry.changes)
                               .where(AuditEntry.record_type == "role")).all()
    return [(actor, reason) for actor, reason, changes in rows if name in changes]


def test_an_inner_unit_commits_with_the_outer_one_and_is_attributed_to_its_own_actor(db_url: str) -> None:
    # given / when
    with transaction(actor=OUTER, reason="step signed") as outer:
        _role(outer, "outer_role")
        with transaction(actor=INNER, reason="issued") as inner:
            # then the inner service works in the same session and sees the outer writes
            assert inner is outer
            _role(inner, "inner_role")
            with read_session() as reader:
                assert reader.scalar(select(Role.id).where(Role.name == "outer_role")) is not None
    assert {"outer_role", "inner_role"} <= _names()
    assert _audit_of("inner_role") == [("stock-ledger", "issued")]
    assert _audit_of("outer_role") == [("batch-execution", "step signed")]
    with read_session() as session:
        assert verify_chain(session).ok


def test_a_refused_inner_unit_undoes_only_its_own_writes_and_their_audit(db_url: str) -> None:
    # given
    with transaction(actor=OUTER, reason="step signed") as outer:
        _role(outer, "kept_role")
        # when the inner service refuses after writing
        with pytest.raises(ValueError), transaction(actor=INNER, reason="issued") as inner:
            _role(inner, "undone_role")
            inner.flush()
            raise ValueError("refused")
    # then
    names = _names()
    assert "kept_role" in names and "undone_role" not in names
    assert _audit_of("undone_role") == []
    assert len(_audit_of("kept_role")) == 1


def test_an_outer_failure_rolls_back_what_inner_units_did(db_url: str) -> None:
    # given / when
    with pytest.raises(RuntimeError), transaction(actor=OUTER):
        with transaction(actor=INNER, reason="issued") as inner:
            _role(inner, "never_role")
        raise RuntimeError("outer refused")
    # then
    assert "never_role" not in _names()
    assert _audit_of("never_role") == []
