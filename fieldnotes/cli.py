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


def _out_option(func: Callable) -> Callable:
    return click.option(
        "--out",
        "out_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=DEFAULT_OUT,
        show_default=True,
        help="Results folder (fieldnotes.db and CSV files).",
    )(func)


def _codebook_option(func: Callable) -> Callable:
    return click.option(
        "--codebook",
        "codebook",
        default=None,
        help="Codebook YAML file, or the name of a shipped one. Default: [coding] codebook in the settings.",
    )(func)


class RegisteredName(click.ParamType):
    """A part's name, checked against its registry (fieldnotes.registry) only when given, so
    `--help` stays instant; the help shows the built-in names."""

    name = "name"

    def __init__(self, kind: str, builtins: tuple[str, ...]) -> None:
        self.kind = kind
        self.builtins = builtins

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "[" + "|".join(self.builtins) + "|...]"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from fieldnotes import registry

        parts = getattr(registry, self.kind)
        if value not in parts:
            self.fail(f"'{value}' is not a known {parts.kind}; choose one of {', '.join(parts.names())}", param, ctx)
        return str(value)


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

    Then fieldnotes suggests codes from a codebook (default: co-production,
    fourteen codes) for every sentence-level excerpt, each with a score and a
    reason, finds themes, and compares the sites in OUT/report.html.
    Researchers accept or reject suggestions in `fieldnotes review`, and
    `fieldnotes export` writes coded excerpts for spreadsheets, papers and
    other QDA tools (REFI-QDA: NVivo, ATLAS.ti, MAXQDA, QualCoder).

    Start with:  fieldnotes code corpus/     then:  fieldnotes review
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


@cli.command()
@click.argument("corpus", type=click.Path(path_type=Path))
@_out_option
@_codebook_option
@_settings_option
@click.option("-q", "--quiet", is_flag=True, help="Print only problems, no summary or progress bar.")
def code(corpus: Path, out_dir: Path, codebook: str | None, settings_path: Path | None, quiet: bool) -> None:
    """Ingest CORPUS, then suggest codes from the codebook for every excerpt.

    An excerpt is a sentence (or a few short ones) inside a passage. Each
    suggestion has a score in [0, 1] combining keyword rules, similarity to the
    code's definition and examples, and classifiers learned from labelled
    excerpts, and a rationale saying which terms matched and which codebook
    example it resembles. Suggestions a researcher has accepted or rejected are
    never changed by a re-run.

    Writes OUT/excerpts.csv (one row per suggested code) besides
    OUT/passages.csv and OUT/fieldnotes.db.
    """
    from fieldnotes.pipeline import code_corpus
    from fieldnotes.report import format_code_report

    try:
        settings = _load_settings(settings_path)
        report = code_corpus(corpus, out_dir, settings, codebook)
    except FieldnotesError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(format_code_report(report, quiet=quiet), err=quiet)
    if report.ingest.documents == 0:
        raise click.ClickException("no document could be read; nothing was coded")


@cli.command()
@_out_option
@_settings_option
def themes(out_dir: Path, settings_path: Path | None) -> None:
    """Find themes (BERTopic topics) in the passages of the results folder.

    Runs on what `fieldnotes ingest` or `fieldnotes code` stored in OUT,
    reusing cached embeddings. Small corpora use PCA and k-means, larger ones
    UMAP and HDBSCAN; every passage gets one theme. Writes OUT/themes.csv.
    """
    from fieldnotes.pipeline import themes_alone
    from fieldnotes.report import format_themes_report

    try:
        report = themes_alone(out_dir, _load_settings(settings_path))
    except FieldnotesError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(format_themes_report(report))


@cli.command()
@click.option("--by", type=click.Choice(["site"]), default="site", show_default=True, help="What to compare.")
@_out_option
@_codebook_option
@_settings_option
@click.option(
    "--status",
    type=click.Choice(["auto", "accepted", "suggested", "all"]),
    default="auto",
    show_default=True,
    help="Which suggestions to count: accepted decisions; suggested (all but rejected); all; "
    "auto = accepted where any exist, else suggested.",
)
def compare(by: str, out_dir: Path, codebook: str | None, settings_path: Path | None, status: str) -> None:
    """Compare codes and themes across sites: tables, charts and report.html.

    Counts coded excerpts per code and site, the share of each site's passages
    coded, and the rate per 1,000 words; a Pearson chi-square test with adjusted
    standardised residuals flags the codes (and themes) distinctive of a site.
    Writes OUT/code_by_site.csv, topic_by_site.csv, cooccurrence.csv,
    figures/*.png and OUT/report.html, a page to open in a browser.
    """
    from fieldnotes.codebook import load_codebook
    from fieldnotes.compare.run import compare as run_compare
    from fieldnotes.report import format_compare_report

    try:
        settings = _load_settings(settings_path)
        loaded = load_codebook(codebook or settings.coding.codebook)
        report = run_compare(out_dir, settings, loaded, status)
    except FieldnotesError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(format_compare_report(report))


@cli.command()
@_out_option
@_codebook_option
@_settings_option
@click.option("--coder", default=None, help="Your name, recorded with every decision. Default: your login name.")
@click.option("--port", type=int, default=0, help="Port on 127.0.0.1. Default: a random free port.")
@click.option("--no-browser", is_flag=True, help="Print the address instead of opening a browser.")
def review(
    out_dir: Path, codebook: str | None, settings_path: Path | None, coder: str | None, port: int, no_browser: bool
) -> None:
    """Review suggestions in your browser: accept, reject, change the code, add codes, write memos.

    Starts a local web page (127.0.0.1 only, with a secret token in its address)
    over the results in OUT. Every decision is saved at once, with your name and
    the time; `fieldnotes history` shows them. Stop with Ctrl-C.
    """
    import getpass
    import time

    from fieldnotes.codebook import load_codebook
    from fieldnotes.coding.run import find_calibration
    from fieldnotes.coding.suggest import Calibration
    from fieldnotes.review.server import review as start_review

    try:
        settings = _load_settings(settings_path)
        loaded = load_codebook(codebook or settings.coding.codebook)
        threshold = Calibration.load(find_calibration(loaded)).threshold
        server, url = start_review(
            out_dir, loaded, coder or getpass.getuser(), port, threshold, open_browser=not no_browser
        )
    except FieldnotesError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot start the review page on port {port} ({exc})") from None
    click.echo(f"Review page: {url}\nStop with Ctrl-C; every decision is already saved.")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.shutdown()


@cli.command()
@click.argument("excerpt_id")
@_out_option
def history(excerpt_id: str, out_dir: Path) -> None:
    """Show every decision recorded on EXCERPT_ID: who, when, what, and the state before.

    EXCERPT_ID is the first column of excerpts.csv.
    """
    from fieldnotes.report import format_history
    from fieldnotes.store import Store, database_path

    database = database_path(out_dir)
    if not database.is_file():
        raise click.ClickException(f"{out_dir}: no results database; run `fieldnotes code CORPUS` first")
    try:
        with Store.open(database) as store:
            rows = store.decisions.history(excerpt_id)
    except FieldnotesError as exc:
        raise click.ClickException(str(exc)) from None
    if not rows:
        raise click.ClickException(f"no decisions recorded for excerpt '{excerpt_id}'")
    click.echo(format_history(excerpt_id, rows))


@cli.command()
@_out_option
@_codebook_option
@_settings_option
@click.option("--coder", "coders", multiple=True, help="Give twice to compare two coders' decisions.")
def agreement(out_dir: Path, codebook: str | None, settings_path: Path | None, coders: tuple[str, ...]) -> None:
    """Agreement per code and overall: Cohen's kappa, Krippendorff's alpha, precision, recall, F1.

    Without --coder: the tool's suggestions against the reviewed decisions, on
    the excerpts someone reviewed. With --coder A --coder B: the two coders'
    latest decisions on the excerpts both reviewed. Counted at excerpt level.
    """
    from fieldnotes.codebook import load_codebook
    from fieldnotes.review.agreement import format_agreement
    from fieldnotes.review.run import agreement as run_agreement
    from fieldnotes.store import Store, database_path

    database = database_path(out_dir)
    if not database.is_file():
        raise click.ClickException(f"{out_dir}: no results database; run `fieldnotes code CORPUS` first")
    try:
        settings = _load_settings(settings_path)
        book = load_codebook(codebook or settings.coding.codebook).codebook
        with Store.open(database) as store:
            rows, label_a, label_b, units = run_agreement(store, book.id, book.code_ids, coders)
    except FieldnotesError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{units} excerpts compared")
    click.echo(format_agreement(rows, label_a, label_b))


@cli.command()
@click.option(
    "--format",
    "fmt",
    type=RegisteredName("exporters", ("csv", "xlsx", "md", "qdpx", "qdc")),
    required=True,
    help="csv: a table; xlsx: a review spreadsheet; md: excerpts by code and site, ready to quote; "
    "qdpx: a REFI-QDA project for NVivo, ATLAS.ti, MAXQDA, QualCoder; qdc: the codebook alone; "
    "or a format a plug-in registers.",
)
@click.option(
    "--status",
    type=click.Choice(["accepted", "suggested", "rejected", "reviewed", "all"]),
    default="accepted",
    show_default=True,
    help="Which suggestions: accepted ones, ones still to review, rejected, reviewed (accepted and rejected), "
    "or all. qdpx and md never carry rejected ones.",
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="File to write. Default: OUT/exports/CODEBOOK-STATUS.FORMAT (CODEBOOK.qdc for qdc).",
)  # fmt: skip
@click.option(
    "--offsets",
    type=click.Choice(["codepoints", "utf16"]),
    default="codepoints",
    show_default=True,
    help="qdpx only: count selection offsets in Unicode code points (the REFI-QDA standard) or in UTF-16 units "
    "(NVivo's counting; differs only for characters such as emoji).",
)
@_out_option
@_codebook_option
@_settings_option
def export(
    fmt: str,
    status: str,
    output: Path | None,
    offsets: str,
    out_dir: Path,
    codebook: str | None,
    settings_path: Path | None,
) -> None:
    """Export coded excerpts (document, site, span, code, status, score, coder, memo).

    For other QDA tools use --format qdpx (a REFI-QDA project: the documents
    as plain text, the code tree, codings, sites as cases, coders as users)
    or --format qdc (the codebook). --format xlsx writes a spreadsheet to
    review: fill its decision column and read it back with
    `fieldnotes import-decisions`.
    """
    from fieldnotes.codebook import load_codebook
    from fieldnotes.exchange.run import export as run_export
    from fieldnotes.exchange.run import format_export

    try:
        settings = _load_settings(settings_path)
        loaded = load_codebook(codebook or settings.coding.codebook, check_patterns=False)
        report = run_export(out_dir, loaded, settings, fmt, status, output, offsets)
    except FieldnotesError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(format_export(report))


@cli.command("import-decisions")
@click.argument("sheet", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--coder", default=None, help="Your name, recorded with every decision. Default: your login name.")
@_out_option
@_codebook_option
@_settings_option
def import_decisions(
    sheet: Path, coder: str | None, out_dir: Path, codebook: str | None, settings_path: Path | None
) -> None:
    """Read the decisions of a reviewed spreadsheet (from `export --format xlsx`).

    Every row is checked first (known excerpt and code, unchanged text, a
    decision of accept, reject or keep); if any is wrong nothing is imported.
    A decision that contradicts one already in the database is reported as a
    conflict and never overwrites it. Notes become memos.
    """
    import getpass

    from fieldnotes.codebook import load_codebook
    from fieldnotes.exchange.run import format_decision_import, import_reviewed_sheet

    try:
        settings = _load_settings(settings_path)
        loaded = load_codebook(codebook or settings.coding.codebook, check_patterns=False)
        result = import_reviewed_sheet(out_dir, loaded, sheet, coder or getpass.getuser())
    except FieldnotesError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(format_decision_import(result, out_dir))


@cli.command("import-codebook")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="YAML file to write. Default: print the YAML.",
)  # fmt: skip
def import_codebook(file: Path, output: Path | None) -> None:
    """Turn a codebook from NVivo, ATLAS.ti, MAXQDA or QualCoder (FILE.qdc or FILE.qdpx) into YAML.

    The code tree is kept (parents become groups, as deep as they go) with
    names and descriptions. Complete the result with definitions and examples,
    then check it with `fieldnotes codebook check`.
    """
    from fieldnotes.exchange.imports import import_codebook as run_import
    from fieldnotes.exchange.run import format_codebook_import

    try:
        result = run_import(file, output)
    except FieldnotesError as exc:
        raise click.ClickException(str(exc)) from None
    if output is None:
        click.echo(result.yaml_text, nl=False)
        click.echo(format_codebook_import(result), err=True)
    else:
        click.echo(format_codebook_import(result))


@cli.command("import-project")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--corpus",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("corpus"),
    show_default=True,
    help="Corpus folder; the project's texts are written to CORPUS/imported/PROJECT/.",
)
@click.option(
    "--offsets",
    type=click.Choice(["auto", "codepoints", "utf16"]),
    default="auto",
    show_default=True,
    help="How the file counts selection offsets; auto: UTF-16 units for NVivo files, code points otherwise.",
)
@_out_option
@_codebook_option
@_settings_option
def import_project(
    file: Path, corpus: Path, offsets: str, out_dir: Path, codebook: str | None, settings_path: Path | None
) -> None:
    """Bring a REFI-QDA project (FILE.qdpx) in: its texts as documents, its codings as accepted codes.

    Codes are matched to the codebook by id or name; make a codebook from the
    project first (`fieldnotes import-codebook FILE.qdpx -o book.yaml`, then
    --codebook book.yaml) when it uses its own codes. Each coder in the file
    is recorded as the coder of their codings.
    """
    from fieldnotes.codebook import load_codebook
    from fieldnotes.exchange.run import format_project_import, import_project_file

    try:
        settings = _load_settings(settings_path)
        loaded = load_codebook(codebook or settings.coding.codebook)
        result = import_project_file(file, corpus, out_dir, settings, loaded, offsets)
    except FieldnotesError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(format_project_import(result))


@cli.group()
def codebook() -> None:
    """Check or show a codebook (YAML)."""


@codebook.command("check")
@click.argument("file", required=False)
def codebook_check(file: str | None) -> None:
    """Validate a codebook FILE (default: the shipped co-production codebook).

    Unknown keys, duplicate ids, missing fields, invalid patterns and regular
    expressions are reported with the file, line, code and field.
    """
    from fieldnotes.codebook import load_codebook

    try:
        loaded = load_codebook(file)
    except FieldnotesError as exc:
        raise click.ClickException(str(exc)) from None
    book = loaded.codebook
    patterns = sum(len(code.patterns) for code in book.codes)
    examples = sum(len(code.examples) for code in book.codes)
    click.echo(
        f"{loaded.path}: valid; {book.name} {book.version}: {len(book.codes)} codes in {len(book.groups)} groups, "
        f"{examples} examples, {patterns} patterns"
    )


@codebook.command("show")
@click.argument("file", required=False)
@click.option("--full", is_flag=True, help="Also print definitions, rules and examples.")
def codebook_show(file: str | None, full: bool) -> None:
    """Print a codebook as a readable table (default: the shipped one)."""
    from fieldnotes.codebook import load_codebook
    from fieldnotes.report import format_codebook

    try:
        loaded = load_codebook(file)
    except FieldnotesError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(format_codebook(loaded, full=full, width=shutil.get_terminal_size((100, 20)).columns))


@cli.command()
@click.argument("gold", type=click.Path(dir_okay=False, path_type=Path))
@_out_option
@_codebook_option
@_settings_option
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON.")
def evaluate(gold: Path, out_dir: Path, codebook: str | None, settings_path: Path | None, as_json: bool) -> None:
    """Measure suggestions against GOLD, a CSV of labelled excerpts (id,text,codes).

    Prints precision, recall and F1 per code and micro-averaged for fieldnotes
    and two baselines: keywords only, and zero-shot similarity to the code
    definitions. Embeddings are cached in the shared embedding cache.
    """
    from fieldnotes.codebook import load_codebook
    from fieldnotes.coding.run import evaluation_json, format_evaluation
    from fieldnotes.pipeline import evaluate_alone

    try:
        settings = _load_settings(settings_path)
        loaded = load_codebook(codebook or settings.coding.codebook)
        result = evaluate_alone(gold, out_dir, loaded, settings)
    except FieldnotesError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(evaluation_json(result) if as_json else format_evaluation(result))


@cli.command()
@_out_option
@_codebook_option
@_settings_option
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the calibration. Default: CODEBOOK.calibration.json beside the codebook.",
)
def calibrate(out_dir: Path, codebook: str | None, settings_path: Path | None, output: Path | None) -> None:
    """Fit how evidence is combined into scores, on the codebook's reference excerpts.

    Run it after editing a codebook's examples or reference excerpts, or after
    changing the suggesters or the model. The learned suggester is
    cross-validated so the fit never sees its own training data.
    """
    from fieldnotes.codebook import load_codebook
    from fieldnotes.pipeline import calibrate_alone

    try:
        settings = _load_settings(settings_path)
        loaded = load_codebook(codebook or settings.coding.codebook)
        result = calibrate_alone(out_dir, loaded, settings, output)
    except FieldnotesError as exc:
        raise click.ClickException(str(exc)) from None
    weights = ", ".join(f"{name} {weight:+.2f}" for name, weight in zip(result.features, result.weights, strict=True))
    click.echo(f"wrote {output or loaded.calibration_path}: threshold {result.threshold:.2f}; weights {weights}")


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
