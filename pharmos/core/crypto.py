"""Encryption at rest for secrets we must be able to read back (TOTP seeds, channel secrets)."""

from __future__ import annotations

import base64
import hashlib
import secrets

from cryptography.fernet import Fernet, InvalidToken

from pharmos.core.config import get_settings


def _fernet() -> Fernet:
    key = hashlib.sha256(("pharmos-at-rest:" + get_settings().secret_key).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    try:
        return _fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:  # secret key rotated without re-encryption
        raise ValueError("stored secret cannot be decrypted with the current PHARMOS_SECRET_KEY") from exc


def token_digest(token: str) -> str:
    """Bearer tokens are stored as SHA-256 only; the plaintext is shown once."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(32)}"
