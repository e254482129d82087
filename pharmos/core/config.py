"""Settings read from ``PHARMOS_*`` environment variables (documented in docs/admin/settings.md)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DB_PATH = Path("var") / "pharmos.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PHARMOS_", extra="ignore")

    database_url: str = Field(default=f"sqlite:///{DEFAULT_DB_PATH}")
    secret_key: str = Field(default="dev-insecure-change-me-0123456789abcdef")
    site_name: str = "Pharmos"
    site_timezone: str = "Asia/Shanghai"
    default_language: str = "zh_CN"

    # EU GMP Annex 11 §12.1 / 21 CFR 11.300(d): lock after repeated failed attempts.
    lockout_threshold: int = Field(default=5, ge=1, le=20)
    # 21 CFR 11.300(b): passwords are periodically revised; 0 disables expiry.
    password_max_age_days: int = Field(default=90, ge=0)
    password_min_length: int = Field(default=10, ge=8)
    # Argon2id cost (RFC 9106 second recommended option: t=3, m=64 MiB). Lower only for test suites.
    password_hash_time_cost: int = Field(default=3, ge=1)
    password_hash_memory_kib: int = Field(default=65536, ge=8)
    # Idle timeout, capped at 30 minutes (issue #2, Annex 11 §12).
    session_idle_minutes: int = Field(default=15, ge=1, le=30)
    session_absolute_hours: int = Field(default=12, ge=1, le=24)

    cookie_secure: bool = False
    git_commit: str | None = None

    @field_validator("site_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r} (e.g. Asia/Shanghai)") from None
        return value

    @field_validator("database_url")
    @classmethod
    def _normalise_postgres_driver(cls, value: str) -> str:
        # psycopg 3 is the only PostgreSQL driver we ship.
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            return "postgresql+psycopg://" + value.split("://", 1)[1]
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings_cache() -> None:
    get_settings.cache_clear()
