"""Reach materials states the way users do: through the services, never by writing rows.

Every helper takes the ``site`` fixture's actors (or actors made here) and returns views.
Names and signatures are shared by all materials tests; keep them stable.
"""

from __future__ import annotations

import contextlib
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from pharmos.auth import service as auth
from pharmos.compliance.lifecycle import apply_transition
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today
from pharmos.core.errors import Conflict
from pharmos.materials import service as materials
from pharmos.materials.receiving import OrderLineInput, ReceiptLineInput
from pharmos.materials.views import LocationView, LotView, MaterialView, SupplierView
from pharmos.site import service as site_settings
from tests.conftest import password_of

SETUP = Actor.system("test-setup")


def person(username: str, role: str | list[str], full_name: str | None = None) -> Actor:
    """A logged-in user with built-in role(s) (created on first use; password '<username>-pass1')."""
    with contextlib.suppress(Conflict):  # made by an earlier call in this test
        auth.create_user(actor=SETUP, username=username, full_name=full_name or username,
                         password=password_of(username), roles=[role] if isinstance(role, str) else role)
    return auth.login(username=username, password=password_of(username)).actor


def site_people() -> dict[str, Actor]:
    """The ``site`` fixture's people on whatever database is configured (for ``sqlite_url`` tests)."""
    auth.ensure_builtin_roles(actor=SETUP)
    return {username: person(username, role, name) for username, role, name in [
        ("admin.wang", "admin", "王强"),
        ("qa.li", "qa_manager", "李娜"),
        ("qa.zhang", "qa_specialist", "张伟"),
        ("viewer.chen", "viewer", "陈静"),
        ("op.liu", "operator", "刘洋"),
    ]}


def effective_setting(site: dict[str, Actor], key: str, value: str) -> None:
    """A controlled site setting put in force: drafted by qa.zhang, approved by qa.li."""
    author, approver = site["qa.zhang"], site["qa.li"]
    setting = site_settings.draft_setting(actor=author, key=key, value=value, description="test")
    apply_transition(actor=author, collection="controlled-settings", record_id=setting.id, name="submit",
                     password=password_of(author.username), meaning="authored")
    apply_transition(actor=approver, collection="controlled-settings", record_id=setting.id, name="approve",
                     password=password_of(approver.username), meaning="approved")


def warehouse_user(site: dict[str, Actor], username: str = "wh.zhao") -> Actor:
    """A warehouse clerk: drafts materials, keeps locations and receives deliveries."""
    return person(username, "warehouse", "赵磊")


def qc_user(site: dict[str, Actor], username: str = "qc.sun") -> Actor:
    """A QC analyst: starts lot testing and sets retest dates."""
    return person(username, "qc_analyst", "孙悦")


def location_tree(actor: Actor) -> dict[str, LocationView]:
    """Site HD → warehouse WH1 → zones RCV, CR, AMB, FRZ → one bin each (by code)."""
    made: dict[str, LocationView] = {}

    def add(code: str, name: str, kind: str, parent: str | None, storage_class: str, light: bool = False) -> None:
        made[code] = materials.create_location(actor=actor, code=code, name=name, kind=kind, parent_code=parent,
                                               storage_class=storage_class, light_protected=light)

    add("HD", "海淀生产基地", "site", None, "15-25C")
    add("WH1", "一号仓库", "warehouse", "HD", "15-25C")
    add("RCV", "收货区", "zone", "WH1", "15-25C")
    add("CR", "冷库", "zone", "WH1", "2-8C")
    add("AMB", "常温库", "zone", "WH1", "15-25C")
    add("FRZ", "冷冻库", "zone", "WH1", "-20C")
    add("RCV-01", "收货位01", "bin", "RCV", "15-25C")
    add("CR-A01", "冷库A01", "bin", "CR", "2-8C")
    add("AMB-A01", "常温A01（避光）", "bin", "AMB", "15-25C", light=True)
    add("FRZ-01", "冷冻位01", "bin", "FRZ", "-20C")
    return made


def approved_material(author: Actor, approver: Actor, code: str = "RM-0001", storage_condition: str = "15-25C",
                      base_unit: str = "kg", **kw: Any) -> MaterialView:
    """A material drafted by ``author`` and approved (signed) by ``approver``."""
    fields: dict[str, Any] = {"name_zh": f"物料{code}", "name_en": f"Material {code}", "material_type": "raw_material"}
    fields.update(kw)
    draft = materials.draft_material(actor=author, code=code, storage_condition=storage_condition,
                                     base_unit=base_unit, **fields)
    apply_transition(actor=approver, collection="materials", record_id=draft.id, name="approve",
                     password=password_of(approver.username), meaning="approved")
    return materials.get_material(actor=approver, material_id=draft.id)


def approved_supplier(author: Actor, qa: Actor, material_codes: list[str] | tuple[str, ...],
                      code: str = "SUP-001", status: str = "approved") -> SupplierView:
    """A supplier created by ``author`` and put on the approved supplier list by ``qa`` for each code."""
    supplier = materials.create_supplier(actor=author, code=code, name=f"供应商{code}", name_en=f"Supplier {code}")
    for material_code in material_codes:
        supplier = materials.set_supplier_approval(actor=qa, supplier_id=supplier.id, material_code=material_code,
                                                   status=status, reason="Supplier audit passed")
    return supplier


def received_lot(site: dict[str, Actor], *, material_code: str, supplier_id: int, quantity: str = "10",
                 unit: str = "kg", containers: int = 1, expires_on: date | None = None,
                 location_code: str = "RCV-01", receiver: Actor | None = None,
                 transport_min_c: Decimal | str | None = None, transport_max_c: Decimal | str | None = None,
                 manufactured_on: date | None = None, retest_on: date | None = None,
                 supplier_lot: str | None = None) -> LotView:
    """One quarantined lot: a purchase order for exactly the quantity, then its receipt."""
    receiver = receiver or warehouse_user(site)
    order = materials.create_purchase_order(
        actor=receiver, supplier_id=supplier_id,
        lines=[OrderLineInput(material_code=material_code, quantity=quantity, unit=unit,
                              due_on=site_today() + timedelta(days=7))])
    receipt = materials.receive_delivery(
        actor=receiver, order_id=order.id, location_code=location_code,
        transport_min_c=transport_min_c, transport_max_c=transport_max_c,
        lines=[ReceiptLineInput(order_line_id=order.lines[0].id,
                                supplier_lot=supplier_lot or f"S-{order.number}",
                                expires_on=expires_on or site_today() + timedelta(days=365), quantity=quantity,
                                unit=unit, containers=containers, manufactured_on=manufactured_on,
                                retest_on=retest_on)])
    return receipt.lots[0]


def released_lot(site: dict[str, Actor], **kw: Any) -> LotView:
    """A lot received, put under test by QC and released by qa.li with her signature."""
    lot = received_lot(site, **kw)
    apply_transition(actor=qc_user(site), collection="lots", record_id=lot.id, name="start_testing")
    qa = site["qa.li"]
    apply_transition(actor=qa, collection="lots", record_id=lot.id, name="release",
                     password=password_of(qa.username), meaning="released", reason="Meets specification")
    return materials.get_lot(actor=qa, lot_id=lot.id)


def as_time_passes(lot_id: int, *, expires_on: date | None = None, retest_on: date | None = None) -> None:
    """Put a lot's dates where the calendar will have moved them.

    Receiving refuses dates already past, and the clock is not ours to move, so a lot that
    has since expired or fallen due for retest is arranged by moving its dates back.
    """
    from pharmos.core.db import transaction
    from pharmos.materials.models import Lot

    with transaction(actor=SETUP, reason="test arrangement: time passes") as session:
        lot = session.get(Lot, lot_id)
        assert lot is not None
        if expires_on is not None:
            lot.expires_on = expires_on
        if retest_on is not None:
            lot.retest_on = retest_on
