"""Readers turn one file into blocks of text. One function per format, chosen by suffix.

A reader raises DocumentError for anything it cannot read; a parser's own exception
never escapes, so one bad file cannot stop a corpus.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

import yaml

from fieldnotes.errors import DocumentError
from fieldnotes.ingest.encoding import decode_text
from fieldnotes.ingest.model import BlockKind, RawBlock, SourceDocument

# Zip containers (docx) are checked before parsing, against decompression bombs.
MAX_ZIP_MEMBERS = 5000
MAX_ZIP_UNCOMPRESSED = 500 * 1024 * 1024
MAX_ZIP_RATIO = 200
# A file larger than this is refused (the settings' ingest.max_file_mb, 100 MB by default).
DEFAULT_MAX_BYTES = 100 * 1024 * 1024


@dataclass
class ReadResult:
    blocks: list[RawBlock]
    metadata: dict[str, object] = field(default_factory=dict)
    encoding: str | None = None
    notes: list[str] = field(default_factory=list)


_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S)


def split_blocks(text: str) -> list[RawBlock]:
    """Split plain text into blocks at blank lines; setext underlines mark headings."""
    blocks: list[RawBlock] = []
    for chunk in re.split(r"\n[ \t\f\v]*\n", text):
        lines = [line.rstrip() for line in chunk.split("\n") if line.strip()]
        if not lines:
            continue
        if len(lines) == 2 and re.fullmatch(r"(=+|-+)", lines[1].strip()):
            level = 1 if lines[1].strip()[0] == "=" else 2
            blocks.append(RawBlock([lines[0]], BlockKind.HEADING, level))
            continue
        blocks.append(RawBlock(lines))
    return blocks


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_text(path: Path, data: bytes) -> ReadResult:
    """Plain text; form feeds (as pdftotext writes between pages) mark pages, whose first
    and last blocks may be running headers, footers or page numbers."""
    text, encoding = decode_text(data, path)
    pages = _normalise_newlines(text).split("\f")
    if len(pages) == 1:
        return ReadResult(split_blocks(pages[0]), encoding=encoding)
    blocks: list[RawBlock] = []
    for number, page in enumerate(pages, start=1):
        on_page = split_blocks(page)
        for index, block in enumerate(on_page):
            block.page = number
            block.at_page_edge = index in (0, len(on_page) - 1)
        blocks.extend(on_page)
    return ReadResult(blocks, encoding=encoding)


def parse_front_matter(text: str, path: Path) -> tuple[dict[str, object], str, list[str]]:
    """Split YAML front matter off a Markdown text; a broken header is noted and kept as text."""
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text, []
    try:
        meta = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 2})" if where is not None else ""
        return {}, text, [f"front matter is not valid YAML{line}; read as text"]
    except RecursionError:  # PyYAML recurses per level: "[[[[..." a thousand deep exhausts the stack
        return {}, text, ["front matter is nested too deeply to be YAML metadata; read as text"]
    except (ValueError, OverflowError) as exc:  # a date that does not exist: "date: 2024-10-62"
        return {}, text, [f"front matter has a value YAML cannot read ({exc}); read as text"]
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        return {}, text, ["front matter is not a YAML mapping of keys to values; ignored"]
    if not _small_and_acyclic(meta):
        # YAML aliases can make a structure that contains itself, or expands a thousandfold when stored.
        return {}, text, ["front matter refers to itself or expands too far (YAML aliases); ignored"]
    # Keep the offsets of the body stable: blank lines stand in for the header.
    body = "\n" * match.group(0).count("\n") + text[match.end() :]
    return {str(k): v for k, v in meta.items()}, body, []


def _small_and_acyclic(value: object, limit: int = 10_000) -> bool:
    """Whether a loaded YAML value, with its aliases expanded, has at most `limit` nodes and no cycle."""
    count = 0
    stack: list[tuple[object, frozenset[int]]] = [(value, frozenset())]
    while stack:
        node, parents = stack.pop()
        count += 1
        if count > limit:
            return False
        if isinstance(node, dict | list | tuple | set):
            if id(node) in parents:
                return False
            inner = parents | {id(node)}
            items = [*node.keys(), *node.values()] if isinstance(node, dict) else list(node)
            stack.extend((item, inner) for item in items)
    return True


def _inline_text(token) -> str:  # markdown-it Token; typed loosely to keep the import lazy
    parts: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif child.type == "image":
            parts.append(_inline_text(child))
    return "".join(parts)


def _is_all_strong(token) -> bool:
    children = [c for c in token.children or [] if not (c.type == "text" and not c.content.strip())]
    return len(children) >= 3 and children[0].type == "strong_open" and children[-1].type == "strong_close"


# Deeper than any real document; markdown-it recurses per level, so the limit also guards the stack.
MARKDOWN_MAX_NESTING = 50


def read_markdown(path: Path, data: bytes) -> ReadResult:
    from markdown_it import MarkdownIt

    text, encoding = decode_text(data, path)
    meta, body, notes = parse_front_matter(_normalise_newlines(text), path)
    tokens = MarkdownIt("commonmark", options_update={"maxNesting": MARKDOWN_MAX_NESTING}).enable("table").parse(body)
    if tokens and max(token.level for token in tokens) >= MARKDOWN_MAX_NESTING - 1:
        # markdown-it stops at its nesting limit and drops the rest of the file: read it as text instead.
        notes.append(f"Markdown nested more than {MARKDOWN_MAX_NESTING} levels deep; read as plain text")
        return ReadResult(split_blocks(body), meta, encoding, notes)
    blocks: list[RawBlock] = []
    list_lines: list[str] | None = None
    table_rows: list[str] | None = None
    row: list[str] = []
    ordered_counters: list[int | None] = []
    heading_level: int | None = None
    for token in tokens:
        kind = token.type
        if kind == "heading_open":
            heading_level = int(token.tag[1])
        elif kind in ("bullet_list_open", "ordered_list_open"):
            if list_lines is None:
                list_lines = []
            ordered_counters.append(int(token.attrs.get("start", 1) or 1) if kind == "ordered_list_open" else None)
        elif kind in ("bullet_list_close", "ordered_list_close"):
            ordered_counters.pop()
            if not ordered_counters and list_lines is not None:
                if list_lines:
                    blocks.append(RawBlock(list_lines, BlockKind.LIST))
                list_lines = None
        elif kind == "table_open":
            table_rows = []
        elif kind == "table_close":
            if table_rows:
                blocks.append(RawBlock(table_rows, BlockKind.TABLE))
            table_rows = None
        elif kind == "tr_close" and table_rows is not None:
            table_rows.append(" | ".join(row))
            row = []
        elif kind in ("fence", "code_block"):
            lines = [line for line in token.content.split("\n") if line.strip()]
            if lines:
                blocks.append(RawBlock(lines, BlockKind.PARAGRAPH))
        elif kind == "inline":
            content = _inline_text(token).strip()
            if table_rows is not None:
                row.append(content.replace("\n", " "))
            elif not content:
                continue
            elif heading_level is not None:
                blocks.append(RawBlock([" ".join(content.split("\n"))], BlockKind.HEADING, heading_level))
                heading_level = None
            elif list_lines is not None:
                counter = ordered_counters[-1] if ordered_counters else None
                marker = "-" if counter is None else f"{counter}."
                if counter is not None:
                    ordered_counters[-1] = counter + 1
                indent = "  " * (len(ordered_counters) - 1)
                item_lines = content.split("\n")
                list_lines.append(f"{indent}{marker} {item_lines[0]}")
                list_lines.extend(f"{indent}  {line}" for line in item_lines[1:])
            else:
                blocks.append(
                    RawBlock(content.split("\n"), BlockKind.PARAGRAPH, looks_like_heading=_is_all_strong(token))
                )
    return ReadResult(blocks, meta, encoding, notes)


def check_zip(path: Path | str, data: bytes, what: str) -> None:
    """Refuse a zip container (docx, and the importers' archives) that is damaged, a
    decompression bomb, or holds members whose names point outside the archive."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise DocumentError(path, f"not a valid {what} (damaged zip container: {exc})") from None
    for member in members:
        name = member.filename.replace("\\", "/")
        if name.startswith("/") or re.match(r"[A-Za-z]:", name) or ".." in name.split("/"):
            # No Office program writes these; they exist to make an unpacker write outside its folder.
            raise DocumentError(path, f"refused: archive member '{member.filename}' points outside the archive")
    if len(members) > MAX_ZIP_MEMBERS:
        raise DocumentError(path, f"refused: {len(members)} archive members (limit {MAX_ZIP_MEMBERS})")
    total = sum(member.file_size for member in members)
    packed = sum(member.compress_size for member in members) or 1
    if total > MAX_ZIP_UNCOMPRESSED or (total > 10 * 1024 * 1024 and total / packed > MAX_ZIP_RATIO):
        raise DocumentError(path, f"refused: unpacks to {total // (1024 * 1024)} MB (a zip bomb?)")


def _docx_style(paragraph) -> str:
    try:
        return paragraph.style.name or "" if paragraph.style is not None else ""
    except (KeyError, AttributeError, ValueError):
        return ""


def read_docx(path: Path, data: bytes) -> ReadResult:
    # Parse the bytes already read and checked, never the path again: the file may change meanwhile.
    check_zip(path, data, "Word file")
    try:
        import docx
        from docx.table import Table
        from docx.text.paragraph import Paragraph

        document = docx.Document(io.BytesIO(data))
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
                rows = []
                for table_row in Table(element, document).rows:
                    cells: list[str] = []
                    for cell in table_row.cells:
                        value = " ".join(cell.text.split())
                        if not cells or cells[-1] != value:  # merged cells repeat their text
                            cells.append(value)
                    if any(cells):
                        rows.append(" | ".join(cells))
                if rows:
                    blocks.append(RawBlock(rows, BlockKind.TABLE))
        flush_list()
        props = document.core_properties
        meta: dict[str, object] = {}
        for key in ("title", "subject", "keywords"):
            prop = getattr(props, key, None)
            if prop:
                meta[key] = prop
        return ReadResult(blocks, meta)
    except DocumentError:
        raise
    except Exception as exc:  # python-docx raises many types on damaged XML
        raise DocumentError(path, f"not a valid Word file ({type(exc).__name__}: {exc})") from None


def read_pdf(path: Path, data: bytes) -> ReadResult:
    import logging

    logging.getLogger("pdfminer").setLevel(logging.ERROR)
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LAParams, LTTextContainer
    from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect
    from pdfminer.pdfparser import PDFSyntaxError

    if not data.lstrip()[:5].startswith(b"%PDF"):
        raise DocumentError(path, "not a PDF file (no %PDF header)")
    found: list[tuple[RawBlock, float, float]] = []  # block, mean size, bold share
    try:
        pages = extract_pages(io.BytesIO(data), laparams=LAParams())  # the bytes read, not the path again
        for page_number, page in enumerate(pages, start=1):
            boxes = [element for element in page if isinstance(element, LTTextContainer)]
            ordered, edges = reading_order(boxes, page.width, page.height)
            for element in ordered:
                for lines, size, bold in _typeset_runs(element):
                    block = RawBlock(lines, page=page_number, at_page_edge=id(element) in edges)
                    found.append((block, size, bold))
    except PDFPasswordIncorrect:
        raise DocumentError(path, "encrypted PDF that needs a password; save an unprotected copy") from None
    except PDFEncryptionError as exc:
        raise DocumentError(path, f"encrypted PDF that cannot be opened ({exc})") from None
    except PDFSyntaxError as exc:
        raise DocumentError(path, f"not a valid PDF, corrupt or truncated ({exc})") from None
    except Exception as exc:  # pdfminer raises many types on damaged files
        raise DocumentError(path, f"cannot be read as a PDF ({type(exc).__name__}: {exc})") from None
    if not found:
        raise DocumentError(path, "no extractable text (a scanned image? run OCR on it first)")
    _mark_pdf_headings(found)
    return ReadResult([block for block, _, _ in found])


def _typeset_runs(box) -> list[tuple[list[str], float, float]]:
    """Split a pdfminer text box where the type changes (a bold or larger heading line
    grouped with the paragraph under it): runs of (lines, mean size, bold share)."""
    from pdfminer.layout import LTChar, LTTextLine

    runs: list[tuple[list[str], float, float]] = []
    previous: tuple[float, bool] | None = None
    for line in box:
        if not isinstance(line, LTTextLine):
            continue
        text = line.get_text().rstrip("\n").rstrip()
        chars = [c for c in line if isinstance(c, LTChar) and c.get_text().strip()]
        if not text.strip() or not chars:
            continue
        size = sum(c.size for c in chars) / len(chars)
        bold = sum("bold" in c.fontname.lower() for c in chars) / len(chars)
        style = (size, bold > 0.5)
        if runs and previous is not None and abs(style[0] - previous[0]) <= 0.5 and style[1] == previous[1]:
            lines, run_size, run_bold = runs[-1]
            n = len(lines)
            runs[-1] = ([*lines, text], (run_size * n + size) / (n + 1), (run_bold * n + bold) / (n + 1))
        else:
            runs.append(([text], size, bold))
        previous = style
    return runs


def reading_order(boxes: list, page_width: float, page_height: float) -> tuple[list, set[int]]:
    """Order a page's text boxes as a person reads them: running headers first, then the
    body top to bottom (within a band between full-width boxes such as a title, the left
    column before the right), then footers. Also returns the ids of the margin boxes."""
    middle = page_width / 2
    header = sorted((b for b in boxes if b.y0 > page_height * 0.94), key=lambda b: (-b.y1, b.x0))
    footer = sorted((b for b in boxes if b.y1 < page_height * 0.06), key=lambda b: (-b.y1, b.x0))
    edges = {id(b) for b in header + footer}
    ordered: list = list(header)
    band: list = []

    def flush() -> None:
        left = [box for box in band if (box.x0 + box.x1) / 2 < middle]
        right = [box for box in band if (box.x0 + box.x1) / 2 >= middle]
        ordered.extend(sorted(left, key=lambda box: -box.y1))
        ordered.extend(sorted(right, key=lambda box: -box.y1))
        band.clear()

    for box in sorted((b for b in boxes if id(b) not in edges), key=lambda b: (-b.y1, b.x0)):
        if box.x0 < middle - 10 and box.x1 > middle + 10:
            flush()
            ordered.append(box)
        else:
            band.append(box)
    flush()
    return ordered + footer, edges


def _mark_pdf_headings(found: list[tuple[RawBlock, float, float]]) -> None:
    """Bold or larger-than-body short blocks are heading candidates; larger type, higher level."""
    weights: dict[float, int] = {}
    for block, size, _ in found:
        key = round(size * 2) / 2
        weights[key] = weights.get(key, 0) + sum(len(line) for line in block.lines)
    body = max(weights, key=lambda k: weights[k])
    candidates = [
        (block, round(size * 2) / 2)
        for block, size, bold in found
        if len(block.lines) <= 3 and (bold > 0.8 or size > body * 1.15)
    ]
    sizes = sorted({size for _, size in candidates}, reverse=True)
    for block, size in candidates:
        block.looks_like_heading = True
        block.level = sizes.index(size) + 1


class _HTMLBlocks(HTMLParser):
    _BLOCK_TAGS: ClassVar[frozenset[str]] = frozenset(
        {
            "p",
            "div",
            "section",
            "article",
            "main",
            "header",
            "footer",
            "aside",
            "blockquote",
            "pre",
            "table",
            "tr",
            "ul",
            "ol",
            "li",
            "dl",
            "dt",
            "dd",
            "figure",
            "figcaption",
            "br",
            "hr",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "td",
            "th",
            "nav",
            "address",
        }
    )
    _SKIP_TAGS: ClassVar[frozenset[str]] = frozenset(
        # Code, and navigation menus that repeat on every page of a site.
        {"script", "style", "template", "noscript", "svg", "nav", "button", "form"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[RawBlock] = []
        self.meta: dict[str, object] = {}
        self._buffer: list[str] = []
        self._skip_depth = 0
        self._heading: int | None = None
        self._in_title = False
        self._title: list[str] = []

    def _flush(self) -> None:
        text = "".join(self._buffer)
        self._buffer = []
        lines = [" ".join(line.split()) for line in text.split("\n")]
        lines = [line for line in lines if line]
        if not lines:
            return
        if self._heading is not None:
            self.blocks.append(RawBlock([" ".join(lines)], BlockKind.HEADING, self._heading))
        else:
            self.blocks.append(RawBlock(lines, BlockKind.PARAGRAPH))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP_TAGS:
            self._skip_depth += 1
            return
        if tag == "title":
            self._in_title = True
        if tag == "meta":
            values = dict(attrs)
            name, content = (values.get("name") or "").lower(), values.get("content")
            if name in ("site", "title", "date", "author") and content:
                self.meta[name] = content
        if tag in self._BLOCK_TAGS and not self._skip_depth:
            self._flush()
            if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
                self._heading = int(tag[1])
            elif tag == "li":
                self._buffer.append("- ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP_TAGS:
            self._skip_depth = max(0, self._skip_depth - 1)
            return
        if tag == "title":
            self._in_title = False
        if tag in self._BLOCK_TAGS:
            self._flush()
            if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
                self._heading = None

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self._title.append(data)
        elif not self._skip_depth:
            self._buffer.append(data)

    def close(self) -> None:
        super().close()
        self._flush()
        if self._title and "title" not in self.meta:
            self.meta["title"] = " ".join("".join(self._title).split())


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_\-]+)""", re.I)


def read_html(path: Path, data: bytes) -> ReadResult:
    declared = _META_CHARSET.search(data[:4096])
    text = encoding = None
    if declared:
        try:
            text, encoding = data.decode(declared.group(1).decode()), declared.group(1).decode().lower()
        except (LookupError, UnicodeError, ValueError):  # punycode, idna, ... raise plain UnicodeError
            text = None
    if text is None:
        text, encoding = decode_text(data, path)
    parser = _HTMLBlocks()
    try:
        parser.feed(_normalise_newlines(text))
        parser.close()
    except Exception as exc:  # html.parser is lenient; this guards against the unexpected
        raise DocumentError(path, f"cannot be read as HTML ({type(exc).__name__}: {exc})") from None
    return ReadResult(parser.blocks, parser.meta, encoding)


READERS: dict[str, tuple[str, Callable[[Path, bytes], ReadResult]]] = {
    ".txt": ("txt", read_text),
    ".md": ("md", read_markdown),
    ".markdown": ("md", read_markdown),
    ".docx": ("docx", read_docx),
    ".pdf": ("pdf", read_pdf),
    ".html": ("html", read_html),
    ".htm": ("html", read_html),
}


def read_bytes_bounded(path: Path, relpath: str, max_bytes: int) -> bytes:
    """The file's bytes, read once; refused if it is not a regular file or holds more than `max_bytes`
    (also when it grew after the corpus was listed), so memory stays bounded."""
    try:
        # Non-blocking: a file swapped for a named pipe after listing must not hang the run.
        with os.fdopen(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)), "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise DocumentError(relpath, "not a regular file (a pipe, socket or device)")
            # Sized by the file, not the limit (read(n) allocates n bytes); on if it grew meanwhile.
            chunks = [handle.read(min(info.st_size, max_bytes) + 1)]
            size = len(chunks[0])
            while chunks[-1] and size <= max_bytes:
                chunks.append(handle.read(min(1 << 20, max_bytes + 1 - size)))
                size += len(chunks[-1])
            data = b"".join(chunks)
    except OSError as exc:
        raise DocumentError(relpath, f"cannot read file ({exc.strerror or exc})") from None
    if len(data) > max_bytes:
        limit = max_bytes / 1024 / 1024
        raise DocumentError(relpath, f"larger than max_file_mb ({limit:g} MB); raise it in the settings to read it")
    return data


def read_document(path: Path, relpath: str, max_bytes: int = DEFAULT_MAX_BYTES) -> SourceDocument:
    """Read one file into a SourceDocument; raise DocumentError if it cannot be read.

    Suffixes without a reader of their own are read as plain text.
    """
    data = read_bytes_bounded(path, relpath, max_bytes)
    if not data.strip():
        raise DocumentError(relpath, "empty file (0 bytes)" if not data else "file holds only white space")
    fmt, reader = READERS.get(path.suffix.lower(), ("txt", read_text))
    try:
        result = reader(path, data)
    except DocumentError as exc:
        raise DocumentError(relpath, exc.reason) from None
    if not any(line.strip() for block in result.blocks for line in block.lines):
        raise DocumentError(relpath, "no text found in the file")
    digest = hashlib.sha256(data).hexdigest()
    return SourceDocument(path, relpath, fmt, digest, result.blocks, result.metadata, result.encoding, result.notes)
