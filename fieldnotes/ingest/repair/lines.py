"""Lines broken by layout: rejoined, with line-end hyphens kept or removed by word frequency."""

from __future__ import annotations

import re
from collections import Counter

from fieldnotes.ingest.repair.frequency import zipf
from fieldnotes.ingest.repair.kinds import HYPHENS, UNWRAPPED
from fieldnotes.settings import RepairSettings
from fieldnotes.text import KANA_KANJI_HALFWIDTH as _CJK

_LIST_MARKER = re.compile(r"^\s*(?:[-*•◦‣·]|\d{1,3}[.)]|[a-z][.)])\s+\S")


def _is_list_line(line: str) -> bool:
    return bool(_LIST_MARKER.match(line))


def join_hyphenated(
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


SUSPENDED_HYPHEN_NEXT = re.compile(r"(?:and|or|nor|to|as well as)\b")
_TAIL = 400
_LETTER_SPACED_END = re.compile(r"(?:(?<![\w'])[A-Za-z] {1,3}){2,}[A-Za-z]$")


def join_across_break(
    text: str, line: str, counts: Counter[str], vocabulary: Counter[str] | None, settings: RepairSettings
) -> str:
    """Join two pieces of text that a line, column or page break separated."""
    if text.endswith("-") and len(text) > 1 and text[-2].isalpha():
        if join_hyphenated(text, line, vocabulary, settings.min_word_zipf, settings.min_compound_advantage):
            counts[HYPHENS] += 1
            return text[:-1] + line
        if SUSPENDED_HYPHEN_NEXT.match(line):
            return text + " " + line  # "full- and part-time"
        return text + line  # a compound broken at its own hyphen: "self-" + "help"
    if _CJK.match(text[-1:]) and _CJK.match(line[:1]):
        return text + line
    # Only the end matters; searching the whole block so far made long blocks quadratic.
    if _LETTER_SPACED_END.search(text[-_TAIL:]):
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
        text = join_across_break(text, line, counts, vocabulary, settings or RepairSettings())
    return text
