"""Measure the ingestion repair on text damaged the way PDF extraction and copy-paste damage it.

Usage: python benchmarks/repair_eval.py [--seed N] [--set dev|test|both] [--examples N]

Clean paragraphs are damaged by a seeded generator that records, for every clean
whitespace token, which kinds of damage touched it. The damaged paragraphs go through
the real `repair_document`, and the output is aligned token by token with the clean
text (normalised with `normalize_text`, so deliberate normalisation such as
straightened quotes is not an error). Two figures matter:

* repair rate: damaged clean tokens that come out exactly as in the clean text;
* false-change rate: undamaged clean tokens that do not come out unchanged.

The same figures are given for a "no repair" baseline (lines joined with spaces) and
for a run of the repair on undamaged text (hard-wrapped, not hyphenated).

Tokens are split on ASCII whitespace only, so a no-break or full-width space left in
the output glues two tokens together and counts as an error. Paragraph boundaries are
kept in the token lists as a marker token, so that a paragraph left cut by a page break
or a page number left in the text shows up in the alignment.

A page break puts a page number and/or a running header between the two halves of a
paragraph, each as its own block with its page set and marked as lying at the page edge,
as the PDF reader delivers them.

The dev set is the English prose of the sample corpus; the test set is a held-out file
that is never used for tuning.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import random
import re
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyphen

import fieldnotes.ingest.repair as repair_module
from fieldnotes.ingest.model import RawBlock, SourceDocument
from fieldnotes.ingest.repair import normalize_text, repair_document
from fieldnotes.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]
DEV_DIRS = ("nagoya", "osaka", "niihama", "documents")
TEST_FILE = ROOT / "tests" / "data" / "repair" / "clean_heldout.txt"
MIN_WORDS = 40
PARAGRAPHS_PER_DOCUMENT = 3
DEFAULT_SEED = 13

# --- damage rates -------------------------------------------------------------

WRAP_WIDTH = (60, 75)  # characters per line, drawn per paragraph
HYPHENATE_RATE = 0.4  # line ends where the next word could be hyphenated and is
SOFT_HYPHEN_BREAK_SHARE = 0.2  # of those, a soft hyphen (U+00AD) instead of "-"
COMPOUND_BREAK_RATE = 0.5  # line ends where a compound ("well-being") is broken at its hyphen
CUT_RATE = 0.3  # paragraphs cut by a page or column break
COLUMN_BREAK_SHARE = 0.3  # of the cuts, a column break (no page number or header between)
IN_WORD_CUT_SHARE = 0.25  # of the cuts, inside a hyphenated word ("com-" | "munity")
STRAY_SPACE_RATE = 0.03  # words of >= 5 letters with a space inside
LETTER_RUN_RATE = 1 / 6  # paragraphs with a letter-spaced run of 3-6 words
SINGLE_SPACED_RUN_SHARE = 0.4  # of the runs, single spaces between words too
CURLY_QUOTE_RATE = 0.5  # paragraphs whose quotes and apostrophes are curly
LIGATURE_RATE = 0.5  # words with ff/fi/fl written as a ligature
SOFT_HYPHEN_RATE = 0.03  # words of >= 6 letters with a soft hyphen inside
NBSP_RATE = 0.01  # word gaps that are no-break spaces
FULLWIDTH_SPACE_RATE = 0.005  # word gaps that are full-width spaces (U+3000)

# --- damage kinds, as reported ------------------------------------------------

HYPHEN = "line-end hyphen"
SOFT_BREAK = "line-end soft hyphen"
PAGE_SEAM = "page break between words"
COLUMN_SEAM = "column break between words"
CUT_WORD = "page/column break inside a word"
STRAY = "stray space inside a word"
RUN_DOUBLE = "letter-spaced run, double spaces"
RUN_SINGLE = "letter-spaced run, single spaces"
CURLY = "curly quotes"
LIGATURE = "ligature"
SOFT_IN_WORD = "soft hyphen inside a word"
NBSP = "no-break space"
FULLWIDTH = "full-width space"
DAMAGE_KINDS = (
    HYPHEN,
    SOFT_BREAK,
    PAGE_SEAM,
    COLUMN_SEAM,
    CUT_WORD,
    STRAY,
    RUN_DOUBLE,
    RUN_SINGLE,
    CURLY,
    LIGATURE,
    SOFT_IN_WORD,
    NBSP,
    FULLWIDTH,
)
# Not damage: a compound broken at its own hyphen is right when restored with the hyphen.
COMPOUND = "compound split at its own hyphen"
EXPOSURES = (COMPOUND,)
ALL = "all"
UNDAMAGED = "undamaged token changed"
PARAGRAPH_LOST = "paragraph break lost"
CONTEXT = 4  # tokens of context either side in error examples

PARAGRAPH_BREAK = "¶"  # marker token between paragraphs (blocks) in both token lists
_ASCII_SPACE = re.compile(r"[ \t\n\r\f\v]+")
_ALPHA = re.compile(r"[A-Za-z]+")
_LIGATURES = (("ffi", "\ufb03"), ("ffl", "\ufb04"), ("ff", "\ufb00"), ("fi", "\ufb01"), ("fl", "\ufb02"))
_HYPHENATABLE = re.compile(r"([^\w]*)([A-Za-z]{6,})((?:['’]s)?[^\w]*)")
_COMPOUND_WORD = re.compile(r"[^\w]*[A-Za-z]+(?:-[A-Za-z]+)+(?:['’]s)?[^\w]*")
_STRAY_TARGET = re.compile(r"[^A-Za-z]*([A-Za-z]{5,})")
_SENTENCE_END = re.compile(r"[.!?:;][\"')\]]*$")
_HEADERS = (
    "Co-production in Japanese Health Cooperatives",
    "FIELD NOTES: SECOND VISIT",
    "Working Paper 2025/1",
    "{page}  Health and Welfare Cooperatives in Japan",
)
_PAGE_NUMBERS = ("{page}", "Page {page}", "– {page} –")


def tokens_of(text: str) -> list[str]:
    """Whitespace tokens, splitting on ASCII whitespace only (a stray U+00A0 glues tokens)."""
    return [token for token in _ASCII_SPACE.split(text) if token]


# --- clean paragraphs ---------------------------------------------------------


def _strip_front_matter(text: str) -> str:
    lines = text.splitlines()
    if lines and lines[0].strip() == "---":
        for index in range(1, len(lines)):
            if lines[index].strip() == "---":
                return "\n".join(lines[index + 1 :])
    return text


def _is_prose(lines: list[str]) -> bool:
    """Lists and tables are not prose paragraphs (the repair keeps their lines apart)."""
    return not any(re.match(r"\s*(?:[-*+•]\s|\d{1,3}[.)]\s|\|)", line) for line in lines)


def _is_english(text: str) -> bool:
    letters = [char for char in text if char.isalpha()]
    latin = sum(char.isascii() or char in "éèàçüöäñ" for char in letters)
    return bool(letters) and latin / len(letters) >= 0.9


def paragraphs_of(text: str) -> list[str]:
    """Prose paragraphs of >= MIN_WORDS words: front matter, headings and markdown bold removed."""
    found = []
    for chunk in re.split(r"\n\s*\n", _strip_front_matter(text)):
        lines = [line for line in chunk.splitlines() if line.strip() and not line.lstrip().startswith("#")]
        if not lines or not _is_prose(lines):
            continue
        paragraph = " ".join(" ".join(lines).replace("**", "").split())
        if len(paragraph.split()) >= MIN_WORDS and _is_english(paragraph):
            found.append(paragraph)
    return found


def dev_paragraphs(root: Path = ROOT) -> list[str]:
    files = sorted(
        path
        for folder in DEV_DIRS
        for path in (root / "corpus" / folder).rglob("*")
        if path.is_file() and path.suffix in (".md", ".txt")
    )
    return [paragraph for path in files for paragraph in paragraphs_of(path.read_text(encoding="utf-8"))]


def heldout_paragraphs(path: Path = TEST_FILE) -> list[str]:
    return [
        " ".join(chunk.split()) for chunk in re.split(r"\n\s*\n", path.read_text(encoding="utf-8")) if chunk.strip()
    ]


# --- damage -------------------------------------------------------------------


@dataclass
class Piece:
    """A run of units (the damaged form of clean tokens) to be laid out as one block.

    gaps[k] separates units[k] and units[k + 1]; a line may not break at a glued gap.
    owners[k] is the index, in the paragraph, of the clean token that units[k] comes from.
    """

    units: list[str]
    gaps: list[str]
    glued: list[bool]
    owners: list[int]


@dataclass
class DamagedParagraph:
    pieces: list[list[str]]  # the lines of each block: one block, or two when cut
    reference: list[str]  # normalised clean tokens
    marks: list[set[str]]  # damage kinds (and exposures) per clean token
    seam: int | None = None  # a page/column break falls between tokens seam and seam + 1
    page_cut: bool = False  # the cut is a page break (page numbers and headers may sit in it)


@dataclass
class Truth:
    """What the repair of one document should give back, and what was damaged."""

    reference: list[str]  # normalised clean tokens, PARAGRAPH_BREAK between paragraphs
    marks: list[set[str]]
    seams: set[int] = field(default_factory=set)


@dataclass
class Sample:
    source: SourceDocument
    truth: Truth


def reference_tokens(paragraph: str) -> list[str]:
    """normalize_text applied to the clean tokens, checked against normalising the whole paragraph."""
    tokens = [normalize_text(token) for token in tokens_of(paragraph)]
    if tokens_of(" ".join(tokens)) != tokens_of(normalize_text(paragraph)):
        raise ValueError(f"normalisation does not keep token boundaries in: {paragraph[:80]!r}")
    return tokens


def _curl(token: str) -> str:
    chars = list(token)
    for index, char in enumerate(chars):
        opening = index == 0 or not (chars[index - 1].isalnum() or chars[index - 1] in ".,;:!?")
        if char == '"':
            chars[index] = "“" if opening else "”"
        elif char == "'":
            chars[index] = "‘" if opening and index == 0 else "’"
    return "".join(chars)


class Damager:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.hyphenator = pyphen.Pyphen(lang="en_GB")

    def syllable_points(self, word: str) -> list[int]:
        return [point for point in self.hyphenator.positions(word) if 2 <= point <= len(word) - 2]

    # Word-level damage, before layout.
    def paragraph(self, clean: str) -> DamagedParagraph:
        rng = self.rng
        tokens = tokens_of(clean)
        n = len(tokens)
        marks: list[set[str]] = [set() for _ in tokens]
        units = list(tokens)
        gaps = [" "] * (n - 1)
        glued = [False] * (n - 1)

        if rng.random() < LETTER_RUN_RATE:
            length = rng.randint(3, 6)
            starts = [s for s in range(n - length + 1) if all(_ALPHA.fullmatch(t) for t in tokens[s : s + length])]
            if starts:
                start = rng.choice(starts)
                single = rng.random() < SINGLE_SPACED_RUN_SHARE
                for k in range(start, start + length):
                    units[k] = " ".join(tokens[k])
                    marks[k].add(RUN_SINGLE if single else RUN_DOUBLE)
                for k in range(start, start + length - 1):
                    gaps[k], glued[k] = (" " if single else "  "), True
                if not single:  # the widened spacing reaches the neighbouring gaps too
                    for k in (start - 1, start + length - 1):
                        if 0 <= k < n - 1:
                            gaps[k] = "  "

        for k, token in enumerate(tokens):
            match = _STRAY_TARGET.match(token)
            if marks[k] or not match or rng.random() >= STRAY_SPACE_RATE:
                continue
            at = match.start(1) + rng.randint(1, len(match.group(1)) - 1)
            units[k] = token[:at] + " " + token[at:]
            marks[k].add(STRAY)

        if rng.random() < CURLY_QUOTE_RATE:
            for k, unit in enumerate(units):
                if '"' in unit or "'" in unit:
                    units[k] = _curl(unit)
                    marks[k].add(CURLY)

        for k, unit in enumerate(units):
            if marks[k] - {CURLY}:
                continue
            if any(pair in unit for pair, _ in _LIGATURES) and rng.random() < LIGATURE_RATE:
                for pair, ligature in _LIGATURES:
                    unit = unit.replace(pair, ligature)
                units[k] = unit
                marks[k].add(LIGATURE)
                continue
            match = _HYPHENATABLE.fullmatch(unit)
            if match and rng.random() < SOFT_HYPHEN_RATE:
                points = self.syllable_points(match.group(2))
                if points:
                    at = match.start(2) + rng.choice(points)
                    units[k] = unit[:at] + "\u00ad" + unit[at:]
                    marks[k].add(SOFT_IN_WORD)

        for k in range(n - 1):
            if glued[k] or gaps[k] != " ":
                continue
            draw = rng.random()
            if draw < NBSP_RATE + FULLWIDTH_SPACE_RATE:
                kind = NBSP if draw < NBSP_RATE else FULLWIDTH
                gaps[k], glued[k] = ("\u00a0" if kind == NBSP else "\u3000"), True
                marks[k].add(kind)
                marks[k + 1].add(kind)

        whole = Piece(units, gaps, glued, list(range(n)))
        pieces, seam, page_cut = self.cut(whole, tokens, marks)
        width = rng.randint(*WRAP_WIDTH)
        lines = [self.wrap(piece, width, marks, hyphenate=True) for piece in pieces]
        return DamagedParagraph(lines, reference_tokens(clean), marks, seam, page_cut)

    def cut(self, whole: Piece, tokens: list[str], marks: list[set[str]]) -> tuple[list[Piece], int | None, bool]:
        """Maybe cut the paragraph in two mid-sentence, as a page or column break does."""
        rng = self.rng
        n = len(whole.units)
        if rng.random() >= CUT_RATE:
            return [whole], None, False
        page_cut = rng.random() >= COLUMN_BREAK_SHARE
        if rng.random() < IN_WORD_CUT_SHARE:
            words = []
            for k in range(3, n - 3):
                match = _HYPHENATABLE.fullmatch(whole.units[k])
                if not marks[k] - {CURLY} and match and self.syllable_points(match.group(2)):
                    words.append(k)
            if words:
                k = rng.choice(words)
                match = _HYPHENATABLE.fullmatch(whole.units[k])
                assert match is not None
                at = match.start(2) + rng.choice(self.syllable_points(match.group(2)))
                unit = whole.units[k]
                first = Piece([*whole.units[:k], unit[:at] + "-"], whole.gaps[:k], whole.glued[:k], list(range(k + 1)))
                second = Piece([unit[at:], *whole.units[k + 1 :]], whole.gaps[k:], whole.glued[k:], list(range(k, n)))
                marks[k].add(CUT_WORD)
                return [first, second], None, page_cut
        seams = [
            k
            for k in range(3, n - 4)
            if not whole.glued[k] and not _SENTENCE_END.search(tokens[k]) and not marks[k] & {RUN_SINGLE, RUN_DOUBLE}
        ]
        if not seams:
            return [whole], None, False
        k = rng.choice(seams)
        first = Piece(whole.units[: k + 1], whole.gaps[:k], whole.glued[:k], list(range(k + 1)))
        second = Piece(whole.units[k + 1 :], whole.gaps[k + 1 :], whole.glued[k + 1 :], list(range(k + 1, n)))
        kind = PAGE_SEAM if page_cut else COLUMN_SEAM
        marks[k].add(kind)
        marks[k + 1].add(kind)
        return [first, second], k, page_cut

    def wrap(self, piece: Piece, width: int, marks: list[set[str]], hyphenate: bool) -> list[str]:
        """Greedy hard wrapping; with `hyphenate`, some words are broken at a line end."""
        line = piece.units[0]
        lines: list[str] = []
        for k in range(1, len(piece.units)):
            gap, unit = piece.gaps[k - 1], piece.units[k]
            if len(line) + len(gap) + len(unit) <= width or piece.glued[k - 1]:
                line += gap + unit
                continue
            owner = piece.owners[k]
            split = self.line_end_split(unit, width - len(line) - len(gap), marks[owner]) if hyphenate else None
            if split is None:
                lines.append(line)
                line = unit
                continue
            head, tail, kind = split
            lines.append(line + gap + head)
            line = tail
            marks[owner].add(kind)
        lines.append(line)
        return lines

    def line_end_split(self, unit: str, room: int, marks: set[str]) -> tuple[str, str, str] | None:
        """Break `unit` at a line end with `room` characters left: (head, tail, kind) or None."""
        if marks - {CURLY}:
            return None
        if _COMPOUND_WORD.fullmatch(unit):
            hyphens = [i for i, char in enumerate(unit) if char == "-" and i + 1 <= room]
            if hyphens and self.rng.random() < COMPOUND_BREAK_RATE:
                at = hyphens[-1] + 1
                return unit[:at], unit[at:], COMPOUND
            return None
        match = _HYPHENATABLE.fullmatch(unit)
        if not match:
            return None
        points = [p for p in self.syllable_points(match.group(2)) if match.start(2) + p + 1 <= room]
        if not points or self.rng.random() >= HYPHENATE_RATE:
            return None
        at = match.start(2) + points[-1]
        soft = self.rng.random() < SOFT_HYPHEN_BREAK_SHARE
        return unit[:at] + ("\u00ad" if soft else "-"), unit[at:], SOFT_BREAK if soft else HYPHEN


def _source(blocks: list[RawBlock], name: str) -> SourceDocument:
    return SourceDocument(path=Path(name), relpath=name, format="pdf", raw_hash=name, blocks=blocks)


def _groups(paragraphs: Sequence[str]) -> Iterable[tuple[int, Sequence[str]]]:
    for start in range(0, len(paragraphs), PARAGRAPHS_PER_DOCUMENT):
        yield start // PARAGRAPHS_PER_DOCUMENT, paragraphs[start : start + PARAGRAPHS_PER_DOCUMENT]


def damaged_samples(paragraphs: Sequence[str], rng: random.Random) -> list[Sample]:
    """Documents of a few paragraphs each, damaged, with page numbers and headers at page breaks."""
    damager = Damager(rng)
    samples = []
    for number, group in _groups(paragraphs):
        damaged = [damager.paragraph(paragraph) for paragraph in group]
        page = rng.randint(2, 240)
        style = rng.choice(("number", "header", "both"))
        header = rng.choice(_HEADERS)
        page_number = rng.choice(_PAGE_NUMBERS)
        paged = any(paragraph.page_cut for paragraph in damaged)
        blocks: list[RawBlock] = []
        if paged and style != "number":
            blocks.append(RawBlock([header.format(page=page)], page=page, at_page_edge=True))
        truth = Truth([], [])
        for paragraph in damaged:
            if truth.reference:
                truth.reference.append(PARAGRAPH_BREAK)
                truth.marks.append(set())
            if paragraph.seam is not None:
                truth.seams.add(len(truth.reference) + paragraph.seam)
            truth.reference.extend(paragraph.reference)
            truth.marks.extend(paragraph.marks)
            for index, lines in enumerate(paragraph.pieces):
                if index and paragraph.page_cut:
                    if style != "header":
                        blocks.append(RawBlock([page_number.format(page=page)], page=page, at_page_edge=True))
                    page += 1
                    if style != "number":
                        blocks.append(RawBlock([header.format(page=page)], page=page, at_page_edge=True))
                blocks.append(RawBlock(lines, page=page))
        if paged and style != "header":
            blocks.append(RawBlock([page_number.format(page=page)], page=page, at_page_edge=True))
        samples.append(Sample(_source(blocks, f"damaged-{number}.pdf"), truth))
    return samples


def clean_samples(paragraphs: Sequence[str], rng: random.Random) -> list[Sample]:
    """The same documents undamaged: one block per paragraph, hard-wrapped without hyphenation."""
    damager = Damager(rng)
    samples = []
    for number, group in _groups(paragraphs):
        blocks = []
        truth = Truth([], [])
        for paragraph in group:
            tokens = tokens_of(paragraph)
            piece = Piece(tokens, [" "] * (len(tokens) - 1), [False] * (len(tokens) - 1), list(range(len(tokens))))
            marks: list[set[str]] = [set() for _ in tokens]
            blocks.append(RawBlock(damager.wrap(piece, rng.randint(*WRAP_WIDTH), marks, hyphenate=False), page=1))
            if truth.reference:
                truth.reference.append(PARAGRAPH_BREAK)
                truth.marks.append(set())
            truth.reference.extend(reference_tokens(paragraph))
            truth.marks.extend(marks)
        samples.append(Sample(_source(blocks, f"clean-{number}.pdf"), truth))
    return samples


# --- repair and baseline ------------------------------------------------------


def _with_breaks(texts: Iterable[str]) -> list[str]:
    out: list[str] = []
    for text in texts:
        tokens = tokens_of(text)
        if not tokens:
            continue
        if out:
            out.append(PARAGRAPH_BREAK)
        out.extend(tokens)
    return out


def repaired_tokens(source: SourceDocument, settings: Settings) -> list[str]:
    cleaned = repair_document(source, settings.repair, settings.segment)
    return _with_breaks(block.text for block in cleaned.blocks)


def baseline_tokens(source: SourceDocument) -> list[str]:
    """No repair: the lines of each block joined with spaces, nothing else."""
    return _with_breaks(" ".join(line.strip() for line in block.lines) for block in source.blocks)


# --- scoring ------------------------------------------------------------------


@dataclass
class Tally:
    damaged: Counter[str] = field(default_factory=Counter)  # per kind, and ALL
    repaired: Counter[str] = field(default_factory=Counter)
    exposed: Counter[str] = field(default_factory=Counter)
    exposed_changed: Counter[str] = field(default_factory=Counter)
    undamaged: int = 0
    changed: int = 0
    unmatched_output: int = 0  # output tokens aligned with no clean token
    breaks: int = 0  # paragraph boundaries in the clean text
    breaks_lost: int = 0
    # Per kind (damage kind, UNDAMAGED or PARAGRAPH_LOST): (clean context, output context) of each error.
    errors: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def add(self, other: Tally) -> None:
        for mine, theirs in (
            (self.damaged, other.damaged),
            (self.repaired, other.repaired),
            (self.exposed, other.exposed),
            (self.exposed_changed, other.exposed_changed),
        ):
            mine.update(theirs)
        self.undamaged += other.undamaged
        self.changed += other.changed
        self.unmatched_output += other.unmatched_output
        self.breaks += other.breaks
        self.breaks_lost += other.breaks_lost
        for kind, found in other.errors.items():
            self.errors.setdefault(kind, []).extend(found)


def score(truth: Truth, output: Sequence[str]) -> Tally:
    """Align output tokens with the clean reference and count repaired and changed tokens.

    A clean token is right when it sits in an 'equal' block of the alignment. The two tokens
    either side of a page or column break are right only if, in addition, nothing (no
    paragraph break, no left-over page number or header) separates them in the output.
    """
    reference = truth.reference
    matcher = difflib.SequenceMatcher(None, reference, list(output), autojunk=False)
    position: list[int | None] = [None] * len(reference)
    for tag, i1, i2, j1, _j2 in matcher.get_opcodes():
        if tag == "equal":
            for offset in range(i2 - i1):
                position[i1 + offset] = j1 + offset
    right = [pos is not None for pos in position]
    for seam in truth.seams:
        left_pos, right_pos = position[seam], position[seam + 1]
        if left_pos is None or right_pos is None or right_pos != left_pos + 1:
            right[seam] = right[seam + 1] = False

    tally = Tally(unmatched_output=len(output) - sum(pos is not None for pos in position))
    for index, token in enumerate(reference):
        if token == PARAGRAPH_BREAK:
            tally.breaks += 1
            tally.breaks_lost += not right[index]
            labels = [PARAGRAPH_LOST]
        elif kinds := truth.marks[index] - set(EXPOSURES):
            for kind in (*kinds, ALL):
                tally.damaged[kind] += 1
                tally.repaired[kind] += right[index]
            labels = sorted(kinds)
        else:
            tally.undamaged += 1
            tally.changed += not right[index]
            for exposure in truth.marks[index] & set(EXPOSURES):
                tally.exposed[exposure] += 1
                tally.exposed_changed[exposure] += not right[index]
            labels = [UNDAMAGED]
        if not right[index]:
            example = _context(reference, list(output), position, index)
            for label in labels:
                tally.errors.setdefault(label, []).append(example)
    return tally


def _context(reference: list[str], output: list[str], position: list[int | None], index: int) -> tuple[str, str]:
    """The clean tokens around `index` (marked with brackets), and the output that stands for them."""
    start, end = max(0, index - CONTEXT), min(len(reference), index + CONTEXT + 1)
    while start > 0 and position[start] is None:
        start -= 1
    while end < len(reference) and position[end - 1] is None:
        end += 1
    left, right = position[start], position[end - 1]
    out_start = left if left is not None else 0
    out_end = right + 1 if right is not None else len(output)
    clean = [f"[{token}]" if at == index else token for at, token in enumerate(reference[start:end], start)]
    return " ".join(clean), " ".join(output[out_start:out_end])


@dataclass
class SetResult:
    name: str
    paragraphs: int
    documents: int
    repair: Tally
    baseline: Tally
    clean_repair: Tally
    clean_baseline: Tally


def evaluate(name: str, paragraphs: Sequence[str], seed: int, settings: Settings | None = None) -> SetResult:
    settings = settings or load_settings()
    damaged = damaged_samples(paragraphs, random.Random(f"{seed}:{name}:damage"))
    clean = clean_samples(paragraphs, random.Random(f"{seed}:{name}:clean"))
    result = SetResult(name, len(paragraphs), len(damaged), Tally(), Tally(), Tally(), Tally())
    for sample in damaged:
        result.repair.add(score(sample.truth, repaired_tokens(sample.source, settings)))
        result.baseline.add(score(sample.truth, baseline_tokens(sample.source)))
    for sample in clean:
        result.clean_repair.add(score(sample.truth, repaired_tokens(sample.source, settings)))
        result.clean_baseline.add(score(sample.truth, baseline_tokens(sample.source)))
    return result


# --- report -------------------------------------------------------------------


def _rate(part: int, whole: int) -> str:
    return f"{100 * part / whole:6.2f}%" if whole else "     - "


def _row(label: str, total: int, repair: int, baseline: int, indent: int = 0) -> str:
    label = " " * indent + label
    return f"{label:<42}{total:>7}  {repair:>6} {_rate(repair, total)}  {baseline:>6} {_rate(baseline, total)}"


def report(result: SetResult, seed: int) -> str:
    r, b = result.repair, result.baseline
    tokens = r.damaged[ALL] + r.undamaged
    out = [
        f"== {result.name}: {result.paragraphs} paragraphs in {result.documents} documents, "
        f"{tokens} tokens, seed {seed} ==",
        f"{'':<42}{'tokens':>7}  {'repair':>14}  {'no repair':>14}",
        _row("damaged tokens: repaired", r.damaged[ALL], r.repaired[ALL], b.repaired[ALL]),
    ]
    out += [_row(kind, r.damaged[kind], r.repaired[kind], b.repaired[kind], indent=2) for kind in DAMAGE_KINDS]
    out.append(_row("undamaged tokens: changed", r.undamaged, r.changed, b.changed))
    out += [_row(kind, r.exposed[kind], r.exposed_changed[kind], b.exposed_changed[kind], 2) for kind in EXPOSURES]
    unmatched = "output tokens matching no clean token"
    out.append(f"{unmatched:<42}{'':>7}  {r.unmatched_output:>6} {'':>7}  {b.unmatched_output:>6}")
    out.append(_row("paragraph breaks: lost", r.breaks, r.breaks_lost, b.breaks_lost))
    c, cb = result.clean_repair, result.clean_baseline
    out.append(_row("clean text only: tokens changed", c.undamaged, c.changed, cb.changed))
    out.append(_row("clean text only: paragraph breaks lost", c.breaks, c.breaks_lost, cb.breaks_lost))
    return "\n".join(out)


def error_examples(result: SetResult, limit: int) -> str:
    """Up to `limit` errors of the repair per kind: the clean text, then what the repair gave."""
    out = []
    for label, found in sorted(result.repair.errors.items()):
        out.append(f"-- {label}: {len(found)} (showing {min(limit, len(found))})")
        for clean, repaired in found[:limit]:
            out += [f"   clean:    {clean}", f"   repaired: {repaired}"]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"damage seed (default {DEFAULT_SEED})")
    parser.add_argument("--set", choices=("dev", "test", "both"), default="both", dest="which")
    parser.add_argument("--examples", type=int, default=0, metavar="N", help="show N repair errors of each kind")
    args = parser.parse_args(argv)
    sets = {"dev": dev_paragraphs, "test": heldout_paragraphs}
    names = ("dev", "test") if args.which == "both" else (args.which,)
    settings = load_settings()
    package = Path(repair_module.__file__ or "").parent
    digest = hashlib.sha256()
    for module in sorted(package.glob("*.py")):
        digest.update(module.name.encode() + b"\0" + module.read_bytes())
    print(
        f"repair code {digest.hexdigest()[:12]} (sha256 of {package.name}/*.py), "
        f"settings {settings.digest('repair', 'segment')}"
    )
    for name in names:
        print()
        result = evaluate(name, sets[name](), args.seed, settings)
        print(report(result, args.seed))
        if args.examples:
            print(error_examples(result, args.examples))
    return 0


if __name__ == "__main__":
    sys.exit(main())
