"""The equipment logbook and the status cache it explains; the usability rule batch execution asks.

Every change to an equipment's status for batch use goes through ``write_entry`` in the
same transaction as the change to the cached columns on ``equipment``, so the logbook is
the complete history (EU GMP Part I 4.31, 药品GMP 第八十六条: logbooks for major
equipment record use, cleaning, maintenance and calibration with dates and names).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from pharmos.core.actor import Actor
from pharmos.core.clock import as_utc, site_date, utcnow
from pharmos.equipment.models import Equipment, EquipmentClass, LogbookEntry
from pharmos.equipment.views import UsabilityReason, UsabilityView

LOGBOOK_KINDS = ("use_started", "use_ended", "cleaned", "marked_dirty", "calibration", "maintenance", "fault",
                 "inspection", "qualification", "status", "counter", "note")


def write_entry(session: Session, *, equipment: Equipment, kind: str, actor: Actor, at: datetime | None = None,
                reference: str = "", description: str = "", valid_until: datetime | None = None,
                counter_value: Decimal | None = None, source_number: str = "") -> LogbookEntry:
    """Append one logbook entry (the caller changes the equipment's cached status alongside)."""
    if kind not in LOGBOOK_KINDS:
        raise ValueError(f"unknown logbook kind {kind!r}")
    entry = LogbookEntry(equipment_id=equipment.id, kind=kind, at=at or utcnow(), reference=reference,
                         description=description, valid_until=valid_until, counter_value=counter_value,
                         source_number=source_number, actor_id=actor.user_id, actor=actor.username)
    session.add(entry)
    return entry


def _stamp(value: datetime) -> str:
    return as_utc(value).strftime("%Y-%m-%d %H:%M UTC")


def assess_usability(equipment: Equipment, equipment_class: EquipmentClass, *, at: datetime,
                     for_reference: str | None = None) -> UsabilityView:
    """Every reason ``equipment`` may not be used at ``at`` (for the batch/activity ``for_reference``).

    Reads only the row's cached status, so it is one primary-key read however long the
    logbook grows. ``at`` may lie in the future (planning: will it still be in calibration
    on the batch's start date?); the cache describes now, so past instants are answered
    from the logbook, not here.
    """
    at = as_utc(at)
    day = site_date(at)
    reasons: list[UsabilityReason] = []

    def add(code: str, en: str, zh: str) -> None:
        reasons.append(UsabilityReason(code, en, zh))

    # EU GMP Part I 3.44 / 药品GMP 第八十四条: defective or out-of-service equipment is not used.
    if equipment.state == "commissioning":
        add("commissioning", "Not yet released to service (commissioning).", "尚未放行使用（调试中）。")
    elif equipment.state == "out_of_service":
        add("out_of_service", "Out of service.", "已停用。")
    elif equipment.state == "retired":
        add("retired", "Retired.", "已报废。")
    # EU GMP Part I 3.41 / 药品GMP 第九十二条: instruments are used only within their calibration.
    if equipment.calibration_required:
        if equipment.calibration_status == "out_of_tolerance":
            add("calibration_failed", "The last calibration failed: out of tolerance.",
                "最近一次校准不合格：超出允差。")
        elif equipment.calibration_status == "never_calibrated" or equipment.calibration_due_on is None:
            add("calibration_missing", "No passing calibration recorded.", "没有合格的校准记录。")
        elif equipment.calibration_due_on < day:
            add("calibration_overdue", f"Calibration overdue since {equipment.calibration_due_on.isoformat()}.",
                f"校准已于 {equipment.calibration_due_on.isoformat()} 到期。")
    # EU GMP Annex 15 §4.1: equipment is qualified before use and kept in a qualified state.
    if equipment.gmp_critical:
        if equipment.pq_on is None:
            add("not_qualified", "No passed performance qualification (PQ) recorded.", "没有通过的性能确认（PQ）记录。")
        elif equipment.requalification_due_on is not None and equipment.requalification_due_on < day:
            add("qualification_expired",
                f"Requalification overdue since {equipment.requalification_due_on.isoformat()}.",
                f"再确认已于 {equipment.requalification_due_on.isoformat()} 到期。")
    # EU GMP Part I 5.18-5.20 / 药品GMP 第八十四条: cleaning status and hold times prevent cross-contamination.
    if equipment.clean_status == "dirty":
        since = equipment.dirty_since
        add("not_clean", "Not clean" + (f" since {_stamp(since)}." if since else "."),
            "未清洁" + (f"（自 {_stamp(since)} 起）。" if since else "。"))
        hold = equipment_class.dirty_hold_hours
        if since is not None and hold is not None and as_utc(since) + timedelta(hours=hold) < at:
            add("dirty_hold_expired", f"Dirty hold time of {hold} h exceeded; clean with the extended procedure.",
                f"已超过 {hold} 小时待清洁放置时间；需按延长清洁程序清洁。")
    elif equipment.clean_status == "clean" and equipment.clean_expires_at is not None \
            and as_utc(equipment.clean_expires_at) < at:
        add("clean_hold_expired", f"Clean hold time expired at {_stamp(equipment.clean_expires_at)}; clean again.",
            f"清洁有效期已于 {_stamp(equipment.clean_expires_at)} 过期；需重新清洁。")
    if equipment.in_use_by is not None and equipment.in_use_by != (for_reference or None):
        add("in_use", f"In use by {equipment.in_use_by}.", f"正被 {equipment.in_use_by} 使用。")
    return UsabilityView(equipment_id=equipment.id, number=equipment.number, at=at, usable=not reasons,
                         reasons=tuple(reasons))
