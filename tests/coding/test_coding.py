"""Coding: excerpts, each suggester, the calibrated combination, rationales, caching, decisions."""

import csv
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import DATA

from fieldnotes.cli import cli
from fieldnotes.codebook import load_codebook
from fieldnotes.coding.excerpts import build_excerpts, group_sentences
from fieldnotes.coding.learned import LearnedSuggester, TrainingSet
from fieldnotes.coding.suggest import (
    Batch,
    Calibration,
    CalibrationError,
    Prototypes,
    RuleSuggester,
    SemanticSuggester,
    fit_calibration,
    rationale,
)
from fieldnotes.records import EXCERPT_COLUMNS
from fieldnotes.store import Store

MINI = DATA / "codebooks" / "mini.yaml"


@pytest.fixture(scope="module")
def mini():
    return load_codebook(MINI)


def test_short_sentences_are_grouped_with_a_neighbour():
    assert group_sentences([(0, 50), (51, 55), (56, 120)], 40) == [(0, 50), (51, 120)]
    assert group_sentences([(0, 50), (51, 55)], 40) == [(0, 55)]
    assert group_sentences([(0, 5)], 40) == [(0, 5)]


def test_excerpt_ids_are_stable_and_offsets_point_at_the_text():
    text = "Members met. They measured blood pressure together in the hall. Then tea."
    passage = {
        "passage_id": "p1",
        "document_id": "d1",
        "document": "a.txt",
        "site": "osaka",
        "start": 0,
        "end": len(text),
    }
    sentences = {"p1": [(0, 12), (13, 64), (65, 74)]}
    first = build_excerpts([passage], sentences, {"d1": text}, 40)
    again = build_excerpts([passage], sentences, {"d1": text}, 40)
    assert [e.excerpt_id for e in first] == [e.excerpt_id for e in again]
    assert [e.text for e in first] == ["Members met. They measured blood pressure together in the hall. Then tea."]
    assert all(text[e.start : e.end] == e.text for e in first)


def test_rules_match_lemmas_tokens_and_regexes(mini):
    evidence = RuleSuggester(mini.codebook).evidence(
        Batch(
            [
                "Two Volunteers delivered meals on Sunday.",
                "The file is strictly CONFIDENTIAL; gossiping neighbours worry her.",
                "Nothing to see here.",
            ],
            np.zeros((3, 4), dtype=np.float32),
        )
    )
    ids = mini.codebook.code_ids
    assert evidence.features["rule"][0, ids.index("volunteering")] == 1
    assert evidence.matched_terms[0]["volunteering"] == ["Volunteers", "delivered meals"]
    assert evidence.matched_terms[1]["privacy-risk"] == ["gossiping", "CONFIDENTIAL"]
    assert evidence.features["rule"][2].sum() == 0


def test_semantic_evidence_prefers_the_right_code(mini, embedder):
    prototypes = Prototypes.build(mini.codebook, embedder.encode)
    texts = [
        "Every Tuesday retired members cook lunch for older neighbours, unpaid.",
        "In Sweden the municipality would run it.",
    ]
    evidence = SemanticSuggester(mini.codebook, prototypes).evidence(Batch(texts, embedder.encode(texts)))
    ids = mini.codebook.code_ids
    best = evidence.features["example_max"].argmax(axis=1)
    assert [ids[i] for i in best] == ["volunteering", "welfare-state-contrast"]
    assert evidence.best_example[0, ids.index("volunteering")] == 0  # the lunch-box example
    assert evidence.features["margin"][0, ids.index("volunteering")] > 0


def test_learned_weights_score_as_scikit_learn_and_are_cached_by_training_data(mini, tmp_path, monkeypatch):
    from sklearn.linear_model import LogisticRegression

    from fieldnotes.coding import learned as learned_module

    rng = np.random.default_rng(1)
    k = len(mini.codebook.codes)
    vectors = rng.standard_normal((90, 8)).astype(np.float32)
    labels = np.full((90, k), -1, dtype=np.int8)
    labels[:, 0] = (vectors[:, 0] > 0).astype(np.int8)  # code 0 learnable; the others have no labels
    training = TrainingSet(vectors, labels)
    first = LearnedSuggester(mini.codebook, training, cache_dir=tmp_path)
    probe = rng.standard_normal((25, 8)).astype(np.float32)
    scores = first.evidence(Batch([""] * 25, probe)).features["learned"]
    reference = LogisticRegression(C=4.0, max_iter=2000, class_weight="balanced").fit(vectors, labels[:, 0])
    assert np.allclose(scores[:, 0], reference.predict_proba(probe)[:, 1], atol=1e-6)
    assert (scores[:, 1:] == 0).all()

    cached = list(tmp_path.glob("learned-*.npz"))
    assert len(cached) == 1
    monkeypatch.setattr(learned_module, "_fit_weights", lambda *args: pytest.fail("fitted again"))
    again = LearnedSuggester(mini.codebook, training, cache_dir=tmp_path)
    assert (again.evidence(Batch([""] * 25, probe)).features["learned"] == scores).all()
    monkeypatch.undo()

    # Other training data (another vector space or codebook in the same run): fitted again, and
    # both weights stay, so each is read in the next run; beyond LEARNED_CACHE_KEEP the least
    # recently used go.
    labels[:5, 1], labels[5:10, 1] = 1, 0
    second = TrainingSet(vectors, labels.copy())
    LearnedSuggester(mini.codebook, second, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("learned-*.npz"))) == 2 and cached[0].exists()
    monkeypatch.setattr(learned_module, "_fit_weights", lambda *args: pytest.fail("fitted again"))
    LearnedSuggester(mini.codebook, training, cache_dir=tmp_path)
    LearnedSuggester(mini.codebook, second, cache_dir=tmp_path)
    monkeypatch.undo()
    for extra in range(learned_module.LEARNED_CACHE_KEEP):
        more = labels.copy()
        more[10 + extra, 2] = 1
        more[20 + extra, 2] = 0
        latest = TrainingSet(vectors, more)
        LearnedSuggester(mini.codebook, latest, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("learned-*.npz"))) == learned_module.LEARNED_CACHE_KEEP
    assert not cached[0].exists()

    # A damaged cache file is never trusted: the weights are fitted again.
    damaged = tmp_path / f"{learned_module.LEARNED_CACHE_PREFIX}{learned_module._training_digest(latest, 4.0)}.npz"
    assert damaged.exists()
    damaged.write_bytes(b"PK\x03\x04 not a real archive")
    rebuilt = LearnedSuggester(mini.codebook, latest, cache_dir=tmp_path)
    assert rebuilt.fitted[0] and rebuilt.fitted[1] and rebuilt.fitted[2] and not rebuilt.fitted[3:].any()
    assert damaged.stat().st_size > 100  # written again, whole

    # The user cache is shared by every results folder: a new folder reads what another fitted
    # (and keeps its own copy); a damaged shared copy is fitted again and replaced.
    shared, folder_a, folder_b = tmp_path / "shared", tmp_path / "a", tmp_path / "b"
    in_a = LearnedSuggester(mini.codebook, training, cache_dir=folder_a, shared_cache_dir=shared)
    (fitted,) = shared.glob("learned-*.npz")
    assert (folder_a / fitted.name).is_file()
    monkeypatch.setattr(learned_module, "_fit_weights", lambda *args: pytest.fail("fitted again"))
    read = LearnedSuggester(mini.codebook, training, cache_dir=folder_b, shared_cache_dir=shared)
    batch = Batch([""] * 25, probe)
    assert (read.evidence(batch).features["learned"] == in_a.evidence(batch).features["learned"]).all()
    assert (folder_b / fitted.name).is_file()
    monkeypatch.undo()
    fitted.write_bytes(b"not an archive")
    LearnedSuggester(mini.codebook, training, cache_dir=tmp_path / "c", shared_cache_dir=shared)
    assert fitted.stat().st_size > 100


def test_learned_suggester_and_calibration_on_precomputed_vectors(mini):
    # Three well separated directions stand for three codes: no model needed here.
    rng = np.random.default_rng(0)
    centres = np.eye(3, 8, dtype=np.float32)
    vectors = np.vstack([centres[i] + 0.1 * rng.standard_normal((20, 8)) for i in range(3)]).astype(np.float32)
    labels = np.repeat(np.eye(3, dtype=np.int8), 20, axis=0)
    learned = LearnedSuggester(mini.codebook, TrainingSet(vectors, labels))
    probe = np.vstack([centres[1] + 0.05, centres[2] - 0.05]).astype(np.float32)
    scores = learned.evidence(Batch(["a", "b"], probe)).features["learned"]
    assert scores.argmax(axis=1).tolist() == [1, 2]

    evidence = {"learned": learned.evidence(Batch([""] * 60, vectors)).features["learned"]}
    calibration = fit_calibration(evidence, labels, ["learned"], "test-model")
    assert calibration.weights[0] > 0 and 0.05 <= calibration.threshold <= 0.95
    combined = calibration.score(evidence)
    assert ((combined >= calibration.threshold) == labels.astype(bool)).mean() > 0.95
    with pytest.raises(CalibrationError, match="needs evidence"):
        calibration.score({"rule": evidence["learned"]})


def test_calibration_round_trip(tmp_path):
    calibration = Calibration(["rule"], [0.1], [0.3], [2.0], -1.0, 0.4, "m")
    calibration.save(tmp_path / "c.json")
    loaded = Calibration.load(tmp_path / "c.json")
    assert loaded == calibration
    assert loaded.score({"rule": np.array([[1.0]])})[0, 0] > loaded.score({"rule": np.array([[0.0]])})[0, 0]
    with pytest.raises(CalibrationError, match="not found"):
        Calibration.load(tmp_path / "none.json")


def test_rationale_names_terms_example_and_scores():
    text = rationale(["han group"], "Members run the health check.", 0.61, {"rule": 1.0, "learned": 0.7}, 0.83)
    assert text == (
        "matched 'han group'; resembles example \"Members run the health check.\" (0.61); "
        "score 0.83 (rule 1.00, learned 0.70)"
    )


def read_csv(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_code_command_end_to_end_keeps_decisions(mini_corpus, tmp_path, shared_embedder):
    out = tmp_path / "out"
    runner = CliRunner()
    result = runner.invoke(cli, ["code", str(mini_corpus), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "newly embedded" in result.output and "Suggestions:" in result.output
    rows = read_csv(out / "excerpts.csv")
    assert rows and tuple(rows[0]) == EXCERPT_COLUMNS
    db = sqlite3.connect(out / "fieldnotes.db")
    texts = dict(db.execute("SELECT path, text FROM documents").fetchall())
    for row in rows:
        assert texts[row["document"]][int(row["start"]) : int(row["end"])] == row["text"]
        assert 0 <= float(row["score"]) <= 1 and row["status"] == "suggested" and "score" in row["rationale"]
    codes = {(row["document"], row["code"]) for row in rows}
    assert ("osaka/clinic-notes.txt", "staff-autonomy") in codes  # "Nurses plan their own rota"
    run = db.execute("SELECT codebook, codebook_hash, model FROM runs WHERE command = 'code'").fetchone()
    assert run[0].startswith("coproduction 1.0") and len(run[1]) == 64 and run[2] == shared_embedder.model_id

    # Researchers decide on two suggestions.
    with Store.open(out / "fieldnotes.db") as store:
        store.decisions.record(rows[0]["excerpt_id"], rows[0]["code"], "accepted", "aiko", memo="clear case")
        store.decisions.record(rows[1]["excerpt_id"], rows[1]["code"], "rejected", "ben")

    # A re-run embeds nothing new and keeps both decisions.
    again = runner.invoke(cli, ["code", str(mini_corpus), "--out", str(out)])
    assert again.exit_code == 0, again.output
    assert "(0 newly embedded" in again.output
    assert "Reviewed suggestions kept as decided: 2" in again.output
    after = {(r["excerpt_id"], r["code"]): r for r in read_csv(out / "excerpts.csv")}
    assert after[(rows[0]["excerpt_id"], rows[0]["code"])]["status"] == "accepted"
    assert after[(rows[0]["excerpt_id"], rows[0]["code"])]["coder"] == "aiko"
    assert after[(rows[1]["excerpt_id"], rows[1]["code"])]["status"] == "rejected"

    # A stricter threshold withdraws machine suggestions but never reviewed ones.
    strict = tmp_path / "strict.toml"
    strict.write_text("[coding]\nthreshold = 0.99\n", encoding="utf-8")
    third = runner.invoke(cli, ["code", str(mini_corpus), "--out", str(out), "--settings", str(strict)])
    assert third.exit_code == 0, third.output
    statuses = dict(db.execute("SELECT status, COUNT(*) FROM suggestions GROUP BY status").fetchall())
    assert statuses.get("accepted") == 1 and statuses.get("rejected") == 1 and statuses.get("withdrawn", 0) >= 1
    assert {r["status"] for r in read_csv(out / "excerpts.csv")} <= {"accepted", "rejected", "suggested"}
    history = db.execute(
        "SELECT coder, previous_status, new_status, memo FROM decisions ORDER BY decision_id"
    ).fetchall()
    assert history == [("aiko", "suggested", "accepted", "clear case"), ("ben", "suggested", "rejected", None)]


def test_a_bad_codebook_stops_code_before_any_work(mini_corpus, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "id: x\nname: X\nversion: 1\ncodes:\n  - id: a\n    name: A\n    definition: too\n", encoding="utf-8"
    )
    result = CliRunner().invoke(cli, ["code", str(mini_corpus), "--out", str(tmp_path / "out"), "--codebook", str(bad)])
    assert result.exit_code == 1 and "invalid codebook" in result.output
    assert not (tmp_path / "out").exists()


def test_evaluate_and_calibrate_commands(tmp_path, shared_embedder):
    runner = CliRunner()
    book = tmp_path / "mini.yaml"
    book.write_text(MINI.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "mini-reference.csv").write_text(
        (DATA / "codebooks" / "mini-reference.csv").read_text(), encoding="utf-8"
    )
    calibrated = runner.invoke(cli, ["calibrate", "--codebook", str(book), "--out", str(tmp_path / "out")])
    assert calibrated.exit_code == 0, calibrated.output
    assert (tmp_path / "mini.calibration.json").is_file() and "threshold" in calibrated.output
    gold = tmp_path / "gold.csv"
    gold.write_text(
        "id,text,codes\ng1,Volunteers deliver meals every week without pay.,volunteering\n"
        "g2,Neighbours gossip about who is ill.,privacy-risk\ng3,The bus leaves at nine.,\n",
        encoding="utf-8",
    )
    evaluated = runner.invoke(cli, ["evaluate", str(gold), "--codebook", str(book), "--out", str(tmp_path / "out")])
    assert evaluated.exit_code == 0, evaluated.output
    for method in ("fieldnotes", "keywords only", "zero-shot definitions"):
        assert method in evaluated.output
    assert "micro" in evaluated.output
    bad_gold = tmp_path / "bad.csv"
    bad_gold.write_text("id,text,codes\nx,Some text.,no-such-code\n", encoding="utf-8")
    refused = runner.invoke(cli, ["evaluate", str(bad_gold), "--codebook", str(book), "--out", str(tmp_path / "out")])
    assert refused.exit_code == 1 and "bad.csv:2: code 'no-such-code' is not in the codebook" in refused.output


def test_decisions_follow_edited_documents_and_orphans_are_kept(mini_corpus, tmp_path, shared_embedder):
    out = tmp_path / "out"
    runner = CliRunner()
    settings = tmp_path / "fast.toml"
    settings.write_text("[themes]\nenabled = false\n", encoding="utf-8")
    args = ["code", str(mini_corpus), "--out", str(out), "--settings", str(settings)]
    assert runner.invoke(cli, args).exit_code == 0
    rows = read_csv(out / "excerpts.csv")
    rota = next(r for r in rows if "rota on a whiteboard" in r["text"])
    clerk = next(r for r in rows if "roster comes from above" in r["text"])
    with Store.open(out / "fieldnotes.db") as store:
        store.decisions.record(rota["excerpt_id"], rota["code"], "accepted", "aiko", memo="own rota")
        store.decisions.record(clerk["excerpt_id"], clerk["code"], "rejected", "aiko")

    # Edit the note: a new first paragraph shifts the rota sentence, and the sentence after it is deleted.
    note = mini_corpus / "osaka" / "clinic-notes.txt"
    text = note.read_text(encoding="utf-8")
    text = text.replace(
        "Clinic visit in Amagasaki\n\n", "Clinic visit in Amagasaki\n\nWe arrived late because of rain.\n\n"
    )
    text = text.replace(
        " The head nurse said she would not go back to a hospital where the roster comes from above.", ""
    )
    note.write_text(text, encoding="utf-8")
    again = runner.invoke(cli, args)
    assert again.exit_code == 0, again.output
    assert "Decisions whose text is gone from the corpus (kept, listed in orphaned_decisions.csv): 1" in again.output

    after = read_csv(out / "excerpts.csv")
    moved = [r for r in after if "rota on a whiteboard" in r["text"] and r["code"] == rota["code"]]
    assert len(moved) == 1 and moved[0]["status"] == "accepted" and moved[0]["memo"] == "own rota"
    document_text = (
        sqlite3.connect(out / "fieldnotes.db")
        .execute("SELECT text FROM documents WHERE path = 'osaka/clinic-notes.txt'")
        .fetchone()[0]
    )
    assert document_text[int(moved[0]["start"]) : int(moved[0]["end"])] == moved[0]["text"]
    orphans = read_csv(out / "orphaned_decisions.csv")
    assert [(o["excerpt_id"], o["status"]) for o in orphans] == [(clerk["excerpt_id"], "rejected")]

    history = runner.invoke(cli, ["history", moved[0]["excerpt_id"], "--out", str(out)])
    assert history.exit_code == 0 and "reattached" in history.output and "accepted" in history.output
    missing = runner.invoke(cli, ["history", "e-nope", "--out", str(out)])
    assert missing.exit_code == 1 and "no decisions recorded" in missing.output


def test_reviewed_decisions_train_the_learned_suggester(mini_corpus, tmp_path, shared_embedder):
    out = tmp_path / "out"
    settings = tmp_path / "fast.toml"
    settings.write_text("[themes]\nenabled = false\n", encoding="utf-8")
    args = ["code", str(mini_corpus), "--out", str(out), "--settings", str(settings)]
    runner = CliRunner()
    assert runner.invoke(cli, args).exit_code == 0
    row = read_csv(out / "excerpts.csv")[0]
    with Store.open(out / "fieldnotes.db") as store:
        store.decisions.record(row["excerpt_id"], row["code"], "rejected", "ben")
    again = runner.invoke(cli, args)
    assert "learned suggester trained with 1 reviewed decisions" in again.output
