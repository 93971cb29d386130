"""Runs: one row per command run on a results folder, with what it ran on and what it did."""

from __future__ import annotations

import json
import sqlite3

from fieldnotes.store.base import now, transaction
from fieldnotes.store.records import RunRecord


class RunRepository:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def begin(self, command: str, corpus_root: str, settings_hash: str, settings_json: str, versions: dict) -> int:
        """Record the start of a run; returns its id."""
        with transaction(self.connection) as db:
            cursor = db.execute(
                "INSERT INTO runs (command, started_at, corpus_root, settings_hash, settings_json, versions_json)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (command, now(), corpus_root, settings_hash, settings_json, json.dumps(versions, sort_keys=True)),
            )
            assert cursor.lastrowid is not None  # an INSERT always sets it
            return cursor.lastrowid

    def finish(self, run_id: int, corpus_hash: str, summary: dict) -> None:
        with transaction(self.connection) as db:
            db.execute(
                "UPDATE runs SET finished_at = ?, corpus_hash = ?, summary_json = ? WHERE run_id = ?",
                (now(), corpus_hash, json.dumps(summary, sort_keys=True), run_id),
            )

    def record_provenance(self, run_id: int, codebook_id: str, codebook: str, codebook_hash: str, model: str) -> None:
        """The codebook (its id, a description, its sha256) and model a coding run uses."""
        with transaction(self.connection) as db:
            db.execute(
                "UPDATE runs SET codebook_id = ?, codebook = ?, codebook_hash = ?, model = ? WHERE run_id = ?",
                (codebook_id, codebook, codebook_hash, model, run_id),
            )

    def first_codebook(self) -> str | None:
        """The id of the first codebook a run coded this results folder with (None: none yet)."""
        row = self.connection.execute(
            "SELECT codebook_id FROM runs WHERE codebook_id IS NOT NULL ORDER BY run_id LIMIT 1"
        ).fetchone()
        return row["codebook_id"] if row else None

    def last_id(self) -> int | None:
        """The id of the most recent run of any command (None: no run yet)."""
        row = self.connection.execute("SELECT max(run_id) FROM runs").fetchone()
        return row[0]

    def latest(self, command: str) -> RunRecord | None:
        """The most recent run of a command, finished or not."""
        row = self.connection.execute(
            "SELECT * FROM runs WHERE command = ? ORDER BY run_id DESC LIMIT 1", (command,)
        ).fetchone()
        return RunRecord.from_row(row) if row is not None else None

    def latest_ingest_corpus_hash(self) -> str:
        """The corpus hash recorded by the latest ingest run ('' if none recorded one)."""
        row = self.connection.execute(
            "SELECT corpus_hash FROM runs WHERE command = 'ingest' AND corpus_hash IS NOT NULL"
            " ORDER BY run_id DESC LIMIT 1"
        ).fetchone()
        return row["corpus_hash"] if row else ""
