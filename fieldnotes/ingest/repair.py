"""Repair the damage that PDF extraction and copy-paste do to text.

Decisions that could change correct text (joining fragments, removing a hyphen)
are taken with a word-frequency resource (wordfreq), never with a hand list of
words: a join happens only when it yields a common word where the text held a
rare fragment. Clean text therefore passes through unchanged.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from dataclasses import dataclass, replace
from functools import lru_cache

from fieldnotes.ingest.model import BlockKind, CleanBlock, CleanDocument, RawBlock, SourceDocument
from fieldnotes.settings import RepairSettings, SegmentSettings

# Repair kinds, as counted and reported.
NORMALISED = "characters normalised"
PAGE_ARTEFACTS = "page numbers and running headers dropped"
UNWRAPPED = "broken lines rejoined"
HYPHENS = "hyphenated words rejoined"
PARAGRAPHS = "paragraphs rejoined across breaks"
SPLIT_WORDS = "split words joined"
LETTER_RUNS = "letter-spaced runs joined"

_CHAR_FIXES = str.maketrans(
    {
        "\u00ad": None,  # soft hyphen inside a line
        "\u200b": None,
        "\u200c": None,
        "\u200d": None,
        "\u2060": None,
        "\ufeff": None,
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2043": "-",
        "\u2212": "-",
        "\u00a0": " ",
        "\u2007": " ",
        "\u202f": " ",
        "\t": " ",
    }
)
_SENTENCE_END = tuple(".!?:;\"')]。！？」』）")
_LIST_MARKER = re.compile(r"^\s*(?:[-*•◦‣·]|\d{1,3}[.)]|[a-z][.)])\s+\S")
_BULLET = re.compile(r"^\s*[-*•◦‣·]\s+\S")
_NUMBERED_HEADING = re.compile(r"^(?:(\d{1,2}(?:\.\d{1,2})*)\.?|([IVXLC]{1,6})\.|§\s*\d+)\s+\S")
_PAGE_NUMBER = re.compile(r"^(?:page\s+)?[-–—(\[]?\s*\d{1,4}\s*[-–—)\]]?(?:\s*(?:of|/)\s*\d{1,4})?$", re.I)
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
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff66-\uff9f]")


@lru_cache(maxsize=200_000)
def zipf(word: str) -> float:
    """English word frequency on the Zipf scale (0 = unknown, 3 = once per million words)."""
    from wordfreq import zipf_frequency

    return zipf_frequency(word, "en")


# --- characters -------------------------------------------------------------


def normalize_text(text: str) -> str:
    """NFKC, mojibake, ligatures, full-width forms, curly quotes, odd dashes and spaces."""
    import ftfy

    text = text.replace("\u00ad\n", "-\n")  # a soft hyphen that broke a line acts as a hyphen
    text = ftfy.fix_text(text, normalization="NFKC", unescape_html=False)
    return text.translate(_CHAR_FIXES)


# --- layout ----------------------------------------------------------------


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


def _ends_sentence(text: str) -> bool:
    return text.rstrip().endswith(_SENTENCE_END)


def _last_word(text: str) -> str:
    words = text.split()
    return words[-1].strip("\"'()[]").lower() if words else ""


def heading_level(lines: list[str], is_first: bool, settings: SegmentSettings) -> int | None:
    """Level of a plain-text block that looks like a heading, or None.

    A heading is short, has no sentence punctuation at its end, starts with a
    capital or a number, and may be wrapped over two lines.
    """
    if len(lines) > 2:
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


def _is_list_line(line: str) -> bool:
    return bool(_LIST_MARKER.match(line))


def document_vocabulary(blocks: list[RawBlock]) -> Counter[str]:
    """Lower-cased words (hyphenated compounds included) as the document itself spells them."""
    vocabulary: Counter[str] = Counter()
    for block in blocks:
        for line in block.lines:
            vocabulary.update(word.lower() for word in re.findall(r"[A-Za-z]+(?:-[A-Za-z]+)*(?!-$)", line))
    return vocabulary


def _join_hyphenated(left: str, right: str, vocabulary: Counter[str] | None = None) -> bool:
    """Decide whether 'left-' at a line end and 'right' on the next line are one word.

    The document's own spelling decides first ("Minami-Odaka" elsewhere keeps the
    hyphen, "cooperative" elsewhere drops it); word frequencies decide otherwise.
    """
    head = re.search(r"((?:[A-Za-z]+-)*)([A-Za-z]+)-$", left)
    tail = re.match(r"([A-Za-z]+)((?:-[A-Za-z]+)*)", right)
    if not head or not tail or not tail.group(1).islower():
        return False
    a, b = head.group(2), tail.group(1)
    if vocabulary:
        # Whole compounds first ("Min-" + "ami-Odaka" as "minami-odaka"), then the bare pair.
        before, after = head.group(1), tail.group(2)
        for prefix, suffix in ((before, after), ("", "")):
            in_joined = vocabulary[f"{prefix}{a}{b}{suffix}".lower()]
            in_hyphenated = vocabulary[f"{prefix}{a}-{b}{suffix}".lower()]
            if in_joined != in_hyphenated and (in_joined == 0 or in_hyphenated == 0):
                return in_joined > in_hyphenated
    joined = zipf((a + b).lower())
    return joined > 0 and joined > zipf(f"{a}-{b}".lower())


def unwrap_lines(
    lines: list[str],
    counts: Counter[str],
    keep_list_lines: bool = True,
    vocabulary: Counter[str] | None = None,
) -> str:
    """Join the lines of one block: hyphenation at line ends, CJK without spaces, lists kept."""
    text = lines[0].strip() if lines else ""
    for raw in lines[1:]:
        line = raw.strip()
        if not line:
            continue
        if keep_list_lines and _is_list_line(line):
            text += "\n" + line
            continue
        if text.endswith("-") and len(text) > 1 and text[-2].isalpha():
            counts[UNWRAPPED] += 1
            if _join_hyphenated(text, line, vocabulary):
                counts[HYPHENS] += 1
                text = text[:-1] + line
            else:
                text += line
            continue
        counts[UNWRAPPED] += 1
        if _CJK.match(text[-1:]) and _CJK.match(line[:1]):
            text += line
        else:
            text += " " + line
    return text


# --- words -------------------------------------------------------------------


def _fragment_zipf(word: str) -> float:
    # A lone letter other than "a"/"I" is a fragment, not a word, whatever its frequency.
    if len(word) == 1 and word.lower() not in ("a", "i"):
        return 0.0
    return zipf(word.lower())


def _should_join(parts: list[str], settings: RepairSettings) -> bool:
    first, rest = parts[0], parts[1:]
    if not all(part.islower() for part in rest):
        return False
    if not (first.islower() or (first[0].isupper() and first[1:].islower() and len(first) > 1)):
        return False
    scores = [_fragment_zipf(part) for part in parts]
    if not any(score < settings.min_word_zipf for score in scores):
        return False
    joined = zipf("".join(parts).lower())
    return joined >= settings.min_word_zipf and joined - min(scores) >= settings.min_zipf_gain


_WORD = re.compile(r"[A-Za-z]+")
_GLUE = re.compile(r"[\w'’-]")


def join_split_words(text: str, settings: RepairSettings) -> tuple[str, int]:
    """Join words split by stray spaces ("dif ferent", "staf f", "commu ni ty")."""
    tokens = list(_WORD.finditer(text))
    out: list[str] = []
    position = index = joins = 0
    while index < len(tokens):
        for width in (3, 2):
            group = tokens[index : index + width]
            if len(group) < width:
                continue
            if any(text[a.end() : b.start()] != " " for a, b in itertools.pairwise(group)):
                continue
            start, end = group[0].start(), group[-1].end()
            if (start and _GLUE.match(text[start - 1])) or (end < len(text) and _GLUE.match(text[end])):
                continue
            parts = [match.group() for match in group]
            if _should_join(parts, settings):
                out.append(text[position:start])
                out.append("".join(parts))
                position, index, joins = end, index + width, joins + 1
                break
        else:
            index += 1
    out.append(text[position:])
    return "".join(out), joins


_INLINE_HYPHEN = re.compile(r"(?<![\w-])([A-Za-z]+)- ([a-z]+)\b")


def join_inline_hyphens(text: str) -> tuple[str, int]:
    """'dif- ferent': a line-end hyphen whose line break became a space."""
    joins = 0

    def fix(match: re.Match[str]) -> str:
        nonlocal joins
        a, b = match.group(1), match.group(2)
        joined = zipf((a + b).lower())
        if joined >= 3.0 and joined > zipf(f"{a}-{b}".lower()):
            joins += 1
            return a + b
        return match.group(0)

    return _INLINE_HYPHEN.sub(fix, text), joins


def segment_letters(letters: str, min_zipf: float) -> list[str] | None:
    """Split a run of letters into common words (most probable split), or None."""
    lower = letters.lower()
    n = len(lower)
    best: list[tuple[float, int]] = [(0.0, 0)] + [(-math.inf, 0)] * n
    for end in range(1, n + 1):
        for start in range(max(0, end - 20), end):
            if best[start][0] == -math.inf:
                continue
            word = lower[start:end]
            score = zipf(word) if (len(word) > 1 or word in ("a", "i")) else 0.0
            if score < min_zipf:
                continue
            candidate = best[start][0] + score - 9.0  # log10 probability per word
            if candidate > best[end][0]:
                best[end] = (candidate, start)
    if best[n][0] == -math.inf:
        return None
    words: list[str] = []
    end = n
    while end > 0:
        start = best[end][1]
        words.append(letters[start:end])
        end = start
    words.reverse()
    return words


def join_letter_spacing(text: str, settings: RepairSettings) -> tuple[str, int]:
    """'a r e  b a s e d  o n' -> 'are based on'; 'C O N C L U S I O N' -> 'CONCLUSION'."""
    repeats = settings.min_letter_run - 1
    pattern = re.compile(rf"(?<![\w'])(?:[A-Za-z] {{1,3}}){{{repeats},}}[A-Za-z](?![\w'])")
    joins = 0

    def fix(match: re.Match[str]) -> str:
        nonlocal joins
        run = match.group(0)
        if re.search(r" {2,}", run):
            words = ["".join(group.split()) for group in re.split(r" {2,}", run)]
        else:
            letters = "".join(run.split())
            words = segment_letters(letters, settings.min_word_zipf) or []
            if not words or sum(map(len, words)) / len(words) < 3:
                if letters.isupper() and len(letters) >= 5:
                    words = [letters]
                else:
                    return run
        joins += 1
        return " ".join(words)

    return pattern.sub(fix, text), joins


def repair_words(text: str, settings: RepairSettings, counts: Counter[str]) -> str:
    if settings.join_letter_spacing:
        text, n = join_letter_spacing(text, settings)
        counts[LETTER_RUNS] += n
    # Runs of spaces (justified PDF lines) carry no meaning once letter spacing is undone.
    text = re.sub(r"(?<=\S) {2,}(?=\S)", " ", text)
    if settings.join_split_words:
        text, n = join_inline_hyphens(text)
        counts[HYPHENS] += n
        text, n = join_split_words(text, settings)
        counts[SPLIT_WORDS] += n
    return text


# --- document ----------------------------------------------------------------


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

    vocabulary = document_vocabulary(raw_blocks)
    work: list[_Block] = []
    for block, kind, level, inferred in _classify(raw_blocks, segment):
        if kind == BlockKind.TABLE:
            text = "\n".join(line.strip() for line in block.lines)
        elif repair.unwrap_lines:
            text = unwrap_lines(block.lines, counts, kind != BlockKind.HEADING, vocabulary)
        else:
            text = "\n".join(line.strip() for line in block.lines)
        work.append(_Block(text, kind, level, inferred, block.looks_like_heading))

    if repair.rejoin_broken_paragraphs:
        merged: list[_Block] = []
        for block in work:
            if merged and _continues(merged[-1], block):
                previous = merged[-1]
                if previous.text.endswith("-") and _join_hyphenated(previous.text, block.text, vocabulary):
                    joined = previous.text[:-1] + block.text
                    counts[HYPHENS] += 1
                elif _CJK.match(previous.text[-1:]) and _CJK.match(block.text[:1]):
                    joined = previous.text + block.text
                else:
                    joined = previous.text + " " + block.text
                merged[-1] = _Block(joined, BlockKind.PARAGRAPH, None)
                counts[PARAGRAPHS] += 1
            else:
                merged.append(block)
        work = merged

    clean_blocks: list[CleanBlock] = []
    pieces: list[str] = []
    offset = 0
    for block in work:
        text = repair_words(block.text, repair, counts).strip()
        if not text:
            continue
        if pieces:
            pieces.append("\n\n")
            offset += 2
        clean_blocks.append(CleanBlock(text, block.kind, block.level, offset, offset + len(text), block.inferred))
        pieces.append(text)
        offset += len(text)
    return CleanDocument(source, "".join(pieces), clean_blocks, {k: v for k, v in counts.items() if v})
