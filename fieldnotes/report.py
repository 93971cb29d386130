"""Plain-text summaries of what a run did, for the terminal."""

from __future__ import annotations

from collections import Counter

from fieldnotes.pipeline import IngestReport


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{key} {value}" for key, value in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


def format_ingest_report(report: IngestReport, quiet: bool = False) -> str:
    lines: list[str] = []
    if not quiet:
        lines.append(
            f"Read {report.documents} documents ({_counts(report.documents_by_format) or 'none'}) "
            f"in {report.seconds:.1f} s; {report.reused} unchanged since the last run."
        )
        lines.append(f"Passages: {report.passages} ({_counts(report.passages_by_site) or 'none'})")
        if report.repairs:
            repairs = ", ".join(f"{value} {key}" for key, value in report.repairs.most_common())
            lines.append(f"Repairs: {repairs}")
    if report.errors:
        lines.append(f"Could not read {len(report.errors)} file(s):")
        lines.extend(f"  {item.path}: {item.reason}" for item in report.errors)
    if report.notes:
        lines.append("Notes:")
        lines.extend(f"  {item.path}: {item.reason}" for item in report.notes)
    if report.skipped and not quiet:
        lines.append(f"Skipped {len(report.skipped)} file(s):")
        lines.extend(f"  {item.path}: {item.reason}" for item in report.skipped)
    if report.missing:
        lines.append(f"{len(report.missing)} document(s) no longer in the corpus (kept in the database):")
        lines.extend(f"  {path}" for path in report.missing)
    if not quiet:
        lines.append(f"Wrote {report.csv_path} and {report.db_path}")
    return "\n".join(lines)
