"""One freshness mechanism: results stand while the digest of their inputs is unchanged."""

from __future__ import annotations

import pytest

from fieldnotes.freshness import CoderState, current, inputs_digest, record
from fieldnotes.store import Store


def test_inputs_digest_ignores_key_order_and_sees_every_value() -> None:
    assert inputs_digest({"a": 1, "b": [1, 2]}, "x") == inputs_digest({"b": [1, 2], "a": 1}, "x")
    assert inputs_digest({"a": 1}, "x") != inputs_digest({"a": 2}, "x")
    assert inputs_digest("x", "y") != inputs_digest("y", "x")


def test_a_state_is_current_only_for_the_same_digest(tmp_path) -> None:
    with Store.open(tmp_path / "fieldnotes.db") as store:
        run = store.runs.begin("code", "", "", "{}", {})
        assert current(store, "coder", "s", "d1", CoderState) is None
        state = CoderState("c.json", 0.4, ["n"], 3)
        record(store, "coder", "s", "d1", run, state)
        assert current(store, "coder", "s", "d1", CoderState) == (run, state)
        assert current(store, "coder", "s", "d2", CoderState) is None
        store.freshness.put("coder", "s", "d1", run, '{"calibration": "c.json"}')  # another version's state
        assert current(store, "coder", "s", "d1", CoderState) is None


def test_a_coding_run_that_fails_half_way_leaves_everything_to_score_again(
    tmp_path, settings, mini_corpus, shared_embedder, monkeypatch
) -> None:
    from fieldnotes.coding import stage
    from fieldnotes.pipeline import code_corpus

    quick = settings.model_copy(update={"themes": settings.themes.model_copy(update={"enabled": False})})
    out = tmp_path / "out"
    code_corpus(mini_corpus, out, quick)
    note = mini_corpus / "osaka" / "clinic-notes.txt"
    note.write_text(note.read_text(encoding="utf-8") + "\nThe han now runs a walking group every Saturday.\n")

    def broken(*args, **kwargs):
        raise RuntimeError("disk gone")

    with monkeypatch.context() as patch:
        patch.setattr(stage, "embed_cached", broken)
        with pytest.raises(RuntimeError):
            code_corpus(mini_corpus, out, quick)
    # The failed run saved the new excerpts but scored none: the next run must not take them as done.
    again = code_corpus(mini_corpus, out, quick)
    assert again.scored == "all"
    fresh = code_corpus(mini_corpus, tmp_path / "fresh", quick)
    assert again.suggestions_by_code == fresh.suggestions_by_code


def test_a_run_that_scores_everything_again_says_what_changed(tmp_path, settings, mini_corpus) -> None:
    from fieldnotes.pipeline import code_corpus

    quick = settings.model_copy(update={"themes": settings.themes.model_copy(update={"enabled": False})})
    out = tmp_path / "out"
    code_corpus(mini_corpus, out, quick)
    unchanged = code_corpus(mini_corpus, out, quick)
    assert unchanged.scored == "reused"
    assert not any(note.startswith("every excerpt scored again") for note in unchanged.notes)
    stricter = quick.model_copy(update={"coding": quick.coding.model_copy(update={"threshold": 0.45})})
    again = code_corpus(mini_corpus, out, stricter)
    assert again.scored == "all"
    said = [note for note in again.notes if note.startswith("every excerpt scored again")]
    assert said == [
        f"every excerpt scored again: the [coding] or [embedding] settings changed since run {unchanged.run_id}"
    ]


def test_a_state_recorded_before_a_field_with_a_default_was_added_still_stands(tmp_path) -> None:
    with Store.open(tmp_path / "fieldnotes.db") as store:
        run = store.runs.begin("code", "", "", "{}", {})
        before = '{"calibration": "c.json", "notes": [], "reviewed_kept": 0, "threshold": 0.4}'  # no "inputs"
        store.freshness.put("coder", "s", "d1", run, before)
        assert current(store, "coder", "s", "d1", CoderState) == (run, CoderState("c.json", 0.4, [], 0))
