"""Wires the stages together, in one place. Each stage is a typed function that also runs alone:

    ingest   fieldnotes.ingest.run.ingest_corpus      corpus folder -> documents, passages, sites
    code     fieldnotes.coding.stage.code_excerpts    passages -> excerpts -> suggestions
    themes   fieldnotes.themes.run.run_themes         passages -> themes
    compare  fieldnotes.compare.run.compare           suggestions and themes by site -> report

`code_corpus` runs them in that order on one results folder (a Workspace), holding its lock,
with one embedding cache and one stopwatch; every run records what produced it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

from fieldnotes.coding.stage import CodingJob, CodingResult, code_excerpts
from fieldnotes.freshness import ReportState, current, inputs_digest, record
from fieldnotes.ingest.run import IngestReport, ingest_corpus, package_versions
from fieldnotes.settings import Settings
from fieldnotes.timing import Stopwatch, add_seconds
from fieldnotes.workspace import Workspace

if TYPE_CHECKING:
    from fieldnotes.codebook import LoadedCodebook
    from fieldnotes.compare.run import CompareReport
    from fieldnotes.embedding import Embedder
    from fieldnotes.store import Store
    from fieldnotes.themes.run import ThemesReport

__all__ = ["CodeReport", "IngestReport", "code_corpus", "ingest_corpus"]

REPORT = ("report", "comparison")  # freshness stage and subject of the comparison report


@dataclass
class CodeReport(CodingResult):
    """What `fieldnotes code` did: the coding stage's result and the other stages' reports."""

    ingest: IngestReport | None = None
    themes: ThemesReport | None = None
    comparison: CompareReport | None = None
    embedded: int = 0  # texts encoded by the model in this run (all stages)
    seconds: float = 0.0

    @property
    def csv_path(self) -> Path:
        assert self.excerpts_csv is not None
        return self.excerpts_csv


def code_corpus(
    corpus: Path,
    out_dir: Path,
    settings: Settings,
    codebook: str | Path | None = None,
    *,
    progress: Callable[[int, int, str], None] | None = None,
    embedder: Embedder | None = None,
    stages: Callable[[str], None] | None = None,
) -> CodeReport:
    """Ingest `corpus`, suggest codes for every excerpt (reviewed suggestions are kept as they are),
    find themes and compare the sites, in the results folder `out_dir`. `stages` hears one line
    as each stage starts (progress for a terminal).

    The codebook is validated before any work starts.
    """
    say = stages or (lambda line: None)
    from fieldnotes.codebook import load_codebook
    from fieldnotes.embedding import make_embedder, open_embedding_cache

    workspace = Workspace.at(out_dir)
    with workspace.locked("code"):
        clock = Stopwatch()
        with clock.stage("code_setup"):
            loaded = load_codebook(codebook or settings.coding.codebook)
            embedder = embedder or make_embedder(settings)
        say(f"reading {corpus}")
        ingest = ingest_corpus(corpus, workspace.root, settings, progress=progress)
        for stage, seconds in ingest.timings.items():
            add_seconds(clock.timings, stage, seconds)
        clock.note_peak("ingest")
        started = time.perf_counter()
        with workspace.open_store() as store, open_embedding_cache(settings.embedding, store) as (cache, note):
            with clock.stage("code_setup"):
                run_id = _begin_code_run(store, corpus, settings, loaded, embedder.model_id)
            passages = sum(ingest.passages_by_site.values())
            say(f"coding the excerpts of {passages} passages with '{loaded.codebook.id}'")
            job = CodingJob(workspace, store, cache, settings, loaded, embedder, clock, run_id, progress=say)
            coding = code_excerpts(job)
            report = CodeReport(**{f.name: getattr(coding, f.name) for f in fields(CodingResult)}, ingest=ingest)
            report.notes[:0] = [note] if note else []
            if settings.themes.enabled:
                from fieldnotes.themes.run import run_themes

                say("finding themes")
                with clock.stage("themes", own_model_time=True):
                    report.themes = run_themes(workspace.root, settings, store, embedder, run_id, cache)
            report.seconds = time.perf_counter() - started
            report.embedded = clock.texts_encoded  # codebook, reference, excerpt and theme texts alike
            corpus_hash = store.runs.latest_ingest_corpus_hash()
            store.runs.finish(run_id, corpus_hash, _summary(report))
            say("comparing the sites")
            with clock.stage("compare"):
                report.comparison = _comparison(workspace, store, settings, loaded, report)
            # Seconds per stage, ingestion and the report included; model time is under model_load and embed.
            store.runs.finish(run_id, corpus_hash, {**_summary(report), **_measures(clock)})
            store.checkpoint()  # the database file alone holds everything once the run ends
    return report


def _begin_code_run(store: Store, corpus: Path, settings: Settings, loaded: LoadedCodebook, model_id: str) -> int:
    run_id = store.runs.begin(
        "code",
        str(Path(corpus).resolve()),
        settings.digest(),
        json.dumps(settings.model_dump(mode="json"), sort_keys=True),
        package_versions(),
    )
    store.runs.record_provenance(run_id, loaded.codebook.id, loaded.describe(), loaded.sha256, model_id)
    return run_id


def _comparison(
    workspace: Workspace, store: Store, settings: Settings, loaded: LoadedCodebook, report: CodeReport
) -> CompareReport:
    """The comparison report, drawn again unless nothing it shows changed and its files are there."""
    from fieldnotes.compare.run import CompareReport, compare

    themes = report.themes
    # The themes run whose themes are current: an earlier one when they were reused.
    themes_run = (themes.reused_from or themes.run_id) if themes else None
    digest = inputs_digest(report.coder_key, settings.digest(), loaded.sha256, report.excerpt_digest, themes_run)
    fresh = current(store, *REPORT, digest, ReportState) if report.scored == "reused" else None
    if fresh is not None:
        state = fresh[1]
        files = [Path(path) for path in state.files]
        if files and all(path.is_file() for path in files):
            distinctive = {str(site): list(codes) for site, codes in state.distinctive}  # type: ignore[call-overload]
            return CompareReport(workspace.root, state.status_used, files, distinctive, state.warnings)
    comparison = compare(workspace.root, settings, loaded)
    saved = ReportState(
        comparison.status_used,
        [[site, codes] for site, codes in comparison.distinctive.items()],
        comparison.warnings,
        [str(path) for path in comparison.files],
    )
    record(store, *REPORT, digest, report.run_id, saved)
    return comparison


def _summary(report: CodeReport) -> dict[str, object]:
    """What the run record keeps of a coding run (for people and benchmarks; no stage reads it)."""
    return {
        "codebook": report.codebook,
        "model": report.model,
        "calibration": report.calibration,
        "threshold": report.threshold,
        "excerpts": report.excerpts,
        "excerpts_built": report.excerpts_built,
        "embedded": report.embedded,
        "suggestions": sum(report.suggestions_by_code.values()),
        "suggestions_by_code": dict(report.suggestions_by_code),
        "suggestions_by_site": dict(report.suggestions_by_site),
        "reviewed_kept": report.reviewed_kept,
        "reattached": report.reattached,
        "orphaned": report.orphaned,
        "withdrawn": report.withdrawn,
        "themes": len(report.themes.themes) if report.themes else 0,
        "seconds": round(report.seconds, 3),
        "coder_key": report.coder_key,
        "scored": report.scored,
    }


def _measures(clock: Stopwatch) -> dict[str, object]:
    return {"timings": clock.rounded(), "peak_rss_mb": clock.peak_rss_mb, "encoded_by_stage": clock.encoded_by_stage}


# --- stages run alone on a results folder, each holding its lock ----------------------------


def themes_alone(out_dir: Path, settings: Settings) -> ThemesReport:
    """`fieldnotes themes`: fit themes over what an earlier ingest or code run stored."""
    from fieldnotes.embedding import make_embedder
    from fieldnotes.errors import CorpusError
    from fieldnotes.themes.run import run_themes

    workspace = Workspace.at(out_dir)
    workspace.require_database(CorpusError, first="ingest")
    with workspace.locked("themes"), workspace.open_store() as store:
        return run_themes(workspace.root, settings, store, make_embedder(settings))


def calibrate_alone(out_dir: Path, loaded: LoadedCodebook, settings: Settings, output: Path | None = None):
    """`fieldnotes calibrate`: fit the combiner on the codebook's reference excerpts."""
    from fieldnotes.coding.evaluation import calibrate

    workspace = Workspace.at(out_dir)
    with workspace.locked("calibrate"), workspace.open_store() as store:
        return calibrate(loaded, settings, store, output)


def evaluate_alone(gold: Path, out_dir: Path, loaded: LoadedCodebook, settings: Settings):
    """`fieldnotes evaluate`: score a labelled gold file with fieldnotes and the baselines."""
    from fieldnotes.coding.evaluation import evaluate

    workspace = Workspace.at(out_dir)
    with workspace.locked("evaluate"), workspace.open_store() as store:
        return evaluate(gold, loaded, settings, store)
