"""The pack as one self-contained HTML file (charts as SVG data URIs) and as a PDF (fpdf2, pure
Python; charts as PNG). Both hold the same narrative, charts and tables, one section per billing
currency."""

from __future__ import annotations

import base64
import html
import importlib.util
import io
import struct
from datetime import UTC, datetime
from pathlib import Path

from fpdf import FPDF
from fpdf.fonts import FontFace

from finops_core.reports import pack_charts, pack_narrative, pack_tables
from finops_core.reports.pack import Pack, Section

MM_PER_PX = 25.4 / 96
CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;max-width:980px;margin:2em auto;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{border-bottom:2px solid #546e7a;padding-bottom:.2em;margin-top:2em}h3{margin:1.2em 0 .3em}
ul.n{margin:.2em 0;padding-left:1.2em}ul.n li{margin:.2em 0}.cite{color:#78909c;font-size:.8em;margin-left:.3em}
table{border-collapse:collapse;margin:.4em 0 1.2em;font-size:.9em}th,td{border-bottom:1px solid #ddd;padding:3px 8px}
th{background:#eceff1;text-align:left}td.num,th.num{text-align:right;white-space:nowrap}
caption{text-align:left;font-weight:600;padding:.3em 0}.src{color:#78909c;font-weight:400;font-size:.85em}
figure{margin:1em 0}figcaption{color:#555;font-size:.85em}.meta{color:#555}
"""


def _subtitle(pack: Pack) -> str:
    currencies = ", ".join(s.currency for s in pack.sections)
    return (
        f"{pack.current.label} against {pack.base.label}. Data to {pack.data_end.day} {pack.data_end:%b %Y}. "
        f"One section per billing currency ({currencies}); amounts in different currencies are never added. "
        f"Every sentence cites the table its figure comes from (docs/pack.md)."
    )


def _generated() -> str:
    return f"Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"


def to_html(pack: Pack) -> str:
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(pack.title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(pack.title)}</h1><p class='meta'>{html.escape(_subtitle(pack))}<br>{_generated()}</p>",
    ]
    for s in pack.sections:
        parts.append(_html_section(pack, s))
    parts.append("</body></html>")
    return "\n".join(parts)


def _html_section(pack: Pack, s: Section) -> str:
    out = [f"<section><h2>{html.escape(s.currency)}</h2>"]
    for topic, sentences in pack_narrative.topics(pack, s):
        items = "".join(
            f"<li>{html.escape(x.text)}<span class='cite'>[{html.escape(x.cite)}]</span></li>" for x in sentences
        )
        out.append(f"<h3>{html.escape(topic)}</h3><ul class='n'>{items}</ul>")
    for caption, chart in pack_charts.charts(s):
        data = base64.b64encode(pack_charts.svg(chart).encode()).decode()
        out.append(
            f"<figure><img alt='{html.escape(caption)}' src='data:image/svg+xml;base64,{data}'>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    for t in pack_tables.tables(pack, s):
        out.append(_html_table(t))
    out.append("</section>")
    return "".join(out)


def _html_table(t: pack_tables.Table) -> str:
    num = [a == "R" for a in t.alignment]
    head = "".join(f"<th{' class=num' if num[i] else ''}>{html.escape(h)}</th>" for i, h in enumerate(t.header))
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=num' if num[i] else ''}>{html.escape(c)}</td>" for i, c in enumerate(row))
        + "</tr>"
        for row in t.rows
    )
    caption = f"{html.escape(t.caption)} <span class='src'>from {html.escape(t.source)}</span>"
    return f"<table><caption>{caption}</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _font_dir() -> Path | None:
    """DejaVu Sans from matplotlib's data (a dependency of prophet): Unicode text (€, ¥, names in
    any script) without a system font. None: the PDF falls back to Helvetica (Latin-1)."""
    spec = importlib.util.find_spec("matplotlib")
    for place in (spec.submodule_search_locations or []) if spec else []:
        path = Path(place) / "mpl-data" / "fonts" / "ttf"
        if (path / "DejaVuSans.ttf").exists() and (path / "DejaVuSans-Bold.ttf").exists():
            return path
    return None


class _PDF(FPDF):
    def __init__(self, title: str) -> None:
        super().__init__(format="A4")
        self.pack_title = title
        self.set_margins(14, 14, 14)
        self.set_auto_page_break(True, margin=16)
        fonts = _font_dir()
        if fonts:
            self.add_font("DejaVu", "", str(fonts / "DejaVuSans.ttf"))
            self.add_font("DejaVu", "B", str(fonts / "DejaVuSans-Bold.ttf"))
        self.family = "DejaVu" if fonts else "helvetica"

    def text_of(self, text: str) -> str:
        if self.family == "DejaVu":
            return text
        for char, plain in (("…", "..."), ("–", "-"), ("•", "-"), ("€", "EUR "), ("₹", "INR ")):
            text = text.replace(char, plain)
        return text.encode("latin-1", "replace").decode("latin-1")

    def footer(self) -> None:
        self.set_y(-11)
        self.set_font(self.family, "", 7)
        self.set_text_color(120)
        self.cell(0, 5, self.text_of(f"{self.pack_title}  -  page {self.page_no()}/{{nb}}"), align="C")
        self.set_text_color(0)

    def heading(self, text: str, size: float) -> None:
        self.set_font(self.family, "B", size)
        self.multi_cell(0, size * 0.5, self.text_of(text), align="L", new_x="LMARGIN", new_y="NEXT")
        self.ln(1)


def to_pdf(pack: Pack) -> bytes:
    pdf = _PDF(pack.title)
    pdf.add_page()
    pdf.heading(pack.title, 16)
    pdf.set_font(pdf.family, "", 9)
    pdf.multi_cell(0, 4.5, pdf.text_of(f"{_subtitle(pack)} {_generated()}."), align="L", new_x="LMARGIN", new_y="NEXT")
    for i, s in enumerate(pack.sections):
        if i:
            pdf.add_page()
        _pdf_section(pdf, pack, s)
    return bytes(pdf.output())


def _pdf_section(pdf: _PDF, pack: Pack, s: Section) -> None:
    pdf.ln(3)
    pdf.heading(f"{s.currency}: summary", 14)
    for topic, sentences in pack_narrative.topics(pack, s):
        pdf.heading(topic, 10.5)
        pdf.set_font(pdf.family, "", 9)
        for x in sentences:  # a hanging bullet: wrapped lines align with the text, not the bullet
            pdf.set_x(pdf.l_margin + 2)
            pdf.cell(4, 4.4, pdf.text_of("•"))
            text = pdf.text_of(f"{x.text} [{x.cite}]")
            pdf.multi_cell(pdf.epw - 6, 4.4, text, align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)
    for caption, chart in pack_charts.charts(s):
        _pdf_chart(pdf, caption, pack_charts.png(chart))
    for t in pack_tables.tables(pack, s):
        _pdf_table(pdf, t)


def _pdf_chart(pdf: _PDF, caption: str, png: bytes) -> None:
    w_px, h_px = struct.unpack(">II", png[16:24])  # the PNG header's IHDR size
    width = min(pdf.epw, w_px / pack_charts.SCALE * MM_PER_PX)
    height = width * h_px / w_px
    if pdf.get_y() + height + 8 > pdf.page_break_trigger:
        pdf.add_page()
    pdf.image(io.BytesIO(png), x=pdf.l_margin, w=width, h=height)
    pdf.set_font(pdf.family, "", 8)
    pdf.cell(0, 5, pdf.text_of(caption), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)


def _pdf_table(pdf: _PDF, t: pack_tables.Table) -> None:
    if pdf.get_y() + 24 > pdf.page_break_trigger:  # keep a caption with at least its first rows
        pdf.add_page()
    pdf.set_font(pdf.family, "B", 9)
    pdf.cell(0, 5, pdf.text_of(t.caption), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(pdf.family, "", 7)
    pdf.set_text_color(110)
    pdf.cell(0, 4, pdf.text_of(f"from {t.source}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0)
    size = 7.5 if len(t.header) <= 5 else 6.5
    pdf.set_font(pdf.family, "", size)
    align = ["LEFT" if a == "L" else "RIGHT" for a in t.alignment]
    heading = FontFace(emphasis="BOLD", fill_color=(236, 239, 241))
    with pdf.table(
        col_widths=tuple(t.widths),
        text_align=tuple(align),
        line_height=size * 0.55,
        headings_style=heading,
        repeat_headings=1,
        borders_layout="HORIZONTAL_LINES",
        width=pdf.epw if len(t.header) > 3 else pdf.epw * 0.7,
        align="LEFT",
    ) as table:
        for cells in [t.header, *t.rows]:
            row = table.row()
            for cell in cells:
                row.cell(pdf.text_of(cell))
    pdf.ln(3)
