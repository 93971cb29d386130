"""Reading a reviewed spreadsheet (the xlsx export) back into the database.

Every row is checked before anything is written: known excerpt and code, text unchanged,
a valid decision. If any row is wrong, nothing is applied. A decision that contradicts
one already in the database (someone accepted what the sheet rejects) is a conflict:
reported, never overwritten. The rest is applied in one transaction.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from fieldnotes.codebook import Codebook
from fieldnotes.exchange.archive import ExchangeError, SafeArchive
from fieldnotes.exchange.tables import SHEET_NAME, sheet_text
from fieldnotes.store import Store

_VALUES = {
    "accept": "accepted",
    "accepted": "accepted",
    "reject": "rejected",
    "rejected": "rejected",
    "keep": None,
    "": None,
}
REQUIRED_COLUMNS = ("excerpt_id", "code", "text", "decision")
MAX_ERRORS_SHOWN = 20


@dataclass(frozen=True)
class Conflict:
    row: int
    excerpt_id: str
    code: str
    wanted: str
    current: str
    decided_by: str | None
    decided_at: str | None
    reason: str


@dataclass
class DecisionImport:
    path: Path
    rows: int = 0
    applied: Counter[str] = field(default_factory=Counter)
    unchanged: int = 0
    kept: int = 0
    conflicts: list[Conflict] = field(default_factory=list)


def _same_text(sheet: object, stored: str) -> bool:
    if not isinstance(sheet, str):
        return False
    # Spreadsheet programs may rewrite line breaks; words and their order must not change.
    return sheet.split() == str(sheet_text(stored)).split()


def read_sheet(path: Path) -> list[tuple[int, dict[str, object]]]:
    """(row number, values by header) for every non-empty row of the excerpts sheet."""
    with SafeArchive(path, "spreadsheet (.xlsx)"):
        pass  # size, member and path checks before openpyxl unpacks anything
    from openpyxl import load_workbook

    try:
        # openpyxl parses with defusedxml when it is installed (a dependency of fieldnotes).
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise ExchangeError(f"{path}: not a readable spreadsheet ({type(exc).__name__}: {exc})") from None
    try:
        return _records(path, workbook)
    except ExchangeError:
        raise
    except Exception as exc:  # read-only mode parses while iterating: damage shows up here too
        raise ExchangeError(f"{path}: not a readable spreadsheet ({type(exc).__name__}: {exc})") from None
    finally:
        workbook.close()


def _records(path: Path, workbook) -> list[tuple[int, dict[str, object]]]:
    sheet = workbook[SHEET_NAME] if SHEET_NAME in workbook.sheetnames else workbook.worksheets[0]
    rows = sheet.iter_rows(values_only=True)
    header = [str(value).strip().lower() if value is not None else "" for value in next(rows, ())]
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise ExchangeError(
            f"{path}: sheet '{sheet.title}' has no column(s) {', '.join(missing)}; "
            "import a spreadsheet written by `fieldnotes export --format xlsx`"
        )
    found = []
    for number, values in enumerate(rows, start=2):
        record = {name: value for name, value in zip(header, values, strict=False) if name}
        if any(value not in (None, "") for value in record.values()):
            found.append((number, record))
    return found


def import_decisions(path: Path, store: Store, book: Codebook, coder: str) -> DecisionImport:
    """Apply the decisions of a reviewed spreadsheet; see the module docstring for the rules."""
    path = Path(path)
    result = DecisionImport(path)
    records = read_sheet(path)
    result.rows = len(records)
    states = store.reads.suggestion_states(book.id)
    planned = _checked_plan(path, records, states, f"in {store.path} (codebook {book.id})", result)
    store.decisions.record_many(_batch(planned, states, coder, result), book.id)
    return result


_Plan = dict[tuple[str, str], tuple[int, str, str | None]]  # (excerpt, code) -> row number, status, memo
_States = dict[tuple[str, str], sqlite3.Row]  # (excerpt, code) -> the suggestion's state


def _checked_plan(
    path: Path, records: list[tuple[int, dict[str, object]]], states: _States, where: str, result: DecisionImport
) -> _Plan:
    """The decision of every row (counting kept ones in `result`), once every row is checked;
    ExchangeError naming the rows to fix when any is wrong."""
    errors: list[str] = []
    planned: _Plan = {}
    for number, record in records:
        excerpt_id = str(record.get("excerpt_id") or "").strip()
        code = str(record.get("code") or "").strip()
        raw = record.get("decision")
        decision = str(raw).strip().lower() if raw is not None else ""
        if decision not in _VALUES:
            errors.append(f"row {number}: decision '{raw}' is not accept, reject or keep")
            continue
        status = _VALUES[decision]
        state = states.get((excerpt_id, code))
        if state is None:
            errors.append(
                f"row {number}: no suggestion of code '{code}' for excerpt '{excerpt_id}' {where}; "
                "was the sheet exported from another results folder?"
            )
            continue
        if not _same_text(record.get("text"), state["text"]):
            errors.append(f"row {number}: the text of excerpt '{excerpt_id}' was changed in the spreadsheet")
            continue
        if status is None:
            result.kept += 1
            continue
        notes = record.get("notes")
        memo = " ".join(str(notes).split()) if notes not in (None, "") else None
        key = (excerpt_id, code)
        if key in planned and planned[key][1] != status:
            first = planned[key][0]
            errors.append(f"row {number}: excerpt '{excerpt_id}' code '{code}' is decided differently in row {first}")
            continue
        planned[key] = (number, status, memo)
    if errors:
        shown = errors[:MAX_ERRORS_SHOWN]
        more = f"\n  ... and {len(errors) - len(shown)} more" if len(errors) > len(shown) else ""
        raise ExchangeError(
            f"{path}: nothing imported; {len(errors)} row(s) need fixing:\n  " + "\n  ".join(shown) + more
        )
    return planned


def _batch(planned: _Plan, states: _States, coder: str, result: DecisionImport) -> list[tuple]:
    """The decisions to record; unchanged ones and conflicts are counted in `result` instead."""
    batch = []
    for (excerpt_id, code), (number, status, memo) in planned.items():
        state = states[(excerpt_id, code)]
        current = state["status"]
        if current == status:
            result.unchanged += 1
            continue
        reason = ""
        if current in ("accepted", "rejected"):
            reason = f"already {current} in the database"
        elif not state["active"]:
            reason = "the excerpt is no longer in the corpus"
        if reason:
            result.conflicts.append(
                Conflict(number, excerpt_id, code, status, current, state["status_by"], state["status_at"], reason)
            )
            continue
        batch.append((excerpt_id, code, status, coder, memo, "sheet"))
        result.applied[status] += 1
    return batch
