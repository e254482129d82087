"""Controlled documents: numbering, versions, files, review and approval, periodic review.

A controlled document (SOP, specification, form, master document, policy) has a number, an
owner and versions (药品GMP 第八章). Each version is written by its author, reviewed and signed
by the named reviewers, approved by the named approver and becomes effective on its effective
date (``document-versions`` lifecycle in ``pharmos/quality/lifecycle.py``); only the effective
version is in use (药品GMP 第一百五十五条). The services here set only the fields the lifecycle's
guards read; the file of a version is checked by its content and kept with its SHA-256, which
the signatures cover and which is verified every time the file is served (21 CFR 11.10(a)).
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, cast, or_, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from pharmos.auth import service as auth
from pharmos.auth.service import DirectoryEntry
from pharmos.compliance.lifecycle import apply_transition
from pharmos.compliance.signatures import authenticate_signer, sign, signatures_for
from pharmos.core.actor import Actor
from pharmos.core.clock import add_months, as_utc, site_today
from pharmos.core.db import read_session, transaction
from pharmos.core.errors import (
    Conflict,
    DomainError,
    FieldProblem,
    NotFound,
    TransitionRefused,
    ValidationFailed,
)
from pharmos.core.errors import collect_text as _text
from pharmos.core.errors import raise_problems as _raise
from pharmos.core.numbering import next_number
from pharmos.quality.deviations import record_timeline
from pharmos.quality.document_views import DocumentReviewView, DocumentVersionView, DocumentView
from pharmos.quality.lifecycle import DOCUMENT_VERSION_LIFECYCLE, reviews_missing
from pharmos.quality.models import ChangeControl, ControlledDocument, DocumentFile, DocumentReview, DocumentVersion
from pharmos.quality.printing import PrintSection, PrintTable, RecordPrintout, audit_rows, printed
from pharmos.quality.printing import text as printed_text

__all__ = [
    "DOCUMENT_TYPES",
    "MAX_DOCUMENT_BYTES",
    "REVIEW_OUTCOMES",
    "DataIntegrityError",
    "documents_due_for_review",
    "edit_draft",
    "export_documents",
    "get_document",
    "get_version",
    "list_documents",
    "make_due_versions_effective",
    "print_document_version",
    "record_periodic_review",
    "register_document",
    "review_version",
    "start_revision",
    "upload_version_file",
    "version_file",
]

# Type → number prefix (`SOP-QA-0001`).
DOCUMENT_TYPES = {"sop": "SOP", "specification": "SPEC", "form": "FORM", "master": "MD", "policy": "POL"}
REVIEW_OUTCOMES = ("no_change", "revise", "obsolete")
MAX_DOCUMENT_BYTES = 20 * 1024 * 1024
DUE_FOR_REVIEW_DAYS = 60
OPEN_VERSION_STATES = ("draft", "in_review", "approved")

PDF_TYPE = "application/pdf"
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
MARKDOWN_TYPE = "text/markdown; charset=utf-8"

_NUMBER = re.compile(r"^[A-Z]{2,5}-[A-Z0-9]{2,6}-\d{3,5}$")
_DEPARTMENT = re.compile(r"^[A-Z]{2,6}$")
_CC_NUMBER = re.compile(r"^CC-\d{4}-\d{4,}$")
_TITLE_MAX = 200
_TEXT_MAX = 10_000
_FILENAME_MAX = 200


class DataIntegrityError(DomainError):
    """A stored file no longer matches the SHA-256 recorded (and signed) for it: never served."""

    def __init__(self, message: str) -> None:
        super().__init__(message, [], 500, "data-integrity")


# ---------------------------------------------------------------- visibility


def _sees_every_version(actor: Actor) -> bool:
    return actor.can("documents.manage") or actor.can("documents.approve")


def _involved(row: DocumentVersion, actor: Actor) -> bool:
    uid = actor.user_id
    return uid is not None and (uid == row.author_id or uid == row.approver_id or uid in (row.reviewer_ids or []))


def _visible(row: DocumentVersion, actor: Actor) -> bool:
    # 药品GMP 第一百五十五条: people work only to the effective version; drafts stay with those writing them.
    return _sees_every_version(actor) or row.state == "effective" or _involved(row, actor)


def _reviewer_clause(session: Session, user_id: int) -> ColumnElement[bool]:
    if session.get_bind().dialect.name == "postgresql":
        return cast(DocumentVersion.reviewer_ids, JSONB).contains([user_id])
    return and_(text("EXISTS (SELECT 1 FROM json_each(document_version.reviewer_ids) AS r WHERE r.value = :uid)"
                     ).bindparams(uid=user_id))


def _involvement_clause(session: Session, actor: Actor) -> ColumnElement[bool]:
    if actor.user_id is None:
        return DocumentVersion.state == "effective"
    return or_(DocumentVersion.state == "effective", DocumentVersion.author_id == actor.user_id,
               DocumentVersion.approver_id == actor.user_id, _reviewer_clause(session, actor.user_id))


# ---------------------------------------------------------------- views


def _due_for_review(row: ControlledDocument, today: date) -> bool:
    return (row.effective_version is not None and row.next_review_on is not None
            and row.next_review_on <= today + timedelta(days=DUE_FOR_REVIEW_DAYS))


def _version_view(session: Session, row: DocumentVersion, number: str, *, details: bool) -> DocumentVersionView:
    extra: dict[str, Any] = {}
    if details:
        signatures = tuple(signatures_for(session, row))
        extra["signatures"] = signatures
        extra["timeline"] = record_timeline(session, record_type="document_version", record_id=row.id,
                                            signatures=signatures)
        extra["reviews_missing"] = tuple(reviews_missing(session, row)) if row.state == "in_review" else ()
    return DocumentVersionView(
        id=row.id, document_id=row.document_id, document_number=number, version=row.version,
        label=f"{row.version}.0", change_summary=row.change_summary, change_control=row.change_control,
        author=row.author, reviewers=tuple(row.reviewers or ()), approver=row.approver, effective_on=row.effective_on,
        filename=row.filename, media_type=row.media_type, size=row.size, sha256=row.sha256, state=row.state,
        created_at=as_utc(row.created_at), approved_at=as_utc(row.approved_at) if row.approved_at else None,
        effective_at=as_utc(row.effective_at) if row.effective_at else None,
        retired_at=as_utc(row.retired_at) if row.retired_at else None, **extra)


def _document_view(session: Session, row: ControlledDocument, *, actor: Actor, details: bool,
                   today: date) -> DocumentView:
    extra: dict[str, Any] = {}
    if details:
        versions = session.scalars(select(DocumentVersion).where(DocumentVersion.document_id == row.id)
                                   .order_by(DocumentVersion.version.desc()))
        extra["versions"] = tuple(_version_view(session, v, row.number, details=False)
                                  for v in versions if _visible(v, actor))
        reviews = session.scalars(select(DocumentReview).where(DocumentReview.document_id == row.id)
                                  .order_by(DocumentReview.id.desc()))
        extra["reviews"] = tuple(DocumentReviewView(
            id=r.id, version=r.version, outcome=r.outcome, comment=r.comment, reviewer=r.reviewer,
            reviewed_at=as_utc(r.reviewed_at), next_review_on=r.next_review_on,
            signatures=tuple(signatures_for(session, r))) for r in reviews)
        extra["timeline"] = record_timeline(session, record_type="controlled_document", record_id=row.id)
    return DocumentView(
        id=row.id, number=row.number, doc_type=row.doc_type, title_zh=row.title_zh, title_en=row.title_en,
        department=row.department, owner=row.owner, review_interval_months=row.review_interval_months,
        training_due_days=row.training_due_days, effective_version=row.effective_version,
        next_review_on=row.next_review_on, obsolete=row.obsolete, created_at=as_utc(row.created_at),
        due_for_review=_due_for_review(row, today), **extra)


def _detailed_document(actor: Actor, document_id: int) -> DocumentView:
    # Read after the commit: the timeline comes from audit entries, which are written at commit.
    with read_session() as session:
        return _document_view(session, _load_document(session, document_id), actor=actor, details=True,
                              today=site_today())


def _detailed_version(version_id: int) -> DocumentVersionView:
    with read_session() as session:
        row = _load_version(session, version_id)
        number = session.scalar(select(ControlledDocument.number).where(ControlledDocument.id == row.document_id))
        return _version_view(session, row, number or "", details=True)


# ---------------------------------------------------------------- input checks


def _whole(problems: list[FieldProblem], field: str, value: object, low: int, high: int, unit: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        problems.append(FieldProblem(field, f"A whole number of {unit} between {low} and {high}."))
        return low
    return value


def _change_control_number(problems: list[FieldProblem], value: object) -> str:
    number = _text(problems, "change_control", value, max_length=40, required=False).upper()
    if number and not _CC_NUMBER.match(number):
        problems.append(FieldProblem("change_control", "A change control number such as CC-2026-0001."))
        return ""
    return number


def _require_change_control(session: Session, number: str) -> None:
    # 药品GMP 第二百四十条: a revision made under change control names that change.
    if number and session.scalar(select(ChangeControl.id).where(ChangeControl.number == number)) is None:
        raise ValidationFailed.on("change_control", f"No change control {number}.")


def _user(session: Session, field: str, username: object, permission: str) -> DirectoryEntry:
    name = username.strip() if isinstance(username, str) else ""
    user = auth.directory_entry(session, username=name) if name else None
    if user is None or not user.is_active:
        raise ValidationFailed.on(field, f"No active user named {name!r}.")
    if not auth.holds_permission(session, user_id=user.id, permission=permission):
        raise ValidationFailed.on(field, f"{user.username} does not hold the permission {permission}.")
    return user


def _clean_filename(problems: list[FieldProblem], filename: object) -> str:
    raw = filename if isinstance(filename, str) else ""
    # Only the last path component: a client must not choose where the name points.
    name = re.split(r"[\\/]", raw)[-1].strip()
    name = "".join(ch for ch in name if ch.isprintable())
    if not name:
        problems.append(FieldProblem("file", "The file has no name."))
    elif len(name) > _FILENAME_MAX:
        problems.append(FieldProblem("file", f"The file name is longer than {_FILENAME_MAX} characters."))
    return name


def checked_file(filename: object, content: object) -> tuple[str, str]:
    """The clean file name and the media type found from the content; ValidationFailed on ``file`` otherwise."""
    problems: list[FieldProblem] = []
    name = _clean_filename(problems, filename)
    _raise(problems)
    if not isinstance(content, bytes | bytearray) or not content:
        raise ValidationFailed.on("file", "The file is empty.")
    if len(content) > MAX_DOCUMENT_BYTES:
        raise ValidationFailed.on("file", f"The file is larger than {MAX_DOCUMENT_BYTES // (1024 * 1024)} MB.")
    data = bytes(content)
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    # Judged by the bytes, not by the name or the declared type (EU GMP Annex 11 §5: checks on data input).
    if data.startswith(b"%PDF-"):
        found, expected = PDF_TYPE, "pdf"
    elif data.startswith(b"PK\x03\x04") and _is_docx(data):
        found, expected = DOCX_TYPE, "docx"
    elif extension == "md" and _is_text(data):
        found, expected = MARKDOWN_TYPE, "md"
    else:
        raise ValidationFailed.on("file", "Only PDF, Word (.docx) or Markdown (.md, UTF-8) files are accepted; "
                                          "this file's content is none of them.")
    if extension != expected:
        raise ValidationFailed.on("file", f"The content is a .{expected} file but the name ends in "
                                          f"{'.' + extension if extension else 'no extension'}.")
    return name, found


def _is_docx(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return "word/document.xml" in archive.namelist()
    except (zipfile.BadZipFile, ValueError):
        return False


def _is_text(data: bytes) -> bool:
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return "\x00" not in decoded


def _load_document(session: Session, document_id: int, *, lock: bool = False) -> ControlledDocument:
    row = session.get(ControlledDocument, document_id, with_for_update=lock or None)
    if row is None:
        raise NotFound(f"No controlled document with id {document_id}.")
    return row


def _load_version(session: Session, version_id: int, *, lock: bool = False) -> DocumentVersion:
    row = session.get(DocumentVersion, version_id, with_for_update=lock or None)
    if row is None:
        raise NotFound(f"No document version with id {version_id}.")
    return row


def _addressed(session: Session, actor: Actor, version_id: int | None, document_id: int | None,
               version: int | None, *, lock: bool = False) -> DocumentVersion:
    """A version by its id, or by its document and number (as the API addresses it)."""
    if version_id is not None:
        return _load_version(session, version_id, lock=lock)
    if document_id is None or version is None:
        raise ValidationFailed.on("version_id", "Name the version.")
    stmt = select(DocumentVersion).where(DocumentVersion.document_id == document_id,
                                         DocumentVersion.version == version)
    row = session.scalar(stmt.with_for_update() if lock else stmt)
    # A version the caller may not see answers as if it did not exist.
    if row is None or not _visible(row, actor):
        raise NotFound(f"No version {version} of document {document_id}.")
    return row


def _number_of(session: Session, row: DocumentVersion) -> str:
    return session.scalar(select(ControlledDocument.number).where(ControlledDocument.id == row.document_id)) or ""


def _require_draft_by_author(session: Session, row: DocumentVersion, actor: Actor, doing: str) -> None:
    if row.state != "draft":
        message = f"{_number_of(session, row)} v{row.version} is {row.state}; {doing} only while it is a draft."
        raise Conflict(message, [FieldProblem("version_id", message)])
    if row.author_id != actor.user_id:
        message = f"Only the author ({row.author}) can do this."
        raise Conflict(message, [FieldProblem("version_id", message)])


def _limit(limit: int) -> int:
    return max(1, min(int(limit), 500))


def _new_number(session: Session, prefix: str) -> str:
    # Hand-entered numbers (a site migrating its register) may already hold the next value: skip them.
    while True:
        number = next_number(session, prefix=prefix, pattern="{prefix}-{seq:04d}")
        if session.scalar(select(ControlledDocument.id).where(ControlledDocument.number == number)) is None:
            return number


# ---------------------------------------------------------------- services


def register_document(*, actor: Actor, doc_type: str, title_zh: str, title_en: str = "", department: str,
                      owner_username: str, number: str | None = None, review_interval_months: int = 24,
                      training_due_days: int = 14) -> DocumentView:
    """Register a controlled document; its version 1 is a draft authored by the owner."""
    actor.require("documents.manage")
    problems: list[FieldProblem] = []
    if doc_type not in DOCUMENT_TYPES:
        problems.append(FieldProblem("doc_type", f"Choose one of {', '.join(DOCUMENT_TYPES)}."))
    title = _text(problems, "title_zh", title_zh, max_length=_TITLE_MAX)
    title_english = _text(problems, "title_en", title_en, max_length=_TITLE_MAX, required=False)
    dept = department.strip().upper() if isinstance(department, str) else ""
    if not _DEPARTMENT.match(dept):
        problems.append(FieldProblem("department", "A department code of 2 to 6 capital letters, such as QA."))
    if not isinstance(owner_username, str) or not owner_username.strip():
        problems.append(FieldProblem("owner_username", "Required."))
    given = number.strip().upper() if isinstance(number, str) else ""
    if given and not _NUMBER.match(given):
        problems.append(FieldProblem("number", "A number such as SOP-QA-0001 (TYPE-DEPT-sequence)."))
    interval = _whole(problems, "review_interval_months", review_interval_months, 1, 120, "months")
    training_days = _whole(problems, "training_due_days", training_due_days, 0, 365, "days")
    _raise(problems)
    with transaction(actor=actor, reason="Controlled document registered") as session:
        owner = _user(session, "owner_username", owner_username, "documents.author")
        if given:
            if session.scalar(select(ControlledDocument.id).where(ControlledDocument.number == given)) is not None:
                raise ValidationFailed.on("number", f"{given} is already registered.")
            document_number = given
        else:
            document_number = _new_number(session, f"{DOCUMENT_TYPES[doc_type]}-{dept}")
        document = ControlledDocument(
            number=document_number, doc_type=doc_type, title_zh=title, title_en=title_english, department=dept,
            owner_id=owner.id, owner=owner.username, review_interval_months=interval,
            training_due_days=training_days)
        session.add(document)
        session.flush()
        session.add(DocumentVersion(document_id=document.id, version=1, change_summary="首次发布 / First issue",
                                    author_id=owner.id, author=owner.username, reviewer_ids=[], reviewers=[],
                                    state=DOCUMENT_VERSION_LIFECYCLE.initial))
        session.flush()
        document_id = document.id
    return _detailed_document(actor, document_id)


def start_revision(*, actor: Actor, document_id: int, change_summary: str,
                   change_control: str = "") -> DocumentVersionView:
    """A new draft version of an effective document, authored by the actor."""
    actor.require("documents.author")
    problems: list[FieldProblem] = []
    summary = _text(problems, "change_summary", change_summary, max_length=_TEXT_MAX)
    cc = _change_control_number(problems, change_control)
    _raise(problems)
    if actor.user_id is None:
        raise ValidationFailed.on("document_id", "Only a person can author a version.")
    with transaction(actor=actor, reason="New document version started") as session:
        document = _load_document(session, document_id, lock=True)
        if document.effective_version is None:
            message = f"{document.number} has no effective version to revise."
            raise Conflict(message, [FieldProblem("document_id", message)])
        versions = list(session.scalars(select(DocumentVersion).where(DocumentVersion.document_id == document.id)))
        pending = [v for v in versions if v.state in OPEN_VERSION_STATES]
        if pending:
            message = (f"{document.number} v{pending[0].version} is already {pending[0].state}; "
                       f"finish or withdraw it first.")
            raise Conflict(message, [FieldProblem("document_id", message)])
        _require_change_control(session, cc)
        row = DocumentVersion(document_id=document.id, version=max(v.version for v in versions) + 1,
                              change_summary=summary, change_control=cc, author_id=actor.user_id,
                              author=actor.username, reviewer_ids=[], reviewers=[],
                              state=DOCUMENT_VERSION_LIFECYCLE.initial)
        session.add(row)
        session.flush()
        version_id = row.id
    return _detailed_version(version_id)


def edit_draft(*, actor: Actor, version_id: int | None = None, document_id: int | None = None,
               version: int | None = None, change_summary: str | None = None,
               reviewers: Sequence[str] | None = None, approver: str | None = None, effective_on: date | None = None,
               change_control: str | None = None) -> DocumentVersionView:
    """The author names reviewers, the approver and the effective date of a draft; only given fields change."""
    actor.require("documents.author")
    problems: list[FieldProblem] = []
    changes: dict[str, Any] = {}
    if change_summary is not None:
        changes["change_summary"] = _text(problems, "change_summary", change_summary, max_length=_TEXT_MAX)
    if change_control is not None:
        changes["change_control"] = _change_control_number(problems, change_control)
    if effective_on is not None:
        if isinstance(effective_on, bool) or not isinstance(effective_on, date):
            problems.append(FieldProblem("effective_on", "A date."))
        elif effective_on < site_today():
            problems.append(FieldProblem("effective_on", "An effective date in the past."))
        else:
            changes["effective_on"] = effective_on
    names: list[str] = []
    if reviewers is not None:
        if isinstance(reviewers, str) or not all(isinstance(r, str) for r in reviewers):
            problems.append(FieldProblem("reviewers", "A list of user names."))
        else:
            for i, name in enumerate(reviewers):
                clean = name.strip().lower()
                if not clean:
                    problems.append(FieldProblem(f"reviewers[{i}]", "Required."))
                elif clean in names:
                    problems.append(FieldProblem(f"reviewers[{i}]", f"{clean} is named twice."))
                names.append(clean)
    if approver is not None and (not isinstance(approver, str) or not approver.strip()):
        problems.append(FieldProblem("approver", "Required."))
    _raise(problems)
    with transaction(actor=actor, reason="Document draft edited") as session:
        row = _addressed(session, actor, version_id, document_id, version, lock=True)
        _require_draft_by_author(session, row, actor, "it is edited")
        if reviewers is not None:
            found: list[DirectoryEntry] = []
            for i, name in enumerate(names):
                user = _user(session, f"reviewers[{i}]", name, "documents.review")
                if user.id == row.author_id:
                    # 药品GMP 第一百五十二条: a document is reviewed by someone other than its author.
                    raise ValidationFailed.on(f"reviewers[{i}]", "The author cannot review their own version.")
                found.append(user)
            changes["reviewer_ids"] = [u.id for u in found]
            changes["reviewers"] = [u.username for u in found]
        if approver is not None:
            user = _user(session, "approver", approver, "documents.approve")
            if user.id == row.author_id:
                raise ValidationFailed.on("approver", "The author cannot approve their own version.")
            changes["approver_id"], changes["approver"] = user.id, user.username
        approver_id = changes.get("approver_id", row.approver_id)
        if approver_id is not None and approver_id in changes.get("reviewer_ids", row.reviewer_ids or []):
            raise ValidationFailed.on("approver", "The approver cannot also be a reviewer of the version.")
        if changes.get("change_control"):
            _require_change_control(session, changes["change_control"])
        for name, value in changes.items():
            setattr(row, name, value)
        session.flush()
        version_id = row.id
    return _detailed_version(version_id)


def upload_version_file(*, actor: Actor, filename: str, content: bytes, media_type: str,
                        version_id: int | None = None, document_id: int | None = None,
                        version: int | None = None) -> DocumentVersionView:
    """The author attaches (or replaces) the draft's file: PDF, Word (.docx) or Markdown, at most 20 MB."""
    actor.require("documents.author")
    # The declared media type is not trusted: the type is found from the bytes (checked_file).
    name, found_type = checked_file(filename, content)
    data = bytes(content)
    digest = hashlib.sha256(data).hexdigest()
    with transaction(actor=actor, reason="Document file uploaded") as session:
        row = _addressed(session, actor, version_id, document_id, version, lock=True)
        _require_draft_by_author(session, row, actor, "its file is replaced")
        stored = session.scalar(select(DocumentFile).where(DocumentFile.version_id == row.id))
        if stored is None:
            session.add(DocumentFile(version_id=row.id, content=data))
        else:
            stored.content = data
        row.filename, row.media_type, row.size, row.sha256 = name, found_type, len(data), digest
        session.flush()
        version_id = row.id
    return _detailed_version(version_id)


def _review_problem(session: Session, row: DocumentVersion, actor: Actor) -> DomainError | None:
    number = f"{_number_of(session, row)} v{row.version}"
    if row.state != "in_review":
        message = f"{number} is {row.state}; it is reviewed only while in review."
        return Conflict(message, [FieldProblem("version_id", message)])
    if actor.user_id not in (row.reviewer_ids or []):
        message = f"You are not a named reviewer of {number}."
        return Conflict(message, [FieldProblem("reviewer", message)])
    if actor.username not in reviews_missing(session, row):
        message = f"You have already signed {number} as reviewed."
        return Conflict(message, [FieldProblem("reviewer", message)])
    return None


def review_version(*, actor: Actor, password: str, otp: str | None = None, comment: str = "",
                   version_id: int | None = None, document_id: int | None = None,
                   version: int | None = None) -> DocumentVersionView:
    """A named reviewer signs the version as reviewed (21 CFR 11.50), once per version."""
    actor.require("documents.review")
    problems: list[FieldProblem] = []
    note = _text(problems, "comment", comment, max_length=2000, required=False)
    _raise(problems)
    with read_session() as session:
        version_id = _addressed(session, actor, version_id, document_id, version).id
        problem = _review_problem(session, _load_version(session, version_id), actor)
    if problem is not None:
        raise problem
    proof = authenticate_signer(actor=actor, password=password, otp=otp)
    with transaction(actor=actor, reason="Document version reviewed") as session:
        row = _load_version(session, version_id, lock=True)
        problem = _review_problem(session, row, actor)  # re-checked under the row lock
        if problem is not None:
            raise problem
        sign(session, record=row, meaning="reviewed", actor=actor, proof=proof, reason=note or None)
        version_id = row.id
    return _detailed_version(version_id)


def get_version(*, actor: Actor, version_id: int | None = None, document_id: int | None = None,
                version: int | None = None) -> DocumentVersionView:
    """One version with its signatures and timeline, if the caller may see it."""
    actor.require("quality.view")
    with read_session() as session:
        row = _addressed(session, actor, version_id, document_id, version)
        if not _visible(row, actor):
            raise NotFound(f"No document version with id {version_id}.")
        return _version_view(session, row, _number_of(session, row), details=True)


def version_file(*, actor: Actor, document_id: int, version: int) -> tuple[DocumentVersionView, bytes]:
    """The file of a visible version, after checking its bytes against the stored SHA-256."""
    actor.require("quality.view")
    with read_session() as session:
        row = _addressed(session, actor, None, document_id, version)
        content = session.scalar(select(DocumentFile.content).where(DocumentFile.version_id == row.id))
        if content is None or not row.sha256:
            raise NotFound(f"Version {version} of document {document_id} has no file.")
        # 21 CFR 11.10(a) / EU GMP Annex 11 §7.1: an altered file is detected and never served as the original.
        if hashlib.sha256(content).hexdigest() != row.sha256:
            raise DataIntegrityError(f"The stored file of {_number_of(session, row)} v{row.version} does not "
                                     f"match its recorded SHA-256; it is not served. Inform QA.")
        return _version_view(session, row, _number_of(session, row), details=False), bytes(content)


def get_document(*, actor: Actor, document_id: int | None = None, number: str | None = None) -> DocumentView:
    """A document with the versions the caller may see (newest first), its periodic reviews and timeline."""
    actor.require("quality.view")
    with read_session() as session:
        if number is not None:
            row = session.scalar(select(ControlledDocument).where(
                ControlledDocument.number == number.strip().upper()))
            if row is None:
                raise NotFound(f"No controlled document {number}.")
        elif document_id is not None:
            row = _load_document(session, document_id)
        else:
            raise ValidationFailed.on("document_id", "Name the document.")
        return _document_view(session, row, actor=actor, details=True, today=site_today())


def list_documents(*, actor: Actor, doc_type: str | None = None, department: str | None = None,
                   state: str | None = None, query: str | None = None, due_for_review: bool | None = None,
                   include_all: bool = False, after_id: int | None = None, limit: int = 50) -> list[DocumentView]:
    """Documents in ascending id order (cursor ``after_id``), without versions; one query.

    By default a document is listed when it has an effective version or a version the caller
    authors, reviews or approves; ``include_all`` (managers and approvers only) lists every one.
    ``state`` lists documents with a version (visible to the caller) in that state.
    """
    actor.require("quality.view")
    if doc_type is not None and doc_type not in DOCUMENT_TYPES:
        raise ValidationFailed.on("doc_type", f"Choose one of {', '.join(DOCUMENT_TYPES)}.")
    if state is not None and state not in DOCUMENT_VERSION_LIFECYCLE.states:
        raise ValidationFailed.on("state", f"Choose one of {', '.join(DOCUMENT_VERSION_LIFECYCLE.states)}.")
    today = site_today()
    every = include_all and _sees_every_version(actor)
    with read_session() as session:
        stmt = select(ControlledDocument).order_by(ControlledDocument.id).limit(_limit(limit))
        versions = select(DocumentVersion.document_id)
        if not every:
            versions = versions.where(_involvement_clause(session, actor))
        if state:
            versions = versions.where(DocumentVersion.state == state)
        if state or not every:
            stmt = stmt.where(ControlledDocument.id.in_(versions))
        if doc_type:
            stmt = stmt.where(ControlledDocument.doc_type == doc_type)
        if department and department.strip():
            stmt = stmt.where(ControlledDocument.department == department.strip().upper())
        if query and query.strip():
            pattern = f"%{query.strip()}%"
            stmt = stmt.where(or_(ControlledDocument.number.ilike(pattern), ControlledDocument.title_zh.ilike(pattern),
                                  ControlledDocument.title_en.ilike(pattern)))
        due = and_(ControlledDocument.effective_version.is_not(None),
                   ControlledDocument.next_review_on <= today + timedelta(days=DUE_FOR_REVIEW_DAYS))
        if due_for_review is True:
            stmt = stmt.where(due)
        elif due_for_review is False:
            stmt = stmt.where(~due | ControlledDocument.next_review_on.is_(None))
        if after_id is not None:
            stmt = stmt.where(ControlledDocument.id > after_id)
        return [_document_view(session, row, actor=actor, details=False, today=today)
                for row in session.scalars(stmt)]


def documents_due_for_review(*, actor: Actor, within_days: int = DUE_FOR_REVIEW_DAYS) -> list[DocumentView]:
    """Effective documents whose periodic review falls due within ``within_days`` (药品GMP 第一百五十八条)."""
    actor.require("quality.view")
    if isinstance(within_days, bool) or not isinstance(within_days, int) or not 0 <= within_days <= 3650:
        raise ValidationFailed.on("within_days", "A whole number of days between 0 and 3650.")
    today = site_today()
    with read_session() as session:
        rows = session.scalars(select(ControlledDocument).where(
            ControlledDocument.effective_version.is_not(None),
            ControlledDocument.next_review_on <= today + timedelta(days=within_days))
            .order_by(ControlledDocument.next_review_on, ControlledDocument.id))
        return [_document_view(session, row, actor=actor, details=False, today=today) for row in rows]


def record_periodic_review(*, actor: Actor, document_id: int, outcome: str, comment: str, password: str,
                           otp: str | None = None) -> DocumentView:
    """Record and sign the periodic review of the effective version (药品GMP 第一百五十八条).

    ``no_change`` moves the next review date by the interval from today; ``revise`` keeps it
    (a revision is expected); ``obsolete`` records the decision, which QA carries out with the
    signed ``make_obsolete`` transition.
    """
    actor.require("documents.manage")
    problems: list[FieldProblem] = []
    if outcome not in REVIEW_OUTCOMES:
        problems.append(FieldProblem("outcome", f"Choose one of {', '.join(REVIEW_OUTCOMES)}."))
    note = _text(problems, "comment", comment, max_length=_TEXT_MAX)
    _raise(problems)

    def effective_of(session: Session) -> ControlledDocument:
        document = _load_document(session, document_id, lock=True)
        if document.effective_version is None:
            message = f"{document.number} has no effective version to review."
            raise Conflict(message, [FieldProblem("document_id", message)])
        return document

    with read_session() as session:
        effective_of(session)
    proof = authenticate_signer(actor=actor, password=password, otp=otp)
    with transaction(actor=actor, reason=f"Periodic review: {outcome}") as session:
        document = effective_of(session)
        next_on = add_months(site_today(), document.review_interval_months) if outcome == "no_change" \
            else document.next_review_on
        review = DocumentReview(document_id=document.id, version=document.effective_version, outcome=outcome,
                                comment=note, reviewer_id=proof.user_id, reviewer=actor.username,
                                next_review_on=next_on)
        session.add(review)
        document.next_review_on = next_on
        session.flush()
        sign(session, record=review, meaning="reviewed", actor=actor, proof=proof, reason=note)
        document_id = document.id
    return _detailed_document(actor, document_id)


def make_due_versions_effective(*, actor: Actor, today: date | None = None) -> list[str]:
    """Apply ``make_effective`` to every approved version whose effective date has come (the daily job)."""
    actor.require("documents.approve")
    day = today or site_today()
    with read_session() as session:
        due = list(session.execute(
            select(DocumentVersion.id, ControlledDocument.number, DocumentVersion.version)
            .join(ControlledDocument, ControlledDocument.id == DocumentVersion.document_id)
            .where(DocumentVersion.state == "approved", DocumentVersion.effective_on <= day)
            .order_by(DocumentVersion.effective_on, DocumentVersion.id)))
    made: list[str] = []
    for version_id, number, version in due:
        try:
            # One transaction per version: one refused version does not hold the others back.
            apply_transition(actor=actor, collection="document-versions", record_id=version_id,
                             name="make_effective", reason=f"effective date reached ({day.isoformat()})")
        except TransitionRefused:
            continue
        made.append(f"{number} v{version}")
    return made


def print_document_version(*, actor: Actor, version_id: int | None = None, document_id: int | None = None,
                           version: int | None = None) -> tuple[bytes, str, str]:
    """The version as a PDF record: document, version, reviewers, approver, signatures and trail."""
    v = get_version(actor=actor, version_id=version_id, document_id=document_id, version=version)
    d = get_document(actor=actor, document_id=v.document_id)
    with read_session() as session:
        audit = audit_rows(session, record_type="document_version", record_ids=[v.id])
    pt = printed_text
    printout = RecordPrintout(
        kind="Controlled document / 受控文件", number=f"{d.number} v{v.label}", title=d.title, state=v.state,
        sections=(
            PrintSection("Document / 文件", (
                ("Type / 类型", d.doc_type), ("Department / 部门", d.department), ("Owner / 负责人", d.owner),
                ("Review interval / 回顾周期", f"{d.review_interval_months} months / 月"),
                ("Next review / 下次回顾", pt(d.next_review_on)))),
            PrintSection("Version / 版本", (
                ("Change summary / 变更摘要", pt(v.change_summary)),
                ("Change control / 变更控制", pt(v.change_control)),
                ("Author / 编写人", v.author), ("Reviewers / 审核人", pt(list(v.reviewers))),
                ("Approver / 批准人", pt(v.approver)), ("Effective on / 生效日期", pt(v.effective_on)),
                ("File / 文件", f"{v.filename} ({v.size} bytes)" if v.filename else "—"),
                ("SHA-256", pt(v.sha256)), ("Approved at / 批准时间", pt(v.approved_at)),
                ("Effective at / 生效时间", pt(v.effective_at)), ("Retired at / 失效时间", pt(v.retired_at)))),
        ),
        tables=(
            PrintTable("Versions / 版本", ("Version / 版本", "State / 状态", "Effective on / 生效日期"),
                       tuple((x.label, x.state, pt(x.effective_on)) for x in d.versions)),
        ),
        signatures=v.signatures, audit=audit)
    return printed(actor=actor, printout=printout, record_type="document_version", record_id=v.id,
                   filename_stem=f"{d.number}-v{v.version}")


DOCUMENT_EXPORT_COLUMNS = ("number", "doc_type", "title_zh", "title_en", "department", "owner", "effective_version",
                           "next_review_on", "due_for_review", "obsolete", "review_interval_months",
                           "training_due_days", "created_at")


def export_documents(*, actor: Actor, fmt: str = "csv", doc_type: str | None = None, department: str | None = None,
                     state: str | None = None, query: str | None = None, due_for_review: bool | None = None,
                     include_all: bool = False) -> tuple[bytes, str, str]:
    """The document register matching the list filters as CSV or Excel (the caller's visibility applies)."""
    from pharmos.core.spreadsheets import all_pages, download, export_format

    actor.require("quality.view")
    fmt = export_format(fmt)
    rows = all_pages(lambda after: list_documents(
        actor=actor, doc_type=doc_type, department=department, state=state, query=query,
        due_for_review=due_for_review, include_all=include_all, after_id=after, limit=500), lambda d: d.id)
    data = [[d.number, d.doc_type, d.title_zh, d.title_en, d.department, d.owner, d.effective_version,
             d.next_review_on, d.due_for_review, d.obsolete, d.review_interval_months, d.training_due_days,
             d.created_at] for d in rows]
    return download(fmt, DOCUMENT_EXPORT_COLUMNS, data, name="documents", sheet="Documents 受控文件")
