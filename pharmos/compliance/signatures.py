"""Electronic signatures (21 CFR 11.50, 11.70, 11.100, 11.200; EU GMP Annex 11 §14).

Signing happens in two steps so that a wrong password is counted even though the
action it was meant for is refused: ``authenticate_signer`` re-checks the credentials
in its own unit of work (failures audited, lockout applied), then ``sign`` writes the
signature inside the caller's transaction, bound to the SHA-256 of the record's signed
content and HMAC-sealed to its record so it cannot be moved to another one.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Protocol

from sqlalchemy import BigInteger, Index, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from pharmos.auth.service import check_credentials, failures_committed
from pharmos.compliance.audit import Audited, canonical_json, format_timestamp
from pharmos.core.actor import Actor
from pharmos.core.clock import utcnow
from pharmos.core.config import get_settings
from pharmos.core.db import Base, BigId, UTCDateTime
from pharmos.core.errors import AuthenticationFailed, FieldProblem, SignatureRefused, ValidationFailed

MEANINGS: dict[str, tuple[str, str]] = {
    "authored": ("Authored", "编写"),
    "reviewed": ("Reviewed", "审核"),
    "approved": ("Approved", "批准"),
    "verified": ("Verified", "复核"),
    "released": ("Released", "放行"),
    "rejected": ("Rejected", "拒绝"),
    "performed": ("Performed", "执行"),
    "acknowledged": ("Read and understood", "已阅读并理解"),
    "held": ("Placed on hold", "冻结"),
}
# Meanings that approve someone else's work: never by the record's author.
APPROVAL_MEANINGS = frozenset({"approved", "released"})
_PROOF_MAX_AGE = timedelta(minutes=2)


class SignableRecord(Protocol):
    id: int
    __audit_type__: ClassVar[str]

    def signed_content(self) -> dict[str, Any]: ...

    def author_user_id(self) -> int | None: ...


class ElectronicSignature(Audited, Base):
    __tablename__ = "electronic_signature"
    __audit_type__ = "signature"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    record_type: Mapped[str] = mapped_column(String(80), nullable=False)
    record_id: Mapped[str] = mapped_column(String(80), nullable=False)
    signer_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    signer_username: Mapped[str] = mapped_column(String(64), nullable=False)
    # 21 CFR 11.50(a)(1): the printed name of the signer.
    printed_name: Mapped[str] = mapped_column(String(150), nullable=False)
    meaning: Mapped[str] = mapped_column(String(40), nullable=False)
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    # 21 CFR 11.70: HMAC over the signature manifest and its record, so it cannot be moved.
    binding: Mapped[str] = mapped_column(String(64), nullable=False)

    __table_args__ = (Index("ix_electronic_signature_record", "record_type", "record_id"),)


def content_hash(record: SignableRecord, meaning: str | None = None) -> str:
    """SHA-256 of what a signature with ``meaning`` attests (21 CFR 11.70: the link to its record).

    A record whose later steps add content (a CAPA's effectiveness check after the owner signed
    the implementation) declares ``signed_content_for(meaning)``, so an earlier signature covers
    what its signer saw and later, legitimate steps do not show it as broken.
    """
    per_meaning = getattr(record, "signed_content_for", None)
    content = per_meaning(meaning) if per_meaning is not None and meaning is not None else record.signed_content()
    return hashlib.sha256(canonical_json(content)).hexdigest()


def _binding(*, record_type: str, record_id: str, signer_id: int, printed_name: str, meaning: str,
             signed_at: datetime, reason: str | None, content: str) -> str:
    manifest = canonical_json({
        "record_type": record_type, "record_id": record_id, "signer_id": signer_id,
        "printed_name": printed_name, "meaning": meaning, "signed_at": format_timestamp(signed_at),
        "reason": reason, "content_hash": content,
    })
    key = hashlib.sha256(("pharmos-signature:" + get_settings().secret_key).encode()).digest()
    return hmac.new(key, manifest, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class SignerProof:
    """Evidence that ``user_id`` re-entered valid credentials at ``at``."""

    user_id: int
    printed_name: str
    at: datetime


def authenticate_signer(*, actor: Actor, password: str, otp: str | None = None) -> SignerProof:
    if actor.user_id is None:
        raise SignatureRefused("Only a person can sign; system actors cannot.")
    if actor.must_change_password:
        raise SignatureRefused("Change your temporary or expired password before signing.",
                               [FieldProblem("password", "Password change required before signing.")])
    if not password:
        raise ValidationFailed.on("password", "Re-enter your password to sign.")
    try:
        with failures_committed(actor=actor) as session:
            user = check_credentials(session, username=actor.username, password=password, otp=otp,
                                     purpose="signature")
            return SignerProof(user.id, user.full_name, utcnow())
    except AuthenticationFailed as failure:
        field = "otp" if failure.code == "otp-required" else "password"
        raise SignatureRefused(
            "Signature refused: " + (failure.message if failure.code != "authentication-failed"
                                     else "the password is not correct."),
            [FieldProblem(field, failure.message)], status=401 if failure.code != "account-locked" else 403,
        ) from None


def separation_problem(session: Session, record: SignableRecord, *, meaning: str, user_id: int | None) -> str | None:
    """Why ``user_id`` may not sign ``record`` with ``meaning``, or None."""
    if meaning not in APPROVAL_MEANINGS or user_id is None:
        return None
    if record.author_user_id() == user_id:
        return "The author of a record cannot approve or release it."
    authored = session.scalar(
        select(ElectronicSignature.id).where(
            ElectronicSignature.record_type == record.__audit_type__,
            ElectronicSignature.record_id == str(record.id),
            ElectronicSignature.signer_id == user_id,
            ElectronicSignature.meaning == "authored",
        )
    )
    if authored is not None:
        return "You signed this record as its author, so you cannot approve or release it."
    return None


def sign(session: Session, *, record: SignableRecord, meaning: str, actor: Actor, proof: SignerProof,
         reason: str | None = None) -> ElectronicSignature:
    if meaning not in MEANINGS:
        raise ValidationFailed.on("meaning", f"Unknown signature meaning {meaning!r}.")
    # 21 CFR 11.200(a)(1): a signature is executed by its genuine owner, now.
    if proof.user_id != actor.user_id or utcnow() - proof.at > _PROOF_MAX_AGE:
        raise SignatureRefused("Re-enter your password to sign.")
    problem = separation_problem(session, record, meaning=meaning, user_id=actor.user_id)
    if problem:
        raise SignatureRefused(problem)
    now = utcnow()
    content = content_hash(record, meaning)
    record_id = str(record.id)
    sig = ElectronicSignature(
        record_type=record.__audit_type__, record_id=record_id, signer_id=proof.user_id,
        signer_username=actor.username, printed_name=proof.printed_name, meaning=meaning, signed_at=now,
        reason=reason, content_hash=content,
        binding=_binding(record_type=record.__audit_type__, record_id=record_id, signer_id=proof.user_id,
                         printed_name=proof.printed_name, meaning=meaning, signed_at=now, reason=reason,
                         content=content),
    )
    session.add(sig)
    session.flush()
    return sig


@dataclass(frozen=True)
class SignatureView:
    id: int
    printed_name: str
    username: str
    meaning: str
    signed_at: datetime
    reason: str | None
    valid: bool
    problem: str | None


def signatures_for(session: Session, record: SignableRecord) -> list[SignatureView]:
    """The record's signatures, each checked against the record as it is now."""
    current: dict[str, str] = {}
    rows = session.scalars(
        select(ElectronicSignature)
        .where(ElectronicSignature.record_type == record.__audit_type__,
               ElectronicSignature.record_id == str(record.id))
        .order_by(ElectronicSignature.id)
    )
    views = []
    for sig in rows:
        expected = _binding(record_type=sig.record_type, record_id=sig.record_id, signer_id=sig.signer_id,
                            printed_name=sig.printed_name, meaning=sig.meaning, signed_at=sig.signed_at,
                            reason=sig.reason, content=sig.content_hash)
        if sig.meaning not in current:
            current[sig.meaning] = content_hash(record, sig.meaning)
        problem = None
        if not hmac.compare_digest(expected, sig.binding):
            problem = "Signature manifest altered or moved from another record."
        elif sig.content_hash != current[sig.meaning]:
            problem = "Record changed after signing."
        views.append(SignatureView(sig.id, sig.printed_name, sig.signer_username, sig.meaning, sig.signed_at,
                                   sig.reason, problem is None, problem))
    return views
