"""The comparison stage: codes and themes by site, as tables, charts and one HTML report."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from fieldnotes.citations import is_reference_list
from fieldnotes.errors import FieldnotesError
from fieldnotes.files import atomic_text, safe_cell
from fieldnotes.settings import GENERAL_SITE, Settings
from fieldnotes.store import Store, holds_results_lock
from fieldnotes.text import KANA_KANJI_BLOCK
from fieldnotes.workspace import Workspace

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pandas as pd

    from fieldnotes.codebook import LoadedCodebook
    from fieldnotes.compare.model import ContingencyResult, ReportData, Theme
    from fieldnotes.store.records import StoredTheme

STATUSES = ("auto", "accepted", "suggested", "all")
# Which suggestion statuses each choice counts.
_COUNTED = {
    "accepted": ("accepted",),
    "suggested": ("suggested", "accepted"),
    "all": ("suggested", "accepted", "rejected"),
}
TOP_EXCERPTS = 3


class CompareError(FieldnotesError):
    """Nothing to compare: no ingested passages in the results folder."""


@dataclass
class CompareReport:
    out_dir: Path
    status_used: str = ""
    files: list[Path] = field(default_factory=list)
    distinctive: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def report_path(self) -> Path:
        return Workspace.at(self.out_dir).report_html


def count_words(text: str) -> int:
    """Whitespace words; Japanese, written without spaces, counts each character."""
    cjk = len(KANA_KANJI_BLOCK.findall(text))
    return len(text.split()) + cjk


def choose_status(store: Store, codebook_id: str, requested: str) -> tuple[str, str]:
    """The statuses to count, and a sentence saying which and why."""
    if requested != "auto":
        return requested, f"{requested} suggestions (--status {requested})"
    # Accepted plus still-unreviewed suggestions: switching to accepted ones as soon as one exists
    # would empty the comparison after a few reviews, resting every cell on a handful of decisions.
    accepted = store.coding.accepted_count(codebook_id)
    if accepted:
        return "suggested", (
            f"the {accepted} accepted and the still-unreviewed suggestions; rejected ones excluded "
            "(--status accepted counts accepted ones only)"
        )
    return "suggested", "machine suggestions (nothing has been reviewed yet); rejected ones excluded"


def _frames(store: Store, codebook_id: str, statuses: tuple[str, ...]) -> tuple[pd.DataFrame, pd.DataFrame]:
    import pandas as pd

    passages = pd.DataFrame(
        [
            {
                "passage_id": row["passage_id"],
                "document": row["document"],
                "site": row["site"],
                "text": row["text"],
                "words": count_words(row["text"]),
            }
            for row in store.corpus.active_passages()
            # A reference list is not a site's text (fieldnotes.citations): it is not coded either.
            if not is_reference_list(row["text"], row["section"])
        ],
        columns=["passage_id", "document", "site", "text", "words"],
    )
    coded = store.reads.coded_frame(codebook_id, statuses)
    # Counted against the same passages it is divided by: a code put on a reference list by hand
    # stays in the database and the exports, not in the comparison.
    return passages, coded[coded.passage_id.isin(set(passages.passage_id))].reset_index(drop=True)


def _atomic_csv(frame: pd.DataFrame, path: Path) -> Path:
    text_columns = [name for name in frame.columns if frame[name].dtype == object]
    safe = frame.assign(**{name: frame[name].map(safe_cell) for name in text_columns}) if text_columns else frame
    with atomic_text(path) as handle:
        safe.to_csv(handle, index=False, float_format="%.4f")
    return path


def build_report_data(
    store: Store, settings: Settings, loaded: LoadedCodebook, status: str, figures: Path
) -> ReportData:
    """Everything the report shows, computed from the results database."""
    from fieldnotes.compare.model import ReportData
    from fieldnotes.compare.stats import code_by_site, cooccurrence, distinctive_codes

    book = loaded.codebook
    chosen, status_note = choose_status(store, book.id, status)
    passages, coded = _frames(store, book.id, _COUNTED[chosen])
    if passages.empty:
        raise CompareError("no passages in the results database; run `fieldnotes code CORPUS` first")
    sites = [site.id for site in settings.site] + [GENERAL_SITE]
    labels = {site.id: site.label for site in settings.site} | {GENERAL_SITE: "General"}
    code_table, code_test = code_by_site(coded, passages, book.code_ids, sites)
    pairs = cooccurrence(coded, book.code_ids)
    warnings: list[str] = []  # the tests' own cautions are shown in their sections
    latest = store.topics.latest()
    run_id, topic_rows, assignments = latest.run_id, latest.themes, latest.assignments
    themes = _themes(passages, topic_rows, assignments, sites) if run_id is not None else None
    topic_table, topic_test = (themes.table, themes.test) if themes is not None else (None, None)
    top_excerpts = _top_excerpts(coded, store)
    figures.mkdir(parents=True, exist_ok=True)
    chart_paths = _charts(code_table, topic_table, loaded, sites, labels, figures)
    documents = store.corpus.documents_by_format()
    return ReportData(
        title="fieldnotes: codes and themes across sites",
        generated_at=time.strftime("%Y-%m-%d %H:%M"),
        corpus={
            "documents": sum(documents.values()),
            "passages": len(passages),
            "words": int(passages.words.sum()),
            "by_format": documents,
        },
        sites=sites,
        site_labels=labels,
        passages_by_site={s: int((passages.site == s).sum()) for s in sites},
        words_by_site={s: int(passages.words[passages.site == s].sum()) for s in sites},
        status_used=status_note,
        code_names={code.id: code.name for code in book.codes},
        code_by_site=code_table,
        code_test=code_test,
        topic_by_site=topic_table,
        topic_test=topic_test,
        themes=themes.themes if themes is not None else [],
        distinctive=distinctive_codes(code_table),
        top_excerpts=top_excerpts,
        cooccurrence=pairs,
        provenance=_provenance(store, settings, loaded, run_id, topic_rows),
        charts=chart_paths,
        warnings=warnings,
    )


@dataclass
class _Themes:
    """The latest themes run as the report shows it: per-site table, its test, each theme."""

    table: pd.DataFrame
    test: ContingencyResult
    themes: list[Theme]


def _themes(
    passages: pd.DataFrame, topic_rows: Sequence[StoredTheme], assignments: dict[str, int], sites: list[str]
) -> _Themes:
    import pandas as pd

    from fieldnotes.compare.model import Theme
    from fieldnotes.compare.stats import topic_by_site

    topics = {row.topic_id: row.label for row in topic_rows}
    current = set(passages.passage_id)  # built once: inside the comprehension it cost O(n^2)
    assigned = pd.DataFrame(
        [{"passage_id": p, "topic_id": t} for p, t in assignments.items() if p in current],
        columns=["passage_id", "topic_id"],
    )
    topic_table, topic_test = topic_by_site(assigned, passages, topics, sites)
    by_id = passages.set_index("passage_id")
    themes: list[Theme] = []
    for row in topic_rows:
        share = topic_table[topic_table.topic_id == row.topic_id].set_index("site")["share_of_passages"]
        examples = [
            {"text": by_id.loc[p, "text"], "document": by_id.loc[p, "document"], "site": by_id.loc[p, "site"]}
            for p in row.representatives
            if p in by_id.index
        ]
        themes.append(
            Theme(
                topic_id=row.topic_id,
                label=row.label,
                words=row.words,
                size=row.size,
                share_by_site={site: float(share.get(site, 0.0)) for site in sites},
                examples=examples,
                words_by_site=row.words_by_site,
            )
        )
    return _Themes(topic_table, topic_test, themes)


def _top_excerpts(coded: pd.DataFrame, store: Store) -> list[dict]:
    """The TOP_EXCERPTS best excerpts per code and site, accepted ones first, with their texts."""
    top = (
        coded.assign(accepted=coded.status.eq("accepted"))
        .sort_values(["code", "site", "accepted", "score", "excerpt_id"], ascending=[True, True, False, False, True])
        .groupby(["code", "site"], sort=False)
        .head(TOP_EXCERPTS)
    )
    texts = store.reads.excerpt_texts(top.excerpt_id.tolist())
    top = top.assign(text=[texts.get(excerpt, "") for excerpt in top.excerpt_id])
    return [{k: row[k] for k in ("code", "site", "text", "document", "score", "status")} for _, row in top.iterrows()]


def _charts(
    code_table: pd.DataFrame,
    topic_table: pd.DataFrame | None,
    loaded: LoadedCodebook,
    sites: list[str],
    labels: dict[str, str],
    figures: Path,
) -> dict[str, Path]:
    from fieldnotes.compare import charts

    book, codes = loaded.codebook, loaded.codebook.code_ids
    share = code_table.pivot(index="code", columns="site", values="share_of_passages").reindex(
        index=codes, columns=sites
    )
    # The outline marks the cells the table calls distinctive (their tests passed), nothing else.
    marked = code_table.pivot(index="code", columns="site", values="distinctive").reindex(index=codes, columns=sites)
    share.index = marked.index = [book.code(c).name for c in share.index]
    share.columns = marked.columns = [labels[s] for s in share.columns]
    chart_paths = {
        "code_heatmap": charts.heatmap(
            share, figures / "code_by_site.png", "Share of each site's passages coded", "share of passages", marked
        ),
        "code_bars": charts.bars_by_site(share, figures / "codes_per_site.png", "Codes per site (share of passages)"),
    }
    if topic_table is not None and not topic_table.empty:
        topic_share = topic_table.pivot(index="label", columns="site", values="share_of_passages")
        topic_share = topic_share.reindex(columns=sites)
        topic_marked = topic_table.pivot(index="label", columns="site", values="distinctive").reindex(columns=sites)
        topic_share.columns = topic_marked.columns = [labels[s] for s in sites]
        chart_paths["topic_heatmap"] = charts.heatmap(
            topic_share,
            figures / "topic_by_site.png",
            "Share of each site's passages per theme",
            "share of passages",
            topic_marked,
        )
    return chart_paths


def _provenance(
    store: Store, settings: Settings, loaded: LoadedCodebook, themes_run: int | None, topic_rows: Sequence[StoredTheme]
) -> dict[str, str]:
    """What produced the report: codebook, settings, database, the coding and themes runs."""
    last = store.runs.latest("code")
    provenance = {
        "codebook": loaded.describe(),
        "settings hash": settings.digest(),
        "results database": str(store.path),
    }
    if last is not None:
        provenance.update(
            {
                "coding run": f"{last.run_id} at {last.started_at}",
                "model": last.model or "",
                "corpus hash": (last.corpus_hash or "")[:16],
                # A no-break space keeps each name with its version when the line wraps.
                "versions": ", ".join(f"{k}\u00a0{v}" for k, v in json.loads(last.versions_json or "{}").items()),
            }
        )
    if themes_run is not None:
        method = topic_rows[0].method if topic_rows else ""
        provenance["themes run"] = f"{themes_run} ({method})"
    return provenance


@holds_results_lock("compare")
def compare(out_dir: Path, settings: Settings, loaded: LoadedCodebook, status: str = "auto") -> CompareReport:
    """Write DIR/code_by_site.csv, topic_by_site.csv, cooccurrence.csv, figures/*.png and report.html."""
    from fieldnotes.compare.report import render_report

    started = time.perf_counter()
    workspace = Workspace.at(out_dir)
    database = workspace.require_database(CompareError)
    report = CompareReport(workspace.root)
    with Store.open(database) as store:
        data = build_report_data(store, settings, loaded, status, workspace.figures)
    report.status_used = data.status_used
    report.distinctive = data.distinctive
    report.warnings = [
        f"{name}: {test.warning}"
        for name, test in (("codes by site", data.code_test), ("themes by site", data.topic_test))
        if test is not None and test.warning
    ] + data.warnings
    report.files.append(_atomic_csv(data.code_by_site, workspace.table("code_by_site.csv")))
    if data.topic_by_site is not None:
        topic_table = data.topic_by_site.reset_index(drop=True)
        report.files.append(_atomic_csv(topic_table, workspace.table("topic_by_site.csv")))
    report.files.append(_atomic_csv(data.cooccurrence, workspace.table("cooccurrence.csv")))
    report.files.extend(data.charts.values())
    report.files.append(render_report(data, report.report_path))
    report.seconds = time.perf_counter() - started
    return report
