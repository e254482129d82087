"""Jinja2 environment, language negotiation and the page renderer shared by every module's pages."""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from babel.support import NullTranslations, Translations
from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from pharmos.auth.permissions import PERMISSIONS
from pharmos.core.actor import Actor
from pharmos.core.clock import as_utc
from pharmos.core.config import get_settings

WEB_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"
TRANSLATIONS_DIR = WEB_DIR / "translations"
LANGUAGES = ("zh_CN", "en")
LANGUAGE_COOKIE = "pharmos_lang"


@lru_cache(maxsize=4)
def translations(language: str) -> NullTranslations:
    return Translations.load(str(TRANSLATIONS_DIR), [language], domain="messages")


def _match(tag: str) -> str | None:
    tag = tag.strip().replace("-", "_").lower()
    if tag.startswith("zh"):
        return "zh_CN"
    if tag.startswith("en"):
        return "en"
    return None


def language_for(request: Request) -> str:
    """Signed-in user's preference, else the login page's switch, else Accept-Language, else zh_CN."""
    actor: Actor | None = getattr(request.state, "actor", None)
    if actor is not None and actor.kind == "user" and actor.language in LANGUAGES:
        return actor.language
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in LANGUAGES:
        return str(chosen)
    ranked = []
    for part in request.headers.get("accept-language", "").split(","):
        tag, _, q = part.partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            weight = 0.0
        found = _match(tag)
        if found:
            ranked.append((weight, found))
    if ranked:
        return max(ranked, key=lambda r: r[0])[1]
    default = get_settings().default_language
    return default if default in LANGUAGES else "zh_CN"


def local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """Timestamps are stored in UTC and shown in the site's time zone (ALCOA+ 'legible')."""
    if value is None:
        return ""
    return as_utc(value).astimezone(ZoneInfo(get_settings().site_timezone)).strftime(fmt)


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES_DIR)), autoescape=select_autoescape(["html"]),
                      extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
    env.filters["localtime"] = local_time
    env.globals["PERMISSIONS"] = PERMISSIONS
    env.globals["translate_message"] = translate_message
    return env


def render(request: Request, template: str, context: dict[str, Any] | None = None, *, status: int = 200,
           language: str | None = None) -> HTMLResponse:
    lang = language or language_for(request)
    trans = translations(lang)
    actor: Actor | None = getattr(request.state, "actor", None)
    values: dict[str, Any] = {
        "request": request,
        "actor": actor if actor is not None and actor.kind == "user" else None,
        "csrf_token": getattr(request.state, "csrf_token", ""),
        "lang": lang,
        "html_lang": "zh-CN" if lang == "zh_CN" else "en",
        "site_name": get_settings().site_name,
        "site_timezone": get_settings().site_timezone,
        # The i18n extension resolves these from the render context, so each request gets its own language.
        "gettext": trans.gettext,
        "ngettext": trans.ngettext,
        "errors": {},
        "values": {},
    }
    values.update(context or {})
    html = environment().get_template(template).render(values)
    return HTMLResponse(html, status_code=status)


@lru_cache(maxsize=1)
def _patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    from pharmos.web.messages import PATTERNED_MESSAGES

    return tuple((re.compile(pattern), msgid) for pattern, msgid in PATTERNED_MESSAGES)


def translate_message(language: str, message: str) -> str:
    """A service's English message in the user's language (fixed or with values), else unchanged."""
    if not message.strip():
        return message  # gettext("") is the catalogue's header, never a translation
    trans = translations(language)
    translated = trans.gettext(message)
    if translated != message:
        return translated
    for pattern, msgid in _patterns():
        found = pattern.fullmatch(message)
        if found:
            return trans.gettext(msgid) % found.groupdict()
    return message


def translate(request: Request, message: str) -> str:
    return translate_message(language_for(request), message)


# Rows per page on HTML lists (the API has its own cursor pages).
LIST_LIMIT = 200


def page_of_rows(request: Request, rows: list[Any]) -> tuple[list[Any], str | None]:
    """One page of a list read oldest first (LIST_LIMIT + 1 rows asked for), and the link to the next page."""
    if len(rows) <= LIST_LIMIT:
        return rows, None
    query = {k: v for k, v in request.query_params.items() if k != "after"}
    return rows[:LIST_LIMIT], f"{request.url.path}?{urlencode({**query, 'after': rows[LIST_LIMIT - 1].id})}"
