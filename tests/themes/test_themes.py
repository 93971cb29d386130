"""Themes on any corpus size, deterministic, with readable words; and the compare stage end to end."""

import csv

import numpy as np
import pytest
from click.testing import CliRunner

from fieldnotes.cli import cli
from fieldnotes.themes import model as theme_model
from fieldnotes.themes.model import LemmaTokenizer, exact_cosine_neighbours, fit_themes

TOPICS = {
    "han": "Han members measured each other's blood pressure and talked about salt in miso soup.",
    "staff": "Nurses set their own rota and complained about the night shifts and the workload.",
    "meals": "Volunteers cooked lunch boxes and delivered meals by bicycle to older neighbours.",
}


def corpus(n: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """n passages drawn from three well separated themes, with fake but structured embeddings."""
    rng = np.random.default_rng(seed)
    names = list(TOPICS)
    texts, vectors = [], []
    for i in range(n):
        name = names[i % 3]
        texts.append(f"{TOPICS[name]} Note {i}.")
        vector = np.zeros(16, dtype=np.float32)
        vector[i % 3] = 1.0
        vector += 0.05 * rng.standard_normal(16).astype(np.float32)
        vectors.append(vector / np.linalg.norm(vector))
    return texts, np.vstack(vectors) if vectors else np.zeros((0, 16), dtype=np.float32)


@pytest.mark.parametrize("n", [0, 1, 2, 5, 12, 40])
def test_any_small_corpus_gets_themes_without_outliers(settings, n):
    texts, vectors = corpus(n)
    result = fit_themes(texts, vectors, settings.themes, set())
    assert len(result.topics) == n
    assert -1 not in result.topics
    assert set(result.labels) == set(result.topics)
    if n:
        assert all(result.labels[t] for t in result.labels)


def test_three_separated_themes_are_found_with_fitting_words(settings):
    texts, vectors = corpus(40)
    result = fit_themes(texts, vectors, settings.themes, set())
    assert len(set(result.topics)) == 3
    by_topic = {result.topics[i]: i % 3 for i in range(40)}
    assert all(result.topics[i] == result.topics[i % 3] for i in range(40))  # one theme per source
    words = {by_topic[t]: result.words[t] for t in result.labels}
    assert "han" in " ".join(words[0]) and "rota" in " ".join(words[1]) and "meal" in " ".join(words[2])


def test_themes_are_deterministic(settings):
    texts, vectors = corpus(30, seed=3)
    first = fit_themes(texts, vectors, settings.themes, set())
    second = fit_themes(texts, vectors, settings.themes, set())
    assert first.topics == second.topics and first.labels == second.labels


def test_large_corpus_path_uses_umap_and_hdbscan(settings):
    texts, vectors = corpus(60, seed=1)
    large = settings.themes.model_copy(update={"method": "auto", "small_corpus": 10, "min_topic_size": 5})
    result = fit_themes(texts, vectors, large, set())
    assert result.method.startswith("UMAP") and -1 not in result.topics and len(result.topics) == 60


def test_tokenizer_reads_each_marked_passage_once_in_its_own_language(monkeypatch):
    # BERTopic joins a theme's passages into one text: an English theme with one Japanese
    # passage keeps that passage's words, and each passage is tokenized once across calls.
    tokenizer = LemmaTokenizer(set())
    english = "Volunteers delivered meals to older neighbours."
    japanese = "新居浜のサロンでボランティアが活動しています。"
    end = theme_model.PASSAGE_END
    joined = " ".join(text + end for text in [english, japanese, english])
    tokens = tokenizer(joined)
    assert tokens[:3] == ["volunteer", "deliver", "meal"] and "サロン" in tokens
    assert tokens.count("volunteer") == 2
    assert tokenizer(english) == tokens[:5]
    calls = []
    monkeypatch.setattr(tokenizer, "_tokens", lambda text: calls.append(text) or [])
    assert tokenizer(f"{japanese}{end} {english}{end}") == [*tokenizer._passages[japanese], *tokens[:5]]
    assert calls == []  # both passages were tokenized before


def test_exact_neighbours_match_brute_force_with_duplicates_first_and_ties_by_index(monkeypatch):
    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((300, 12)).astype(np.float32)
    vectors[7] = vectors[3]  # a duplicate: each is the other's first neighbour after itself
    vectors[8] = 0.0  # an empty vector has no direction; it must not break the search
    indices, distances = exact_cosine_neighbours(vectors, 10)
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    similarity = unit @ unit.T
    assert indices.dtype == np.int32 and distances.dtype == np.float32 and indices.shape == (300, 10)
    assert (indices[:, 0] == np.arange(300)).all() and (distances[:, 0] == 0).all()
    assert indices[3, 1] == 7 and indices[7, 1] == 3 and distances[3, 1] < 1e-6
    for row in range(300):
        others = np.delete(np.arange(300), row)
        order = others[np.lexsort((others, -similarity[row, others]))][:9]
        assert list(indices[row, 1:]) == list(order) or np.allclose(
            np.sort(similarity[row, indices[row, 1:]]), np.sort(similarity[row, order]), atol=1e-6
        )
        assert np.allclose(distances[row, 1:], 1 - similarity[row, indices[row, 1:]], atol=1e-5)
    assert (np.diff(distances, axis=1) >= 0).all()
    # Blocks of 7 rows give the same neighbours as one block. The distances agree to float32
    # rounding only: BLAS may pick another kernel for another matrix shape (seen with OpenBLAS's
    # Haswell kernels), and a given corpus always gets the same blocks, so runs stay deterministic.
    monkeypatch.setattr(theme_model, "NEIGHBOUR_BLOCK_FLOATS", 7 * 300)
    again = exact_cosine_neighbours(vectors, 10)
    assert (again[0] == indices).all() and np.abs(again[1] - distances).max() <= 1e-6


def test_large_corpus_path_with_exact_neighbours_finds_the_themes(settings, monkeypatch):
    monkeypatch.setattr(theme_model, "EXACT_NEIGHBOURS_FROM", 50)
    texts, vectors = corpus(60, seed=1)
    large = settings.themes.model_copy(update={"method": "auto", "small_corpus": 10, "min_topic_size": 5})
    result = fit_themes(texts, vectors, large, set())
    assert result.method.startswith("UMAP") and len(set(result.topics)) == 3
    assert all(result.topics[i] == result.topics[i % 3] for i in range(60))


def test_tokenizer_keeps_compounds_drops_site_names_and_reads_japanese():
    tokenizer = LemmaTokenizer({"niihama", "minami"})
    assert tokenizer("The Niihama volunteers' co-production with non-members in Minami") == [
        "volunteer",
        "co-production",
        "non-member",
    ]
    japanese = tokenizer("新居浜のサロンでボランティアが活動しています。")
    assert "サロン" in japanese and "ボランティア" in japanese and "活動" in japanese


def test_a_negated_japanese_verb_keeps_its_negation():
    tokenizer = LemmaTokenizer(set())
    # 足りず ("not enough") must not become the lemma 足りる ("enough").
    assert tokenizer("職員が足りず困っている。") == ["職員", "足りない", "困る"]
    assert tokenizer("参加できませんでした。") == ["参加しない"]
    assert tokenizer("職員が足りている。") == ["職員", "足りる"]


def test_compare_writes_tables_figures_and_report(mini_corpus, tmp_path, shared_embedder):
    out = tmp_path / "out"
    runner = CliRunner()
    coded = runner.invoke(cli, ["code", str(mini_corpus), "--out", str(out)])
    assert coded.exit_code == 0, coded.output
    assert "Themes:" in coded.output and "report.html" in coded.output
    for name in ("code_by_site.csv", "topic_by_site.csv", "cooccurrence.csv", "themes.csv", "report.html"):
        assert (out / name).is_file(), name
    assert (out / "figures" / "code_by_site.png").is_file()
    with (out / "code_by_site.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["site"] for row in rows} == {"nagoya", "osaka", "niihama", "general"}
    assert len(rows) == 14 * 4
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "Codes by site" in report and "data:image/png;base64," in report
    themes_before = (out / "themes.csv").read_text(encoding="utf-8")
    rerun = runner.invoke(cli, ["code", str(mini_corpus), "--out", str(out)])
    assert rerun.exit_code == 0, rerun.output
    assert "themes reused" in rerun.output  # nothing changed: no refit
    assert (out / "themes.csv").read_text(encoding="utf-8") == themes_before
    note = mini_corpus / "osaka" / "clinic-notes.txt"
    note.write_text(
        note.read_text(encoding="utf-8") + "\nThe clinic also runs a Saturday walking group.\n", encoding="utf-8"
    )
    edited = runner.invoke(cli, ["code", str(mini_corpus), "--out", str(out)])
    assert edited.exit_code == 0 and "themes reused" not in edited.output
    again = runner.invoke(cli, ["compare", "--out", str(out), "--status", "accepted"])
    assert again.exit_code == 0, again.output
    assert "counting accepted suggestions" in again.output
    # One accepted decision does not switch the comparison to accepted ones only.
    from fieldnotes.store import Store

    with Store.open(out / "fieldnotes.db") as store:
        excerpt_id, code = store.connection.execute(
            "SELECT excerpt_id, code_id FROM suggestions WHERE status = 'suggested' LIMIT 1"
        ).fetchone()
        store.decisions.record(excerpt_id, code, "accepted", "aiko")
        standing = store.connection.execute("SELECT COUNT(*) FROM suggestions WHERE status = 'suggested'").fetchone()[0]
    auto = runner.invoke(cli, ["compare", "--out", str(out)])
    assert auto.exit_code == 0, auto.output
    assert "the 1 accepted and the still-unreviewed suggestions; rejected ones excluded" in auto.output
    with (out / "code_by_site.csv").open(encoding="utf-8") as handle:
        counted = sum(int(float(row["excerpts"])) for row in csv.DictReader(handle))
    assert counted > 1 and standing > 0


def test_compare_without_results_fails_clearly(tmp_path):
    result = CliRunner().invoke(cli, ["compare", "--out", str(tmp_path / "none")])
    assert result.exit_code == 1 and "no results database" in result.output


def test_tokenizer_takes_japanese_text_longer_than_sudachi_accepts():
    # BERTopic joins all passages of a theme into one text; Sudachi refuses more than 49,149 bytes.
    from fieldnotes.themes.model import LemmaTokenizer

    text = "組合員が班会で血圧を測り、地域の見守りについて話し合った。\n" * 2500
    assert len(text.encode("utf-8")) > 200_000
    tokens = LemmaTokenizer(set())(text)
    assert tokens.count("血圧") == 2500 and tokens.count("地域") == 2500


def test_a_theme_label_repeats_no_word_and_holds_only_phrases_its_passages_have():
    from fieldnotes.themes.model import label_terms

    passages = [
        "The han meetings began with tea. Members reported on their han meeting and the han leader spoke.",
        "Care workers described the workload of the night shift at the café.",
    ]
    terms = ["han meeting", "han leader", "meeting", "describe workload", "care worker", "night shift", "café"]
    assert label_terms(terms, passages) == ["han meeting", "care worker", "night shift", "café"]
    # Without passages to check against, only the repetition rule applies.
    assert label_terms(["staff", "staff council", "council"], []) == ["staff", "council"]


def test_accented_words_are_theme_words_whole():
    from fieldnotes.themes.tokenizer import LemmaTokenizer

    assert "café" in LemmaTokenizer(set())("The café opened next to the clinic.")


def test_passage_vectors_are_read_back_and_only_a_changed_passage_is_summed_again(
    coded_store, embedder, settings, tmp_path, monkeypatch
):
    import fieldnotes.embedding
    from fieldnotes.embedding import open_embedding_cache
    from fieldnotes.themes.run import passage_vectors

    store = coded_store
    passages = [dict(row) for row in store.corpus.active_passages()]
    saved = tmp_path / "cache" / "passage-vectors.npz"
    with open_embedding_cache(settings.embedding, store) as (cache, _):
        fresh, _ = passage_vectors(store, cache, embedder, passages)
        assert not saved.exists()
        first, _ = passage_vectors(store, cache, embedder, passages, saved)
        assert saved.is_file() and np.array_equal(first, fresh)

        summed: list[str] = []
        real = fieldnotes.embedding.embed_cached

        def counting(texts, *args, **kwargs):
            summed.extend(texts)
            return real(texts, *args, **kwargs)

        monkeypatch.setattr(fieldnotes.embedding, "embed_cached", counting)
        again, _ = passage_vectors(store, cache, embedder, passages, saved)
        assert summed == [] and np.array_equal(again, fresh)  # bit for bit, nothing read from the cache

        # A passage with other text (a new id, no excerpts yet): only it is embedded.
        changed = [dict(passages[0], passage_id="p-new", text="Volunteers cooked lunch for the han."), *passages[1:]]
        edited, _ = passage_vectors(store, cache, embedder, changed, saved)
        assert summed == ["Volunteers cooked lunch for the han."]
        assert np.array_equal(edited[1:], fresh[1:])
        assert np.isclose(np.linalg.norm(edited[0]), 1.0) and not np.allclose(edited[0], fresh[0])

        # A damaged file is derived data: computed again, the same vectors.
        saved.write_bytes(b"not a numpy file")
        summed.clear()
        rebuilt, _ = passage_vectors(store, cache, embedder, passages, saved)
        assert summed and np.array_equal(rebuilt, fresh)


def test_japanese_theme_words_survive_without_an_embedding_model(settings):
    texts = [
        "班会で血圧を測り、塩分の話をした。" if i % 2 else "訪問介護の職員が足りず、夜勤が続いた。" for i in range(12)
    ]
    vectors = np.random.default_rng(0).normal(size=(12, 8)).astype(np.float32)
    result = fit_themes(texts, vectors, settings.themes, set())  # no embedding model: BERTopic alone counts words
    words = {word for terms in result.words.values() for word in terms}
    assert words & {"血圧", "班会", "職員", "夜勤"}, result.words


def test_passages_in_two_languages_get_themes_from_the_cross_lingual_encoder(settings, shared_embedder):
    from fieldnotes.themes.run import ThemesReport, theme_embedder

    english = [{"language": "en"}] * 40
    japanese = [{"language": "ja"}] * settings.themes.min_topic_size
    report = ThemesReport()
    chosen = theme_embedder(settings, shared_embedder, english + japanese, report)
    assert chosen is shared_embedder.parts[1]  # USE multilingual, the pair's own part: loaded once
    assert "themes are fitted with" in report.notes[0] and "rather than by language" in report.notes[0]
    # One language, or too few passages in the second to form a theme: the run's own encoder.
    for passages in (english, english + japanese[1:]):
        assert theme_embedder(settings, shared_embedder, passages, ThemesReport()) is shared_embedder
    off = settings.model_copy(update={"embedding": settings.embedding.model_copy(update={"japanese_backend": ""})})
    assert theme_embedder(off, shared_embedder, english + japanese, ThemesReport()) is shared_embedder


def test_theme_words_drop_addresses_and_keep_compounds_and_data_as_written():
    tokens = LemmaTokenizer(set())(
        "Well-being, data-driven and health-related work by care-workers; data protection in the media. "
        "See https://doi.org/10.1016/j.socscimed.2016.01.001, www.example.org/report.pdf or info@coop.jp."
    )
    assert tokens == [
        "well-being",
        "data-driven",
        "health-related",
        "work",
        "care-worker",
        "data",
        "protection",
        "media",
    ]


def test_default_themes_stay_the_same_when_the_vectors_move_in_their_last_bits(settings):
    # Another CPU computes the same vectors up to their last bits; the default method must not care.
    texts, vectors = corpus(400, seed=4)
    vectors = vectors + np.random.default_rng(9).normal(scale=0.05, size=vectors.shape).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    first = fit_themes(texts, vectors, settings.themes, set())
    moved = vectors * (1 + np.random.default_rng(1).uniform(-3e-7, 3e-7, size=vectors.shape)).astype(np.float32)
    again = fit_themes(texts, moved, settings.themes, set())
    assert first.method.startswith("PCA(5) + k-means") and first.topics == again.topics


def test_a_set_number_of_themes_replaces_the_silhouette_choice(settings):
    texts, vectors = corpus(60, seed=2)
    chosen = fit_themes(texts, vectors, settings.themes, set())
    assert chosen.method == "PCA(5) + k-means (k=3, best silhouette)"
    five = fit_themes(texts, vectors, settings.themes.model_copy(update={"topics": 5}), set())
    assert five.method == "PCA(5) + k-means (k=5, [themes] topics)" and len(set(five.topics)) == 5
