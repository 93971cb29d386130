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
