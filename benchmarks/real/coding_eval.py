"""Code suggestions measured on the real co-production set (benchmarks/real/coproduction_labels.csv).

    python benchmarks/real/coding_eval.py [--split dev|test|all ...] [--json FILE]

Measures the CURRENT system as it ships (default settings, codebooks/coproduction.yaml, the shipped
calibration and its threshold) on the 612 labelled excerpts of ten real English documents in
../shared/real-docs/, next to two baselines computed as `fieldnotes evaluate` computes them:

* keywords only: a code is suggested when one of its patterns matches (the rule evidence);
* zero-shot: cosine similarity of the excerpt to "name: definition", with the one threshold that
  is best (micro-F1) on the codebook's own reference set codebooks/coproduction-reference.csv.
  Nothing is chosen on the real labels: not on dev, not on test.

Each label is an anchor (fieldnotes/anchors.py). It is located in the document's cleaned text and
matched to the excerpts fieldnotes builds today (label_tool.cleaned): a label maps 1:1 when
exactly one excerpt has exactly its letters. Labels that do not (not found, covering several
excerpts, cutting an excerpt, two labels on one excerpt) are listed; such a label is scored as one
unit whose suggestions are those of every excerpt it overlaps.

Figures per split (dev, test and all by default): micro precision / recall / F1, macro-F1 over the
codes the split has (and over those with 5 or more), per-code P/R/F1 with support, the share of
coded excerpts that get no suggestion at all, the share of uncoded excerpts that get one anyway,
and suggestions per excerpt; then the same at passage unit (a passage's codes are the union of its
labelled excerpts' codes, gold and predicted alike).

Embeddings are cached in benchmarks/.cache/ (text digests and vectors only, never text). The
results database is used only inside `system_coder` (a temporary one), because its API is changing.
Nothing of the documents' text is written to any file: the JSON holds numbers, ids and code names.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

if TYPE_CHECKING:
    import numpy as np

    from fieldnotes.codebook import LoadedCodebook
    from fieldnotes.coding.gold import GoldSet
    from fieldnotes.coding.run import Coder
    from fieldnotes.settings import Settings

LABELS = HERE / "coproduction_labels.csv"
CACHE_DIR = ROOT / "benchmarks" / ".cache"
SPLITS = ("dev", "test", "all")
MIN_SUPPORT = 5  # per-code figures are trustworthy from about this support (README)


# --- embeddings: a file cache in benchmarks/.cache/ -------------------------------------------------


class FileCachedEmbedder:
    """fieldnotes' own embedder (from the settings) behind a file cache of vectors by text digest.

    It reports the real model id, so a coder built with it checks its calibration as usual."""

    def __init__(self, settings: Settings, cache_name: str) -> None:
        from fieldnotes.embedding import make_embedder

        # Built now (the model itself loads on first use), before any registry swap in system_coder.
        self._inner = make_embedder(settings)
        self.model_id = self._inner.model_id
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.model_id)
        self.path = CACHE_DIR / f"{cache_name}-{safe}.npz"
        self._vectors: dict[str, np.ndarray] = {}
        self.encoded = 0  # texts actually run through the model in this process
        if self.path.is_file():
            import numpy as np

            with np.load(self.path) as data:
                self._vectors = dict(zip(data["hashes"].tolist(), data["vectors"], strict=True))

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        digests = [hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts]
        missing = {d: t for d, t in zip(digests, texts, strict=True) if d not in self._vectors}
        if missing:
            vectors = self._inner.encode(list(missing.values()))
            self._vectors.update(zip(missing, vectors, strict=True))
            self.encoded += len(missing)
            self._save()
        return np.vstack([self._vectors[d] for d in digests]).astype(np.float32)

    def _save(self) -> None:
        import numpy as np

        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        hashes = list(self._vectors)
        tmp = self.path.with_suffix(".tmp.npz")
        np.savez(tmp, hashes=np.array(hashes), vectors=np.vstack([self._vectors[h] for h in hashes]))
        tmp.replace(self.path)


# --- the one place that touches the results store ----------------------------------------------------


@dataclass
class SystemParts:
    coder: Coder
    reference: GoldSet | None  # the codebook's reference excerpts, if it has any
    reference_features: dict[str, np.ndarray] = field(default_factory=dict)  # learned part out-of-fold
    calibrated: Path | None = None  # where `calibrate` wrote a calibration, when asked to


def system_coder(
    loaded: LoadedCodebook, settings: Settings, embedder: FileCachedEmbedder, calibrate_first: bool = False
) -> SystemParts:
    """Build the system's coder (and the reference evidence `fieldnotes evaluate` uses) the way the
    CLI does, on a throw-away results folder. Every use of fieldnotes.store.Store, and of the
    embedding-cache API that is being split out of it, is here.

    With `calibrate_first`, `fieldnotes.coding.run.calibrate` fits the combiner on the codebook's
    reference excerpts first and writes it beside the codebook, where build_coder finds it.

    Works with both shapes of the API seen while the store is being split: build_coder(loaded,
    settings, store, embedder) with embeddings cached in the store, and build_coder(..., embedder,
    cache) with a separate vector cache (given here an in-memory one: `embedder` caches to file)."""
    import inspect

    from fieldnotes import registry
    from fieldnotes.coding import evaluation as coding_evaluation
    from fieldnotes.coding import run as coding_run
    from fieldnotes.store import Store

    separate_cache = "cache" in inspect.signature(coding_run.build_coder).parameters

    class MemoryVectors:
        """fieldnotes' VectorCache protocol over a dict (the embedder already caches to file)."""

        def __init__(self) -> None:
            self.vectors: dict = {}

        def load(self, model, hashes):
            return {h: self.vectors[(model, h)] for h in hashes if (model, h) in self.vectors}

        def save(self, model, vectors) -> None:
            self.vectors.update({(model, h): v for h, v in vectors.items()})

    with tempfile.TemporaryDirectory(prefix="fieldnotes-bench-") as tmp:
        if separate_cache and "cache_dir" in type(settings.embedding).model_fields:
            # calibrate() opens the shared embedding cache itself: keep it in the temporary folder.
            embedding = settings.embedding.model_copy(update={"cache_dir": str(Path(tmp) / "embedding-cache")})
            settings = settings.model_copy(update={"embedding": embedding})
        if getattr(settings.embedding, "ensemble", None):
            # `embedder` is the whole ensemble already: calibrate() must not join it again.
            settings = settings.model_copy(update={"embedding": settings.embedding.model_copy(update={"ensemble": []})})
        store = Store.open(Path(tmp) / "results" / "fieldnotes.db")
        try:
            # calibrate() makes its own embedder from the settings: hand it the cached one.
            with registry.embedders.temporarily(settings.embedding.backend, lambda _settings: embedder):
                calibrated = None
                if calibrate_first:
                    coding_evaluation.calibrate(loaded, settings, store)
                    calibrated = loaded.calibration_path
                vectors = MemoryVectors() if separate_cache else store
                reference, features = None, {}
                if loaded.reference_path is not None:
                    reference, features = coding_evaluation.reference_evidence(loaded, settings, vectors, embedder)
                if separate_cache:
                    coder = coding_run.build_coder(loaded, settings, store, embedder, vectors)
                else:
                    coder = coding_run.build_coder(loaded, settings, store, embedder)
        finally:
            store.close()
    return SystemParts(coder, reference, features, calibrated)


# --- methods: the system and the two baselines ---------------------------------------------------------


@dataclass
class Methods:
    """0/1 predictions (units x codes) per method, and what was used to make them."""

    predictions: dict[str, np.ndarray]
    notes: list[str]


def predict_all(parts: SystemParts, texts: Sequence[str], vectors: np.ndarray) -> Methods:
    """fieldnotes as it ships, keywords only and zero-shot, as `fieldnotes evaluate` computes them."""
    import numpy as np

    from fieldnotes.coding.suggest import choose_threshold

    coder = parts.coder
    codes = coder.codebook.codebook.codes
    evidence = coder.evidence(list(texts), vectors)
    # A label-free scorer ranks within the units scored together, as a run ranks its corpus.
    coder.scorer.prepare(evidence.features)
    scores = coder.scorer.score(evidence.features)
    thresholds = np.array([code.threshold or coder.threshold for code in codes])
    predictions = {"fieldnotes": scores >= thresholds}
    notes = [
        f"{coder.scoring}: {coder.scorer.description()}, threshold {coder.threshold:.2f}"
        + (
            f"; per-code thresholds on {sum(c.threshold is not None for c in codes)} codes"
            if any(c.threshold for c in codes)
            else ""
        ),
        *coder.notes,
    ]
    if "rule" in evidence.features:
        predictions["keywords"] = evidence.features["rule"] > 0
    if "definition" in evidence.features and parts.reference is not None and "definition" in parts.reference_features:
        cut = choose_threshold(
            parts.reference_features["definition"].reshape(-1), parts.reference.labels.reshape(-1), 0.0
        )
        predictions["zero-shot"] = evidence.features["definition"] >= cut
        notes.append(f"zero-shot threshold {cut:.2f} (best micro-F1 on {parts.reference.path.name})")
    return Methods(predictions, notes)


# --- metrics ---------------------------------------------------------------------------------------------


def kappa(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's kappa of two 0/1 vectors (1.0 when both are constant and equal, 0.0 when chance is 1)."""
    import numpy as np

    a, b = np.asarray(a, bool), np.asarray(b, bool)
    n = len(a)
    if n == 0:
        return float("nan")
    observed = float((a == b).mean())
    pa, pb = a.mean(), b.mean()
    expected = float(pa * pb + (1 - pa) * (1 - pb))
    if expected >= 1.0:
        return 1.0 if observed == 1.0 else 0.0
    return (observed - expected) / (1 - expected)


def figures(predicted: np.ndarray, truth: np.ndarray, code_ids: Sequence[str]) -> dict:
    """Micro and macro figures, per code, and how suggestions spread over units."""
    import numpy as np

    from fieldnotes.coding.gold import score_predictions

    predicted, truth = predicted.astype(bool), truth.astype(bool)
    per_code, micro = score_predictions(predicted, truth)
    supported = [s for s in per_code if s.tp + s.fn > 0]
    well = [s for s in per_code if s.tp + s.fn >= MIN_SUPPORT]
    coded = truth.any(axis=1)
    suggested = predicted.any(axis=1)
    return {
        "units": len(truth),
        "micro": _row(micro),
        "macro_f1": float(np.mean([s.f1 for s in supported])) if supported else float("nan"),
        "macro_codes": len(supported),
        f"macro_f1_support{MIN_SUPPORT}": float(np.mean([s.f1 for s in well])) if well else float("nan"),
        f"macro_codes_support{MIN_SUPPORT}": len(well),
        "per_code": {code: _row(s) for code, s in zip(code_ids, per_code, strict=True)},
        "coded_units": int(coded.sum()),
        "coded_without_suggestion": float((coded & ~suggested).sum() / max(int(coded.sum()), 1)),
        "uncoded_units": int((~coded).sum()),
        "uncoded_with_suggestion": float((~coded & suggested).sum() / max(int((~coded).sum()), 1)),
        "suggestions_per_unit": float(predicted.sum(axis=1).mean()) if len(truth) else 0.0,
        "gold_codes_per_unit": float(truth.sum(axis=1).mean()) if len(truth) else 0.0,
    }


def _row(s) -> dict:
    return {
        "precision": round(s.precision, 4),
        "recall": round(s.recall, 4),
        "f1": round(s.f1, 4),
        "support": s.tp + s.fn,
        "tp": s.tp,
        "fp": s.fp,
        "fn": s.fn,
    }


def format_figures(title: str, by_method: dict[str, dict], code_ids: Sequence[str]) -> str:
    methods = list(by_method)
    first = by_method[methods[0]]
    lines = [f"### {title}: {first['units']} units ({first['coded_units']} coded, {first['uncoded_units']} uncoded)"]
    head = f"{'':34s}" + "".join(f"{m:>22s}" for m in methods)
    lines.append(head)

    def line(label: str, cells: list[str]) -> str:
        return f"{label:34s}" + "".join(f"{c:>22s}" for c in cells)

    def prf(row: dict) -> str:
        return f"{row['precision']:.2f} {row['recall']:.2f} {row['f1']:.2f}"

    lines.append(line("micro P R F1", [prf(by_method[m]["micro"]) for m in methods]))
    lines.append(
        line(
            f"macro-F1 ({first['macro_codes']} codes with support)",
            [f"{by_method[m]['macro_f1']:.2f}" for m in methods],
        )
    )
    key = f"macro_f1_support{MIN_SUPPORT}"
    lines.append(
        line(
            f"macro-F1 ({first[f'macro_codes_support{MIN_SUPPORT}']} codes, support>={MIN_SUPPORT})",
            [f"{by_method[m][key]:.2f}" for m in methods],
        )
    )
    lines.append(
        line("coded units with no suggestion", [f"{by_method[m]['coded_without_suggestion']:.1%}" for m in methods])
    )
    lines.append(
        line("uncoded units with a suggestion", [f"{by_method[m]['uncoded_with_suggestion']:.1%}" for m in methods])
    )
    lines.append(
        line(
            f"suggestions per unit (gold {first['gold_codes_per_unit']:.2f})",
            [f"{by_method[m]['suggestions_per_unit']:.2f}" for m in methods],
        )
    )
    lines.append("")
    lines.append(f"{'code (P R F1)':28s}{'n':>6s}" + "".join(f"{m:>22s}" for m in methods))
    for code in code_ids:
        support = first["per_code"][code]["support"]
        cells = [prf(by_method[m]["per_code"][code]) for m in methods]
        flag = "" if support >= MIN_SUPPORT else "  (support < 5)"
        lines.append(f"{code:28s}{support:6d}" + "".join(f"{c:>22s}" for c in cells) + flag)
    return "\n".join(lines)


# --- the real labels, located in today's excerpts ------------------------------------------------------


@dataclass
class Unit:
    """One label as scored: its excerpts (usually one), its gold codes, split and passage."""

    file: str
    label_start: int
    split: str
    codes: list[str]
    excerpt_keys: list[tuple[str, int]]  # (file, index into the document's excerpts)
    passage_ids: list[str]


@dataclass
class Mapping:
    units: list[Unit]
    problems: list[dict]  # labels that do not map 1:1, by file, letter_start and kind
    excerpts: dict[tuple[str, int], object]  # fieldnotes.coding.excerpts.Excerpt
    counts: dict[str, int]


def map_labels(labels_path: Path = LABELS) -> Mapping:
    """Locate every label in the document's excerpts as fieldnotes builds them today."""
    from collections import Counter

    from label_tool import cleaned

    from fieldnotes.anchors import Anchor, letter_stream, locate, make_anchor

    with labels_path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    units: list[Unit] = []
    problems: list[dict] = []
    texts: dict[tuple[str, int], object] = {}
    counts: Counter[str] = Counter()
    per_excerpt: Counter[tuple[str, int]] = Counter()
    for file in sorted({row["file"] for row in rows}):
        text, _passages, excerpts = cleaned(file)
        stream = letter_stream(text)
        ranges = []  # (first letter, letter count) of each excerpt, None when it holds no letters
        for excerpt in excerpts:
            try:
                a = make_anchor(text, excerpt.start, excerpt.end)
                ranges.append((a.letter_start, a.letter_count))
            except ValueError:
                ranges.append(None)
        for row in (r for r in rows if r["file"] == file):
            anchor = Anchor(int(row["letter_start"]), int(row["letter_count"]), row["digest"], row["head"])
            codes = [c.strip() for c in (row["codes"] or "").split(";") if c.strip()]
            where = {"file": file, "letter_start": anchor.letter_start}
            span = locate(text, anchor, stream)
            if span is None:
                counts["not found"] += 1
                problems.append({**where, "kind": "not found"})
                continue
            first = make_anchor(text, *span).letter_start
            last = first + anchor.letter_count
            overlapping = [i for i, r in enumerate(ranges) if r is not None and r[0] < last and first < r[0] + r[1]]
            exact = [i for i in overlapping if ranges[i] == (first, anchor.letter_count)]
            if exact and len(overlapping) == 1:
                kind = "1:1"
            elif not overlapping:
                kind = "no excerpt (text not in any excerpt)"
            elif all(first <= ranges[i][0] and ranges[i][0] + ranges[i][1] <= last for i in overlapping):
                kind = (
                    f"covers {len(overlapping)} whole excerpts" if len(overlapping) > 1 else "covers 1 excerpt and more"
                )
            elif len(overlapping) == 1:
                kind = "inside a larger excerpt"
            else:
                kind = "cuts an excerpt"
            counts[kind] += 1
            if kind != "1:1":
                problems.append({**where, "kind": kind, "excerpts": len(overlapping)})
            if not overlapping:
                continue
            if first != anchor.letter_start:
                problems.append({**where, "kind": f"found moved by {first - anchor.letter_start} letters"})
            keys = [(file, i) for i in overlapping]
            for key in keys:
                texts[key] = excerpts[key[1]]
                per_excerpt[key] += 1
            units.append(
                Unit(
                    file,
                    anchor.letter_start,
                    row["split"],
                    codes,
                    keys,
                    sorted({excerpts[i].passage_id for i in overlapping}),
                )
            )
    shared = [key for key, n in per_excerpt.items() if n > 1]
    if shared:
        counts["excerpts carrying two or more labels"] = len(shared)
        problems.extend({"file": f, "excerpt": i, "kind": "excerpt carries several labels"} for f, i in shared)
    return Mapping(units, problems, texts, dict(counts))


def unit_matrices(
    units: Sequence[Unit], excerpt_predictions: dict[tuple[str, int], np.ndarray], code_ids: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """(predicted, truth) per label: predictions OR-ed over a label's excerpts."""
    import numpy as np

    index = {c: i for i, c in enumerate(code_ids)}
    truth = np.zeros((len(units), len(code_ids)), dtype=bool)
    predicted = np.zeros_like(truth)
    for row, unit in enumerate(units):
        for code in unit.codes:
            truth[row, index[code]] = True
        for key in unit.excerpt_keys:
            predicted[row] |= excerpt_predictions[key]
    return predicted, truth


def passage_matrices(
    units: Sequence[Unit], predicted: np.ndarray, truth: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int]:
    """Union of the labelled excerpts' codes per passage (a label over two passages counts in both)."""
    import numpy as np

    groups: dict[tuple[str, str], list[int]] = {}
    for row, unit in enumerate(units):
        for passage in unit.passage_ids:
            groups.setdefault((unit.file, passage), []).append(row)
    keys = sorted(groups)
    p = np.array([predicted[groups[k]].any(axis=0) for k in keys]).reshape(len(keys), truth.shape[1])
    t = np.array([truth[groups[k]].any(axis=0) for k in keys]).reshape(len(keys), truth.shape[1])
    return p, t, len(keys)


# --- main ---------------------------------------------------------------------------------------------------


def run(
    splits: Sequence[str],
    json_path: Path | None,
    out: Callable[[str], None] = print,
    settings_path: Path | None = None,
) -> dict:
    from fieldnotes.codebook import load_codebook
    from fieldnotes.settings import load_settings

    started = time.perf_counter()
    clock: dict[str, float] = {}

    def lap(name: str, since: float) -> float:
        now = time.perf_counter()
        clock[name] = round(now - since, 1)
        return now

    t = time.perf_counter()
    mapping = map_labels()
    t = lap("ingest and map labels", t)
    out(
        f"Labels: {sum(mapping.counts.values())} rows of {LABELS.name}; "
        + ", ".join(f"{k}: {v}" for k, v in mapping.counts.items())
    )
    for problem in mapping.problems:
        out(f"  not 1:1: {problem}")

    settings = load_settings(settings_path)
    loaded = load_codebook(settings.coding.codebook)
    embedder = FileCachedEmbedder(settings, "real-coding")
    parts = system_coder(loaded, settings, embedder)
    t = lap("build coder (reference evidence, learned fit)", t)
    code_ids = loaded.codebook.code_ids
    out(f"Codebook {loaded.describe()}; suggesters {settings.coding.suggesters}; model {embedder.model_id}")

    keys = sorted(mapping.excerpts)
    texts = [mapping.excerpts[k].text for k in keys]
    vectors = embedder.encode(texts)
    t = lap("embed excerpts", t)
    methods = predict_all(parts, texts, vectors)
    t = lap("score", t)
    # The same excerpts through the system's own entry point must give the same suggestions.
    from fieldnotes.coding.run import suggest

    made = {(s.excerpt_id, s.code_id) for s in suggest(parts.coder, [mapping.excerpts[k] for k in keys], vectors)}
    ours = {
        (mapping.excerpts[k].excerpt_id, code_ids[c])
        for r, k in enumerate(keys)
        for c in range(len(code_ids))
        if methods.predictions["fieldnotes"][r, c]
    }
    out(
        f"check: fieldnotes.coding.run.suggest gives {len(made)} suggestions on these excerpts, "
        f"{'the same' if made == ours else 'NOT the same'} as scored here"
    )
    for note in methods.notes:
        out(f"note: {note}")
    out(f"embedded {embedder.encoded} new texts this run (cache {embedder.path.relative_to(ROOT)})")

    results: dict = {
        "labels": str(LABELS.relative_to(ROOT)),
        "codebook": loaded.describe(),
        "model": embedder.model_id,
        "notes": methods.notes,
        "mapping": {"counts": mapping.counts, "problems": mapping.problems},
        "splits": {},
    }
    for split in splits:
        units = [u for u in mapping.units if split == "all" or u.split == split]
        by_unit: dict[str, dict] = {}
        by_passage: dict[str, dict] = {}
        passages = 0
        for name, matrix in methods.predictions.items():
            excerpt_predictions = dict(zip(keys, matrix, strict=True))
            predicted, truth = unit_matrices(units, excerpt_predictions, code_ids)
            by_unit[name] = figures(predicted, truth, code_ids)
            p, g, passages = passage_matrices(units, predicted, truth)
            by_passage[name] = figures(p, g, code_ids)
        out("")
        out(format_figures(f"{split}, excerpt unit", by_unit, code_ids))
        out("")
        out(format_figures(f"{split}, passage unit ({passages} passages with labelled excerpts)", by_passage, code_ids))
        results["splits"][split] = {"excerpt": by_unit, "passage": by_passage}
    clock["total"] = round(time.perf_counter() - started, 1)
    results["seconds"] = clock
    out("")
    out("runtime: " + ", ".join(f"{k} {v:.1f} s" for k, v in clock.items()))
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(results, indent=2, default=float) + "\n", encoding="utf-8")
        out(f"wrote {json_path}")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", choices=SPLITS, action="append", help="repeatable; default: dev, test and all")
    parser.add_argument("--json", type=Path, help="write the figures (numbers, ids and code names) to FILE")
    parser.add_argument("--settings", type=Path, help="a fieldnotes settings file (default: the shipped defaults)")
    args = parser.parse_args()
    run(args.split or list(SPLITS), args.json, settings_path=args.settings)


if __name__ == "__main__":
    main()
