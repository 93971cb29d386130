"""The current excerpts of a results folder, built again only where the text changed.

Excerpts are made from the stored passages and sentences (fieldnotes.coding.excerpts), and
only ingestion writes those. The change clock (fieldnotes.store.changes) names the documents
with a row changed since the excerpts were last built, so after an edit of one document only
that document's excerpts are built and saved; the other documents' stored excerpts are what
building them again would give. A run whose coder must score everything asks for every
excerpt (`CurrentExcerpts.everything`), and so does a change of what building depends on.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from fieldnotes.freshness import SegmentState, current, inputs_digest, record
from fieldnotes.records import Excerpt
from fieldnotes.settings import Settings
from fieldnotes.store import Store

SEGMENT = ("segment", "excerpts")  # freshness stage and subject
BUILD_VERSION = 1  # raise when build_excerpts makes other excerpts from the same passages


@dataclass
class CurrentExcerpts:
    """This run's excerpts. `built`: those built in this run, in document order: every
    document's when `complete`, otherwise only the documents changed since the last build.
    `stored`: the current excerpts' spans as stored before this run; `spans`: as they are now
    (every document's). `japanese` and `references`: the ids of every current excerpt of a
    Japanese passage and of a reference list (fieldnotes.citations)."""

    store: Store
    settings: Settings
    built: list[Excerpt]
    complete: bool
    stored: dict[str, tuple[int, int]]
    spans: dict[str, tuple[int, int]]
    japanese: set[str]
    references: set[str]
    digest: str  # of the excerpts' spans and the passages' sites (the report draws on them)
    listed: list[list[str]]  # reference-list passages: [passage id, document id]
    _all: list[Excerpt] | None = field(default=None, repr=False)

    def everything(self) -> list[Excerpt]:
        """Every current excerpt, in document order (built from every passage when this run
        built only some documents: they are the stored ones)."""
        if self.complete:
            return self.built
        if self._all is None:
            passages, sentences, texts = self.store.corpus.passages_with_sentences()
            self._all = _build(passages, sentences, texts, self.settings)
        return self._all


def _build(passages: list[dict], sentences: dict, texts: dict[str, str], settings: Settings) -> list[Excerpt]:
    from fieldnotes.coding.excerpts import build_excerpts

    coding = settings.coding
    return build_excerpts(passages, sentences, texts, coding.min_excerpt_chars, coding.unit)


def _build_digest(settings: Settings) -> str:
    from fieldnotes import __version__

    coding = settings.coding
    return inputs_digest(coding.min_excerpt_chars, coding.unit, BUILD_VERSION, __version__)


def current_excerpts(store: Store, settings: Settings, run_id: int, everything: bool = False) -> CurrentExcerpts:
    """Build and store the current excerpts: only those of the documents changed since the last
    build, unless `everything` is asked for or nothing is known of a last build (then every
    document's). Excerpts no longer current become inactive (fieldnotes.store.coding)."""
    from fieldnotes.citations import is_reference_list

    found = None if everything else current(store, *SEGMENT, _build_digest(settings), SegmentState)
    last = found[1] if found is not None else None
    changed = None if last is None else store.changes.documents_changed_since(last.clock)
    stored = store.coding.active_sentence_excerpts()
    passages, sentences, texts = store.corpus.passages_with_sentences(changed)
    built = _build(passages, sentences, texts, settings)
    listed_now = [[p["passage_id"], p["document_id"]] for p in passages if is_reference_list(p["text"], p["section"])]
    spans = {e.excerpt_id: (e.start, e.end) for e in built}
    if changed is None:
        if spans == stored:
            store.coding.touch_excerpts(run_id)
        else:
            store.coding.save_excerpts(run_id, built, stored)
        listed = listed_now
        japanese_passages = {p["passage_id"] for p in passages if p["language"] == "ja"}
        japanese = {e.excerpt_id for e in built if e.passage_id in japanese_passages}
        listed_ids = {passage for passage, _ in listed}
        references = {e.excerpt_id for e in built if e.passage_id in listed_ids}
    else:
        assert last is not None
        gone = set(store.coding.save_excerpts(run_id, built, stored, documents=changed))
        spans = {**{key: span for key, span in stored.items() if key not in gone}, **spans}
        listed = [pair for pair in last.listed if pair[1] not in changed] + listed_now
        japanese = store.coding.active_sentence_excerpts_of(store.corpus.passages_in_language("ja"))
        references = store.coding.active_sentence_excerpts_of([passage for passage, _ in listed])
    digest = inputs_digest(sorted((key, *span) for key, span in spans.items()), store.corpus.active_passage_sites())
    return CurrentExcerpts(
        store, settings, built, changed is None, stored, spans, japanese, references, digest, sorted(listed)
    )


def record_built(store: Store, settings: Settings, excerpts: CurrentExcerpts, run_id: int) -> None:
    """Note that the stored excerpts are current as of now. Called once the run has saved what
    it makes of them: only ingestion writes what excerpts are built from, and it ran before."""
    state = SegmentState(store.changes.clock(), excerpts.listed)
    record(store, *SEGMENT, _build_digest(settings), run_id, state)


def without(excerpts: list[Excerpt], ids: Collection[str]) -> list[Excerpt]:
    """`excerpts` but those whose id is in `ids`."""
    return [e for e in excerpts if e.excerpt_id not in ids]
