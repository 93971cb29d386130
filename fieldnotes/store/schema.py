"""The results database's schema: its tables, the migrations between versions, and opening it.

Rows are never deleted. A document that changed gets new passages and its old
ones are marked inactive, so anything a researcher attached to them survives;
a document that became unreadable keeps its last good version.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from fieldnotes.errors import StoreError
from fieldnotes.store.base import unwritable_folder
from fieldnotes.store.embeddings import EMBEDDINGS_TABLE

SCHEMA_VERSION = 9

_SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    command TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    corpus_root TEXT,
    corpus_hash TEXT,
    settings_hash TEXT,
    settings_json TEXT,
    versions_json TEXT,
    summary_json TEXT
);
CREATE TABLE IF NOT EXISTS documents (
    document_id TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    format TEXT NOT NULL,
    raw_hash TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    settings_hash TEXT NOT NULL,
    encoding TEXT,
    title TEXT,
    metadata_json TEXT NOT NULL,
    repairs_json TEXT NOT NULL,
    text TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'unreadable', 'missing')),
    error TEXT,
    first_run INTEGER NOT NULL REFERENCES runs(run_id),
    last_run INTEGER NOT NULL REFERENCES runs(run_id)
);
CREATE TABLE IF NOT EXISTS passages (
    passage_id TEXT PRIMARY KEY,
    document_id TEXT NOT NULL REFERENCES documents(document_id),
    seq INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    text TEXT NOT NULL,
    section TEXT NOT NULL,
    language TEXT NOT NULL,
    site TEXT NOT NULL,
    site_evidence TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    first_run INTEGER NOT NULL REFERENCES runs(run_id),
    last_run INTEGER NOT NULL REFERENCES runs(run_id)
);
CREATE INDEX IF NOT EXISTS passages_by_document ON passages(document_id, active, seq);
CREATE TABLE IF NOT EXISTS sentences (
    passage_id TEXT NOT NULL REFERENCES passages(passage_id),
    seq INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    PRIMARY KEY (passage_id, seq)
);
"""

# Version 2: coding. Suggestions are keyed by (excerpt, code); a researcher's status
# on one is never overwritten by a later run, and every change is in `decisions`.
# The embedding cache's table is defined with its repository (it may live in another file).
_SCHEMA_V2 = f"""
CREATE TABLE IF NOT EXISTS excerpts (
    excerpt_id TEXT PRIMARY KEY,
    passage_id TEXT NOT NULL REFERENCES passages(passage_id),
    document_id TEXT NOT NULL REFERENCES documents(document_id),
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    text TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    first_run INTEGER NOT NULL REFERENCES runs(run_id),
    last_run INTEGER NOT NULL REFERENCES runs(run_id)
);
CREATE INDEX IF NOT EXISTS excerpts_by_passage ON excerpts(passage_id, active);
{EMBEDDINGS_TABLE}
CREATE TABLE IF NOT EXISTS suggestions (
    excerpt_id TEXT NOT NULL REFERENCES excerpts(excerpt_id),
    code_id TEXT NOT NULL,
    codebook_id TEXT NOT NULL,
    score REAL,
    suggested_by TEXT NOT NULL,
    rationale TEXT NOT NULL,
    components_json TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('suggested', 'withdrawn', 'accepted', 'rejected')),
    status_by TEXT,
    status_at TEXT,
    memo TEXT,
    run_id INTEGER NOT NULL REFERENCES runs(run_id),
    PRIMARY KEY (excerpt_id, code_id)
);
CREATE INDEX IF NOT EXISTS suggestions_by_status ON suggestions(status, code_id);
CREATE TABLE IF NOT EXISTS decisions (
    decision_id INTEGER PRIMARY KEY AUTOINCREMENT,
    excerpt_id TEXT NOT NULL,
    code_id TEXT NOT NULL,
    action TEXT NOT NULL,
    previous_status TEXT,
    new_status TEXT NOT NULL,
    coder TEXT NOT NULL,
    at TEXT NOT NULL,
    memo TEXT
);
CREATE INDEX IF NOT EXISTS decisions_by_excerpt ON decisions(excerpt_id, code_id);
ALTER TABLE runs ADD COLUMN codebook TEXT;
ALTER TABLE runs ADD COLUMN codebook_hash TEXT;
ALTER TABLE runs ADD COLUMN model TEXT;
"""
# Version 3: themes, kept per run.
_SCHEMA_V3 = """
CREATE TABLE IF NOT EXISTS topics (
    run_id INTEGER NOT NULL REFERENCES runs(run_id),
    topic_id INTEGER NOT NULL,
    label TEXT NOT NULL,
    words_json TEXT NOT NULL,
    size INTEGER NOT NULL,
    representatives_json TEXT NOT NULL,
    words_by_site_json TEXT NOT NULL DEFAULT '{}',
    method TEXT NOT NULL,
    PRIMARY KEY (run_id, topic_id)
);
CREATE TABLE IF NOT EXISTS passage_topics (
    run_id INTEGER NOT NULL REFERENCES runs(run_id),
    passage_id TEXT NOT NULL REFERENCES passages(passage_id),
    topic_id INTEGER NOT NULL,
    PRIMARY KEY (run_id, passage_id)
);
"""
# Version 4: excerpts a researcher marked by hand, and undo.
_SCHEMA_V4 = """
ALTER TABLE excerpts ADD COLUMN kind TEXT NOT NULL DEFAULT 'sentence';
ALTER TABLE decisions ADD COLUMN undoes INTEGER;
"""
# Version 5: what the themes were fitted on, so an unchanged corpus reuses them.
_SCHEMA_V5 = """
ALTER TABLE topics ADD COLUMN input_key TEXT;
"""
# One freshness record per (stage, subject): the digest of the inputs a stage's stored results
# were made from, the run that made them, and the small typed state a re-run needs to reuse them.
_SCHEMA_V6 = """
CREATE TABLE freshness (
    stage TEXT NOT NULL,
    subject TEXT NOT NULL,
    digest TEXT NOT NULL,
    run_id INTEGER NOT NULL REFERENCES runs(run_id),
    state_json TEXT NOT NULL DEFAULT '{}',
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (stage, subject)
);
"""
# Version 7: the run from which an excerpt has been current without a break (a document renamed
# and renamed back brings its old excerpts back: decisions may follow them there).
_SCHEMA_V7 = """
ALTER TABLE excerpts ADD COLUMN activated_run INTEGER;
UPDATE excerpts SET activated_run = first_run;
"""
# Version 8: codebooks namespaced. A suggestion is keyed by (excerpt, codebook, code), and every
# audit row names its codebook, so two codebooks on one results folder keep their suggestions and
# decisions apart even where their code ids overlap. (Until now one codebook per folder was
# enforced, so each (excerpt, code) had one codebook: the audit rows take it from there.)
_SCHEMA_V8 = """
CREATE TABLE suggestions_v8 (
    excerpt_id TEXT NOT NULL REFERENCES excerpts(excerpt_id),
    code_id TEXT NOT NULL,
    codebook_id TEXT NOT NULL,
    score REAL,
    suggested_by TEXT NOT NULL,
    rationale TEXT NOT NULL,
    components_json TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('suggested', 'withdrawn', 'accepted', 'rejected')),
    status_by TEXT,
    status_at TEXT,
    memo TEXT,
    run_id INTEGER NOT NULL REFERENCES runs(run_id),
    PRIMARY KEY (excerpt_id, codebook_id, code_id)
);
INSERT INTO suggestions_v8 (excerpt_id, code_id, codebook_id, score, suggested_by, rationale, components_json,
        status, status_by, status_at, memo, run_id)
    SELECT excerpt_id, code_id, codebook_id, score, suggested_by, rationale, components_json,
        status, status_by, status_at, memo, run_id FROM suggestions;
DROP TABLE suggestions;
ALTER TABLE suggestions_v8 RENAME TO suggestions;
CREATE INDEX suggestions_by_status ON suggestions(codebook_id, status, code_id);
ALTER TABLE decisions ADD COLUMN codebook_id TEXT;
UPDATE decisions SET codebook_id = (SELECT s.codebook_id FROM suggestions s
    WHERE s.excerpt_id = decisions.excerpt_id AND s.code_id = decisions.code_id ORDER BY s.run_id DESC LIMIT 1);
DROP INDEX decisions_by_excerpt;
CREATE INDEX decisions_by_suggestion ON decisions(excerpt_id, codebook_id, code_id);
ALTER TABLE runs ADD COLUMN codebook_id TEXT;
UPDATE runs SET codebook_id = (SELECT codebook_id FROM suggestions ORDER BY run_id LIMIT 1)
    WHERE codebook_hash IS NOT NULL;
"""


# Version 9: which documents' rows changed, and when, for the files written by document
# (fieldnotes.document_csv): a trigger on each table a file row is made from moves the change
# clock on and stamps the row's document with it. Columns that only say which run last saw a row
# (first_run, last_run, activated_run, run_id) and the scoring details (components_json) are in
# no file, so setting them stamps nothing; nor does setting a column to the value it had.
_DOCUMENT_OF = {
    "documents": "{row}.document_id",
    "passages": "{row}.document_id",
    "excerpts": "{row}.document_id",
    "sentences": "(SELECT document_id FROM passages WHERE passage_id = {row}.passage_id)",
    "suggestions": "(SELECT document_id FROM excerpts WHERE excerpt_id = {row}.excerpt_id)",
}
_SHOWN_COLUMNS = {
    "documents": ("path", "format", "raw_hash", "text_hash", "title", "text", "status", "error"),
    "passages": (
        "document_id",
        "seq",
        "start",
        "end",
        "text",
        "section",
        "language",
        "site",
        "site_evidence",
        "active",
    ),
    "excerpts": ("passage_id", "document_id", "start", "end", "text", "active"),
    "sentences": ("passage_id", "seq", "start", "end"),
    "suggestions": (
        "excerpt_id",
        "code_id",
        "codebook_id",
        "score",
        "suggested_by",
        "rationale",
        "status",
        "status_by",
        "status_at",
        "memo",
    ),
}


def _stamp(document: str) -> str:
    return f"""UPDATE change_clock SET value = value + 1;
    INSERT INTO document_changes (document_id, change) SELECT {document}, value FROM change_clock
        WHERE {document} IS NOT NULL
        ON CONFLICT (document_id) DO UPDATE SET change = excluded.change;"""


def _change_triggers() -> str:
    parts = []
    for table, document in _DOCUMENT_OF.items():
        new, old = document.format(row="NEW"), document.format(row="OLD")
        changed = " OR ".join(f'OLD."{column}" IS NOT NEW."{column}"' for column in _SHOWN_COLUMNS[table])
        parts.append(f"CREATE TRIGGER {table}_inserted AFTER INSERT ON {table} BEGIN {_stamp(new)} END;")
        parts.append(f"CREATE TRIGGER {table}_deleted AFTER DELETE ON {table} BEGIN {_stamp(old)} END;")
        # The old document too: a row moved to another document leaves the first one changed.
        parts.append(
            f"CREATE TRIGGER {table}_updated AFTER UPDATE ON {table} WHEN {changed} "
            f"BEGIN {_stamp(new)} {_stamp(old)} END;"
        )
    return "\n".join(parts)


_SCHEMA_V9 = f"""
CREATE TABLE change_clock (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL);
INSERT INTO change_clock (id, value) VALUES (1, 0);
CREATE TABLE document_changes (document_id TEXT PRIMARY KEY, change INTEGER NOT NULL);
{_change_triggers()}
"""
MIGRATIONS = {
    1: _SCHEMA_V1,
    2: _SCHEMA_V2,
    3: _SCHEMA_V3,
    4: _SCHEMA_V4,
    5: _SCHEMA_V5,
    6: _SCHEMA_V6,
    7: _SCHEMA_V7,
    8: _SCHEMA_V8,
    9: _SCHEMA_V9,
}


def open_connection(path: Path) -> sqlite3.Connection:
    """A connection to the database at `path` (created, or migrated to SCHEMA_VERSION, as needed):
    autocommit mode (transactions are explicit), rows by column name, foreign keys on, WAL."""
    path = Path(path)
    if path.is_file() and path.stat().st_size == 0:
        # An emptied file (a failed copy, a sync conflict, a `>` typo) must not become a new, empty
        # database over which a run would rewrite the CSV files that still hold the decisions.
        raise StoreError(
            f"{path}: the results database is empty (0 bytes); restore it from a backup, or move the "
            "results folder away and run again to start afresh"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(path, timeout=30, isolation_level=None)
        connection.row_factory = sqlite3.Row
        # Read before anything is set: switching a foreign database to WAL would change its file.
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        foreign = version == 0 and _has_tables(connection)
        if not foreign and version <= SCHEMA_VERSION:
            connection.execute("PRAGMA foreign_keys = ON")
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = FULL")
    except (sqlite3.DatabaseError, OSError) as exc:
        if path.parent.is_dir() and not os.access(path.parent, os.W_OK):
            raise unwritable_folder(path.parent, "read-only") from None
        raise StoreError(f"{path}: cannot open the results database ({exc})") from None
    if foreign:
        connection.close()
        raise StoreError(
            f"{path}: not a fieldnotes results database (it holds another program's tables); "
            "choose another --out folder"
        )
    if version > SCHEMA_VERSION:
        connection.close()
        raise StoreError(
            f"{path}: made by a newer fieldnotes (schema {version}, this one knows {SCHEMA_VERSION}); "
            "upgrade fieldnotes or use another --out folder"
        )
    for target in range(version + 1, SCHEMA_VERSION + 1):
        # One script, one transaction per step: a crash leaves the old schema or the new one.
        try:
            connection.executescript(f"BEGIN; {MIGRATIONS[target]} PRAGMA user_version = {target}; COMMIT;")
        except (sqlite3.DatabaseError, OSError) as exc:
            if connection.in_transaction:
                connection.rollback()
            connection.close()
            raise StoreError(
                f"{path}: cannot bring the results database up to date (schema {target - 1} -> {target}: {exc}); "
                "nothing was changed; restore it from a backup (`fieldnotes backup`), or move the results "
                "folder away and run again to start afresh"
            ) from None
    return connection


def open_for_reading(path: Path) -> sqlite3.Connection:
    """A connection for commands that only read (history, export, agreement): as open_connection,
    or, in a folder or on a file that cannot be written (an archived, read-only results folder),
    read-only as the database stands. Nothing is migrated then: an older schema is refused."""
    path = Path(path)
    try:
        return open_connection(path)
    except StoreError:
        if os.access(path, os.W_OK) and os.access(path.parent, os.W_OK):
            raise
    wal = path.with_name(path.name + "-wal")
    # mode=ro reads what a -wal file still holds; immutable=1 is needed when SQLite cannot make the
    # -shm file beside the database, and is safe only while no -wal file holds decisions.
    queries = ["mode=ro"] + ([] if wal.is_file() and wal.stat().st_size > 0 else ["immutable=1"])
    problem = "unknown"
    for query in queries:
        try:
            connection = sqlite3.connect(f"{path.resolve().as_uri()}?{query}", uri=True, isolation_level=None)
            connection.row_factory = sqlite3.Row
            version = connection.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            problem = str(exc)
            continue
        if version != SCHEMA_VERSION:
            connection.close()
            raise StoreError(
                f"{path}: a read-only results database of schema {version} (this fieldnotes reads {SCHEMA_VERSION}); "
                "copy the results folder somewhere writable and run the command there"
            )
        return connection
    raise StoreError(
        f"{path}: cannot read the results database in this read-only folder ({problem}); "
        "copy the results folder somewhere writable and run the command there"
    )


def _has_tables(connection: sqlite3.Connection) -> bool:
    return connection.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' LIMIT 1").fetchone() is not None
