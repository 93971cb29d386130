"""Commands that run the pipeline on a corpus: ingest, code, themes, compare."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from fieldnotes.cli.options import (
    DEFAULT_OUT,
    codebook_option,
    load_inputs,
    load_settings,
    out_option,
    settings_option,
    user_errors,
)
from fieldnotes.timing import encoder_progress_bar

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar


class _ProgressBar:
    """A progress bar on stderr for long ingests at a terminal (nothing when quiet or piped)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar: ProgressBar[int] | None = None

    def __call__(self, index: int, total: int, relpath: str) -> None:
        if self.quiet or not sys.stderr.isatty() or total < 20:
            return
        if self.bar is None:
            self.bar = click.progressbar(length=total, label="Reading", file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


@click.command()
@click.argument("corpus", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_OUT,
    show_default=True,
    help="Folder for fieldnotes.db and passages.csv.",
)
@settings_option
@click.option("--strict", is_flag=True, help="Exit non-zero if any file could not be read.")
@click.option("-q", "--quiet", is_flag=True, help="Print only problems, no summary or progress bar.")
def ingest(corpus: Path, out_dir: Path, settings_path: Path | None, strict: bool, quiet: bool) -> None:
    """Read, repair, segment and assign sites to every document in CORPUS.

    CORPUS is a folder (read recursively) or a single file. Each passage gets a
    site from, in order: the document's front matter (`site: osaka`) or the
    corpus manifest (manifest.csv with columns path,site), its folder
    (corpus/nagoya/...), or its headings. Unchanged documents are reused from
    the last run; nothing stored before is lost when a file goes bad.

    Writes OUT/fieldnotes.db and OUT/passages.csv.
    """
    from fieldnotes.pipeline import ingest_corpus
    from fieldnotes.report import format_ingest_report

    progress = _ProgressBar(quiet)
    try:
        with user_errors():
            report = ingest_corpus(corpus, out_dir, load_settings(settings_path), progress=progress)
    finally:
        progress.close()
    click.echo(format_ingest_report(report, quiet=quiet), err=quiet)
    if report.documents == 0:
        raise click.ClickException("no document could be read; nothing was ingested")
    if strict and report.errors:
        raise click.ClickException(f"{len(report.errors)} file(s) could not be read (--strict)")


@click.command()
@click.argument("corpus", type=click.Path(path_type=Path))
@out_option
@codebook_option
@settings_option
@click.option("-q", "--quiet", is_flag=True, help="Print only problems, no summary or progress bar.")
def code(corpus: Path, out_dir: Path, codebook: str | None, settings_path: Path | None, quiet: bool) -> None:
    """Ingest CORPUS, then suggest codes from the codebook for every excerpt.

    An excerpt is a sentence (or a few short ones) inside a passage. Each
    suggestion has a score in [0, 1] combining keyword rules, similarity to the
    code's definition and examples, and classifiers learned from labelled
    excerpts, and a rationale saying which terms matched and which codebook
    example it resembles. A codebook with its own calibration (`fieldnotes
    calibrate`) gets calibrated scores; any other codebook, even one with
    definitions only, gets a label-free ranking within the corpus (about
    `suggestions_per_excerpt` suggestions per excerpt), and the run says so.
    Suggestions a researcher has accepted or rejected are never changed by a
    re-run.

    Writes OUT/excerpts.csv (one row per suggested code) besides
    OUT/passages.csv and OUT/fieldnotes.db.
    """
    from fieldnotes.pipeline import code_corpus
    from fieldnotes.report import format_code_report

    started = time.perf_counter()

    def stage(line: str) -> None:
        if not quiet:
            click.echo(f"[{time.perf_counter() - started:6.1f} s] {line} ...", err=True)

    try:
        with user_errors(), encoder_progress_bar(not quiet and sys.stderr.isatty()):
            report = code_corpus(corpus, out_dir, load_settings(settings_path), codebook, stages=stage)
    except KeyboardInterrupt:
        raise click.ClickException(
            "interrupted: every stage finished before this one is kept in the results folder, and every "
            "decision is; run the same command again to finish (unchanged work is reused)"
        ) from None
    click.echo(format_code_report(report, quiet=quiet), err=quiet)
    if report.ingest is None or report.ingest.documents == 0:
        raise click.ClickException("no document could be read; nothing was coded")


@click.command()
@out_option
@settings_option
def themes(out_dir: Path, settings_path: Path | None) -> None:
    """Find themes (BERTopic topics) in the passages of the results folder.

    Runs on what `fieldnotes ingest` or `fieldnotes code` stored in OUT,
    reusing cached embeddings. Small corpora use PCA and k-means, larger ones
    UMAP and HDBSCAN; every passage gets one theme. Writes OUT/themes.csv.
    """
    from fieldnotes.pipeline import themes_alone
    from fieldnotes.report import format_themes_report

    with user_errors(), encoder_progress_bar(sys.stderr.isatty()):
        report = themes_alone(out_dir, load_settings(settings_path))
    click.echo(format_themes_report(report))


@click.command()
@click.option("--by", type=click.Choice(["site"]), default="site", show_default=True, help="What to compare.")
@out_option
@codebook_option
@settings_option
@click.option(
    "--status",
    type=click.Choice(["auto", "accepted", "suggested", "all"]),
    default="auto",
    show_default=True,
    help="Which suggestions to count: accepted decisions only; suggested (accepted and unreviewed, "
    "rejected left out); all; auto = suggested, saying how many are accepted.",
)
def compare(by: str, out_dir: Path, codebook: str | None, settings_path: Path | None, status: str) -> None:
    """Compare codes and themes across sites: tables, charts and report.html.

    Counts coded excerpts per code and site, the share of each site's passages
    coded, and the rate per 1,000 words; a Pearson chi-square test with adjusted
    standardised residuals flags the codes (and themes) distinctive of a site.
    Writes OUT/code_by_site.csv, topic_by_site.csv, cooccurrence.csv,
    figures/*.png and OUT/report.html, a page to open in a browser.
    """
    from fieldnotes.compare.run import compare as run_compare
    from fieldnotes.report import format_compare_report

    with user_errors():
        settings, loaded = load_inputs(settings_path, codebook)
        report = run_compare(out_dir, settings, loaded, status)
    click.echo(format_compare_report(report))
