"""The embedding cache: vectors by (model, text hash).

Self-contained on purpose: it creates its own table when absent and reads no other table, so it
can also be opened on a database file of its own (a cache shared by every results folder).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping

from fieldnotes.store.base import transaction

# Exactly as schema version 2 created it (results folders' databases hold this text).
EMBEDDINGS_TABLE = """CREATE TABLE IF NOT EXISTS embeddings (
    model TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    dim INTEGER NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (model, text_hash)
);"""
_CHUNK = 500  # hashes per query: below SQLite's limit on bound parameters


class EmbeddingRepository:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection
        exists = connection.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'embeddings'"
        ).fetchone()
        if exists is None:  # only then: a read-only look otherwise, never a write
            with transaction(connection) as db:
                db.execute(EMBEDDINGS_TABLE)

    def load(self, model: str, hashes: Iterable[str]) -> dict[str, object]:
        """The cached vectors (float32 numpy arrays) of those text hashes that have one."""
        import numpy as np

        found: dict[str, object] = {}
        wanted = list(hashes)
        for offset in range(0, len(wanted), _CHUNK):
            chunk = wanted[offset : offset + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for row in self.connection.execute(
                f"SELECT text_hash, vector FROM embeddings WHERE model = ? AND text_hash IN ({marks})",
                [model, *chunk],
            ):
                found[row[0]] = np.frombuffer(row[1], dtype=np.float32)
        return found

    def save(self, model: str, vectors: Mapping[str, object]) -> None:
        """Cache vectors (numpy arrays) by text hash, in one transaction."""
        with transaction(self.connection) as db:
            db.executemany(
                "INSERT OR REPLACE INTO embeddings (model, text_hash, dim, vector) VALUES (?, ?, ?, ?)",
                [(model, digest, len(vector), vector.tobytes()) for digest, vector in vectors.items()],
            )
