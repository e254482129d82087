"""Container status labels: one 100 × 70 mm PDF page per numbered drum, bag or box.

A status label tells the person at the shelf, without a terminal, whether the container may
be used (EU GMP Part I 5.13 / 药品GMP 第一百二十条: containers are labelled with name, internal
code, lot number and status — quarantine, under test, released, rejected — and, where
relevant, expiry and retest dates). The QR code carries the container number, so scanning
it in the UI opens the lot (``service.find_by_scan``).

This module only draws: the service (``exchange.lot_labels_pdf``) reads the lot, checks the
permission and records the issuance in the audit trail.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from pharmos.core.labels import PDF_FONT, draw_qr, fit_text, label_canvas
from pharmos.materials.storage import STORAGE_CONDITIONS

LABEL_WIDTH_MM = 100
LABEL_HEIGHT_MM = 70


@dataclass(frozen=True)
class StatusBand:
    """The coloured band across the top of a label: the status readable from across the aisle."""

    text_zh: str
    text_en: str
    colour: str  # band fill, hex
    text_colour: str  # hex, chosen for contrast on the fill

    @property
    def text(self) -> str:
        return f"{self.text_zh} {self.text_en}"


_YELLOW = "#FFD200"
_GREEN = "#1E8E3E"
_RED = "#D32F2F"
STATUS_BANDS: dict[str, StatusBand] = {
    "quarantine": StatusBand("待验", "QUARANTINE", _YELLOW, "#000000"),
    "under_test": StatusBand("检验中", "UNDER TEST", _YELLOW, "#000000"),
    "released": StatusBand("合格", "RELEASED", _GREEN, "#FFFFFF"),
    "rejected": StatusBand("不合格", "REJECTED", _RED, "#FFFFFF"),
    "expired": StatusBand("过期", "EXPIRED", _RED, "#FFFFFF"),
}


def label_status(*, state: str, expires_on: date, today: date) -> str:
    """The status a label shows: the lot's state, or ``expired`` once the expiry date is reached.

    The daily job moves expired lots to ``expired``; a label printed before it runs must not
    still say RELEASED (or QUARANTINE) on a lot that is past its expiry date.
    """
    if state in ("quarantine", "under_test", "released") and expires_on <= today:
        return "expired"
    return state


def status_band(status: str) -> StatusBand:
    try:
        return STATUS_BANDS[status]
    except KeyError:
        raise ValueError(f"no status label for lot state {status!r}") from None


@dataclass(frozen=True)
class ContainerLabel:
    """Everything printed on one container's label."""

    company: str
    status: str  # a key of STATUS_BANDS
    material_code: str
    material_name_zh: str
    material_name_en: str
    lot_number: str
    supplier_lot: str
    container_number: str
    quantity: Decimal
    unit: str
    expires_on: date
    retest_on: date | None
    storage_condition: str  # a key of storage.STORAGE_CONDITIONS
    protect_from_light: bool
    printed_by: str
    printed_at_local: datetime


def storage_text(condition: str, protect_from_light: bool) -> tuple[str, str]:
    """The storage condition as printed: (Chinese line, English line)."""
    en, zh = STORAGE_CONDITIONS.get(condition, (condition, condition))
    if protect_from_light:
        zh += " 避光"
        en += " · protect from light"
    return zh, en


def quantity_text(quantity: Decimal, unit: str) -> str:
    # The ledger keeps 6 decimals; the label shows what a person would write (25 kg, not 25.000000 kg).
    shown = format(quantity.normalize(), "f")
    return f"{shown} {unit}"


def render_labels(labels: Sequence[ContainerLabel], *, title: str = "Container labels") -> bytes:
    """One page per label, in the order given."""
    from reportlab.lib import colors
    from reportlab.lib.units import mm

    width, height = LABEL_WIDTH_MM * mm, LABEL_HEIGHT_MM * mm
    margin = 3 * mm
    band_height = 13 * mm
    qr_size = 28 * mm
    buffer = io.BytesIO()
    canvas = label_canvas(buffer, width_mm=LABEL_WIDTH_MM, height_mm=LABEL_HEIGHT_MM, title=title)

    for label in labels:
        band = status_band(label.status)
        # Status band.
        canvas.setFillColor(colors.HexColor(band.colour))
        canvas.rect(0, height - band_height, width, band_height, stroke=0, fill=1)
        canvas.setFillColor(colors.HexColor(band.text_colour))
        canvas.setFont(PDF_FONT, 18)
        canvas.drawCentredString(width / 2, height - band_height + 4 * mm, band.text)

        # QR code of the container number, bottom right, with the number printed under it.
        qr_x = width - margin - qr_size
        qr_y = margin + 12.5 * mm
        draw_qr(canvas, label.container_number, x=qr_x, y=qr_y, size=qr_size)
        canvas.setFillColor(colors.black)
        canvas.setFont(PDF_FONT, 6.5)
        canvas.drawCentredString(qr_x + qr_size / 2, qr_y - 1.5 * mm,
                                 fit_text(label.container_number, 6.5, qr_size + margin))

        # Text block, left of the QR code.
        text_room = qr_x - 2 * margin
        y = height - band_height - 5 * mm
        canvas.setFont(PDF_FONT, 11)
        canvas.drawString(margin, y, fit_text(f"{label.material_code}  {label.material_name_zh}", 11, text_room))
        y -= 4 * mm
        if label.material_name_en:
            canvas.setFont(PDF_FONT, 7.5)
            canvas.drawString(margin, y, fit_text(label.material_name_en, 7.5, text_room))
        lines = [
            ("批号 Lot", label.lot_number, 10),
            ("供应商批号 Supplier lot", label.supplier_lot or "—", 7.5),
            ("容器 Container", label.container_number, 7.5),
            ("数量 Quantity", quantity_text(label.quantity, label.unit), 10),
            ("有效期至 Expiry", label.expires_on.isoformat(), 10),
            ("复验期 Retest", label.retest_on.isoformat() if label.retest_on else "—", 8.5),
        ]
        for caption, value, size in lines:
            y -= max(size, 7.5) * 0.42 * mm + 1.6 * mm
            canvas.setFont(PDF_FONT, 6.5)
            canvas.drawString(margin, y, caption)
            canvas.setFont(PDF_FONT, size)
            caption_room = 27 * mm
            canvas.drawString(margin + caption_room, y, fit_text(value, size, text_room - caption_room))

        # Storage condition across the full width, then the issuing company and the print record.
        storage_zh, storage_en = storage_text(label.storage_condition, label.protect_from_light)
        canvas.setFont(PDF_FONT, 7.5)
        canvas.drawString(margin, margin + 7 * mm, fit_text(f"贮存条件 {storage_zh}", 7.5, width - 2 * margin))
        canvas.drawString(margin, margin + 3.5 * mm, fit_text(f"Storage: {storage_en}", 7.5, width - 2 * margin))
        canvas.setFont(PDF_FONT, 6)
        printed = f"{label.company} · 打印 printed {label.printed_at_local:%Y-%m-%d %H:%M} {label.printed_by}"
        canvas.drawString(margin, margin, fit_text(printed, 6, width - 2 * margin))
        canvas.showPage()

    canvas.save()
    return buffer.getvalue()
