"""The `fieldnotes` command line. Only click code lives here: every command parses its
options, calls one library function, and turns domain errors into messages.

The commands live in one module per group: corpus (ingest, code, themes, compare), review
(review, history, agreement), exchange (export and the imports), quality (evaluate,
calibrate), codebook and settings; what they share is in options. Each command imports the
library it calls only when it runs, so `fieldnotes --help` stays instant.
"""

from __future__ import annotations

import click

from fieldnotes import __version__
from fieldnotes.cli import codebook, corpus, exchange, quality, review, settings
from fieldnotes.cli.options import DEFAULT_OUT, RegisteredName

__all__ = ["DEFAULT_OUT", "RegisteredName", "cli", "main"]


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


for _command in (
    corpus.ingest,
    corpus.code,
    corpus.themes,
    corpus.compare,
    review.review,
    review.history,
    review.agreement,
    review.backup,
    exchange.export,
    exchange.import_decisions,
    exchange.import_codebook,
    exchange.import_project,
    codebook.codebook,
    quality.evaluate,
    quality.calibrate,
    settings.settings,
):
    cli.add_command(_command)


def main() -> None:
    cli()
