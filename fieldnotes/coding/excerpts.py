"""Excerpts: the sentence-level spans that codes are attached to."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence

from fieldnotes.records import Excerpt


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
