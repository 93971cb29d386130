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
    threshold = coder.threshold
    k = len(code_ids)

    def unit_scores(probe, idx):
        """Per unit: the max over its excerpts of each code's score."""
        needed = sorted({e for u in idx for e in rows.keys[u]})
        pos = {e: i for i, e in enumerate(needed)}
        f = features_for(coder, [table_texts[e] for e in needed], table_vec[needed], table_ctx[needed], probe, False)
        s = coder.scorer.score(f)
        return np.array([np.max([s[pos[e]] for e in rows.keys[u]], axis=0) for u in idx]).reshape(len(idx), k)

    def curve(seed: int) -> list[tuple[int, dict]]:
        rng = np.random.default_rng(seed)
        reviewed: list[int] = []
        decisions_x: list[np.ndarray] = []
        decisions_y: list[np.ndarray] = []
        probe = fit_probe(coder, [ref_training])
        out = []
        for step in steps:
            while len(reviewed) < step:
                rest = [u for u in units if u not in reviewed]
                batch = min(step - len(reviewed), max(5, step // 4))
                if args.order == "random":
                    chosen = list(rng.permutation(rest)[:batch])
                else:
                    scores = unit_scores(probe, rest)
                    nearness = np.abs(scores - threshold).min(axis=1)
                    chosen = [rest[i] for i in np.argsort(nearness, kind="stable")[:batch]]
                scores = unit_scores(probe, chosen)
                for u, s in zip(chosen, scores, strict=True):
                    gold = rows.labels[u].astype(bool)
                    label = np.full(k, 0 if args.unit_negatives else -1, dtype=np.int8)
                    label[(s >= threshold) & ~gold] = 0  # rejected suggestions
                    label[gold] = 1  # accepted suggestions and codes added by hand
                    for e in rows.keys[u]:
                        decisions_x.append(table_vec[e])
                        decisions_y.append(label)
                reviewed.extend(chosen)
                probe = fit_probe(coder, [ref_training, TrainingSet(np.array(decisions_x), np.array(decisions_y))])
            rest = [u for u in units if u not in reviewed]
            predicted = unit_scores(probe, rest) >= threshold
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
