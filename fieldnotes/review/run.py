"""Review commands over a results folder: the review page, the decision history, and
agreement statistics from who coded what."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from fieldnotes.errors import FieldnotesError
from fieldnotes.review.agreement import AgreementRow, overall_agreement, per_code_agreement
from fieldnotes.store import Store
from fieldnotes.workspace import Workspace

if TYPE_CHECKING:
    import sqlite3

    from fieldnotes.codebook import LoadedCodebook


class AgreementError(FieldnotesError):
    """Nothing to compare: no reviewed excerpts, or the coders share none."""


def _latest_by_coder(store: Store, codebook_id: str) -> dict[str, dict[str, dict[str, str]]]:
    """coder -> excerpt -> code -> that coder's latest status (accepted or rejected)."""
    rows = store.decisions.by_coders(codebook_id)
    latest: dict[str, dict[str, dict[str, str]]] = {}
    for row in rows:
        latest.setdefault(row["coder"], {}).setdefault(row["excerpt_id"], {})[row["code_id"]] = row["new_status"]
    return latest


def agreement(
    store: Store, codebook_id: str, codes: Sequence[str], coders: Sequence[str] = ()
) -> tuple[list[AgreementRow], str, str, int]:
    """Per-code and overall agreement: the tool against reviewed decisions (no coders), or
    coder A against coder B (two coders), on the excerpts both saw. Returns rows, labels, units."""
    if coders and len(coders) != 2:
        raise AgreementError("name two coders (--coder A --coder B), or none to compare the tool with decisions")
    if coders:
        latest = _latest_by_coder(store, codebook_id)
        missing = [coder for coder in coders if coder not in latest]
        if missing:
            known = ", ".join(sorted(latest)) or "none"
            raise AgreementError(f"no decisions by {', '.join(missing)} (coders with decisions: {known})")
        first, second = (latest[coder] for coder in coders)
        units = sorted(set(first) & set(second))
        applied_a = {e: {c for c, s in first[e].items() if s == "accepted"} for e in units}
        applied_b = {e: {c for c, s in second[e].items() if s == "accepted"} for e in units}
        label_a, label_b = coders
    else:
        rows = store.reads.current_suggestions(codebook_id)
        reviewed = {row["excerpt_id"] for row in rows if row["status"] in ("accepted", "rejected")}
        units = sorted(reviewed)
        applied_a = {e: set() for e in units}
        applied_b = {e: set() for e in units}
        for row in rows:
            if row["excerpt_id"] not in reviewed:
                continue
            if row["status"] == "accepted":
                applied_a[row["excerpt_id"]].add(row["code_id"])
            # Only suggestions someone reviewed count: an unreviewed one says nothing about agreement.
            if row["score"] is not None and row["status"] in ("accepted", "rejected"):
                applied_b[row["excerpt_id"]].add(row["code_id"])
        label_a, label_b = "reviewed decisions", "fieldnotes suggestions"
    if not units:
        raise AgreementError("no excerpts to compare: nothing has been reviewed (by both coders)")
    per_code = per_code_agreement(units, applied_a, applied_b, codes)
    return [*per_code, overall_agreement(units, applied_a, applied_b, codes)], label_a, label_b, len(units)


def _results_database(out_dir: Path) -> Path:
    return Workspace.at(out_dir).require_database(FieldnotesError)


def measure_agreement(
    out_dir: Path, settings_path: Path | None, codebook: str | None, coders: Sequence[str] = ()
) -> tuple[list[AgreementRow], str, str, int]:
    """`fieldnotes agreement`: `agreement` over the results folder, with the codebook given
    (default: the settings' one). The database is looked for before anything is loaded."""
    from fieldnotes.codebook import load_codebook
    from fieldnotes.settings import load_settings

    database = _results_database(out_dir)
    settings = load_settings(settings_path)
    book = load_codebook(codebook or settings.coding.codebook).codebook
    with Store.open_for_reading(database) as store:
        return agreement(store, book.id, book.code_ids, coders)


def decision_history(out_dir: Path, excerpt_id: str) -> list[sqlite3.Row]:
    """`fieldnotes history`: every decision recorded on one excerpt, oldest first."""
    database = _results_database(out_dir)
    with Store.open_for_reading(database) as store:
        rows = store.decisions.history(excerpt_id)
    if not rows:
        raise FieldnotesError(f"no decisions recorded for excerpt '{excerpt_id}'")
    return rows


def serve_review(
    out_dir: Path,
    loaded: LoadedCodebook,
    coder: str,
    port: int,
    open_browser: bool,
    on_ready: Callable[[str], None],
) -> None:
    """`fieldnotes review`: serve the review page (with the codebook's calibrated threshold)
    until Ctrl-C; `on_ready` gets the page's address once it is served. Raises OSError when
    the port cannot be bound."""
    from fieldnotes.coding.calibration import scoring_threshold
    from fieldnotes.review.server import review

    threshold = scoring_threshold(loaded)
    server, url = review(out_dir, loaded, coder, port, threshold, open_browser=open_browser)
    on_ready(url)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.shutdown()
        _refresh_excerpts_csv(out_dir, loaded)


def _refresh_excerpts_csv(out_dir: Path, loaded: LoadedCodebook) -> None:
    """Bring OUT/excerpts.csv up to date with the decisions just made (the database already is),
    and checkpoint the database, so that copying `fieldnotes.db` alone keeps every decision."""
    import sqlite3

    from fieldnotes.coding.stage import write_excerpts_csv

    workspace = Workspace.at(out_dir)
    try:
        with Store.open(workspace.database) as store:
            write_excerpts_csv(store, loaded, workspace)
            store.checkpoint()  # every decision in fieldnotes.db itself, not only in its WAL file
    except (OSError, FieldnotesError, sqlite3.Error):
        pass  # the decisions are in the database; the next `code` or `export` writes the file
