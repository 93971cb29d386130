"""Reference lists and bibliographies, recognised the same way by every stage.

A passage of citations is not what a document is about: its place names are no evidence of a
site (ingestion), it is not coded (the coder scores no excerpt of it), it makes no theme, and it
does not count among a site's passages in the comparison. A researcher can still code it by hand.
"""

from __future__ import annotations

import functools
import re

_CITATION_YEAR = re.compile(r"(?:\(|,\s|\.\s)(?:19|20)\d{2}[a-z]?(?:\)|[.,;:])")
_CITED_NAME = re.compile(r"\b[A-Z][\w'’-]+,\s(?:[A-Z]\.\s?){1,3}")
_CITATION_LINK = re.compile(r"\b(?:doi|https?://|www\.|retrieved from|vol\.|pp\.)", re.I)
# The heading of a section that lists sources (the passage under it must cite something too).
_REFERENCES_HEADING = re.compile(
    r"^\s*(?:\d+[.)]?\s*)?(?:references?(?:\s+list)?|bibliography|works\s+cited|literature\s+cited|"
    r"(?:primary\s+|secondary\s+)?sources|further\s+reading|notes\s+and\s+references|"
    r"参考文献|引用文献|文献)\s*[:：]?\s*$",
    re.I,
)


def _citation_marks(text: str) -> int:
    return len(_CITATION_YEAR.findall(text)) + len(_CITED_NAME.findall(text)) + len(_CITATION_LINK.findall(text))


def reads_as_references(text: str) -> bool:
    """A passage of citations (a reference list, a bibliography entry): author names with
    initials, years in citation punctuation, DOIs and URLs make most of it."""
    words = max(1, len(text.split()))
    marks = _citation_marks(text)
    return marks >= 3 and marks * 12 >= words


# Remembered: the coder, the themes and the comparison each ask about every passage of a run
# (at 50,000 passages three passes of the patterns cost about 3 s of an incremental run).
@functools.lru_cache(maxsize=1 << 17)
def is_reference_list(text: str, section: str = "") -> bool:
    """Whether a passage is (part of) a reference list: it reads as citations, or it sits under a
    "References" (Bibliography, Sources, 参考文献 ...) heading and cites something."""
    if reads_as_references(text):
        return True
    return bool(_REFERENCES_HEADING.match(section)) and _citation_marks(text) >= 1
