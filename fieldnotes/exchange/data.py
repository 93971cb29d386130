"""What every export carries: coded excerpts with their codes, sites and decisions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fieldnotes.codebook import Codebook
from fieldnotes.store import Store

# --status on the command line -> suggestion statuses exported.
STATUS_CHOICES: dict[str, tuple[str, ...]] = {
    "accepted": ("accepted",),
    "suggested": ("suggested",),
    "rejected": ("rejected",),
    "reviewed": ("accepted", "rejected"),
    "all": ("suggested", "accepted", "rejected"),
}
# Formats that export codings, not a review table, never carry rejected suggestions.
CODING_STATUSES = ("suggested", "accepted")
MACHINE_CODER = "fieldnotes"


@dataclass(frozen=True)
class CodedExcerpt:
    excerpt_id: str
    passage_id: str
    document_id: str
    document: str
    site: str
    start: int  # code points into the document's cleaned text
    end: int
    text: str
    code: str
    code_name: str
    status: str
    score: float | None
    suggested_by: str
    rationale: str
    coder: str | None
    decided_at: str | None
    memo: str | None


@dataclass(frozen=True)
class SourceText:
    document_id: str
    path: str
    text: str
    sites: tuple[str, ...]


@dataclass
class ExportData:
    codebook: Codebook
    status: str
    rows: list[CodedExcerpt]
    documents: list[SourceText]
    site_labels: dict[str, str] = field(default_factory=dict)
    database: Path | None = None

    def site_label(self, site: str) -> str:
        return self.site_labels.get(site, site.title())


def collect(store: Store, book: Codebook, status: str, site_labels: dict[str, str]) -> ExportData:
    """Read the coded excerpts with `status` (a key of STATUS_CHOICES) and every current document."""
    statuses = STATUS_CHOICES[status]
    names = {code.id: code.name for code in book.codes}
    rows = [
        CodedExcerpt(
            excerpt_id=row["excerpt_id"],
            passage_id=row["passage_id"],
            document_id=row["document_id"],
            document=row["document"],
            site=row["site"],
            start=row["start"],
            end=row["end"],
            text=row["text"],
            code=row["code"],
            code_name=names.get(row["code"], row["code"]),
            status=row["status"],
            score=row["score"],
            suggested_by=row["suggested_by"],
            rationale=row["rationale"],
            coder=row["coder"],
            decided_at=row["decided_at"],
            memo=row["memo"],
        )
        for row in store.reads.export_rows(book.id, statuses)
    ]
    documents = [
        SourceText(row["document_id"], row["path"], row["text"], tuple(filter(None, (row["sites"] or "").split(","))))
        for row in store.reads.current_documents()
    ]
    return ExportData(book, status, rows, documents, dict(site_labels), store.path)


@dataclass(frozen=True)
class ExportRequest:
    """What an export format writes from: the codebook, the coded excerpts (None for a format
    that writes the codebook alone), the file to write and how to count offsets."""

    codebook: Codebook
    path: Path
    data: ExportData | None = None
    offsets: str = "codepoints"
    raw: bool = False  # csv: cells a spreadsheet would run as formulas are written as they are


@dataclass(frozen=True)
class ExportFormat:
    """An entry of the exporter registry (fieldnotes.registry.exporters)."""

    # Writes the file; returns how many excerpts (codings, for REFI-QDA; codes, for a codebook) it wrote.
    write: Callable[[ExportRequest], int]
    # True when the format carries the codebook only, so no results folder is needed.
    codebook_only: bool = False
    # Codings formats leave rejected suggestions out (review tables carry them).
    codings_only: bool = False
    # The file ending of the default output file, when it is not the format's name.
    suffix: str | None = None
