"""The dashboard's figures, read through each module's services and only where the user may see them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

from pharmos.auth import service as auth
from pharmos.batches import service as batches
from pharmos.compliance import service as compliance
from pharmos.core.actor import Actor
from pharmos.core.clock import utcnow
from pharmos.core.config import get_settings
from pharmos.equipment import service as equipment
from pharmos.materials import service as materials
from pharmos.quality import service as quality
from pharmos.site import service as site


@dataclass(frozen=True)
class Figure:
    key: str
    value: int
    link: str


def site_figures(*, actor: Actor) -> list[Figure]:
    figures: list[Figure] = []
    if actor.can("auth.view_users"):
        active = [u for u in auth.list_users(actor=actor, active=True)]
        figures.append(Figure("users", len(active), "/users"))
    if actor.can("audit.view"):
        zone = ZoneInfo(get_settings().site_timezone)
        # "Today" is the site's calendar day, not UTC's.
        midnight = datetime.combine(utcnow().astimezone(zone).date(), time.min, tzinfo=zone)
        figures.append(Figure("audit_today", compliance.count_audit_entries(actor=actor, since=midnight), "/audit"))
    if actor.can("settings.view"):
        in_review = site.list_settings(actor=actor, state="in_review", limit=1000)
        figures.append(Figure("settings_in_review", len(in_review), "/settings?state=in_review"))
    if actor.can("materials.view"):
        # Only QC-tested lots can be released (EU GMP Part I 5.61): those are the ones waiting for QA.
        awaiting = materials.list_lots(actor=actor, state="under_test", limit=1000)
        figures.append(Figure("lots_awaiting_release", len(awaiting), "/lots?state=under_test"))
        expiring = materials.list_lots(actor=actor, expiring_within_days=30, limit=1000)
        figures.append(Figure("lots_expiring_30", len(expiring), "/stock/expiry#within-30"))
        flagged = materials.list_lots(actor=actor, flagged=True, limit=1000)
        figures.append(Figure("lots_flagged", len(flagged), "/lots?flagged=1"))
    if actor.can("equipment.view"):
        # 药品GMP 第九十二条: instruments past their calibration date must not be used; make them visible.
        overdue = equipment.list_equipment(actor=actor, calibration="overdue", limit=1000)
        figures.append(Figure("calibrations_overdue", len(overdue), "/equipment?calibration=overdue"))
        open_orders = equipment.list_work_orders(actor=actor, open_only=True, limit=1000)
        figures.append(Figure("work_orders_open", len(open_orders), "/equipment/work-orders"))
        out_of_tolerance = equipment.list_equipment(actor=actor, calibration="out_of_tolerance", limit=1000)
        figures.append(Figure("instruments_out_of_tolerance", len(out_of_tolerance),
                              "/equipment?calibration=out_of_tolerance"))
        assessments = equipment.list_impact_assessments(actor=actor, state="open", limit=1000)
        figures.append(Figure("impact_assessments_open", len(assessments), "/equipment/calibrations#assessments"))
        missed = equipment.list_inspection_rounds(actor=actor, state="missed", limit=1000)
        figures.append(Figure("rounds_missed", len(missed), "/equipment/tablet#missed"))
        low = equipment.list_spare_parts(actor=actor, low_stock=True, limit=1000)
        figures.append(Figure("spare_parts_low", len(low), "/equipment/spare-parts?low=1"))
    if actor.can("batches.view"):
        # EU GMP Annex 16 §1.7: executed batches wait for QA's review before release; holds need decisions.
        for key, state in (("batches_in_progress", "in_progress"), ("batches_on_hold", "on_hold"),
                           ("batches_in_review", "in_review")):
            figures.append(Figure(key, len(batches.list_batches(actor=actor, state=state, limit=1000)),
                                  f"/batches?state={state}"))
    if actor.can("quality.view"):
        # 药品GMP 第二百五十条 / ICH Q10 3.2.2: open and late deviations and CAPA are QA's daily worklist.
        counts = quality.quality_counts(actor=actor)
        figures.append(Figure("deviations_open", counts.open_deviations, "/quality/deviations"))
        figures.append(Figure("deviations_overdue", counts.overdue_deviations, "/quality/deviations?overdue=1"))
        figures.append(Figure("capas_open", counts.open_capas, "/quality/capas"))
        figures.append(Figure("capas_overdue", counts.overdue_capas, "/quality/capas?overdue=1"))
        figures.append(Figure("capas_awaiting_effectiveness", counts.capas_awaiting_effectiveness,
                              "/quality/capas?awaiting=1"))
        figures.append(Figure("change_controls_open", counts.open_change_controls, "/quality/change-controls"))
        figures.append(Figure("complaints_open", counts.open_complaints, "/quality/complaints"))
        figures.append(Figure("training_overdue", counts.training_overdue, "/quality/training/records?overdue=1"))
        figures.append(Figure("documents_due_for_review", counts.documents_due_for_review,
                              "/quality/documents?due=1"))
    return figures
