"""PDF files through pdfminer's layout analysis: boxes in reading order, headings by type."""

from __future__ import annotations

import io
from pathlib import Path

from fieldnotes.errors import DocumentError
from fieldnotes.ingest.model import RawBlock
from fieldnotes.ingest.readers.text import ReadResult


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
            ordered, edges = reading_order(boxes, page.width, page.height)
            for element in ordered:
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
        if len(block.lines) <= 3 and (bold > 0.8 or size > body * 1.15)
    ]
    sizes = sorted({size for _, size in candidates}, reverse=True)
    for block, size in candidates:
        block.looks_like_heading = True
        block.level = sizes.index(size) + 1
