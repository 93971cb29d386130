"""Themes (topics), kept per themes run, and which theme each passage was given."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence

from fieldnotes.store.base import transaction


class TopicRepository:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def save(
        self, run_id: int, topics: Sequence[dict], assignments: Mapping[str, int], input_key: str | None = None
    ) -> None:
        """A run's themes (dicts with topic_id, label, words, size, representatives, method and
        optionally words_by_site) and passage -> theme, in one transaction."""
        with transaction(self.connection) as db:
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

    def latest(self) -> tuple[int | None, list[sqlite3.Row], dict[str, int]]:
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
