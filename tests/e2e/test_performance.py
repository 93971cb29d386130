"""Nothing is computed twice: unchanged documents, excerpts, suggestions, themes and the report are
reused; an edit costs only its own work; heavy libraries load only when something needs them."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import DATA, REPO

from fieldnotes import embedding as embed_module
from fieldnotes.coding import learned
from fieldnotes.embedding import embed_cached
from fieldnotes.pipeline import code_corpus, ingest_corpus
from fieldnotes.store import Store


class HashEmbedder:
    """Deterministic bag-of-hashed-words vectors: structure enough for themes, no model."""

    model_id = "hash-embedder@test"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def encode(self, texts):
        self.calls.append(list(texts))
        vectors = np.zeros((len(texts), 32), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                vectors[row, int(hashlib.sha256(word.encode()).hexdigest(), 16) % 32] += 1.0
        vectors += 1e-3
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def code_summary(out) -> dict:
    with Store.open(out / "fieldnotes.db") as store:
        return json.loads(store.runs.latest("code").summary_json)


def suggestions(out) -> set[tuple[str, str, float]]:
    with Store.open(out / "fieldnotes.db") as store:
        rows = store.connection.execute("SELECT excerpt_id, code_id, score FROM suggestions WHERE status = 'suggested'")
        return {(row["excerpt_id"], row["code_id"], round(row["score"], 4)) for row in rows}


def test_import_spacy_leaves_torch_out_and_importable():
    script = textwrap.dedent(
        """
        import sys
        from fieldnotes.lazy import import_spacy
        spacy = import_spacy()
        assert spacy.blank("en")("Two words.")[0].text == "Two"
        assert "torch" not in sys.modules
        import torch
        assert torch.zeros(1).shape == (1,)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_import_bertopic_leaves_torch_out_and_everything_importable_after():
    script = textwrap.dedent(
        """
        import sys
        from fieldnotes.lazy import import_bertopic
        bertopic = import_bertopic()
        from bertopic.representation import KeyBERTInspired, MaximalMarginalRelevance
        assert bertopic.BERTopic and KeyBERTInspired and MaximalMarginalRelevance
        held = ("torch", "transformers", "sentence_transformers")
        assert not [name for name in held if name in sys.modules], [name for name in held if name in sys.modules]
        assert not [finder for finder in sys.meta_path if type(finder).__name__ == "_HoldBack"]
        from sentence_transformers import SentenceTransformer
        import torch
        assert torch.zeros(1).shape == (1,) and SentenceTransformer
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_embeddings_are_made_in_length_sorted_chunks_and_returned_in_order(tmp_path, monkeypatch):
    monkeypatch.setattr(embed_module, "EMBED_CHUNK", 2)
    embedder = HashEmbedder()
    texts = ["a much longer text than the others", "short", "middling text", "short", "tiny"]
    with Store.open(tmp_path / "fieldnotes.db") as store:
        vectors, new = embed_cached(texts, embedder, store.embeddings)
        assert new == 4  # the repeated text is embedded once
        assert [len(call) for call in embedder.calls] == [2, 2]
        assert embedder.calls[0] == ["tiny", "short"]  # shortest first: little padding per batch
        np.testing.assert_allclose(vectors, HashEmbedder().encode(texts), rtol=1e-6)
        again, new = embed_cached(texts, embedder, store.embeddings)
        assert new == 0 and len(embedder.calls) == 2
        np.testing.assert_array_equal(again, vectors)


def test_unchanged_files_are_hashed_not_parsed(tmp_path, settings, monkeypatch):
    import fieldnotes.ingest.run as pipeline

    corpus = tmp_path / "corpus"
    shutil.copytree(DATA / "mini", corpus)
    first = ingest_corpus(corpus, tmp_path / "out", settings)
    read = []
    original = pipeline.read_document
    monkeypatch.setattr(
        pipeline, "read_document", lambda path, *a, **k: read.append(path.name) or original(path, *a, **k)
    )
    note = corpus / "osaka" / "clinic-notes.txt"
    note.write_text(note.read_text(encoding="utf-8") + "\nA new paragraph about the clinic garden.\n", encoding="utf-8")
    again = ingest_corpus(corpus, tmp_path / "out", settings)
    assert read == ["clinic-notes.txt"]
    assert again.reused == first.documents - 1 and again.documents_by_format == first.documents_by_format
    assert set(again.timings) >= {"ingest", "segment", "write"}
    with Store.open(tmp_path / "out" / "fieldnotes.db") as store:
        runs = {row["document_id"]: row["last_run"] for row in store.connection.execute("SELECT * FROM documents")}
    assert set(runs.values()) == {again.run_id}  # reused documents are marked as seen in this run too


@pytest.mark.slow
def test_rerun_reuses_edit_scores_only_new_text_and_matches_a_full_run(
    tmp_path, settings, shared_embedder, monkeypatch
):
    monkeypatch.setenv("FIELDNOTES_CACHE_DIR", str(tmp_path / "embedding-cache"))  # a cold run: nothing cached yet
    corpus = tmp_path / "corpus"
    shutil.copytree(DATA / "mini", corpus)
    out = tmp_path / "out"
    cold = code_corpus(corpus, out, settings)
    summary = code_summary(out)
    assert summary["scored"] == "all"
    assert {"ingest", "segment", "embed", "code", "themes", "write", "compare"} <= set(summary["timings"])
    peaks = summary["peak_rss_mb"]  # the process's peak memory when each stage ended: never falls
    assert {"ingest", "segment", "code", "themes", "write", "compare"} <= set(peaks)
    assert 0 < peaks["ingest"] <= peaks["themes"] <= peaks["compare"]

    warm = code_corpus(corpus, out, settings)
    assert code_summary(out)["scored"] == "reused" and warm.embedded == 0
    assert warm.suggestions_by_code == cold.suggestions_by_code and warm.threshold == cold.threshold
    assert warm.comparison.distinctive == cold.comparison.distinctive
    assert any("reused" in note for note in warm.notes)

    note = corpus / "osaka" / "clinic-notes.txt"
    addition = "Volunteers from the han now run a Saturday walking group and check on neighbours who live alone."
    note.write_text(note.read_text(encoding="utf-8") + f"\n{addition}\n", encoding="utf-8")
    # The training data did not change: the learned suggester's weights come from the cache.
    assert len(list((out / "cache").glob("learned-*.npz"))) == 1
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(learned, "_fit_weights", lambda *args: pytest.fail("fitted again"))
        edited = code_corpus(corpus, out, settings)
    assert code_summary(out)["scored"] == "new excerpts"
    # Only the edited document's excerpts were built again.
    with Store.open(out / "fieldnotes.db") as store:
        (in_note,) = store.connection.execute(
            "SELECT COUNT(*) FROM excerpts e JOIN documents d USING (document_id)"
            " WHERE e.active = 1 AND e.kind = 'sentence' AND d.path = 'osaka/clinic-notes.txt'"
        ).fetchone()
    assert 0 < code_summary(out)["excerpts_built"] == in_note < edited.excerpts
    # Only the new sentences were encoded for coding; the refitted themes may embed new words.
    assert 0 < code_summary(out)["encoded_by_stage"]["code"] <= 2
    assert edited.embedded == sum(code_summary(out)["encoded_by_stage"].values())
    fresh = tmp_path / "fresh"
    full = code_corpus(corpus, fresh, settings)
    assert suggestions(out) == suggestions(fresh)  # scoring only the new excerpts gives what a full run gives
    assert edited.suggestions_by_code == full.suggestions_by_code

    # A researcher's decision is training data for the learned suggester: everything is scored again.
    with Store.open(out / "fieldnotes.db") as store:
        excerpt_id, code_id, _ = sorted(suggestions(out))[0]
        store.decisions.record(excerpt_id, code_id, "accepted", "aiko")
    code_corpus(corpus, out, settings)
    assert code_summary(out)["scored"] == "all"

    # Nothing changed since: the next run needs no model, no scikit-learn, no spaCy.
    check = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from fieldnotes.pipeline import code_corpus
        from fieldnotes.settings import load_settings
        report = code_corpus(Path({str(corpus)!r}), Path({str(out)!r}), load_settings())
        assert report.embedded == 0
        heavy = sorted(m for m in ("torch", "sentence_transformers", "sklearn", "spacy", "bertopic", "matplotlib")
                       if m in sys.modules)
        assert not heavy, heavy
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, check=False, cwd=REPO, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.slow
def test_large_corpus_themes_place_new_passages_until_refit_share(tmp_path, settings):
    synthetic = _synthetic()
    from fieldnotes.themes.run import run_themes

    corpus = synthetic.generate(tmp_path / "corpus", 60, seed=5)
    out = tmp_path / "out"
    themes = settings.themes.model_copy(update={"method": "auto", "small_corpus": 20, "min_topic_size": 4})
    settings = settings.model_copy(update={"themes": themes})
    embedder = HashEmbedder()
    ingest_corpus(corpus.root, out, settings)
    with Store.open(out / "fieldnotes.db") as store:
        fitted = run_themes(out, settings, store, embedder)
        assert fitted.method.startswith("UMAP") and not any("placed" in note for note in fitted.notes)
        before = store.topics.latest().assignments

    corpus.add_one(paragraphs=2)  # 2 new passages of 60+: below refit_share 0.1
    ingest_corpus(corpus.root, out, settings)
    with Store.open(out / "fieldnotes.db") as store:
        placed = run_themes(out, settings, store, embedder)
        after = store.topics.latest().assignments
        assert any("new passages placed in their nearest theme" in note for note in placed.notes)
        assert {pid: after[pid] for pid in before} == before  # nobody else moved
        assert len(after) > len(before) and set(after.values()) <= {t.topic_id for t in fitted.themes}
        assert sum(theme.size for theme in placed.themes) == len(after)
        again = run_themes(out, settings, store, embedder)
        assert again.reused_from == placed.run_id  # nothing changed since: reused as they are

    always = settings.model_copy(update={"themes": themes.model_copy(update={"refit_share": 0.0})})
    corpus.add_one(paragraphs=2)
    ingest_corpus(corpus.root, out, always)
    with Store.open(out / "fieldnotes.db") as store:
        refit = run_themes(out, always, store, embedder)
        assert not any("placed" in note for note in refit.notes) and refit.reused_from is None


def _synthetic():
    """benchmarks/synthetic.py, the corpus generator of the performance benchmark."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "fieldnotes_benchmark_synthetic", REPO / "benchmarks" / "synthetic.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_regex_gate_reads_required_words_soundly():
    from fieldnotes.coding.rules import required_literals

    assert required_literals(r"\bcare plans?\b") == {"care plan"}
    assert required_literals(r"\bUnited Kingdom\b|\bbritain\b") == {"united kingdom", "britain"}
    assert required_literals(r"\bunited kingdom\b|(?-i:\bUK\b)") is None  # "uk" is too short to be worth it
    assert required_literals(r"(?:very )?\bbusy(?:ness)?\b") == {"busy"}
    assert required_literals(r"居場所|\bplace to belong\b") == {"居場所", "place to belong"}
    assert required_literals(r"\bstra\u00dfe\b") is None  # a non-ASCII letter with case variants
    assert required_literals(r"\w+") is None and required_literals(r"(unclosed") is None


def test_gated_rules_match_exactly_what_every_regex_matches():
    import csv

    from fieldnotes.codebook import load_codebook
    from fieldnotes.coding.rules import RuleMatcher

    matcher = RuleMatcher(load_codebook(None, check_patterns=False).codebook)
    assert sum(gate is not None for gate in matcher.gates) > len(matcher.gates) // 2
    with (REPO / "codebooks" / "coproduction-reference.csv").open(encoding="utf-8", newline="") as handle:
        texts = [row["text"] for row in csv.DictReader(handle)]
    texts += [text.upper() for text in texts[:200]] + [text.title() for text in texts[200:300]]
    texts += ["新居浜のサロンは居場所です。", "The \u212aelvin-sign NHS case", "Care Plans in the UNITED KINGDOM", ""]
    # Non-ASCII texts between ASCII ones: the gate words are searched through all texts joined.
    texts = [text if i % 7 else f"Café: {text}" for i, text in enumerate(texts)]
    gated = matcher.match(texts)
    matcher.gates = [None] * len(matcher.gates)
    assert matcher.match(texts) == gated
