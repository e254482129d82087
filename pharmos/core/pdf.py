"""PDF pieces shared by every printed record and export: the CJK font, page furniture, paragraphs.

Uses ReportLab's built-in Adobe CID font (STSong-Light) so Chinese prints without a font file
on the server (nothing is downloaded at run time); viewers substitute a Song typeface.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

from pharmos.core.labels import PDF_FONT


def register_cjk_font() -> str:
    """Register the CJK font once; its name for styles."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    if PDF_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(PDF_FONT))
    return PDF_FONT


def paragraph(text: str, style: Any) -> Any:
    """A paragraph of plain text (escaped; newlines kept)."""
    from reportlab.platypus import Paragraph

    return Paragraph(escape(text).replace("\n", "<br/>"), style)


def numbered_canvas(*, page_size: tuple[float, float], margin: float, header_left: str, header_right: str,
                    footer_left: str) -> type:
    """A canvas class that prints a header and "page X of Y" on every page.

    EU GMP Chapter 4.1 / 药品GMP 第一百六十条: printed records show what they are and that no page is missing.
    """
    from reportlab.lib import colors
    from reportlab.lib.units import mm
    from reportlab.pdfgen.canvas import Canvas

    font = register_cjk_font()

    class NumberedCanvas(Canvas):  # type: ignore[misc]
        """Defers page output until the page count is known."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._saved: list[dict[str, Any]] = []

        def showPage(self) -> None:
            self._saved.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._saved)
            for state in self._saved:
                self.__dict__.update(state)
                self._decorate(total)
                super().showPage()
            super().save()

        def _decorate(self, total: int) -> None:
            width, height = page_size
            self.setFont(font, 8)
            self.setFillColor(colors.black)
            self.drawString(margin, height - 8 * mm, header_left)
            self.drawRightString(width - margin, height - 8 * mm, header_right)
            self.drawString(margin, 6 * mm, footer_left)
            page = self._pageNumber
            self.drawRightString(width - margin, 6 * mm, f"Page {page} of {total} / 第 {page} 页，共 {total} 页")

    return NumberedCanvas
