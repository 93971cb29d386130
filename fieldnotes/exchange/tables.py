"""Tabular exports: CSV, a review spreadsheet (xlsx) and Markdown ready to quote."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from fieldnotes import __version__
from fieldnotes.exchange.data import ExportData, ExportFormat, ExportRequest
from fieldnotes.files import atomic_path, atomic_text, write_csv
from fieldnotes.records import EXCERPT_COLUMNS

# The same columns as OUT/excerpts.csv, so both open the same way.
CSV_COLUMNS = EXCERPT_COLUMNS

# The review spreadsheet: what a reviewer reads first, the two columns they fill, then the rest.
# import-decisions finds columns by these header names, so their order may change.
SHEET_NAME = "Excerpts"
ABOUT_SHEET = "About"
SHEET_COLUMNS: tuple[tuple[str, float], ...] = (
    ("excerpt_id", 18),
    ("code", 24),
    ("code_name", 26),
    ("text", 80),
    ("decision", 11),
    ("notes", 36),
    ("status", 11),
    ("score", 7),
    ("coder", 12),
    ("decided_at", 20),
    ("memo", 30),
    ("document", 34),
    ("site", 10),
    ("start", 8),
    ("end", 8),
    ("suggested_by", 16),
    ("rationale", 60),
)
DECISIONS = ("accept", "reject", "keep")
HOW_TO_IMPORT = (
    "Choose accept, reject or keep in the decision column; notes become the memo. "
    "Then run: fieldnotes import-decisions THIS_FILE.xlsx --coder YOUR_NAME"
)


def write_csv_export(data: ExportData, path: Path, raw: bool = False) -> int:
    rows = (
        {
            **row.__dict__,
            "score": "" if row.score is None else round(row.score, 4),
            "coder": row.coder or "",
            "decided_at": row.decided_at or "",
            "memo": row.memo or "",
        }
        for row in data.rows
    )
    return write_csv(path, CSV_COLUMNS, rows, raw=raw)


# Characters Excel refuses in a cell (XML 1.0 control characters).
_ILLEGAL_CELL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def sheet_text(value: object) -> object:
    """A value as the spreadsheet holds it (control characters Excel refuses replaced)."""
    return _ILLEGAL_CELL.sub("\ufffd", value) if isinstance(value, str) else value


def _append(sheet, values: list[object]) -> None:
    sheet.append([sheet_text(value) for value in values])
    for cell in sheet[sheet.max_row]:
        # Text that starts with '=' stays text: a spreadsheet must never run an excerpt as a formula.
        if cell.data_type == "f":
            cell.data_type = "s"


def write_xlsx(data: ExportData, path: Path) -> int:
    """The review spreadsheet: a decision dropdown, a notes column, frozen header, readable widths."""
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = SHEET_NAME
    count = _fill_excerpt_sheet(sheet, data)
    _fill_about_sheet(workbook.create_sheet(ABOUT_SHEET), data, count)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        workbook.save(tmp)
    return count


def _fill_excerpt_sheet(sheet, data: ExportData) -> int:
    """One row per excerpt under a bold header; the decision and notes columns highlighted, the
    decision column a dropdown. Returns the number of excerpts."""
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    header = [name for name, _ in SHEET_COLUMNS]
    sheet.append(header)
    bold, fill = Font(bold=True), PatternFill("solid", fgColor="FFF2CC")
    for index, (name, width) in enumerate(SHEET_COLUMNS, start=1):
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = width
        cell = sheet.cell(row=1, column=index)
        cell.font = bold
        if name in ("decision", "notes"):
            cell.fill = fill
    for row in data.rows:
        values = {
            **row.__dict__,
            "decision": None,
            "notes": None,
            "score": None if row.score is None else round(row.score, 4),
        }
        _append(sheet, [values[name] for name in header])
    count = len(data.rows)
    last = max(count + 1, 2)
    wrap = Alignment(wrap_text=True, vertical="top")
    for name in ("text", "notes", "memo", "rationale"):
        letter = get_column_letter(header.index(name) + 1)
        for (cell,) in sheet[f"{letter}2:{letter}{last}"]:
            cell.alignment = wrap
    decision = get_column_letter(header.index("decision") + 1)
    sheet.add_data_validation(_decision_dropdown(f"{decision}2:{decision}{last}"))
    for name in ("decision", "notes"):
        letter = get_column_letter(header.index(name) + 1)
        for (cell,) in sheet[f"{letter}2:{letter}{last}"]:
            cell.fill = fill
    sheet.freeze_panes = "B2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(header))}{last}"
    return count


def _decision_dropdown(cells: str):  # -> openpyxl DataValidation
    """The choices of the decision column, with a prompt and an error that name them."""
    from openpyxl.worksheet.datavalidation import DataValidation

    validation = DataValidation(
        type="list",
        formula1='"' + ",".join(DECISIONS) + '"',
        allow_blank=True,
        showErrorMessage=True,
        errorTitle="decision",
        error="Choose accept, reject or keep (or leave it empty to keep).",
        promptTitle="decision",
        prompt="accept, reject, or keep / empty: leave as it is",
        showInputMessage=True,
    )
    validation.add(cells)
    return validation


def _fill_about_sheet(about, data: ExportData, count: int) -> None:
    """What the file is, how to import it back, and what it was exported from."""
    book = data.codebook
    for key, value in (
        ("what", "Coded excerpts exported by fieldnotes for review"),
        ("how", HOW_TO_IMPORT),
        ("codebook", book.id),
        ("codebook_version", book.version),
        ("status", data.status),
        ("excerpts", count),
        ("database", str(data.database) if data.database else ""),
        ("fieldnotes", __version__),
    ):
        _append(about, [key, value])
    about.column_dimensions["A"].width = 18
    about.column_dimensions["B"].width = 100


# Characters that, rendered, could open raw HTML (<), a link or a remote image (![...](...)),
# emphasis, code, a heading, a table or a strike-through; backslash-escaped, they show as written.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>!#|~])")


def _escape(text: str) -> str:
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def _inline(text: object) -> str:
    """A name (codebook, code, group, site, document) on one line, shown as written when rendered."""
    return _escape(" ".join(str(text).split()))


def _quote(text: str) -> str:
    return "\n".join("> " + _escape(line) for line in text.splitlines() or [""])


def group_path(data: ExportData, group_id: str | None) -> list[str]:
    groups = {group.id: group for group in data.codebook.groups}
    names: list[str] = []
    while group_id is not None and group_id in groups:
        names.append(groups[group_id].name)
        group_id = groups[group_id].parent
    return names[::-1]


def write_markdown(data: ExportData, path: Path) -> int:
    """Excerpts grouped by code (in codebook order) and then by site, each with its citation."""
    book = data.codebook
    by_code: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for row in data.rows:
        if row.status == "rejected":
            continue
        by_code[row.code][row.site].append(row)
    site_order = [*data.site_labels, "general"]
    lines = [
        f"# Coded excerpts: {_inline(book.name)}",
        "",
        f"Codebook `{book.id}` {_inline(book.version)}; status: {data.status}; "
        f"{sum(len(rows) for sites in by_code.values() for rows in sites.values())} excerpts "
        f"in {len(by_code)} codes. Offsets are characters of the cleaned text of each document.",
    ]
    count = 0
    empty = []
    for code in book.codes:
        sites = by_code.get(code.id)
        if not sites:
            empty.append(_inline(code.name))
            continue
        lines += ["", f"## {_inline(code.name)}", ""]
        path_names = group_path(data, code.parent)
        groups = " / ".join(_inline(name) for name in path_names)
        lines.append(f"*{groups}* · `{code.id}`" if path_names else f"`{code.id}`")
        for site in sorted(sites, key=lambda s: (site_order.index(s) if s in site_order else len(site_order), s)):
            rows = sites[site]
            lines += ["", f"### {_inline(data.site_label(site))} ({len(rows)})"]
            for row in rows:
                who = row.status if row.status != "accepted" else f"accepted by {row.coder or 'unknown'}"
                if row.status == "suggested" and row.score is not None:
                    who = f"suggested, score {row.score:.2f}"
                cite = f"— *{_inline(row.document)}*, characters {row.start}–{row.end} · {_inline(who)}"
                lines += ["", _quote(row.text), ">", "> " + cite]
                if row.memo:
                    lines.append(">\n" + _quote(f"Memo: {' '.join(row.memo.split())}"))
                count += 1
    if empty:
        lines += ["", "## Codes without excerpts", "", ", ".join(empty)]
    with atomic_text(path) as handle:
        handle.write("\n".join(lines) + "\n")
    return count


def _rows(request: ExportRequest) -> ExportData:
    assert request.data is not None, "a table export needs coded excerpts"
    return request.data


def _write_csv_request(request: ExportRequest) -> int:
    write_csv_export(_rows(request), request.path, request.raw)
    return len(_rows(request).rows)


def _write_xlsx_request(request: ExportRequest) -> int:
    write_xlsx(_rows(request), request.path)
    return len(_rows(request).rows)


export_csv = ExportFormat(_write_csv_request)
export_xlsx = ExportFormat(_write_xlsx_request)
export_markdown = ExportFormat(lambda request: write_markdown(_rows(request), request.path), codings_only=True)
