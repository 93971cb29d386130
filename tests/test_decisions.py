"""Researchers' own coding: codes added by hand, recoding, memos, undo; all audited, none lost."""

from pathlib import Path

import pytest
from conftest import DATA

from fieldnotes.coding.excerpts import build_excerpts
from fieldnotes.errors import StoreError
from fieldnotes.pipeline import ingest_corpus
from fieldnotes.store import Store


@pytest.fixture
def coded_store(tmp_path, settings) -> Store:
    """A results database with passages, excerpts and two machine suggestions, no model needed."""
    from fieldnotes.coding.run import Suggestion

    out = tmp_path / "out"
    ingest_corpus(DATA / "mini", out, settings)
    store = Store.open(out / "fieldnotes.db")
    run_id = store.begin_run("code", "", "", "{}", {})
    passages, sentences, texts = store.passages_with_sentences()
    excerpts = build_excerpts(passages, sentences, texts, 40)
    store.save_excerpts(run_id, excerpts)
    rota = next(e for e in excerpts if "rota" in e.text)
    store.save_suggestions(
        run_id,
        "coproduction",
        [
            Suggestion(rota.excerpt_id, "staff-autonomy", 0.9, "rules", "matched 'rota'", {}),
            Suggestion(rota.excerpt_id, "volunteering", 0.4, "semantic", "weak", {}),
        ],
    )
    store.rota = rota  # type: ignore[attr-defined]
    yield store
    store.close()


def statuses(store: Store) -> dict[tuple[str, str], str]:
    return {(r["excerpt_id"], r["code_id"]): r["status"] for r in store.connection.execute("SELECT * FROM suggestions")}


def test_add_a_code_the_tool_missed(coded_store):
    store = coded_store
    rota = store.rota
    passage = store.connection.execute("SELECT * FROM passages WHERE passage_id = ?", (rota.passage_id,)).fetchone()
    start = passage["start"] + passage["text"].index("The head nurse")
    end = passage["start"] + len(passage["text"])
    excerpt_id = store.add_code(
        rota.passage_id, start - 1, end, "welfare-state-contrast", "coproduction", "aiko", "hospital"
    )
    row = store.connection.execute("SELECT * FROM excerpts WHERE excerpt_id = ?", (excerpt_id,)).fetchone()
    assert row["kind"] == "manual" and row["text"].startswith("The head nurse") and row["start"] == start
    assert statuses(store)[(excerpt_id, "welfare-state-contrast")] == "accepted"
    assert [h["action"] for h in store.history(excerpt_id)] == ["added"]
    with pytest.raises(StoreError, match="not text inside passage"):
        store.add_code(rota.passage_id, 0, 5, "volunteering", "coproduction", "aiko")


def test_recode_memo_and_undo_are_audited(coded_store):
    store = coded_store
    rota = store.rota
    store.record_decision(rota.excerpt_id, "volunteering", "rejected", "aiko")
    store.recode(rota.excerpt_id, "staff-autonomy", "participatory-governance", "coproduction", "aiko")
    store.set_memo(rota.excerpt_id, "participatory-governance", "the rota is a staff decision", "aiko")
    assert statuses(store)[(rota.excerpt_id, "staff-autonomy")] == "rejected"
    assert statuses(store)[(rota.excerpt_id, "participatory-governance")] == "accepted"
    undone = store.undo_last("aiko")
    assert undone["code_id"] == "participatory-governance"
    assert statuses(store)[(rota.excerpt_id, "participatory-governance")] == "withdrawn"
    store.undo_last("aiko")  # the rejection half of the recode
    assert statuses(store)[(rota.excerpt_id, "staff-autonomy")] == "suggested"
    store.undo_last("aiko")
    assert statuses(store)[(rota.excerpt_id, "volunteering")] == "suggested"
    assert store.undo_last("aiko") is None
    actions = [h["action"] for h in store.history(rota.excerpt_id)]
    assert actions == ["rejected", "recoded", "recoded", "memo", "undo", "undo", "undo"]


def test_hand_coded_excerpts_survive_a_rerun_of_the_excerpt_stage(coded_store):
    store = coded_store
    rota = store.rota
    passage = store.connection.execute("SELECT * FROM passages WHERE passage_id = ?", (rota.passage_id,)).fetchone()
    excerpt_id = store.add_code(
        rota.passage_id, passage["start"], passage["start"] + 20, "staff-autonomy", "coproduction", "ben"
    )
    passages, sentences, texts = store.passages_with_sentences()
    store.save_excerpts(2, build_excerpts(passages, sentences, texts, 40))
    row = store.connection.execute("SELECT active FROM excerpts WHERE excerpt_id = ?", (excerpt_id,)).fetchone()
    assert row["active"] == 1
    assert Path(store.path).is_file()


def test_adjust_the_span_of_a_suggestion(coded_store):
    store = coded_store
    rota = store.rota
    new_id = store.adjust_span(
        rota.excerpt_id, "staff-autonomy", rota.passage_id, rota.start, rota.start + 30, "coproduction", "aiko"
    )
    assert statuses(store)[(rota.excerpt_id, "staff-autonomy")] == "withdrawn"
    assert statuses(store)[(new_id, "staff-autonomy")] == "accepted"
    assert [h["action"] for h in store.history(rota.excerpt_id)] == ["span-moved"]
    assert (
        store.connection.execute("SELECT text FROM excerpts WHERE excerpt_id = ?", (new_id,)).fetchone()[0]
        == rota.text[:30].strip()
    )
