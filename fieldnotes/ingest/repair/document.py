"""A document's blocks classified (headings found in plain text), repaired, and laid out
as one cleaned text with offsets."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from dataclasses import dataclass, replace

from fieldnotes.ingest.model import BlockKind, CleanBlock, CleanDocument, RawBlock, SourceDocument
from fieldnotes.ingest.repair.characters import normalize_text
from fieldnotes.ingest.repair.frequency import document_vocabulary, reads_as_english
from fieldnotes.ingest.repair.glyphs import restore_dash_glyphs_in
from fieldnotes.ingest.repair.kinds import BOILERPLATE, DASH_GLYPHS, NORMALISED, PAGE_ARTEFACTS, PARAGRAPHS
from fieldnotes.ingest.repair.lines import join_across_break, unwrap_lines
from fieldnotes.ingest.repair.pages import drop_page_artifacts, drop_recurring_furniture
from fieldnotes.ingest.repair.words import repair_words
from fieldnotes.settings import RepairSettings, SegmentSettings

_SENTENCE_END = tuple(".!?:;\"')]。！？」』）")
_BULLET = re.compile(r"^\s*[-*•◦‣·]\s+\S")
_NUMBERED_HEADING = re.compile(r"^(?:(\d{1,2}(?:\.\d{1,2})*)\.?|([IVXLC]{1,6})\.|§\s*\d+)\s+\S")
# Closed-class words that cannot end a heading and signal a sentence running on.
_FUNCTION_WORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "to",
        "in",
        "on",
        "at",
        "for",
        "with",
        "by",
        "from",
        "into",
        "and",
        "or",
        "but",
        "nor",
        "as",
        "than",
        "that",
        "which",
        "who",
        "whom",
        "whose",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "has",
        "have",
        "had",
        "their",
        "its",
        "his",
        "her",
        "our",
        "your",
        "my",
        "this",
        "these",
        "those",
        "very",
        "also",
        "not",
        "no",
        "so",
        "such",
        "if",
        "when",
        "while",
        "because",
    ]
)


def _ends_sentence(text: str) -> bool:
    return text.rstrip().endswith(_SENTENCE_END)


def _last_word(text: str) -> str:
    words = text.split()
    return words[-1].strip("\"'()[]").lower() if words else ""


_MAX_WRAPPED_HEADING_LINES = 4
_DASHES = ("-", "\u2013", "\u2014")


def _wrapped(lines: list[str]) -> bool:
    """Whether every break between `lines` cuts one phrase: a line ending in a hyphen or dash or
    a function word, or the next starting with a dash or a small letter. A title a layout wrapped
    over three or four lines reads so; an address or a list of short lines does not."""
    for before, after in itertools.pairwise(line.strip() for line in lines):
        if not before or not after:
            return False
        cut = before.endswith(_DASHES) or after.startswith(_DASHES) or after[0].islower()
        if not cut and _last_word(before) not in _FUNCTION_WORDS:
            return False
    return True


def heading_level(lines: list[str], is_first: bool, settings: SegmentSettings) -> int | None:
    """Level of a plain-text block that looks like a heading, or None.

    A heading is short, has no sentence punctuation at its end, starts with a
    capital or a number, and may be wrapped over two lines, or up to four when every break
    cuts one phrase (a hyphen or dash at the break, or a small letter after it).
    """
    if len(lines) > 2 and not (len(lines) <= _MAX_WRAPPED_HEADING_LINES and _wrapped(lines)):
        return None
    text = " ".join(line.strip() for line in lines)
    numbered = _NUMBERED_HEADING.match(text)
    # A numbered heading ("4. Niihama ...") may run longer than an unnumbered one.
    stretch = 1.5 if numbered else 1.0
    if not text or len(text) > 120 * stretch or len(text.split()) > settings.max_heading_words * stretch:
        return None
    if not re.search(r"[^\W\d_]", text) or _BULLET.match(text):
        return None
    if text.endswith((".", "!", "?", ",", ";", ":", "。", "!", "?", "、")) and not text.endswith("..."):
        return None
    if text[0].islower() or _last_word(text) in _FUNCTION_WORDS:
        return None
    if len(lines) == 2 and _ends_sentence(lines[0]):
        return None
    if numbered and numbered.group(1):
        return numbered.group(1).count(".") + 2
    if numbered:
        return 2
    return 1 if is_first else 2


@dataclass
class _Block:
    text: str
    kind: BlockKind
    level: int | None
    inferred: bool = False
    bold_heading: bool = False


def _classify(blocks: list[RawBlock], settings: SegmentSettings) -> list[tuple[RawBlock, BlockKind, int | None, bool]]:
    classified = []
    for index, block in enumerate(blocks):
        kind, level, inferred = block.kind, block.level, False
        if kind in (BlockKind.UNKNOWN, BlockKind.PARAGRAPH) and index < len(blocks) - 1:
            if block.looks_like_heading and len(block.lines) <= 3 and not _ends_sentence(block.lines[-1]):
                kind, level, inferred = BlockKind.HEADING, level or 2, True
            elif kind == BlockKind.UNKNOWN:
                found = heading_level(block.lines, index == 0, settings)
                if found is not None:
                    kind, level, inferred = BlockKind.HEADING, found, True
        if kind == BlockKind.UNKNOWN:
            kind = BlockKind.PARAGRAPH
        classified.append((block, kind, level, inferred))
    return classified


def _continues(previous: _Block, following: _Block) -> bool:
    """True when `following` is the rest of a sentence that a page or column break cut."""
    if following.kind != BlockKind.PARAGRAPH or previous.kind not in (BlockKind.PARAGRAPH, BlockKind.HEADING):
        return False
    if previous.kind == BlockKind.HEADING and not (previous.inferred and not previous.bold_heading):
        return False
    starts_lower = following.text[:1].islower()
    if previous.kind == BlockKind.HEADING:
        return starts_lower
    if _ends_sentence(previous.text):
        return False
    return starts_lower or _last_word(previous.text) in _FUNCTION_WORDS or previous.text.endswith((",", "-"))


def repair_document(source: SourceDocument, repair: RepairSettings, segment: SegmentSettings) -> CleanDocument:
    """Repair one document and lay its blocks out as one cleaned text with offsets."""
    counts: Counter[str] = Counter()
    raw_blocks = source.blocks
    if repair.drop_boilerplate:
        counts[BOILERPLATE] += sum(block.boilerplate for block in raw_blocks)
        raw_blocks = [block for block in raw_blocks if not block.boilerplate]
    if repair.normalize_characters:
        normalised = []
        for block in raw_blocks:
            lines = normalize_text("\n".join(block.lines)).split("\n")
            counts[NORMALISED] += sum(a != b for a, b in zip(lines, block.lines, strict=False))
            normalised.append(replace(block, lines=[line for line in lines if line.strip()] or [""]))
        raw_blocks = [block for block in normalised if any(line.strip() for line in block.lines)]
    if repair.drop_page_artifacts and source.format in ("pdf", "txt"):
        raw_blocks, dropped = drop_page_artifacts(raw_blocks)
        counts[PAGE_ARTEFACTS] += dropped
    if repair.drop_page_artifacts and source.format in ("md", "txt"):
        raw_blocks, dropped = drop_recurring_furniture(raw_blocks)
        counts[PAGE_ARTEFACTS] += dropped
    # Word repairs read words by English frequencies: in other languages they would "repair"
    # correct words ("e o" in Portuguese), so they run on English documents only.
    english = reads_as_english(raw_blocks)
    if not english:
        repair = repair.model_copy(update={"join_split_words": False})
    if repair.normalize_characters:
        raw_blocks, restored = restore_dash_glyphs_in(raw_blocks, english)
        counts[DASH_GLYPHS] += restored

    vocabulary = document_vocabulary(raw_blocks)
    work: list[_Block] = []
    for block, kind, level, inferred in _classify(raw_blocks, segment):
        if kind == BlockKind.TABLE:
            text = "\n".join(line.strip() for line in block.lines)
        elif repair.unwrap_lines:
            text = unwrap_lines(block.lines, counts, kind != BlockKind.HEADING, vocabulary, repair)
        else:
            text = "\n".join(line.strip() for line in block.lines)
        work.append(_Block(text, kind, level, inferred, block.looks_like_heading))

    if repair.rejoin_broken_paragraphs:
        merged: list[_Block] = []
        for piece in work:
            if merged and _continues(merged[-1], piece):
                joined = join_across_break(merged[-1].text, piece.text, counts, vocabulary, repair)
                merged[-1] = _Block(joined, BlockKind.PARAGRAPH, None)
                counts[PARAGRAPHS] += 1
            else:
                merged.append(piece)
        work = merged

    clean_blocks: list[CleanBlock] = []
    pieces: list[str] = []
    offset = 0
    for repaired in work:
        text = repair_words(repaired.text, repair, counts, vocabulary).strip()
        if not text:
            continue
        if pieces:
            pieces.append("\n\n")
            offset += 2
        clean_blocks.append(
            CleanBlock(text, repaired.kind, repaired.level, offset, offset + len(text), repaired.inferred)
        )
        pieces.append(text)
        offset += len(text)
    return CleanDocument(source, "".join(pieces), clean_blocks, {k: v for k, v in counts.items() if v})
