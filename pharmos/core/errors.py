"""Domain errors. One handler (pharmos.api.problems) maps them to HTTP and HTML."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class FieldProblem:
    field: str
    message: str


@dataclass
class DomainError(Exception):
    message: str
    fields: list[FieldProblem] = field(default_factory=list)
    status: int = 400
    code: str = "domain-error"

    def __str__(self) -> str:
        return self.message


class ValidationFailed(DomainError):
    def __init__(self, message: str, fields: list[FieldProblem] | None = None) -> None:
        super().__init__(message, fields or [], 422, "validation-failed")

    @classmethod
    def on(cls, field_name: str, message: str) -> ValidationFailed:
        return cls(message, [FieldProblem(field_name, message)])


class NotFound(DomainError):
    def __init__(self, message: str) -> None:
        super().__init__(message, [], 404, "not-found")


class Conflict(DomainError):
    def __init__(self, message: str, fields: list[FieldProblem] | None = None) -> None:
        super().__init__(message, fields or [], 409, "conflict")


class AuthenticationFailed(DomainError):
    def __init__(self, message: str = "Invalid username or password.", code: str = "authentication-failed") -> None:
        super().__init__(message, [], 401, code)


class PermissionDenied(DomainError):
    def __init__(self, message: str) -> None:
        super().__init__(message, [], 403, "permission-denied")


class TransitionRefused(DomainError):
    def __init__(self, message: str, fields: list[FieldProblem] | None = None) -> None:
        super().__init__(message, fields or [], 409, "transition-refused")


class SignatureRefused(DomainError):
    def __init__(self, message: str, fields: list[FieldProblem] | None = None, status: int = 403) -> None:
        super().__init__(message, fields or [], status, "signature-refused")


def required_reason(reason: str | None) -> str:
    """The reason for a change, stripped; a ValidationFailed naming ``reason`` when it is blank."""
    # EU GMP Annex 11 §9: a change to GMP data records why it was made.
    text = (reason or "").strip()
    if not text:
        raise ValidationFailed.on("reason", "A reason for the change is required.")
    return text


def text_problem(field: str, value: object, *, required: bool = False, max_length: int) -> FieldProblem | None:
    """What is wrong with a free-text input (not text, missing when required, too long), or None."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        return FieldProblem(field, "Must be text.")
    if required and not value.strip():
        return FieldProblem(field, "Required.")
    if len(value.strip()) > max_length:
        return FieldProblem(field, f"At most {max_length} characters.")
    return None


def raise_problems(problems: Sequence[FieldProblem]) -> None:
    """Refuse with every problem at once, so a form shows each next to its field; no-op when there is none."""
    if problems:
        raise ValidationFailed("; ".join(f"{p.field}: {p.message}" for p in problems), list(problems))


def collect_text(problems: list[FieldProblem], field: str, value: object, *, max_length: int,
                 required: bool = True) -> str:
    """The stripped text of a free-text input; its problem, if any, is added to ``problems``."""
    problem = text_problem(field, value, required=required, max_length=max_length)
    if problem is not None:
        problems.append(problem)
        return ""
    return str(value or "").strip()


def collect_choice(problems: list[FieldProblem], field: str, value: object, choices: Sequence[str]) -> str:
    """One of ``choices`` (case-insensitive); otherwise a problem naming the allowed values is added."""
    chosen = value.strip().lower() if isinstance(value, str) else ""
    if chosen not in choices:
        problems.append(FieldProblem(field, f"Choose one of {', '.join(choices)}."))
        return ""
    return chosen
