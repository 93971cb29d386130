"""HTML pages: block-level elements become blocks; scripts, styles and navigation are skipped."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

from fieldnotes.errors import DocumentError
from fieldnotes.ingest.encoding import decode_text
from fieldnotes.ingest.model import BlockKind, RawBlock
from fieldnotes.ingest.readers.boilerplate import main_text, mark_boilerplate
from fieldnotes.ingest.readers.text import ReadResult, normalise_newlines


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
        # Share of each block's letters that sit inside links: menus and share bars are links.
        self.link_shares: list[float] = []
        self.meta: dict[str, object] = {}
        self._buffer: list[str] = []
        self._link_depth = 0
        self._link_letters = 0
        self._skip_depth = 0
        self._heading: int | None = None
        self._in_title = False
        self._title: list[str] = []

    def _flush(self) -> None:
        text = "".join(self._buffer)
        link_letters, self._link_letters = self._link_letters, 0
        self._buffer = []
        lines = [" ".join(line.split()) for line in text.split("\n")]
        lines = [line for line in lines if line]
        if not lines:
            return
        letters = sum(ch.isalnum() for ch in text)
        self.link_shares.append(min(1.0, link_letters / letters) if letters else 0.0)
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
        if tag == "a":
            self._link_depth += 1
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
        if tag == "a":
            self._link_depth = max(0, self._link_depth - 1)
        if tag in self._BLOCK_TAGS:
            self._flush()
            if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
                self._heading = None

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self._title.append(data)
        elif not self._skip_depth:
            self._buffer.append(data)
            if self._link_depth:
                self._link_letters += sum(ch.isalnum() for ch in data)

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
        parser.feed(normalise_newlines(text))
        parser.close()
    except Exception as exc:  # html.parser is lenient; this guards against the unexpected
        raise DocumentError(path, f"cannot be read as HTML ({type(exc).__name__}: {exc})") from None
    body = main_text(text)
    if body is not None:
        mark_boilerplate(parser.blocks, body, parser.link_shares)
    return ReadResult(parser.blocks, parser.meta, encoding)
