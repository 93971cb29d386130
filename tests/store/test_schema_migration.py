"""A results database made by an older fieldnotes is brought up to date without losing a decision."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from fieldnotes.store import SCHEMA_VERSION, Store
from fieldnotes.store.schema import MIGRATIONS


def _database_at_version(path: Path, version: int) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    for step in range(1, version + 1):
        db.executescript(f"BEGIN; {MIGRATIONS[step]} PRAGMA user_version = {step}; COMMIT;")
    db.executescript(
        """
        INSERT INTO runs (run_id, command, started_at, codebook, codebook_hash) VALUES (1, 'code', 't', 'cb 1', 'abc');
        INSERT INTO documents VALUES ('d1', 'a.txt', 'txt', 'r', 't', 's', 'utf-8', '', '{}', '{}',
            'Neighbours help each other.', 'ok', NULL, 1, 1);
        INSERT INTO passages (passage_id, document_id, seq, start, end, text, section, language, site,
            site_evidence, first_run, last_run) VALUES ('p1', 'd1', 0, 0, 27, 'Neighbours help each other.', '',
            'en', 'general', '', 1, 1);
        INSERT INTO excerpts (excerpt_id, passage_id, document_id, start, end, text, text_hash, first_run, last_run)
            VALUES ('e1', 'p1', 'd1', 0, 27, 'Neighbours help each other.', 'h', 1, 1);
        INSERT INTO suggestions VALUES ('e1', 'mutual-help', 'coproduction', 0.8, 'fieldnotes', 'r', '{}',
            'accepted', 'alice', 't', 'a memo', 1);
        INSERT INTO decisions (excerpt_id, code_id, action, previous_status, new_status, coder, at)
            VALUES ('e1', 'mutual-help', 'accepted', 'suggested', 'accepted', 'alice', 't');
        """
    )
    db.close()


def test_a_version_7_database_keeps_its_decisions_under_their_codebook(tmp_path):
    path = tmp_path / "fieldnotes.db"
    _database_at_version(path, 7)
    with Store.open(path) as store:
        db = store.connection
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert store.coding.status("e1", "mutual-help", "coproduction") == "accepted"
        row = db.execute("SELECT status_by, memo FROM suggestions WHERE excerpt_id = 'e1'").fetchone()
        assert tuple(row) == ("alice", "a memo")
        assert [tuple(r) for r in db.execute("SELECT coder, codebook_id FROM decisions")] == [("alice", "coproduction")]
        assert store.runs.first_codebook() == "coproduction"
        keys = [r["name"] for r in db.execute("PRAGMA table_info(suggestions)") if r["pk"]]
        assert sorted(keys) == ["code_id", "codebook_id", "excerpt_id"]
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        # The same code id in a second codebook is a suggestion of its own.
        store.decisions.add_code("p1", 0, 27, "mutual-help", "another", "bob")
        assert store.coding.status("e1", "mutual-help", "coproduction") == "accepted"
        assert store.decisions.undo_last("alice", "coproduction") is not None
        assert store.coding.status("e1", "mutual-help", "coproduction") == "suggested"
