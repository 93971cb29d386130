"""The codebook group: check or show a codebook."""

from __future__ import annotations

import shutil

import click

from fieldnotes.cli.options import user_errors


@click.group()
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

    with user_errors():
        loaded = load_codebook(file)
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

    with user_errors():
        loaded = load_codebook(file)
    click.echo(format_codebook(loaded, full=full, width=shutil.get_terminal_size((100, 20)).columns))
