"""The `fieldnotes` command line. Only click code lives here: every command parses
its options, calls one library function, and turns domain errors into messages."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import click

from fieldnotes import __version__
from fieldnotes.errors import FieldnotesError

DEFAULT_OUT = Path("outputs")


def _settings_option(func: Callable) -> Callable:
    return click.option(
        "--settings",
        "settings_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Pipeline settings (TOML). Default: the shipped pipeline/default.toml.",
    )(func)


def _load_settings(path: Path | None):
    from fieldnotes.settings import load_settings

    return load_settings(path)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fieldnotes")
def cli() -> None:
    """Code qualitative field material on co-production, site by site.

    fieldnotes reads a folder of field notes and cooperative documents (text,
    Markdown, Word, PDF, HTML), repairs text damaged by PDF extraction, cuts it
    into passages and sentences, and tells which site (Nagoya, Osaka, Niihama or
    general) every passage belongs to. Results go to an SQLite database and CSV
    files in the output folder (default: outputs/).

    Start with:  fieldnotes ingest corpus/
    """


@cli.command()
@click.argument("corpus", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_OUT,
    show_default=True,
    help="Folder for fieldnotes.db and passages.csv.",
)
@_settings_option
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

    bar = None

    def progress(index: int, total: int, relpath: str) -> None:
        nonlocal bar
        if quiet or not sys.stderr.isatty() or total < 20:
            return
        if bar is None:
            bar = click.progressbar(length=total, label="Reading", file=sys.stderr)
            bar.__enter__()
        bar.update(1)

    try:
        settings = _load_settings(settings_path)
        report = ingest_corpus(corpus, out_dir, settings, progress=progress)
    except FieldnotesError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    click.echo(format_ingest_report(report, quiet=quiet), err=quiet)
    if report.documents == 0:
        raise click.ClickException("no document could be read; nothing was ingested")
    if strict and report.errors:
        raise click.ClickException(f"{len(report.errors)} file(s) could not be read (--strict)")


@cli.group()
def settings() -> None:
    """Show, check or copy pipeline settings files."""


@settings.command("show")
@_settings_option
def settings_show(settings_path: Path | None) -> None:
    """Print the settings file in effect (the shipped defaults unless --settings)."""
    from fieldnotes.resources import default_settings_path

    path = settings_path or default_settings_path()
    try:
        _load_settings(path)
        click.echo(path.read_text(encoding="utf-8"), nl=False)
    except FieldnotesError as exc:
        raise click.ClickException(str(exc)) from None


@settings.command("check")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def settings_check(file: Path) -> None:
    """Validate a settings FILE; name every wrong key and its line."""
    try:
        loaded = _load_settings(file)
    except FieldnotesError as exc:
        raise click.ClickException(str(exc)) from None
    sites = ", ".join(site.id for site in loaded.site) or "none"
    click.echo(f"{file}: valid (sites: {sites}; digest {loaded.digest()})")


@settings.command("init")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
def settings_init(file: Path, force: bool) -> None:
    """Copy the default settings to FILE, to edit and pass with --settings."""
    from fieldnotes.resources import default_settings_path

    if file.exists() and not force:
        raise click.ClickException(f"{file} exists; pass --force to overwrite it")
    shutil.copyfile(default_settings_path(), file)
    click.echo(f"wrote {file}; edit it and run e.g. `fieldnotes ingest corpus/ --settings {file}`")


def main() -> None:
    cli()
