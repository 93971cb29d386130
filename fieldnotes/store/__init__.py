"""The results database (SQLite) of a results folder: OUT/fieldnotes.db.

A Store is one connection with one repository per concern:

    store.runs         runs and their provenance                       (runs.py)
    store.corpus       documents, passages, sentences                  (corpus.py)
    store.embeddings   the embedding cache                             (embeddings.py)
    store.coding       excerpts and suggestions                        (coding.py)
    store.decisions    researchers' actions, one transaction each      (decisions.py)
    store.topics       themes                                          (topics.py)
    store.reads        read models over the coded-excerpt join         (reads.py)
    store.freshness    inputs digests of stages' stored results         (freshness.py)

The schema and its migrations are in schema.py, the results folder's lock in lock.py, and the
records that cross the store's boundary in records.py. No SQL lives outside this package.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fieldnotes.errors import StoreError
from fieldnotes.store.base import transaction
from fieldnotes.store.changes import ChangeRepository
from fieldnotes.store.coding import CodingRepository
from fieldnotes.store.corpus import CorpusRepository
from fieldnotes.store.decisions import DecisionRepository
from fieldnotes.store.embeddings import EmbeddingRepository
from fieldnotes.store.freshness import FreshnessRepository
from fieldnotes.store.lock import LOCK_NAME, ResultsBusyError, holds_results_lock, results_lock
from fieldnotes.store.reads import ReadModels, ReviewFilter
from fieldnotes.store.records import (
    DocumentText,
    DocumentVersion,
    PassageSpan,
    RunRecord,
    StaleDecision,
    StoredDocument,
)
from fieldnotes.store.runs import RunRepository
from fieldnotes.store.schema import SCHEMA_VERSION, open_connection, open_for_reading
from fieldnotes.store.topics import TopicRepository

DB_NAME = "fieldnotes.db"  # the results database's file name in a results folder

__all__ = [
    "DB_NAME",
    "LOCK_NAME",
    "SCHEMA_VERSION",
    "DocumentText",
    "DocumentVersion",
    "PassageSpan",
    "ResultsBusyError",
    "ReviewFilter",
    "RunRecord",
    "StaleDecision",
    "Store",
    "StoredDocument",
    "database_path",
    "holds_results_lock",
    "results_lock",
]


def database_path(out_dir: Path) -> Path:
    """Where a results folder keeps its database."""
    return Path(out_dir) / DB_NAME


class Store:
    """A connection to a results database, with its repositories. Each write method of a
    repository is one transaction; `transaction()` makes several of them one."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self.connection = connection
        self.path = path
        self.runs = RunRepository(connection)
        self.corpus = CorpusRepository(connection)
        self.embeddings = EmbeddingRepository(connection)
        self.coding = CodingRepository(connection)
        self.decisions = DecisionRepository(connection)
        self.topics = TopicRepository(connection)
        self.reads = ReadModels(connection)
        self.freshness = FreshnessRepository(connection)
        self.changes = ChangeRepository(connection)

    @classmethod
    def open(cls, path: Path) -> Store:
        """Open (creating or migrating as needed) the database at `path`."""
        path = Path(path)
        return cls(open_connection(path), path)

    @classmethod
    def open_for_reading(cls, path: Path) -> Store:
        """Open the database at `path` for a command that only reads: also in a read-only folder."""
        path = Path(path)
        return cls(open_for_reading(path), path)

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def checkpoint(self) -> bool:
        """Write what the WAL file holds into the database file itself, so that the one file
        `fieldnotes.db` carries every decision (copied alone, nothing is lost). True when it
        was complete (False: another connection was reading; the next checkpoint finishes it)."""
        try:
            busy = self.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        except sqlite3.Error:
            return False
        return busy == 0

    def backup(self, target: Path) -> None:
        """A consistent copy of the whole database (what the WAL file holds included) at `target`,
        written beside it first and moved into place, so a failed backup leaves no half file."""
        target = Path(target)
        partial = target.with_name(f".{target.name}.partial")
        partial.unlink(missing_ok=True)
        try:
            copy = sqlite3.connect(partial)
            try:
                self.connection.backup(copy)
            finally:
                copy.close()
            partial.replace(target)
        except (sqlite3.Error, OSError) as exc:
            partial.unlink(missing_ok=True)
            raise StoreError(f"{target}: cannot write the backup ({exc})") from None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; repository writes inside it join it (all of them, or none)."""
        with transaction(self.connection) as db:
            yield db
