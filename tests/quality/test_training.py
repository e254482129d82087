"""Training services: requirements, read-and-understood on effective versions, assessments, is_qualified, matrix.

States are reached through the services and signed transitions (tests/quality/training_factories.py,
tests/quality/document_factories.py). "Nothing written" is checked by counting training rows,
their audit entries and every electronic signature. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select

from pharmos.auth import service as auth
from pharmos.compliance.audit import AuditEntry
from pharmos.compliance.signatures import ElectronicSignature
from pharmos.core.actor import Actor
from pharmos.core.clock import add_months, site_today, utcnow
from pharmos.core.db import read_session, transaction
from pharmos.core.errors import Conflict, DomainError, PermissionDenied, TransitionRefused, ValidationFailed
from pharmos.quality import training
from pharmos.quality.models import DocumentVersion, Skill, TrainingRecord, TrainingRequirement
from tests.conftest import password_of
from tests.materials.factories import SETUP
from tests.quality.document_factories import draft_document, effective_document, new_version_effective
from tests.quality.document_factories import transition as document_transition
from tests.quality.training_factories import (
    acknowledge,
    assessed,
    manager,
    open_record,
    operator,
    require,
    skill,
    trainer,
    transition,
)

# Service rules: SQLite is enough; this module's API tests run on both back-ends.
pytestmark = pytest.mark.sqlite_only

TRAINING_TABLES = ("training_skill", "training_requirement", "training_record")


def written() -> dict[str, int]:
    """Training rows, their audit entries and every electronic signature."""
    with read_session() as session:
        return {
            "skills": session.scalar(select(func.count(Skill.id))) or 0,
            "requirements": session.scalar(select(func.count(TrainingRequirement.id))) or 0,
            "records": session.scalar(select(func.count(TrainingRecord.id))) or 0,
            "states": session.scalar(select(func.count(TrainingRecord.id)).where(
                TrainingRecord.state == "assigned")) or 0,
            "audit": session.scalar(select(func.count(AuditEntry.id)).where(
                AuditEntry.record_type.in_(TRAINING_TABLES))) or 0,
            "signatures": session.scalar(select(func.count(ElectronicSignature.id))) or 0,
        }


def fields_of(error: DomainError) -> set[str]:
    return {p.field for p in error.fields}


def sop(site: dict[str, Actor], number: str = "SOP-QA-0101") -> str:
    """An effective SOP required for operators (op.liu and op.zhao are assigned version 1)."""
    operator()
    effective_document(site, number=number)
    require(site, document_number=number)
    return number


# ---------------------------------------------------------------- read and understood


def test_a_required_document_is_assigned_to_every_operator_due_after_its_training_days(
        site: dict[str, Actor]) -> None:
    # given
    zhao = operator()
    effective_document(site, number="SOP-QA-0101")

    # when
    require(site, document_number="SOP-QA-0101")

    # then
    for person in (site["op.liu"], zhao):
        record = open_record(person, document_number="SOP-QA-0101")
        assert record.kind == "read_and_understood" and record.version == 1 and record.state == "assigned"
        assert record.due_on == site_today() + timedelta(days=14)
        assert record.subject.startswith("SOP-QA-0101 v1")
    assert training.list_training_records(actor=site["qa.li"], username="qa.li") == []


def test_a_new_effective_version_cancels_the_old_assignment_and_assigns_the_new_one(
        site: dict[str, Actor]) -> None:
    # given
    number = sop(site)
    old = open_record(site["op.liu"], document_number=number)

    # when
    new_version_effective(site, number)

    # then
    assert training.get_training_record(actor=site["op.liu"], record_id=old.id).state == "cancelled"
    new = open_record(site["op.liu"], document_number=number)
    assert new.version == 2 and new.id != old.id
    with read_session() as session:
        reasons = list(session.scalars(select(AuditEntry.changes).where(
            AuditEntry.record_type == "training_record", AuditEntry.record_id == str(old.id),
            AuditEntry.action == "cancelled")))
    assert any("superseded by v2" in r for r in reasons)


def test_assigning_a_version_again_is_idempotent(site: dict[str, Actor]) -> None:
    # given
    sop(site)
    before = written()

    # when
    with read_session() as session:
        version_id = session.scalar(select(DocumentVersion.id).where(DocumentVersion.state == "effective"))
    with transaction(actor=SETUP, reason="again") as session:
        version = session.get(DocumentVersion, version_id)
        created = training.assign_read_and_understood(session, version=version, actor=SETUP)
    synced = training.sync_training(actor=SETUP)

    # then
    assert created == 0 and synced.assigned == ()
    assert written() == before


def test_the_trainee_signs_read_and_understood_and_is_then_qualified(site: dict[str, Actor]) -> None:
    # given
    number = sop(site)
    liu = site["op.liu"]
    assert not training.is_qualified(username="op.liu", document_number=number).qualified

    # when
    record = acknowledge(liu, number)

    # then
    assert record.state == "completed" and record.completed_at is not None
    assert [s.meaning for s in record.signatures] == ["acknowledged"]
    assert training.is_qualified(username="op.liu", document_number=number) == training.Qualification(True, ())
    reasons = training.is_qualified(username="op.zhao", document_number=number).reasons
    assert reasons == (f"not trained on {number} v1 (assigned, due {(site_today() + timedelta(days=14))})",)


def test_someone_else_cannot_acknowledge_a_trainees_record_and_nothing_is_written(
        site: dict[str, Actor]) -> None:
    # given
    number = sop(site)
    record = open_record(site["op.liu"], document_number=number)
    before = written()

    # when
    with pytest.raises(TransitionRefused) as refused:
        transition(operator(), record.id, "acknowledge")

    # then
    assert "Only the trainee" in refused.value.message
    assert written() == before


def test_is_qualified_answers_for_the_version_in_force_at_a_past_instant(site: dict[str, Actor]) -> None:
    # given: trained on v1, then v2 becomes effective
    number = sop(site)
    acknowledge(site["op.liu"], number)
    while_v1 = utcnow()
    new_version_effective(site, number)

    # when
    then = training.is_qualified(username="op.liu", document_number=number, at=while_v1)
    now = training.is_qualified(username="op.liu", document_number=number)
    before_any = training.is_qualified(username="op.liu", document_number=number,
                                       at=while_v1 - timedelta(days=30))

    # then
    assert then.qualified
    assert not now.qualified and now.reasons[0].startswith(f"not trained on {number} v2 (assigned")
    assert not before_any.qualified and before_any.reasons[0].startswith(f"no effective version of {number} at")


def test_is_qualified_names_unknown_people_documents_and_skills(site: dict[str, Actor]) -> None:
    assert training.is_qualified(username="nobody", document_number="SOP-QA-0001").reasons == (
        "unknown user 'nobody'",)
    assert training.is_qualified(username="op.liu", document_number="SOP-QA-9999").reasons == (
        "unknown document SOP-QA-9999",)
    assert training.is_qualified(username="op.liu", skill_code="NOPE").reasons == ("unknown skill NOPE",)
    assert not training.is_qualified(username="op.liu").qualified


def test_an_obsolete_document_cancels_open_training(site: dict[str, Actor]) -> None:
    # given
    number = sop(site)
    record = open_record(site["op.liu"], document_number=number)
    with read_session() as session:
        version_id = session.scalar(select(DocumentVersion.id).where(DocumentVersion.state == "effective"))

    # when
    document_transition(site["qa.li"], version_id, "make_obsolete", reason="Process discontinued")

    # then
    assert training.get_training_record(actor=site["qa.zhang"], record_id=record.id).state == "cancelled"
    assert training.my_training(actor=site["op.liu"]).open == ()


# ---------------------------------------------------------------- skills and assessments


def test_a_passed_assessment_qualifies_until_the_skill_validity_ends(site: dict[str, Actor]) -> None:
    # given
    skill(site, "GOWN-A", validity_months=12)

    # when
    record = assessed(site, site["op.liu"], "GOWN-A")

    # then
    expires = add_months(site_today(), 12)
    assert record.state == "completed" and record.result == "pass" and record.trainer == "qa.li"
    assert record.valid_until == expires
    assert [s.meaning for s in record.signatures] == ["verified"]
    assert training.is_qualified(username="op.liu", skill_code="GOWN-A").qualified
    later = training.is_qualified(username="op.liu", skill_code="gown-a", at=utcnow() + timedelta(days=400))
    assert later.reasons == (f"skill GOWN-A expired on {expires.isoformat()}",)


def test_a_failed_assessment_does_not_qualify(site: dict[str, Actor]) -> None:
    skill(site, "FORK", validity_months=None)
    assessed(site, site["op.liu"], "FORK", result="fail")
    assert not training.is_qualified(username="op.liu", skill_code="FORK").qualified


def test_completing_without_a_result_is_refused_and_nothing_is_written(site: dict[str, Actor]) -> None:
    # given
    skill(site)
    [record] = training.assign_training(actor=manager(site), usernames=["op.liu"], skill_code="GOWN-A",
                                        kind="assessment", due_on=site_today())
    before = written()

    # when
    with pytest.raises(TransitionRefused) as refused:
        transition(trainer(site), record.id, "complete")

    # then
    assert "Record the result" in refused.value.message
    assert written() == before


def test_a_trainer_cannot_record_their_own_training_and_nothing_is_written(site: dict[str, Actor]) -> None:
    # given
    skill(site)
    [record] = training.assign_training(actor=manager(site), usernames=["qa.li"], skill_code="GOWN-A",
                                        kind="assessment", due_on=site_today())
    before = written()

    # when
    with pytest.raises(Conflict) as refused:
        training.record_training_result(actor=site["qa.li"], record_id=record.id, result="pass", trainer_notes="")

    # then
    assert fields_of(refused.value) == {"trainer"}
    assert written() == before


def test_read_and_understood_has_no_trainer_result(site: dict[str, Actor]) -> None:
    number = sop(site)
    record = open_record(site["op.liu"], document_number=number)
    before = written()
    with pytest.raises(Conflict) as refused:
        training.record_training_result(actor=site["qa.li"], record_id=record.id, result="pass", trainer_notes="")
    assert fields_of(refused.value) == {"kind"}
    assert written() == before


@pytest.mark.parametrize(("fields", "field"), [
    ({"code": "g", "name_zh": "更衣"}, "code"),
    ({"code": "GOWN-B", "name_zh": ""}, "name_zh"),
    ({"code": "GOWN-B", "name_zh": "更衣", "validity_months": 0}, "validity_months"),
])
def test_bad_skills_are_refused(site: dict[str, Actor], fields: dict[str, Any], field: str) -> None:
    before = written()
    with pytest.raises(ValidationFailed) as refused:
        training.create_skill(actor=manager(site), **fields)
    assert field in fields_of(refused.value)
    assert written() == before


def test_a_duplicate_skill_code_is_refused(site: dict[str, Actor]) -> None:
    skill(site, "GOWN-A")
    before = written()
    with pytest.raises(ValidationFailed) as refused:
        skill(site, "gown-a")
    assert fields_of(refused.value) == {"code"}
    assert written() == before


# ---------------------------------------------------------------- requirements


@pytest.mark.parametrize(("fields", "field"), [
    ({"role": "operator", "document_number": "SOP-QA-0101", "skill_code": "GOWN-A"}, "document_number"),
    ({"role": "operator"}, "document_number"),
    ({"role": "astronaut", "document_number": "SOP-QA-0101"}, "role"),
    ({"role": "operator", "document_number": "SOP-QA-9999"}, "document_number"),
    ({"role": "operator", "skill_code": "NOPE"}, "skill_code"),
])
def test_bad_requirements_are_refused_and_nothing_is_written(site: dict[str, Actor], fields: dict[str, Any],
                                                             field: str) -> None:
    # given
    effective_document(site, number="SOP-QA-0101")
    skill(site, "GOWN-A")
    before = written()

    # when
    with pytest.raises(ValidationFailed) as refused:
        training.add_requirement(actor=manager(site), **fields)

    # then
    assert field in fields_of(refused.value)
    assert written() == before


def test_a_duplicate_requirement_is_refused_and_nothing_is_written(site: dict[str, Actor]) -> None:
    number = sop(site)
    before = written()
    with pytest.raises(ValidationFailed) as refused:
        require(site, document_number=number)
    assert fields_of(refused.value) == {"document_number"}
    assert written() == before


def test_removing_a_requirement_cancels_open_training_nobody_else_requires(site: dict[str, Actor]) -> None:
    # given: operators and QA specialists must read the SOP
    number = sop(site)
    requirement = next(r for r in training.list_requirements(actor=site["qa.li"]) if r.role == "operator")
    require(site, "qa_specialist", document_number=number)
    zhang_record = open_record(site["qa.zhang"], document_number=number)
    liu_record = open_record(site["op.liu"], document_number=number)

    # when
    removed = training.remove_requirement(actor=manager(site), requirement_id=requirement.id,
                                          reason="Operators no longer do this task")

    # then
    assert not removed.active
    assert training.get_training_record(actor=site["qa.li"], record_id=liu_record.id).state == "cancelled"
    assert training.get_training_record(actor=site["qa.li"], record_id=zhang_record.id).state == "assigned"


def test_removing_a_requirement_needs_a_reason(site: dict[str, Actor]) -> None:
    sop(site)
    [requirement] = training.list_requirements(actor=site["qa.li"])
    before = written()
    with pytest.raises(ValidationFailed) as refused:
        training.remove_requirement(actor=manager(site), requirement_id=requirement.id, reason=" ")
    assert fields_of(refused.value) == {"reason"}
    assert written() == before


def test_sync_assigns_people_who_joined_a_role_since(site: dict[str, Actor]) -> None:
    # given
    number = sop(site)
    newcomer = operator("op.sun", "孙丽")

    # when
    first = training.sync_training(actor=Actor.system("job:training-sync"))
    again = training.sync_training(actor=Actor.system("job:training-sync"))

    # then
    assert first.assigned == (f"op.sun: {open_record(newcomer, document_number=number).subject}",)
    assert again.assigned == ()


# ---------------------------------------------------------------- ad-hoc assignment


def test_assignment_to_a_document_without_an_effective_version_is_refused(site: dict[str, Actor]) -> None:
    draft = draft_document(site, number="SOP-QA-0102")
    before = written()
    with pytest.raises(ValidationFailed) as refused:
        training.assign_training(actor=manager(site), usernames=["op.liu"], document_number=draft.number,
                                 due_on=site_today())
    assert fields_of(refused.value) == {"document_number"}
    assert written() == before


@pytest.mark.parametrize(("fields", "field"), [
    ({"due_on": "past"}, "due_on"),
    ({"usernames": ["ghost"]}, "usernames[0]"),
    ({"usernames": ["op.liu", "OP.LIU"]}, "usernames[1]"),
    ({"usernames": []}, "usernames"),
    ({"kind": "lecture"}, "kind"),
])
def test_bad_assignments_are_refused_and_nothing_is_written(site: dict[str, Actor], fields: dict[str, Any],
                                                            field: str) -> None:
    # given
    effective_document(site, number="SOP-QA-0101")
    values: dict[str, Any] = {"usernames": ["op.liu"], "document_number": "SOP-QA-0101", "due_on": site_today()}
    values.update(fields)
    if values["due_on"] == "past":
        values["due_on"] = site_today() - timedelta(days=1)
    before = written()

    # when
    with pytest.raises(ValidationFailed) as refused:
        training.assign_training(actor=manager(site), **values)

    # then
    assert field in fields_of(refused.value)
    assert written() == before


def test_an_open_assignment_is_not_assigned_twice(site: dict[str, Actor]) -> None:
    number = sop(site)
    before = written()
    with pytest.raises(ValidationFailed) as refused:
        training.assign_training(actor=manager(site), usernames=["op.liu"], document_number=number,
                                 due_on=site_today())
    assert fields_of(refused.value) == {"usernames[0]"}
    assert written() == before


# ---------------------------------------------------------------- lists, visibility, matrix


def test_people_without_training_rights_see_their_own_records_only(site: dict[str, Actor]) -> None:
    # given
    number = sop(site)
    zhao_record = open_record(operator(), document_number=number)

    # when / then
    mine = training.list_training_records(actor=site["op.liu"])
    assert {r.username for r in mine} == {"op.liu"}
    with pytest.raises(PermissionDenied):
        training.list_training_records(actor=site["op.liu"], username="op.zhao")
    with pytest.raises(PermissionDenied):
        training.get_training_record(actor=site["op.liu"], record_id=zhao_record.id)
    everyone = training.list_training_records(actor=site["qa.zhang"], document_number=number)
    assert {r.username for r in everyone} == {"op.liu", "op.zhao"}


def test_the_list_filters_overdue_and_pages_by_id(site: dict[str, Actor]) -> None:
    number = sop(site)
    rows = training.list_training_records(actor=site["qa.li"], state="assigned", limit=1)
    assert len(rows) == 1
    rest = training.list_training_records(actor=site["qa.li"], state="assigned", after_id=rows[0].id)
    assert [r.username for r in rows + rest] == ["op.liu", "op.zhao"]
    assert training.list_training_records(actor=site["qa.li"], overdue=True) == []
    assert len(training.list_training_records(actor=site["qa.li"], overdue=False, document_number=number)) == 2
    with pytest.raises(ValidationFailed) as refused:
        training.list_training_records(actor=site["qa.li"], state="done")
    assert fields_of(refused.value) == {"state"}


def test_the_matrix_shows_each_status_in_a_fixed_number_of_queries(site: dict[str, Actor]) -> None:
    # given: op.liu read the SOP and passed gowning; op.zhao has the SOP open and never did gowning
    number = sop(site)
    skill(site, "GOWN-A")
    require(site, skill_code="GOWN-A")
    acknowledge(site["op.liu"], number)
    assessed(site, site["op.liu"], "GOWN-A")
    statements: list[str] = []

    def count(*_args: Any) -> None:
        statements.append("q")

    # when
    event.listen(Engine, "before_cursor_execute", count)
    try:
        matrix = training.qualification_matrix(actor=site["viewer.chen"], role="operator")
    finally:
        event.remove(Engine, "before_cursor_execute", count)

    # then
    assert [c.key for c in matrix.columns] == [f"document:{number}", "skill:GOWN-A"]
    cells = {r.username: [c.status for c in r.cells] for r in matrix.rows}
    assert cells == {"op.liu": ["qualified", "qualified"], "op.zhao": ["assigned", "missing"]}
    few = len(statements)
    for name in ("op.a1", "op.a2", "op.a3"):
        operator(name)
    statements.clear()
    event.listen(Engine, "before_cursor_execute", count)
    try:
        bigger = training.qualification_matrix(actor=site["viewer.chen"], role="operator")
    finally:
        event.remove(Engine, "before_cursor_execute", count)
    assert len(bigger.rows) == 5 and len(statements) == few


def test_the_matrix_exports_as_csv_and_xlsx(site: dict[str, Actor]) -> None:
    number = sop(site)
    content, media_type, filename = training.export_qualification_matrix(actor=site["qa.li"], fmt="csv")
    text = content.decode("utf-8-sig")
    assert media_type.startswith("text/csv") and filename.startswith("training-matrix-")
    assert f"{number} v1" in text and "op.zhao" in text and "assigned (due" in text
    content, media_type, _ = training.export_qualification_matrix(actor=site["qa.li"], fmt="xlsx")
    assert content[:2] == b"PK"


def test_a_training_record_prints_with_its_signature(site: dict[str, Actor]) -> None:
    number = sop(site)
    record = acknowledge(site["op.liu"], number)
    content, media_type, filename = training.print_training_record(actor=site["op.liu"], record_id=record.id)
    assert content.startswith(b"%PDF") and media_type == "application/pdf" and filename == f"TR-{record.id:06d}.pdf"


def test_role_members_come_from_auth(site: dict[str, Actor]) -> None:
    # A role change is seen by the next sync: a QA specialist given the operator role gets the SOP too.
    number = sop(site)
    auth.grant_role(actor=SETUP, username="qa.zhang", role="operator", reason="Covers a shift")
    result = training.sync_training(actor=SETUP)
    assert [line.split(":")[0] for line in result.assigned] == ["qa.zhang"]
    assert password_of("qa.zhang") and open_record(site["qa.zhang"], document_number=number).version == 1
