"""What every repository shares: one write transaction on a connection, and the time rows record."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from fieldnotes.errors import StoreError


def unwritable_folder(folder: Path, why: str) -> StoreError:
    """The one-line error of a command that writes, on a results folder it cannot write to."""
    return StoreError(
        f"{folder}: the results folder cannot be written ({why}); this command writes to it: copy the "
        "folder somewhere writable, or give another --out"
    )


def now() -> str:
    """The time a row records: local time with its UTC offset."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


@contextmanager
def transaction(connection: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction (BEGIN IMMEDIATE ... COMMIT, rolled back on any error).

    Inside another transaction on the same connection it joins that one: the outer one commits
    or rolls back everything, so a policy outside the store can make several repository writes
    one transaction (see fieldnotes.review.reattach)."""
    if connection.in_transaction:
        yield connection
        return
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield connection
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


IN_CHUNK = 500  # values per `IN (...)` query: below SQLite's limit on bound parameters


def in_chunks(values: Sequence[str]) -> Iterator[tuple[list[str], str]]:
    """`values` in pieces of IN_CHUNK, each with its "?,?,..." placeholders, for queries that
    select rows by a list of keys of any length."""
    for offset in range(0, len(values), IN_CHUNK):
        chunk = list(values[offset : offset + IN_CHUNK])
        yield chunk, ",".join("?" * len(chunk))
