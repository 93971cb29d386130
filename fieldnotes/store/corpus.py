"""Documents, their passages and the passages' sentences.

A document that changed gets new passages and its old ones become inactive, so anything a
researcher attached to them survives; a document that became unreadable keeps its last good version.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Collection, Sequence

from fieldnotes.store.base import transaction
from fieldnotes.store.records import DocumentText, DocumentVersion, PassageLike, PassageSpan, StoredDocument

_UPSERT_DOCUMENT = """INSERT INTO documents (document_id, path, format, raw_hash, text_hash, settings_hash, encoding,
       title, metadata_json, repairs_json, text, status, error, first_run, last_run)
   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'ok', NULL, ?, ?)
   ON CONFLICT (document_id) DO UPDATE SET
       path = excluded.path, format = excluded.format, raw_hash = excluded.raw_hash,
       text_hash = excluded.text_hash, settings_hash = excluded.settings_hash,
       encoding = excluded.encoding, title = excluded.title,
       metadata_json = excluded.metadata_json, repairs_json = excluded.repairs_json,
       text = excluded.text, status = 'ok', error = NULL, last_run = excluded.last_run"""
_UPSERT_PASSAGE = """INSERT INTO passages (passage_id, document_id, seq, start, end, text, section, language,
       site, site_evidence, active, first_run, last_run)
   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)
   ON CONFLICT (passage_id) DO UPDATE SET
       seq = excluded.seq, start = excluded.start, end = excluded.end, text = excluded.text,
       section = excluded.section, language = excluded.language, site = excluded.site,
       site_evidence = excluded.site_evidence, active = 1, last_run = excluded.last_run"""


class CorpusRepository:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    # --- writing ------------------------------------------------------------------------

    def save_document(
        self, run_id: int, document_id: str, document: DocumentVersion, passages: Sequence[PassageLike]
    ) -> None:
        """Store a (re)read document; passages it no longer has become inactive."""
        with transaction(self.connection) as db:
            db.execute(
                _UPSERT_DOCUMENT,
                (
                    document_id,
                    document.path,
                    document.format,
                    document.raw_hash,
                    document.text_hash,
                    document.settings_hash,
                    document.encoding,
                    document.title,
                    json.dumps(document.metadata, sort_keys=True, default=str),
                    json.dumps(document.repairs, sort_keys=True),
                    document.text,
                    run_id,
                    run_id,
                ),
            )
            db.execute("UPDATE passages SET active = 0 WHERE document_id = ?", (document_id,))
            for passage in passages:
                db.execute(
                    _UPSERT_PASSAGE,
                    (
                        passage.passage_id,
                        document_id,
                        passage.seq,
                        passage.start,
                        passage.end,
                        passage.text,
                        passage.section,
                        passage.language,
                        passage.site,
                        passage.site_evidence,
                        run_id,
                        run_id,
                    ),
                )
                db.execute("DELETE FROM sentences WHERE passage_id = ?", (passage.passage_id,))
                db.executemany(
                    "INSERT INTO sentences (passage_id, seq, start, end) VALUES (?, ?, ?, ?)",
                    [(passage.passage_id, i, s, e) for i, (s, e) in enumerate(passage.sentences)],
                )

    def touch_documents(self, run_id: int, document_ids: Sequence[str]) -> None:
        """Mark unchanged documents (and their passages) as seen in this run, in one transaction
        (one disk sync, not one each)."""
        if not document_ids:
            return
        with transaction(self.connection) as db:
            db.executemany(
                "UPDATE documents SET last_run = ?, status = 'ok', error = NULL WHERE document_id = ?",
                [(run_id, document_id) for document_id in document_ids],
            )
            db.executemany(
                "UPDATE passages SET last_run = ? WHERE document_id = ? AND active = 1",
                [(run_id, document_id) for document_id in document_ids],
            )

    def mark_unreadable(self, run_id: int, document_id: str, error: str) -> bool:
        """Record that a stored document could not be re-read; its last good version stays."""
        with transaction(self.connection) as db:
            cursor = db.execute(
                "UPDATE documents SET status = 'unreadable', error = ?, last_run = ? WHERE document_id = ?",
                (error, run_id, document_id),
            )
            return cursor.rowcount > 0

    def mark_missing(self, run_id: int, present: set[str]) -> list[str]:
        """Documents no longer in the corpus: kept, with passages inactive. Returns their paths."""
        gone = [
            (doc.document_id, doc.path)
            for doc in self.documents().values()
            if doc.document_id not in present and doc.status != "missing"
        ]
        with transaction(self.connection) as db:
            for document_id, _ in gone:
                db.execute(
                    "UPDATE documents SET status = 'missing', last_run = ? WHERE document_id = ?", (run_id, document_id)
                )
                db.execute("UPDATE passages SET active = 0 WHERE document_id = ?", (document_id,))
        return [path for _, path in gone]

    # --- reading ------------------------------------------------------------------------

    def documents(self) -> dict[str, StoredDocument]:
        rows = self.connection.execute(
            "SELECT document_id, path, raw_hash, settings_hash, status FROM documents"
        ).fetchall()
        return {row["document_id"]: StoredDocument(*row) for row in rows}

    def repair_totals(self) -> Counter[str]:
        """The repairs made to the documents still in the corpus, summed by kind."""
        totals: Counter[str] = Counter()
        for row in self.connection.execute("SELECT repairs_json FROM documents WHERE status != 'missing'").fetchall():
            totals.update(json.loads(row["repairs_json"]))
        return totals

    def current_document_at(self, path: str) -> DocumentText | None:
        """The readable document at `path` (relative to the corpus folder), if there is one."""
        row = self.connection.execute(
            "SELECT document_id, text FROM documents WHERE path = ? AND status = 'ok'", (path,)
        ).fetchone()
        return DocumentText(row["document_id"], row["text"]) if row is not None else None

    def passage_spans(self, document_id: str) -> list[PassageSpan]:
        """A document's current passages, in order."""
        return [
            PassageSpan(row["passage_id"], row["start"], row["end"])
            for row in self.connection.execute(
                "SELECT passage_id, start, end FROM passages WHERE document_id = ? AND active = 1 ORDER BY start",
                (document_id,),
            ).fetchall()
        ]

    def span_in_current_passage(self, document_id: str, text: str) -> tuple[str, tuple[int, int]] | None:
        """(passage id, span) of the one place where `text` occurs inside a current passage of the
        document; None when it occurs nowhere or in more than one place."""
        document = self.connection.execute(
            "SELECT text FROM documents WHERE document_id = ? AND status != 'missing'", (document_id,)
        ).fetchone()
        if document is None or not text.strip():
            return None
        passages = self.connection.execute(
            "SELECT passage_id, start, end FROM passages WHERE document_id = ? AND active = 1", (document_id,)
        ).fetchall()
        found: list[tuple[str, tuple[int, int]]] = []
        body = document["text"]
        at = body.find(text)
        while at >= 0 and len(found) < 2:
            for passage in passages:
                if passage["start"] <= at and at + len(text) <= passage["end"]:
                    found.append((passage["passage_id"], (at, at + len(text))))
                    break
            at = body.find(text, at + 1)
        return found[0] if len(found) == 1 else None

    def document_paths(self) -> list[str]:
        """The paths of the documents still in the corpus, sorted."""
        return [
            row[0]
            for row in self.connection.execute("SELECT path FROM documents WHERE status != 'missing' ORDER BY path")
        ]

    def documents_by_format(self) -> dict[str, int]:
        """How many documents still in the corpus there are of each format."""
        return {
            row["format"]: row["n"]
            for row in self.connection.execute(
                "SELECT format, COUNT(*) AS n FROM documents WHERE status != 'missing' GROUP BY format"
            ).fetchall()
        }

    def active_sites(self) -> list[str]:
        """The sites of the current passages."""
        return [row[0] for row in self.connection.execute("SELECT DISTINCT site FROM passages WHERE active = 1")]

    def active_passages(self, documents: Collection[str] | None = None) -> list[sqlite3.Row]:
        """The current passages with their document's path and format and their sentence count,
        in document order (the columns of passages.csv); only those of `documents` when given."""
        only = "" if documents is None else " AND p.document_id IN (SELECT value FROM json_each(?))"
        return self.connection.execute(
            f"""SELECT p.passage_id, p.document_id, d.path AS document, d.format, p.site, p.site_evidence,
                      p.section, p.start, p.end, p.language,
                      (SELECT COUNT(*) FROM sentences s WHERE s.passage_id = p.passage_id) AS n_sentences,
                      p.text
               FROM passages p JOIN documents d USING (document_id)
               WHERE p.active = 1 AND d.status != 'missing'{only}
               ORDER BY d.path, d.document_id, p.seq""",
            [] if documents is None else [json.dumps(sorted(documents))],
        ).fetchall()

    def passages_with_sentences(
        self, documents: Collection[str] | None = None
    ) -> tuple[list[dict], dict[str, list[tuple[int, int]]], dict[str, str]]:
        """Active passages (with site and document path), their sentence spans, document texts;
        only those of `documents` when given."""
        only = "" if documents is None else " AND p.document_id IN (SELECT value FROM json_each(?))"
        wanted = [] if documents is None else [json.dumps(sorted(documents))]
        passages = [dict(row) for row in self.active_passages(documents)]
        sentences: dict[str, list[tuple[int, int]]] = {}
        for row in self.connection.execute(
            f"""SELECT s.passage_id, s.start, s.end FROM sentences s
               JOIN passages p USING (passage_id) WHERE p.active = 1{only} ORDER BY s.passage_id, s.seq""",
            wanted,
        ):
            sentences.setdefault(row["passage_id"], []).append((row["start"], row["end"]))
        texts = {
            row["document_id"]: row["text"]
            for row in self.connection.execute(
                f"SELECT document_id, text FROM documents d WHERE status != 'missing'{only.replace('p.', 'd.')}",
                wanted,
            )
        }
        return passages, sentences, texts

    def passages_in_language(self, language: str) -> set[str]:
        """The ids of the current passages in this language (as `active_passages` has them)."""
        return {
            row[0]
            for row in self.connection.execute(
                """SELECT p.passage_id FROM passages p JOIN documents d USING (document_id)
                   WHERE p.active = 1 AND d.status != 'missing' AND p.language = ?""",
                (language,),
            )
        }

    def passages_by_site(self) -> dict[str, int]:
        """How many current passages each site has (as `active_passages` has them)."""
        return {
            row[0]: int(row[1])
            for row in self.connection.execute(
                """SELECT p.site, COUNT(*) FROM passages p JOIN documents d USING (document_id)
                   WHERE p.active = 1 AND d.status != 'missing' GROUP BY p.site ORDER BY p.site"""
            )
        }

    def active_passage_sites(self) -> list[tuple[str, str]]:
        """(passage id, site) of every current passage (as `active_passages` has them), by passage id."""
        return [
            (row[0], row[1])
            for row in self.connection.execute(
                """SELECT p.passage_id, p.site FROM passages p JOIN documents d USING (document_id)
                   WHERE p.active = 1 AND d.status != 'missing' ORDER BY p.passage_id"""
            )
        ]
