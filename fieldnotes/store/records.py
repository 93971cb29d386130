"""The plain records that cross the store's boundary, so it needs none of the stages' types.

What a stage hands the store is described by a Protocol (its own dataclasses fit as they are);
what the store hands back, where that is simple, is a frozen dataclass.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Protocol

# --- what the stages give the store ----------------------------------------------------------


@dataclass(frozen=True)
class DocumentVersion:
    """One read of a document, as it is stored (its passages come separately)."""

    path: str  # relative to the corpus folder
    format: str
    raw_hash: str
    text_hash: str
    settings_hash: str
    encoding: str | None
    title: str | None
    metadata: Mapping[str, object]
    repairs: Mapping[str, int]
    text: str


class PassageLike(Protocol):
    @property
    def passage_id(self) -> str: ...
    @property
    def seq(self) -> int: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def text(self) -> str: ...
    @property
    def section(self) -> str: ...
    @property
    def language(self) -> str: ...
    @property
    def site(self) -> str: ...
    @property
    def site_evidence(self) -> str: ...
    @property
    def sentences(self) -> Sequence[tuple[int, int]]: ...


class ExcerptLike(Protocol):
    @property
    def excerpt_id(self) -> str: ...
    @property
    def passage_id(self) -> str: ...
    @property
    def document_id(self) -> str: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def text(self) -> str: ...
    @property
    def text_hash(self) -> str: ...


class SuggestionLike(Protocol):
    @property
    def excerpt_id(self) -> str: ...
    @property
    def code_id(self) -> str: ...
    @property
    def score(self) -> float: ...
    @property
    def suggested_by(self) -> str: ...
    @property
    def rationale(self) -> str: ...
    @property
    def components(self) -> Mapping[str, float]: ...


class ThemeLike(Protocol):
    @property
    def topic_id(self) -> int: ...
    @property
    def label(self) -> str: ...
    @property
    def words(self) -> Sequence[str]: ...
    @property
    def size(self) -> int: ...
    @property
    def representatives(self) -> Sequence[str]: ...
    @property
    def method(self) -> str: ...
    @property
    def words_by_site(self) -> Mapping[str, str]: ...


# --- what the store gives back ---------------------------------------------------------------


@dataclass(frozen=True)
class StoredTheme:
    """One theme of a themes run as stored (its spread over sites is computed by who reads it)."""

    topic_id: int
    label: str
    words: list[str]
    size: int
    representatives: list[str]
    method: str
    words_by_site: dict[str, str]


@dataclass(frozen=True)
class LatestThemes:
    """The latest themes run: its themes, passage -> theme, and what it recorded of its input."""

    run_id: int | None
    themes: list[StoredTheme]
    assignments: dict[str, int]
    input_key: str | None


@dataclass(frozen=True)
class StoredDocument:
    document_id: str
    path: str
    raw_hash: str
    settings_hash: str
    status: str


@dataclass(frozen=True)
class DocumentText:
    document_id: str
    text: str


@dataclass(frozen=True)
class PassageSpan:
    """A passage's place in its document's cleaned text."""

    passage_id: str
    start: int
    end: int


@dataclass(frozen=True)
class RunRecord:
    """One row of `runs`: a command run on a results folder (finished_at None while it runs)."""

    run_id: int
    command: str
    started_at: str
    finished_at: str | None
    corpus_root: str | None
    corpus_hash: str | None
    settings_hash: str | None
    settings_json: str | None
    versions_json: str | None
    summary_json: str | None
    codebook: str | None
    codebook_hash: str | None
    model: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> RunRecord:
        return cls(**{f.name: row[f.name] for f in fields(cls)})


@dataclass(frozen=True)
class StaleDecision:
    """A reviewed suggestion whose excerpt is no longer current (its text changed or went)."""

    excerpt_id: str
    code_id: str
    score: float | None
    suggested_by: str
    rationale: str
    components_json: str
    status: str
    status_by: str | None
    status_at: str | None
    memo: str | None
    excerpt_text: str
    document_id: str
    excerpt_last_run: int
