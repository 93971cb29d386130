"""The typed records that pass between the stages (ingest -> code -> themes -> compare/export).

Every stage takes and returns these, never a JSON blob or a database row, so a stage can run
alone on records another stage made (or a test built). The store keeps them but does not define
them; the column orders of the CSV files are here too, so exporters need no stage module.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

PASSAGE_COLUMNS = (
    "passage_id",
    "document_id",
    "document",
    "format",
    "site",
    "site_evidence",
    "section",
    "start",
    "end",
    "language",
    "n_sentences",
    "text",
)
EXCERPT_COLUMNS = (
    "excerpt_id",
    "passage_id",
    "document",
    "site",
    "start",
    "end",
    "text",
    "code",
    "code_name",
    "score",
    "suggested_by",
    "rationale",
    "status",
    "coder",
    "decided_at",
    "memo",
)
ORPHAN_COLUMNS = ("excerpt_id", "document", "code", "status", "coder", "decided_at", "memo", "text")


@dataclass(frozen=True)
class Passage:
    """A paragraph (or part of a long one) of a document's cleaned text, placed at a site."""

    passage_id: str
    document_id: str
    seq: int
    start: int  # offsets in the document's cleaned text
    end: int
    text: str
    section: str
    language: str
    sentences: tuple[tuple[int, int], ...]
    site: str = ""
    site_evidence: str = ""


@dataclass(frozen=True)
class Excerpt:
    """The unit codes are suggested for: a sentence, or a few short ones, of one passage."""

    excerpt_id: str
    passage_id: str
    document_id: str
    document: str
    site: str
    start: int  # offsets in the document's cleaned text
    end: int
    text: str

    @property
    def text_hash(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Suggestion:
    """A code suggested for an excerpt, with its score, who suggested it and why."""

    excerpt_id: str
    code_id: str
    score: float
    suggested_by: str
    rationale: str
    components: dict[str, float]


@dataclass(frozen=True)
class Theme:
    """A theme (topic) fitted over passages: its label, words, size and spread over sites."""

    topic_id: int
    label: str
    words: list[str]
    size: int
    representatives: list[str]  # passage ids
    method: str
    words_by_site: Mapping[str, str] = field(default_factory=dict)  # site -> its distinctive words, joined
    share_by_site: Mapping[str, float] = field(default_factory=dict)
