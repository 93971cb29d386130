"""Which changes to the coder pay off on real prose: measured on the DEV split only.

    python benchmarks/real/coding_lab.py [--final]

A research harness for issue 14 (not a shipped path). Every configuration is measured on the dev
documents of benchmarks/real/coproduction_labels.csv by leave-one-document-out: anything fitted
(combiner weights, thresholds, the learned probe) is fitted on the project's reference set plus the
OTHER dev documents, never on the document it is scored on. `--final` also scores the chosen
configurations once on the test split, fitted on reference + all dev; use it only after choosing.

Configurations (all on the same excerpts and embeddings):
  today        the shipped calibration and threshold;
  refit        today's features, combiner refitted on reference + dev (cells weighted so the reference
               set and the real rows count equally), threshold best micro-F1 on the training rows;
  +ctx         plus the same semantic and learned evidence computed on a context vector (the excerpt
               with its neighbours in the passage, and its heading);
  +probe       the learned probe also trained on the real training documents' excerpts;
  +ctx+probe   both.
Prints numbers and code ids only; no document text is written anywhere.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

import numpy as np  # noqa: E402
from coding_eval import FileCachedEmbedder, figures, map_labels, system_coder  # noqa: E402
from label_tool import cleaned  # noqa: E402


@dataclass
class Rows:
    """Per labelled unit (1 excerpt units only for fitting): vectors, context vectors, labels."""

    file: list[str]
    split: list[str]
    vec: np.ndarray
    ctx: np.ndarray
    texts: list[str]
    labels: np.ndarray
    keys: list[list[int]]  # indices into the excerpt table per unit


def unit_norm(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-9)


def build_rows(embedder, code_ids: Sequence[str], window: int) -> tuple[Rows, list[str], np.ndarray, np.ndarray]:
    mapping = map_labels()
    # every excerpt of every labelled document, with its neighbours and heading
    files = sorted({u.file for u in mapping.units})
    table_texts: list[str] = []
    table_ctx_parts: list[list[int]] = []
    heading_of: list[str] = []
    index: dict[tuple[str, int], int] = {}
    for file in files:
        _text, passages, excerpts = cleaned(file)
        section = {p.passage_id: p.section for p in passages}
        base = len(table_texts)
        for i, excerpt in enumerate(excerpts):
            index[(file, i)] = base + i
            table_texts.append(excerpt.text)
            heading_of.append(section.get(excerpt.passage_id, ""))
        for i, excerpt in enumerate(excerpts):
            same = [
                base + j
                for j in range(max(0, i - window), min(len(excerpts), i + window + 1))
                if excerpts[j].passage_id == excerpt.passage_id
            ]
            table_ctx_parts.append(same)
    vectors = embedder.encode(table_texts)
    headings = sorted({h for h in heading_of if h})
    heading_vec = dict(zip(headings, embedder.encode(headings), strict=True)) if headings else {}
    ctx = np.zeros_like(vectors)
    for row, parts in enumerate(table_ctx_parts):
        weights = np.array([2.0 if p == row else 1.0 for p in parts])
        mix = (vectors[parts] * weights[:, None]).sum(axis=0)
        if heading_of[row] in heading_vec:
            mix = mix + 0.5 * heading_vec[heading_of[row]]
        ctx[row] = mix
    ctx = unit_norm(ctx)
    code_index = {c: i for i, c in enumerate(code_ids)}
    labels = np.zeros((len(mapping.units), len(code_ids)), dtype=np.int8)
    keys = []
    for r, unit in enumerate(mapping.units):
        for code in unit.codes:
            labels[r, code_index[code]] = 1
        keys.append([index[k] for k in unit.excerpt_keys])
    first = [k[0] for k in keys]
    rows = Rows(
        [u.file for u in mapping.units],
        [u.split for u in mapping.units],
        vectors[first],
        ctx[first],
        [table_texts[k] for k in first],
        labels,
        keys,
    )
    return rows, table_texts, vectors, ctx


def features_for(coder, texts, vectors, ctx, probe, ctx_on: bool) -> dict[str, np.ndarray]:
    """Today's evidence (with `probe` as the learned part), plus context evidence when asked."""
    from fieldnotes.coding.suggest import Batch

    out: dict[str, np.ndarray] = {}
    for suggester in coder.suggesters:
        if suggester.name == "learned":
            continue
        out.update(suggester.evidence(Batch(texts, vectors)).features)
    out["learned"] = probe.evidence(Batch(texts, vectors)).features["learned"]
    if ctx_on:
        semantic = next(s for s in coder.suggesters if s.name == "semantic")
        found = semantic.evidence(Batch(texts, ctx)).features
        out["ctx_example_max"] = found["example_max"]
        out["ctx_definition"] = found["definition"]
        out["ctx_learned"] = probe.evidence(Batch(texts, ctx)).features["learned"]
    return out


def fit_probe(coder, training_sets):
    from fieldnotes.coding.learned import LearnedSuggester, codebook_training, merge

    base = codebook_training(coder.codebook.codebook, coder.prototypes)
    return LearnedSuggester(coder.codebook.codebook, merge(base, *training_sets))


def fit_combiner(feature_sets: list[dict[str, np.ndarray]], label_sets: list[np.ndarray], names, weights_per_set):
    from sklearn.linear_model import LogisticRegression

    x = np.vstack([np.stack([f[n].reshape(-1) for n in names], axis=1) for f in feature_sets]).astype(np.float64)
    y = np.concatenate([lab.reshape(-1) for lab in label_sets]).astype(int)
    w = np.concatenate([np.full(lab.size, wt / lab.size) for lab, wt in zip(label_sets, weights_per_set, strict=True)])
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1
    model = LogisticRegression(C=1.0, max_iter=2000)
    model.fit((x - mean) / scale, y, sample_weight=w * len(y))

    def score(f: dict[str, np.ndarray]) -> np.ndarray:
        shape = f[names[0]].shape
        xx = np.stack([f[n].reshape(-1) for n in names], axis=1)
        return model.predict_proba((xx - mean) / scale)[:, 1].reshape(shape)

    return score, dict(zip(names, model.coef_[0].round(2), strict=True))


def best_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    best, best_f1 = 0.5, -1.0
    for t in np.arange(0.05, 0.96, 0.01):
        p = scores >= t
        tp = int((p & (labels == 1)).sum())
        f1 = 2 * tp / max(int(p.sum()) + int((labels == 1).sum()), 1)
        if f1 > best_f1:
            best, best_f1 = float(t), f1
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--final", action="store_true", help="also score the test split (after choosing)")
    parser.add_argument("--window", type=int, default=1)
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
    rows, table_texts, table_vec, table_ctx = build_rows(embedder, code_ids, args.window)
    ref = parts.reference
    ref_vec = embedder.encode(ref.texts)
    ref_labels = ref.labels.astype(np.int8)
    ref_training = TrainingSet(ref_vec, ref_labels)
    ref_feats_base = dict(parts.reference_features)  # learned out of fold on the reference set

    def ref_features(ctx_on: bool) -> dict[str, np.ndarray]:
        f = dict(ref_feats_base)
        if ctx_on:  # a reference sentence has no context: itself
            f["ctx_example_max"] = f["example_max"]
            f["ctx_definition"] = f["definition"]
            f["ctx_learned"] = f["learned"]
        return f

    base_names = list(coder.calibration.features)
    ctx_names = [*base_names, "ctx_example_max", "ctx_definition", "ctx_learned"]
    one_to_one = np.array([len(k) == 1 for k in rows.keys])

    def table_predict(score_fn, threshold, probe, ctx_on, unit_idx):
        """Predictions per unit: OR over its excerpts."""
        needed = sorted({e for u in unit_idx for e in rows.keys[u]})
        pos = {e: i for i, e in enumerate(needed)}
        texts = [table_texts[e] for e in needed]
        f = features_for(coder, texts, table_vec[needed], table_ctx[needed], probe, ctx_on)
        s = score_fn(f) >= threshold
        return np.array([np.any([s[pos[e]] for e in rows.keys[u]], axis=0) for u in unit_idx])

    def run_config(name, train_idx, eval_idx, ctx_on, probe_real, inner_groups):
        """Fit on reference + train units, predict eval units."""
        train_idx = [u for u in train_idx if one_to_one[u]]
        real_training = TrainingSet(rows.vec[train_idx], rows.labels[train_idx])
        probe = fit_probe(coder, [ref_training, real_training] if probe_real else [ref_training])
        # learned evidence on the real training rows must be out of fold: nested by document
        feats_real = {}
        learned_oof = np.zeros((len(train_idx), len(code_ids)), dtype=np.float32)
        ctx_oof = np.zeros_like(learned_oof)
        groups = np.array([inner_groups[u] for u in train_idx])
        for g in np.unique(groups):
            inside = np.flatnonzero(groups != g)
            out = np.flatnonzero(groups == g)
            sets = [ref_training]
            if probe_real and len(inside):
                chosen = np.array(train_idx)[inside]
                sets.append(TrainingSet(rows.vec[chosen], rows.labels[chosen]))
            inner = fit_probe(coder, sets)
            sel = np.array(train_idx)[out]
            f = features_for(coder, [rows.texts[u] for u in sel], rows.vec[sel], rows.ctx[sel], inner, ctx_on)
            learned_oof[out] = f["learned"]
            if ctx_on:
                ctx_oof[out] = f["ctx_learned"]
        sel = np.array(train_idx)
        feats_real = features_for(coder, [rows.texts[u] for u in sel], rows.vec[sel], rows.ctx[sel], probe, ctx_on)
        feats_real["learned"] = learned_oof
        if ctx_on:
            feats_real["ctx_learned"] = ctx_oof
        names = ctx_names if ctx_on else base_names
        score_fn, coef = fit_combiner(
            [ref_features(ctx_on), feats_real], [ref_labels, rows.labels[sel]], names, [1.0, 1.0]
        )
        threshold = best_threshold(score_fn(feats_real), rows.labels[sel])
        return table_predict(score_fn, threshold, probe, ctx_on, eval_idx), threshold, coef

    dev = [u for u, s in enumerate(rows.split) if s == "dev"]
    test = [u for u, s in enumerate(rows.split) if s == "test"]
    dev_docs = sorted({rows.file[u] for u in dev})
    configs = {
        "refit": (False, False),
        "+ctx": (True, False),
        "+probe": (False, True),
        "+ctx+probe": (True, True),
    }
    today_threshold = coder.threshold

    def today_predict(idx):
        return table_predict(coder.calibration.score, today_threshold, coder.suggesters[-1], False, idx)

    results = {"today": today_predict(dev)}
    for name, (ctx_on, probe_real) in configs.items():
        pred = np.zeros((len(dev), len(code_ids)), dtype=bool)
        for doc in dev_docs:
            held = [i for i, u in enumerate(dev) if rows.file[u] == doc]
            train = [u for u in dev if rows.file[u] != doc]
            p, t, _ = run_config(name, train, [dev[i] for i in held], ctx_on, probe_real, rows.file)
            pred[held] = p
        results[name] = pred
    truth = rows.labels[dev].astype(bool)
    print(f"DEV leave-one-document-out ({len(dev)} units, {len(dev_docs)} documents), window {args.window}")
    for name, pred in results.items():
        fig = figures(pred, truth, code_ids)
        m = fig["micro"]
        print(
            f"  {name:12s} micro P {m['precision']:.2f} R {m['recall']:.2f} F1 {m['f1']:.2f}  "
            f"macro {fig['macro_f1']:.2f}  sugg/unit {fig['suggestions_per_unit']:.2f}"
        )
    if args.final:
        truth_t = rows.labels[test].astype(bool)
        print(f"TEST ({len(test)} units), fitted on reference + all dev")
        fig = figures(today_predict(test), truth_t, code_ids)
        print(f"  {'today':12s} micro F1 {fig['micro']['f1']:.2f}")
        for name, (ctx_on, probe_real) in configs.items():
            p, t, coef = run_config(name, dev, test, ctx_on, probe_real, rows.file)
            fig = figures(p, truth_t, code_ids)
            m = fig["micro"]
            print(
                f"  {name:12s} micro P {m['precision']:.2f} R {m['recall']:.2f} F1 {m['f1']:.2f} "
                f"macro {fig['macro_f1']:.2f} t={t:.2f} {coef}"
            )


if __name__ == "__main__":
    main()
