"""The exchange stages as the command line calls them: one function per command."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from fieldnotes.codebook import LoadedCodebook
from fieldnotes.exchange.archive import ExchangeError
from fieldnotes.exchange.data import CODING_STATUSES, STATUS_CHOICES, ExportFormat, ExportRequest, collect
from fieldnotes.exchange.decisions import DecisionImport, import_decisions
from fieldnotes.files import write_csv
from fieldnotes.settings import Settings
from fieldnotes.workspace import Workspace

if TYPE_CHECKING:
    from fieldnotes.exchange.imports import ProjectImport


@dataclass
class ExportReport:
    path: Path
    format: str
    status: str
    excerpts: int
    documents: int = 0
    notes: list[str] = field(default_factory=list)
    codebook_only: bool = False  # the file holds the codebook, no excerpts


def default_export_path(out_dir: Path, fmt: str, status: str, codebook_id: str, codebook_only: bool = False) -> Path:
    if codebook_only:
        return Workspace.at(out_dir).exports / f"{codebook_id}.{fmt}"
    return Workspace.at(out_dir).exports / f"{codebook_id}-{status}.{fmt}"


def _database(out_dir: Path) -> Path:
    return Workspace.at(out_dir).require_database(ExchangeError)


def export(
    out_dir: Path,
    loaded: LoadedCodebook,
    settings: Settings,
    fmt: str,
    status: str = "accepted",
    output: Path | None = None,
    offsets: str = "codepoints",
    *,
    raw: bool = False,
) -> ExportReport:
    """Write the coded excerpts of `out_dir` (or, for a codebook format, the codebook alone) in
    the export format registered as `fmt` (fieldnotes.registry.exporters)."""
    from fieldnotes import registry
    from fieldnotes.store import Store

    if fmt not in registry.exporters:
        raise ExchangeError(f"unknown export format '{fmt}'; choose one of {', '.join(registry.exporters.names())}")
    if status not in STATUS_CHOICES:
        raise ExchangeError(f"unknown status '{status}'; choose one of {', '.join(STATUS_CHOICES)}")
    exporter: ExportFormat = registry.exporters.get(fmt)
    if exporter.codings_only and status == "rejected":
        raise ExchangeError(
            f"--format {fmt} carries codings, and a rejected suggestion is not one: the file would be empty; "
            "choose --format csv or xlsx for rejected suggestions"
        )
    book = loaded.codebook
    suffix = exporter.suffix or fmt
    path = Path(output) if output else default_export_path(out_dir, suffix, status, book.id, exporter.codebook_only)
    # A missing results database is refused before any folder is made for the file.
    database = None if exporter.codebook_only else _database(out_dir)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if database is None:
            codes = exporter.write(ExportRequest(book, path))
            return ExportReport(path, fmt, status, 0, notes=[f"{codes} codes"], codebook_only=True)
        with Store.open_for_reading(database) as store:
            data = collect(store, book, status, {site.id: site.label for site in settings.site})
        report = ExportReport(path, fmt, status, len(data.rows), len(data.documents))
        report.excerpts = exporter.write(ExportRequest(book, path, data, offsets, raw))
    except OSError as exc:
        hint = "" if output else "; give -o FILE to write it elsewhere"
        raise ExchangeError(f"{path}: cannot write the export ({exc.strerror or exc}){hint}") from None
    if exporter.codings_only and any(row.status not in CODING_STATUSES for row in data.rows):
        report.notes.append("rejected suggestions are not codings: left out of this file")
    if not data.rows:
        report.notes.append(
            f"no coded excerpts with status '{status}' in {out_dir}; review suggestions first "
            "(`fieldnotes review`) or choose --status suggested or all"
        )
    return report


class ProjectImporter(Protocol):
    """An entry of the importer registry (fieldnotes.registry.importers), named by the file ending
    it reads: brings a project's texts into the corpus and its codings into the results."""

    def __call__(
        self, path: Path, corpus: Path, out_dir: Path, settings: Settings, loaded: LoadedCodebook, offsets: str
    ) -> ProjectImport: ...


def import_project_file(
    path: Path, corpus: Path, out_dir: Path, settings: Settings, loaded: LoadedCodebook, offsets: str = "auto"
) -> ProjectImport:
    """Import a project with the importer registered for its file ending (.qdpx: REFI-QDA)."""
    from fieldnotes import registry

    kind = Path(path).suffix.lower().lstrip(".")
    if kind not in registry.importers:
        known = ", ".join(f".{name}" for name in registry.importers.names())
        hint = " (a .qdc is a codebook: use `fieldnotes import-codebook`)" if kind == "qdc" else ""
        raise ExchangeError(f"{path}: no project importer reads .{kind} files; known: {known}{hint}")
    importer: ProjectImporter = registry.importers.get(kind)
    return importer(Path(path), Path(corpus), Path(out_dir), settings, loaded, offsets)


def import_reviewed_sheet(out_dir: Path, loaded: LoadedCodebook, sheet: Path, coder: str) -> DecisionImport:
    """Apply a reviewed xlsx export; conflicts are also written to OUT/import-conflicts.csv."""
    from fieldnotes.coding.stage import write_excerpts_csv
    from fieldnotes.store import Store

    database = _database(out_dir)
    workspace = Workspace.at(out_dir)
    with workspace.locked("import-decisions"), Store.open(database) as store:
        result = import_decisions(sheet, store, loaded.codebook, coder)
        write_excerpts_csv(store, loaded, workspace)  # the decisions show there at once
    if result.conflicts:
        write_csv(
            Workspace.at(out_dir).conflicts_csv,
            ("row", "excerpt_id", "code", "wanted", "current", "decided_by", "decided_at", "reason"),
            (conflict.__dict__ for conflict in result.conflicts),
        )
    return result


def format_export(report: ExportReport) -> str:
    if report.codebook_only:
        return f"Wrote the codebook ({report.notes[0]}) to {report.path}"
    what = "codings" if report.format == "qdpx" else "coded excerpts"
    line = f"Wrote {report.excerpts} {what} (status {report.status})"
    if report.format == "qdpx":
        line += f" and {report.documents} documents"
    lines = [f"{line} to {report.path}"]
    lines += [f"note: {note}" for note in report.notes]
    if report.format == "xlsx" and report.excerpts:
        lines.append(
            f"Fill the decision column (accept / reject / keep), then: fieldnotes import-decisions {report.path}"
        )
    return "\n".join(lines)


def format_decision_import(result: DecisionImport, out_dir: Path) -> str:
    applied = ", ".join(f"{count} {status}" for status, count in sorted(result.applied.items())) or "none"
    lines = [
        f"Read {result.rows} rows of {result.path}: applied {applied}; "
        f"{result.unchanged} already so; {result.kept} left as they were; {len(result.conflicts)} conflicts"
    ]
    if result.conflicts:
        lines.append(
            "Conflicts (not applied; the database keeps its decision; all listed in "
            f"{Workspace.at(out_dir).conflicts_csv}):"
        )
        for conflict in result.conflicts[:20]:
            who = f" by {conflict.decided_by}" if conflict.decided_by else ""
            lines.append(
                f"  row {conflict.row}: {conflict.excerpt_id} {conflict.code}: sheet says {conflict.wanted}, "
                f"{conflict.reason}{who}"
            )
        if len(result.conflicts) > 20:
            lines.append(f"  ... and {len(result.conflicts) - 20} more")
        lines.append("To overrule the database's decision, change it on the review page (`fieldnotes review`).")
    return "\n".join(lines)


def format_codebook_import(result) -> str:
    target = result.output or "standard output"
    lines = [f"Imported {result.codes} codes in {result.groups} groups from {result.source} into {target}"]
    if result.placeholders:
        lines.append(
            f"{len(result.placeholders)} codes have no description: their definition is a placeholder to replace"
        )
    if result.renamed:
        pairs = ", ".join(f"{name} -> {code_id}" for name, code_id in list(result.renamed.items())[:8])
        lines.append(f"names used more than once got longer ids: {pairs}")
    if result.code_sets:
        lines.append(
            f"{len(result.code_sets)} sets of codes in the file are not groups here (a code may be in several): "
            + ", ".join(result.code_sets)
        )
    lines.append("Next: add definitions and examples, then `fieldnotes codebook check` the file")
    return "\n".join(lines)


def format_project_import(result) -> str:
    lines = [
        f"Imported {len(result.documents)} documents into {result.corpus_folder}, and {result.imported} of "
        f"{result.codings} codings in {result.source} as accepted codes"
        + (
            f" ({result.passage_codes} codes on passages: a coding across paragraphs codes each)"
            if result.passage_codes > result.imported + result.suggested
            else ""
        )
    ]
    if result.suggested:
        lines.append(
            f"{result.suggested} codings were fieldnotes' own unreviewed suggestions: recorded as suggestions "
            "to review, not as accepted codes"
        )
    if result.already:
        lines.append(f"{result.already} were already in the database")
    if result.by_code:
        lines.append("By code: " + ", ".join(f"{code} {n}" for code, n in result.by_code.most_common()))
    if result.unmatched_codes:
        names = ", ".join(f"{name} ({n})" for name, n in result.unmatched_codes.most_common(10))
        lines.append(
            f"{sum(result.unmatched_codes.values())} codings name codes not in the codebook, not imported: {names}; "
            "make a codebook from the file with `fieldnotes import-codebook` and pass it with --codebook"
        )
    if result.unplaced:
        lines.append(f"{len(result.unplaced)} codings whose text was not found after cleaning, not imported:")
        lines.extend(f"  {item}" for item in result.unplaced)
    lines.extend(f"note: {problem}" for problem in result.problems)
    return "\n".join(lines)
