"""Commands that exchange data with other tools: export, import-decisions, import-codebook,
import-project."""

from __future__ import annotations

from pathlib import Path

import click

from fieldnotes.cli.options import (
    RegisteredName,
    codebook_option,
    coder_name,
    load_inputs,
    out_option,
    settings_option,
    user_errors,
)


@click.command()
@click.option(
    "--format",
    "fmt",
    type=RegisteredName("exporters", ("csv", "xlsx", "md", "qdpx", "qdc", "taguette-codebook")),
    required=True,
    help="csv: a table; xlsx: a review spreadsheet; md: excerpts by code and site, ready to quote; "
    "qdpx: a REFI-QDA project for NVivo, ATLAS.ti, MAXQDA, QualCoder; qdc: the codebook alone; "
    "taguette-codebook: the codebook as a CSV Taguette imports (tag, description); "
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
@click.option(
    "--raw",
    is_flag=True,
    help="csv only: write cells that start with = + - @ (or a tab) as they are. By default they get a leading "
    "apostrophe, so that a spreadsheet opening the file never runs text as a formula.",
)
@out_option
@codebook_option
@settings_option
def export(
    fmt: str,
    status: str,
    output: Path | None,
    offsets: str,
    raw: bool,
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
    from fieldnotes.exchange.run import export as run_export
    from fieldnotes.exchange.run import format_export

    with user_errors():
        settings, loaded = load_inputs(settings_path, codebook, check_patterns=False)
        report = run_export(out_dir, loaded, settings, fmt, status, output, offsets, raw=raw)
    click.echo(format_export(report))


@click.command("import-decisions")
@click.argument("sheet", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--coder", default=None, help="Your name, recorded with every decision. Default: your login name.")
@out_option
@codebook_option
@settings_option
def import_decisions(
    sheet: Path, coder: str | None, out_dir: Path, codebook: str | None, settings_path: Path | None
) -> None:
    """Read the decisions of a reviewed spreadsheet (from `export --format xlsx`).

    Every row is checked first (known excerpt and code, unchanged text, a
    decision of accept, reject or keep); if any is wrong nothing is imported.
    A decision that contradicts one already in the database is reported as a
    conflict and never overwrites it; the command then exits with status 3
    (everything else was applied). To overrule an earlier decision, change it
    on the review page (`fieldnotes review`), where undo and history keep both.
    Notes become memos.
    """
    from fieldnotes.exchange.run import format_decision_import, import_reviewed_sheet

    with user_errors():
        _, loaded = load_inputs(settings_path, codebook, check_patterns=False)
        result = import_reviewed_sheet(out_dir, loaded, sheet, coder_name(coder))
    click.echo(format_decision_import(result, out_dir))
    if result.conflicts:
        raise SystemExit(3)  # applied, but not all: a script must not take it for a clean import


@click.command("import-codebook")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="YAML file to write. Default: print the YAML.",
)  # fmt: skip
def import_codebook(file: Path, output: Path | None) -> None:
    """Turn a codebook from NVivo, ATLAS.ti, MAXQDA, QualCoder (FILE.qdc, FILE.qdpx) or Taguette (FILE.csv) into YAML.

    The code tree is kept (parents become groups, as deep as they go; a parent
    that can carry codings, as NVivo's can, is also a code inside its group)
    with names and descriptions; a codebook fieldnotes exported comes back
    whole (ids, rules, examples and patterns). Complete the result with definitions and examples,
    then check it with `fieldnotes codebook check`.
    """
    from fieldnotes.exchange.imports import import_codebook as run_import
    from fieldnotes.exchange.run import format_codebook_import

    with user_errors():
        result = run_import(file, output)
    if output is None:
        click.echo(result.yaml_text, nl=False)
        click.echo(format_codebook_import(result), err=True)
    else:
        click.echo(format_codebook_import(result))


@click.command("import-project")
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
@out_option
@codebook_option
@settings_option
def import_project(
    file: Path, corpus: Path, offsets: str, out_dir: Path, codebook: str | None, settings_path: Path | None
) -> None:
    """Bring a REFI-QDA project (FILE.qdpx) in: its texts as documents, its codings as accepted codes.

    Codes are matched to the codebook by GUID, then by their full path of names,
    then by a name unique in both; make a codebook from the project first
    (`fieldnotes import-codebook FILE.qdpx -o book.yaml`, then --codebook
    book.yaml) when it uses its own codes. Each coder in the file
    is recorded as the coder of their codings.

    A Taguette highlights export (FILE.csv: id, document, tag, content) comes in
    the same way, onto the documents already in the corpus (the files uploaded
    to Taguette, matched by file name); its coder is recorded as "taguette".
    """
    from fieldnotes.exchange.run import format_project_import, import_project_file

    with user_errors():
        settings, loaded = load_inputs(settings_path, codebook)
        result = import_project_file(file, corpus, out_dir, settings, loaded, offsets)
    click.echo(format_project_import(result))
