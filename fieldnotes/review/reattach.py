"""Keeping researchers' decisions when the corpus changes: moving them onto the edited text."""

from __future__ import annotations

import hashlib
import sqlite3

from fieldnotes.store import StaleDecision, Store


def _new_place(store: Store, stale: StaleDecision, codebook_id: str) -> str | None:
    """The current excerpt a decision moves to: the one with the same text in the same document;
    failing that, the excerpt a re-run moved it away from, when that is current again (a document
    renamed and renamed back); failing that, the one excerpt with that text that appeared
    elsewhere since. None: stay."""
    text_hash = hashlib.sha256(stale.excerpt_text.encode("utf-8")).hexdigest()
    target = store.coding.current_excerpt_with_text(stale.document_id, text_hash)
    if target is None:
        for origin in store.decisions.moved_here_from(stale.excerpt_id, stale.code_id, codebook_id):
            if store.coding.is_current(origin):
                return origin
    if target is None:
        # Only text new since this excerpt was last seen, and only one such place:
        # a sentence that was elsewhere all along, or is in two places now, is not it.
        elsewhere = store.coding.new_excerpts_with_text_elsewhere(
            text_hash, stale.document_id, stale.excerpt_last_run, limit=2
        )
        target = elsewhere[0] if len(elsewhere) == 1 else None
    return target


def reattach_decisions(store: Store, run_id: int, codebook_id: str) -> tuple[int, list[sqlite3.Row]]:
    """Move reviewed suggestions whose excerpt disappeared (its document was edited) onto the
    current excerpt with the same text in the same document; failing that, onto the one excerpt
    with that text that appeared elsewhere since (the document was renamed or moved, or the
    passage moved to another file); failing that, onto the same text where it still stands, once,
    inside a current passage of its document, as a hand-made excerpt. Returns (moved, orphans);
    orphans are kept as they are, on their inactive excerpt, and reported. All the moves are one transaction."""
    moved = 0
    with store.transaction():
        for stale in store.decisions.stale_reviewed(codebook_id):
            target = _new_place(store, stale, codebook_id)
            if target is None:
                # The text is still in its document, inside a passage, but no excerpt has exactly
                # its letters any more (the coding unit or the sentence splitting changed): the
                # decision stays on that text as a hand-made excerpt.
                place = store.corpus.span_in_current_passage(stale.document_id, stale.excerpt_text)
                if place is not None:
                    store.decisions.move_to_span(stale, place[0], place[1], run_id, codebook_id)
                    moved += 1
                continue
            if store.coding.status(target, stale.code_id, codebook_id) in ("accepted", "rejected"):
                continue  # the new place already carries a decision; keep both, move nothing
            store.decisions.move(stale, target, run_id, codebook_id)
            moved += 1
    return moved, store.reads.orphaned_decisions(codebook_id)
