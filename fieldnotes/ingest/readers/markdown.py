"""Markdown (CommonMark with tables), after its YAML front matter."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

from fieldnotes.ingest.encoding import decode_text
from fieldnotes.ingest.model import BlockKind, RawBlock
from fieldnotes.ingest.readers.text import ReadResult, normalise_newlines, parse_front_matter, split_blocks

# Deeper than any real document; markdown-it recurses per level, so the limit also guards the stack.
MARKDOWN_MAX_NESTING = 50


def read_markdown(path: Path, data: bytes) -> ReadResult:
    from markdown_it import MarkdownIt

    text, encoding = decode_text(data, path)
    meta, body, notes = parse_front_matter(normalise_newlines(text), path)
    tokens = MarkdownIt("commonmark", options_update={"maxNesting": MARKDOWN_MAX_NESTING}).enable("table").parse(body)
    if tokens and max(token.level for token in tokens) >= MARKDOWN_MAX_NESTING - 1:
        # markdown-it stops at its nesting limit and drops the rest of the file: read it as text instead.
        notes.append(f"Markdown nested more than {MARKDOWN_MAX_NESTING} levels deep; read as plain text")
        return ReadResult(split_blocks(body), meta, encoding, notes)
    builder = _MarkdownBlocks()
    for token in tokens:
        builder.add(token)
    return ReadResult(numbered_headings(builder.blocks), meta, encoding, notes)


_NUMBERED = re.compile(r"^(\d{1,2})\. (\S.*)$")
_HEADING_WORDS = 14


def numbered_headings(blocks: list[RawBlock]) -> list[RawBlock]:
    """Section headings a PDF conversion left as plain numbered lines ("1. Introduction", then
    "2. Methodology"), which Markdown reads as one-item lists: when a document has two or more
    one-line numbered blocks that read as headings and their numbers go up, they are headings."""
    candidates: list[tuple[int, int, str]] = []
    for index, block in enumerate(blocks):
        if block.kind != BlockKind.LIST or len(block.lines) != 1:
            continue
        match = _NUMBERED.match(block.lines[0].strip())
        if match and _reads_as_heading(match.group(2)):
            candidates.append((index, int(match.group(1)), block.lines[0].strip()))
    numbers = [number for _, number, _ in candidates]
    if len(candidates) < 2 or any(b <= a for a, b in itertools.pairwise(numbers)):
        return blocks
    result = list(blocks)
    for index, _, text in candidates:
        result[index] = RawBlock([text], BlockKind.HEADING, 2)
    return result


def _reads_as_heading(text: str) -> bool:
    words = text.split()
    return (
        0 < len(words) <= _HEADING_WORDS
        and (text[0].isupper() or text[0].isdigit() or not text[0].isascii())
        and not text.rstrip().endswith((".", ",", ";", ":", "!", "?"))
    )


class _MarkdownBlocks:
    """Blocks built from markdown-it's flat token stream; the open list, table and heading
    are state carried from one token to the next."""

    def __init__(self) -> None:
        self.blocks: list[RawBlock] = []
        self._list_lines: list[str] | None = None
        self._table_rows: list[str] | None = None
        self._row: list[str] = []
        self._ordered_counters: list[int | None] = []
        self._heading_level: int | None = None

    def add(self, token) -> None:  # markdown-it Token; typed loosely to keep the import lazy
        kind = token.type
        if kind == "heading_open":
            self._heading_level = int(token.tag[1])
        elif kind in ("bullet_list_open", "ordered_list_open"):
            if self._list_lines is None:
                self._list_lines = []
            start = int(token.attrs.get("start", 1) or 1) if kind == "ordered_list_open" else None
            self._ordered_counters.append(start)
        elif kind in ("bullet_list_close", "ordered_list_close"):
            self._ordered_counters.pop()
            if not self._ordered_counters and self._list_lines is not None:
                if self._list_lines:
                    self.blocks.append(RawBlock(self._list_lines, BlockKind.LIST))
                self._list_lines = None
        elif kind == "table_open":
            self._table_rows = []
        elif kind == "table_close":
            if self._table_rows:
                self.blocks.append(RawBlock(self._table_rows, BlockKind.TABLE))
            self._table_rows = None
        elif kind == "tr_close" and self._table_rows is not None:
            self._table_rows.append(" | ".join(self._row))
            self._row = []
        elif kind in ("fence", "code_block"):
            lines = [line for line in token.content.split("\n") if line.strip()]
            if lines:
                self.blocks.append(RawBlock(lines, BlockKind.PARAGRAPH))
        elif kind == "inline":
            self._add_inline(token)

    def _add_inline(self, token) -> None:
        content = _inline_text(token).strip()
        if self._table_rows is not None:
            self._row.append(content.replace("\n", " "))
        elif not content:
            return
        elif self._heading_level is not None:
            self.blocks.append(RawBlock([" ".join(content.split("\n"))], BlockKind.HEADING, self._heading_level))
            self._heading_level = None
        elif self._list_lines is not None:
            self._add_list_item(self._list_lines, content)
        else:
            self.blocks.append(
                RawBlock(content.split("\n"), BlockKind.PARAGRAPH, looks_like_heading=_is_all_strong(token))
            )

    def _add_list_item(self, list_lines: list[str], content: str) -> None:
        """One item as a line with its marker ("-" or its number), indented by its nesting."""
        counter = self._ordered_counters[-1] if self._ordered_counters else None
        marker = "-" if counter is None else f"{counter}."
        if counter is not None:
            self._ordered_counters[-1] = counter + 1
        indent = "  " * (len(self._ordered_counters) - 1)
        item_lines = content.split("\n")
        list_lines.append(f"{indent}{marker} {item_lines[0]}")
        list_lines.extend(f"{indent}  {line}" for line in item_lines[1:])


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
