"""Researchers' own coding: codes added by hand, recoding, memos, undo; all audited, none lost."""

from pathlib import Path

import pytest
from conftest import DATA

from fieldnotes.coding.excerpts import build_excerpts
from fieldnotes.errors import DecisionConflictError, StoreError
from fieldnotes.pipeline import ingest_corpus
from fieldnotes.review.reattach import reattach_decisions
from fieldnotes.store import Store


def statuses(store: Store) -> dict[tuple[str, str], str]:
    return {(r["excerpt_id"], r["code_id"]): r["status"] for r in store.connection.execute("SELECT * FROM suggestions")}


def test_add_a_code_the_tool_missed(coded_store):
    store = coded_store
    rota = store.rota
    passage = store.connection.execute("SELECT * FROM passages WHERE passage_id = ?", (rota.passage_id,)).fetchone()
    start = passage["start"] + passage["text"].index("The head nurse")
    end = passage["start"] + len(passage["text"])
    excerpt_id = store.decisions.add_code(
        rota.passage_id, start - 1, end, "welfare-state-contrast", "coproduction", "aiko", "hospital"
    )
    row = store.connection.execute("SELECT * FROM excerpts WHERE excerpt_id = ?", (excerpt_id,)).fetchone()
    assert row["kind"] == "manual" and row["text"].startswith("The head nurse") and row["start"] == start
    assert statuses(store)[(excerpt_id, "welfare-state-contrast")] == "accepted"
    assert [h["action"] for h in store.decisions.history(excerpt_id)] == ["added"]
    with pytest.raises(StoreError, match="not text inside passage"):
        store.decisions.add_code(rota.passage_id, 0, 5, "volunteering", "coproduction", "aiko")


def test_recode_memo_and_undo_are_audited(coded_store):
    store = coded_store
    rota = store.rota
    store.decisions.record(rota.excerpt_id, "volunteering", "rejected", "aiko")
    store.decisions.recode(rota.excerpt_id, "staff-autonomy", "participatory-governance", "coproduction", "aiko")
    memo, note = store.connection.execute(
        """SELECT s.memo, (SELECT d.memo FROM decisions d WHERE d.excerpt_id = s.excerpt_id AND d.code_id = s.code_id
           ORDER BY d.decision_id DESC LIMIT 1) FROM suggestions s WHERE s.excerpt_id = ? AND s.code_id = ?""",
        (rota.excerpt_id, "participatory-governance"),
    ).fetchone()
    assert memo is None and note == "<- staff-autonomy"  # bookkeeping in the audit trail, not in the memo
    store.decisions.set_memo(rota.excerpt_id, "participatory-governance", "the rota is a staff decision", "aiko")
    assert statuses(store)[(rota.excerpt_id, "staff-autonomy")] == "rejected"
    assert statuses(store)[(rota.excerpt_id, "participatory-governance")] == "accepted"
    undone = store.decisions.undo_last("aiko")
    assert undone["code_id"] == "participatory-governance"
    assert statuses(store)[(rota.excerpt_id, "participatory-governance")] == "withdrawn"
    store.decisions.undo_last("aiko")  # the rejection half of the recode
    assert statuses(store)[(rota.excerpt_id, "staff-autonomy")] == "suggested"
    store.decisions.undo_last("aiko")
    assert statuses(store)[(rota.excerpt_id, "volunteering")] == "suggested"
    assert store.decisions.undo_last("aiko") is None
    actions = [h["action"] for h in store.decisions.history(rota.excerpt_id)]
    assert actions == ["rejected", "recoded", "recoded", "memo", "undo", "undo", "undo"]


def test_undo_is_per_coder_and_never_overwrites_a_later_decision(coded_store):
    store = coded_store
    rota = store.rota
    store.decisions.record(rota.excerpt_id, "staff-autonomy", "accepted", "alice")
    store.decisions.record(rota.excerpt_id, "staff-autonomy", "rejected", "bob")
    with pytest.raises(DecisionConflictError, match="'bob' changed that suggestion afterwards"):
        store.decisions.undo_last("alice")
    assert statuses(store)[(rota.excerpt_id, "staff-autonomy")] == "rejected"  # bob's decision stands
    assert [h["action"] for h in store.decisions.history(rota.excerpt_id)] == ["accepted", "rejected"]
    # Once bob takes his decision back, alice's is the latest again and she may undo it.
    assert store.decisions.undo_last("bob")["coder"] == "bob"
    assert store.decisions.undo_last("alice")["coder"] == "alice"
    assert statuses(store)[(rota.excerpt_id, "staff-autonomy")] == "suggested"


def test_undo_after_several_own_decisions_on_one_suggestion_walks_back(coded_store):
    store = coded_store
    rota = store.rota
    store.decisions.record(rota.excerpt_id, "volunteering", "accepted", "aiko")
    store.decisions.record(rota.excerpt_id, "volunteering", "rejected", "aiko")
    store.decisions.undo_last("aiko")
    assert statuses(store)[(rota.excerpt_id, "volunteering")] == "accepted"
    store.decisions.undo_last("aiko")
    assert statuses(store)[(rota.excerpt_id, "volunteering")] == "suggested"


def test_hand_coded_excerpts_survive_a_rerun_of_the_excerpt_stage(coded_store):
    store = coded_store
    rota = store.rota
    passage = store.connection.execute("SELECT * FROM passages WHERE passage_id = ?", (rota.passage_id,)).fetchone()
    excerpt_id = store.decisions.add_code(
        rota.passage_id, passage["start"], passage["start"] + 20, "staff-autonomy", "coproduction", "ben"
    )
    passages, sentences, texts = store.corpus.passages_with_sentences()
    store.coding.save_excerpts(2, build_excerpts(passages, sentences, texts, 40))
    row = store.connection.execute("SELECT active FROM excerpts WHERE excerpt_id = ?", (excerpt_id,)).fetchone()
    assert row["active"] == 1
    assert Path(store.path).is_file()


def test_adjust_the_span_of_a_suggestion(coded_store):
    store = coded_store
    rota = store.rota
    new_id = store.decisions.adjust_span(
        rota.excerpt_id, "staff-autonomy", rota.passage_id, rota.start, rota.start + 30, "coproduction", "aiko"
    )
    assert statuses(store)[(rota.excerpt_id, "staff-autonomy")] == "withdrawn"
    assert statuses(store)[(new_id, "staff-autonomy")] == "accepted"
    assert [h["action"] for h in store.decisions.history(rota.excerpt_id)] == ["span-moved"]
    assert (
        store.connection.execute("SELECT text FROM excerpts WHERE excerpt_id = ?", (new_id,)).fetchone()[0]
        == rota.text[:30].strip()
    )


# --- a corpus edited between runs --------------------------------------------------------------


def code_run(store: Store, settings, corpus: Path, out: Path) -> tuple[int, list]:
    """What `fieldnotes code` does to decisions, without a model: ingest, excerpts, suggestions, reattach."""
    from fieldnotes.records import Suggestion

    ingest_corpus(corpus, out, settings)
    run_id = store.runs.begin("code", "", "", "{}", {})
    passages, sentences, texts = store.corpus.passages_with_sentences()
    excerpts = build_excerpts(passages, sentences, texts, 40)
    store.coding.save_excerpts(run_id, excerpts)
    store.coding.save_suggestions(
        run_id, "coproduction", [Suggestion(e.excerpt_id, "mutual-help", 0.5, "rules", "test", {}) for e in excerpts]
    )
    return run_id, excerpts


def test_edits_between_runs_keep_every_decision_whose_text_survives(tmp_path, settings):
    import shutil

    corpus = tmp_path / "corpus"
    shutil.copytree(DATA / "mini", corpus)
    out = tmp_path / "out"
    store = Store.open(out / "fieldnotes.db")
    _, excerpts = code_run(store, settings, corpus, out)

    def decide(fragment: str, status: str) -> str:
        excerpt = next(e for e in excerpts if fragment in e.text)
        store.decisions.record(excerpt.excerpt_id, "mutual-help", status, "aiko", memo=fragment)
        return excerpt.text

    survive = {  # text -> the document it must be found in after the edits
        decide("Seven members met", "accepted"): "nagoya/han-meeting-minami.md",  # document renamed
        decide("The Minami cooperative is organised", "rejected"): "articles/three-sites.txt",  # neighbour edited
        decide("Nurses sit on the staff council", "accepted"): "articles/three-sites.txt",  # moved in the document
        decide("Nurses plan their own rota", "accepted"): "osaka/rota.txt",  # moved to another document
        decide("Anyone living nearby can help", "rejected"): "documents/leaflet.md",  # untouched
    }
    gone = {
        decide("its hospital gives it weight", "accepted"),  # sentence changed
        decide("neighbours who are not members sit", "rejected"),  # passage deleted
        decide("Supporters visit older residents", "accepted"),  # now in two new documents: ambiguous
    }
    assert len(survive) + len(gone) == 8

    (corpus / "nagoya/2024-10-14_han-meeting.md").rename(corpus / "nagoya/han-meeting-minami.md")
    article = corpus / "articles/three-sites.txt"
    text = article.read_text(encoding="utf-8")
    text = text.replace("its hospital gives it weight in the city.", "its hospital gives it weight in the prefecture.")
    text = text.replace(
        "Staff and members\n\nNurses sit on the staff council, which meets every quarter with the board.\n\n", ""
    )
    text = text.replace(
        "In Niihama, neighbours who are not members sit on the operating committees of the care facilities.", ""
    )
    text += "\nStaff and members\n\nNurses sit on the staff council, which meets every quarter with the board.\n"
    article.write_text(text, encoding="utf-8")
    clinic = corpus / "osaka/clinic-notes.txt"
    rota = "Nurses plan their own rota on a whiteboard in the staff room."
    clinic.write_text(clinic.read_text(encoding="utf-8").replace(rota, ""), encoding="utf-8")
    (corpus / "osaka/rota.txt").write_text(f"Rota\n\n{rota}\n", encoding="utf-8")
    leaflet = corpus / "documents/leaflet.md"
    supporters = "Supporters visit older residents who live alone and bring them to the salon."
    leaflet.write_text(leaflet.read_text(encoding="utf-8").replace(supporters, ""), encoding="utf-8")
    for name in ("a", "b"):
        (corpus / f"documents/copy-{name}.md").write_text(f"# Copy\n\n{supporters}\n", encoding="utf-8")

    run_id, _ = code_run(store, settings, corpus, out)
    moved, orphans = reattach_decisions(store, run_id, "coproduction")
    assert moved == 4  # every survivor but the untouched one sits in a passage with a new id

    decided = store.connection.execute(
        """SELECT e.text, e.start, e.end, d.path, d.text AS document_text, s.status, s.status_by, s.memo
           FROM suggestions s JOIN excerpts e USING (excerpt_id) JOIN documents d ON d.document_id = e.document_id
           WHERE s.status IN ('accepted', 'rejected') AND e.active = 1"""
    ).fetchall()
    assert {row["text"]: row["path"] for row in decided} == survive
    for row in decided:
        assert row["document_text"][row["start"] : row["end"]] == row["text"]
        assert row["status_by"] == "aiko" and row["memo"] in row["text"]
    assert {row["text"] for row in orphans} == gone
    assert {row["text"] for row in store.reads.orphaned_decisions("coproduction")} == gone
    store.close()


def test_decisions_stay_on_their_sentence_when_the_coding_unit_becomes_the_passage(coded_store):
    store = coded_store
    rota = store.rota
    store.decisions.record(rota.excerpt_id, "staff-autonomy", "accepted", "aiko", "the rota")
    run_id = store.runs.begin("code", "", "", "{}", {})
    passages, sentences, texts = store.corpus.passages_with_sentences()
    by_passage = build_excerpts(passages, sentences, texts, 40, unit="passage")
    assert len(by_passage) == len(passages)
    store.coding.save_excerpts(run_id, by_passage)
    moved, orphans = reattach_decisions(store, run_id, "coproduction")
    assert moved == 1 and orphans == []
    carried = store.connection.execute(
        """SELECT e.excerpt_id, e.text, e.kind, s.status, s.memo, s.status_by FROM suggestions s
           JOIN excerpts e USING (excerpt_id) WHERE s.code_id = 'staff-autonomy' AND e.active = 1"""
    ).fetchall()
    assert [(r["text"], r["kind"], r["status"], r["memo"], r["status_by"]) for r in carried] == [
        (rota.text.strip(), "manual", "accepted", "the rota", "aiko")
    ]
    assert [h["action"] for h in store.decisions.history(carried[0]["excerpt_id"])] == ["reattached"]


def test_a_document_renamed_and_renamed_back_keeps_every_decision(tmp_path, settings):
    import shutil

    corpus = tmp_path / "corpus"
    shutil.copytree(DATA / "mini", corpus)
    out = tmp_path / "out"
    store = Store.open(out / "fieldnotes.db")
    _, excerpts = code_run(store, settings, corpus, out)
    first = next(e for e in excerpts if "Seven members met" in e.text)
    store.decisions.record(first.excerpt_id, "mutual-help", "accepted", "aiko", memo="before the rename")

    original, renamed = corpus / "nagoya/2024-10-14_han-meeting.md", corpus / "nagoya/han-meeting-minami.md"
    original.rename(renamed)
    run_id, excerpts = code_run(store, settings, corpus, out)
    assert reattach_decisions(store, run_id, "coproduction") == (1, [])
    later = next(e for e in excerpts if e.document == "nagoya/han-meeting-minami.md" and e.text != first.text)
    store.decisions.record(later.excerpt_id, "mutual-help", "rejected", "aiko", memo="after the rename")

    renamed.rename(original)
    run_id, _ = code_run(store, settings, corpus, out)
    moved, orphans = reattach_decisions(store, run_id, "coproduction")
    assert orphans == [] and moved == 2
    decided = store.connection.execute(
        """SELECT e.text, d.path, s.status, s.memo FROM suggestions s JOIN excerpts e USING (excerpt_id)
           JOIN documents d ON d.document_id = e.document_id
           WHERE s.status IN ('accepted', 'rejected') AND e.active = 1 ORDER BY s.memo"""
    ).fetchall()
    assert [(r["text"], r["path"], r["status"], r["memo"]) for r in decided] == [
        (later.text, "nagoya/2024-10-14_han-meeting.md", "rejected", "after the rename"),
        (first.text, "nagoya/2024-10-14_han-meeting.md", "accepted", "before the rename"),
    ]
    store.close()


def test_stopping_the_review_page_brings_excerpts_csv_up_to_date(coded_store):
    import csv

    from fieldnotes.codebook import load_codebook
    from fieldnotes.review.run import _refresh_excerpts_csv

    rota = coded_store.rota
    coded_store.decisions.record(rota.excerpt_id, "staff-autonomy", "accepted", "aiko")
    out = Path(coded_store.path).parent
    _refresh_excerpts_csv(out, load_codebook())  # what `fieldnotes review` does on Ctrl-C
    with (out / "excerpts.csv").open(encoding="utf-8", newline="") as handle:
        rows = {(r["excerpt_id"], r["code"]): r["status"] for r in csv.DictReader(handle)}
    assert rows[(rota.excerpt_id, "staff-autonomy")] == "accepted"
    # The database file alone now holds the decision: a copy of it without the WAL file has it.
    import shutil
    import sqlite3

    copy = out / "copy.db"
    shutil.copy(out / "fieldnotes.db", copy)
    with sqlite3.connect(copy) as db:
        status = db.execute(
            "SELECT status FROM suggestions WHERE excerpt_id = ? AND code_id = 'staff-autonomy'", (rota.excerpt_id,)
        ).fetchone()[0]
    assert status == "accepted"


def test_a_selection_ending_inside_a_word_takes_the_whole_word(coded_store):
    store = coded_store
    rota = store.rota
    passage = store.connection.execute("SELECT * FROM passages WHERE passage_id = ?", (rota.passage_id,)).fetchone()
    offset = passage["text"].index(rota.text.strip())
    words = rota.text.strip().split()
    cut = offset + len(" ".join(words[:2])) + 2  # two words and two letters of the third
    excerpt_id = store.decisions.add_code(
        rota.passage_id, passage["start"] + offset + 1, passage["start"] + cut, "staff-autonomy", "coproduction", "ben"
    )
    text = store.connection.execute("SELECT text FROM excerpts WHERE excerpt_id = ?", (excerpt_id,)).fetchone()[0]
    assert text == " ".join(words[:3]).rstrip(".,;:")
