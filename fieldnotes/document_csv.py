"""CSV files of rows in document order, written again only where a document's rows changed.

passages.csv and each codebook's excerpts file hold every current row of the corpus, grouped by
document. After one document is edited, writing the whole file again costs time in proportion to
the corpus (a second at 10,000 passages, several at 50,000). So each file's layout is recorded
with the results (`freshness`, stage "file"): where each document's rows sit in it, the file's
size and modification time, and the change clock it was written at (fieldnotes.store.changes).
The next write copies the bytes of every document not stamped since then and makes rows only
for the others. The result is the same file, byte for byte, that writing it whole would give:
each row's text depends on its values alone, and documents keep one order (path, then id).

The file is written whole instead when there is no layout, the file is not the one recorded (a
researcher edited or deleted it), or anything else it shows changed (`digest`: columns, code
names). Either way it is replaced atomically: a crash leaves the old file or the new one.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fieldnotes.files import ByColumn, atomic_path, row_cells
from fieldnotes.freshness import current, inputs_digest, record

if TYPE_CHECKING:
    from fieldnotes.store import Store

FILE_STAGE = "file"
# Part of every file's digest: a change to how rows are written makes every file be written whole.
LAYOUT_VERSION = 1

# Rows of the given documents (None: every document), in file order, each with its document's id
# and path under "document_id" and `path_column`.
RowSource = Callable[[Collection[str] | None], Iterable[ByColumn]]


@dataclass(frozen=True)
class DocumentCsvState:
    """Where each document's rows are in a file written by `write_by_document`."""

    clock: int  # the change clock read before the rows were
    size: int
    mtime_ns: int
    blocks: list[list[Any]]  # [document id, path, offset, bytes, rows] in file order


@dataclass(frozen=True)
class _Block:
    document_id: str
    path: str
    data: bytes | None  # made now; None: copied from the old file
    offset: int  # in the old file, when copied
    size: int
    rows: int


def _csv_bytes(lines: Iterable[Sequence[Any]]) -> tuple[bytes, int]:
    """CSV lines as write_csv writes them (its csv.writer dialect), UTF-8, and how many."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    count = 0
    for cells in lines:
        writer.writerow(cells)
        count += 1
    return buffer.getvalue().encode("utf-8"), count


def _made_blocks(rows: Iterable[ByColumn], columns: Sequence[str], path_column: str) -> list[_Block]:
    blocks = []
    for document_id, group in groupby(rows, key=lambda row: row["document_id"]):
        members = list(group)
        data, count = _csv_bytes(row_cells(row, columns) for row in members)
        blocks.append(_Block(document_id, members[0][path_column], data, 0, len(data), count))
    return blocks


def _recorded_file(path: Path, state: DocumentCsvState) -> bool:
    try:
        stat = path.stat()
    except OSError:
        return False
    return stat.st_size == state.size and stat.st_mtime_ns == state.mtime_ns


class _Stale(Exception):
    """The old file is not what its layout says."""


def _write(path: Path, header: bytes, blocks: Sequence[_Block], copy_from: Path | None) -> DocumentCsvState:
    """Write header and blocks to `path` atomically; the layout as written (clock left 0)."""
    layout: list[list[Any]] = []
    with atomic_path(path) as temporary:
        with temporary.open("xb") as out, copy_from.open("rb") if copy_from else io.BytesIO() as source:
            out.write(header)
            offset = len(header)
            for block in blocks:
                if block.data is None:
                    source.seek(block.offset)
                    data = source.read(block.size)
                    if len(data) != block.size:
                        raise _Stale(f"{copy_from} is shorter than its recorded layout")
                else:
                    data = block.data
                out.write(data)
                layout.append([block.document_id, block.path, offset, block.size, block.rows])
                offset += block.size
        stat = temporary.stat()  # a rename keeps size and modification time
    return DocumentCsvState(0, stat.st_size, stat.st_mtime_ns, layout)


def write_by_document(
    store: Store,
    path: Path,
    columns: Sequence[str],
    rows: RowSource,
    *,
    digest_parts: Sequence[object] = (),
    path_column: str = "document",
) -> int:
    """Write the CSV file at `path` (a header, then `rows` by document), making rows only for the
    documents changed since it was last written when the file on disk is that file. Returns the
    number of rows in the file."""
    subject = path.name
    digest = inputs_digest(LAYOUT_VERSION, list(columns), list(digest_parts))
    clock = store.changes.clock()  # before the rows: a change made while writing is redone next time
    found = current(store, FILE_STAGE, subject, digest, DocumentCsvState)
    old = found[1] if found is not None and _recorded_file(path, found[1]) else None
    header, _ = _csv_bytes([columns])
    state = None
    if old is not None:
        changed = store.changes.documents_changed_since(old.clock)
        if not changed:
            return sum(block[4] for block in old.blocks)
        kept = [_Block(d, p, None, offset, size, n) for d, p, offset, size, n in old.blocks if d not in changed]
        made = _made_blocks(rows(changed), columns, path_column)
        try:
            state = _write(path, header, sorted(kept + made, key=lambda b: (b.path, b.document_id)), path)
        except (_Stale, OSError):
            state = None  # the file changed under us: written whole below
    if state is None:
        state = _write(path, header, _made_blocks(rows(None), columns, path_column), None)
    state = replace(state, clock=clock)
    run_id = store.runs.last_id()
    if run_id is not None:  # without a run to name there is no record: the next write is whole
        record(store, FILE_STAGE, subject, digest, run_id, state)
    return sum(block[4] for block in state.blocks)
