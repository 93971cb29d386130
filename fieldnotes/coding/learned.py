"""A suggester learned from labelled excerpts: one logistic regression per code on embeddings.

Its training data are the codebook's examples and counter-examples, the codebook's
reference excerpts (a labelled CSV that travels with the codebook), and, once
researchers review suggestions, their decisions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fieldnotes.codebook import Codebook
from fieldnotes.coding.suggest import Batch, Evidence, Prototypes

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


class LearnedSuggester:
    """Per-code logistic regressions on excerpt embeddings (class-balanced, L2, fixed solver)."""

    name = "learned"

    def __init__(self, codebook: Codebook, training: TrainingSet, c: float = 4.0) -> None:
        import numpy as np
        from sklearn.linear_model import LogisticRegression

        self.codebook = codebook
        self.models: list[LogisticRegression | None] = []
        for column in range(len(codebook.codes)):
            known = training.labels[:, column] >= 0
            y = training.labels[known, column]
            if y.min(initial=1) == y.max(initial=0) or len(np.unique(y)) < 2:
                self.models.append(None)  # no positives or no negatives: nothing to learn
                continue
            model = LogisticRegression(C=c, max_iter=2000, class_weight="balanced")
            model.fit(training.vectors[known], y)
            self.models.append(model)

    def evidence(self, batch: Batch) -> Evidence:
        import numpy as np

        n, k = len(batch.texts), len(self.codebook.codes)
        learned = np.zeros((n, k), dtype=np.float32)
        if n:
            for column, model in enumerate(self.models):
                if model is not None:
                    learned[:, column] = model.predict_proba(batch.vectors)[:, 1]
        return Evidence({"learned": learned})
