"""The themes stage: passages and their cached embeddings in, themes in the database and themes.csv out."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from fieldnotes.citations import is_reference_list
from fieldnotes.files import write_csv
from fieldnotes.records import Theme
from fieldnotes.settings import GENERAL_SITE, Settings
from fieldnotes.store import Store
from fieldnotes.store.records import StoredTheme
from fieldnotes.themes.tokenizer import THEME_WORDS_VERSION
from fieldnotes.workspace import Workspace

if TYPE_CHECKING:
    import numpy as np

    from fieldnotes.embedding import VectorCache

VECTOR_CHUNK = 8192  # excerpt vectors loaded at a time
PASSAGE_VECTORS = "passage-vectors.npz"  # in the results folder's cache: the last themes run's passage vectors


@dataclass
class ThemesReport:
    run_id: int = 0
    reused_from: int | None = None  # the themes run whose themes were reused, if nothing changed
    passages: int = 0
    themes: list[Theme] = field(default_factory=list)
    method: str = ""
    embedded: int = 0
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    csv_path: Path | None = None


def site_words(settings: Settings) -> set[str]:
    """Every word of every site's id, label and aliases."""
    words: set[str] = set()
    for site in settings.site:
        for name in (site.id, site.label, *site.aliases):
            words.update(part.lower() for part in re.split(r"[\s\-]+", name) if part)
    return words


def passage_vectors(store: Store, cache: VectorCache, embedder, passages: list[dict], saved: Path | None = None):
    """Mean of each passage's excerpt embeddings (unit length). A passage whose excerpts and
    model are those of a vector in `saved` (the file the last themes run left) takes that
    vector; the others are summed from the cache, which embeds what is missing. The current
    vectors are written back to `saved` when they differ, so after an edit only the changed
    passages' excerpt vectors are read (issue 20: 37,000 cached vectors cost about 2 s at
    10,000 passages)."""
    import hashlib

    import numpy as np

    from fieldnotes.embedding import embed_cached

    hashes_of = store.coding.active_excerpt_hashes()
    model = getattr(embedder, "model_id", "").encode()
    digests = []
    for passage in passages:
        key = hashlib.sha256(model)
        for text_hash in hashes_of.get(passage["passage_id"]) or [hashlib.sha256(passage["text"].encode()).hexdigest()]:
            key.update(b"\x1e" + text_hash.encode())
        digests.append(key.hexdigest()[:32])
    known = _saved_passage_vectors(saved)
    # Only the passages with no saved vector need their excerpts' texts (and vectors).
    missing = [index for index, digest in enumerate(digests) if digest not in known]
    texts_of = store.coding.active_excerpt_texts([passages[index]["passage_id"] for index in missing])
    texts, owners = [], []
    for index in missing:
        for text in texts_of.get(passages[index]["passage_id"]) or [passages[index]["text"]]:
            texts.append(text)
            owners.append(index)
    matched = [index for index, digest in enumerate(digests) if digest in known]
    width = known[digests[matched[0]]].shape[0] if matched else 0
    result = np.zeros((len(passages), width), dtype=np.float32)
    for index in matched:
        result[index] = known[digests[index]]
    embedded = 0
    # Summed chunk by chunk: the excerpts' vectors are never all in memory at once.
    for start in range(0, len(texts), VECTOR_CHUNK):
        vectors, new = embed_cached(texts[start : start + VECTOR_CHUNK], embedder, cache)
        embedded += new
        if result.shape[1] != vectors.shape[1]:  # no saved vector of this width: start afresh
            result = np.zeros((len(passages), vectors.shape[1]), dtype=np.float32)
        np.add.at(result, np.asarray(owners[start : start + VECTOR_CHUNK]), vectors)
    # Only the summed rows are normalised: a saved row is already unit length, and dividing it
    # again could move its last bit, so a vector is the same whether computed or read back.
    summed = np.ones(len(passages), dtype=bool)
    summed[matched] = False
    norms = np.linalg.norm(result[summed], axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    result[summed] = result[summed] / norms
    if saved is not None and (texts or set(digests) != set(known)):
        _save_passage_vectors(saved, digests, result)
    return result, embedded


def _saved_passage_vectors(path: Path | None) -> dict[str, np.ndarray]:
    """digest -> unit vector from the file `passage_vectors` wrote; {} when there is none or it
    cannot be read (it is derived data: computed again)."""
    import zipfile

    import numpy as np

    if path is None or not path.is_file():
        return {}
    try:
        with np.load(path, allow_pickle=False) as data:
            digests, vectors = data["digests"], data["vectors"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return {}
    if vectors.ndim != 2 or len(digests) != len(vectors):
        return {}
    return {str(digest): vectors[row] for row, digest in enumerate(digests)}


def _save_passage_vectors(path: Path, digests: list[str], vectors: np.ndarray) -> None:
    import numpy as np

    from fieldnotes.files import atomic_path

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, tmp.open("xb") as handle:
        np.savez(handle, digests=np.asarray(digests), vectors=vectors.astype(np.float32))


def theme_embedder(settings: Settings, embedder, passages: list[dict], report: ThemesReport):
    """The encoder the themes are fitted with: the run's own, or, for passages in more than one
    language, the `[embedding] japanese_backend` encoder (USE multilingual), which puts English
    and Japanese in one space. With the default pair, MiniLM's half keeps the languages apart,
    and a mixed corpus split into one theme per language, whatever the passages said (project
    written English and Japanese sets together: normalised mutual information of the themes
    with language 1.00, with the codes 0.01; USE alone 0.15 and 0.26). A second language counts
    from `[themes] min_topic_size` passages: fewer cannot form a theme of their own."""
    counts = sorted(Counter(p["language"] for p in passages if p["language"]).values(), reverse=True)
    if embedder is None or not settings.embedding.japanese_backend:
        return embedder
    if len(counts) < 2 or counts[1] < settings.themes.min_topic_size:
        return embedder
    from fieldnotes.embedding import make_japanese_embedder

    shared = make_japanese_embedder(settings, embedder)
    if shared.model_id == embedder.model_id:
        return embedder
    report.notes.append(
        f"passages in {len(counts)} languages: themes are fitted with {shared.model_id}, which places "
        "them in one space, so they group by what passages say rather than by language"
    )
    return shared


def run_themes(
    out_dir: Path,
    settings: Settings,
    store: Store,
    embedder,
    run_id: int | None = None,
    cache: VectorCache | None = None,
) -> ThemesReport:
    """Fit themes over the active passages in the results database; texts are embedded through
    `cache` (default: the shared embedding cache of the settings).

    The last themes are reused when nothing changed, kept with the new passages placed in them
    when few changed (`_place_passages`), else fitted again."""
    if cache is None:
        from fieldnotes.embedding import open_embedding_cache

        with open_embedding_cache(settings.embedding, store) as (shared, _):
            return run_themes(out_dir, settings, store, embedder, run_id, shared)
    started = time.perf_counter()
    report = ThemesReport()
    # Reference lists make no theme (fieldnotes.citations): their words are authors and journals.
    passages = [
        dict(row) for row in store.corpus.active_passages() if not is_reference_list(row["text"], row["section"])
    ]
    report.passages = len(passages)
    if run_id is None:
        run_id = store.runs.begin("themes", "", settings.digest(), json.dumps(settings.model_dump(mode="json")), {})
    report.run_id = run_id
    sites = [site.id for site in settings.site] + [GENERAL_SITE]
    embedder = theme_embedder(settings, embedder, passages, report)
    model_id = getattr(embedder, "model_id", "")
    key = themes_key(passages, settings, model_id)
    context = themes_key([], settings, model_id)
    latest = store.topics.latest()
    previous_run, rows, assignments = latest.run_id, latest.themes, latest.assignments
    stored = _stored_key(latest.input_key) if rows else {}
    if rows and stored.get("key") == key and set(assignments) == {p["passage_id"] for p in passages}:
        # Same passages, sites, settings and model: the themes would come out the same (they are seeded).
        report.reused_from = previous_run
        report.method = rows[0].method
        report.notes.append(f"passages and settings unchanged since themes run {previous_run}: themes reused")
        report.themes = [stored_theme(row, passages, assignments, sites) for row in rows]
        return _finish(report, out_dir, passages, sites, started)
    saved = Workspace.at(out_dir).cache / PASSAGE_VECTORS
    vectors, report.embedded = passage_vectors(store, cache, embedder, passages, saved)
    if rows and previous_run is not None and stored.get("context") == context:
        placed = _place_passages(report, passages, vectors, rows, assignments, stored, previous_run, settings, sites)
        if placed is not None:
            store.topics.save(run_id, report.themes, placed, json.dumps({**stored, "key": key}, sort_keys=True))
            return _finish(report, out_dir, passages, sites, started)
    topics = _fit(report, passages, vectors, settings, embedder, cache, sites)
    fitted = {"key": key, "context": context, "fitted_run": run_id, "changed": 0, "method": report.method}
    store.topics.save(
        run_id,
        report.themes,
        {p["passage_id"]: t for p, t in zip(passages, topics, strict=True)},
        json.dumps(fitted, sort_keys=True),
    )
    return _finish(report, out_dir, passages, sites, started)


def _finish(
    report: ThemesReport, out_dir: Path, passages: list[dict], sites: list[str], started: float
) -> ThemesReport:
    report.csv_path = Workspace.at(out_dir).themes_csv
    write_themes_csv(report, passages, sites, report.csv_path)
    report.seconds = time.perf_counter() - started
    return report


def _fit(
    report: ThemesReport,
    passages: list[dict],
    vectors,
    settings: Settings,
    embedder,
    cache: VectorCache,
    sites: list[str],
) -> list[int]:
    """Fit themes afresh into `report` (method, notes, themes); returns each passage's theme."""
    from fieldnotes.embedding import embed_cached
    from fieldnotes.themes.model import cached_backend, fit_themes

    drop = site_words(settings) if settings.themes.drop_site_names else set()
    # Words and passages the labelling models embed go through the cache too (no model when all are there).
    model = cached_backend(lambda texts: embed_cached(texts, embedder, cache)[0]) if embedder is not None else None
    result = fit_themes(
        [p["text"] for p in passages],
        vectors,
        settings.themes,
        drop,
        embedding_model=model,
        classes=[p["site"] for p in passages],
    )
    report.method, report.notes = result.method, result.notes
    sizes = Counter(result.topics)
    site_totals = Counter(p["site"] for p in passages)
    for topic in sorted(result.labels):
        members = [p for p, t in zip(passages, result.topics, strict=True) if t == topic]
        in_site = Counter(p["site"] for p in members)
        report.themes.append(
            Theme(
                topic_id=topic,
                label=result.labels[topic],
                words=result.words[topic],
                size=sizes[topic],
                representatives=[passages[i]["passage_id"] for i in result.representatives.get(topic, [])],
                method=result.method,
                words_by_site=result.words_by_class.get(topic, {}),
                share_by_site={
                    site: round(in_site[site] / site_totals[site], 4) if site_totals[site] else 0.0 for site in sites
                },
            )
        )
    return list(result.topics)


def _stored_key(text: str | None) -> dict:
    """What a themes run recorded about its input: the input key, the context (settings, sites,
    model), the run that fitted the themes and how many passages changed since. Older runs
    stored the input key alone."""
    try:
        stored = json.loads(text or "")
    except ValueError:
        return {"key": text}
    return stored if isinstance(stored, dict) else {"key": text}


def _place_passages(
    report: ThemesReport,
    passages: list[dict],
    vectors,
    rows,
    assignments: dict[str, int],
    stored: dict,
    previous_run: int,
    settings: Settings,
    sites: list[str],
) -> dict[str, int] | None:
    """Keep the last themes and put each new passage in the theme whose centroid is nearest, when
    few passages changed since the themes were fitted (at most `refit_share` of them) and the
    corpus is large enough for UMAP, where a refit costs most. Returns the assignments, or None
    when the themes should be fitted again."""
    import numpy as np

    from fieldnotes.themes.model import _representatives

    index = {p["passage_id"]: i for i, p in enumerate(passages)}
    kept = {pid: topic for pid, topic in assignments.items() if pid in index}
    new = [p for p in passages if p["passage_id"] not in kept]
    gone = len(assignments) - len(kept)
    changed = int(stored.get("changed", 0)) + len(new) + gone
    if (
        not kept
        or len(passages) < settings.themes.small_corpus
        or changed > settings.themes.refit_share * len(passages)
    ):
        return None
    topic_ids = [row.topic_id for row in rows]
    centroids = np.zeros((len(topic_ids), vectors.shape[1]), dtype=np.float32)
    for column, topic in enumerate(topic_ids):
        members = [index[pid] for pid, t in kept.items() if t == topic]
        if members:
            centroid = vectors[members].mean(axis=0)
            centroids[column] = centroid / (np.linalg.norm(centroid) or 1.0)
    placed = dict(kept)
    if new:
        nearest = (vectors[[index[p["passage_id"]] for p in new]] @ centroids.T).argmax(axis=1)
        for passage, column in zip(new, nearest, strict=True):
            placed[passage["passage_id"]] = topic_ids[int(column)]
    topics = [placed[p["passage_id"]] for p in passages]
    representatives = _representatives(topics, vectors)
    report.method = stored.get("method") or rows[0].method
    for row in rows:
        size = topics.count(row.topic_id)
        if size:
            chosen = [passages[i]["passage_id"] for i in representatives[row.topic_id]]
            theme = stored_theme(row, passages, placed, sites)
            report.themes.append(replace(theme, size=size, representatives=chosen))
    fitted_run = stored.get("fitted_run", previous_run)
    report.notes.append(
        f"{len(new)} new passages placed in their nearest theme, {gone} gone; the themes fitted in run "
        f"{fitted_run} stay until more than {settings.themes.refit_share:.0%} of passages have changed since "
        f"(now {changed / len(passages):.1%}; [themes] refit_share)"
    )
    stored["changed"] = changed
    return placed


def themes_key(passages: list[dict], settings: Settings, model_id: str) -> str:
    """Everything the themes depend on: the passages and their sites, the theme settings, site names, model."""
    import hashlib

    payload = json.dumps(
        {
            "passages": sorted((p["passage_id"], p["site"]) for p in passages),
            # refit_share decides when to fit again, not what a fit gives.
            "themes": settings.themes.model_dump(mode="json", exclude={"refit_share"}),
            "sites": sorted(site_words(settings)),
            "model": model_id,
            "words": THEME_WORDS_VERSION,
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def stored_theme(row: StoredTheme, passages: list[dict], assignments: dict[str, int], sites: list[str]) -> Theme:
    """A theme as run_themes reports it, rebuilt from the database."""
    site_totals = Counter(p["site"] for p in passages)
    in_site = Counter(p["site"] for p in passages if assignments.get(p["passage_id"]) == row.topic_id)
    return Theme(
        topic_id=row.topic_id,
        label=row.label,
        words=row.words,
        size=row.size,
        representatives=row.representatives,
        method=row.method,
        words_by_site=row.words_by_site,
        share_by_site={
            site: round(in_site[site] / site_totals[site], 4) if site_totals[site] else 0.0 for site in sites
        },
    )


def write_themes_csv(report: ThemesReport, passages: list[dict], sites: list[str], path: Path) -> None:
    text_of = {p["passage_id"]: p for p in passages}
    columns = [
        "topic_id",
        "label",
        "words",
        "passages",
        *[f"share_{s}" for s in sites],
        *[f"words_{s}" for s in sites],
        "example",
        "example_document",
    ]
    rows = []
    for theme in report.themes:
        first = text_of.get(theme.representatives[0]) if theme.representatives else None
        row = {
            "topic_id": theme.topic_id,
            "label": theme.label,
            "words": "; ".join(theme.words),
            "passages": theme.size,
            "example": first["text"] if first else "",
            "example_document": first["document"] if first else "",
        }
        row.update({f"share_{s}": theme.share_by_site.get(s, 0.0) for s in sites})
        row.update({f"words_{s}": theme.words_by_site.get(s, "") for s in sites})
        rows.append(row)
    write_csv(path, columns, rows)
