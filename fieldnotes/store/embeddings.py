"""The embedding cache: vectors by (model, text hash).

Self-contained on purpose: it creates its own table when absent and reads no other table, so it
can also be opened on a database file of its own (a cache shared by every results folder).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

from fieldnotes.store.base import in_chunks, transaction

# Exactly as schema version 2 created it (results folders' databases hold this text).
EMBEDDINGS_TABLE = """CREATE TABLE IF NOT EXISTS embeddings (
    model TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    dim INTEGER NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (model, text_hash)
);"""


class EmbeddingRepository:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection
        exists = connection.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'embeddings'"
        ).fetchone()
        if exists is None:  # only then: a read-only look otherwise, never a write
            with transaction(connection) as db:
                db.execute(EMBEDDINGS_TABLE)

    def load(self, model: str, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        """The cached vectors (float32 numpy arrays) of those text hashes that have one."""
        import numpy as np

        found: dict[str, np.ndarray] = {}
        for chunk, marks in in_chunks(list(hashes)):
            for row in self.connection.execute(
                f"SELECT text_hash, vector FROM embeddings WHERE model = ? AND text_hash IN ({marks})",
                [model, *chunk],
            ):
                found[row[0]] = np.frombuffer(row[1], dtype=np.float32)
        return found

    def save(self, model: str, vectors: Mapping[str, np.ndarray]) -> None:
        """Cache vectors (numpy arrays) by text hash, in one transaction."""
        with transaction(self.connection) as db:
            db.executemany(
                "INSERT OR REPLACE INTO embeddings (model, text_hash, dim, vector) VALUES (?, ?, ?, ?)",
                [(model, digest, len(vector), vector.tobytes()) for digest, vector in vectors.items()],
            )


class EmbeddingCache(EmbeddingRepository):
    """The embedding cache on a database file of its own, shared by every results folder.

    Only a cache: a file that cannot be read as one is moved aside and started afresh (its
    vectors are encoded again when needed), and nothing in it is a researcher's work.
    """

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        super().__init__(connection)
        self.path = path

    @classmethod
    def open(cls, path: Path) -> EmbeddingCache:
        """Open (creating as needed) the cache at `path`; OSError or sqlite3.Error when impossible."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return cls(_connect(path), path)
        except sqlite3.DatabaseError:
            # Not a database (a truncated copy, another program's file): keep it aside, start again.
            path.replace(path.with_name(f"{path.name}.unreadable-{int(time.time())}"))
            return cls(_connect(path), path)

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode = WAL")  # several fieldnotes runs may share it
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError:
        connection.close()
        raise
    return connection
