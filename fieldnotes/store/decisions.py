"""Researchers' actions on suggestions, each one transaction with its audit rows in `decisions`.

Accept, reject, memo, recode, undo, code a span by hand, move a code's span; and the history of
those decisions, the reviewed examples the learned suggester trains on, and a fingerprint of them.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Sequence

from fieldnotes.errors import DecisionConflictError, StoreError
from fieldnotes.store.base import now, transaction
from fieldnotes.store.reads import SUGGESTION_EXCERPTS
from fieldnotes.store.records import PassageSpan, StaleDecision

DECISION_STATUSES = ("accepted", "rejected", "suggested")
FIELDNOTES = "fieldnotes"  # the coder of the decisions fieldnotes itself records (reattaching)


# A suggestion's key: (excerpt id, codebook id, code id). Codebooks are namespaced: two codebooks
# on one results folder may share code ids.
Key = tuple[str, str, str]
_WHERE_KEY = "excerpt_id = ? AND codebook_id = ? AND code_id = ?"


def _key(db: sqlite3.Connection, excerpt_id: str, code_id: str, codebook_id: str | None) -> Key:
    """The suggestion's key; without a codebook, that of the one codebook holding a suggestion of
    `code_id` on the excerpt (a StoreError when none does, or several do)."""
    if codebook_id is not None:
        return excerpt_id, codebook_id, code_id
    books = [
        row[0]
        for row in db.execute(
            "SELECT codebook_id FROM suggestions WHERE excerpt_id = ? AND code_id = ? ORDER BY codebook_id",
            (excerpt_id, code_id),
        )
    ]
    if not books:
        raise StoreError(f"no suggestion of code '{code_id}' for excerpt '{excerpt_id}'")
    if len(books) > 1:
        raise StoreError(
            f"code '{code_id}' on excerpt '{excerpt_id}' is in codebooks {', '.join(books)}; name the codebook"
        )
    return excerpt_id, books[0], code_id


def _status(db: sqlite3.Connection, key: Key) -> str:
    """The suggestion's status; a StoreError if there is no such suggestion."""
    row = db.execute(f"SELECT status FROM suggestions WHERE {_WHERE_KEY}", key).fetchone()
    if row is None:
        raise StoreError(f"no suggestion of code '{key[2]}' (codebook '{key[1]}') for excerpt '{key[0]}'")
    return row["status"]


def _require_live(db: sqlite3.Connection, key: Key) -> None:
    """Refuse (DecisionConflictError) a decision from a page loaded before a re-run withdrew or
    moved this suggestion: written to the withdrawn copy, it would be lost from view while the
    live suggestion kept its old state."""
    row = db.execute(
        """SELECT s.status, e.active FROM suggestions s JOIN excerpts e USING (excerpt_id)
           WHERE s.excerpt_id = ? AND s.codebook_id = ? AND s.code_id = ?""",
        key,
    ).fetchone()
    if row is None or (row["status"] != "withdrawn" and row["active"]):
        return
    code_id = key[2]
    moved = db.execute(
        f"""SELECT memo FROM decisions WHERE {_WHERE_KEY} AND action IN ('moved', 'span-moved')
           ORDER BY decision_id DESC LIMIT 1""",
        key,
    ).fetchone()
    where = f" ({moved['memo']})" if moved and moved["memo"] else ""
    raise DecisionConflictError(
        f"this suggestion of '{code_id}' is no longer current: a re-run withdrew or moved it{where}; "
        "nothing was changed; reload the page to decide on the current one"
    )


def _audit(
    db: sqlite3.Connection,
    key: Key,
    action: str,
    previous: str | None,
    new: str,
    coder: str,
    memo: str | None = None,
    undoes: int | None = None,
) -> None:
    excerpt_id, codebook_id, code_id = key
    db.execute(
        """INSERT INTO decisions (excerpt_id, codebook_id, code_id, action, previous_status, new_status, coder, at,
               memo, undoes)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        (excerpt_id, codebook_id, code_id, action, previous, new, coder, now(), memo, undoes),
    )


def _set_status(db: sqlite3.Connection, key: Key, status: str, coder: str, memo: str | None, action: str) -> None:
    previous = _status(db, key)
    db.execute(
        f"UPDATE suggestions SET status = ?, status_by = ?, status_at = ?, memo = COALESCE(?, memo) WHERE {_WHERE_KEY}",
        (status, coder, now(), memo, *key),
    )
    _audit(db, key, action, previous, status, coder, memo)


def _withdraw(db: sqlite3.Connection, key: Key, coder: str, action: str, memo: str) -> None:
    previous = _status(db, key)
    db.execute(
        f"UPDATE suggestions SET status = 'withdrawn', status_by = ?, status_at = ? WHERE {_WHERE_KEY}",
        (coder, now(), *key),
    )
    _audit(db, key, action, previous, "withdrawn", coder, memo)


def _accept_code(
    db: sqlite3.Connection,
    key: Key,
    coder: str,
    memo: str | None,
    action: str,
    note: str | None = None,
) -> None:
    """Accept the key's code on its excerpt; `memo` is the researcher's (kept on the suggestion),
    `note` fieldnotes' own bookkeeping (in the audit row only, never in the memo)."""
    excerpt_id, codebook_id, code_id = key
    row = db.execute(f"SELECT status FROM suggestions WHERE {_WHERE_KEY}", key).fetchone()
    if row is None:
        db.execute(
            """INSERT INTO suggestions (excerpt_id, code_id, codebook_id, score, suggested_by, rationale,
                   components_json, status, status_by, status_at, memo, run_id)
               VALUES (?, ?, ?, NULL, 'researcher', ?, '{}', 'accepted', ?, ?, ?,
                       (SELECT MAX(run_id) FROM runs))""",
            (excerpt_id, code_id, codebook_id, f"added by {coder}", coder, now(), memo),
        )
    else:
        db.execute(
            "UPDATE suggestions SET status = 'accepted', status_by = ?, status_at = ?, memo = COALESCE(?, memo)"
            f" WHERE {_WHERE_KEY}",
            (coder, now(), memo, *key),
        )
    _audit(db, key, action, row["status"] if row else None, "accepted", coder, note or memo)


def _passage_text(db: sqlite3.Connection, passage_id: str, start: int, end: int) -> str:
    row = db.execute(
        "SELECT substr(d.text, ? + 1, ?) AS text FROM passages p JOIN documents d USING (document_id)"
        " WHERE p.passage_id = ?",
        (start, end - start, passage_id),
    ).fetchone()
    return row["text"] if row else ""


def _in_word(text: str, index: int) -> bool:
    """A letter or digit of a space-separated script at `index` (kana and kanji are not)."""
    from fieldnotes.text import KANA_KANJI

    char = text[index]
    return (char.isalnum() or char in "'’-") and not KANA_KANJI.match(char)


def _manual_excerpt(db: sqlite3.Connection, passage_id: str, span: tuple[int, int]) -> str:
    """The id of the hand-made excerpt on `span` of a current passage (created, or made active)."""
    start, end = span
    passage = db.execute(
        """SELECT p.passage_id, p.document_id, p.start, p.end, d.text AS document_text FROM passages p
           JOIN documents d USING (document_id) WHERE p.passage_id = ? AND p.active = 1""",
        (passage_id,),
    ).fetchone()
    if passage is None:
        raise StoreError(f"no current passage '{passage_id}'")
    document = passage["document_text"]
    if not (passage["start"] <= start < end <= passage["end"]) or not document[start:end].strip():
        raise StoreError(f"span {start}-{end} is not text inside passage '{passage_id}'")
    # A selection that ends or starts inside a word takes the whole word ("The nurse o" -> "The
    # nurse organises"); Japanese, written without spaces, is kept as selected.
    while start > passage["start"] and _in_word(document, start - 1) and _in_word(document, start):
        start -= 1
    while end < passage["end"] and _in_word(document, end - 1) and _in_word(document, end):
        end += 1
    text = document[start:end]
    stripped = text.strip()
    start += len(text) - len(text.lstrip())
    end = start + len(stripped)
    excerpt_id = (
        "m" + hashlib.sha256(f"{passage_id}\x1f{start - passage['start']}\x1f{stripped}".encode()).hexdigest()[:15]
    )
    db.execute(
        """INSERT INTO excerpts (excerpt_id, passage_id, document_id, start, end, text, text_hash, active,
               first_run, last_run, kind)
           VALUES (?, ?, ?, ?, ?, ?, ?, 1, (SELECT MAX(run_id) FROM runs), (SELECT MAX(run_id) FROM runs),
                   'manual')
           ON CONFLICT (excerpt_id) DO UPDATE SET active = 1""",
        (
            excerpt_id,
            passage_id,
            passage["document_id"],
            start,
            end,
            stripped,
            hashlib.sha256(stripped.encode("utf-8")).hexdigest(),
        ),
    )
    return excerpt_id


def _add_code(
    db: sqlite3.Connection,
    passage_id: str,
    span: tuple[int, int],
    code_id: str,
    codebook_id: str,
    coder: str,
    memo: str | None,
    action: str,
) -> tuple[str, str | None]:
    """(excerpt id, the code's status on it before) after accepting `code_id` on the span."""
    excerpt_id = _manual_excerpt(db, passage_id, span)
    key = (excerpt_id, codebook_id, code_id)
    previous = db.execute(f"SELECT status, memo FROM suggestions WHERE {_WHERE_KEY}", key).fetchone()
    if previous is None or previous["status"] != "accepted":
        _accept_code(db, key, coder, memo, action)
    elif memo and memo != previous["memo"]:  # accepted already: the memo is still the researcher's word
        db.execute(f"UPDATE suggestions SET memo = ? WHERE {_WHERE_KEY}", (memo, *key))
        _audit(db, key, "memo", "accepted", "accepted", coder, memo)
    return excerpt_id, previous["status"] if previous else None


class DecisionRepository:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    # --- researchers' actions: one transaction each --------------------------------------

    def record(
        self,
        excerpt_id: str,
        code_id: str,
        status: str,
        coder: str,
        memo: str | None = None,
        action: str | None = None,
        *,
        live: bool = False,
        codebook_id: str | None = None,
    ) -> None:
        """Set a suggestion's status as a researcher's decision, with an audit row, in one transaction.
        With `live`, a suggestion a re-run withdrew or moved is refused (DecisionConflictError).
        Without `codebook_id`: the one codebook suggesting `code_id` on the excerpt."""
        if status not in DECISION_STATUSES:
            raise StoreError(f"unknown status '{status}'")
        with transaction(self.connection) as db:
            key = _key(db, excerpt_id, code_id, codebook_id)
            if live:
                _require_live(db, key)
            _set_status(db, key, status, coder, memo, action or status)

    def record_many(
        self, decisions: Sequence[tuple[str, str, str, str, str | None, str]], codebook_id: str | None = None
    ) -> None:
        """Several decisions (excerpt id, code, status, coder, memo, action) in one transaction: all or none."""
        with transaction(self.connection) as db:
            for excerpt_id, code_id, status, coder, memo, action in decisions:
                _set_status(db, _key(db, excerpt_id, code_id, codebook_id), status, coder, memo, action)

    def add_code(
        self, passage_id: str, start: int, end: int, code_id: str, codebook_id: str, coder: str, memo: str | None = None
    ) -> str:
        """Code a span a researcher selected (document offsets inside one passage); returns its excerpt id."""
        with transaction(self.connection) as db:
            return _add_code(db, passage_id, (start, end), code_id, codebook_id, coder, memo, "added")[0]

    def add_code_over_passages(
        self,
        passages: Sequence[PassageSpan],
        start: int,
        end: int,
        code_id: str,
        codebook_id: str,
        coder: str,
        memo: str | None,
        action: str = "added",
        *,
        suggested: bool = False,
    ) -> int:
        """Accept a code on a document span that may cross passages: one excerpt per passage it
        touches, all in one transaction. Returns how many were not already there. With
        `suggested`, the code comes in as an unreviewed suggestion instead (fieldnotes' own
        suggestion on its way back from another tool), and never changes a status already there."""
        added = 0
        with transaction(self.connection) as db:
            for passage in passages:
                lo, hi = max(start, passage.start), min(end, passage.end)
                if lo >= hi or not _passage_text(db, passage.passage_id, lo, hi).strip():
                    continue
                if suggested:
                    excerpt_id = _manual_excerpt(db, passage.passage_id, (lo, hi))
                    inserted = db.execute(
                        """INSERT INTO suggestions (excerpt_id, code_id, codebook_id, score, suggested_by, rationale,
                               components_json, status, memo, run_id)
                           VALUES (?, ?, ?, NULL, 'imported', ?, '{}', 'suggested', NULL,
                                   (SELECT MAX(run_id) FROM runs))
                           ON CONFLICT (excerpt_id, codebook_id, code_id) DO NOTHING""",
                        (excerpt_id, code_id, codebook_id, memo or "imported suggestion"),
                    ).rowcount
                    added += inserted
                    continue
                _, before = _add_code(db, passage.passage_id, (lo, hi), code_id, codebook_id, coder, memo, action)
                added += before != "accepted"
        return added

    def recode(
        self, excerpt_id: str, code_id: str, new_code_id: str, codebook_id: str, coder: str, *, live: bool = False
    ) -> None:
        """The excerpt is right but the code is not: reject one code and accept the other, together."""
        with transaction(self.connection) as db:
            old = (excerpt_id, codebook_id, code_id)
            if live:
                _require_live(db, old)
            previous = _status(db, old)
            db.execute(
                f"UPDATE suggestions SET status = 'rejected', status_by = ?, status_at = ? WHERE {_WHERE_KEY}",
                (coder, now(), *old),
            )
            _audit(db, old, "recoded", previous, "rejected", coder, f"-> {new_code_id}")
            _accept_code(db, (excerpt_id, codebook_id, new_code_id), coder, None, "recoded", note=f"<- {code_id}")

    def set_memo(
        self,
        excerpt_id: str,
        code_id: str,
        memo: str,
        coder: str,
        *,
        live: bool = False,
        codebook_id: str | None = None,
    ) -> None:
        with transaction(self.connection) as db:
            key = _key(db, excerpt_id, code_id, codebook_id)
            if live:
                _require_live(db, key)
            status = _status(db, key)
            db.execute(f"UPDATE suggestions SET memo = ? WHERE {_WHERE_KEY}", (memo, *key))
            _audit(db, key, "memo", status, status, coder, memo)

    def undo_last(self, coder: str, codebook_id: str | None = None) -> sqlite3.Row | None:
        """Revert the coder's latest decision (in `codebook_id`'s suggestions; without it, in any)
        that is not yet undone; returns it, or None.

        Undo is per coder: it is refused (DecisionConflictError, nothing changed) when someone
        decided on the same suggestion afterwards (another coder, or a re-run that moved the
        decision to the sentence's new place), because reverting would overwrite that."""
        with transaction(self.connection) as db:
            last = db.execute(
                """SELECT * FROM decisions WHERE coder = ? AND action NOT IN ('undo', 'memo')
                   AND (? IS NULL OR codebook_id = ?)
                   AND decision_id NOT IN (SELECT undoes FROM decisions WHERE undoes IS NOT NULL)
                   ORDER BY decision_id DESC LIMIT 1""",
                (coder, codebook_id, codebook_id),
            ).fetchone()
            if last is None:
                return None
            key = (last["excerpt_id"], last["codebook_id"], last["code_id"])
            # Decisions since, on the same suggestion, that still stand (undone ones and the undo
            # rows cancel out; memos change no status).
            later = db.execute(
                f"""SELECT coder, action FROM decisions WHERE {_WHERE_KEY} AND decision_id > ?
                   AND action NOT IN ('memo', 'undo')
                   AND decision_id NOT IN (SELECT undoes FROM decisions WHERE undoes IS NOT NULL)
                   ORDER BY decision_id DESC LIMIT 1""",
                (*key, last["decision_id"]),
            ).fetchone()
            if later is not None:
                who = "a re-run of fieldnotes" if later["coder"] == "fieldnotes" else f"'{later['coder']}'"
                raise DecisionConflictError(
                    f"cannot undo your last decision ({last['new_status']} '{last['code_id']}'): {who} changed "
                    f"that suggestion afterwards ({later['action']}), and undo would overwrite it; decide on "
                    "the suggestion again instead"
                )
            restored = last["previous_status"] or "withdrawn"
            db.execute(
                f"UPDATE suggestions SET status = ?, status_by = ?, status_at = ? WHERE {_WHERE_KEY}",
                (restored, coder, now(), *key),
            )
            _audit(db, key, "undo", last["new_status"], restored, coder, undoes=last["decision_id"])
            return last

    def adjust_span(
        self,
        excerpt_id: str,
        code_id: str,
        passage_id: str,
        start: int,
        end: int,
        codebook_id: str,
        coder: str,
        *,
        live: bool = False,
    ) -> str:
        """The code is right but its span is not: code the new span, withdraw the old one (audited),
        in one transaction. Returns the new span's excerpt id."""
        with transaction(self.connection) as db:
            old = (excerpt_id, codebook_id, code_id)
            _status(db, old)  # the old one must exist: checked before anything is written
            if live:
                _require_live(db, old)
            new_id = _add_code(db, passage_id, (start, end), code_id, codebook_id, coder, None, "added")[0]
            if new_id != excerpt_id:
                _withdraw(db, old, coder, "span-moved", f"span moved to {new_id}")
        return new_id

    # --- fieldnotes's own moves (see fieldnotes.review.reattach) ---------------------------

    def stale_reviewed(self, codebook_id: str) -> list[StaleDecision]:
        """Reviewed suggestions whose excerpt is no longer current."""
        rows = self.connection.execute(
            f"""SELECT s.excerpt_id, s.code_id, s.score, s.suggested_by, s.rationale, s.components_json, s.status,
                       s.status_by, s.status_at, s.memo,
                       e.text AS excerpt_text, e.document_id, e.last_run AS excerpt_last_run
                FROM {SUGGESTION_EXCERPTS}
                WHERE s.codebook_id = ? AND s.status IN ('accepted', 'rejected') AND e.active = 0""",
            (codebook_id,),
        ).fetchall()
        return [StaleDecision(*row) for row in rows]

    def move(self, stale: StaleDecision, target_excerpt_id: str, run_id: int, codebook_id: str) -> None:
        """Carry a reviewed suggestion over to another excerpt and withdraw it where it was, audited
        (by 'fieldnotes'). One transaction, or part of the caller's."""
        with transaction(self.connection) as db:
            target = (target_excerpt_id, codebook_id, stale.code_id)
            origin = (stale.excerpt_id, codebook_id, stale.code_id)
            previous = db.execute(f"SELECT status FROM suggestions WHERE {_WHERE_KEY}", target).fetchone()
            db.execute(
                """INSERT INTO suggestions (excerpt_id, code_id, codebook_id, score, suggested_by, rationale,
                       components_json, status, status_by, status_at, memo, run_id)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (excerpt_id, codebook_id, code_id) DO UPDATE SET status = excluded.status,
                       status_by = excluded.status_by, status_at = excluded.status_at, memo = excluded.memo""",
                (
                    target_excerpt_id,
                    stale.code_id,
                    codebook_id,
                    stale.score,
                    stale.suggested_by,
                    stale.rationale,
                    stale.components_json,
                    stale.status,
                    stale.status_by,
                    stale.status_at,
                    stale.memo,
                    run_id,
                ),
            )
            note = f"moved from {stale.excerpt_id} after the document changed"
            before = previous["status"] if previous else None
            _audit(db, target, "reattached", before, stale.status, FIELDNOTES, note)
            db.execute(f"UPDATE suggestions SET status = 'withdrawn' WHERE {_WHERE_KEY}", origin)
            _audit(db, origin, "moved", stale.status, "withdrawn", FIELDNOTES, f"moved to {target_excerpt_id}")

    def move_to_span(
        self, stale: StaleDecision, passage_id: str, span: tuple[int, int], run_id: int, codebook_id: str
    ) -> str:
        """Carry a reviewed suggestion onto the same text inside a current passage, kept as a
        hand-made excerpt (its sentence is no longer an excerpt of its own: the segmentation or
        the coding unit changed). One transaction; returns the new excerpt's id."""
        with transaction(self.connection) as db:
            target = _manual_excerpt(db, passage_id, span)
            self.move(stale, target, run_id, codebook_id)
        return target

    def moved_here_from(self, excerpt_id: str, code_id: str, codebook_id: str) -> list[str]:
        """The excerpts a re-run moved this decision away from to `excerpt_id`, latest first."""
        return [
            row["excerpt_id"]
            for row in self.connection.execute(
                """SELECT excerpt_id FROM decisions WHERE codebook_id = ? AND code_id = ? AND action = 'moved'
                   AND coder = ? AND memo = ? ORDER BY decision_id DESC""",
                (codebook_id, code_id, FIELDNOTES, f"moved to {excerpt_id}"),
            )
        ]

    # --- reading ------------------------------------------------------------------------

    def history(self, excerpt_id: str) -> list[sqlite3.Row]:
        """Every decision ever recorded on an excerpt, oldest first."""
        return self.connection.execute(
            "SELECT * FROM decisions WHERE excerpt_id = ? ORDER BY decision_id", (excerpt_id,)
        ).fetchall()

    def by_coders(self, codebook_id: str) -> list[sqlite3.Row]:
        """Researchers' decisions (coder, excerpt_id, code_id, new_status) on the codebook's
        suggestions, oldest first (not fieldnotes's own)."""
        return self.connection.execute(
            """SELECT d.coder, d.excerpt_id, d.code_id, d.new_status FROM decisions d
               JOIN suggestions s ON s.excerpt_id = d.excerpt_id AND s.codebook_id = d.codebook_id
                   AND s.code_id = d.code_id
               WHERE s.codebook_id = ? AND d.coder != 'fieldnotes' ORDER BY d.decision_id""",
            (codebook_id,),
        ).fetchall()

    def reviewed_examples(self, codebook_id: str) -> list[sqlite3.Row]:
        """Accepted and rejected (excerpt text, code) pairs: training data for the learned suggester."""
        return self.connection.execute(
            f"""SELECT e.text, s.code_id AS code, s.status FROM {SUGGESTION_EXCERPTS}
                WHERE s.codebook_id = ? AND s.status IN ('accepted', 'rejected')
                ORDER BY s.excerpt_id, s.code_id""",
            (codebook_id,),
        ).fetchall()

    def fingerprint(self, codebook_id: str) -> str:
        """Changes whenever a decision on the codebook's suggestions is recorded (what the learned
        suggester trains on)."""
        row = self.connection.execute(
            "SELECT COUNT(*), COALESCE(MAX(decision_id), 0) FROM decisions WHERE codebook_id = ?", (codebook_id,)
        ).fetchone()
        return f"{row[0]}:{row[1]}"
