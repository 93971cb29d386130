"""Excerpts and the suggestions made on them.

Suggestions are keyed by (excerpt, codebook, code); a researcher's status on one is never overwritten by a
later run. Researchers' own changes go through the decisions repository, which audits them.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Sequence

from fieldnotes.store.base import in_chunks, transaction
from fieldnotes.store.records import ExcerptLike, SuggestionLike

_UPSERT_SUGGESTION = """INSERT INTO suggestions (excerpt_id, code_id, codebook_id, score, suggested_by, rationale,
       components_json, status, run_id)
   VALUES (?, ?, ?, ?, ?, ?, ?, 'suggested', ?)
   ON CONFLICT (excerpt_id, codebook_id, code_id) DO UPDATE SET score = excluded.score,
       suggested_by = excluded.suggested_by, rationale = excluded.rationale,
       components_json = excluded.components_json, status = 'suggested',
       run_id = excluded.run_id
   WHERE suggestions.status IN ('suggested', 'withdrawn')"""


# Marks the current sentence excerpts as seen by a run (its id the one parameter).
_TOUCH_SENTENCE_EXCERPTS = "UPDATE excerpts SET last_run = ? WHERE active = 1 AND kind = 'sentence'"


class CodingRepository:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    # --- excerpts -----------------------------------------------------------------------

    def save_excerpts(
        self,
        run_id: int,
        excerpts: Sequence[ExcerptLike],
        active: dict[str, tuple[int, int]] | None = None,
        documents: Collection[str] | None = None,
    ) -> list[str]:
        """Store the current excerpts; earlier ones not among them become inactive (never deleted).
        `active`: the current sentence excerpts as `active_sentence_excerpts` read them in this
        run; when given, only the excerpts that are new, moved or gone are written (after an edit
        of one document, a few rows instead of every excerpt of the corpus). `documents` (with
        `active`): `excerpts` are the current excerpts of these documents only, and those of the
        other documents stay as they are. Returns the ids of the excerpts it made inactive when
        `active` is given (an empty list otherwise)."""
        gone: list[str] = []
        with transaction(self.connection) as db:
            # The last run that saw the current excerpts: one not seen then comes back from a break.
            previous = db.execute(
                "SELECT COALESCE(MAX(last_run), 0) FROM excerpts WHERE active = 1 AND kind = 'sentence'"
            ).fetchone()[0]
            if active is None:
                db.execute("UPDATE excerpts SET active = 0 WHERE active = 1 AND kind = 'sentence'")
            else:
                current = {e.excerpt_id for e in excerpts}
                candidates: Collection[str] = active
                if documents is not None:
                    candidates = [
                        row[0]
                        for chunk, marks in in_chunks(sorted(set(documents)))
                        for row in db.execute(
                            "SELECT excerpt_id FROM excerpts WHERE active = 1 AND kind = 'sentence'"
                            f" AND document_id IN ({marks})",
                            chunk,
                        )
                    ]
                gone = [excerpt_id for excerpt_id in candidates if excerpt_id not in current]
                db.executemany("UPDATE excerpts SET active = 0 WHERE excerpt_id = ?", [(i,) for i in gone])
                db.execute(_TOUCH_SENTENCE_EXCERPTS, (run_id,))
                excerpts = [e for e in excerpts if active.get(e.excerpt_id) != (e.start, e.end)]
            # Hand-marked excerpts live as long as their passage does.
            db.execute(
                """UPDATE excerpts SET active = (passage_id IN (SELECT passage_id FROM passages WHERE active = 1))
                   WHERE kind = 'manual'"""
            )
            db.executemany(
                f"""INSERT INTO excerpts (excerpt_id, passage_id, document_id, start, end, text, text_hash,
                       active, first_run, last_run, activated_run)
                   VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)
                   ON CONFLICT (excerpt_id) DO UPDATE SET start = excluded.start, end = excluded.end,
                       active = 1, last_run = excluded.last_run,
                       activated_run = CASE WHEN excerpts.last_run < {int(previous)}
                                            THEN excluded.last_run ELSE excerpts.activated_run END""",
                [
                    (
                        e.excerpt_id,
                        e.passage_id,
                        e.document_id,
                        e.start,
                        e.end,
                        e.text,
                        e.text_hash,
                        run_id,
                        run_id,
                        run_id,
                    )
                    for e in excerpts
                ],
            )
        return gone

    def touch_excerpts(self, run_id: int) -> None:
        """Mark the current sentence excerpts as seen in this run (save_excerpts when nothing changed)."""
        with transaction(self.connection) as db:
            db.execute(_TOUCH_SENTENCE_EXCERPTS, (run_id,))

    def other_codebooks(self, codebook_id: str) -> dict[str, int]:
        """Other codebooks with suggestions or decisions here: id -> reviewed suggestions."""
        rows = self.connection.execute(
            """SELECT codebook_id, SUM(status IN ('accepted', 'rejected')) AS reviewed FROM suggestions
               WHERE codebook_id != ? GROUP BY codebook_id ORDER BY codebook_id""",
            (codebook_id,),
        ).fetchall()
        return {row["codebook_id"]: int(row["reviewed"] or 0) for row in rows}

    def active_sentence_excerpts(self) -> dict[str, tuple[int, int]]:
        """The current sentence excerpts (not hand-marked ones): id -> (start, end)."""
        return {
            row["excerpt_id"]: (row["start"], row["end"])
            for row in self.connection.execute(
                "SELECT excerpt_id, start, end FROM excerpts WHERE active = 1 AND kind = 'sentence'"
            )
        }

    def active_sentence_excerpts_of(self, passage_ids: Collection[str]) -> set[str]:
        """The ids of the current sentence excerpts of these passages."""
        return {
            row[0]
            for chunk, marks in in_chunks(sorted(set(passage_ids)))
            for row in self.connection.execute(
                f"SELECT excerpt_id FROM excerpts WHERE active = 1 AND kind = 'sentence' AND passage_id IN ({marks})",
                chunk,
            )
        }

    def active_excerpt_hashes(self) -> dict[str, list[str]]:
        """passage id -> the text hashes of its current excerpts, in passage order (no texts: a
        caller that needs only some passages' texts asks `active_excerpt_texts`)."""
        hashes: dict[str, list[str]] = {}
        for passage_id, text_hash in self.connection.execute(
            "SELECT passage_id, text_hash FROM excerpts WHERE active = 1 ORDER BY passage_id, start"
        ):
            hashes.setdefault(passage_id, []).append(text_hash)
        return hashes

    def active_excerpt_texts(self, passage_ids: Collection[str]) -> dict[str, list[str]]:
        """passage id -> the texts of its current excerpts, in the order of `active_excerpt_hashes`."""
        texts: dict[str, list[str]] = {}
        for chunk, marks in in_chunks(sorted(set(passage_ids))):
            for passage_id, text in self.connection.execute(
                f"SELECT passage_id, text FROM excerpts WHERE active = 1 AND passage_id IN ({marks}) "
                "ORDER BY passage_id, start",
                chunk,
            ):
                texts.setdefault(passage_id, []).append(text)
        return texts

    def current_excerpt_with_text(self, document_id: str, text_hash: str) -> str | None:
        """The first current excerpt of a document with this text, if any."""
        row = self.connection.execute(
            """SELECT excerpt_id FROM excerpts WHERE active = 1 AND document_id = ? AND text_hash = ?
               ORDER BY start LIMIT 1""",
            (document_id, text_hash),
        ).fetchone()
        return row["excerpt_id"] if row is not None else None

    def is_current(self, excerpt_id: str) -> bool:
        row = self.connection.execute("SELECT active FROM excerpts WHERE excerpt_id = ?", (excerpt_id,)).fetchone()
        return bool(row and row["active"])

    def new_excerpts_with_text_elsewhere(
        self, text_hash: str, document_id: str, since_run: int, limit: int = 2
    ) -> list[str]:
        """Up to `limit` current excerpts with this text in other documents, current (again) only
        since after `since_run`: new, or back after a break (a document renamed back)."""
        return [
            row["excerpt_id"]
            for row in self.connection.execute(
                """SELECT excerpt_id FROM excerpts WHERE active = 1 AND text_hash = ? AND document_id != ?
                   AND COALESCE(activated_run, first_run) > ? LIMIT ?""",
                (text_hash, document_id, since_run, limit),
            ).fetchall()
        ]

    # --- suggestions --------------------------------------------------------------------

    def save_suggestions(
        self,
        run_id: int,
        codebook_id: str,
        suggestions: Sequence[SuggestionLike],
        keep: set[str] | frozenset[str] = frozenset(),
    ) -> dict[str, int]:
        """Store this run's suggestions without touching any the researchers reviewed.

        A machine suggestion not made again is marked 'withdrawn', not deleted, unless its
        excerpt is in `keep` (excerpts not scored again because nothing they depend on changed).
        Returns counts: new, updated, kept (reviewed, left alone), withdrawn.
        """
        counts = {"new": 0, "updated": 0, "kept": 0, "withdrawn": 0}
        with transaction(self.connection) as db:
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
                components = json.dumps(s.components, sort_keys=True)
                db.execute(
                    _UPSERT_SUGGESTION,
                    (s.excerpt_id, s.code_id, codebook_id, s.score, s.suggested_by, s.rationale, components, run_id),
                )
            for key, status in current.items():
                if status == "suggested" and key not in made and key[0] not in keep:
                    db.execute(
                        "UPDATE suggestions SET status = 'withdrawn', run_id = ?"
                        " WHERE excerpt_id = ? AND codebook_id = ? AND code_id = ?",
                        (run_id, key[0], codebook_id, key[1]),
                    )
                    counts["withdrawn"] += 1
        return counts

    def status(self, excerpt_id: str, code_id: str, codebook_id: str) -> str | None:
        """The status of the suggestion of a codebook's code on an excerpt, or None if there is none."""
        row = self.connection.execute(
            "SELECT status FROM suggestions WHERE excerpt_id = ? AND codebook_id = ? AND code_id = ?",
            (excerpt_id, codebook_id, code_id),
        ).fetchone()
        return row["status"] if row is not None else None

    def accepted_count(self, codebook_id: str) -> int:
        """How many suggestions of the codebook a researcher accepted (current or not)."""
        return self.connection.execute(
            "SELECT COUNT(*) FROM suggestions WHERE codebook_id = ? AND status = 'accepted'", (codebook_id,)
        ).fetchone()[0]
