"""PDF files through pdfminer's layout analysis: boxes in reading order, headings by type, and
tables found by their aligned columns kept as rows of cells ("cell | cell | cell")."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

from fieldnotes.errors import DocumentError
from fieldnotes.ingest.model import BlockKind, RawBlock
from fieldnotes.ingest.readers.text import ReadResult

# A table: at least this many rows of two or more cells whose left edges line up in columns.
TABLE_MIN_ROWS = 3
COLUMN_TOLERANCE = 4.0  # points between left edges of one column
# Cells are short: prose set in two columns has long, many-line boxes side by side, never this.
TABLE_MAX_CELL_CHARS = 160
TWO_COLUMN_MAX_MEDIAN_CHARS = 40


def read_pdf(path: Path, data: bytes) -> ReadResult:
    import logging

    logging.getLogger("pdfminer").setLevel(logging.ERROR)
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LAParams, LTTextContainer
    from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect
    from pdfminer.pdfparser import PDFSyntaxError

    if not data.lstrip()[:5].startswith(b"%PDF"):
        raise DocumentError(path, "not a PDF file (no %PDF header)")
    found: list[tuple[RawBlock, float, float]] = []  # block, mean size, bold share
    try:
        pages = extract_pages(io.BytesIO(data), laparams=LAParams())  # the bytes read, not the path again
        for page_number, page in enumerate(pages, start=1):
            boxes = [element for element in page if isinstance(element, LTTextContainer)]
            boxes = find_tables(boxes, page.height)
            ordered, edges = reading_order(boxes, page.width, page.height)
            for element in ordered:
                if isinstance(element, PageTable):
                    found.append((RawBlock(element.rows, BlockKind.TABLE, page=page_number), element.size, 0.0))
                    continue
                for lines, size, bold in _typeset_runs(element):
                    block = RawBlock(lines, page=page_number, at_page_edge=id(element) in edges)
                    found.append((block, size, bold))
    except PDFPasswordIncorrect:
        raise DocumentError(path, "encrypted PDF that needs a password; save an unprotected copy") from None
    except PDFEncryptionError as exc:
        raise DocumentError(path, f"encrypted PDF that cannot be opened ({exc})") from None
    except PDFSyntaxError as exc:
        raise DocumentError(path, f"not a valid PDF, corrupt or truncated ({exc})") from None
    except Exception as exc:  # pdfminer raises many types on damaged files
        raise DocumentError(path, f"cannot be read as a PDF ({type(exc).__name__}: {exc})") from None
    if not found:
        raise DocumentError(path, "no extractable text (a scanned image? run OCR on it first)")
    _mark_pdf_headings(found)
    return ReadResult([block for block, _, _ in found])


def _typeset_runs(box) -> list[tuple[list[str], float, float]]:
    """Split a pdfminer text box where the type changes (a bold or larger heading line
    grouped with the paragraph under it): runs of (lines, mean size, bold share)."""
    from pdfminer.layout import LTChar, LTTextLine

    runs: list[tuple[list[str], float, float]] = []
    previous: tuple[float, bool] | None = None
    for line in box:
        if not isinstance(line, LTTextLine):
            continue
        text = line.get_text().rstrip("\n").rstrip()
        chars = [c for c in line if isinstance(c, LTChar) and c.get_text().strip()]
        if not text.strip() or not chars:
            continue
        size = sum(c.size for c in chars) / len(chars)
        bold = sum("bold" in c.fontname.lower() for c in chars) / len(chars)
        style = (size, bold > 0.5)
        if runs and previous is not None and abs(style[0] - previous[0]) <= 0.5 and style[1] == previous[1]:
            lines, run_size, run_bold = runs[-1]
            n = len(lines)
            runs[-1] = ([*lines, text], (run_size * n + size) / (n + 1), (run_bold * n + bold) / (n + 1))
        else:
            runs.append(([text], size, bold))
        previous = style
    return runs


def reading_order(boxes: list, page_width: float, page_height: float) -> tuple[list, set[int]]:
    """Order a page's text boxes as a person reads them: running headers first, then the
    body top to bottom (within a band between full-width boxes such as a title, the left
    column before the right), then footers. Also returns the ids of the margin boxes."""
    middle = page_width / 2
    header = sorted((b for b in boxes if b.y0 > page_height * 0.94), key=lambda b: (-b.y1, b.x0))
    footer = sorted((b for b in boxes if b.y1 < page_height * 0.06), key=lambda b: (-b.y1, b.x0))
    edges = {id(b) for b in header + footer}
    ordered: list = list(header)
    band: list = []

    def flush() -> None:
        left = [box for box in band if (box.x0 + box.x1) / 2 < middle]
        right = [box for box in band if (box.x0 + box.x1) / 2 >= middle]
        ordered.extend(sorted(left, key=lambda box: -box.y1))
        ordered.extend(sorted(right, key=lambda box: -box.y1))
        band.clear()

    for box in sorted((b for b in boxes if id(b) not in edges), key=lambda b: (-b.y1, b.x0)):
        if box.x0 < middle - 10 and box.x1 > middle + 10:
            flush()
            ordered.append(box)
        else:
            band.append(box)
    flush()
    return ordered + footer, edges


def _mark_pdf_headings(found: list[tuple[RawBlock, float, float]]) -> None:
    """Bold or larger-than-body short blocks are heading candidates; larger type, higher level."""
    weights: dict[float, int] = {}
    for block, size, _ in found:
        key = round(size * 2) / 2
        weights[key] = weights.get(key, 0) + sum(len(line) for line in block.lines)
    body = max(weights, key=lambda k: weights[k])
    candidates = [
        (block, round(size * 2) / 2)
        for block, size, bold in found
        if block.kind != BlockKind.TABLE and len(block.lines) <= 3 and (bold > 0.8 or size > body * 1.15)
    ]
    sizes = sorted({size for _, size in candidates}, reverse=True)
    for block, size in candidates:
        block.looks_like_heading = True
        block.level = sizes.index(size) + 1


@dataclass
class PageTable:
    """A table found on a page: its rows as "cell | cell" lines, where it sits, its type size.
    It takes the place of its cells' boxes in the page's reading order."""

    rows: list[str]
    x0: float
    x1: float
    y0: float
    y1: float
    size: float
    cells: list = field(default_factory=list, repr=False)


def _cell_text(box) -> str:
    return " ".join(box.get_text().split())


def _box_size(box) -> float:
    from pdfminer.layout import LTChar, LTTextLine

    sizes = [c.size for line in box if isinstance(line, LTTextLine) for c in line if isinstance(c, LTChar)]
    return sum(sizes) / len(sizes) if sizes else 0.0


def _rows(boxes: list) -> list[list]:
    """Boxes grouped into rows, top to bottom: boxes whose vertical extents overlap share a row
    (a cell of two lines beside cells of one is still in their row)."""
    rows: list[list] = []
    for box in sorted(boxes, key=lambda b: -b.y1):
        if rows:
            low = min(b.y0 for b in rows[-1])
            if box.y1 > low + 0.3 * min(box.height, min(b.height for b in rows[-1])):
                rows[-1].append(box)
                continue
        rows.append([box])
    return [sorted(row, key=lambda b: b.x0) for row in rows]


def _columns(starts: list[float]) -> list[float]:
    """Left edges clustered within COLUMN_TOLERANCE: the columns' positions."""
    columns: list[list[float]] = []
    for x in sorted(starts):
        if columns and x - columns[-1][-1] <= COLUMN_TOLERANCE:
            columns[-1].append(x)
        else:
            columns.append([x])
    return [sum(group) / len(group) for group in columns]


def _column_of(columns: list[float], box) -> int:
    """The index of the column whose position is nearest the box's left edge."""
    return min(range(len(columns)), key=lambda i: abs(columns[i] - box.x0))


def _is_table(rows: list[list]) -> list[float] | None:
    """The column positions when these consecutive rows read as a table, else None."""
    if len(rows) < TABLE_MIN_ROWS or any(len(row) < 2 for row in rows):
        return None
    texts = [_cell_text(box) for row in rows for box in row]
    if max(len(text) for text in texts) > TABLE_MAX_CELL_CHARS:
        return None
    columns = _columns([box.x0 for row in rows for box in row])
    if len(columns) < 2:
        return None
    in_columns = [{_column_of(columns, box) for box in row} for row in rows]
    # Every cell starts at a column that at least half of the rows use.
    if any(sum(column in used for used in in_columns) * 2 < len(rows) for column in range(len(columns))):
        return None
    if any(len(used) < len(row) for used, row in zip(in_columns, rows, strict=True)):
        return None  # two cells of one row in one column: not a grid
    if len(columns) == 2:
        median = sorted(len(text) for text in texts)[len(texts) // 2]
        if median > TWO_COLUMN_MAX_MEDIAN_CHARS:
            return None
    return columns


def find_tables(boxes: list, page_height: float) -> list:
    """The page's boxes with each table's cells replaced by one PageTable. A table is a run of
    TABLE_MIN_ROWS or more rows of two or more short cells whose left edges line up in columns
    (a header row and the rows under it); single-cell rows end it. Margins are left alone."""
    body = [b for b in boxes if page_height * 0.06 <= b.y1 and b.y0 <= page_height * 0.94 and _cell_text(b)]
    rows = _rows(body)
    tables: list[PageTable] = []
    start = 0
    while start < len(rows):
        end = start
        while end < len(rows) and len(rows[end]) >= 2:
            end += 1
        # The longest run from `start` that reads as a table.
        columns = None
        while end - start >= TABLE_MIN_ROWS:
            columns = _is_table(rows[start:end])
            if columns is not None:
                break
            end -= 1
        if columns is None:
            start += 1
            continue
        lines = []
        for row in rows[start:end]:
            cells = [""] * len(columns)
            for box in row:
                cells[_column_of(columns, box)] = _cell_text(box)
            while cells and not cells[-1]:
                cells.pop()
            lines.append(" | ".join(cells))
        cells_in = [box for row in rows[start:end] for box in row]
        sizes = [size for size in (_box_size(box) for box in cells_in) if size]
        tables.append(
            PageTable(
                lines,
                min(b.x0 for b in cells_in),
                max(b.x1 for b in cells_in),
                min(b.y0 for b in cells_in),
                max(b.y1 for b in cells_in),
                sum(sizes) / len(sizes) if sizes else 0.0,
                cells_in,
            )
        )
        start = end
    if not tables:
        return boxes
    taken = {id(box) for table in tables for box in table.cells}
    return [box for box in boxes if id(box) not in taken] + tables
