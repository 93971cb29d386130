"""Readers turn one file into blocks of text. One function per format, chosen by suffix;
one module per format family (text, markdown, word, pdf, html).

A reader raises DocumentError for anything it cannot read; a parser's own exception
never escapes, so one bad file cannot stop a corpus.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from pathlib import Path

from fieldnotes.errors import DocumentError
from fieldnotes.ingest.model import SourceDocument
from fieldnotes.ingest.readers.html import read_html
from fieldnotes.ingest.readers.markdown import MARKDOWN_MAX_NESTING, read_markdown
from fieldnotes.ingest.readers.pdf import read_pdf, reading_order
from fieldnotes.ingest.readers.text import ReadResult, parse_front_matter, read_text, split_blocks
from fieldnotes.ingest.readers.word import (
    MAX_ZIP_MEMBERS,
    MAX_ZIP_RATIO,
    MAX_ZIP_UNCOMPRESSED,
    check_zip,
    read_docx,
)

__all__ = [
    "DEFAULT_MAX_BYTES",
    "MARKDOWN_MAX_NESTING",
    "MAX_ZIP_MEMBERS",
    "MAX_ZIP_RATIO",
    "MAX_ZIP_UNCOMPRESSED",
    "READERS",
    "ReadResult",
    "check_zip",
    "parse_front_matter",
    "read_bytes_bounded",
    "read_document",
    "read_docx",
    "read_html",
    "read_markdown",
    "read_pdf",
    "read_text",
    "reading_order",
    "split_blocks",
]

# A file larger than this is refused (the settings' ingest.max_file_mb, 100 MB by default).
DEFAULT_MAX_BYTES = 100 * 1024 * 1024


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
