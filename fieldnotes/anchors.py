"""Anchors: point at a span of a document's text without quoting it.

Labels made on real documents by other authors must not copy their text into the project, and
must survive changes to the repair stage (a line rejoined, a split word joined, a page header
dropped). An anchor therefore describes a span by its letters and digits only: the span's text
is NFKC-normalised, case-folded and stripped of everything that is not alphanumeric, and the
anchor keeps the position of that "letter stream" in the document's stream, its length and a
short digest. Whitespace, hyphenation, punctuation and letter-spacing damage do not change the
letter stream, so a label found once is found again after any repair that keeps the words.
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

HEAD = 8  # letters hashed separately, to find candidate positions quickly


@dataclass(frozen=True)
class Anchor:
    """Where a span's letters start in the document's letter stream, how many, and their digest."""

    letter_start: int
    letter_count: int
    digest: str
    head: str

    def as_row(self) -> dict[str, str | int]:
        return {
            "letter_start": self.letter_start,
            "letter_count": self.letter_count,
            "digest": self.digest,
            "head": self.head,
        }


@lru_cache(maxsize=4096)
def _letters(char: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKC", char).casefold() if c.isalnum())


def letter_stream(text: str) -> tuple[str, list[int]]:
    """The text's letters and digits (normalised) and, for each, its offset in `text`."""
    letters: list[str] = []
    offsets: list[int] = []
    for index, char in enumerate(text):
        kept = _letters(char)
        letters.append(kept)
        offsets.extend([index] * len(kept))
    return "".join(letters), offsets


def _digest(letters: str, size: int = 12) -> str:
    return hashlib.sha1(letters.encode("utf-8")).hexdigest()[:size]


def make_anchor(text: str, start: int, end: int) -> Anchor:
    """The anchor of `text[start:end]`. Raises ValueError when the span has no letters."""
    stream, offsets = letter_stream(text)
    first = next((i for i, offset in enumerate(offsets) if offset >= start), len(offsets))
    last = next((i for i, offset in enumerate(offsets) if offset >= end), len(offsets))
    span = stream[first:last]
    if not span:
        raise ValueError(f"span {start}-{end} holds no letters or digits")
    return Anchor(first, len(span), _digest(span), _digest(span[:HEAD], 6))


def locate(text: str, anchor: Anchor, stream: tuple[str, list[int]] | None = None) -> tuple[int, int] | None:
    """The span of `text` whose letters match the anchor, nearest to where it was; None if gone.

    The span runs from the first matching letter to the end of the last one (punctuation around
    it is not included). Pass `stream` (from letter_stream) when locating many anchors in one text.
    """
    letters, offsets = stream or letter_stream(text)
    count = anchor.letter_count
    if count <= 0 or count > len(letters):
        return None
    head_size = min(HEAD, count)
    candidates = sorted(range(len(letters) - count + 1), key=lambda i: (abs(i - anchor.letter_start), i))
    for i in candidates:
        if _digest(letters[i : i + head_size], 6) != anchor.head:
            continue
        if _digest(letters[i : i + count]) == anchor.digest:
            return offsets[i], offsets[i + count - 1] + 1
    return None
