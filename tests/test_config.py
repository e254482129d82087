"""Settings from PHARMOS_* environment variables refuse bad values at start-up."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pharmos.core.config import Settings


def test_unknown_time_zone_is_refused_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    # given a misspelt site time zone
    monkeypatch.setenv("PHARMOS_SITE_TIMEZONE", "Asia/Shanhai")
    # when the settings are read
    with pytest.raises(ValidationError) as exc:
        Settings()
    # then the error names the setting instead of failing later when times are shown
    assert exc.value.errors()[0]["loc"] == ("site_timezone",)


@pytest.mark.parametrize("minutes,ok", [(15, True), (30, True), (31, False), (0, False)])
def test_idle_timeout_is_capped_at_thirty_minutes(monkeypatch: pytest.MonkeyPatch, minutes: int, ok: bool) -> None:
    # given an idle timeout from the environment
    monkeypatch.setenv("PHARMOS_SESSION_IDLE_MINUTES", str(minutes))
    # when / then: EU GMP Annex 11 §12 - no unattended session beyond 30 minutes
    if ok:
        assert Settings().session_idle_minutes == minutes
    else:
        with pytest.raises(ValidationError):
            Settings()


def test_postgres_urls_use_the_shipped_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    # given a plain libpq-style URL
    monkeypatch.setenv("PHARMOS_DATABASE_URL", "postgresql://pharmos@db.internal:5432/pharmos")
    # when / then it is routed to psycopg 3
    assert Settings().database_url == "postgresql+psycopg://pharmos@db.internal:5432/pharmos"
