"""Excerpts: the sentence-level spans that codes are attached to, and the document unit's
reduction of their suggestions to one per code and document."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence

from fieldnotes.records import Excerpt, Suggestion


def excerpt_id(passage_id: str, text: str, occurrence: int) -> str:
    """Content-addressed, like passage ids: the same sentence in the same passage keeps its id."""
    key = f"{passage_id}\x1f{' '.join(text.split())}\x1f{occurrence}"
    return "e" + hashlib.sha256(key.encode()).hexdigest()[:15]


def group_sentences(sentences: Sequence[tuple[int, int]], min_chars: int) -> list[tuple[int, int]]:
    """Spans of one sentence, or of a few when a sentence is too short to stand alone
    ("Yes." "She nodded."): a short sentence joins the next, a short last one the previous."""
    spans: list[list[int]] = []
    pending: list[int] | None = None
    for start, end in sentences:
        if pending is not None:
            start = pending[0]
        if end - start < min_chars:
            pending = [start, end]
            continue
        spans.append([start, end])
        pending = None
    if pending is not None:
        if spans:
            spans[-1][1] = pending[1]
        else:
            spans.append(pending)
    return [(start, end) for start, end in spans]


def build_excerpts(
    passages: Iterable[dict],
    sentences: dict[str, list[tuple[int, int]]],
    document_text: dict[str, str],
    min_chars: int,
    unit: str = "sentence",
) -> list[Excerpt]:
    """Excerpts of every passage, in document order: its sentences (a short one joined to a
    neighbour), or with `unit` "passage" the passage's text from its first sentence to its last."""
    excerpts: list[Excerpt] = []
    for passage in passages:
        text = document_text[passage["document_id"]]
        spans = sentences.get(passage["passage_id"]) or [(passage["start"], passage["end"])]
        if unit == "passage":
            spans = [(spans[0][0], spans[-1][1])]
        seen: Counter[str] = Counter()
        for start, end in group_sentences(spans, min_chars):
            body = text[start:end]
            key = " ".join(body.split())
            excerpts.append(
                Excerpt(
                    excerpt_id=excerpt_id(passage["passage_id"], body, seen[key]),
                    passage_id=passage["passage_id"],
                    document_id=passage["document_id"],
                    document=passage["document"],
                    site=passage["site"],
                    start=start,
                    end=end,
                    text=body,
                )
            )
            seen[key] += 1
    return excerpts


def document_parts(excerpts: Sequence[Excerpt]) -> list[int]:
    """For `[coding] unit = "document"`: the part of its document each excerpt belongs to, as an
    index per excerpt. A part is a document's run of consecutive excerpts at one site, so a
    document about one site is one part and a document that moves from Nagoya to Osaka is two
    (every coding belongs to one site, and the site comparison counts by site)."""
    parts: list[int] = []
    part, previous = -1, None
    for excerpt in excerpts:
        key = (excerpt.document_id, excerpt.site)
        if key != previous:
            part, previous = part + 1, key
        parts.append(part)
    return parts


def one_per_document(
    suggestions: Sequence[Suggestion], excerpts: Sequence[Excerpt], decided: Iterable[tuple[str, str, str]] = ()
) -> list[Suggestion]:
    """The document unit's suggestions: each code at most once per document part
    (`document_parts`), on the excerpt that scores it highest (the first in the text on a tie),
    so a researcher decides once per document and sees the sentence that carries the code. A code
    already decided (accepted or rejected) on any excerpt of a part, a hand-made one included, is
    not suggested there again; the decided suggestion itself is passed on unchanged. `decided`:
    (excerpt id, passage id, code) of each decision.
    `excerpts` are the scored ones, whole parts, in document order."""
    from dataclasses import replace

    part_of = dict(zip((e.excerpt_id for e in excerpts), document_parts(excerpts), strict=True))
    order = {e.excerpt_id: row for row, e in enumerate(excerpts)}
    part_of_passage = {e.passage_id: part_of[e.excerpt_id] for e in excerpts}
    decisions = list(decided)
    on_excerpt = {(excerpt_id, code) for excerpt_id, _, code in decisions}
    closed = {(part_of_passage[passage], code) for _, passage, code in decisions if passage in part_of_passage}
    best: dict[tuple[int, str], Suggestion] = {}
    reaching: Counter[tuple[int, str]] = Counter()
    standing = []  # a decided suggestion itself goes through unchanged: the store keeps it as decided
    for suggestion in suggestions:
        key = (part_of[suggestion.excerpt_id], suggestion.code_id)
        if (suggestion.excerpt_id, suggestion.code_id) in on_excerpt:
            standing.append(suggestion)
            continue
        if key in closed:
            continue
        reaching[key] += 1
        held = best.get(key)
        if held is None or (suggestion.score, -order[suggestion.excerpt_id]) > (held.score, -order[held.excerpt_id]):
            best[key] = suggestion
    kept = list(standing)
    for key, suggestion in best.items():
        others = reaching[key] - 1
        where = f"; {others} other excerpt(s) of it reach the threshold too" if others else ""
        kept.append(
            replace(
                suggestion,
                rationale=f"for the whole document (its strongest excerpt{where}): {suggestion.rationale}",
                components={**suggestion.components, "document_excerpts_at_threshold": reaching[key]},
            )
        )
    return sorted(kept, key=lambda s: (order[s.excerpt_id], s.code_id))
