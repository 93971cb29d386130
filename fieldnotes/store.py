"""The results database (SQLite): documents, passages, sentences and runs.

Rows are never deleted. A document that changed gets new passages and its old
ones are marked inactive, so anything a researcher attached to them survives;
a document that became unreadable keeps its last good version.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from fieldnotes.errors import StoreError
from fieldnotes.ingest.model import CleanDocument, Passage

T = TypeVar("T")

SCHEMA_VERSION = 5

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
_SCHEMA_V2 = """
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
CREATE TABLE IF NOT EXISTS embeddings (
    model TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    dim INTEGER NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (model, text_hash)
);
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
_MIGRATIONS = {1: _SCHEMA_V1, 2: _SCHEMA_V2, 3: _SCHEMA_V3, 4: _SCHEMA_V4, 5: _SCHEMA_V5}


@dataclass(frozen=True)
class StoredDocument:
    document_id: str
    path: str
    raw_hash: str
    settings_hash: str
    status: str


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


# --- one writing run per results folder ------------------------------------------------------

LOCK_NAME = ".fieldnotes.lock"


class ResultsBusyError(StoreError):
    """Another fieldnotes run is writing to the same results folder."""


_held: dict[Path, list[int]] = {}  # lock file -> [descriptor, depth] held by this process
_held_guard = threading.Lock()


def _take(lock_path: Path) -> int | None:
    """An open descriptor holding the lock file exclusively, or None if another process holds it."""
    import fcntl

    while True:
        try:
            descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        except FileNotFoundError:  # the folder was removed by a run that failed before writing
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            continue
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            return None
        try:
            if os.stat(lock_path).st_ino == os.fstat(descriptor).st_ino:
                return descriptor
        except FileNotFoundError:
            pass
        os.close(descriptor)  # the file was removed by its last holder meanwhile: take the new one


@contextmanager
def results_lock(out_dir: Path, command: str) -> Iterator[None]:
    """Hold the results folder for one writing run. A second run on the same folder at the same
    time is refused with ResultsBusyError rather than interleaving its writes with this one's.

    Re-entrant within a process (code runs ingest). The operating system drops the lock when the
    process ends, also when it is killed, so a crash never leaves the folder locked.
    """
    out_dir = Path(out_dir)
    try:
        import fcntl  # noqa: F401
    except ImportError:  # Windows: SQLite's own locking still keeps every transaction whole
        yield
        return
    created = not out_dir.exists()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"{out_dir}: cannot create the results folder ({exc.strerror or exc})") from None
    lock_path = (out_dir / LOCK_NAME).resolve()
    with _held_guard:
        if lock_path in _held:
            _held[lock_path][1] += 1
            descriptor = None
        else:
            descriptor = _take(lock_path)
            if descriptor is None:
                try:
                    holder = lock_path.read_text(encoding="utf-8").strip() or "a fieldnotes run"
                except OSError:
                    holder = "a fieldnotes run"
                raise ResultsBusyError(
                    f"{out_dir}: {holder} is using this results folder; "
                    "wait until it has finished, or give another --out folder"
                )
            os.ftruncate(descriptor, 0)
            os.write(descriptor, f"`fieldnotes {command}` (process {os.getpid()}, since {_now()})\n".encode())
            _held[lock_path] = [descriptor, 1]
    try:
        yield
    finally:
        with _held_guard:
            _held[lock_path][1] -= 1
            if _held[lock_path][1] == 0:
                descriptor = _held.pop(lock_path)[0]
                # A run that stopped before writing anything leaves no folder behind (a bad codebook).
                if created and [p.name for p in out_dir.iterdir()] == [LOCK_NAME]:
                    with suppress(OSError):
                        lock_path.unlink()
                        out_dir.rmdir()
                else:
                    os.ftruncate(descriptor, 0)
                os.close(descriptor)


def holds_results_lock(command: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Decorate a function with an `out_dir` parameter to run under results_lock(out_dir)."""

    def decorate(func: Callable[..., T]) -> Callable[..., T]:
        signature = inspect.signature(func)

        @functools.wraps(func)
        def run(*args: object, **kwargs: object) -> T:
            out_dir = signature.bind(*args, **kwargs).arguments["out_dir"]
            with results_lock(Path(out_dir), command):
                return func(*args, **kwargs)

        return run

    return decorate


class Store:
    """A connection to DIR/fieldnotes.db. Each write method is one transaction."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self.connection = connection
        self.path = path

    @classmethod
    def open(cls, path: Path) -> Store:
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(path, timeout=30, isolation_level=None)
            connection.row_factory = sqlite3.Row
            connection.execute("PRAGMA foreign_keys = ON")
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = FULL")
            version = connection.execute("PRAGMA user_version").fetchone()[0]
        except (sqlite3.DatabaseError, OSError) as exc:
            raise StoreError(f"{path}: cannot open the results database ({exc})") from None
        if version > SCHEMA_VERSION:
            connection.close()
            raise StoreError(
                f"{path}: made by a newer fieldnotes (schema {version}, this one knows {SCHEMA_VERSION}); "
                "upgrade fieldnotes or use another --out folder"
            )
        store = cls(connection, path)
        for target in range(version + 1, SCHEMA_VERSION + 1):
            # One script, one transaction per step: a crash leaves the old schema or the new one.
            connection.executescript(f"BEGIN; {_MIGRATIONS[target]} PRAGMA user_version = {target}; COMMIT;")
        return store

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.connection.execute("BEGIN IMMEDIATE")
        try:
            yield self.connection
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise
        self.connection.execute("COMMIT")

    # --- runs -----------------------------------------------------------------

    def begin_run(self, command: str, corpus_root: str, settings_hash: str, settings_json: str, versions: dict) -> int:
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT INTO runs (command, started_at, corpus_root, settings_hash, settings_json, versions_json)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (command, _now(), corpus_root, settings_hash, settings_json, json.dumps(versions, sort_keys=True)),
            )
            return int(cursor.lastrowid)

    def finish_run(self, run_id: int, corpus_hash: str, summary: dict) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE runs SET finished_at = ?, corpus_hash = ?, summary_json = ? WHERE run_id = ?",
                (_now(), corpus_hash, json.dumps(summary, sort_keys=True), run_id),
            )

    # --- documents ------------------------------------------------------------

    def documents(self) -> dict[str, StoredDocument]:
        rows = self.connection.execute(
            "SELECT document_id, path, raw_hash, settings_hash, status FROM documents"
        ).fetchall()
        return {row["document_id"]: StoredDocument(*row) for row in rows}

    def save_document(
        self,
        run_id: int,
        document_id: str,
        document: CleanDocument,
        passages: Sequence[Passage],
        settings_hash: str,
        text_hash: str,
    ) -> None:
        """Store a (re)read document; passages it no longer has become inactive."""
        source = document.source
        title = source.metadata.get("title")
        with self.transaction() as db:
            db.execute(
                """INSERT INTO documents (document_id, path, format, raw_hash, text_hash, settings_hash, encoding,
                       title, metadata_json, repairs_json, text, status, error, first_run, last_run)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'ok', NULL, ?, ?)
                   ON CONFLICT (document_id) DO UPDATE SET
                       path = excluded.path, format = excluded.format, raw_hash = excluded.raw_hash,
                       text_hash = excluded.text_hash, settings_hash = excluded.settings_hash,
                       encoding = excluded.encoding, title = excluded.title,
                       metadata_json = excluded.metadata_json, repairs_json = excluded.repairs_json,
                       text = excluded.text, status = 'ok', error = NULL, last_run = excluded.last_run""",
                (
                    document_id,
                    source.relpath,
                    source.format,
                    source.raw_hash,
                    text_hash,
                    settings_hash,
                    source.encoding,
                    str(title) if title is not None else None,
                    json.dumps(source.metadata, sort_keys=True, default=str),
                    json.dumps(document.repairs, sort_keys=True),
                    document.text,
                    run_id,
                    run_id,
                ),
            )
            db.execute("UPDATE passages SET active = 0 WHERE document_id = ?", (document_id,))
            for passage in passages:
                db.execute(
                    """INSERT INTO passages (passage_id, document_id, seq, start, end, text, section, language,
                           site, site_evidence, active, first_run, last_run)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)
                       ON CONFLICT (passage_id) DO UPDATE SET
                           seq = excluded.seq, start = excluded.start, end = excluded.end, text = excluded.text,
                           section = excluded.section, language = excluded.language, site = excluded.site,
                           site_evidence = excluded.site_evidence, active = 1, last_run = excluded.last_run""",
                    (
                        passage.passage_id,
                        document_id,
                        passage.seq,
                        passage.start,
                        passage.end,
                        passage.text,
                        passage.section,
                        passage.language,
                        passage.site,
                        passage.site_evidence,
                        run_id,
                        run_id,
                    ),
                )
                db.execute("DELETE FROM sentences WHERE passage_id = ?", (passage.passage_id,))
                db.executemany(
                    "INSERT INTO sentences (passage_id, seq, start, end) VALUES (?, ?, ?, ?)",
                    [(passage.passage_id, i, s, e) for i, (s, e) in enumerate(passage.sentences)],
                )

    def touch_document(self, run_id: int, document_id: str) -> None:
        """Mark an unchanged document (and its passages) as seen in this run."""
        with self.transaction() as db:
            db.execute(
                "UPDATE documents SET last_run = ?, status = 'ok', error = NULL WHERE document_id = ?",
                (run_id, document_id),
            )
            db.execute("UPDATE passages SET last_run = ? WHERE document_id = ? AND active = 1", (run_id, document_id))

    def touch_documents(self, run_id: int, document_ids: Sequence[str]) -> None:
        """touch_document for many documents in one transaction (one disk sync, not one each)."""
        if not document_ids:
            return
        with self.transaction() as db:
            db.executemany(
                "UPDATE documents SET last_run = ?, status = 'ok', error = NULL WHERE document_id = ?",
                [(run_id, document_id) for document_id in document_ids],
            )
            db.executemany(
                "UPDATE passages SET last_run = ? WHERE document_id = ? AND active = 1",
                [(run_id, document_id) for document_id in document_ids],
            )

    def mark_unreadable(self, run_id: int, document_id: str, error: str) -> bool:
        """Record that a stored document could not be re-read; its last good version stays."""
        with self.transaction() as db:
            cursor = db.execute(
                "UPDATE documents SET status = 'unreadable', error = ?, last_run = ? WHERE document_id = ?",
                (error, run_id, document_id),
            )
            return cursor.rowcount > 0

    def mark_missing(self, run_id: int, present: set[str]) -> list[str]:
        """Documents no longer in the corpus: kept, with passages inactive. Returns their paths."""
        gone = [
            (doc.document_id, doc.path)
            for doc in self.documents().values()
            if doc.document_id not in present and doc.status != "missing"
        ]
        with self.transaction() as db:
            for document_id, _ in gone:
                db.execute(
                    "UPDATE documents SET status = 'missing', last_run = ? WHERE document_id = ?", (run_id, document_id)
                )
                db.execute("UPDATE passages SET active = 0 WHERE document_id = ?", (document_id,))
        return [path for _, path in gone]

    # --- reading --------------------------------------------------------------

    def active_passages(self) -> list[sqlite3.Row]:
        return self.connection.execute(
            """SELECT p.passage_id, p.document_id, d.path AS document, d.format, p.site, p.site_evidence,
                      p.section, p.start, p.end, p.language,
                      (SELECT COUNT(*) FROM sentences s WHERE s.passage_id = p.passage_id) AS n_sentences,
                      p.text
               FROM passages p JOIN documents d USING (document_id)
               WHERE p.active = 1 AND d.status != 'missing'
               ORDER BY d.path, p.seq"""
        ).fetchall()

    # --- embeddings -----------------------------------------------------------

    def load_embeddings(self, model: str, hashes: set[str]) -> dict[str, object]:
        import numpy as np

        found: dict[str, object] = {}
        wanted = list(hashes)
        for offset in range(0, len(wanted), 500):
            chunk = wanted[offset : offset + 500]
            marks = ",".join("?" * len(chunk))
            for row in self.connection.execute(
                f"SELECT text_hash, vector FROM embeddings WHERE model = ? AND text_hash IN ({marks})",
                [model, *chunk],
            ):
                found[row["text_hash"]] = np.frombuffer(row["vector"], dtype=np.float32)
        return found

    def save_embeddings(self, model: str, vectors: dict[str, object]) -> None:
        with self.transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO embeddings (model, text_hash, dim, vector) VALUES (?, ?, ?, ?)",
                [(model, digest, len(vector), vector.tobytes()) for digest, vector in vectors.items()],
            )

    # --- coding ---------------------------------------------------------------

    def record_run_provenance(self, run_id: int, codebook: str, codebook_hash: str, model: str) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE runs SET codebook = ?, codebook_hash = ?, model = ? WHERE run_id = ?",
                (codebook, codebook_hash, model, run_id),
            )

    def passages_with_sentences(self) -> tuple[list[dict], dict[str, list[tuple[int, int]]], dict[str, str]]:
        """Active passages (with site and document path), their sentence spans, document texts."""
        passages = [dict(row) for row in self.active_passages()]
        sentences: dict[str, list[tuple[int, int]]] = {}
        for row in self.connection.execute(
            """SELECT s.passage_id, s.start, s.end FROM sentences s
               JOIN passages p USING (passage_id) WHERE p.active = 1 ORDER BY s.passage_id, s.seq"""
        ):
            sentences.setdefault(row["passage_id"], []).append((row["start"], row["end"]))
        texts = {
            row["document_id"]: row["text"]
            for row in self.connection.execute("SELECT document_id, text FROM documents WHERE status != 'missing'")
        }
        return passages, sentences, texts

    def active_sentence_excerpts(self) -> dict[str, tuple[int, int]]:
        """The current sentence excerpts (not hand-marked ones): id -> (start, end)."""
        return {
            row["excerpt_id"]: (row["start"], row["end"])
            for row in self.connection.execute(
                "SELECT excerpt_id, start, end FROM excerpts WHERE active = 1 AND kind = 'sentence'"
            )
        }

    def touch_excerpts(self, run_id: int) -> None:
        """Mark the current sentence excerpts as seen in this run (save_excerpts when nothing changed)."""
        with self.transaction() as db:
            db.execute("UPDATE excerpts SET last_run = ? WHERE active = 1 AND kind = 'sentence'", (run_id,))

    def latest_run(self, command: str) -> sqlite3.Row | None:
        """The most recent run of a command, finished or not."""
        return self.connection.execute(
            "SELECT * FROM runs WHERE command = ? ORDER BY run_id DESC LIMIT 1", (command,)
        ).fetchone()

    def decisions_fingerprint(self) -> str:
        """Changes whenever a researcher's decision is recorded (what the learned suggester trains on)."""
        row = self.connection.execute("SELECT COUNT(*), COALESCE(MAX(decision_id), 0) FROM decisions").fetchone()
        return f"{row[0]}:{row[1]}"

    def machine_suggestions(self, codebook_id: str) -> list[sqlite3.Row]:
        """Live machine-made suggestions on current excerpts, with the excerpt's site."""
        return self.connection.execute(
            """SELECT s.excerpt_id, s.code_id, s.status, s.score, s.components_json, p.site
               FROM suggestions s JOIN excerpts e USING (excerpt_id) JOIN passages p ON p.passage_id = e.passage_id
               WHERE s.codebook_id = ? AND s.status != 'withdrawn' AND s.score IS NOT NULL AND e.active = 1""",
            (codebook_id,),
        ).fetchall()

    def save_excerpts(self, run_id: int, excerpts: Sequence) -> None:
        """Store the current excerpts; earlier ones not among them become inactive (never deleted)."""
        with self.transaction() as db:
            db.execute("UPDATE excerpts SET active = 0 WHERE active = 1 AND kind = 'sentence'")
            # Hand-marked excerpts live as long as their passage does.
            db.execute(
                """UPDATE excerpts SET active = (passage_id IN (SELECT passage_id FROM passages WHERE active = 1))
                   WHERE kind = 'manual'"""
            )
            db.executemany(
                """INSERT INTO excerpts (excerpt_id, passage_id, document_id, start, end, text, text_hash,
                       active, first_run, last_run)
                   VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?)
                   ON CONFLICT (excerpt_id) DO UPDATE SET start = excluded.start, end = excluded.end,
                       active = 1, last_run = excluded.last_run""",
                [
                    (e.excerpt_id, e.passage_id, e.document_id, e.start, e.end, e.text, e.text_hash, run_id, run_id)
                    for e in excerpts
                ],
            )

    def save_suggestions(
        self, run_id: int, codebook_id: str, suggestions: Sequence, keep: set[str] | frozenset[str] = frozenset()
    ) -> dict[str, int]:
        """Store this run's suggestions without touching any the researchers reviewed.

        A machine suggestion not made again is marked 'withdrawn', not deleted, unless its
        excerpt is in `keep` (excerpts not scored again because nothing they depend on changed).
        Returns counts: new, updated, kept (reviewed, left alone), withdrawn.
        """
        counts = {"new": 0, "updated": 0, "kept": 0, "withdrawn": 0}
        with self.transaction() as db:
            current = {
                (row["excerpt_id"], row["code_id"]): row["status"]
                for row in db.execute(
                    "SELECT excerpt_id, code_id, status FROM suggestions WHERE codebook_id = ?", (codebook_id,)
                )
            }
            made = set()
            for s in suggestions:
                key = (s.excerpt_id, s.code_id)
                made.add(key)
                status = current.get(key)
                if status in ("accepted", "rejected"):
                    counts["kept"] += 1
                    continue
                counts["new" if status is None else "updated"] += 1
                db.execute(
                    """INSERT INTO suggestions (excerpt_id, code_id, codebook_id, score, suggested_by, rationale,
                           components_json, status, run_id)
                       VALUES (?, ?, ?, ?, ?, ?, ?, 'suggested', ?)
                       ON CONFLICT (excerpt_id, code_id) DO UPDATE SET score = excluded.score,
                           suggested_by = excluded.suggested_by, rationale = excluded.rationale,
                           components_json = excluded.components_json, status = 'suggested',
                           run_id = excluded.run_id
                       WHERE suggestions.status IN ('suggested', 'withdrawn')""",
                    (
                        s.excerpt_id,
                        s.code_id,
                        codebook_id,
                        s.score,
                        s.suggested_by,
                        s.rationale,
                        json.dumps(s.components, sort_keys=True),
                        run_id,
                    ),
                )
            for key, status in current.items():
                if status == "suggested" and key not in made and key[0] not in keep:
                    db.execute(
                        "UPDATE suggestions SET status = 'withdrawn', run_id = ? WHERE excerpt_id = ? AND code_id = ?",
                        (run_id, *key),
                    )
                    counts["withdrawn"] += 1
        return counts

    def record_decision(
        self, excerpt_id: str, code_id: str, status: str, coder: str, memo: str | None = None, action: str | None = None
    ) -> None:
        """Set a suggestion's status as a researcher's decision, with an audit row, in one transaction."""
        if status not in ("accepted", "rejected", "suggested"):
            raise StoreError(f"unknown status '{status}'")
        with self.transaction() as db:
            row = self._suggestion(db, excerpt_id, code_id)
            db.execute(
                "UPDATE suggestions SET status = ?, status_by = ?, status_at = ?, memo = COALESCE(?, memo)"
                " WHERE excerpt_id = ? AND code_id = ?",
                (status, coder, _now(), memo, excerpt_id, code_id),
            )
            self._decision(db, excerpt_id, code_id, action or status, row["status"], status, coder, memo)

    def coded_excerpts(self, codebook_id: str) -> list[sqlite3.Row]:
        """Every live suggestion (suggested, accepted or rejected) with its excerpt, site and document."""
        return self.connection.execute(
            """SELECT e.excerpt_id, e.passage_id, d.path AS document, p.site, e.start, e.end, e.text,
                      s.code_id AS code, s.score, s.suggested_by, s.rationale, s.status, s.status_by AS coder,
                      s.status_at AS decided_at, s.memo
               FROM suggestions s
               JOIN excerpts e USING (excerpt_id)
               JOIN passages p ON p.passage_id = e.passage_id
               JOIN documents d ON d.document_id = e.document_id
               WHERE s.codebook_id = ? AND s.status != 'withdrawn' AND e.active = 1
               ORDER BY d.path, e.start, s.code_id""",
            (codebook_id,),
        ).fetchall()

    # --- themes ---------------------------------------------------------------

    def active_excerpts(self) -> list[sqlite3.Row]:
        return self.connection.execute(
            "SELECT excerpt_id, passage_id, text, text_hash FROM excerpts WHERE active = 1 ORDER BY passage_id, start"
        ).fetchall()

    def save_topics(
        self, run_id: int, topics: Sequence[dict], assignments: dict[str, int], input_key: str | None = None
    ) -> None:
        with self.transaction() as db:
            db.executemany(
                """INSERT INTO topics (run_id, topic_id, label, words_json, size, representatives_json,
                       words_by_site_json, method, input_key)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [
                    (
                        run_id,
                        t["topic_id"],
                        t["label"],
                        json.dumps(t["words"]),
                        t["size"],
                        json.dumps(t["representatives"]),
                        json.dumps(t.get("words_by_site", {}), ensure_ascii=False),
                        t["method"],
                        input_key,
                    )
                    for t in topics
                ],
            )
            db.executemany(
                "INSERT INTO passage_topics (run_id, passage_id, topic_id) VALUES (?, ?, ?)",
                [(run_id, passage_id, int(topic)) for passage_id, topic in assignments.items()],
            )

    def latest_topics(self) -> tuple[int | None, list[sqlite3.Row], dict[str, int]]:
        """The themes of the latest themes run: (run id, topic rows, passage -> topic)."""
        row = self.connection.execute("SELECT MAX(run_id) AS run_id FROM topics").fetchone()
        run_id = row["run_id"] if row else None
        if run_id is None:
            return None, [], {}
        topics = self.connection.execute(
            "SELECT * FROM topics WHERE run_id = ? ORDER BY topic_id", (run_id,)
        ).fetchall()
        assignments = {
            r["passage_id"]: r["topic_id"]
            for r in self.connection.execute(
                "SELECT passage_id, topic_id FROM passage_topics WHERE run_id = ?", (run_id,)
            )
        }
        return run_id, topics, assignments

    # --- decisions over time ------------------------------------------------------

    def reattach_decisions(self, run_id: int, codebook_id: str) -> tuple[int, list[sqlite3.Row]]:
        """Move reviewed suggestions whose excerpt disappeared (its document was edited) onto the
        current excerpt with the same text in the same document; failing that, onto the one excerpt
        with that text that appeared elsewhere since (the document was renamed or moved, or the
        passage moved to another file). Returns (moved, orphans); orphans are kept as they are, on
        their inactive excerpt, and reported."""
        moved = 0
        with self.transaction() as db:
            stale = db.execute(
                """SELECT s.*, e.text AS excerpt_text, e.document_id, e.last_run AS excerpt_last_run
                   FROM suggestions s JOIN excerpts e USING (excerpt_id)
                   WHERE s.codebook_id = ? AND s.status IN ('accepted', 'rejected') AND e.active = 0""",
                (codebook_id,),
            ).fetchall()
            for row in stale:
                text_hash = hashlib.sha256(row["excerpt_text"].encode("utf-8")).hexdigest()
                target = db.execute(
                    """SELECT excerpt_id FROM excerpts WHERE active = 1 AND document_id = ? AND text_hash = ?
                       ORDER BY start LIMIT 1""",
                    (row["document_id"], text_hash),
                ).fetchone()
                if target is None:
                    # Only text new since this excerpt was last seen, and only one such place:
                    # a sentence that was elsewhere all along, or is in two places now, is not it.
                    elsewhere = db.execute(
                        """SELECT excerpt_id FROM excerpts WHERE active = 1 AND text_hash = ? AND document_id != ?
                           AND first_run > ? LIMIT 2""",
                        (text_hash, row["document_id"], row["excerpt_last_run"]),
                    ).fetchall()
                    target = elsewhere[0] if len(elsewhere) == 1 else None
                if target is None:
                    continue
                existing = db.execute(
                    "SELECT status FROM suggestions WHERE excerpt_id = ? AND code_id = ?",
                    (target["excerpt_id"], row["code_id"]),
                ).fetchone()
                if existing is not None and existing["status"] in ("accepted", "rejected"):
                    continue  # the new place already carries a decision; keep both, move nothing
                db.execute(
                    """INSERT INTO suggestions (excerpt_id, code_id, codebook_id, score, suggested_by, rationale,
                           components_json, status, status_by, status_at, memo, run_id)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                       ON CONFLICT (excerpt_id, code_id) DO UPDATE SET status = excluded.status,
                           status_by = excluded.status_by, status_at = excluded.status_at, memo = excluded.memo""",
                    (
                        target["excerpt_id"],
                        row["code_id"],
                        codebook_id,
                        row["score"],
                        row["suggested_by"],
                        row["rationale"],
                        row["components_json"],
                        row["status"],
                        row["status_by"],
                        row["status_at"],
                        row["memo"],
                        run_id,
                    ),
                )
                previous = existing["status"] if existing else None
                note = f"moved from {row['excerpt_id']} after the document changed"
                self._decision(
                    db, target["excerpt_id"], row["code_id"], "reattached", previous, row["status"], "fieldnotes", note
                )
                db.execute(
                    "UPDATE suggestions SET status = 'withdrawn' WHERE excerpt_id = ? AND code_id = ?",
                    (row["excerpt_id"], row["code_id"]),
                )
                self._decision(
                    db,
                    row["excerpt_id"],
                    row["code_id"],
                    "moved",
                    row["status"],
                    "withdrawn",
                    "fieldnotes",
                    f"moved to {target['excerpt_id']}",
                )
                moved += 1
        return moved, self.orphaned_decisions(codebook_id)

    def orphaned_decisions(self, codebook_id: str) -> list[sqlite3.Row]:
        """Reviewed suggestions whose text is no longer in the corpus: kept, never dropped."""
        return self.connection.execute(
            """SELECT s.excerpt_id, s.code_id AS code, s.status, s.status_by AS coder, s.status_at AS decided_at,
                      s.memo, e.text, d.path AS document
               FROM suggestions s JOIN excerpts e USING (excerpt_id) JOIN documents d ON d.document_id = e.document_id
               WHERE s.codebook_id = ? AND s.status IN ('accepted', 'rejected') AND e.active = 0
               ORDER BY d.path, e.start""",
            (codebook_id,),
        ).fetchall()

    def history(self, excerpt_id: str) -> list[sqlite3.Row]:
        """Every decision ever recorded on an excerpt, oldest first."""
        return self.connection.execute(
            "SELECT * FROM decisions WHERE excerpt_id = ? ORDER BY decision_id", (excerpt_id,)
        ).fetchall()

    def reviewed_examples(self, codebook_id: str) -> list[sqlite3.Row]:
        """Accepted and rejected (excerpt text, code) pairs: training data for the learned suggester."""
        return self.connection.execute(
            """SELECT e.text, s.code_id AS code, s.status FROM suggestions s JOIN excerpts e USING (excerpt_id)
               WHERE s.codebook_id = ? AND s.status IN ('accepted', 'rejected')
               ORDER BY s.excerpt_id, s.code_id""",
            (codebook_id,),
        ).fetchall()

    # --- researchers' own coding ------------------------------------------------------

    @staticmethod
    def _suggestion(db, excerpt_id: str, code_id: str) -> sqlite3.Row:
        row = db.execute(
            "SELECT status FROM suggestions WHERE excerpt_id = ? AND code_id = ?", (excerpt_id, code_id)
        ).fetchone()
        if row is None:
            raise StoreError(f"no suggestion of code '{code_id}' for excerpt '{excerpt_id}'")
        return row

    def _decision(
        self,
        db,
        excerpt_id: str,
        code_id: str,
        action: str,
        previous: str | None,
        new: str,
        coder: str,
        memo: str | None = None,
        undoes: int | None = None,
    ) -> None:
        db.execute(
            """INSERT INTO decisions (excerpt_id, code_id, action, previous_status, new_status, coder, at, memo, undoes)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (excerpt_id, code_id, action, previous, new, coder, _now(), memo, undoes),
        )

    def _accept_code(
        self, db, excerpt_id: str, code_id: str, codebook_id: str, coder: str, memo: str | None, action: str
    ) -> None:
        row = db.execute(
            "SELECT status FROM suggestions WHERE excerpt_id = ? AND code_id = ?", (excerpt_id, code_id)
        ).fetchone()
        if row is None:
            db.execute(
                """INSERT INTO suggestions (excerpt_id, code_id, codebook_id, score, suggested_by, rationale,
                       components_json, status, status_by, status_at, memo, run_id)
                   VALUES (?, ?, ?, NULL, 'researcher', ?, '{}', 'accepted', ?, ?, ?,
                           (SELECT MAX(run_id) FROM runs))""",
                (excerpt_id, code_id, codebook_id, f"added by {coder}", coder, _now(), memo),
            )
        else:
            db.execute(
                "UPDATE suggestions SET status = 'accepted', status_by = ?, status_at = ?, memo = COALESCE(?, memo)"
                " WHERE excerpt_id = ? AND code_id = ?",
                (coder, _now(), memo, excerpt_id, code_id),
            )
        self._decision(db, excerpt_id, code_id, action, row["status"] if row else None, "accepted", coder, memo)

    def add_code(
        self, passage_id: str, start: int, end: int, code_id: str, codebook_id: str, coder: str, memo: str | None = None
    ) -> str:
        """Code a span a researcher selected (document offsets inside one passage); returns its excerpt id."""
        with self.transaction() as db:
            return self._add_code(db, passage_id, start, end, code_id, codebook_id, coder, memo, "added")[0]

    def _add_code(
        self,
        db,
        passage_id: str,
        start: int,
        end: int,
        code_id: str,
        codebook_id: str,
        coder: str,
        memo: str | None,
        action: str,
    ) -> tuple[str, str | None]:
        """(excerpt id, the code's status on it before) after accepting `code_id` on the span."""
        passage = db.execute(
            """SELECT p.passage_id, p.document_id, p.start, p.end, d.text AS document_text FROM passages p
               JOIN documents d USING (document_id) WHERE p.passage_id = ? AND p.active = 1""",
            (passage_id,),
        ).fetchone()
        if passage is None:
            raise StoreError(f"no current passage '{passage_id}'")
        text = passage["document_text"][start:end]
        stripped = text.strip()
        if not (passage["start"] <= start < end <= passage["end"]) or not stripped:
            raise StoreError(f"span {start}-{end} is not text inside passage '{passage_id}'")
        start += len(text) - len(text.lstrip())
        end = start + len(stripped)
        excerpt_id = (
            "m" + hashlib.sha256(f"{passage_id}\x1f{start - passage['start']}\x1f{stripped}".encode()).hexdigest()[:15]
        )
        db.execute(
            """INSERT INTO excerpts (excerpt_id, passage_id, document_id, start, end, text, text_hash, active,
                   first_run, last_run, kind)
               VALUES (?, ?, ?, ?, ?, ?, ?, 1, (SELECT MAX(run_id) FROM runs), (SELECT MAX(run_id) FROM runs),
                       'manual')
               ON CONFLICT (excerpt_id) DO UPDATE SET active = 1""",
            (
                excerpt_id,
                passage_id,
                passage["document_id"],
                start,
                end,
                stripped,
                hashlib.sha256(stripped.encode("utf-8")).hexdigest(),
            ),
        )
        previous = db.execute(
            "SELECT status FROM suggestions WHERE excerpt_id = ? AND code_id = ?", (excerpt_id, code_id)
        ).fetchone()
        if previous is None or previous["status"] != "accepted":
            self._accept_code(db, excerpt_id, code_id, codebook_id, coder, memo, action)
        return excerpt_id, previous["status"] if previous else None

    def add_code_over_passages(
        self,
        passages: Sequence[sqlite3.Row],
        start: int,
        end: int,
        code_id: str,
        codebook_id: str,
        coder: str,
        memo: str | None,
        action: str = "added",
    ) -> int:
        """Accept a code on a document span that may cross passages: one excerpt per passage it
        touches, all in one transaction. Returns how many were not already accepted."""
        added = 0
        with self.transaction() as db:
            for passage in passages:
                lo, hi = max(start, passage["start"]), min(end, passage["end"])
                if lo >= hi or not self._passage_text(db, passage["passage_id"], lo, hi).strip():
                    continue
                _, before = self._add_code(db, passage["passage_id"], lo, hi, code_id, codebook_id, coder, memo, action)
                added += before != "accepted"
        return added

    @staticmethod
    def _passage_text(db, passage_id: str, start: int, end: int) -> str:
        row = db.execute(
            "SELECT substr(d.text, ? + 1, ?) AS text FROM passages p JOIN documents d USING (document_id)"
            " WHERE p.passage_id = ?",
            (start, end - start, passage_id),
        ).fetchone()
        return row["text"] if row else ""

    def recode(self, excerpt_id: str, code_id: str, new_code_id: str, codebook_id: str, coder: str) -> None:
        """The excerpt is right but the code is not: reject one code and accept the other, together."""
        with self.transaction() as db:
            row = self._suggestion(db, excerpt_id, code_id)
            db.execute(
                "UPDATE suggestions SET status = 'rejected', status_by = ?, status_at = ? "
                "WHERE excerpt_id = ? AND code_id = ?",
                (coder, _now(), excerpt_id, code_id),
            )
            self._decision(db, excerpt_id, code_id, "recoded", row["status"], "rejected", coder, f"-> {new_code_id}")
            self._accept_code(db, excerpt_id, new_code_id, codebook_id, coder, f"<- {code_id}", "recoded")

    def set_memo(self, excerpt_id: str, code_id: str, memo: str, coder: str) -> None:
        with self.transaction() as db:
            row = self._suggestion(db, excerpt_id, code_id)
            db.execute(
                "UPDATE suggestions SET memo = ? WHERE excerpt_id = ? AND code_id = ?", (memo, excerpt_id, code_id)
            )
            self._decision(db, excerpt_id, code_id, "memo", row["status"], row["status"], coder, memo)

    def undo_last(self, coder: str) -> sqlite3.Row | None:
        """Revert the coder's latest decision that is not yet undone; returns it, or None."""
        with self.transaction() as db:
            last = db.execute(
                """SELECT * FROM decisions WHERE coder = ? AND action NOT IN ('undo', 'memo')
                   AND decision_id NOT IN (SELECT undoes FROM decisions WHERE undoes IS NOT NULL)
                   ORDER BY decision_id DESC LIMIT 1""",
                (coder,),
            ).fetchone()
            if last is None:
                return None
            restored = last["previous_status"] or "withdrawn"
            db.execute(
                "UPDATE suggestions SET status = ?, status_by = ?, status_at = ? WHERE excerpt_id = ? AND code_id = ?",
                (restored, coder, _now(), last["excerpt_id"], last["code_id"]),
            )
            self._decision(
                db,
                last["excerpt_id"],
                last["code_id"],
                "undo",
                last["new_status"],
                restored,
                coder,
                undoes=last["decision_id"],
            )
            return last

    def adjust_span(
        self, excerpt_id: str, code_id: str, passage_id: str, start: int, end: int, codebook_id: str, coder: str
    ) -> str:
        """The code is right but its span is not: code the new span, withdraw the old one (audited)."""
        new_id = self.add_code(passage_id, start, end, code_id, codebook_id, coder)
        with self.transaction() as db:
            row = self._suggestion(db, excerpt_id, code_id)
            if new_id != excerpt_id:
                db.execute(
                    "UPDATE suggestions SET status = 'withdrawn', status_by = ?, status_at = ? "
                    "WHERE excerpt_id = ? AND code_id = ?",
                    (coder, _now(), excerpt_id, code_id),
                )
                self._decision(
                    db, excerpt_id, code_id, "span-moved", row["status"], "withdrawn", coder, f"span moved to {new_id}"
                )
        return new_id

    # --- exchange ---------------------------------------------------------------------

    def export_rows(self, codebook_id: str, statuses: Sequence[str]) -> list[sqlite3.Row]:
        """Coded excerpts with the given statuses, in document order, for exports."""
        marks = ", ".join("?" for _ in statuses)
        return self.connection.execute(
            f"""SELECT e.excerpt_id, e.passage_id, e.document_id, d.path AS document, p.site, e.start, e.end,
                       e.text, e.kind, s.code_id AS code, s.score, s.suggested_by, s.rationale, s.status,
                       s.status_by AS coder, s.status_at AS decided_at, s.memo
                FROM suggestions s
                JOIN excerpts e USING (excerpt_id)
                JOIN passages p ON p.passage_id = e.passage_id
                JOIN documents d ON d.document_id = e.document_id
                WHERE s.codebook_id = ? AND s.status IN ({marks}) AND e.active = 1
                ORDER BY d.path, e.start, e.end, s.code_id""",
            (codebook_id, *statuses),
        ).fetchall()

    def current_documents(self) -> list[sqlite3.Row]:
        """Readable documents with their cleaned text and the sites of their active passages."""
        return self.connection.execute(
            """SELECT d.document_id, d.path, d.format, d.title, d.text,
                      (SELECT group_concat(site, ',') FROM (SELECT DISTINCT p.site FROM passages p
                        WHERE p.document_id = d.document_id AND p.active = 1 ORDER BY p.site)) AS sites
               FROM documents d WHERE d.status = 'ok' ORDER BY d.path"""
        ).fetchall()

    def suggestion_states(self, codebook_id: str) -> dict[tuple[str, str], sqlite3.Row]:
        """(excerpt id, code) -> the suggestion's status, who set it and when, and the excerpt's text."""
        rows = self.connection.execute(
            """SELECT s.excerpt_id, s.code_id, s.status, s.status_by, s.status_at, e.text, e.active
               FROM suggestions s JOIN excerpts e USING (excerpt_id) WHERE s.codebook_id = ?""",
            (codebook_id,),
        )
        return {(row["excerpt_id"], row["code_id"]): row for row in rows}

    def record_decisions(self, decisions: Sequence[tuple[str, str, str, str, str | None, str]]) -> None:
        """Several decisions (excerpt id, code, status, coder, memo, action) in one transaction: all or none."""
        with self.transaction() as db:
            for excerpt_id, code_id, status, coder, memo, action in decisions:
                row = self._suggestion(db, excerpt_id, code_id)
                db.execute(
                    "UPDATE suggestions SET status = ?, status_by = ?, status_at = ?, memo = COALESCE(?, memo)"
                    " WHERE excerpt_id = ? AND code_id = ?",
                    (status, coder, _now(), memo, excerpt_id, code_id),
                )
                self._decision(db, excerpt_id, code_id, action, row["status"], status, coder, memo)
