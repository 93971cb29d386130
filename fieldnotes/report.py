"""Plain-text summaries of what a run did, for the terminal."""

from __future__ import annotations

import textwrap
from collections import Counter

from fieldnotes.pipeline import CodeReport, IngestReport


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{key} {value}" for key, value in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


def format_ingest_report(report: IngestReport, quiet: bool = False) -> str:
    lines: list[str] = []
    if not quiet:
        lines.append(
            f"Read {report.documents} document{'' if report.documents == 1 else 's'} "
            f"({_counts(report.documents_by_format) or 'none'}) "
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
    if report.partial:
        lines.append(f"Partial run: {report.partial}")
    if report.missing:
        lines.append(f"{len(report.missing)} document(s) no longer in the corpus (kept in the database):")
        lines.extend(f"  {path}" for path in report.missing)
    if not quiet:
        lines.append(f"Wrote {report.csv_path} and {report.db_path}")
    return "\n".join(lines)


def format_code_report(report: CodeReport, quiet: bool = False) -> str:
    assert report.ingest is not None, "a code run always ingests first"
    lines = [format_ingest_report(report.ingest, quiet=quiet)]
    if quiet:
        lines.extend(f"note: {note}" for note in report.notes)
        return "\n".join(line for line in lines if line)
    total = sum(report.suggestions_by_code.values())
    lines.append(
        f"Coded {report.excerpts} excerpts with {report.codebook} in {report.seconds:.1f} s "
        f"({report.embedded} newly embedded with {report.model})."
    )
    lines.append(
        f"Suggestions: {total} at score >= {report.threshold:.2f} ({report.calibration}); "
        f"by site: {_counts(report.suggestions_by_site) or 'none'}"
    )
    if report.suggestions_by_code:
        lines.append("By code: " + _counts(report.suggestions_by_code))
    if report.reviewed_kept or report.withdrawn:
        lines.append(
            f"Reviewed suggestions kept as decided: {report.reviewed_kept}; "
            f"earlier suggestions no longer made (kept as withdrawn): {report.withdrawn}"
        )
    if report.reattached:
        lines.append(f"Decisions moved to their text's new place in edited documents: {report.reattached}")
    if report.orphaned:
        lines.append(
            f"Decisions whose text is gone from the corpus (kept, listed in orphaned_decisions.csv): {report.orphaned}"
        )
    lines.extend(f"note: {note}" for note in report.notes)
    lines.append(f"Wrote {report.csv_path}")
    if report.themes is not None:
        lines.append(format_themes_report(report.themes))
    if report.comparison is not None:
        lines.append(format_compare_report(report.comparison))
    return "\n".join(lines)


def format_themes_report(report) -> str:
    lines = [
        f"Themes: {len(report.themes)} over {report.passages} passages in {report.seconds:.1f} s ({report.method})"
    ]
    for theme in report.themes:
        lines.append(f"  {theme.topic_id:>2}  {theme.size:>4} passages  {theme.label}")
    lines.extend(f"note: {note}" for note in report.notes)
    if report.csv_path:
        lines.append(f"Wrote {report.csv_path}")
    return "\n".join(lines)


def format_compare_report(report) -> str:
    lines = [f"Comparison by site, counting {report.status_used}:"]
    for site, codes in report.distinctive.items():
        lines.append(f"  distinctive in {site}: {', '.join(codes) if codes else 'none'}")
    lines.extend(f"warning: {warning}" for warning in report.warnings)
    lines.append(f"Wrote {report.report_path} and {len(report.files) - 1} tables and figures in {report.out_dir}")
    return "\n".join(lines)


def format_codebook(loaded, full: bool = False, width: int = 100) -> str:
    """A readable table of the codebook: groups, codes, counts; with --full the text too."""
    book = loaded.codebook
    lines = [f"{book.name} ({book.id} {book.version}) - {loaded.path}"]
    if book.description:
        lines.extend(textwrap.wrap(" ".join(book.description.split()), width=width))
    groups = {group.id: group for group in book.groups}
    order = [group.id for group in book.groups] + [None]
    id_width = max(len(code.id) for code in book.codes) + 2
    for group_id in order:
        codes = [code for code in book.codes if code.parent == group_id]
        if not codes:
            continue
        lines.append("")
        lines.append(groups[group_id].name if group_id else "(no group)")
        for code in codes:
            counts = f"{len(code.examples)} ex, {len(code.patterns)} pat"
            head = f"  {code.id:<{id_width}}{code.name}  [{counts}]"
            lines.append(head)
            if full:
                indent = " " * 6
                for label, items in (
                    ("definition", [code.definition]),
                    ("include", code.include),
                    ("exclude", code.exclude),
                    ("examples", code.examples),
                    ("counter-examples", code.counter_examples),
                ):
                    if not items:
                        continue
                    lines.append(f"    {label}:")
                    for item in items:
                        wrapped = textwrap.wrap(" ".join(str(item).split()), width=max(40, width - 8))
                        lines.extend(indent + ("- " if label != "definition" else "") + w for w in wrapped[:1])
                        lines.extend(indent + "  " + w for w in wrapped[1:])
    return "\n".join(lines)


def format_history(excerpt_id: str, rows) -> str:
    lines = [f"Decisions on excerpt {excerpt_id}, oldest first:"]
    for row in rows:
        change = f"{row['previous_status'] or '-'} -> {row['new_status']}"
        memo = f"  memo: {row['memo']}" if row["memo"] else ""
        lines.append(f"  {row['at']}  {row['coder']:<12} {row['action']:<11} {row['code_id']:<26} {change}{memo}")
    return "\n".join(lines)
