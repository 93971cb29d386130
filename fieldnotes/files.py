"""Writing result files so that a crash never leaves half a file behind."""

from __future__ import annotations

import csv
import os
import secrets
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TextIO


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside `path` to write to; moved into place only when the block completes."""
    path = Path(path)
    # A name of its own: two runs writing one file each replace it whole.
    tmp = path.with_name(f"{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_text(path: Path) -> Iterator[TextIO]:
    """Write text to a temporary file beside `path` and move it into place only when complete."""
    with atomic_path(path) as tmp, tmp.open("x", encoding="utf-8", newline="") as handle:
        # "x": the temporary file is created here, never shared.
        yield handle


class ByColumn(Protocol):
    """A row whose values are read by column name: a dict, or a database row."""

    def __getitem__(self, column: str, /) -> Any: ...


# A spreadsheet opening a CSV runs a cell that starts with one of these as a formula
# (=HYPERLINK(...) sends data away, =WEBSERVICE(...) fetches); tab and CR hide one.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """Text a spreadsheet would take for a formula, kept as text with a leading apostrophe (the
    convention spreadsheets themselves use); numbers and other text as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def row_cells(row: ByColumn | Mapping[str, Any], columns: Sequence[str], raw: bool = False) -> list[Any]:
    """A row's cells in `columns` order, neutralised for spreadsheets (safe_cell) unless `raw`."""
    values = [row[column] for column in columns]
    return values if raw else [safe_cell(value) for value in values]


def write_csv(
    path: Path,
    columns: Sequence[str],
    rows: Iterable[ByColumn] | Iterable[Mapping[str, Any]],
    raw: bool = False,
) -> int:
    """A CSV with a header, atomically; returns the number of rows. Cells that a spreadsheet would
    run as formulas are neutralised unless `raw`."""
    count = 0
    with atomic_text(path) as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow(row_cells(row, columns, raw))
            count += 1
    return count
