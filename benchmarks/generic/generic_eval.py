"""Codebook-agnostic code suggestions, measured leave one codebook out (research prototype, issue 14).

    . .venv/bin/activate; export HF_HUB_OFFLINE=1
    python benchmarks/generic/generic_eval.py [--seeds 0,1,2,3,4] [--json benchmarks/.cache/generic_eval.json]

Nothing in fieldnotes/ is changed; fieldnotes is used only through its API (embedder, rule matcher,
codebook loader, and the shipped coder as the "today" baseline, the way benchmarks/real/ does it).

Labelled sets (see README.md beside this file):
  A  co-production, the project-written reference set codebooks/coproduction-reference.csv (680);
  B  co-production, REAL dev split of benchmarks/real/coproduction_labels.csv (327; test is never read
     for its labels: units are filtered to split == dev before anything is computed);
  C  factcheck, 80 answers, 6 codes, gold = two of three coders (benchmarks/real/factcheck.py);
  D  co-production, Japanese written dev split of benchmarks/gold/ja-written.csv (54; evaluation only).
Codebooks for leave-one-codebook-out: {A, B, D} = co-production vs C = factcheck. Extra training
"codebooks" are re-partitions of the training codebook (code groups, random code subsets).

Only numbers, ids and code names are printed or written; no document or answer text.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
REAL = ROOT / "benchmarks" / "real"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(REAL))

import factcheck as fc  # noqa: E402
from coding_eval import FileCachedEmbedder, kappa, map_labels, predict_all, system_coder  # noqa: E402

JA_WRITTEN = ROOT / "benchmarks" / "gold" / "ja-written.csv"
COPROD_YAML = ROOT / "codebooks" / "coproduction.yaml"
COPROD_REF = ROOT / "codebooks" / "coproduction-reference.csv"
LEVELS = ("definitions", "as-written")  # what of each codebook the features may use


# ------------------------------------------------------------------------------------------------
# codebooks as plain data, and their prototypes
# ------------------------------------------------------------------------------------------------


@dataclass
class CodeInfo:
    id: str
    name: str
    definition: str
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)
    counters: list[str] = field(default_factory=list)
    group: str | None = None
    has_patterns: bool = False


@dataclass
class Protos:
    """Embedded prototypes per code, for one information level."""

    definition: np.ndarray  # K x d
    positive: list[np.ndarray]  # per code: examples + include rules (may be empty)
    examples: list[np.ndarray]
    negative: list[np.ndarray]  # per code: counter-examples + exclude rules (may be empty)


def build_protos(codes: list[CodeInfo], embed, level: str, extra_pos=None, extra_neg=None) -> Protos:
    d = embed([f"{c.name}: {c.definition}" for c in codes])
    empty = np.zeros((0, d.shape[1]), dtype=np.float32)
    pos, exs, neg = [], [], []
    for i, c in enumerate(codes):
        if level == "definitions":
            ex, inc, ne = [], [], []
        else:
            ex, inc, ne = c.examples, c.include, c.counters + c.exclude
        e = embed(ex) if ex else empty
        p = np.vstack([e, embed(inc)]) if inc else e
        n = embed(ne) if ne else empty
        if extra_pos is not None and len(extra_pos[i]):
            e = np.vstack([e, extra_pos[i]])
            p = np.vstack([p, extra_pos[i]])
        if extra_neg is not None and len(extra_neg[i]):
            n = np.vstack([n, extra_neg[i]])
        exs.append(e)
        pos.append(p)
        neg.append(n)
    return Protos(d, pos, exs, neg)


def raw_sims(vectors: np.ndarray, protos: Protos) -> dict[str, np.ndarray]:
    """Per excerpt x code: cosine to the definition, best example, best positive / negative prototype."""
    n, k = len(vectors), len(protos.definition)
    out = {"def": vectors @ protos.definition.T}
    ex = out["def"].copy()
    pos = out["def"].copy()
    negm = np.full((n, k), np.nan, dtype=np.float32)
    for c in range(k):
        if len(protos.examples[c]):
            ex[:, c] = (vectors @ protos.examples[c].T).max(axis=1)
        if len(protos.positive[c]):
            pos[:, c] = np.maximum(pos[:, c], (vectors @ protos.positive[c].T).max(axis=1))
        if len(protos.negative[c]):
            negm[:, c] = (vectors @ protos.negative[c].T).max(axis=1)
    out["ex"], out["proto"], out["neg"] = ex, pos, negm
    return out


# ------------------------------------------------------------------------------------------------
# features that mean the same in any codebook
# ------------------------------------------------------------------------------------------------

FEATURES = {
    "def": "cosine of the excerpt to 'name: definition'",
    "proto": "max cosine to any positive prototype of the code (definition, examples, include rules)",
    "contrast": "proto minus max cosine to a negative prototype (counter-examples, exclude rules); 0 if none",
    "zc_def": "def standardised within the code over the excerpts being coded (transductive)",
    "zc_proto": "proto standardised within the code over the excerpts being coded",
    "ze_def": "def standardised within the excerpt over the codebook's codes",
    "ze_proto": "proto standardised within the excerpt over the codes",
    "rank_recip": "1 / rank of the code for the excerpt (ranked by zc_proto)",
    "rank_norm": "(rank - 1) / (K - 1): 0 for the best code, 1 for the worst",
    "margin_z": "zc_proto minus the best other code's zc_proto",
    "margin_raw": "proto minus the best other code's proto",
    "rule": "1 if one of the code's keyword patterns matches",
    "log_k": "log of the number of codes in the codebook (context)",
}
# Monotone direction of each feature (for the boosted combiner): +1 more evidence, -1 less, 0 free.
MONOTONE = {"rank_norm": -1, "log_k": 0}


def _z(x: np.ndarray, axis: int) -> np.ndarray:
    m = x.mean(axis=axis, keepdims=True)
    s = x.std(axis=axis, keepdims=True)
    return (x - m) / np.where(s < 1e-6, 1.0, s)


def view_features(sims: dict[str, np.ndarray], rules: np.ndarray | None, columns: list[int]) -> dict[str, np.ndarray]:
    """Features of one view (a codebook, or a subset of its codes) over one pool of excerpts."""
    d = sims["def"][:, columns].astype(np.float64)
    p = sims["proto"][:, columns].astype(np.float64)
    neg = sims["neg"][:, columns].astype(np.float64)
    n, k = d.shape
    zc_p = _z(p, 0)
    order = np.argsort(-zc_p, axis=1)
    rank = np.empty_like(order)
    rank[np.arange(n)[:, None], order] = np.arange(1, k + 1)[None, :]

    def margin(x):
        if k == 1:
            return np.zeros_like(x)
        top2 = np.sort(x, axis=1)[:, -2:]
        best, second = top2[:, 1:2], top2[:, 0:1]
        return np.where(x >= best, x - second, x - best)

    return {
        "def": d,
        "proto": p,
        "contrast": np.where(np.isnan(neg), 0.0, p - np.nan_to_num(neg)),
        "zc_def": _z(d, 0),
        "zc_proto": zc_p,
        "ze_def": _z(d, 1),
        "ze_proto": _z(p, 1),
        "rank_recip": 1.0 / rank,
        "rank_norm": (rank - 1) / max(k - 1, 1),
        "margin_z": margin(zc_p),
        "margin_raw": margin(p),
        "rule": rules[:, columns].astype(np.float64) if rules is not None else np.zeros((n, k)),
        "log_k": np.full((n, k), math.log(k)),
    }


def pool_units(feats: dict[str, np.ndarray], owner: np.ndarray | None, n_units: int) -> dict[str, np.ndarray]:
    """Unit features from excerpt features: max over the unit's excerpts (min for rank_norm)."""
    if owner is None:
        return feats
    out = {}
    for name, x in feats.items():
        if name == "rank_norm":
            y = np.full((n_units, x.shape[1]), np.inf)
            np.minimum.at(y, owner, x)
        else:
            y = np.full((n_units, x.shape[1]), -np.inf)
            np.maximum.at(y, owner, x)
        out[name] = y
    return out


def pool_max(x: np.ndarray, owner: np.ndarray | None, n_units: int) -> np.ndarray:
    if owner is None:
        return x
    y = np.full((n_units, x.shape[1]), -np.inf)
    np.maximum.at(y, owner, x)
    return y


# ------------------------------------------------------------------------------------------------
# labelled sets
# ------------------------------------------------------------------------------------------------


@dataclass
class LabelledSet:
    name: str
    family: str  # the codebook it belongs to (the LOCO unit)
    codes: list[CodeInfo]
    vectors: np.ndarray  # excerpts x d
    gold: np.ndarray  # units x K (0/1)
    owner: np.ndarray | None = None  # unit of each excerpt (None: excerpt = unit)
    rules: np.ndarray | None = None  # excerpts x K pattern hits (None: codebook has no patterns)
    system: np.ndarray | None = None  # today's fieldnotes predictions, units x K
    system_note: str = ""
    whole_vectors: np.ndarray | None = None


def coproduction_codes() -> list[CodeInfo]:
    import yaml

    data = yaml.safe_load(COPROD_YAML.read_text(encoding="utf-8"))
    return [
        CodeInfo(
            c["id"],
            c["name"],
            " ".join(c["definition"].split()),
            c.get("include", []),
            c.get("exclude", []),
            c.get("examples", []),
            c.get("counter_examples", []),
            c.get("parent"),
            bool(c.get("patterns")),
        )
        for c in data["codes"]
    ]


def rule_hits(matcher, code_ids: list[str], texts: list[str]) -> np.ndarray:
    found = matcher.match(texts)
    return np.array([[1.0 if c in f else 0.0 for c in code_ids] for f in found], dtype=np.float32).reshape(
        len(texts), len(code_ids)
    )


def load_sets(log) -> tuple[list[LabelledSet], dict]:
    from fieldnotes.codebook import load_codebook
    from fieldnotes.coding.gold import load_gold
    from fieldnotes.coding.rules import RuleMatcher
    from fieldnotes.settings import load_settings

    settings = load_settings(None)
    loaded = load_codebook(COPROD_YAML)
    code_ids = loaded.codebook.code_ids
    codes = coproduction_codes()
    assert [c.id for c in codes] == code_ids
    matcher = RuleMatcher(loaded.codebook)
    emb_generic = FileCachedEmbedder(settings, "generic")
    emb_real = FileCachedEmbedder(settings, "real-coding")
    emb_fc = FileCachedEmbedder(settings, "real-factcheck")
    t = time.perf_counter()
    parts = system_coder(loaded, settings, emb_generic)
    log(f"today's coder built ({time.perf_counter() - t:.0f} s): scoring {parts.coder.scoring}")
    sets = []

    # A: the project-written reference set (today's calibration was fitted on it: in-sample for 'today')
    gold_a = load_gold(COPROD_REF, code_ids)
    va = emb_generic.encode(gold_a.texts)
    sys_a = predict_all(parts, gold_a.texts, va).predictions["fieldnotes"]
    sets.append(
        LabelledSet(
            "A co-prod written ref",
            "coproduction",
            codes,
            va,
            gold_a.labels.astype(np.int8),
            None,
            rule_hits(matcher, code_ids, gold_a.texts),
            sys_a,
            "in-sample: today's calibration was fitted on A",
        )
    )

    # B: real dev (labels of the test split are dropped before anything is computed)
    mapping = map_labels()
    units = [u for u in mapping.units if u.split == "dev"]
    keys = sorted({k for u in units for k in u.excerpt_keys})
    index = {k: i for i, k in enumerate(keys)}
    texts_b = [mapping.excerpts[k].text for k in keys]
    vb = emb_real.encode(texts_b)
    owner_b = None
    if any(len(u.excerpt_keys) != 1 for u in units) or len(keys) != len(units):
        # a unit over several excerpts: its excerpts' features pooled (never happens on today's mapping)
        raise SystemExit("a dev label does not map 1:1 to an excerpt; pooling not implemented here")
    order = [index[u.excerpt_keys[0]] for u in units]
    gb = np.zeros((len(units), len(code_ids)), dtype=np.int8)
    for r, u in enumerate(units):
        for c in u.codes:
            gb[r, code_ids.index(c)] = 1
    vb = vb[order]
    texts_b = [texts_b[i] for i in order]
    sys_b = predict_all(parts, texts_b, vb).predictions["fieldnotes"]
    sets.append(
        LabelledSet(
            "B co-prod REAL dev",
            "coproduction",
            codes,
            vb,
            gb,
            owner_b,
            rule_hits(matcher, code_ids, texts_b),
            sys_b,
            "shipped calibration, threshold 0.33",
        )
    )

    # D: Japanese written, dev ids only
    with JA_WRITTEN.open(encoding="utf-8", newline="") as h:
        rows = [r for r in csv.DictReader(h) if r["split"] == "dev"]
    texts_d = [r["text"] for r in rows]
    gd = np.array(
        [[1 if c in {x.strip() for x in r["codes"].split(";")} else 0 for c in code_ids] for r in rows], dtype=np.int8
    )
    vd = emb_generic.encode(texts_d)
    sys_d = predict_all(parts, texts_d, vd).predictions["fieldnotes"]
    sets.append(
        LabelledSet(
            "D co-prod JA written dev",
            "coproduction",
            codes,
            vd,
            gd,
            None,
            rule_hits(matcher, code_ids, texts_d),
            sys_d,
            "shipped calibration",
        )
    )

    # C: factcheck (its codebook converted at run time as factcheck.py does; definitions + the one example)
    coded = fc.load_coded()
    parsed = fc.parse_codebook(fc.DATA / "codebook.txt")
    data = fc.codebook_data(parsed, "examples")
    fcodes = [CodeInfo(c["id"], c["name"], c["definition"], examples=c.get("examples", [])) for c in data["codes"]]
    with tempfile.TemporaryDirectory(prefix="fieldnotes-generic-") as tmp:
        tmp = Path(tmp)
        excerpts = fc.segment(coded, tmp / "answers")
        flat = [x for g in excerpts for x in g]
        owner = np.array([r for r, g in enumerate(excerpts) for _ in g])
        inputs = fc.Inputs(flat, emb_fc.encode(flat), owner, emb_fc.encode(coded.texts))
        fl = load_codebook(fc.write_codebook(tmp / "a2", data))
        fparts = system_coder(fl, settings, emb_fc)
        preds, _ = fc.predictions(fparts, inputs, coded)
    sets.append(
        LabelledSet(
            "C factcheck (80 answers)",
            "factcheck",
            fcodes,
            inputs.excerpt_vectors,
            coded.gold.astype(np.int8),
            owner,
            None,
            preds["any excerpt"]["fieldnotes"],
            "a2: definitions + examples, shipped co-production calibration, any excerpt",
            inputs.whole_vectors,
        )
    )
    embedders = {"generic": emb_generic, "real": emb_real, "fc": emb_fc}
    extra = {"embed": emb_generic.encode, "coded": coded, "embedders": embedders}
    return sets, extra


# ------------------------------------------------------------------------------------------------
# views (re-partitions) and feature tables
# ------------------------------------------------------------------------------------------------


@dataclass
class View:
    set_name: str
    family: str
    columns: list[int]
    label: str
    weight: float = 1.0


def views_for(s: LabelledSet, repartition: bool, rng: random.Random) -> list[View]:
    k = len(s.codes)
    out = [View(s.name, s.family, list(range(k)), "all codes")]
    if not repartition:
        return out
    groups: dict[str, list[int]] = {}
    for i, c in enumerate(s.codes):
        if c.group:
            groups.setdefault(c.group, []).append(i)
    for g, cols in groups.items():
        if len(cols) >= 3:
            out.append(View(s.name, s.family, cols, f"group {g}"))
    size_range = (5, 7) if k >= 10 else (3, k - 1)
    for _j in range(4 if k >= 10 else 6):
        size = rng.randint(*size_range)
        out.append(View(s.name, s.family, sorted(rng.sample(range(k), size)), f"random {size} codes"))
    # each labelled set weighs 1 in total, split equally over its views
    for v in out:
        v.weight = 1.0 / len(out)
    return out


class FeatureBank:
    """Features per (set, level, view), computed once."""

    def __init__(self, sets: list[LabelledSet], embed):
        self.sets = {s.name: s for s in sets}
        self.embed = embed
        self.sims: dict = {}

    def sims_of(self, s: LabelledSet, level: str, protos: Protos | None = None, key: str = "") -> dict:
        k = (s.name, level, key)
        if k not in self.sims:
            protos = protos or build_protos(s.codes, self.embed, level)
            self.sims[k] = raw_sims(s.vectors, protos)
        return self.sims[k]

    def table(self, view: View, level: str, names: list[str], key: str = "", protos=None, pooled=True):
        s = self.sets[view.set_name]
        sims = self.sims_of(s, level, protos, key)
        rules = s.rules if level != "definitions" else None
        feats = view_features(sims, rules, view.columns)
        if pooled:
            feats = pool_units(feats, s.owner, len(s.gold))
        x = np.stack([feats[n] for n in names], axis=-1)  # units x k x f
        y = s.gold[:, view.columns]
        return x, y, feats


def feature_names(level: str) -> list[str]:
    if level == "definitions":
        return ["def", "zc_def", "ze_def", "rank_recip", "rank_norm", "margin_z", "margin_raw", "log_k"]
    return list(FEATURES)


# ------------------------------------------------------------------------------------------------
# combiners and threshold policies
# ------------------------------------------------------------------------------------------------


class Combiner:
    def __init__(self, kind: str, names: list[str]):
        self.kind, self.names = kind, names

    def fit(self, xs: list[np.ndarray], ys: list[np.ndarray], weights: list[float]):
        x = np.concatenate([a.reshape(-1, a.shape[-1]) for a in xs])
        y = np.concatenate([b.reshape(-1) for b in ys]).astype(int)
        w = []
        for _a, b, wt in zip(xs, ys, weights, strict=True):
            b = b.reshape(-1)
            pos, neg = max(b.sum(), 1), max((1 - b).sum(), 1)
            # each view weighs `wt`, half of it on its positives and half on its negatives
            w.append(np.where(b == 1, 0.5 * wt / pos, 0.5 * wt / neg))
        w = np.concatenate(w)
        w = w * len(w) / w.sum()
        self.mean = x.mean(axis=0)
        self.scale = x.std(axis=0)
        self.scale[self.scale < 1e-9] = 1.0
        z = (x - self.mean) / self.scale
        if self.kind == "logistic":
            from sklearn.linear_model import LogisticRegression

            self.model = LogisticRegression(C=0.1, max_iter=2000)
        else:
            from sklearn.ensemble import HistGradientBoostingClassifier

            cst = [MONOTONE.get(n, 1) for n in self.names]
            self.model = HistGradientBoostingClassifier(
                max_depth=3,
                max_iter=150,
                learning_rate=0.05,
                min_samples_leaf=40,
                l2_regularization=1.0,
                monotonic_cst=cst,
                random_state=0,
            )
        self.model.fit(z, y, sample_weight=w)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        shape = x.shape[:-1]
        z = (x.reshape(-1, x.shape[-1]) - self.mean) / self.scale
        return self.model.predict_proba(z)[:, 1].reshape(shape)

    def weights(self) -> dict[str, float]:
        if self.kind != "logistic":
            return {}
        return dict(zip(self.names, self.model.coef_[0].tolist(), strict=True))


GRID = np.round(np.arange(0.05, 0.96, 0.025), 3)


def micro_f1(pred: np.ndarray, gold: np.ndarray) -> float:
    tp = int((pred & (gold == 1)).sum())
    p, g = int(pred.sum()), int(gold.sum())
    return 0.0 if tp == 0 else 2 * tp / (p + g)


def apply_policy(p: np.ndarray, policy: tuple) -> np.ndarray:
    kind = policy[0]
    if kind == "fixed":
        return p >= policy[1]
    t, floor = policy[1], policy[2]
    top = np.zeros_like(p, dtype=bool)
    top[np.arange(len(p)), p.argmax(axis=1)] = True
    return (p >= t) | (top & (p >= floor))


def fit_policy(kind: str, scored: list[tuple[np.ndarray, np.ndarray, str]]) -> tuple:
    """Choose the policy's parameters on the training views: best mean over training SETS of micro-F1
    (each set's views pooled)."""
    by_set: dict[str, list] = {}
    for p, y, name in scored:
        by_set.setdefault(name, []).append((p, y))

    def objective(policy):
        vals = []
        for items in by_set.values():
            tp = pr = gs = 0
            for p, y in items:
                pred = apply_policy(p, policy)
                tp += int((pred & (y == 1)).sum())
                pr += int(pred.sum())
                gs += int(y.sum())
            vals.append(0.0 if tp == 0 else 2 * tp / (pr + gs))
        return float(np.mean(vals))

    cands = [("fixed", t) for t in GRID] if kind == "fixed" else [("top1", t, f) for t in GRID for f in GRID if f <= t]
    return max(cands, key=objective)


# ------------------------------------------------------------------------------------------------
# metrics
# ------------------------------------------------------------------------------------------------


def metrics(pred: np.ndarray, gold: np.ndarray) -> dict:
    pred, gold = pred.astype(bool), gold.astype(bool)
    k = gold.shape[1]
    tp = (pred & gold).sum(axis=0)
    fp = (pred & ~gold).sum(axis=0)
    fn = (~pred & gold).sum(axis=0)
    f1 = np.where(tp > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)
    support = gold.sum(axis=0)
    kap = np.array([kappa(pred[:, c], gold[:, c]) for c in range(k)])
    coded = gold.any(axis=1)
    mp = tp.sum() / max(pred.sum(), 1)
    mr = tp.sum() / max(gold.sum(), 1)
    return {
        "micro_p": float(mp),
        "micro_r": float(mr),
        "micro_f1": float(micro_f1(pred, gold.astype(int))),
        "macro_f1": float(f1[support > 0].mean()) if (support > 0).any() else float("nan"),
        "macro_f1_s5": float(f1[support >= 5].mean()) if (support >= 5).any() else float("nan"),
        "mean_kappa": float(kap[support > 0].mean()) if (support > 0).any() else float("nan"),
        "kappa": kap.round(3).tolist(),
        "f1": f1.round(3).tolist(),
        "support": support.tolist(),
        "per_unit": float(pred.sum(axis=1).mean()),
        "gold_per_unit": float(gold.sum(axis=1).mean()),
        "coded_none": float((coded & ~pred.any(axis=1)).sum() / max(coded.sum(), 1)),
        "uncoded_some": float((~coded & pred.any(axis=1)).sum() / max((~coded).sum(), 1)),
        "units": len(gold),
    }


def fmt_row(label: str, m: dict) -> str:
    return (
        f"| {label} | {m['micro_p']:.2f} | {m['micro_r']:.2f} | {m['micro_f1']:.2f} | {m['macro_f1']:.2f} | "
        f"{m['macro_f1_s5']:.2f} | {m['mean_kappa']:.2f} | {m['per_unit']:.2f} ({m['gold_per_unit']:.2f}) | "
        f"{m['coded_none']:.0%} | {m['uncoded_some']:.0%} |"
    )


HEAD = (
    "| method | micro P | micro R | micro F1 | macro-F1 | macro-F1 s>=5 | mean kappa | sugg./unit (gold) | "
    "coded, none | uncoded, some |\n|---|---|---|---|---|---|---|---|---|---|"
)


# ------------------------------------------------------------------------------------------------
# the experiment
# ------------------------------------------------------------------------------------------------


def train_views(sets, family_out: str, rng_seed: int = 0):
    rng = random.Random(rng_seed)
    return [v for s in sets if s.family != family_out and not s.name.startswith("D") for v in views_for(s, True, rng)]


def fit_fold(bank, sets, family_out, level, kind, names=None):
    names = names or feature_names(level)
    views = train_views(sets, family_out)
    xs, ys, ws = [], [], []
    for v in views:
        x, y, _ = bank.table(v, level, names)
        xs.append(x)
        ys.append(y)
        ws.append(v.weight)
    comb = Combiner(kind, names).fit(xs, ys, ws)
    scored = [(comb.predict(x), y, v.set_name) for x, y, v in zip(xs, ys, views, strict=True)]
    return comb, scored, views


def evaluate_fold(bank, sets, target: LabelledSet, level, kind, policies, names=None):
    comb, scored, views = fit_fold(bank, sets, target.family, level, kind, names)
    full = View(target.name, target.family, list(range(len(target.codes))), "all")
    names = comb.names
    x, _y, _feats = bank.table(full, level, names)
    p = comb.predict(x)
    out = {}
    for pk in policies:
        pol = fit_policy(pk, scored)
        pred = apply_policy(p, pol)
        out[pk] = (pol, pred)
    # 'rate' policy: the threshold on the target's own pool (no labels) that gives as many suggestions
    # per excerpt as the training codebooks have gold codes per excerpt
    xe, _, _ = bank.table(full, level, names, pooled=False)
    pe = comb.predict(xe)
    rate = train_rate(sets, target.family)
    cells = round(rate * len(pe))
    t_rate = float(np.sort(pe.reshape(-1))[::-1][max(cells - 1, 0)])
    out["rate"] = (("rate", t_rate, rate), pool_max((pe >= t_rate).astype(float), target.owner, len(target.gold)) > 0)
    # 'any excerpt' variant: score every excerpt, then max over the unit's excerpts
    if target.owner is not None:
        xe, _, _ = bank.table(full, level, names, pooled=False)
        pe = pool_max(comb.predict(xe), target.owner, len(target.gold))
        for pk in policies:
            out[pk + ", max over excerpts"] = (out[pk][0], apply_policy(pe, out[pk][0]))
    return comb, p, out, views


def excerpt_rate(s: LabelledSet) -> float:
    """Gold codes per excerpt; for a set labelled per text, a lower bound (each code in one excerpt)."""
    return float(s.gold.sum() / len(s.vectors))


def train_rate(sets, family_out) -> float:
    return float(np.mean([excerpt_rate(s) for s in sets if s.family != family_out and not s.name.startswith("D")]))


def zero_shot(bank, sets, target):
    """Definition cosine, one threshold best on the training sets (mean micro-F1 over sets)."""
    scored = []
    for s in sets:
        if s.family == target.family or s.name.startswith("D"):
            continue
        v = View(s.name, s.family, list(range(len(s.codes))), "all")
        x, y, _ = bank.table(v, "definitions", ["def"])
        scored.append((x[..., 0], y, s.name))
    grid = np.round(np.arange(0.0, 0.8, 0.01), 2)

    def obj(t):
        return np.mean([micro_f1(p >= t, y) for p, y, _ in scored])

    t = float(max(grid, key=obj))
    v = View(target.name, target.family, list(range(len(target.codes))), "all")
    x, y, _ = bank.table(v, "definitions", ["def"])
    return t, x[..., 0] >= t


def run(seeds: list[int], json_path: Path | None) -> dict:
    started = time.perf_counter()
    from fieldnotes.lazy import import_spacy

    import_spacy()
    warnings.filterwarnings("ignore", message=r".*\[W036\]")
    lines: list[str] = []

    def log(s=""):
        print(s, flush=True)
        lines.append(s)

    sets, extra = load_sets(log)
    bank = FeatureBank(sets, extra["embed"])
    by = {s.name: s for s in sets}
    log("gold codes per excerpt: " + ", ".join(f"{s.name} {excerpt_rate(s):.2f}" for s in sets))
    log(
        f"sets loaded ({time.perf_counter() - started:.0f} s): "
        + "; ".join(
            f"{s.name}: {len(s.gold)} units, {len(s.vectors)} excerpts, {len(s.codes)} codes, "
            f"{s.gold.sum(axis=1).mean():.2f} codes/unit"
            for s in sets
        )
    )
    results: dict = {"features": FEATURES, "folds": {}, "weights": {}, "fewshot": {}}
    policies = ["fixed", "top1"]

    for target in sets:
        tv = train_views(sets, target.family)
        log(
            f"\n## held out: {target.name} (codebook '{target.family}'); trained on "
            + ", ".join(sorted({v.set_name for v in tv}))
            + f" as {len(tv)} views: "
            + ", ".join(sorted({v.label.split(" ")[0] for v in tv}))
        )
        rows = []
        res = {}
        if target.system is not None:
            m = metrics(target.system, target.gold)
            rows.append((f"today's fieldnotes ({target.system_note})", m))
        if target.rules is not None:
            rows.append(("keywords only (any pattern hit)", metrics(target.rules > 0, target.gold)))
        t, zs = zero_shot(bank, sets, target)
        rows.append((f"zero-shot definition cosine, t={t:.2f} from training codebooks", metrics(zs, target.gold)))
        # unfitted scores, one label-free rate policy (suggestions per excerpt = the training codebooks' rate)
        full = View(target.name, target.family, list(range(len(target.codes))), "all")
        _, _, fe = bank.table(full, "as-written", feature_names("as-written"), pooled=False)
        rate = train_rate(sets, target.family)
        simple = {"definition cosine": fe["def"], "zc_proto + ze_proto": fe["zc_proto"] + fe["ze_proto"]}
        if target.rules is not None:
            simple["zc_proto + ze_proto + 2 rule"] = fe["zc_proto"] + fe["ze_proto"] + 2 * fe["rule"]
        for label, sc in simple.items():
            cells = round(rate * len(sc))
            t_r = float(np.sort(sc.reshape(-1))[::-1][max(cells - 1, 0)])
            pred = pool_max((sc >= t_r).astype(float), target.owner, len(target.gold)) > 0
            rows.append((f"unfitted {label}, rate {rate:.2f} codes/excerpt", metrics(pred, target.gold)))
        for level in LEVELS:
            if level == "as-written" and target.family == "factcheck":
                label_level = "definitions + example"
            elif level == "as-written":
                label_level = "as written (incl/excl, examples, patterns)"
            else:
                label_level = "definitions only"
            for kind in ("logistic", "boosted"):
                comb, _p, out, _ = evaluate_fold(bank, sets, target, level, kind, policies)
                if kind == "logistic":
                    results["weights"][f"{target.family} out, {level}"] = comb.weights()
                for pk, (pol, pred) in out.items():
                    if pol[0] == "rate":
                        pol_s = f"rate {pol[2]:.2f} codes/excerpt (p>={pol[1]:.2f} on this pool)"
                    elif pol[0] == "fixed":
                        pol_s = f"p>={pol[1]:.2f}"
                    else:
                        pol_s = f"top-1 if p>={pol[2]:.2f}, others p>={pol[1]:.2f}"
                    label = f"LOCO {kind}, {label_level}, {pol_s}" + (", max over excerpts" if "max" in pk else "")
                    m = metrics(pred, target.gold)
                    rows.append((label, m))
                if level == "as-written" and kind == "logistic" and target.rules is not None:
                    pol, pred = out["top1"]
                    rows.append(
                        (
                            f"LOCO logistic, {label_level}, top-1 policy, OR any pattern hit",
                            metrics(pred | (target.rules > 0), target.gold),
                        )
                    )
        log(HEAD)
        for label, m in rows:
            log(fmt_row(label, m))
            res[label] = m
        results["folds"][target.name] = res
        codes = [c.id for c in target.codes]
        best = [r for r in rows if r[0].startswith("LOCO logistic") and "top-1 if" in r[0]]
        log(
            "\nper code (n, F1 / kappa): "
            + "; ".join(
                f"{c} n={rows[0][1]['support'][i]}: today {rows[0][1]['f1'][i]:.2f}/{rows[0][1]['kappa'][i]:.2f}"
                + "".join(
                    f", {('defs' if 'definitions only' in lab else 'written')} {m['f1'][i]:.2f}/{m['kappa'][i]:.2f}"
                    for lab, m in best
                    if "max over" not in lab
                )
                for i, c in enumerate(codes)
            )
        )

    log("\n## logistic weights (standardised features), per LOCO fold")
    for k, w in results["weights"].items():
        log(f"- {k}: " + ", ".join(f"{n} {v:+.2f}" for n, v in sorted(w.items(), key=lambda kv: -abs(kv[1]))))

    # ---- few-shot on factcheck -----------------------------------------------------------------
    target = by["C factcheck (80 answers)"]
    coded = extra["coded"]
    log("\n## few-shot on factcheck: 10 / 20 labelled answers, evaluated on the rest")
    human_all = fc.human_kappas(coded)
    log(f"human mean pairwise kappa, all 80: {np.mean(human_all):.2f}")
    level = "as-written"
    names = feature_names(level)
    comb0, scored0, views0 = fit_fold(bank, sets, "factcheck", level, "logistic")
    pol0 = fit_policy("top1", scored0)
    full = View(target.name, target.family, list(range(6)), "all")
    x_all, _y_all, _ = bank.table(full, level, names)
    p0 = comb0.predict(x_all)
    fs_rows: dict[str, list] = {}
    for size in (10, 20):
        for seed in seeds:
            ref = fc.choose_reference(coded.gold, size, seed)
            held = np.array([r for r in range(80) if r not in set(ref)])
            hk = float(np.mean(fc.human_kappas(coded, held)))
            ref = np.array(ref)

            def rec(name, pred, held=held, size=size, hk=hk):  # bound now: called within this iteration
                m = metrics(pred[held], target.gold[held])
                fs_rows.setdefault((size, name), []).append((m, hk))

            rec("LOCO, no labels used (0-shot)", apply_policy(p0, pol0))
            # (i) per-codebook threshold: one global threshold (top-1 floor kept) chosen on the labelled answers
            yref = target.gold[ref]
            cands = [("top1", t, min(pol0[2], t)) for t in GRID]

            def mean_kappa(pred, gold):
                return float(np.mean([kappa(pred[:, c], gold[:, c]) for c in range(gold.shape[1])]))

            best = max(cands, key=lambda pol: (mean_kappa(apply_policy(p0[ref], pol), yref), -abs(pol[1] - pol0[1])))
            rec("(i) LOCO + one threshold from the labelled answers (best mean kappa)", apply_policy(p0, best))
            # (i') per-code threshold shift: each code's threshold chosen on the labelled answers,
            # shrunk halfway to LOCO
            pred = np.zeros_like(p0, dtype=bool)
            for c in range(6):
                tc = max(GRID, key=lambda t: (kappa(p0[ref, c] >= t, yref[:, c]), -abs(t - pol0[1])))
                pred[:, c] = p0[:, c] >= 0.5 * (tc + pol0[1])
            rec("(i') LOCO + per-code threshold (shrunk to LOCO)", pred)
            # (ii) refit: training codebooks plus the labelled answers as one more codebook, weight w
            for w in (1.0, 3.0):
                xs, ys, ws = [], [], []
                for v in views0:
                    x, y, _ = bank.table(v, level, names)
                    xs.append(x), ys.append(y), ws.append(v.weight)
                xs.append(x_all[ref]), ys.append(yref), ws.append(w)
                comb = Combiner("logistic", names).fit(xs, ys, ws)
                sc = [(comb.predict(a), b, v.set_name) for a, b, v in zip(xs[:-1], ys[:-1], views0, strict=True)]
                sc.append((comb.predict(x_all[ref]), yref, "factcheck-labelled"))
                # the labelled answers count as much as all training sets together in the threshold choice
                sc += [(comb.predict(x_all[ref]), yref, f"factcheck-labelled-{j}") for j in range(int(w) - 1)]
                pol = fit_policy("top1", sc)
                rec(
                    f"(ii) refit with the labelled answers as a codebook, weight {w:g}",
                    apply_policy(comb.predict(x_all), pol),
                )
            # (iii) labelled answers as prototypes: positive answers become examples, negative ones counter-examples
            wv = target.whole_vectors
            pos = [wv[ref[yref[:, c] == 1]] for c in range(6)]
            negs = [wv[ref[yref[:, c] == 0]] for c in range(6)]
            protos = build_protos(target.codes, extra["embed"], level, pos, negs)
            x3, _, _ = bank.table(full, level, names, key=f"fs{size}-{seed}", protos=protos)
            rec("(iii) labelled answers added as examples / counter-examples", apply_policy(comb0.predict(x3), pol0))
            p3 = comb0.predict(x3)
            best3 = max(cands, key=lambda pol: (mean_kappa(apply_policy(p3[ref], pol), yref), -abs(pol[1] - pol0[1])))
            rec("(iii)+(i) prototypes and threshold from the labelled answers", apply_policy(p3, best3))
    log(
        f"seeds {seeds}; mean (sd) over seeds; human = mean pairwise kappa of the 3 coders on the same held-out answers"
    )
    log(
        "| labelled | method | micro-F1 | mean kappa | sd kappa | human kappa | per-code kappa "
        "(cutoff, debunk, lateral, media-lit, sci-denial, soc-norms) |"
    )
    log("|---|---|---|---|---|---|---|")
    for (size, name), ms in fs_rows.items():
        mk = [m["mean_kappa"] for m, _ in ms]
        pc = np.mean([m["kappa"] for m, _ in ms], axis=0)
        log(
            f"| {size} | {name} | {np.mean([m['micro_f1'] for m, _ in ms]):.2f} | {np.mean(mk):.2f} | "
            f"{np.std(mk):.2f} | {np.mean([h for _, h in ms]):.2f} | " + ", ".join(f"{v:.2f}" for v in pc) + " |"
        )
        results["fewshot"][f"{size}: {name}"] = {"mean_kappa": mk, "micro_f1": [m["micro_f1"] for m, _ in ms]}

    # ---- all-in fit: weights when every codebook is used (what would ship) -----------------------
    for level in LEVELS:
        names = feature_names(level)
        xs, ys, ws = [], [], []
        for v in [v for s in sets if not s.name.startswith("D") for v in views_for(s, True, random.Random(0))]:
            x, y, _ = bank.table(v, level, names)
            xs.append(x), ys.append(y), ws.append(v.weight)
        comb = Combiner("logistic", names).fit(xs, ys, ws)
        results["weights"][f"all codebooks, {level}"] = comb.weights()
        log(
            f"\nall-in logistic weights, {level}: "
            + ", ".join(f"{n} {v:+.2f}" for n, v in sorted(comb.weights().items(), key=lambda kv: -abs(kv[1])))
        )

    results["seconds"] = round(time.perf_counter() - started, 1)
    log(f"\nruntime {results['seconds']:.0f} s")
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(results, indent=1, default=float) + "\n", encoding="utf-8")
        print(f"wrote {json_path}")
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    run([int(s) for s in a.seeds.split(",") if s.strip()], a.json)


if __name__ == "__main__":
    main()
