"""Reach equipment states the way users do: through the services, never by writing rows.

Shared by every equipment test (service, API, pages, browser); keep names and signatures
stable and add helpers at the end rather than changing existing ones.
"""

from __future__ import annotations

import contextlib
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from pharmos.compliance.lifecycle import apply_transition
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today
from pharmos.core.errors import Conflict, ValidationFailed
from pharmos.equipment import service as equipment
from pharmos.equipment.metrology import CalibrationPointInput
from pharmos.equipment.views import EquipmentView
from tests.conftest import password_of
from tests.materials.factories import SETUP, person

__all__ = [
    "SETUP",
    "calibrate",
    "engineer",
    "ensure_class",
    "new_equipment",
    "owner",
    "person",
    "qa_manager",
    "qualify",
    "release",
    "sign",
    "technician",
    "usable_equipment",
]


def engineer() -> Actor:
    """A maintenance/metrology engineer (registers equipment, records calibrations, plans PM)."""
    return person("eng.sun", "maintenance", "孙工")


def technician(username: str = "tech.zhou") -> Actor:
    """A second maintenance user: performs work orders, so a different person can close them."""
    return person(username, "maintenance", "周师傅")


def owner() -> Actor:
    """A production supervisor who owns process equipment and closes its work orders."""
    return person("sup.ma", "production_supervisor", "马主管")


def qa_manager(site: dict[str, Actor]) -> Actor:
    return site["qa.li"]


def sign(actor: Actor, collection: str, record_id: int, name: str, *, reason: str | None = None,
         meaning: str | None = None) -> str:
    """Apply a lifecycle transition as ``actor``, signing with their password where it is needed."""
    return apply_transition(actor=actor, collection=collection, record_id=record_id, name=name,
                            password=password_of(actor.username), meaning=meaning, reason=reason)


_CLASSES = {
    # code: (name_zh, name_en, prefix, instrument, cal days, requal days, clean hold h, dirty hold h)
    "bioreactor": ("生物反应器", "Bioreactor", "BR", False, None, 365, 72, 24),
    "balance": ("天平", "Balance", "BAL", True, 180, 730, None, None),
    "ph_meter": ("pH计", "pH meter", "PH", True, 90, None, None, None),
    "freezer": ("冰箱/冷柜", "Freezer", "FRZ", False, None, 365, None, None),
}


def ensure_class(code: str = "bioreactor") -> str:
    """One of a few standard equipment classes (created on first use); returns its code."""
    name_zh, name_en, prefix, instrument, cal, requal, clean, dirty = _CLASSES[code]
    with contextlib.suppress(Conflict, ValidationFailed):  # made by an earlier call in this test
        equipment.create_equipment_class(
            actor=engineer(), code=code, name_zh=name_zh, name_en=name_en, number_prefix=prefix,
            is_instrument=instrument, calibration_interval_days=cal, requalification_interval_days=requal,
            clean_hold_hours=clean, dirty_hold_hours=dirty)
    return code


def new_equipment(class_code: str = "bioreactor", **fields: Any) -> EquipmentView:
    """Registered equipment in commissioning (no qualification, no calibration)."""
    ensure_class(class_code)
    defaults: dict[str, Any] = {"name_zh": f"测试{class_code}", "name_en": f"Test {class_code}",
                                   "location": "B2-301", "manufacturer": "Sartorius", "model": "Biostat STR"}
    if _CLASSES[class_code][3]:
        defaults |= {"range_low": Decimal(0), "range_high": Decimal(220), "range_unit": "g",
                     "tolerance": Decimal("0.001"), "manufacturer": "Mettler Toledo", "model": "XPR225"}
    return equipment.register_equipment(actor=engineer(), class_code=class_code, **(defaults | fields))


def qualify(equipment_id: int, *, on: date | None = None) -> EquipmentView:
    """Passed IQ, OQ and PQ on ``on`` (default 30 days ago)."""
    on = on or site_today() - timedelta(days=30)
    view = None
    for phase in ("IQ", "OQ", "PQ"):
        view = equipment.record_qualification(actor=engineer(), equipment_id=equipment_id, phase=phase,
                                              protocol_number=f"{phase}-P-001", completed_on=on, passed=True,
                                              performed_by="验证部 王工")
    assert view is not None
    return view


def calibrate(equipment_id: int, *, on: date | None = None, as_left: str = "100.0000", as_found: str | None = None,
              result: str = "pass", comment: str = "") -> object:
    """A calibration with one point at 100 (in the equipment's range unit)."""
    return equipment.record_calibration(
        actor=engineer(), equipment_id=equipment_id, performed_on=on or site_today() - timedelta(days=1),
        kind="internal", performed_by="计量室 孙工", result=result, comment=comment,
        reference_standard="E2 砝码 100 g", points=[CalibrationPointInput(
            nominal=Decimal("100"), as_left=Decimal(as_left),
            as_found=Decimal(as_found) if as_found is not None else None)])


def release(site: dict[str, Actor], equipment_id: int) -> str:
    return sign(site["qa.li"], "equipment", equipment_id, "release_to_service")


def usable_equipment(site: dict[str, Actor], class_code: str = "bioreactor", *, clean: bool = True,
                     **fields: Any) -> EquipmentView:
    """Qualified, calibrated where needed, released to service and (where tracked) clean."""
    view = new_equipment(class_code, **fields)
    qualify(view.id)
    if view.calibration_required:
        calibrate(view.id)
    release(site, view.id)
    if clean and view.clean_status != "not_tracked":
        equipment.record_cleaning(actor=engineer(), equipment_id=view.id, procedure="SOP-CL-001")
    return equipment.get_equipment(actor=SETUP, equipment_id=view.id)
