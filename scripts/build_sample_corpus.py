#!/usr/bin/env python3
"""Build the binary and re-encoded documents of the fieldnotes sample corpus.

Sources live in scripts/sample_corpus/ (Markdown, UTF-8). This script writes:

  corpus/articles/staff-work-environment-report.docx   (python-docx)
  corpus/articles/community-coproduction-brief.pdf     (reportlab, two columns)
  corpus/japanese/niihama-newsletter-ja.txt            (Shift_JIS/CP932, CRLF)

The output is deterministic: running the script twice gives byte-identical
files (fixed document dates, fixed zip timestamps, reportlab invariant mode).

Run from the repository root:

    .venv/bin/python scripts/build_sample_corpus.py
"""

from __future__ import annotations

import datetime as _dt
import io
import re
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "scripts" / "sample_corpus"
ARTICLES = ROOT / "corpus" / "articles"
JAPANESE = ROOT / "corpus" / "japanese"

REPORT_SRC = SRC / "staff-work-environment-report.md"
BRIEF_SRC = SRC / "community-coproduction-brief.md"
JA_SRC = SRC / "niihama-ja.md"

REPORT_OUT = ARTICLES / "staff-work-environment-report.docx"
BRIEF_OUT = ARTICLES / "community-coproduction-brief.pdf"
JA_OUT = JAPANESE / "niihama-newsletter-ja.txt"

# Fixed metadata so that rebuilding gives the same content.
FIXED_DATETIME = _dt.datetime(2025, 1, 20, 9, 0, 0)
AUTHOR = "Comparative co-production project"
ZIP_DATE = (2025, 1, 20, 9, 0, 0)


# --------------------------------------------------------------------------
# A very small Markdown reader: headings (#, ##, ###), paragraphs, pipe tables
# --------------------------------------------------------------------------


@dataclass
class Block:
    kind: str  # "heading" | "para" | "table"
    text: str = ""
    level: int = 0
    rows: list[list[str]] = field(default_factory=list)


_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_TABLE_RULE = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")


def _split_row(line: str) -> list[str]:
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|"):
        line = line[:-1]
    return [cell.strip() for cell in line.split("|")]


def parse_markdown(text: str) -> list[Block]:
    """Parse the limited Markdown used by the sample-corpus sources."""
    blocks: list[Block] = []
    para: list[str] = []
    table: list[str] = []

    def flush_para() -> None:
        if para:
            blocks.append(Block("para", " ".join(s.strip() for s in para)))
            para.clear()

    def flush_table() -> None:
        if table:
            rows = [_split_row(r) for r in table if not _TABLE_RULE.match(r)]
            blocks.append(Block("table", rows=rows))
            table.clear()

    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("|"):
            flush_para()
            table.append(stripped)
            continue
        flush_table()
        if not stripped:
            flush_para()
            continue
        m = _HEADING.match(stripped)
        if m:
            flush_para()
            blocks.append(Block("heading", m.group(2), level=len(m.group(1))))
            continue
        para.append(stripped)
    flush_para()
    flush_table()
    return blocks


def document_title(blocks: list[Block]) -> str:
    for b in blocks:
        if b.kind == "heading" and b.level == 1:
            return b.text
    raise ValueError("source has no '#' title")


# --------------------------------------------------------------------------
# Word document
# --------------------------------------------------------------------------


def _normalise_zip(data: bytes) -> bytes:
    """Rewrite a zip archive with fixed timestamps and attributes."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            new = zipfile.ZipInfo(info.filename, date_time=ZIP_DATE)
            new.compress_type = zipfile.ZIP_DEFLATED
            new.external_attr = 0o644 << 16
            new.create_system = 3
            dst.writestr(new, src.read(info.filename))
    return out.getvalue()


def build_docx(src: Path, dest: Path) -> None:
    from docx import Document
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt

    blocks = parse_markdown(src.read_text(encoding="utf-8"))
    title = document_title(blocks)

    doc = Document()
    normal = doc.styles["Normal"]
    normal.font.name = "Calibri"
    normal.font.size = Pt(11)
    normal.paragraph_format.space_after = Pt(6)

    for b in blocks:
        if b.kind == "heading":
            doc.add_heading(b.text, level=min(b.level, 3))
        elif b.kind == "para":
            doc.add_paragraph(b.text)
        elif b.kind == "table":
            header, *_body = b.rows
            table = doc.add_table(rows=len(b.rows), cols=len(header))
            table.style = "Table Grid"
            table.alignment = WD_TABLE_ALIGNMENT.CENTER
            for r, row in enumerate(b.rows):
                for c, value in enumerate(row):
                    cell = table.cell(r, c)
                    cell.text = value
                    par = cell.paragraphs[0]
                    par.paragraph_format.space_after = Pt(0)
                    if c > 0:
                        par.alignment = WD_ALIGN_PARAGRAPH.CENTER
                    for run in par.runs:
                        run.font.size = Pt(9.5)
                        run.bold = r == 0
            doc.add_paragraph()  # breathing space after the table

    cp = doc.core_properties
    cp.title = title
    cp.subject = "Staff work environment (demand, control, support) in three health and welfare cooperatives"
    cp.author = AUTHOR
    cp.last_modified_by = AUTHOR
    cp.keywords = "demand-control; work environment; health and welfare cooperatives; Nagoya; Amagasaki; Niihama"
    cp.category = "Report"
    cp.comments = "Sample document generated by scripts/build_sample_corpus.py"
    cp.language = "en-GB"
    cp.revision = 1
    cp.created = FIXED_DATETIME
    cp.modified = FIXED_DATETIME
    cp.last_printed = FIXED_DATETIME

    buf = io.BytesIO()
    doc.save(buf)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(_normalise_zip(buf.getvalue()))


# --------------------------------------------------------------------------
# Two-column PDF
# --------------------------------------------------------------------------


def _hyphenation_available() -> bool:
    try:
        import pyphen  # noqa: F401
    except ImportError:
        return False
    return True


def build_pdf(src: Path, dest: Path) -> None:
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_JUSTIFY, TA_LEFT
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import cm
    from reportlab.platypus import (
        BaseDocTemplate,
        Frame,
        FrameBreak,
        NextPageTemplate,
        PageTemplate,
        Paragraph,
        Spacer,
        Table,
        TableStyle,
    )

    blocks = parse_markdown(src.read_text(encoding="utf-8"))
    title = document_title(blocks)
    hyph = "en_GB" if _hyphenation_available() else None
    if hyph is None:
        print("warning: pyphen not installed, PDF will not be hyphenated", file=sys.stderr)

    page_w, page_h = A4
    margin_x = 2.2 * cm
    margin_top = 2.3 * cm
    margin_bottom = 2.0 * cm
    gutter = 0.8 * cm
    col_w = (page_w - 2 * margin_x - gutter) / 2
    body_h = page_h - margin_top - margin_bottom
    title_h = 4.3 * cm  # full-width title block on the first page

    def columns(height: float) -> list[Frame]:
        return [
            Frame(
                margin_x + i * (col_w + gutter),
                margin_bottom,
                col_w,
                height,
                leftPadding=0,
                rightPadding=0,
                topPadding=0,
                bottomPadding=0,
                id=f"col{i + 1}",
            )
            for i in range(2)
        ]

    title_frame = Frame(
        margin_x,
        page_h - margin_top - title_h,
        page_w - 2 * margin_x,
        title_h,
        leftPadding=0,
        rightPadding=0,
        topPadding=0,
        bottomPadding=0,
        id="title",
    )

    def decorate(canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 7.5)
        canvas.setFillColor(colors.HexColor("#444444"))
        y_head = page_h - 1.45 * cm
        canvas.drawString(margin_x, y_head, title)
        canvas.drawRightString(page_w - margin_x, y_head, "Policy brief 2025/1")
        canvas.setStrokeColor(colors.HexColor("#7a9a3a"))
        canvas.setLineWidth(0.6)
        canvas.line(margin_x, y_head - 4, page_w - margin_x, y_head - 4)
        canvas.line(margin_x, 1.35 * cm, page_w - margin_x, 1.35 * cm)
        canvas.drawCentredString(page_w / 2, 0.95 * cm, f"Page {doc.page}")
        canvas.restoreState()

    doc = BaseDocTemplate(
        str(dest),
        pagesize=A4,
        leftMargin=margin_x,
        rightMargin=margin_x,
        topMargin=margin_top,
        bottomMargin=margin_bottom,
        title=title,
        author=AUTHOR,
        subject="Policy brief on community co-production and integrated care",
        creator="fieldnotes sample corpus (scripts/build_sample_corpus.py)",
        keywords="co-production, integrated care, Nagoya, Osaka, Niihama",
        invariant=1,
    )
    doc.addPageTemplates(
        [
            PageTemplate(id="first", frames=[title_frame, *columns(body_h - title_h - 0.4 * cm)], onPage=decorate),
            PageTemplate(id="later", frames=columns(body_h), onPage=decorate),
        ]
    )

    common = dict(hyphenationLang=hyph, embeddedHyphenation=1, uriWasteReduce=0.3) if hyph else {}
    body = ParagraphStyle(
        "body",
        fontName="Times-Roman",
        fontSize=9.5,
        leading=12.2,
        alignment=TA_JUSTIFY,
        firstLineIndent=0,
        spaceAfter=5.5,
        **common,
    )
    h2 = ParagraphStyle(
        "h2",
        fontName="Helvetica-Bold",
        fontSize=10.5,
        leading=13,
        spaceBefore=9,
        spaceAfter=4,
        alignment=TA_LEFT,
        keepWithNext=1,
        textColor=colors.HexColor("#2f4a12"),
    )
    h3 = ParagraphStyle(
        "h3",
        fontName="Times-Bold",
        fontSize=9.5,
        leading=12,
        spaceBefore=6,
        spaceAfter=3,
        alignment=TA_LEFT,
        keepWithNext=1,
    )
    title_style = ParagraphStyle(
        "title", fontName="Helvetica-Bold", fontSize=19, leading=23, spaceAfter=8, textColor=colors.HexColor("#2f4a12")
    )
    kicker = ParagraphStyle(
        "kicker", fontName="Helvetica", fontSize=8.5, leading=11, textColor=colors.HexColor("#555555"), spaceAfter=6
    )
    cell = ParagraphStyle("cell", fontName="Times-Roman", fontSize=8, leading=9.5)

    story: list = [
        NextPageTemplate("later"),
        Paragraph("POLICY BRIEF | Health and welfare cooperatives in Japan", kicker),
        Paragraph(escape(title), title_style),
        Paragraph(
            "Findings from fieldwork in Nagoya, Osaka and Niihama, 2024-2025. Comparative co-production project.",
            kicker,
        ),
        FrameBreak(),
    ]
    seen_title = False
    for b in blocks:
        if b.kind == "heading":
            if b.level == 1 and not seen_title:
                seen_title = True
                continue
            story.append(Paragraph(escape(b.text), h2 if b.level <= 2 else h3))
        elif b.kind == "para":
            story.append(Paragraph(escape(b.text), body))
        elif b.kind == "table":
            data = [[Paragraph(escape(v), cell) for v in row] for row in b.rows]
            t = Table(data, colWidths=[col_w / len(b.rows[0])] * len(b.rows[0]))
            t.setStyle(
                TableStyle(
                    [
                        ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e6eed8")),
                        ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ]
                )
            )
            story.extend([t, Spacer(1, 6)])

    dest.parent.mkdir(parents=True, exist_ok=True)
    doc.build(story)


# --------------------------------------------------------------------------
# Japanese newsletter in Shift_JIS (CP932) with CRLF line ends
# --------------------------------------------------------------------------


def build_japanese(src: Path, dest: Path) -> None:
    lines = []
    for line in src.read_text(encoding="utf-8").splitlines():
        lines.append(re.sub(r"^#+\s*", "", line).rstrip())
    while lines and not lines[-1]:
        lines.pop()
    text = "\r\n".join(lines) + "\r\n"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(text.encode("cp932"))


def main() -> int:
    build_docx(REPORT_SRC, REPORT_OUT)
    build_pdf(BRIEF_SRC, BRIEF_OUT)
    build_japanese(JA_SRC, JA_OUT)
    for path in (REPORT_OUT, BRIEF_OUT, JA_OUT):
        print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
