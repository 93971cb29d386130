"""The sentence-transformers model run by ONNX Runtime: the same weights and the same vectors
(cosine >= 0.999 to the torch model's, checked when the model is exported), about twice as fast
on a laptop CPU, and a run that only encodes never imports torch.

The ONNX file is made once per model, on first use, from the installed weights (torch and the
`onnx` package do the export, in a child process, so even that run never holds torch in memory)
and kept in the user cache beside the embedding cache, under a name derived from the model id.
Nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import TYPE_CHECKING

from fieldnotes.embedding import SAME_VECTORS_SUFFIX, ModelError, _TimedEmbedder, resolve_model
from fieldnotes.files import atomic_path
from fieldnotes.timing import encoder_progress_wanted

if TYPE_CHECKING:
    import numpy as np

    from fieldnotes.settings import EmbeddingSettings

# Bump when the export recipe changes what the file computes: old files are then made anew.
EXPORT_RECIPE = 1
OPSET = 17
MIN_COSINE = 0.999  # the exported model must reproduce the torch model's vectors this closely
MODELS_FOLDER = "models"

# Sentences of different lengths and scripts that an export must reproduce, including one past
# the model's length limit (truncation) and an empty text (only the special tokens).
PROBE_TEXTS = (
    "",
    "Members meet every month.",
    "The cooperative's staff visit older residents who live alone and report back to the han group.",
    "I would like to consider co-production as more of a collective process through which many "
    "stakeholders work for their own benefit, and that of their neighbours, over many years.",
    "班会では、組合員が健康チェックの結果を持ち寄って話し合います。",
    "Niihama, Osaka, Nagoya: three sites, one survey (2019–2021).",
    " ".join(["Volunteers cook, deliver meals and keep an eye on each other."] * 40),
)


@dataclass(frozen=True)
class _Pipeline:
    """What the sentence-transformers folder says happens after the transformer."""

    max_seq_length: int
    pooling: str  # "mean" or "cls"


def _read_pipeline(folder: Path) -> _Pipeline:
    """The model's modules (transformer, pooling, normalise), or a ModelError naming what this
    backend cannot run."""
    fallback = 'set [embedding] backend = "sentence-transformers" to run it with torch'
    if not (folder / "tokenizer.json").is_file():
        raise ModelError(f"the model in {folder} has no tokenizer.json, which the onnx backend needs; {fallback}")
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        kinds = [str(module["type"]).rsplit(".", 1)[-1] for module in modules]
        pooling_path = next(str(module["path"]) for module in modules if str(module["type"]).endswith("Pooling"))
        pooling = json.loads((folder / pooling_path / "config.json").read_text(encoding="utf-8"))
        bert_config = folder / "sentence_bert_config.json"
        max_seq_length = int(json.loads(bert_config.read_text(encoding="utf-8")).get("max_seq_length") or 512)
    except (OSError, ValueError, KeyError, TypeError, StopIteration) as exc:
        raise ModelError(f"cannot read the sentence-transformers modules in {folder} ({exc}); {fallback}") from None
    if kinds[:2] != ["Transformer", "Pooling"] or set(kinds[2:]) - {"Normalize"}:
        raise ModelError(
            f"the model in {folder} has modules {kinds}; the onnx backend runs Transformer, Pooling "
            f"and Normalize only; {fallback}"
        )
    modes = [
        mode
        for mode in (
            "mean_tokens",
            "cls_token",
            "max_tokens",
            "mean_sqrt_len_tokens",
            "weightedmean_tokens",
            "lasttoken",
        )
        if pooling.get(f"pooling_mode_{mode}")
    ]
    if modes == ["mean_tokens"]:
        return _Pipeline(max_seq_length, "mean")
    if modes == ["cls_token"]:
        return _Pipeline(max_seq_length, "cls")
    raise ModelError(f"the model in {folder} pools by {modes}; the onnx backend pools by mean or cls only; {fallback}")


def exported_model_path(models_folder: Path, source_id: str) -> Path:
    """Where the ONNX file of the model `source_id` is kept (a name fit for any file system)."""
    digest = hashlib.sha256(f"{source_id} recipe {EXPORT_RECIPE} opset {OPSET}".encode()).hexdigest()[:16]
    stem = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in source_id.split("==")[0].split("@")[0])
    return models_folder / f"{stem[:60]}-{digest}.onnx"


def _pool(hidden: np.ndarray, mask: np.ndarray, pooling: str) -> np.ndarray:
    import numpy as np

    if pooling == "cls":
        vectors = hidden[:, 0, :]
    else:
        weights = mask[..., None].astype(np.float32)
        vectors = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def _tokenizer(folder: Path, max_seq_length: int):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.enable_truncation(max_seq_length)
    pad_id = tokenizer.token_to_id("[PAD]")
    if pad_id is None:
        pad_id = tokenizer.token_to_id("<pad>") or 0
    tokenizer.enable_padding(pad_id=pad_id, pad_token=tokenizer.id_to_token(pad_id) or "[PAD]")
    return tokenizer


def _session(path: Path, threads: int):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # warnings about unused initialisers are not the user's concern
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _run(session, tokenizer, texts: Sequence[str], pooling: str) -> np.ndarray:
    """Vectors of one batch, as sentence-transformers computes them (texts stripped, padded to
    the longest, truncated at the model's limit)."""
    import numpy as np

    encodings = tokenizer.encode_batch([text.strip() for text in texts])
    ids = np.array([encoding.ids for encoding in encodings], dtype=np.int64)
    mask = np.array([encoding.attention_mask for encoding in encodings], dtype=np.int64)
    feeds = {"input_ids": ids, "attention_mask": mask}
    if "token_type_ids" in {item.name for item in session.get_inputs()}:
        feeds["token_type_ids"] = np.zeros_like(ids)
    hidden = session.run(None, feeds)[0]
    return _pool(hidden, mask, pooling)


def export_model(folder: Path, source_id: str, target: Path, pipeline: _Pipeline, threads: int) -> float:
    """Export the model in `folder` to `target` with torch and check that ONNX Runtime gives the
    torch model's vectors (min cosine over PROBE_TEXTS >= MIN_COSINE). Returns that cosine."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as scratch:  # another run sees the whole file or none
            scratch.touch(exist_ok=False)  # first, so that an unwritable folder is found before torch loads
            return _export(folder, source_id, scratch, pipeline, threads)
    except OSError as exc:
        raise _unwritable(target, exc) from None


def _unwritable(target: Path, exc: OSError) -> ModelError:
    return ModelError(
        f"cannot write the ONNX model to {target.parent} ({exc}); set [embedding] cache_dir to a "
        'writable folder, or backend = "sentence-transformers"'
    )


def _export(folder: Path, source_id: str, scratch: Path, pipeline: _Pipeline, threads: int) -> float:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import onnx
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers import AutoModel
        from transformers.utils import logging as transformers_logging
    except ImportError as exc:
        raise ModelError(
            f"exporting the model to ONNX needs torch, transformers and onnx ({exc}); "
            'install them or set [embedding] backend = "sentence-transformers"'
        ) from None
    import numpy as np

    transformers_logging.disable_progress_bar()
    try:
        transformer = AutoModel.from_pretrained(str(folder), local_files_only=True, attn_implementation="eager").eval()
        reference = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    except Exception as exc:  # a damaged model folder raises many kinds of error
        raise ModelError(f"cannot load the embedding model from {folder} ({exc})") from None
    tokenizer = _tokenizer(folder, pipeline.max_seq_length)
    input_names = ["input_ids", "attention_mask"]
    if "token_type_ids" in reference.tokenizer.model_input_names:
        input_names.append("token_type_ids")

    class LastHiddenState(torch.nn.Module):
        def __init__(self, model) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs):
            return self.model(**dict(zip(input_names, inputs, strict=True))).last_hidden_state

    # A padded example batch, so that tracing keeps the attention mask's path.
    example = tokenizer.encode_batch(["a short one", "a somewhat longer example sentence for the trace"])
    ids = torch.tensor([encoding.ids for encoding in example], dtype=torch.long)
    mask = torch.tensor([encoding.attention_mask for encoding in example], dtype=torch.long)
    inputs = (ids, mask, torch.zeros_like(ids))[: len(input_names)]
    axes = {name: {0: "batch", 1: "tokens"} for name in [*input_names, "last_hidden_state"]}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer and deprecation warnings about the export itself
        torch.onnx.export(
            LastHiddenState(transformer),
            inputs,
            str(scratch),
            dynamo=False,
            input_names=input_names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=OPSET,
            do_constant_folding=True,
        )
    session = _session(scratch, threads)
    exported = _run(session, tokenizer, PROBE_TEXTS, pipeline.pooling)
    expected = reference.encode(list(PROBE_TEXTS), normalize_embeddings=True, convert_to_numpy=True)
    cosine = float(np.min(np.sum(exported * expected, axis=1)))
    if not cosine >= MIN_COSINE:
        raise ModelError(
            f"the ONNX export of {source_id} does not reproduce the torch model (lowest cosine "
            f'{cosine:.4f} < {MIN_COSINE}); set [embedding] backend = "sentence-transformers"'
        )
    model = onnx.load(str(scratch))
    onnx.helper.set_model_props(
        model,
        {
            "fieldnotes_source": source_id,
            "fieldnotes_recipe": str(EXPORT_RECIPE),
            "fieldnotes_min_cosine_to_torch": f"{cosine:.7f}",
            "torch": importlib_metadata.version("torch"),
        },
    )
    onnx.save(model, str(scratch))
    return cosine


class OnnxEmbedder(_TimedEmbedder):
    """A sentence-transformers model folder (or weights package) run by ONNX Runtime on the CPU.
    Its model id ends in "+onnx", so its vectors are cached apart from the torch backend's; its
    vectors are the torch model's (checked at export), so the torch model's calibrations hold."""

    def __init__(self, model: str, models_folder: Path, batch_size: int = 64, threads: int | None = None) -> None:
        super().__init__()
        self.folder, self.source_id = resolve_model(model)
        self.model_id = self.source_id + SAME_VECTORS_SUFFIX  # torch's calibrations hold (embedding.vector_space)
        self.pipeline = _read_pipeline(self.folder)
        self.path = exported_model_path(models_folder, self.source_id)
        self.batch_size = batch_size
        available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        self.threads = threads or min(available, 8)
        self.exported_now = False

    def _build(self):
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            raise ModelError(
                "onnxruntime is not installed (pip install onnxruntime); or set [embedding] backend = "
                '"sentence-transformers"'
            ) from None
        if not self.path.is_file():
            self._export()
        try:
            session = _session(self.path, self.threads)
        except Exception as exc:  # a truncated or foreign file: make it anew once
            if self.exported_now:
                raise ModelError(f"cannot load the ONNX model {self.path} ({exc})") from None
            self.path.unlink(missing_ok=True)
            self._export()
            session = _session(self.path, self.threads)
        return session, _tokenizer(self.folder, self.pipeline.max_seq_length)

    def _export(self) -> None:
        if encoder_progress_wanted():  # at a terminal: say why this run pauses once
            print(
                f"preparing the embedding model for ONNX Runtime, once (about 10 s; kept in {self.path.parent})",
                file=sys.stderr,
                flush=True,
            )
        export_in_child(self.folder, self.source_id, self.path, self.threads)
        self.exported_now = True

    def _vectors(self, model, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        session, tokenizer = model
        # Sorting by length cuts padding; the original order is restored below.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        starts = range(0, len(order), self.batch_size)
        if encoder_progress_wanted() and len(starts) > 4:
            from tqdm import tqdm

            starts = tqdm(starts, desc="Batches", unit="batch")
        result = np.empty((len(texts), session.get_outputs()[0].shape[-1]), dtype=np.float32)
        for start in starts:
            batch = order[start : start + self.batch_size]
            result[batch] = _run(session, tokenizer, [texts[i] for i in batch], self.pipeline.pooling)
        return result


# The child's exit status when it refused with a ModelError (its message is its last line on stderr).
_MODEL_ERROR_EXIT = 3


def export_in_child(folder: Path, source_id: str, target: Path, threads: int) -> None:
    """`export_model` in a child Python process: torch, transformers and onnx take several
    hundred MB that a run would otherwise keep to its end (at 50,000 passages the first run
    peaked at 2.2 GB instead of 1.8 GB). Its ModelError is raised here with the same message."""
    import subprocess

    command = [sys.executable, "-m", "fieldnotes.embedding_onnx", str(folder), source_id, str(target), str(threads)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode == 0:
        return
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    if done.returncode == _MODEL_ERROR_EXIT and lines:
        raise ModelError(lines[-1])
    detail = lines[-1] if lines else f"exit status {done.returncode}"
    raise ModelError(
        f'exporting {source_id} to ONNX failed ({detail}); or set [embedding] backend = "sentence-transformers"'
    )


def _export_main(argv: Sequence[str]) -> int:
    """python -m fieldnotes.embedding_onnx FOLDER SOURCE_ID TARGET THREADS (see export_in_child)."""
    folder, source_id, target, threads = argv
    try:
        export_model(Path(folder), source_id, Path(target), _read_pipeline(Path(folder)), int(threads))
    except ModelError as exc:
        print(str(exc).replace("\n", " "), file=sys.stderr)
        return _MODEL_ERROR_EXIT
    return 0


def onnx_backend(settings: EmbeddingSettings) -> OnnxEmbedder:
    """The registered "onnx" backend (fieldnotes.registry.embedders): `[embedding] model` run by
    ONNX Runtime, exported into `models/` beside the embedding cache."""
    from fieldnotes.workspace import embedding_cache_path

    return OnnxEmbedder(settings.model, embedding_cache_path(settings).parent / MODELS_FOLDER, settings.batch_size)


if __name__ == "__main__":
    sys.exit(_export_main(sys.argv[1:]))
