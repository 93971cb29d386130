"""Saving only the excerpts that changed leaves the database as saving all of them does."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

from fieldnotes.records import Excerpt
from fieldnotes.store import Store


def _rows(store: Store) -> list[tuple]:
    return store.connection.execute(
        "SELECT excerpt_id, passage_id, start, end, text, text_hash, active, kind, first_run, last_run,"
        " activated_run FROM excerpts ORDER BY excerpt_id"
    ).fetchall()


def test_saving_the_changes_only_equals_saving_every_excerpt(coded_store, tmp_path) -> None:
    whole = coded_store
    copy_path = tmp_path / "copy.db"
    with sqlite3.connect(copy_path) as target:
        whole.connection.backup(target)
    delta = Store.open(copy_path)
    try:
        first = [
            Excerpt(r["excerpt_id"], r["passage_id"], r["document_id"], "", "", r["start"], r["end"], r["text"])
            for r in whole.connection.execute("SELECT * FROM excerpts WHERE active = 1 AND kind = 'sentence'")
        ]
        assert len(first) >= 4
        moved = replace(first[1], start=first[1].start + 1)
        # dropped, moved, back again after a break, everything gone but one, all back
        rounds = [first[2:], [first[0], moved, *first[3:]], first, first[:1], first]
        for run, excerpts in enumerate(rounds, start=10):
            for store in (whole, delta):
                store.connection.execute(
                    "INSERT INTO runs (run_id, command, started_at) VALUES (?, 'code', '2026-12-02')", (run,)
                )
            whole.coding.save_excerpts(run, excerpts)
            delta.coding.save_excerpts(run, excerpts, delta.coding.active_sentence_excerpts())
            assert _rows(delta) == _rows(whole), run
    finally:
        delta.close()
