"""How common a word is: in English (wordfreq), and in the document being repaired."""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache

from fieldnotes.ingest.model import RawBlock


@lru_cache(maxsize=200_000)
def zipf(word: str) -> float:
    """English word frequency on the Zipf scale (0 = unknown, 3 = once per million words)."""
    from wordfreq import zipf_frequency

    return zipf_frequency(word, "en")


def document_vocabulary(blocks: list[RawBlock]) -> Counter[str]:
    """Lower-cased words (hyphenated compounds included) as the document itself spells them."""
    vocabulary: Counter[str] = Counter()
    for block in blocks:
        for line in block.lines:
            vocabulary.update(word.lower() for word in re.findall(r"[A-Za-z]+(?:-[A-Za-z]+)*(?!-$)", line))
    return vocabulary


_WORD = re.compile(r"[^\W\d_]+")
# Closed-class English words: common in any English prose, rare in other languages.
_ENGLISH_GLUE = frozenset({"the", "and", "of", "to", "in", "is", "that", "for"})


def reads_as_english(blocks: list[RawBlock], share: float = 0.08) -> bool:
    """Whether the document's words are English prose: English closed-class words make at least
    `share` of them (about a fifth in ordinary English; near none in Portuguese or Japanese).
    The repairs that read words by English frequencies run only then."""
    words = glue = 0
    for block in blocks:
        for line in block.lines:
            tokens = _WORD.findall(line.lower())
            words += len(tokens)
            glue += sum(token in _ENGLISH_GLUE for token in tokens)
    return words > 0 and glue / words >= share
