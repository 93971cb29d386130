"""Code suggestions on Japanese text: the English-only model against the multilingual encoder.

    python benchmarks/real/japanese_eval.py [--split dev|test]

Sets (co-production codebook, English definitions and examples, Japanese patterns):
  ja-real     benchmarks/real/japanese_labels.csv: excerpts of two real Japanese documents in
              ../shared/real-docs/ (anchors, no text stored), split by SPLITS_JA.md;
  ja-written  benchmarks/gold/ja-written.csv: sentences written by the project (odd ids dev).

Configurations, each the system as `fieldnotes code` builds it:
  main, calibrated     the main encoders (`[embedding] backend` and `ensemble`: MiniLM + USE by
                       default, MiniLM alone before) with the shipped calibration;
  main, label-free     the same evidence, ranked label-free within the set;
  use-multilingual     `[embedding] backend = "use-multilingual"`, no ensemble: its calibration is
                       for other encoders, so the scores are ranked label-free (what Japanese
                       excerpts get, `[embedding] japanese_backend`).
A label-free scorer ranks within the units of one set and split scored together, as a run ranks
its corpus's Japanese excerpts. Nothing was tuned on these sets; the encoder was chosen on their
dev parts by ranking quality in benchmarks/encoders (AUC), before this script existed.
Numbers only; no text of the real documents is written anywhere.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from coding_eval import FileCachedEmbedder, figures, kappa, map_labels, system_coder  # noqa: E402


def sets(split: str, code_ids: list[str]) -> dict[str, tuple[list[str], list[list[int]], np.ndarray]]:
    """name -> (excerpt texts, units as excerpt rows, truth units x codes)."""
    index = {c: i for i, c in enumerate(code_ids)}
    out = {}
    mapping = map_labels(HERE / "japanese_labels.csv")
    units = [u for u in mapping.units if u.split == split]
    keys = sorted({k for u in units for k in u.excerpt_keys})
    row = {k: i for i, k in enumerate(keys)}
    truth = np.zeros((len(units), len(code_ids)), dtype=bool)
    for r, unit in enumerate(units):
        for code in unit.codes:
            truth[r, index[code]] = True
    texts = [mapping.excerpts[k].text for k in keys]
    out["ja-real"] = (texts, [[row[k] for k in u.excerpt_keys] for u in units], truth)
    with (ROOT / "benchmarks" / "gold" / "ja-written.csv").open(encoding="utf-8", newline="") as handle:
        written = [r for r in csv.DictReader(handle) if r["split"] == split]
    truth = np.zeros((len(written), len(code_ids)), dtype=bool)
    for r, item in enumerate(written):
        for code in filter(None, (c.strip() for c in (item["codes"] or "").split(";"))):
            truth[r, index[code]] = True
    out["ja-written"] = ([item["text"] for item in written], [[i] for i in range(len(written))], truth)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--split", default="dev", choices=("dev", "test"))
    args = parser.parse_args()

    from fieldnotes.codebook import load_codebook
    from fieldnotes.coding.ranked import RankedScorer
    from fieldnotes.settings import load_settings

    settings = load_settings(None)
    loaded = load_codebook(settings.coding.codebook)
    code_ids = loaded.codebook.code_ids
    data = sets(args.split, code_ids)
    use_settings = settings.model_copy(
        update={"embedding": settings.embedding.model_copy(update={"backend": "use-multilingual", "ensemble": []})}
    )
    minilm = FileCachedEmbedder(settings, "real-japanese")
    use = FileCachedEmbedder(use_settings, "real-japanese")
    parts = {"minilm": system_coder(loaded, settings, minilm), "use": system_coder(loaded, use_settings, use)}
    print(f"split {args.split}; codebook {loaded.describe()}; main encoders {minilm.model_id}")
    for note in parts["use"].coder.notes:
        print(f"  use-multilingual coder: {note}")
    head = "units  micro P  micro R  micro F1  macro-F1  mean kappa  sugg/unit (gold)"
    print(f"{'set':11s} {'configuration':22s} {head}")
    combined: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for name, (texts, units, truth) in data.items():
        results = {}
        for label, key, label_free in (
            ("main, calibrated", "minilm", False),
            ("main, label-free", "minilm", True),
            ("use-multilingual", "use", False),
        ):
            coder = parts[key].coder
            embedder = minilm if key == "minilm" else use
            evidence = coder.evidence(texts, embedder.encode(texts)).features
            scorer = coder.scorer
            if label_free:
                scorer = RankedScorer(settings.coding.suggestions_per_excerpt, True, embedder.model_id)
            scorer.prepare(evidence)
            cells = scorer.score(evidence) >= (0.5 if label_free else coder.threshold)
            predicted = np.array([cells[rows].any(axis=0) for rows in units]).reshape(truth.shape)
            results[label] = figures(predicted, truth, code_ids)
            combined.setdefault(label, []).append((predicted, truth))
            present = [c for c in range(len(code_ids)) if truth[:, c].any()]
            results[label]["mean_kappa"] = float(np.mean([kappa(predicted[:, c], truth[:, c]) for c in present]))
        for label, fig in results.items():
            m = fig["micro"]
            print(
                f"{name:11s} {label:22s} {fig['units']:5d}  {m['precision']:7.2f}  {m['recall']:7.2f}  {m['f1']:8.2f}  "
                f"{fig['macro_f1']:8.2f}  {fig['mean_kappa']:10.2f}  {fig['suggestions_per_unit']:.2f} "
                f"({fig['gold_codes_per_unit']:.2f})"
            )

    print(f"\nBoth sets together ({args.split}), micro-F1; targets of issue 17: >= 0.55, and >= 80% of the")
    print("English real-text figure of the same system (benchmarks/real/coding_eval.py, test split: 0.29):")
    for label, parts_ in combined.items():
        predicted = np.vstack([p for p, _ in parts_])
        truth = np.vstack([t for _, t in parts_])
        print(f"  {label:22s} {figures(predicted, truth, code_ids)['micro']['f1']:.2f}")


if __name__ == "__main__":
    main()
