"""API routes of training (see docs/quality/service-api.md, section training.py).

Acknowledging, completing and cancelling a record go through the generic route
``POST /api/v1/training-records/{record_id}/transitions/{acknowledge|complete|cancel}`` of
pharmos.compliance.routes; the routes here parse input, resolve the caller through the route's
policy and call one training service, which checks the same permission again and owns every
rule (including who may see whose records). Literal paths come before ``/{record_id}``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query
from fastapi.responses import Response

from pharmos.api.pagination import Page, PageParams
from pharmos.api.policy import requires
from pharmos.core.actor import Actor
from pharmos.quality import service as training
from pharmos.quality.routes import SPREADSHEET_RESPONSES, file_download
from pharmos.quality.training_schemas import (
    AssignmentIn,
    MatrixOut,
    MyTrainingOut,
    QualificationOut,
    RequirementIn,
    RequirementOut,
    RequirementRemovalIn,
    ResultIn,
    SkillIn,
    SkillOut,
    TrainingRecordOut,
)

__all__ = ["api"]

api = APIRouter(prefix="/api/v1", tags=["quality"])

View = Annotated[Actor, Depends(requires("quality.view"))]
Manage = Annotated[Actor, Depends(requires("training.manage"))]
Record = Annotated[Actor, Depends(requires("training.record"))]


class RecordFilter:
    def __init__(
        self,
        username: Annotated[str | None, Query(max_length=150, description="The trainee")] = None,
        state: Annotated[str | None, Query(description="assigned, completed or cancelled")] = None,
        overdue: bool | None = None,
        document: Annotated[str | None, Query(max_length=40, description="Document number")] = None,
        skill: Annotated[str | None, Query(max_length=40, description="Skill code")] = None,
    ) -> None:
        self.filters: dict[str, Any] = {"username": username, "state": state, "overdue": overdue,
                                        "document_number": document, "skill_code": skill}


class MatrixFilter:
    def __init__(
        self,
        role: Annotated[str | None, Query(max_length=64)] = None,
        department: Annotated[str | None, Query(max_length=100)] = None,
        document: Annotated[str | None, Query(max_length=40, description="Document number")] = None,
    ) -> None:
        self.filters: dict[str, Any] = {"role": role, "department": department, "document_number": document}


# ---------------------------------------------------------------- records (literal paths first)


@api.get("/training/records", response_model=Page[TrainingRecordOut])
def list_training_records(actor: View, page: Annotated[PageParams, Depends()],
                          where: Annotated[RecordFilter, Depends()]) -> Page[TrainingRecordOut]:
    rows = training.list_training_records(actor=actor, **where.filters, after_id=page.after_id, limit=page.limit + 1)
    return page.page([TrainingRecordOut.of(r) for r in rows], lambda r: r.id)


@api.post("/training/records", response_model=list[TrainingRecordOut], status_code=201)
def assign_training(body: AssignmentIn, actor: Manage) -> list[TrainingRecordOut]:
    return [TrainingRecordOut.of(r) for r in training.assign_training(actor=actor, **body.model_dump())]


@api.get("/training/records/{record_id}", response_model=TrainingRecordOut)
def get_training_record(record_id: int, actor: View) -> TrainingRecordOut:
    return TrainingRecordOut.of(training.get_training_record(actor=actor, record_id=record_id))


@api.post("/training/records/{record_id}/result", response_model=TrainingRecordOut)
def record_training_result(record_id: int, body: ResultIn, actor: Record) -> TrainingRecordOut:
    # 药品GMP 第二十七条: the trainer's result is recorded, then signed "verified" via the complete transition.
    return TrainingRecordOut.of(training.record_training_result(actor=actor, record_id=record_id,
                                                                **body.model_dump()))


@api.get("/training/records/{record_id}/pdf", response_class=Response,
         responses={200: {"content": {"application/pdf": {}}}})
def print_training_record(record_id: int, actor: View) -> Response:
    return file_download(training.print_training_record(actor=actor, record_id=record_id))


@api.get("/training/mine", response_model=MyTrainingOut)
def my_training(actor: View) -> MyTrainingOut:
    return MyTrainingOut.of(training.my_training(actor=actor))


# ---------------------------------------------------------------- matrix and qualification


@api.get("/training/matrix", response_model=MatrixOut, responses=SPREADSHEET_RESPONSES)
def qualification_matrix(actor: View, where: Annotated[MatrixFilter, Depends()],
                         format: Annotated[str | None, Query(description="csv or xlsx: a download")] = None) -> Any:
    if format:
        return file_download(training.export_qualification_matrix(actor=actor, fmt=format, **where.filters))
    return MatrixOut.of(training.qualification_matrix(actor=actor, **where.filters))


@api.get("/training/qualification", response_model=QualificationOut)
def is_qualified(_: View, username: Annotated[str, Query(max_length=150)],
                 document: Annotated[str | None, Query(max_length=40)] = None,
                 skill: Annotated[str | None, Query(max_length=40)] = None,
                 at: Annotated[datetime | None, Query(description="ISO instant; default now")] = None
                 ) -> QualificationOut:
    return QualificationOut.of(training.is_qualified(username=username, document_number=document,
                                                     skill_code=skill, at=at))


# ---------------------------------------------------------------- requirements and skills


@api.get("/training/requirements", response_model=list[RequirementOut])
def list_requirements(actor: View, role: Annotated[str | None, Query(max_length=64)] = None,
                      include_inactive: bool = False) -> list[RequirementOut]:
    return [RequirementOut.of(r) for r in training.list_requirements(actor=actor, role=role,
                                                                     include_inactive=include_inactive)]


@api.post("/training/requirements", response_model=RequirementOut, status_code=201)
def add_requirement(body: RequirementIn, actor: Manage) -> RequirementOut:
    return RequirementOut.of(training.add_requirement(actor=actor, **body.model_dump()))


@api.delete("/training/requirements/{requirement_id}", response_model=RequirementOut)
def remove_requirement(requirement_id: int, actor: Manage,
                       body: Annotated[RequirementRemovalIn | None, Body()] = None,
                       reason: Annotated[str | None, Query(max_length=2000, description="Why (when the client "
                                                           "cannot send a DELETE body)")] = None) -> RequirementOut:
    # EU GMP Annex 11 §9: removing a requirement cancels training, so the reason is recorded.
    return RequirementOut.of(training.remove_requirement(
        actor=actor, requirement_id=requirement_id, reason=body.reason if body is not None else (reason or "")))


@api.get("/training/skills", response_model=list[SkillOut])
def list_skills(actor: View, include_inactive: bool = False) -> list[SkillOut]:
    return [SkillOut.of(s) for s in training.list_skills(actor=actor, include_inactive=include_inactive)]


@api.post("/training/skills", response_model=SkillOut, status_code=201)
def create_skill(body: SkillIn, actor: Manage) -> SkillOut:
    return SkillOut.of(training.create_skill(actor=actor, **body.model_dump()))
