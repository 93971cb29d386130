"""The themes stage: passages and their cached embeddings in, themes in the database and themes.csv out."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from fieldnotes.files import write_csv
from fieldnotes.settings import GENERAL_SITE, Settings
from fieldnotes.store import Store

THEMES_CSV = "themes.csv"


@dataclass
class ThemesReport:
    run_id: int = 0
    reused_from: int | None = None  # the themes run whose themes were reused, if nothing changed
    passages: int = 0
    themes: list[dict] = field(default_factory=list)
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


def passage_vectors(store: Store, embedder, passages: list[dict]):
    """Mean of each passage's excerpt embeddings (unit length), from the cache; embeds what is missing."""
    import numpy as np

    from fieldnotes.coding.embed import embed_cached

    by_passage: dict[str, list[str]] = {}
    for row in store.active_excerpts():
        by_passage.setdefault(row["passage_id"], []).append(row["text"])
    texts, owners = [], []
    for index, passage in enumerate(passages):
        for text in by_passage.get(passage["passage_id"]) or [passage["text"]]:
            texts.append(text)
            owners.append(index)
    vectors, embedded = embed_cached(texts, embedder, store)
    result = np.zeros((len(passages), vectors.shape[1] if len(vectors) else 0), dtype=np.float32)
    np.add.at(result, np.asarray(owners), vectors)
    norms = np.linalg.norm(result, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return result / norms, embedded


def run_themes(out_dir: Path, settings: Settings, store: Store, embedder, run_id: int | None = None) -> ThemesReport:
    """Fit themes over the active passages in the results database."""
    from fieldnotes.themes.model import fit_themes

    started = time.perf_counter()
    report = ThemesReport()
    passages = [dict(row) for row in store.active_passages()]
    report.passages = len(passages)
    if run_id is None:
        run_id = store.begin_run("themes", "", settings.digest(), json.dumps(settings.model_dump(mode="json")), {})
    report.run_id = run_id
    sites = [site.id for site in settings.site] + [GENERAL_SITE]
    key = themes_key(passages, settings, getattr(embedder, "model_id", ""))
    previous_run, rows, assignments = store.latest_topics()
    if rows and rows[0]["input_key"] == key and set(assignments) == {p["passage_id"] for p in passages}:
        # Same passages, sites, settings and model: the themes would come out the same (they are seeded).
        report.reused_from = previous_run
        report.method = rows[0]["method"]
        report.notes.append(f"passages and settings unchanged since themes run {previous_run}: themes reused")
        report.themes = [stored_theme(row, passages, assignments, sites) for row in rows]
        report.csv_path = Path(out_dir) / THEMES_CSV
        write_themes_csv(report, passages, sites, report.csv_path)
        report.seconds = time.perf_counter() - started
        return report
    vectors, report.embedded = passage_vectors(store, embedder, passages)
    drop = site_words(settings) if settings.themes.drop_site_names else set()
    model = embedder._load() if hasattr(embedder, "_load") else None
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
            {
                "topic_id": topic,
                "label": result.labels[topic],
                "words": result.words[topic],
                "size": sizes[topic],
                "representatives": [passages[i]["passage_id"] for i in result.representatives.get(topic, [])],
                "method": result.method,
                "words_by_site": result.words_by_class.get(topic, {}),
                "share_by_site": {
                    site: round(in_site[site] / site_totals[site], 4) if site_totals[site] else 0.0 for site in sites
                },
            }
        )
    store.save_topics(
        run_id, report.themes, {p["passage_id"]: t for p, t in zip(passages, result.topics, strict=True)}, key
    )
    report.csv_path = Path(out_dir) / THEMES_CSV
    write_themes_csv(report, passages, sites, report.csv_path)
    report.seconds = time.perf_counter() - started
    return report


def themes_key(passages: list[dict], settings: Settings, model_id: str) -> str:
    """Everything the themes depend on: the passages and their sites, the theme settings, site names, model."""
    import hashlib

    payload = json.dumps(
        {
            "passages": sorted((p["passage_id"], p["site"]) for p in passages),
            "themes": settings.themes.model_dump(mode="json"),
            "sites": sorted(site_words(settings)),
            "model": model_id,
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def stored_theme(row, passages: list[dict], assignments: dict[str, int], sites: list[str]) -> dict:
    """A theme as run_themes reports it, rebuilt from the database."""
    site_totals = Counter(p["site"] for p in passages)
    in_site = Counter(p["site"] for p in passages if assignments.get(p["passage_id"]) == row["topic_id"])
    return {
        "topic_id": row["topic_id"],
        "label": row["label"],
        "words": json.loads(row["words_json"]),
        "size": row["size"],
        "representatives": json.loads(row["representatives_json"]),
        "method": row["method"],
        "words_by_site": json.loads(row["words_by_site_json"] or "{}"),
        "share_by_site": {
            site: round(in_site[site] / site_totals[site], 4) if site_totals[site] else 0.0 for site in sites
        },
    }


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
        first = text_of.get(theme["representatives"][0]) if theme["representatives"] else None
        row = {
            "topic_id": theme["topic_id"],
            "label": theme["label"],
            "words": "; ".join(theme["words"]),
            "passages": theme["size"],
            "example": first["text"] if first else "",
            "example_document": first["document"] if first else "",
        }
        row.update({f"share_{s}": theme["share_by_site"].get(s, 0.0) for s in sites})
        row.update({f"words_{s}": theme["words_by_site"].get(s, "") for s in sites})
        rows.append(row)
    write_csv(path, columns, rows)
