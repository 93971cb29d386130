"""Suggesters and their calibrated combination.

Each suggester turns a batch of excerpts into named evidence per (excerpt, code):
numbers for the combiner and words for the rationale. The combiner is a logistic
regression over those numbers with one set of weights shared by all codes, fitted
on a labelled development set (`fieldnotes calibrate`), so its output is a
probability-like score in [0, 1] whatever the codebook.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from fieldnotes.codebook import Codebook
from fieldnotes.errors import FieldnotesError

if TYPE_CHECKING:
    import numpy as np

    from fieldnotes.coding.learned import TrainingSet


@dataclass
class Batch:
    """What suggesters see: excerpt texts and their embeddings (unit vectors)."""

    texts: Sequence[str]
    vectors: np.ndarray


@dataclass
class Evidence:
    """Feature columns (each shaped excerpts x codes) and per-cell explanations."""

    features: dict[str, np.ndarray]
    matched_terms: list[dict[str, list[str]]] = field(default_factory=list)
    best_example: np.ndarray | None = None  # index into each code's examples, excerpts x codes

    def rows(self, indices: Sequence[int]) -> Evidence:
        """The evidence of these excerpts (rows), in this order."""
        return Evidence(
            {name: values[list(indices)] for name, values in self.features.items()},
            [self.matched_terms[i] for i in indices] if self.matched_terms else [],
            self.best_example[list(indices)] if self.best_example is not None else None,
        )


class Suggester(Protocol):
    name: str

    def evidence(self, batch: Batch) -> Evidence: ...


@dataclass(frozen=True)
class SuggesterContext:
    """What a suggester may be built from: the codebook, its embedded prototypes, labelled
    training rows (reference excerpts and reviewed decisions; None when there are none) and a
    folder where it may keep fitted state between runs (None: keep nothing); `shared_cache_dir`:
    a folder every results folder shares, for fitted state keyed by all of its inputs (so a new
    results folder with the same codebook fits nothing)."""

    codebook: Codebook
    prototypes: Prototypes
    training: TrainingSet | None = None
    cache_dir: Path | None = None
    shared_cache_dir: Path | None = None


class SuggesterFactory(Protocol):
    """What the suggester registry holds (see fieldnotes.registry): a class, or any object, with
    the names of the evidence columns it gives and a way to build it for one codebook."""

    # Evidence columns, each excerpts x codes, in the order the combiner is calibrated on.
    features: tuple[str, ...]
    # Whether a cell's matched terms alone credit this suggester in `suggested_by`.
    credited_by_terms: bool

    def build(self, context: SuggesterContext) -> Suggester: ...


class RuleSuggester:
    """Codebook patterns: lemma phrases, spaCy token patterns, regexes."""

    name = "rules"
    features = ("rule",)
    credited_by_terms = True

    @classmethod
    def build(cls, context: SuggesterContext) -> RuleSuggester:
        return cls(context.codebook)

    def __init__(self, codebook: Codebook) -> None:
        from fieldnotes.coding.rules import RuleMatcher

        self.codebook = codebook
        self.matcher = RuleMatcher(codebook)

    def evidence(self, batch: Batch) -> Evidence:
        import numpy as np

        terms = self.matcher.match(list(batch.texts))
        hits = np.zeros((len(batch.texts), len(self.codebook.codes)), dtype=np.float32)
        for row, found in enumerate(terms):
            for column, code in enumerate(self.codebook.codes):
                if code.id in found:
                    hits[row, column] = 1.0
        return Evidence({"rule": hits}, matched_terms=terms)


@dataclass
class Prototypes:
    """Embeddings of each code's definition, examples and counter-examples, and of its include
    and exclude rules (positive and negative prototypes for the label-free scorer)."""

    definitions: np.ndarray  # codes x dim
    examples: list[np.ndarray]  # per code: n_examples x dim
    counters: list[np.ndarray]  # per code: n_counter x dim (may be empty)
    includes: list[np.ndarray] = field(default_factory=list)  # per code: n_include x dim (may be empty)
    excludes: list[np.ndarray] = field(default_factory=list)  # per code: n_exclude x dim (may be empty)

    @classmethod
    def build(cls, codebook: Codebook, embed) -> Prototypes:
        """`embed` maps a list of texts to unit vectors (cached by the caller). Rules are embedded
        in a second batch, so the definitions' and examples' vectors do not depend on them."""
        texts: list[str] = []
        spans = []
        for code in codebook.codes:
            start = len(texts)
            texts.append(f"{code.name}: {code.definition}")
            texts.extend(code.examples)
            middle = len(texts)
            texts.extend(code.counter_examples)
            spans.append((start, middle, len(texts)))
        vectors = embed(texts)
        rules: list[str] = []
        rule_spans = []
        for code in codebook.codes:
            start = len(rules)
            rules.extend(code.include)
            middle = len(rules)
            rules.extend(code.exclude)
            rule_spans.append((start, middle, len(rules)))
        rule_vectors = embed(rules) if rules else vectors[:0]
        return cls(
            definitions=vectors[[start for start, _, _ in spans]],
            examples=[vectors[start + 1 : middle] for start, middle, _ in spans],
            counters=[vectors[middle:end] for _, middle, end in spans],
            includes=[rule_vectors[start:middle] for start, middle, _ in rule_spans],
            excludes=[rule_vectors[middle:end] for _, middle, end in rule_spans],
        )


class SemanticSuggester:
    """Similarity of each excerpt to each code's definition, examples and counter-examples.

    Besides the calibrated columns (`features`) it gives `positive_max` and `negative_max`: the
    cosine to the nearest positive prototype (definition, examples, include rules) and negative
    one (counter-examples, exclude rules; -1 when the code has none), for the label-free scorer."""

    name = "semantic"
    features = ("example_max", "example_top3", "definition", "counter_max", "margin")
    credited_by_terms = False

    @classmethod
    def build(cls, context: SuggesterContext) -> SemanticSuggester:
        return cls(context.codebook, context.prototypes)

    def __init__(self, codebook: Codebook, prototypes: Prototypes) -> None:
        self.codebook = codebook
        self.prototypes = prototypes

    def evidence(self, batch: Batch) -> Evidence:
        import numpy as np

        n, k = len(batch.texts), len(self.codebook.codes)
        example_max = np.zeros((n, k), dtype=np.float32)
        example_top3 = np.zeros((n, k), dtype=np.float32)
        counter_max = np.zeros((n, k), dtype=np.float32)
        best = np.full((n, k), -1, dtype=np.int64)
        definition = batch.vectors @ self.prototypes.definitions.T if n else np.zeros((0, k), dtype=np.float32)
        for column in range(k):
            examples = self.prototypes.examples[column]
            if len(examples) and n:
                sims = batch.vectors @ examples.T
                example_max[:, column] = sims.max(axis=1)
                best[:, column] = sims.argmax(axis=1)
                top = np.sort(sims, axis=1)[:, -3:]
                example_top3[:, column] = top.mean(axis=1)
            else:
                example_max[:, column] = definition[:, column]
                example_top3[:, column] = definition[:, column]
            counters = self.prototypes.counters[column]
            if len(counters) and n:
                counter_max[:, column] = (batch.vectors @ counters.T).max(axis=1)
        # How far this code stands out from the excerpt's best other code.
        margin = np.zeros_like(example_max)
        if k > 1 and n:
            for column in range(k):
                others = np.delete(example_max, column, axis=1).max(axis=1)
                margin[:, column] = example_max[:, column] - others
        positive_max = np.maximum(example_max, definition).astype(np.float32)
        negative_max = np.full((n, k), -1.0, dtype=np.float32)
        for column in range(k):
            if self.prototypes.includes and len(self.prototypes.includes[column]) and n:
                includes = self.prototypes.includes[column]
                nearest = (batch.vectors @ includes.T).max(axis=1)
                positive_max[:, column] = np.maximum(positive_max[:, column], nearest)
            negatives = [self.prototypes.counters[column]]
            if self.prototypes.excludes:
                negatives.append(self.prototypes.excludes[column])
            negatives = [v for v in negatives if len(v)]
            if negatives and n:
                negative_max[:, column] = (batch.vectors @ np.vstack(negatives).T).max(axis=1)
        features = {
            "example_max": example_max,
            "example_top3": example_top3,
            "definition": definition.astype(np.float32),
            "counter_max": counter_max,
            "margin": margin,
            "positive_max": positive_max,
            "negative_max": negative_max,
        }
        return Evidence(features, best_example=best)


class CalibrationError(FieldnotesError):
    """A calibration file is missing, unreadable or does not fit the suggesters."""


class Scorer(Protocol):
    """Turns evidence into one score per (excerpt, code) in [0, 1], suggested from `threshold` up:
    a codebook's own fitted Calibration, or the label-free RankedScorer
    (fieldnotes.coding.ranked) for a codebook without one."""

    kind: str  # "calibrated" or "ranked"
    threshold: float
    model: str
    fitted_on: dict

    @property
    def prepared(self) -> bool: ...

    def prepare(self, evidence: dict[str, np.ndarray]) -> None: ...

    def score(self, evidence: dict[str, np.ndarray]) -> np.ndarray: ...

    def lifts(self, components: dict[str, float]) -> dict[str, float]: ...

    def description(self) -> str: ...


@dataclass
class Calibration:
    """Weights of the shared logistic combiner, and the threshold that goes with them."""

    features: list[str]
    mean: list[float]
    scale: list[float]
    weights: list[float]
    bias: float
    threshold: float
    model: str
    fitted_on: dict = field(default_factory=dict)

    def score(self, evidence: dict[str, np.ndarray]) -> np.ndarray:
        import numpy as np

        missing = [name for name in self.features if name not in evidence]
        if missing:
            raise CalibrationError(
                f"the calibration needs evidence {missing} that the chosen suggesters do not give; "
                "enable those suggesters or re-calibrate with `fieldnotes calibrate`"
            )
        z = np.full(next(iter(evidence.values())).shape, self.bias, dtype=np.float64)
        for name, mean, scale, weight in zip(self.features, self.mean, self.scale, self.weights, strict=True):
            z += weight * (evidence[name] - mean) / scale
        return 1.0 / (1.0 + np.exp(-z))

    kind = "calibrated"
    prepared = True

    def prepare(self, evidence: dict[str, np.ndarray]) -> None:
        """Nothing to do: a fitted calibration does not depend on the run's excerpts."""

    def lifts(self, components: dict[str, float]) -> dict[str, float]:
        """Each feature's contribution to the linear score of one cell, against the fitted mean."""
        return {
            name: weight * (components[name] - mean) / scale
            for name, mean, scale, weight in zip(self.features, self.mean, self.scale, self.weights, strict=True)
            if name in components
        }

    def description(self) -> str:
        fitted = self.fitted_on
        where = fitted.get("reference", "a reference set")
        return f"calibration fitted on {where} ({fitted.get('excerpts', '?')} excerpts)"

    def save(self, path: Path) -> None:
        payload = {key: getattr(self, key) for key in self.__dataclass_fields__}
        path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Calibration:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            return cls(**data)
        except FileNotFoundError:
            raise CalibrationError(f"{path}: calibration file not found; run `fieldnotes calibrate`") from None
        except (OSError, ValueError, TypeError) as exc:
            raise CalibrationError(f"{path}: not a fieldnotes calibration file ({exc})") from None


def fit_calibration(
    evidence: dict[str, np.ndarray], labels: np.ndarray, features: Sequence[str], model: str, min_recall: float = 0.7
) -> Calibration:
    """Fit the shared combiner on labelled (excerpt, code) cells, then choose the threshold
    that maximises micro-F1 with recall of at least `min_recall`."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    columns = [evidence[name].reshape(-1).astype(np.float64) for name in features]
    x = np.stack(columns, axis=1)
    y = labels.reshape(-1).astype(int)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    model_fit = LogisticRegression(C=1.0, max_iter=1000)
    model_fit.fit((x - mean) / scale, y)
    calibration = Calibration(
        features=list(features),
        mean=mean.tolist(),
        scale=scale.tolist(),
        weights=model_fit.coef_[0].tolist(),
        bias=float(model_fit.intercept_[0]),
        threshold=0.5,
        model=model,
    )
    scores = calibration.score(evidence).reshape(-1)
    calibration.threshold = choose_threshold(scores, y, min_recall)
    return calibration


def choose_threshold(scores: np.ndarray, truth: np.ndarray, min_recall: float) -> float:
    """The threshold with the best micro-F1 among those that keep recall >= min_recall."""
    import numpy as np

    best_threshold, best_f1 = 0.5, -1.0
    positives = max(int(truth.sum()), 1)
    for threshold in np.round(np.arange(0.05, 0.951, 0.01), 2):
        predicted = scores >= threshold
        tp = int((predicted & (truth == 1)).sum())
        recall = tp / positives
        precision = tp / max(int(predicted.sum()), 1)
        f1 = 0.0 if tp == 0 else 2 * precision * recall / (precision + recall)
        if recall >= min_recall and f1 > best_f1:
            best_threshold, best_f1 = float(threshold), f1
    return best_threshold if best_f1 >= 0 else 0.5


def rationale(
    matched: list[str], example: str | None, example_sim: float, components: dict[str, float], score: float
) -> str:
    """One readable line: what matched, which codebook example it resembles, the scores."""
    parts = []
    if matched:
        parts.append("matched " + ", ".join(f"'{term}'" for term in matched))
    if example is not None and not math.isnan(example_sim):
        parts.append(f'resembles example "{example}" ({example_sim:.2f})')
    detail = ", ".join(f"{name} {value:.2f}" for name, value in components.items())
    parts.append(f"score {score:.2f} ({detail})")
    return "; ".join(parts)
