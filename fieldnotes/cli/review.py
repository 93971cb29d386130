"""Commands over reviewed decisions: review (the review page), history, agreement."""

from __future__ import annotations

from pathlib import Path

import click

from fieldnotes.cli.options import codebook_option, coder_name, load_inputs, out_option, settings_option, user_errors


@click.command()
@out_option
@codebook_option
@settings_option
@click.option("--coder", default=None, help="Your name, recorded with every decision. Default: your login name.")
@click.option("--port", type=int, default=0, help="Port on 127.0.0.1. Default: a random free port.")
@click.option("--no-browser", is_flag=True, help="Print the address instead of opening a browser.")
def review(
    out_dir: Path, codebook: str | None, settings_path: Path | None, coder: str | None, port: int, no_browser: bool
) -> None:
    """Review suggestions in your browser: accept, reject, change the code, add codes, write memos.

    Starts a local web page (127.0.0.1 only) over the results in OUT, opened
    with a one-time login link: the browser that opens it keeps the session in
    a cookie (reopen the page's address there); another browser needs a new
    link (restart the command). Every decision is saved at once, with your name and
    the time; `fieldnotes history` shows them. Stop with Ctrl-C.
    """
    from fieldnotes.review.run import serve_review

    def ready(url: str) -> None:
        click.echo(
            f"Review page: {url}\n(the link opens the page once; then {url.split('?')[0]} in the same browser)\n"
            "Stop with Ctrl-C; every decision is already saved."
        )

    try:
        with user_errors():
            _, loaded = load_inputs(settings_path, codebook)
            serve_review(out_dir, loaded, coder_name(coder), port, not no_browser, on_ready=ready)
    except OSError as exc:
        raise click.ClickException(f"cannot start the review page on port {port} ({exc})") from None


@click.command()
@click.argument("target")
@out_option
def backup(target: str, out_dir: Path) -> None:
    """Copy the results database, with every decision, to TARGET (a file, or a folder ending in /).

    The copy is consistent even while the review page or another command runs.
    To restore it, copy it back as OUT/fieldnotes.db (with no fieldnotes.db-wal
    beside it).
    """
    from fieldnotes.workspace import backup_results

    with user_errors():
        written = backup_results(out_dir, target)
    click.echo(f"Backed up {out_dir}/fieldnotes.db to {written}")


@click.command()
@click.argument("excerpt_id")
@out_option
def history(excerpt_id: str, out_dir: Path) -> None:
    """Show every decision recorded on EXCERPT_ID: who, when, what, and the state before.

    EXCERPT_ID is the first column of excerpts.csv.
    """
    from fieldnotes.report import format_history
    from fieldnotes.review.run import decision_history

    with user_errors():
        rows = decision_history(out_dir, excerpt_id)
    click.echo(format_history(excerpt_id, rows))


@click.command()
@out_option
@codebook_option
@settings_option
@click.option("--coder", "coders", multiple=True, help="Give twice to compare two coders' decisions.")
def agreement(out_dir: Path, codebook: str | None, settings_path: Path | None, coders: tuple[str, ...]) -> None:
    """Agreement per code and overall: Cohen's kappa, Krippendorff's alpha, precision, recall, F1.

    Without --coder: the tool's suggestions against the reviewed decisions, on
    the excerpts someone reviewed. With --coder A --coder B: the two coders'
    latest decisions on the excerpts both reviewed. Counted at excerpt level.
    """
    from fieldnotes.review.agreement import format_agreement
    from fieldnotes.review.run import measure_agreement

    with user_errors():
        rows, label_a, label_b, units = measure_agreement(out_dir, settings_path, codebook, coders)
    click.echo(f"{units} excerpts compared")
    click.echo(format_agreement(rows, label_a, label_b))
