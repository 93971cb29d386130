"""A suggester learned from labelled excerpts: one logistic regression per code on embeddings.

Its training data are the codebook's examples and counter-examples, the codebook's
reference excerpts (a labelled CSV that travels with the codebook), and, once
researchers review suggestions, their decisions.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fieldnotes.codebook import Codebook
from fieldnotes.coding.suggest import Batch, Evidence, Prototypes, SuggesterContext

if TYPE_CHECKING:
    import numpy as np


@dataclass
class TrainingSet:
    vectors: np.ndarray  # n x dim
    labels: np.ndarray  # n x codes; 1 positive, 0 negative, -1 unknown for that code


def codebook_training(codebook: Codebook, prototypes: Prototypes) -> TrainingSet:
    """Each example is positive for its code and negative for the others; a counter-example
    is negative for its code and says nothing about the rest."""
    import numpy as np

    k = len(codebook.codes)
    rows, labels = [], []
    for column in range(k):
        for vector in prototypes.examples[column]:
            row = np.zeros(k, dtype=np.int8)
            row[column] = 1
            rows.append(vector)
            labels.append(row)
        for vector in prototypes.counters[column]:
            row = np.full(k, -1, dtype=np.int8)
            row[column] = 0
            rows.append(vector)
            labels.append(row)
    dim = prototypes.definitions.shape[1]
    return TrainingSet(
        np.array(rows, dtype=np.float32).reshape(-1, dim), np.array(labels, dtype=np.int8).reshape(-1, k)
    )


def merge(*sets: TrainingSet) -> TrainingSet:
    import numpy as np

    present = [s for s in sets if len(s.vectors)]
    return TrainingSet(np.vstack([s.vectors for s in present]), np.vstack([s.labels for s in present]))


LEARNED_CACHE_PREFIX = "learned-"
# Weights files kept in a results folder's cache: one run may build several learned suggesters
# (English and Japanese excerpts are scored in two vector spaces; a folder may hold several
# codebooks), and each must find its own weights in the next run.
LEARNED_CACHE_KEEP = 8
LEARNED_SHARED_FOLDER = "learned"  # in the user cache: weights any results folder may reuse


class LearnedSuggester:
    """Per-code logistic regressions on excerpt embeddings (class-balanced, L2, fixed solver).

    With `cache_dir`, the fitted weights are kept there under a digest of the training data,
    the regularisation and scikit-learn's version: a re-run with the same training data (an
    edited document, no new decisions) reads them instead of importing scikit-learn and fitting
    again. With `shared_cache_dir` too, they are also looked for and kept there, so a new
    results folder with the same training data (the same codebook and reference set) reads them.
    Scoring is the logistic function of the linear score, computed with numpy, as
    scikit-learn's `predict_proba` computes it.
    """

    name = "learned"
    features = ("learned",)
    credited_by_terms = False

    @classmethod
    def build(cls, context: SuggesterContext) -> LearnedSuggester:
        """Trained on the codebook's examples, plus the context's labelled rows when there are any."""
        base = codebook_training(context.codebook, context.prototypes)
        training = merge(base, context.training) if context.training else base
        return cls(context.codebook, training, cache_dir=context.cache_dir, shared_cache_dir=context.shared_cache_dir)

    def __init__(
        self,
        codebook: Codebook,
        training: TrainingSet,
        c: float = 4.0,
        cache_dir: Path | None = None,
        shared_cache_dir: Path | None = None,
    ) -> None:
        self.codebook = codebook
        k, dim = len(codebook.codes), training.vectors.shape[1]
        name = f"{LEARNED_CACHE_PREFIX}{_training_digest(training, c)}.npz"
        places = [Path(folder) / name for folder in (cache_dir, shared_cache_dir) if folder]
        weights, missing = None, []
        for place in places:
            weights = _read_weights(place, k, dim)
            if weights is not None:
                break
            missing.append(place)
        if weights is None:
            weights = _fit_weights(training, k, c)
        # Every place that had no readable copy gets one, and so does a later one without any.
        missing += [place for place in places[len(missing) + 1 :] if not place.is_file()]
        for place in missing:
            _write_weights(place, weights)
        self.coefficients, self.intercepts, self.fitted = weights

    def evidence(self, batch: Batch) -> Evidence:
        import numpy as np

        n, k = len(batch.texts), len(self.codebook.codes)
        learned = np.zeros((n, k), dtype=np.float32)
        if n:
            for column in np.flatnonzero(self.fitted):
                linear = batch.vectors @ self.coefficients[column] + self.intercepts[column]
                learned[:, column] = 1.0 / (1.0 + np.exp(-linear))
        return Evidence({"learned": learned})


Weights = tuple["np.ndarray", "np.ndarray", "np.ndarray"]  # coefficients k x dim, intercepts k, fitted k


def _fit_weights(training: TrainingSet, k: int, c: float) -> Weights:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    dim = training.vectors.shape[1]
    coefficients = np.zeros((k, dim), dtype=np.float64)
    intercepts = np.zeros(k, dtype=np.float64)
    fitted = np.zeros(k, dtype=bool)
    for column in range(k):
        known = training.labels[:, column] >= 0
        y = training.labels[known, column]
        if len(np.unique(y)) < 2:
            continue  # no positives or no negatives: nothing to learn
        model = LogisticRegression(C=c, max_iter=2000, class_weight="balanced")
        model.fit(training.vectors[known], y)
        coefficients[column] = model.coef_[0]
        intercepts[column] = model.intercept_[0]
        fitted[column] = True
    return coefficients, intercepts, fitted


def _training_digest(training: TrainingSet, c: float) -> str:
    import hashlib

    from fieldnotes.resources import installed_version

    digest = hashlib.sha256()
    version = installed_version("scikit-learn")
    digest.update(f"{c!r}\0{version}\0{training.vectors.shape}\0{training.labels.shape}\0".encode())
    digest.update(training.vectors.astype("<f4").tobytes())
    digest.update(training.labels.astype("i1").tobytes())
    return digest.hexdigest()[:32]


def _read_weights(path: Path, k: int, dim: int) -> Weights | None:
    """The cached weights, or None when there are none or they do not fit (a damaged file is
    fitted again, never trusted)."""
    import zipfile

    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as data:
            weights = (data["coefficients"], data["intercepts"], data["fitted"])
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        return None
    coefficients, intercepts, fitted = weights
    if coefficients.shape != (k, dim) or intercepts.shape != (k,) or fitted.shape != (k,) or fitted.dtype != bool:
        return None
    if not np.isfinite(coefficients).all() or not np.isfinite(intercepts).all():
        return None
    with contextlib.suppress(OSError):  # a read-only folder keeps its files anyway
        os.utime(path)  # in use: kept when other weights are written (_write_weights)
    return weights


def _write_weights(path: Path, weights: Weights) -> None:
    """Saved atomically; of the other weights in the folder, the LEARNED_CACHE_KEEP - 1 used most
    recently are kept and older ones removed."""
    import numpy as np

    from fieldnotes.files import atomic_path

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp, tmp.open("xb") as handle:
            np.savez(handle, coefficients=weights[0], intercepts=weights[1], fitted=weights[2])
        others = [old for old in path.parent.glob(f"{LEARNED_CACHE_PREFIX}*.npz") if old != path]
        others.sort(key=lambda old: old.stat().st_mtime, reverse=True)
        for old in others[LEARNED_CACHE_KEEP - 1 :]:
            old.unlink(missing_ok=True)
    except OSError:
        pass  # a cache that cannot be written costs the next run a fit, nothing else
