"""The embedding cache is shared by every results folder of a user, and is only ever a cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fieldnotes import registry
from fieldnotes.pipeline import code_corpus
from fieldnotes.settings import Settings
from fieldnotes.store import Store


class CountingEmbedder:
    """Hashed-word vectors; counts every text it is asked to encode."""

    model_id = "counting-embedder@test"

    def __init__(self) -> None:
        self.encoded = 0

    def encode(self, texts):
        self.encoded += len(texts)
        vectors = np.full((len(texts), 16), 1e-3, dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                vectors[row, hash(word) % 16] += 1.0
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture
def counting():
    embedder = CountingEmbedder()
    with registry.embedders.temporarily("counting-test", lambda embedding_settings: embedder):
        yield embedder


def settings_with_cache(settings: Settings, cache_dir: Path) -> Settings:
    data = settings.model_dump(mode="json")
    data["embedding"].update(backend="counting-test", cache_dir=str(cache_dir))
    data["themes"]["enabled"] = False
    return Settings.model_validate(data)


def test_a_second_results_folder_encodes_nothing_already_cached(tmp_path, settings, mini_corpus, counting):
    chosen = settings_with_cache(settings, tmp_path / "cache")
    first = code_corpus(mini_corpus, tmp_path / "out-1", chosen)
    assert first.embedded == counting.encoded > first.excerpts  # the codebook's texts count too
    assert (tmp_path / "cache" / "embeddings.sqlite").is_file()
    before = counting.encoded
    second = code_corpus(mini_corpus, tmp_path / "out-2", chosen)
    assert second.embedded == 0 and counting.encoded == before
    assert sum(second.suggestions_by_code.values()) == sum(first.suggestions_by_code.values())
    with Store.open(tmp_path / "out-2" / "fieldnotes.db") as store:  # nothing kept in the folder itself
        assert store.embeddings.load(counting.model_id, []) == {}
        assert store.connection.execute("SELECT count(*) FROM embeddings").fetchone()[0] == 0


def test_an_unreadable_cache_file_is_set_aside_and_rebuilt(tmp_path, settings, mini_corpus, counting):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "embeddings.sqlite").write_bytes(b"not a database at all" * 100)
    report = code_corpus(mini_corpus, tmp_path / "out", settings_with_cache(settings, cache))
    assert report.excerpts and report.embedded == counting.encoded
    assert [p.name.split("-")[0] for p in cache.glob("embeddings.sqlite.unreadable-*")] == [
        "embeddings.sqlite.unreadable"
    ]


def test_a_cache_that_cannot_be_opened_falls_back_to_the_results_folder(tmp_path, settings, mini_corpus, counting):
    blocked = tmp_path / "a-file-not-a-folder"
    blocked.write_text("x")
    report = code_corpus(mini_corpus, tmp_path / "out", settings_with_cache(settings, blocked))
    assert any("embedding cache" in note and "cached in the results folder instead" in note for note in report.notes)
    with Store.open(tmp_path / "out" / "fieldnotes.db") as store:
        # One row per text and encoder: the counting backend's, and the default ensemble's USE.
        rows = store.connection.execute(
            "SELECT count(*) FROM embeddings WHERE model = ?", (counting.model_id,)
        ).fetchone()[0]
        assert rows == counting.encoded
