"""Word (.docx) files, and the checks on a zip container before it is opened."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

from fieldnotes.archives import ZipLimits, zip_problem
from fieldnotes.errors import DocumentError
from fieldnotes.ingest.model import BlockKind, RawBlock
from fieldnotes.ingest.readers.text import ReadResult

# Zip containers (docx) are checked before parsing, against decompression bombs, by the one
# zip-safety policy (fieldnotes.archives) with these limits: the ratio over the whole archive.
MAX_ZIP_MEMBERS = 5000
MAX_ZIP_UNCOMPRESSED = 500 * 1024 * 1024
MAX_ZIP_RATIO = 200
_MB = 1024 * 1024
ZIP_LIMITS = ZipLimits(
    max_members=MAX_ZIP_MEMBERS,
    max_total_bytes=MAX_ZIP_UNCOMPRESSED,
    max_ratio=MAX_ZIP_RATIO,
    ratio_floor_bytes=10 * _MB,
    ratio_of="archive",
)


def check_zip(path: Path | str, data: bytes, what: str) -> None:
    """Refuse a zip container (docx) that is damaged, a decompression bomb, or holds members
    whose names point outside the archive."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise DocumentError(path, f"not a valid {what} (damaged zip container: {exc})") from None
    problem = zip_problem(members, ZIP_LIMITS)
    if problem is None:
        return
    if problem.kind == "name" and problem.member is not None:
        # No Office program writes these; they exist to make an unpacker write outside its folder.
        raise DocumentError(path, f"refused: archive member '{problem.member.filename}' points outside the archive")
    if problem.kind == "members":
        raise DocumentError(path, f"refused: {problem.count} archive members (limit {MAX_ZIP_MEMBERS})")
    raise DocumentError(path, f"refused: unpacks to {problem.size // _MB} MB (a zip bomb?)")


def read_docx(path: Path, data: bytes) -> ReadResult:
    # Parse the bytes already read and checked, never the path again: the file may change meanwhile.
    check_zip(path, data, "Word file")
    try:
        import docx

        document = docx.Document(io.BytesIO(data))
        blocks = _docx_blocks(document)
        return ReadResult(blocks, _docx_metadata(document))
    except DocumentError:
        raise
    except Exception as exc:  # python-docx raises many types on damaged XML
        raise DocumentError(path, f"not a valid Word file ({type(exc).__name__}: {exc})") from None


def _docx_blocks(document) -> list[RawBlock]:  # a python-docx Document; typed loosely to keep the import lazy
    """The body's paragraphs and tables in order: headings by style, list paragraphs gathered
    into one list block."""
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    blocks: list[RawBlock] = []
    list_lines: list[str] = []
    # Style id -> name: python-docx searches the styles part on every lookup.
    style_names: dict[str | None, str] = {}

    def flush_list() -> None:
        if list_lines:
            blocks.append(RawBlock(list(list_lines), BlockKind.LIST))
            list_lines.clear()

    for element in document.element.body.iterchildren():
        tag = element.tag.rsplit("}", 1)[-1]
        if tag == "p":
            paragraph = Paragraph(element, document)
            text = paragraph.text.strip()
            if not text:
                continue
            style_id = element.style
            if style_id not in style_names:
                style_names[style_id] = _docx_style(paragraph)
            style = style_names[style_id]
            heading = re.fullmatch(r"Heading (\d)", style)
            numbered = element.pPr is not None and element.pPr.numPr is not None
            if style == "Title" or heading:
                flush_list()
                level = int(heading.group(1)) if heading else 0
                blocks.append(RawBlock([" ".join(text.split())], BlockKind.HEADING, level))
            elif style.startswith("List") or numbered:
                list_lines.append(f"- {' '.join(text.split())}")
            else:
                flush_list()
                blocks.append(RawBlock(text.split("\n"), BlockKind.PARAGRAPH))
        elif tag == "tbl":
            flush_list()
            rows = _docx_table_rows(Table(element, document))
            if rows:
                blocks.append(RawBlock(rows, BlockKind.TABLE))
    flush_list()
    return blocks


def _docx_table_rows(table) -> list[str]:
    """A table's non-empty rows as "cell | cell" lines."""
    rows = []
    for table_row in table.rows:
        cells: list[str] = []
        for cell in table_row.cells:
            value = " ".join(cell.text.split())
            if not cells or cells[-1] != value:  # merged cells repeat their text
                cells.append(value)
        if any(cells):
            rows.append(" | ".join(cells))
    return rows


def _docx_metadata(document) -> dict[str, object]:
    props = document.core_properties
    meta: dict[str, object] = {}
    for key in ("title", "subject", "keywords"):
        prop = getattr(props, key, None)
        if prop:
            meta[key] = prop
    return meta


def _docx_style(paragraph) -> str:
    try:
        return paragraph.style.name or "" if paragraph.style is not None else ""
    except (KeyError, AttributeError, ValueError):
        return ""
