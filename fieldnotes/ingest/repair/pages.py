"""Page artefacts: page numbers, and running headers and footers repeated in the margins."""

from __future__ import annotations

import math
import re
from collections import Counter

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
