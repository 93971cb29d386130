"""Read models: the coded excerpts as the review page, comparison, exports and imports see them.

The join of a suggestion with its excerpt, the excerpt's passage and its document is written once,
here (SUGGESTION_EXCERPTS, CODED_EXCERPTS); each query names the columns, filter and order it needs.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fieldnotes.store.base import in_chunks

if TYPE_CHECKING:
    import pandas as pd

SUGGESTION_EXCERPTS = "suggestions s JOIN excerpts e USING (excerpt_id)"
_WITH_PASSAGE = " JOIN passages p ON p.passage_id = e.passage_id"
_WITH_DOCUMENT = " JOIN documents d ON d.document_id = e.document_id"
# A suggestion with its excerpt (e), the excerpt's passage (p) and its document (d).
CODED_EXCERPTS = SUGGESTION_EXCERPTS + _WITH_PASSAGE + _WITH_DOCUMENT
_LIVE = "s.codebook_id = ? AND s.status != 'withdrawn' AND e.active = 1"

_CODED_COLUMNS = """e.excerpt_id, e.passage_id, d.path AS document, p.site, e.start, e.end, e.text,
    s.code_id AS code, s.score, s.suggested_by, s.rationale, s.status, s.status_by AS coder,
    s.status_at AS decided_at, s.memo"""
_EXPORT_COLUMNS = """e.excerpt_id, e.passage_id, e.document_id, d.path AS document, p.site, e.start, e.end,
    e.text, e.kind, s.code_id AS code, s.score, s.suggested_by, s.rationale, s.status,
    s.status_by AS coder, s.status_at AS decided_at, s.memo"""
_REVIEW_COLUMNS = """s.excerpt_id, s.code_id, s.score, s.rationale, s.status, s.status_by, s.memo,
    s.suggested_by, e.start, e.end, e.text, e.kind, p.passage_id, p.start AS passage_start,
    p.text AS passage_text, p.site, p.section, d.path AS document"""
# No texts: at 50,000 passages they made most of the frame's reading time; the report asks
# `excerpt_texts` for the few excerpts it quotes.
_FRAME_COLUMNS = "s.excerpt_id, e.passage_id, p.site, s.code_id AS code, s.score, s.status, d.path AS document"
REVIEW_LIMIT = 2000  # suggestions the review page shows at a time


@dataclass(frozen=True)
class ReviewFilter:
    """What the review page asks for: equality filters (None: any) and a score range."""

    site: str | None = None
    code: str | None = None
    document: str | None = None
    status: str | None = None
    min_score: float | None = None
    max_score: float | None = None


def _marks(values: Sequence[object]) -> str:
    return ", ".join("?" for _ in values)


class ReadModels:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def _select(self, columns: str, where: str, params: Sequence[object], tail: str = "") -> list[sqlite3.Row]:
        return self.connection.execute(
            f"SELECT {columns} FROM {CODED_EXCERPTS} WHERE {where} {tail}", list(params)
        ).fetchall()

    # --- excerpts.csv and exports -------------------------------------------------------

    def coded_excerpts(self, codebook_id: str, documents: Collection[str] | None = None) -> list[sqlite3.Row]:
        """Every live suggestion (suggested, accepted or rejected) with its excerpt, site and document
        (and the document's id), in document order; only those of `documents` when given."""
        only = "" if documents is None else " AND e.document_id IN (SELECT value FROM json_each(?))"
        params = [codebook_id] + ([] if documents is None else [json.dumps(sorted(documents))])
        return self._select(
            f"{_CODED_COLUMNS}, e.document_id",
            _LIVE + only,
            params,
            "ORDER BY d.path, e.document_id, e.start, s.code_id",
        )

    def export_rows(self, codebook_id: str, statuses: Sequence[str]) -> list[sqlite3.Row]:
        """Coded excerpts with the given statuses, in document order, for exports."""
        where = f"s.codebook_id = ? AND s.status IN ({_marks(statuses)}) AND e.active = 1"
        return self._select(
            _EXPORT_COLUMNS, where, [codebook_id, *statuses], "ORDER BY d.path, e.start, e.end, s.code_id"
        )

    def current_documents(self) -> list[sqlite3.Row]:
        """Readable documents with their cleaned text and the sites of their active passages."""
        return self.connection.execute(
            """SELECT d.document_id, d.path, d.format, d.title, d.text,
                      (SELECT group_concat(site, ',') FROM (SELECT DISTINCT p.site FROM passages p
                        WHERE p.document_id = d.document_id AND p.active = 1 ORDER BY p.site)) AS sites
               FROM documents d WHERE d.status = 'ok' ORDER BY d.path"""
        ).fetchall()

    def orphaned_decisions(self, codebook_id: str) -> list[sqlite3.Row]:
        """Reviewed suggestions whose text is no longer in the corpus: kept, never dropped."""
        return self.connection.execute(
            f"""SELECT s.excerpt_id, s.code_id AS code, s.status, s.status_by AS coder, s.status_at AS decided_at,
                       s.memo, e.text, d.path AS document
                FROM {SUGGESTION_EXCERPTS}{_WITH_DOCUMENT}
                WHERE s.codebook_id = ? AND s.status IN ('accepted', 'rejected') AND e.active = 0
                ORDER BY d.path, e.start""",
            (codebook_id,),
        ).fetchall()

    # --- the review page ----------------------------------------------------------------

    def review_items(
        self, codebook_id: str, wanted: ReviewFilter, uncertain_around: float | None = None
    ) -> list[sqlite3.Row]:
        """Live suggestions with their excerpt and passage, as filtered, in document order or (given
        a threshold) undecided ones first, closest to the threshold first; at most REVIEW_LIMIT."""
        where = ["s.codebook_id = ?", "e.active = 1", "s.status != 'withdrawn'"]
        params: list[object] = [codebook_id]
        for value, column in (
            (wanted.site, "p.site"),
            (wanted.code, "s.code_id"),
            (wanted.document, "d.path"),
            (wanted.status, "s.status"),
        ):
            if value:
                where.append(f"{column} = ?")
                params.append(value)
        for bound, op in ((wanted.min_score, ">="), (wanted.max_score, "<=")):
            if bound is not None:
                where.append(f"COALESCE(s.score, 1) {op} ?")
                params.append(bound)
        order = "d.path, e.start, s.code_id"
        if uncertain_around is not None:
            order = (
                "CASE WHEN s.status = 'suggested' THEN 0 ELSE 1 END, "
                f"ABS(COALESCE(s.score, 1) - {float(uncertain_around):.4f})"
            )
        return self._select(_REVIEW_COLUMNS, " AND ".join(where), params, f"ORDER BY {order} LIMIT {REVIEW_LIMIT}")

    def document_passages(self, path: str) -> list[sqlite3.Row]:
        """Every current passage of the document at `path`, in order (empty when there is no such
        document): what the review page shows for reading and coding by hand."""
        return self.connection.execute(
            """SELECT p.passage_id, p.start, p.end, p.text, p.site, p.section
               FROM passages p JOIN documents d USING (document_id)
               WHERE d.path = ? AND d.status != 'missing' AND p.active = 1 ORDER BY p.start""",
            (path,),
        ).fetchall()

    def document_codings(self, codebook_id: str, path: str) -> list[sqlite3.Row]:
        """The live suggestions and codes on the document at `path` (any status but withdrawn)."""
        return self._select(
            "s.excerpt_id, s.code_id, s.status, s.score, e.start, e.end, e.passage_id",
            f"{_LIVE} AND d.path = ?",
            [codebook_id, path],
            "ORDER BY e.start, s.code_id",
        )

    def review_progress(self, codebook_id: str) -> list[sqlite3.Row]:
        """Per code: live suggestions (total) and how many of them were reviewed."""
        return self.connection.execute(
            f"""SELECT s.code_id, COUNT(*) AS total,
                       SUM(s.status IN ('accepted', 'rejected')) AS reviewed
                FROM {SUGGESTION_EXCERPTS}
                WHERE s.codebook_id = ? AND e.active = 1 AND s.status != 'withdrawn' GROUP BY s.code_id""",
            (codebook_id,),
        ).fetchall()

    # --- comparison, agreement, imports, incremental runs -------------------------------

    def coded_frame(self, codebook_id: str, statuses: Sequence[str]) -> pd.DataFrame:
        """Current excerpts coded with the given statuses, with site and document, as a DataFrame
        (excerpt_id, passage_id, site, code, score, status, document)."""
        import pandas as pd

        where = f"s.codebook_id = ? AND s.status IN ({_marks(statuses)}) AND e.active = 1 AND p.active = 1"
        return pd.read_sql_query(
            f"SELECT {_FRAME_COLUMNS} FROM {CODED_EXCERPTS} WHERE {where}",
            self.connection,
            params=[codebook_id, *statuses],
        )

    def excerpt_texts(self, excerpt_ids: Collection[str]) -> dict[str, str]:
        """excerpt id -> its text, for the given excerpts."""
        texts: dict[str, str] = {}
        for chunk, marks in in_chunks(sorted(set(excerpt_ids))):
            rows = self.connection.execute(
                f"SELECT excerpt_id, text FROM excerpts WHERE excerpt_id IN ({marks})", chunk
            )
            texts.update((row["excerpt_id"], row["text"]) for row in rows)
        return texts

    def current_suggestions(self, codebook_id: str) -> list[sqlite3.Row]:
        """(excerpt_id, code_id, status, score) of every suggestion on a current excerpt, withdrawn too."""
        return self.connection.execute(
            f"""SELECT s.excerpt_id, s.code_id, s.status, s.score FROM {SUGGESTION_EXCERPTS}
                WHERE s.codebook_id = ? AND e.active = 1""",
            (codebook_id,),
        ).fetchall()

    def suggestion_states(self, codebook_id: str) -> dict[tuple[str, str], sqlite3.Row]:
        """(excerpt id, code) -> the suggestion's status, who set it and when, and the excerpt's
        text and passage."""
        rows = self.connection.execute(
            f"""SELECT s.excerpt_id, s.code_id, s.status, s.status_by, s.status_at, e.text, e.active, e.passage_id
                FROM {SUGGESTION_EXCERPTS} WHERE s.codebook_id = ?""",
            (codebook_id,),
        )
        return {(row["excerpt_id"], row["code_id"]): row for row in rows}

    def standing_suggestions(self, codebook_id: str) -> Counter[tuple[str, str]]:
        """How many suggestions the tool stands by, per (code, site): machine suggestions still to
        review, and reviewed ones whose machine score reached the threshold it was scored against."""
        live = f"""FROM {SUGGESTION_EXCERPTS}{_WITH_PASSAGE}
                   WHERE s.codebook_id = ? AND s.score IS NOT NULL AND e.active = 1"""
        standing: Counter[tuple[str, str]] = Counter()
        # Counted in the database: a large corpus has hundreds of thousands of suggestions to review.
        for code, site, count in self.connection.execute(
            f"SELECT s.code_id, p.site, count(*) {live} AND s.status = 'suggested' GROUP BY s.code_id, p.site",
            (codebook_id,),
        ):
            standing[(code, site)] += count
        for row in self.connection.execute(
            f"SELECT s.code_id, p.site, s.score, s.components_json {live} AND s.status IN ('accepted', 'rejected')",
            (codebook_id,),
        ):
            threshold = json.loads(row["components_json"] or "{}").get("threshold")
            if threshold is not None and row["score"] >= threshold:
                standing[(row["code_id"], row["site"])] += 1
        return standing
