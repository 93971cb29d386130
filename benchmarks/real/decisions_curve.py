"""Learning from reviewed decisions on real prose: micro-F1 on the units not yet reviewed.

    python benchmarks/real/decisions_curve.py [--split dev|test] [--steps 0,10,25,50,100] [--seeds 0,1,2]

A simulated researcher reviews the labelled excerpts of one split of
benchmarks/real/coproduction_labels.csv, a unit at a time, in the order the review page's "most
uncertain first" gives (the unit whose score is nearest the threshold first, re-ranked after every
round by the retrained system), or in random order (`--order random`, the comparison). Reviewing a
unit means: every suggested code is accepted when the gold has it and rejected when not, and every
gold code the system missed is added (accepted). Each decision becomes a training row of the
learned suggester exactly as `fieldnotes.coding.run.decision_training` makes it (1 accepted, 0
rejected, -1 for codes not decided); with `--unit-negatives` the codes not decided on a reviewed
unit are 0 instead (a unit reviewed in full says they do not apply).

The system is the shipped one: the codebook's reference set and examples train the learned
suggester, the decisions are added to its training data, and the shipped calibration combines the
evidence at its threshold. Scored after 0, 10, 25, 50, 100 units and after 25% of the split,
always on the split's units not reviewed yet. Prints numbers only; no document text is written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

import numpy as np  # noqa: E402
from coding_eval import FileCachedEmbedder, figures, system_coder  # noqa: E402
from coding_lab import build_rows, features_for, fit_probe  # noqa: E402


class SimulatedReview:
    """A researcher reviewing units of one split, a batch at a time (module docstring): the
    decisions so far, and the learned probe retrained on them after every batch. Also used by
    finetune_lab.py to choose the units a reviewer sees first."""

    def __init__(self, coder, rows, table, ref_training, unit_negatives: bool = False) -> None:
        self.coder, self.rows, self.ref_training = coder, rows, ref_training
        self.texts, self.vectors, self.context = table  # every excerpt of the labelled documents
        self.threshold = coder.threshold
        self.unit_negatives = unit_negatives
        self.reviewed: list[int] = []  # units
        self.decided: list[int] = []  # excerpts (rows of the table), one per decision row
        self.labels: list[np.ndarray] = []  # their label rows, as decision_training makes them
        self.probe = fit_probe(coder, [ref_training])

    def scores(self, units: list[int]) -> np.ndarray:
        """Per unit: the max over its excerpts of each code's score."""
        keys = self.rows.keys
        needed = sorted({e for u in units for e in keys[u]})
        pos = {e: i for i, e in enumerate(needed)}
        texts = [self.texts[e] for e in needed]
        f = features_for(self.coder, texts, self.vectors[needed], self.context[needed], self.probe, False)
        s = self.coder.scorer.score(f)
        k = len(self.coder.codebook.codebook.codes)
        return np.array([np.max([s[pos[e]] for e in keys[u]], axis=0) for u in units]).reshape(len(units), k)

    def review_until(self, step: int, units: list[int], order: str = "uncertain", rng=None) -> None:
        """Review units of `units` in rounds until `step` are reviewed."""
        from fieldnotes.coding.learned import TrainingSet

        k = len(self.coder.codebook.codebook.codes)
        while len(self.reviewed) < step:
            rest = [u for u in units if u not in self.reviewed]
            batch = min(step - len(self.reviewed), max(5, step // 4))
            if order == "random":
                chosen = list(rng.permutation(rest)[:batch])
            else:
                nearness = np.abs(self.scores(rest) - self.threshold).min(axis=1)
                chosen = [rest[i] for i in np.argsort(nearness, kind="stable")[:batch]]
            for u, s in zip(chosen, self.scores(chosen), strict=True):
                gold = self.rows.labels[u].astype(bool)
                label = np.full(k, 0 if self.unit_negatives else -1, dtype=np.int8)
                label[(s >= self.threshold) & ~gold] = 0  # rejected suggestions
                label[gold] = 1  # accepted suggestions and codes added by hand
                for e in self.rows.keys[u]:
                    self.decided.append(e)
                    self.labels.append(label)
            self.reviewed.extend(chosen)
            decisions = TrainingSet(self.vectors[self.decided], np.array(self.labels))
            self.probe = fit_probe(self.coder, [self.ref_training, decisions])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--split", default="dev", choices=("dev", "test"))
    parser.add_argument("--steps", default="0,10,25,50,100")
    parser.add_argument("--seeds", default="0,1,2", help="random order only")
    parser.add_argument("--order", default="uncertain", choices=("uncertain", "random"))
    parser.add_argument("--unit-negatives", action="store_true")
    args = parser.parse_args()

    from fieldnotes.codebook import load_codebook
    from fieldnotes.coding.learned import TrainingSet
    from fieldnotes.settings import load_settings

    settings = load_settings(None)
    loaded = load_codebook(settings.coding.codebook)
    code_ids = loaded.codebook.code_ids
    embedder = FileCachedEmbedder(settings, "real-coding")
    parts = system_coder(loaded, settings, embedder)
    coder = parts.coder
    rows, table_texts, table_vec, table_ctx = build_rows(embedder, code_ids, 1)
    ref = parts.reference
    ref_training = TrainingSet(embedder.encode(ref.texts), ref.labels.astype(np.int8))
    units = [u for u, s in enumerate(rows.split) if s == args.split]
    steps = sorted({*(int(s) for s in args.steps.split(",")), round(0.25 * len(units))})

    def curve(seed: int) -> list[tuple[int, dict]]:
        rng = np.random.default_rng(seed)
        review = SimulatedReview(coder, rows, (table_texts, table_vec, table_ctx), ref_training, args.unit_negatives)
        out = []
        for step in steps:
            review.review_until(step, units, args.order, rng)
            rest = [u for u in units if u not in review.reviewed]
            predicted = review.scores(rest) >= review.threshold
            out.append((step, figures(predicted, rows.labels[rest].astype(bool), code_ids)))
        return out

    seeds = [int(s) for s in args.seeds.split(",")] if args.order == "random" else [0]
    runs = [curve(seed) for seed in seeds]
    semantics = "undecided codes of a reviewed unit negative" if args.unit_negatives else "decisions as stored"
    print(f"{args.split}: {len(units)} units; order {args.order}; {semantics}")
    print("reviewed  held-out  micro P  micro R  micro F1 (sd)  macro-F1  sugg/unit")
    for i, step in enumerate(steps):
        figs = [run[i][1] for run in runs]
        f1 = [f["micro"]["f1"] for f in figs]
        print(
            f"{step:8d}  {figs[0]['units']:8d}  {np.mean([f['micro']['precision'] for f in figs]):7.2f}  "
            f"{np.mean([f['micro']['recall'] for f in figs]):7.2f}  {np.mean(f1):8.2f} ({np.std(f1):.2f})  "
            f"{np.mean([f['macro_f1'] for f in figs]):8.2f}  {np.mean([f['suggestions_per_unit'] for f in figs]):9.2f}"
        )


if __name__ == "__main__":
    main()
