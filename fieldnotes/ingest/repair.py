"""Repair the damage that PDF extraction and copy-paste do to text.

Decisions that could change correct text (joining fragments, removing a hyphen)
are taken with a word-frequency resource (wordfreq), never with a hand list of
words: a join happens only when it yields a common word where the text held a
rare fragment. Clean text therefore passes through unchanged.
"""

from __future__ import annotations

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


def _join_hyphenated(
    left: str,
    right: str,
    vocabulary: Counter[str] | None = None,
    min_zipf: float = 3.0,
    compound_advantage: float = 1.25,
) -> bool:
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
    # wordfreq rates "be-come" as the phrase "be come": a real compound ("well-being",
    # "long-term") must be clearly more frequent than the closed word to keep its hyphen.
    joined = zipf((a + b).lower())
    return joined >= min_zipf and joined >= zipf(f"{a}-{b}".lower()) - compound_advantage


_SUSPENDED_HYPHEN_NEXT = re.compile(r"(?:and|or|nor|to|as well as)\b")
_LETTER_SPACED_END = re.compile(r"(?:(?<![\w'])[A-Za-z] {1,3}){2,}[A-Za-z]$")


def _join_across_break(
    text: str, line: str, counts: Counter[str], vocabulary: Counter[str] | None, settings: RepairSettings
) -> str:
    """Join two pieces of text that a line, column or page break separated."""
    if text.endswith("-") and len(text) > 1 and text[-2].isalpha():
        if _join_hyphenated(text, line, vocabulary, settings.min_word_zipf, settings.min_compound_advantage):
            counts[HYPHENS] += 1
            return text[:-1] + line
        if _SUSPENDED_HYPHEN_NEXT.match(line):
            return text + " " + line  # "full- and part-time"
        return text + line  # a compound broken at its own hyphen: "self-" + "help"
    if _CJK.match(text[-1:]) and _CJK.match(line[:1]):
        return text + line
    if _LETTER_SPACED_END.search(text):
        return text + "  " + line  # in letter-spaced text a line break is a word gap
    return text + " " + line


def unwrap_lines(
    lines: list[str],
    counts: Counter[str],
    keep_list_lines: bool = True,
    vocabulary: Counter[str] | None = None,
    settings: RepairSettings | None = None,
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
        counts[UNWRAPPED] += 1
        text = _join_across_break(text, line, counts, vocabulary, settings or RepairSettings())
    return text


# --- words -------------------------------------------------------------------


# Genuine two-letter English words. Any other two-letter token ("th", "st", "er")
# is taken for a fragment of a split word, however often wordfreq has seen it.
_TWO_LETTER_WORDS = frozenset(
    [
        "of",
        "to",
        "in",
        "it",
        "is",
        "be",
        "as",
        "at",
        "so",
        "we",
        "he",
        "by",
        "or",
        "on",
        "do",
        "if",
        "me",
        "my",
        "up",
        "an",
        "go",
        "no",
        "us",
        "am",
        "oh",
        "ok",
        "hi",
        "ex",
        "ox",
        "ah",
        "eh",
        "uh",
        "ad",
        "pa",
        "ma",
    ]
)


def _is_fragment(word: str, settings: RepairSettings) -> bool:
    """A token that is probably a piece of a word rather than a word."""
    lower = word.lower()
    if len(word) == 1:
        return lower not in ("a", "i")
    if len(word) == 2 and lower not in _TWO_LETTER_WORDS:
        return True
    return zipf(lower) < settings.min_word_zipf


def _token_score(word: str, settings: RepairSettings) -> float:
    # log10 probability of a word; fragments score as unknown words.
    return (0.0 if _is_fragment(word, settings) else zipf(word.lower())) - 9.0


# Words in any script, with a possessive or contraction attached ("cooperative's", "cafés").
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
_LATIN_WORD = re.compile(r"[A-Za-z]+(?:['’][A-Za-z]+)*")


def _chains(text: str, tokens: list[re.Match[str]]) -> list[list[re.Match[str]]]:
    """Runs of word tokens separated by exactly one space."""
    chains: list[list[re.Match[str]]] = []
    for token in tokens:
        if chains and text[chains[-1][-1].end() : token.start()] == " ":
            chains[-1].append(token)
        else:
            chains.append([token])
    return chains


def _best_merges(words: list[str], settings: RepairSettings, vocabulary: Counter[str] | None) -> list[tuple[int, int]]:
    """Choose which neighbouring tokens to merge: the most probable reading of the chain,
    where only spaces next to a fragment may go and each removed space costs `min_zipf_gain`."""
    fragment = [_is_fragment(word, settings) for word in words]
    groups: list[tuple[int, int]] = []
    # No merge crosses a space between two whole words, so the chain falls apart there into
    # runs read independently; most chains of clean prose have no fragment and need no search.
    first = 0
    while first < len(words):
        last = first
        while last + 1 < len(words) and (fragment[last] or fragment[last + 1]):
            last += 1
        if last > first:
            run = _best_merges_in_run(words[first : last + 1], fragment[first : last + 1], settings, vocabulary)
            groups += [(first + start, first + end) for start, end in run]
        first = last + 1
    return groups


def _best_merges_in_run(
    words: list[str], fragment: list[bool], settings: RepairSettings, vocabulary: Counter[str] | None
) -> list[tuple[int, int]]:
    n = len(words)
    best: list[tuple[float, int]] = [(0.0, 0)] + [(-math.inf, 0)] * n
    for end in range(1, n + 1):
        for start in range(max(0, end - 3), end):
            if best[start][0] == -math.inf:
                continue
            if end - start == 1:
                score = _token_score(words[start], settings)
            else:
                parts = words[start:end]
                if not all(fragment[i] or fragment[i + 1] for i in range(start, end - 1)):
                    continue
                first = parts[0]
                if not all(part.islower() for part in parts[1:]) or not (
                    first.islower() or (len(first) > 1 and first[0].isupper() and first[1:].islower())
                ):
                    continue
                merged = "".join(parts).lower()
                known = zipf(merged)
                if known < settings.min_word_zipf and not (vocabulary and vocabulary[merged]):
                    continue
                score = max(known, settings.min_word_zipf) - 9.0 - settings.min_zipf_gain * (end - start - 1)
            if best[start][0] + score > best[end][0]:
                best[end] = (best[start][0] + score, start)
    groups: list[tuple[int, int]] = []
    end = n
    while end > 0:
        start = best[end][1]
        if end - start > 1:
            groups.append((start, end))
        end = start
    return groups


def join_split_words(text: str, settings: RepairSettings, vocabulary: Counter[str] | None = None) -> tuple[str, int]:
    """Join words split by stray spaces ("dif ferent", "staf f", "heal th", "commu ni ty").

    Only tokens that are fragments (not words) may lose a neighbouring space, so
    "a part" or "of ten" stay apart; a merged word must be common in English or
    spelt whole elsewhere in the same document ("Nago ya" where "Nagoya" occurs).
    """
    replacements: list[tuple[int, int, str]] = []
    min_run = settings.min_letter_run
    for chain in _chains(text, list(_WORD.finditer(text))):
        words = [token.group() for token in chain]
        if len(words) < 2 or not all(_LATIN_WORD.fullmatch(word) for word in words):
            continue
        singles = "".join("1" if len(word) == 1 else "0" for word in words)
        if "1" * min_run in singles:
            continue  # letter-spaced text that could not be read; leave it as it is
        for first, last in _best_merges(words, settings, vocabulary):
            start, end = chain[first].start(), chain[last - 1].end()
            if (start and text[start - 1].isalnum()) or (end < len(text) and text[end].isalnum()):
                continue  # part of a longer token such as "1950s": not a free-standing fragment
            replacements.append((start, end, "".join(words[first:last])))
    for start, end, merged in sorted(replacements, reverse=True):
        text = text[:start] + merged + text[end:]
    return text, len(replacements)


_INLINE_HYPHEN = re.compile(r"(?<![\w-])([A-Za-z]+)- ([a-z]+)\b")


def join_inline_hyphens(text: str, settings: RepairSettings) -> tuple[str, int]:
    """'dif- ferent': a line-end hyphen whose line break became a space."""
    joins = 0

    def fix(match: re.Match[str]) -> str:
        nonlocal joins
        if _SUSPENDED_HYPHEN_NEXT.match(match.group(2)):
            return match.group(0)  # "pre- and post-war"
        if _join_hyphenated(
            match.group(1) + "-", match.group(2), None, settings.min_word_zipf, settings.min_compound_advantage
        ):
            joins += 1
            return match.group(1) + match.group(2)
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
            # A long run is certainly text, so rarer words may be read in it ("m i s o").
            floor = min(settings.min_word_zipf, 1.5) if len(letters) >= 8 else settings.min_word_zipf
            words = segment_letters(letters, floor) or []
            if not words or sum(map(len, words)) / len(words) < 3:
                if letters.isupper() and len(letters) >= 5:
                    words = [letters]
                else:
                    return run
        joins += 1
        return " ".join(words)

    return pattern.sub(fix, text), joins


def repair_words(
    text: str, settings: RepairSettings, counts: Counter[str], vocabulary: Counter[str] | None = None
) -> str:
    if settings.join_letter_spacing:
        text, n = join_letter_spacing(text, settings)
        counts[LETTER_RUNS] += n
    # Runs of spaces (justified PDF lines) carry no meaning once letter spacing is undone.
    text = re.sub(r"(?<=\S) {2,}(?=\S)", " ", text)
    if settings.join_split_words:
        text, n = join_inline_hyphens(text, settings)
        counts[HYPHENS] += n
        text, n = join_split_words(text, settings, vocabulary)
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
            text = unwrap_lines(block.lines, counts, kind != BlockKind.HEADING, vocabulary, repair)
        else:
            text = "\n".join(line.strip() for line in block.lines)
        work.append(_Block(text, kind, level, inferred, block.looks_like_heading))

    if repair.rejoin_broken_paragraphs:
        merged: list[_Block] = []
        for piece in work:
            if merged and _continues(merged[-1], piece):
                joined = _join_across_break(merged[-1].text, piece.text, counts, vocabulary, repair)
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
