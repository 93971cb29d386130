"""Page artefacts: page numbers, and running headers and footers repeated in the margins."""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from dataclasses import replace

from fieldnotes.ingest.model import BlockKind, RawBlock

_PAGE_NUMBER = re.compile(r"^(?:page\s+)?[-–—(\[]?\s*\d{1,4}\s*[-–—)\]]?(?:\s*(?:of|/)\s*\d{1,4})?$", re.I)


def _pattern(line: str) -> str:
    return re.sub(r"\d+", "#", " ".join(line.split())).lower()


def drop_page_artifacts(blocks: list[RawBlock]) -> tuple[list[RawBlock], int]:
    """Drop page-number blocks, and running headers or footers: blocks in a page's top
    or bottom margin whose text recurs (digits aside) on at least half the pages."""
    pages = {block.page for block in blocks if block.page is not None}
    edge_counts: Counter[str] = Counter()
    for page in pages:
        edge_counts.update({_pattern(" ".join(b.lines)) for b in blocks if b.page == page and b.at_page_edge})
    needed = max(2, math.ceil(len(pages) / 2))
    repeated = {pattern for pattern, count in edge_counts.items() if count >= needed}
    kept: list[RawBlock] = []
    dropped = 0
    for block in blocks:
        joined = " ".join(line.strip() for line in block.lines)
        if block.kind in (BlockKind.UNKNOWN, BlockKind.PARAGRAPH) and (
            _PAGE_NUMBER.match(joined) or (block.at_page_edge and _pattern(joined) in repeated)
        ):
            dropped += 1
            continue
        kept.append(block)
    return kept, dropped


# Running heads of a document converted from PDF without its pages (Markdown, plain text): a
# short line that recurs with a page number counting up, or a recurring journal URL line.
_MAX_FURNITURE_WORDS = 20
_MIN_RECURRENCE = 3
_NUMBER = re.compile(r"\d+")
_URL = re.compile(r"(?:https?:|www\.|://|\.(?:org|com|net)\b)", re.I)


def _counts_pages(lines: list[str]) -> bool:
    """True when the recurring line carries a page number: a number at its start or end (or
    after "page") that goes up by 1 or 2 from one occurrence to the next (every page, or every
    other page for alternating heads) in most steps. Numbers inside the line (a count in a
    quote, an interview number) do not count pages."""
    numbers = []
    for line in lines:
        found = list(_NUMBER.finditer(line))
        edge = [
            int(m.group())
            for m in found
            if not line[: m.start()].strip(" ~*_")
            or not line[m.end() :].strip(" ~*_")
            or re.search(r"page\W*$", line[: m.start()], re.I)
        ]
        numbers.append(edge)
    width = min(map(len, numbers))
    for position in range(width):
        values = [row[position] for row in numbers]
        steps = [b - a for a, b in itertools.pairwise(values)]
        if values[0] < 2000 and sum(1 <= step <= 2 for step in steps) >= max(2, 2 * len(steps) / 3):
            return True
    return False


def drop_recurring_furniture(blocks: list[RawBlock]) -> tuple[list[RawBlock], int]:
    """Drop the lines a page layout repeated into a document that lost its pages: running heads
    and footers whose page number counts up, journal URL lines, and stray one- or two-letter
    glyph lines, each recurring at least three times. Headings, lists and tables are left
    alone, and so is any line with a sentence in it that does not count pages."""
    occurrences: dict[str, list[str]] = {}
    for block in blocks:
        if block.kind not in (BlockKind.UNKNOWN, BlockKind.PARAGRAPH):
            continue
        for line in block.lines:
            text = " ".join(line.split())
            if text and len(text.split()) <= _MAX_FURNITURE_WORDS:
                occurrences.setdefault(_pattern(text), []).append(text)
    furniture = set()
    for pattern, lines in occurrences.items():
        if len(lines) < _MIN_RECURRENCE:
            continue
        letters = sum(ch.isalpha() for ch in pattern)
        if (
            (letters <= 2 and not any(ch.isdigit() for ch in lines[0]))
            or ("#" in pattern and len(pattern.split()) >= 4 and _counts_pages(lines))
            or (_URL.search(pattern) and not pattern.rstrip().endswith("."))
        ):
            furniture.add(pattern)
    if not furniture:
        return blocks, 0
    kept: list[RawBlock] = []
    dropped = 0
    for block in blocks:
        if block.kind not in (BlockKind.UNKNOWN, BlockKind.PARAGRAPH):
            kept.append(block)
            continue
        lines = [line for line in block.lines if _pattern(line) not in furniture]
        dropped += len(block.lines) - len(lines)
        if lines:
            kept.append(block if len(lines) == len(block.lines) else replace(block, lines=lines))
    return kept, dropped
