"""Label-free scoring for a codebook that has no calibration of its own.

A fitted combiner (fieldnotes.coding.suggest.Calibration) turns evidence into probabilities,
but only for the codebook whose labelled excerpts it was fitted on: its weights and threshold
mean nothing for another codebook. So a codebook without its own calibration is scored with
features that mean the same in any codebook, and nothing is borrowed:

    s = zc(positive) + ze(positive) + 2 * rule [+ zc(learned)] - 2 * closer_to_negative

- `positive`: the cosine to the nearest of the code's positive prototypes (its "name: definition",
  its examples and its include rules);
- `zc`: standardised within the code over the excerpts of the run (the pool), so a code whose
  definition is worded generically does not win everywhere; with a small pool the code's mean and
  spread shrink towards those of all codes (`PRIOR_WEIGHT` excerpts' worth);
- `ze`: standardised within the excerpt over the codebook's codes (which codes stand out for it);
- `rule`: one of the code's patterns matched;
- `learned`: the probe's probability, standardised like `positive`, only when it was trained on
  labelled excerpts (a reference set or reviewed decisions), not on the codebook's examples alone;
- `closer_to_negative`: a counter-example or exclude rule is nearer than every positive prototype.

The threshold is a rate, not a probability: the `suggestions_per_excerpt` best cells of the pool
(on average) are suggested. The score shown is the logistic of `s` minus that cut, so the
threshold is 0.5 and a higher score ranks higher; it is a rank within this corpus, not a
calibrated probability, and every run says so.

Measured leave-one-codebook-out in benchmarks/generic (README there): this unfitted score is as
good as any combiner fitted on other codebooks, and no codebook's weights are needed for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fieldnotes.errors import FieldnotesError

if TYPE_CHECKING:
    import numpy as np

RULE_WEIGHT = 2.0
LEARNED_WEIGHT = 1.0
NEGATIVE_WEIGHT = 2.0
# A code's own mean and spread over the pool count as much as this many excerpts' worth of the
# mean and spread of all codes: a pool of a few excerpts is ranked nearly by raw similarity.
PRIOR_WEIGHT = 20.0
RATE_PRIOR = 10.0
EVIDENCE = ("positive_max", "negative_max", "rule", "learned")


@dataclass
class PoolStatistics:
    """What standardising within the code needs, from the excerpts of one run."""

    excerpts: int
    positive_mean: list[float]
    positive_scale: list[float]
    learned_mean: list[float]
    learned_scale: list[float]
    cut: float  # the value of `s` at the suggestion rate
    code_cuts: list[float] | None = None  # per code, when the codebook's labelled excerpts give its rate


@dataclass
class RankedScorer:
    """The label-free scorer (module docstring); `prepare` it on the run's excerpts first."""

    suggestions_per_excerpt: float
    use_learned: bool
    model: str
    # Share of the codebook's labelled reference excerpts that have each code (None: no reference
    # set). Then each code is suggested at its own rate, shrunk towards the even share of
    # `suggestions_per_excerpt` by RATE_PRIOR excerpts' worth.
    labelled_rates: tuple[list[float], int] | None = None
    kind: str = "ranked"
    threshold: float = 0.5  # on the shown score: the cut itself
    pool: PoolStatistics | None = None
    fitted_on: dict = field(default_factory=dict)

    @property
    def prepared(self) -> bool:
        return self.pool is not None

    def prepare(self, evidence: dict[str, np.ndarray]) -> None:
        """Standardisation and the cut from the evidence of the run's excerpts (the pool)."""
        import numpy as np

        positive = _column(evidence, "positive_max")
        n = positive.shape[0]
        learned = _column(evidence, "learned") if self.use_learned else np.zeros_like(positive)
        positive_mean, positive_scale = _shrunk_statistics(positive)
        learned_mean, learned_scale = _shrunk_statistics(learned)
        self.pool = PoolStatistics(n, positive_mean, positive_scale, learned_mean, learned_scale, 0.0)
        raw = self.raw_score(evidence)
        self.pool.cut = _cut(raw.reshape(-1), round(self.suggestions_per_excerpt * n))
        if self.labelled_rates is not None:
            self.pool.code_cuts = self._code_cuts(raw)

    def _code_cuts(self, raw: np.ndarray) -> list[float]:
        """Per-code cuts from the labelled rates: a code expected at least once in this pool gets
        its own cut at its expected count; the codes expected less than once share the cells left
        over, best first, so a small pool still gets about its share of suggestions."""
        import numpy as np

        assert self.labelled_rates is not None
        rates, labelled = self.labelled_rates
        n = raw.shape[0]
        even = self.suggestions_per_excerpt / max(len(rates), 1)
        shrunk = [(rate * labelled + RATE_PRIOR * even) / (labelled + RATE_PRIOR) for rate in rates]
        expected = [rate * n for rate in shrunk]
        cuts = [
            _cut(raw[:, column], round(count)) if count >= 1 else float("inf") for column, count in enumerate(expected)
        ]
        rare = [column for column, count in enumerate(expected) if count < 1]
        leftover = round(sum(expected)) - sum(round(count) for count in expected if count >= 1)
        if rare and leftover > 0:
            shared = _cut(raw[:, rare].reshape(-1), leftover)
            for column in rare:
                cuts[column] = shared
        return [float(cut) for cut in np.asarray(cuts, dtype=np.float64)]

    def raw_score(self, evidence: dict[str, np.ndarray]) -> np.ndarray:
        import numpy as np

        if self.pool is None:
            raise FieldnotesError("the label-free scorer was not prepared on the run's excerpts")
        positive = _column(evidence, "positive_max").astype(np.float64)
        within_code = (positive - np.array(self.pool.positive_mean)) / np.array(self.pool.positive_scale)
        spread = positive.std(axis=1, keepdims=True)
        within_excerpt = (positive - positive.mean(axis=1, keepdims=True)) / np.where(spread < 1e-6, 1.0, spread)
        score = within_code + within_excerpt + RULE_WEIGHT * _column(evidence, "rule")
        if self.use_learned:
            learned = _column(evidence, "learned").astype(np.float64)
            score += LEARNED_WEIGHT * (learned - np.array(self.pool.learned_mean)) / np.array(self.pool.learned_scale)
        if "negative_max" in evidence:
            score -= NEGATIVE_WEIGHT * (evidence["negative_max"] > positive)
        return score

    def score(self, evidence: dict[str, np.ndarray]) -> np.ndarray:
        """The shown score: logistic of `s` minus the cut (0.5 at the cut)."""
        import numpy as np

        if self.pool is None:
            raise FieldnotesError("the label-free scorer was not prepared on the run's excerpts")
        cut = np.array(self.pool.code_cuts) if self.pool.code_cuts is not None else np.array(self.pool.cut)
        with np.errstate(over="ignore", invalid="ignore"):
            shown = 1.0 / (1.0 + np.exp(-(self.raw_score(evidence) - cut)))
        return np.where(np.isfinite(cut), shown, 0.0)

    def lifts(self, components: dict[str, float]) -> dict[str, float]:
        """How far each evidence column of one cell raised its score above the pool's average."""
        if self.pool is None:
            return {}
        lifts = {"rule": RULE_WEIGHT * components.get("rule", 0.0)}
        lifts["example_max"] = lifts["definition"] = components.get("positive_max", 0.0) - min(self.pool.positive_mean)
        if self.use_learned:
            lifts["learned"] = LEARNED_WEIGHT * (components.get("learned", 0.0) - min(self.pool.learned_mean))
        return lifts

    def description(self) -> str:
        learned = " and the learned probe" if self.use_learned else ""
        return (
            f"label-free ranking (similarity standardised within each code over this corpus, rules{learned}; "
            f"about {self.suggestions_per_excerpt:g} suggestions per excerpt)"
        )


def _cut(values: np.ndarray, cells: int) -> float:
    """The value of the `cells`-th highest of `values` (inf: suggest nothing)."""
    import numpy as np

    if values.size == 0 or cells <= 0:
        return float("inf")
    return float(np.sort(values)[::-1][min(cells, values.size) - 1])


def _column(evidence: dict[str, np.ndarray], name: str) -> np.ndarray:
    if name not in evidence:
        raise FieldnotesError(
            f"the label-free scorer needs the evidence '{name}'; enable the semantic and rules suggesters"
        )
    return evidence[name]


def _shrunk_statistics(values: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-code mean and spread over the pool, shrunk towards all codes' for a small pool."""
    import numpy as np

    n = values.shape[0]
    if n == 0:
        k = values.shape[1] if values.ndim == 2 else 0
        return [0.0] * k, [1.0] * k
    values = values.astype(np.float64)
    overall_mean = float(values.mean())
    overall_var = float(values.var())
    mean = (n * values.mean(axis=0) + PRIOR_WEIGHT * overall_mean) / (n + PRIOR_WEIGHT)
    var = (n * values.var(axis=0) + PRIOR_WEIGHT * overall_var) / (n + PRIOR_WEIGHT)
    scale = np.sqrt(var)
    scale[scale < 1e-6] = 1.0
    return mean.tolist(), scale.tolist()
