"""Freshness records: for each (stage, subject), the digest of the inputs its stored results were
made from. A stage whose inputs digest equals the recorded one may reuse its results as they are."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from fieldnotes.store.base import now, transaction


@dataclass(frozen=True)
class FreshnessRecord:
    stage: str
    subject: str
    digest: str
    run_id: int
    state_json: str  # written and read by fieldnotes.freshness only, from a typed record


class FreshnessRepository:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def get(self, stage: str, subject: str) -> FreshnessRecord | None:
        row = self.connection.execute(
            "SELECT stage, subject, digest, run_id, state_json FROM freshness WHERE stage = ? AND subject = ?",
            (stage, subject),
        ).fetchone()
        return FreshnessRecord(*row) if row is not None else None

    def put(self, stage: str, subject: str, digest: str, run_id: int, state_json: str) -> None:
        with transaction(self.connection) as db:
            db.execute(
                """INSERT INTO freshness (stage, subject, digest, run_id, state_json, recorded_at)
                   VALUES (?, ?, ?, ?, ?, ?)
                   ON CONFLICT (stage, subject) DO UPDATE SET digest = excluded.digest,
                       run_id = excluded.run_id, state_json = excluded.state_json,
                       recorded_at = excluded.recorded_at""",
                (stage, subject, digest, run_id, state_json, now()),
            )

    def forget(self, stage: str, subject: str) -> None:
        with transaction(self.connection) as db:
            db.execute("DELETE FROM freshness WHERE stage = ? AND subject = ?", (stage, subject))
