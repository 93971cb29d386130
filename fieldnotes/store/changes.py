"""Which documents' rows changed since a moment: kept by triggers (schema version 9), read here.

Every change to a row a file could show moves the change clock on and stamps the row's document
with it, in the transaction of the change itself. A file written by document records the clock
it was written at; the documents stamped later are the ones whose rows it must write again.
"""

from __future__ import annotations

import sqlite3


class ChangeRepository:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def clock(self) -> int:
        """The change clock now: every later change stamps its document with a larger value."""
        return int(self.connection.execute("SELECT value FROM change_clock WHERE id = 1").fetchone()[0])

    def documents_changed_since(self, clock: int) -> set[str]:
        """The documents with a row changed after `clock` (a value `clock()` gave)."""
        rows = self.connection.execute("SELECT document_id FROM document_changes WHERE change > ?", (clock,))
        return {row[0] for row in rows}
