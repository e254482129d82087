"""Drawing pieces every printed label shares: the Chinese PDF font, text that fits, a QR code.

Modules draw their own label layouts (container status labels, equipment labels) with these,
so a QR code scans the same and a Chinese name prints the same on every label of the site.
Only drawing lives here: the services read the records, check permissions and audit printing.
"""

from __future__ import annotations

import io
from typing import Any

__all__ = ["PDF_FONT", "draw_qr", "fit_text", "label_canvas", "printable", "register_pdf_font"]

# Built-in Adobe CID font: Chinese in every PDF without shipping a font file.
PDF_FONT = "STSong-Light"


def register_pdf_font() -> None:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    if PDF_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(PDF_FONT))


def printable(text: str) -> str:
    # STSong-Light (Adobe-GB1) has no glyph for U+2212 MINUS SIGN and no reliable one for the
    # en dash; a missing glyph on a storage condition ("−20 °C") must never print as a blank.
    return text.replace("\u2212", "-").replace("\u2013", "-")


def fit_text(text: str, size: float, room: float) -> str:
    """``text`` as printable, cut with an ellipsis where it would run beyond ``room`` points."""
    from reportlab.pdfbase import pdfmetrics

    text = printable(text)
    if pdfmetrics.stringWidth(text, PDF_FONT, size) <= room:
        return text
    while text and pdfmetrics.stringWidth(text + "…", PDF_FONT, size) > room:
        text = text[:-1]
    return text + "…"


def label_canvas(buffer: io.BytesIO, *, width_mm: float, height_mm: float, title: str) -> Any:
    """A reportlab canvas of one label per page, with the label font registered."""
    from reportlab.lib.units import mm
    from reportlab.pdfgen.canvas import Canvas

    register_pdf_font()
    canvas = Canvas(buffer, pagesize=(width_mm * mm, height_mm * mm))
    canvas.setTitle(title)
    canvas.setAuthor("Pharmos")
    return canvas


def draw_qr(canvas: Any, data: str, *, x: float, y: float, size: float) -> None:
    """A square QR code (error correction M: readable with a scuffed corner) with its lower left at x, y."""
    from reportlab.graphics import renderPDF
    from reportlab.graphics.barcode.qr import QrCodeWidget
    from reportlab.graphics.shapes import Drawing

    widget = QrCodeWidget(data, barLevel="M")
    x0, y0, x1, y1 = widget.getBounds()
    drawing = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
    drawing.add(widget)
    renderPDF.draw(drawing, canvas, x, y)
