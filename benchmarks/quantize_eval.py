"""Is int8 dynamic quantisation of the embedding model good enough to use, and how much faster is it?

Usage: python benchmarks/quantize_eval.py [--texts 2000] [--threads 0]

Compares the model as fieldnotes loads it with the same model after
`torch.ao.quantization.quantize_dynamic` (int8 weights for every Linear layer):

- agreement: cosine similarity between the two models' vectors for the codebook's
  reference excerpts (codebooks/coproduction-reference.csv), mean / 1st percentile / min;
- quality: micro-F1 of `fieldnotes evaluate` on the reference excerpts (the development set,
  learned suggester cross-validated) and on the held-out test set (benchmarks/gold/test.csv),
  each with the shipped calibration, in a temporary results folder;
- speed: encode time of the reference excerpts plus synthetic field-note sentences
  (benchmarks/synthetic.py), same batch size, each model timed twice, best taken.

The rule from the performance issue: adopt only with mean cosine >= 0.99 and no drop in F1.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import synthetic  # the sibling module, found through the path set above

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "codebooks" / "coproduction-reference.csv"
TEST = ROOT / "benchmarks" / "gold" / "test.csv"


class QuantizedEmbedder:
    """fieldnotes' embedder with int8 Linear layers; its own model id keeps the cache apart."""

    def __init__(self, base, layers: str = "all") -> None:
        import copy

        import torch

        self.base = base
        self.model_id = f"{base.model_id}+int8-dynamic-{layers}"
        self.batch_size = base.batch_size
        model = copy.deepcopy(base._load())
        if layers == "all":
            spec = {torch.nn.Linear}
        else:  # the feed-forward block only (2/3 of the Linear work), attention kept in float32
            spec = {
                name: torch.ao.quantization.default_dynamic_qconfig
                for name, module in model.named_modules()
                if isinstance(module, torch.nn.Linear)
                and name.endswith(("intermediate.dense", "output.dense"))
                and "attention" not in name
            }
        self._model = torch.ao.quantization.quantize_dynamic(model, spec, dtype=torch.qint8)

    def _load(self):
        return self._model

    def encode(self, texts):
        import numpy as np

        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return self._model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True
        ).astype(np.float32)


def best_of(runs: int, func) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return min(times)


def micro_f1(gold: Path, embedder, out: Path) -> float:
    from fieldnotes import registry
    from fieldnotes.codebook import load_codebook
    from fieldnotes.coding.evaluation import evaluate
    from fieldnotes.settings import load_settings
    from fieldnotes.store import Store, database_path

    settings = load_settings()
    # evaluate() builds its embedder from the settings' backend: hand it the one under test.
    with (
        registry.embedders.temporarily(settings.embedding.backend, lambda embedding_settings: embedder),
        Store.open(database_path(out)) as store,
    ):
        result = evaluate(gold, load_codebook(settings.coding.codebook), settings, store)
    return next(method.micro.f1 for method in result.methods if method.name == "fieldnotes")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=2000, help="synthetic sentences added to the speed test")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument(
        "--layers", choices=("all", "ffn"), default="all", help="quantise every Linear layer or the feed-forward ones"
    )
    args = parser.parse_args()

    import numpy as np
    import torch

    from fieldnotes.embedding import SentenceTransformerEmbedder
    from fieldnotes.settings import load_settings

    if args.threads:
        torch.set_num_threads(args.threads)
    settings = load_settings()
    full = SentenceTransformerEmbedder(settings.embedding.model, settings.embedding.batch_size)
    full._load()
    quantized = QuantizedEmbedder(full, args.layers)
    reference = _reference_texts()
    vocabulary = synthetic.load_vocabulary()
    rng = random.Random(1)
    used: set[str] = set()
    sentences = [synthetic._sentence(rng, vocabulary, rng.choice(synthetic.SITES), used) for _ in range(args.texts)]
    speed_texts = reference + sentences

    a, b = full.encode(reference), quantized.encode(reference)
    cosines = (a * b).sum(axis=1)
    threads = torch.get_num_threads()
    print(f"torch {torch.__version__}, {threads} threads, batch {full.batch_size}, quantised layers: {args.layers}")
    print(
        f"agreement on {len(reference)} reference excerpts: cosine mean {cosines.mean():.4f}, "
        f"p1 {np.percentile(cosines, 1):.4f}, min {cosines.min():.4f}"
    )
    full_seconds = best_of(2, lambda: full.encode(speed_texts))
    quantized_seconds = best_of(2, lambda: quantized.encode(speed_texts))
    print(
        f"speed on {len(speed_texts)} texts: full {full_seconds:.1f} s ({len(speed_texts) / full_seconds:.0f}/s), "
        f"int8 {quantized_seconds:.1f} s ({len(speed_texts) / quantized_seconds:.0f}/s), "
        f"speed-up {full_seconds / quantized_seconds:.2f}x"
    )
    for name, gold in (("development (reference, cross-validated)", REFERENCE), ("held-out test", TEST)):
        with tempfile.TemporaryDirectory() as tmp_full, tempfile.TemporaryDirectory() as tmp_int8:
            f1_full = micro_f1(gold, full, Path(tmp_full))
            f1_int8 = micro_f1(gold, quantized, Path(tmp_int8))
        print(f"micro-F1 {name}: full {f1_full:.3f}, int8 {f1_int8:.3f} ({f1_int8 - f1_full:+.3f})")
    return 0


def _reference_texts() -> list[str]:
    import csv

    with REFERENCE.open(encoding="utf-8", newline="") as handle:
        return [row["text"] for row in csv.DictReader(handle)]


if __name__ == "__main__":
    sys.exit(main())
