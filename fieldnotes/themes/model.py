"""Topic modelling of passages with BERTopic, with models chosen by corpus size.

Unit: the passage (a paragraph). Sentences are too short for stable topics and
whole documents too mixed (one article covers three sites); a passage is what a
researcher reads as one point. A passage's embedding is the mean of its
excerpts' cached embeddings, so themes need no new model work for the text.

BERTopic's default UMAP + HDBSCAN needs a few hundred passages; below
`small_corpus` passages, PCA and k-means (k chosen by silhouette) take over, and
below three passages everything is one theme. Outliers are reassigned to their
nearest theme, so every passage has one. Every step is seeded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fieldnotes.settings import ThemeSettings
from fieldnotes.themes.tokenizer import PASSAGE_END, LemmaTokenizer

if TYPE_CHECKING:
    import numpy as np

SEED = 42
# UMAP finds neighbours exactly below 4,096 points and with NNDescent above, which runs in
# one thread once UMAP is seeded: 42 s of a 51 s UMAP fit at 10,000 passages. Blocked matrix
# products find the exact neighbours in about a second there (quadratic, but BLAS is fast);
# above this many passages UMAP's own approximate search takes over again.
EXACT_NEIGHBOURS_FROM = 4096
EXACT_NEIGHBOURS_UP_TO = 100_000
NEIGHBOUR_BLOCK_FLOATS = 1 << 22  # similarities computed at a time: 16 MB (and 32 MB of indexes)

SILHOUETTE_SAMPLE = 5000  # passages the silhouette is computed on, beyond this many


@dataclass
class ThemeResult:
    topics: list[int]  # one per passage, no -1
    labels: dict[int, str]
    words: dict[int, list[str]]
    representatives: dict[int, list[int]]  # indexes of representative passages
    method: str
    notes: list[str] = field(default_factory=list)
    # How each class (site) talks about a theme: BERTopic's topics_per_class words.
    words_by_class: dict[int, dict[str, str]] = field(default_factory=dict)


def cached_backend(embed: Callable[[list[str]], np.ndarray]):
    """A BERTopic embedding backend that embeds through `embed` (fieldnotes' embedding cache).

    The labelling models embed each theme's candidate words and representative passages;
    through the cache, a refit embeds only words never seen before, and loads no model at all
    when there are none.
    """
    from fieldnotes.lazy import import_bertopic

    import_bertopic()
    from bertopic.backend import BaseEmbedder

    class CachedBackend(BaseEmbedder):
        def embed(self, documents: list[str], verbose: bool = False) -> np.ndarray:
            # Representative passages come with their end mark; their vectors are cached without it.
            return embed([document.removesuffix(PASSAGE_END) for document in documents])

    return CachedBackend()


def _cache_umap_compilation() -> None:
    """Keep UMAP's numba-compiled functions on disk, as its own dependency pynndescent does.

    UMAP does not declare them `cache=True`, so every process compiled them again: 10-20 s
    of every UMAP fit on a 2-core machine, more than the fit itself at a few thousand passages.
    Turning numba's cache on before their first call stores the machine code beside UMAP
    (or in the user's cache folder when that is read-only); the results are the same.
    """
    import warnings

    import umap.distances
    import umap.layouts
    import umap.sparse
    import umap.umap_
    import umap.utils
    from numba.core.caching import NullCache
    from numba.core.registry import CPUDispatcher

    for module in (umap.umap_, umap.layouts, umap.utils, umap.distances, umap.sparse):
        for value in vars(module).values():
            # numba keeps a dispatcher's cache in a private attribute that its stubs do not declare.
            if isinstance(value, CPUDispatcher) and isinstance(value._cache, NullCache):  # type: ignore[attr-defined]
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # numba warns about functions it cannot cache
                        value.enable_caching()
                except Exception:  # no writable cache folder: this one compiles as before
                    continue


def exact_cosine_neighbours(vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The `k` nearest rows of every row of `vectors` by cosine distance, itself first, exactly:
    (indices as int32, distances as float32), as UMAP's `precomputed_knn` takes them. Ties go
    to the lower index, so the result is the same on every run."""
    import numpy as np

    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = (vectors / np.where(norms == 0, 1.0, norms)).astype(np.float32)
    n = len(unit)
    k = min(k, n)
    indices = np.empty((n, k), dtype=np.int32)
    distances = np.empty((n, k), dtype=np.float32)
    rows = max(1, NEIGHBOUR_BLOCK_FLOATS // max(n, 1))
    for start in range(0, n, rows):
        # Negated similarities, so the nearest come first; everything per block is freed before the
        # next, so memory stays at a few blocks however large the corpus.
        block = unit[start : start + rows] @ unit.T
        np.negative(block, out=block)
        own = np.arange(start, start + len(block))
        block[own - start, own] = -np.inf  # a row is its own nearest neighbour, even among duplicates
        candidates = np.argpartition(block, k - 1, axis=1)[:, :k].copy()
        distance = np.take_along_axis(block, candidates, axis=1)
        del block
        order = np.lexsort((candidates, distance), axis=1)
        indices[start : start + len(candidates)] = np.take_along_axis(candidates, order, axis=1)
        found = 1.0 + np.take_along_axis(distance, order, axis=1)  # 1 - similarity
        found[:, 0] = 0.0
        distances[start : start + len(candidates)] = np.clip(found, 0.0, 2.0)
    return indices, distances


def _kmeans_k(reduced: np.ndarray, max_topics: int) -> int:
    """Number of clusters with the best silhouette; ties go to fewer clusters."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    n = len(reduced)
    candidates = range(2, max(2, min(max_topics, n // 4)) + 1)
    # The silhouette compares every pair of passages: on a large corpus, a fixed sample of them.
    sample = {"sample_size": SILHOUETTE_SAMPLE, "random_state": SEED} if n > SILHOUETTE_SAMPLE else {}
    best_k, best_score = 1, -1.0
    for k in candidates:
        if k >= n:
            break
        labels = KMeans(n_clusters=k, random_state=0, n_init=10).fit_predict(reduced)
        if len(set(labels)) < 2:
            continue
        score = float(silhouette_score(reduced, labels, **sample))
        if score > best_score + 1e-9:
            best_k, best_score = k, score
    return best_k


def fit_themes(
    texts: Sequence[str],
    embeddings: np.ndarray,
    settings: ThemeSettings,
    drop_words: set[str],
    embedding_model=None,
    classes: Sequence[str] | None = None,
) -> ThemeResult:
    """Fit themes for `texts` (one per passage) with their embeddings; with `classes`
    (each passage's site), also the theme words per class."""
    import numpy as np

    n = len(texts)
    if n == 0:
        return ThemeResult([], {}, {}, {}, "none")
    tokenizer = LemmaTokenizer(drop_words)
    if n < 3:
        return _single_theme(texts, tokenizer, settings)

    from fieldnotes.lazy import import_bertopic

    import_bertopic()
    from bertopic.representation import KeyBERTInspired, MaximalMarginalRelevance
    from sklearn.feature_extraction.text import CountVectorizer

    notes: list[str] = []
    embeddings = np.asarray(embeddings, dtype=np.float32)
    reducer, clusterer, method = _reducer_and_clusterer(embeddings, settings)
    # BERTopic fits the vectorizer on one document per theme, so any min_df above 1 can
    # empty the vocabulary when there are few themes.
    vectorizer = CountVectorizer(tokenizer=tokenizer, lowercase=False, token_pattern=None, ngram_range=(1, 2))
    # KeyBERT-style reranking of the c-TF-IDF words by similarity to the theme, then MMR so
    # a label does not repeat one idea ("meal delivery, deliver meal").
    representation = (
        [KeyBERTInspired(top_n_words=15, random_state=SEED), MaximalMarginalRelevance(diversity=0.5, top_n_words=10)]
        if embedding_model is not None
        else None
    )
    documents = [text + PASSAGE_END for text in texts]
    model, topics = _fit_topic_model(documents, embeddings, embedding_model, reducer, clusterer, vectorizer)
    if -1 in topics:
        outliers = topics.count(-1)
        if len(set(topics) - {-1}) == 0:
            topics = [0] * n
            notes.append("clustering found no theme; all passages form one")
        else:
            topics = model.reduce_outliers(documents, topics, strategy="embeddings", embeddings=embeddings)
            notes.append(f"{outliers} outlier passages reassigned to their nearest theme")
    if list(topics) != list(model.topics_) or representation is not None:
        model.update_topics(documents, topics=topics, vectorizer_model=vectorizer, representation_model=representation)
    topics = [int(topic) for topic in topics]
    words, labels = _theme_words(model, topics, texts)
    representatives = _representatives(topics, embeddings)
    words_by_class: dict[int, dict[str, str]] = {}
    if classes is not None and len(set(topics)) > 0:
        words_by_class = _words_by_class(model, documents, classes)
    return ThemeResult(topics, labels, words, representatives, method, notes, words_by_class=words_by_class)


def _reducer_and_clusterer(embeddings: np.ndarray, settings: ThemeSettings) -> tuple[object, object, str]:
    """The dimension reduction and clustering `[themes] method` asks for, and how to name them:
    PCA and k-means ("kmeans"; "auto" below `small_corpus` passages, and any method when there are
    too few passages for UMAP's neighbours), or UMAP and HDBSCAN."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA

    n = len(embeddings)
    umap = settings.method == "umap-hdbscan" or (settings.method == "auto" and n >= settings.small_corpus)
    if not umap or n <= settings.umap_neighbors:
        components = min(5, n - 1, embeddings.shape[1])
        if settings.topics is not None and settings.topics < n:
            k, chosen = settings.topics, "[themes] topics"
        else:
            reduced = PCA(n_components=components, random_state=SEED).fit_transform(embeddings)
            k, chosen = _kmeans_k(reduced, settings.max_topics), "best silhouette"
        reducer = PCA(n_components=components, random_state=SEED)
        clusterer = KMeans(n_clusters=k, random_state=0, n_init=10)
        return reducer, clusterer, f"PCA({components}) + k-means (k={k}, {chosen})"
    from hdbscan import HDBSCAN
    from umap import UMAP

    _cache_umap_compilation()
    neighbours = {}
    if EXACT_NEIGHBOURS_FROM <= n <= EXACT_NEIGHBOURS_UP_TO:
        neighbours["precomputed_knn"] = exact_cosine_neighbours(embeddings, settings.umap_neighbors)
    reducer = UMAP(
        n_neighbors=settings.umap_neighbors,
        n_components=5,
        min_dist=0.0,
        metric="cosine",
        random_state=SEED,
        n_jobs=1,  # a seed makes UMAP single-threaded anyway; say so to keep it quiet
        **neighbours,
    )
    min_size = max(settings.min_topic_size, n // 100)
    clusterer = HDBSCAN(min_cluster_size=min_size, metric="euclidean", prediction_data=True)
    return reducer, clusterer, f"UMAP(5) + HDBSCAN (min cluster size {min_size}), outliers reassigned"


def _fit_topic_model(documents: list[str], embeddings: np.ndarray, embedding_model, reducer, clusterer, vectorizer):
    """A BERTopic model fitted on the passages, and its topics (-1 for outliers)."""
    import logging
    import warnings

    from fieldnotes.lazy import import_bertopic

    BERTopic = import_bertopic().BERTopic

    # The labelling models (which embed candidate words) run once, after outliers are
    # reassigned, rather than also inside fit_transform, where their result would be replaced.
    model = BERTopic(
        # Not "english" (the default), whose preprocessing deletes every character outside
        # A-Z and 0-9 before the theme words are counted: Japanese passages and accented words
        # would vanish when no embedding model is passed. Nothing is loaded for it: the
        # embeddings are always given.
        language="multilingual",
        embedding_model=embedding_model,
        umap_model=reducer,
        hdbscan_model=clusterer,
        vectorizer_model=vectorizer,
        representation_model=None,
        top_n_words=10,
        calculate_probabilities=False,
        verbose=False,
    )
    # BERTopic resets its logger's level when built; it warns about our own outlier step.
    logging.getLogger("BERTopic").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        # Exact neighbours come without NNDescent's search index, which only UMAP.transform
        # on new data needs; fieldnotes places new passages itself (themes.run).
        warnings.filterwarnings("ignore", message=r"precomputed_knn\[2\]")
        topics, _ = model.fit_transform(documents, embeddings=embeddings)
    logging.getLogger("BERTopic").setLevel(logging.ERROR)  # fit_transform reset it
    return model, topics


def _theme_words(model, topics: list[int], texts: Sequence[str] = ()) -> tuple[dict[int, list[str]], dict[int, str]]:
    """Each theme's ten top words, and its label (label_terms), or "theme N" without words."""
    words: dict[int, list[str]] = {}
    labels: dict[int, str] = {}
    for topic in sorted(set(topics)):
        terms = [word for word, _ in (model.get_topic(topic) or []) if word][:10]
        words[topic] = terms
        members = [text for text, t in zip(texts, topics, strict=False) if t == topic]
        labels[topic] = ", ".join(label_terms(terms, members)) if terms else f"theme {topic}"
    return words, labels


LABEL_TERMS = 4


def label_terms(terms: Sequence[str], passages: Sequence[str], size: int = LABEL_TERMS) -> list[str]:
    """A theme's label: its top terms, best first, without repeating a word ("han meeting, han
    leader, meeting" reads "han meeting, leader" at most), and a phrase of two words only if the
    theme's passages hold it as written (inflected: "han meetings"), since the vectorizer makes
    pairs across dropped words ("described the workload" -> "describe workload")."""
    body = " ".join(" ".join(text.split()) for text in passages)
    chosen: list[str] = []
    used: set[str] = set()
    for term in terms:
        parts = term.split()
        if any(part in used for part in parts):
            continue
        if len(parts) > 1 and body and not _written(parts, body):
            continue
        chosen.append(term)
        used.update(parts)
        if len(chosen) == size:
            break
    return chosen or list(terms[:size])


def _written(parts: Sequence[str], body: str) -> bool:
    """Whether the words occur one after the other in `body`, each as written or inflected
    (a lemma's stem: "care worker" in "care workers", "volunteer" in "volunteering")."""
    import re

    stems = [re.escape(part[:-1] if len(part) > 4 and part.endswith("e") else part) for part in parts]
    pattern = r"\b" + r"\w*[\s\-]+".join(stems) + r"\w*"
    return re.search(pattern, body, re.IGNORECASE) is not None


def _words_by_class(model, documents: list[str], classes: Sequence[str]) -> dict[int, dict[str, str]]:
    """Theme -> class -> the theme's words in that class's passages."""
    # Per-site words from c-TF-IDF alone: the labelling models would embed words once per site.
    model.representation_model = None
    per_class = model.topics_per_class(documents, classes=list(classes))
    words_by_class: dict[int, dict[str, str]] = {}
    for row in per_class.sort_values(["Topic", "Class"]).itertuples():
        words_by_class.setdefault(int(row.Topic), {})[str(row.Class)] = str(row.Words)
    return words_by_class


def _representatives(topics: Sequence[int], embeddings: np.ndarray, count: int = 3) -> dict[int, list[int]]:
    """The passages closest to each theme's centroid."""
    import numpy as np

    result: dict[int, list[int]] = {}
    topic_array = np.asarray(topics)
    for topic in sorted(set(topics)):
        members = np.flatnonzero(topic_array == topic)
        centroid = embeddings[members].mean(axis=0)
        order = np.argsort(-(embeddings[members] @ centroid), kind="stable")
        result[int(topic)] = [int(members[i]) for i in order[:count]]
    return result


def _single_theme(texts: Sequence[str], tokenizer: LemmaTokenizer, settings: ThemeSettings) -> ThemeResult:
    from collections import Counter

    counts = Counter(token for text in texts for token in tokenizer(text))
    terms = [word for word, _ in counts.most_common(10)]
    label = ", ".join(label_terms(terms, texts)) if terms else "all passages"
    return ThemeResult(
        [0] * len(texts),
        {0: label},
        {0: terms},
        {0: list(range(min(3, len(texts))))},
        "one theme (fewer than 3 passages)",
    )
