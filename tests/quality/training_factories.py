"""Reach training states the way users do: through the training services and signed transitions.

Shared by the training tests; keep names and signatures stable and add helpers at the end.

People: requirements, skills and assignments by qa.zhang (training.manage); trainees are
operators (op.liu, and more created with ``operator()``); assessments recorded and verified by
qa.li (training.record), never by the trainee.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from pharmos.compliance.lifecycle import apply_transition
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today
from pharmos.quality import training
from pharmos.quality.training_views import SkillView, TrainingRecordView, TrainingRequirementView
from tests.conftest import password_of
from tests.materials.factories import person

__all__ = [
    "acknowledge",
    "assessed",
    "manager",
    "open_record",
    "operator",
    "require",
    "skill",
    "trainer",
    "transition",
]


def manager(site: dict[str, Actor]) -> Actor:
    """QA specialist: manages requirements, skills and assignments (training.manage)."""
    return site["qa.zhang"]


def trainer(site: dict[str, Actor]) -> Actor:
    """QA manager: records assessments and signs them verified (training.record)."""
    return site["qa.li"]


def operator(username: str = "op.zhao", full_name: str = "赵敏") -> Actor:
    """Another operator (training.acknowledge only), created on first use."""
    return person(username, "operator", full_name)


def transition(actor: Actor, record_id: int, name: str, *, reason: str | None = None) -> str:
    """Apply a training-record transition as ``actor``, signing with their password where needed."""
    return apply_transition(actor=actor, collection="training-records", record_id=record_id, name=name,
                            password=password_of(actor.username), reason=reason)


def require(site: dict[str, Actor], role: str = "operator", *, document_number: str | None = None,
            skill_code: str | None = None) -> TrainingRequirementView:
    return training.add_requirement(actor=manager(site), role=role, document_number=document_number,
                                    skill_code=skill_code)


def skill(site: dict[str, Actor], code: str = "GOWN-A", *, validity_months: int | None = 12,
          name_zh: str = "A级洁净区更衣") -> SkillView:
    return training.create_skill(actor=manager(site), code=code, name_zh=name_zh, name_en="Grade A gowning",
                                 validity_months=validity_months)


def open_record(actor: Actor, *, document_number: str | None = None,
                skill_code: str | None = None) -> TrainingRecordView:
    """``actor``'s one open (assigned) record on the document or skill."""
    mine = training.my_training(actor=actor).open
    found = [r for r in mine if (document_number and r.document_number == document_number)
             or (skill_code and r.skill_code == skill_code)]
    assert len(found) == 1, mine
    return found[0]


def acknowledge(actor: Actor, document_number: str) -> TrainingRecordView:
    """The trainee signs their open read-and-understood record on the document ("acknowledged")."""
    record = open_record(actor, document_number=document_number)
    transition(actor, record.id, "acknowledge")
    return training.get_training_record(actor=actor, record_id=record.id)


def assessed(site: dict[str, Actor], trainee: Actor, code: str, *, result: str = "pass",
             due_on: date | None = None, **fields: Any) -> TrainingRecordView:
    """An assessment on a skill assigned, its result recorded by qa.li and signed "verified" by her."""
    [record] = training.assign_training(actor=manager(site), usernames=[trainee.username], skill_code=code,
                                        kind="assessment", due_on=due_on or site_today() + timedelta(days=7))
    training.record_training_result(actor=trainer(site), record_id=record.id, result=result,
                                    trainer_notes=fields.get("notes", "Observed gowning; all steps correct."))
    transition(trainer(site), record.id, "complete")
    return training.get_training_record(actor=trainer(site), record_id=record.id)
