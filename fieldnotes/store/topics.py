"""Themes (topics), kept per themes run, and which theme each passage was given."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence

from fieldnotes.store.base import transaction
from fieldnotes.store.records import LatestThemes, StoredTheme, ThemeLike


class TopicRepository:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def save(
        self, run_id: int, topics: Sequence[ThemeLike], assignments: Mapping[str, int], input_key: str | None = None
    ) -> None:
        """A run's themes and passage -> theme, in one transaction."""
        with transaction(self.connection) as db:
            db.executemany(
                """INSERT INTO topics (run_id, topic_id, label, words_json, size, representatives_json,
                       words_by_site_json, method, input_key)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [
                    (
                        run_id,
                        t.topic_id,
                        t.label,
                        json.dumps(list(t.words)),
                        t.size,
                        json.dumps(list(t.representatives)),
                        json.dumps(dict(t.words_by_site), ensure_ascii=False),
                        t.method,
                        input_key,
                    )
                    for t in topics
                ],
            )
            db.executemany(
                "INSERT INTO passage_topics (run_id, passage_id, topic_id) VALUES (?, ?, ?)",
                [(run_id, passage_id, int(topic)) for passage_id, topic in assignments.items()],
            )

    def latest(self) -> LatestThemes:
        """The themes of the latest themes run (run id None when there is none)."""
        row = self.connection.execute("SELECT MAX(run_id) AS run_id FROM topics").fetchone()
        run_id = row["run_id"] if row else None
        if run_id is None:
            return LatestThemes(None, [], {}, None)
        rows = self.connection.execute("SELECT * FROM topics WHERE run_id = ? ORDER BY topic_id", (run_id,)).fetchall()
        themes = [
            StoredTheme(
                topic_id=r["topic_id"],
                label=r["label"],
                words=json.loads(r["words_json"]),
                size=r["size"],
                representatives=json.loads(r["representatives_json"]),
                method=r["method"],
                words_by_site=json.loads(r["words_by_site_json"] or "{}"),
            )
            for r in rows
        ]
        assignments = {
            r["passage_id"]: r["topic_id"]
            for r in self.connection.execute(
                "SELECT passage_id, topic_id FROM passage_topics WHERE run_id = ?", (run_id,)
            )
        }
        return LatestThemes(run_id, themes, assignments, rows[0]["input_key"] if rows else None)
