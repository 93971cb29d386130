"""Plain text, and the YAML front matter that opens a Markdown file."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from fieldnotes.ingest.encoding import decode_text
from fieldnotes.ingest.model import BlockKind, RawBlock


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


def normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_text(path: Path, data: bytes) -> ReadResult:
    """Plain text; form feeds (as pdftotext writes between pages) mark pages, whose first
    and last blocks may be running headers, footers or page numbers."""
    text, encoding = decode_text(data, path)
    pages = normalise_newlines(text).split("\f")
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
