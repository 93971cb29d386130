"""The performance benchmark runs end to end at a tiny size and prints every row of its table."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from types import ModuleType

import pytest
from conftest import REPO


def _load(name: str) -> ModuleType:
    """A benchmarks/ script as a module, under a name no other module has."""
    spec = importlib.util.spec_from_file_location(f"fieldnotes_benchmark_{name}", REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


benchmark = _load("run")  # puts benchmarks/ on sys.path for its sibling `synthetic`
synthetic = _load("synthetic")


def test_synthetic_corpus_has_every_format_site_and_is_seeded(tmp_path):
    vocabulary = synthetic.load_vocabulary()
    first = synthetic.generate(tmp_path / "a", 60, seed=3, vocabulary=vocabulary)
    again = synthetic.generate(tmp_path / "b", 60, seed=3, vocabulary=vocabulary)
    assert first.paragraphs >= 60
    assert all(first.by_format[name] for name in synthetic.FORMATS)
    texts = sorted(p.read_text(encoding="utf-8") for p in first.documents if p.suffix != ".docx")
    assert texts == sorted(p.read_text(encoding="utf-8") for p in again.documents if p.suffix != ".docx")
    front = next(p for p in first.documents if p.suffix == ".md").read_text(encoding="utf-8")
    assert front.startswith("---\ntitle: ") and "\nsite: " in front
    edited = first.edit_one()
    added = first.add_one()
    assert edited.read_text(encoding="utf-8") != next(p for p in again.documents if p.name == edited.name).read_text(
        encoding="utf-8"
    )
    assert added.is_file() and added in first.documents


def test_measure_reports_a_child_s_own_peak_memory():
    small = benchmark.measure([sys.executable, "-c", "pass"], benchmark.child_env())
    big = benchmark.measure(
        [sys.executable, "-c", "x = bytearray(300 * 1024 * 1024); x[::4096] = b'1' * len(x[::4096])"],
        benchmark.child_env(),
    )
    assert small.returncode == 0 and big.returncode == 0
    assert small.peak_rss_mb < 100 < 300 <= big.peak_rss_mb


@pytest.mark.slow
def test_benchmark_prints_every_row_at_a_tiny_size(tmp_path):
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "run.py"),
            "--passages",
            "40",
            "--repeats",
            "1",
            "--json",
            str(out),
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    table = result.stdout
    for label in benchmark.ROW_LABELS:
        assert label in table, label
    payload = json.loads(out.read_text(encoding="utf-8"))
    size = payload["sizes"][0]
    assert size["passages"] >= 40 and size["excerpts"] > size["passages"]
    assert size["raw_encode_seconds"] > 0 and size["embedded_texts"] > size["excerpts"]
    cold, warm = size["runs"]["cold"], size["runs"]["warm"]
    assert cold["peak_rss_mb"] > 0 and warm["seconds"] < cold["seconds"]
    assert size["timings"]["cold"]["embed"] > 0 and "themes" in size["timings"]["cold"]
    assert size["embedded"]["warm"] == 0 and size["embedded"]["incremental"] > 0
    assert {"fieldnotes --help", "fieldnotes codebook check"} <= set(payload["startup"])
