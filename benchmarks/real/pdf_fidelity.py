"""PDF text fidelity on the real documents: what fieldnotes makes of each PDF of
../shared/real-docs, against poppler's pdftotext as an independent reference extractor.

    python benchmarks/real/pdf_fidelity.py [--docs ../shared/real-docs]

For each PDF it prints:
  - words recovered: the share of the reference's words (multiset; NFKC, case-folded letters and
    digits; each CJK character counts as a word) that fieldnotes' cleaned text holds;
  - extra words: fieldnotes' words the reference does not hold (repairs that joined words, or
    text pdftotext misses), as a share of fieldnotes' words;
  - reading order: over the words that occur exactly once in both texts, the share of pairs
    whose order agrees (Kendall's concordance; 100% = the same reading order);
  - tables: the tables the PDF reader found (rows of "cell | cell"), their rows, and how many of
    those rows are rows of the page as `pdftotext -layout` lays it out: every non-empty cell is
    found on the page's layout text within four consecutive lines (a cell of several lines is
    set beside the others' middle), left to right in the row's order.
Words differ where repair changed them on purpose (joined hyphens, dropped running heads), so
100% is not the goal; a low figure points at lost text or a scrambled page.

pdftotext (Debian package poppler-utils) is needed for the benchmark only; without it, or
without the real documents, the script says so and exits 0.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import unicodedata
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
DEFAULT_DOCS = ROOT.parent / "shared" / "real-docs"
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]")
_WORD = re.compile(r"[^\W_]+")


def words_of(text: str) -> list[str]:
    words: list[str] = []
    for token in _WORD.findall(unicodedata.normalize("NFKC", text).casefold()):
        if _CJK.search(token):
            words.extend(ch for ch in token if ch.strip())
        else:
            words.append(token)
    return words


def reference_text(path: Path) -> str:
    done = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True)
    return done.stdout.decode("utf-8", "replace")


def fieldnotes_text(path: Path) -> str:
    from fieldnotes.ingest.readers import read_document
    from fieldnotes.ingest.repair import repair_document
    from fieldnotes.settings import Settings

    settings = Settings()
    source = read_document(path, path.name, max_bytes=200 * 1024 * 1024)
    return repair_document(source, settings.repair, settings.segment).text


def layout_pages(path: Path) -> list[list[str]]:
    """pdftotext -layout's lines, per page (pages are separated by form feeds)."""
    done = subprocess.run(["pdftotext", "-layout", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True)
    return [page.split("\n") for page in done.stdout.decode("utf-8", "replace").split("\f")]


def _squash(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).split())


def row_in_layout(cells: list[str], lines: list[str]) -> bool:
    """Whether the row's cells are on the page's layout lines within four consecutive lines,
    left to right: each cell found at a column right of the one before. A cell is looked for by
    its first two words (a cell may wrap after them)."""
    patterns = [
        re.compile(r"\s+".join(re.escape(word) for word in _squash(cell).split()[:2])) for cell in cells if cell.strip()
    ]
    normalised = [unicodedata.normalize("NFKC", line) for line in lines]
    for top in range(len(lines)):
        window = normalised[top : top + 4]
        column = -1
        for pattern in patterns:
            found = [match.start() for line in window for match in pattern.finditer(line) if match.start() > column]
            if not found:
                break
            column = min(found)
        else:
            return True
    return False


def table_rows(path: Path) -> tuple[int, int, int]:
    """(tables, rows, rows as in the layout reference) of the PDF reader's tables."""
    from fieldnotes.ingest.model import BlockKind
    from fieldnotes.ingest.readers.pdf import read_pdf

    tables = [block for block in read_pdf(path, path.read_bytes()).blocks if block.kind == BlockKind.TABLE]
    pages = layout_pages(path)
    intact = 0
    for table in tables:
        page = pages[(table.page or 1) - 1] if table.page and table.page <= len(pages) else []
        intact += sum(row_in_layout(row.split(" | "), page) for row in table.lines)
    return len(tables), sum(len(table.lines) for table in tables), intact


def _inversions(values: list[int]) -> int:
    """Pairs out of order in `values` (merge sort count)."""
    if len(values) < 2:
        return 0
    middle = len(values) // 2
    left, right = values[:middle], values[middle:]
    count = _inversions(left) + _inversions(right)
    left.sort()
    right.sort()
    j = 0
    for value in left:
        while j < len(right) and right[j] < value:
            j += 1
        count += j
    return count


def order_agreement(reference: list[str], ours: list[str]) -> float | None:
    """Share of concordant pairs among words unique in both texts."""
    ref_counts, our_counts = Counter(reference), Counter(ours)
    ours_at = {word: i for i, word in enumerate(ours) if our_counts[word] == 1}
    sequence = [ours_at[word] for word in reference if ref_counts[word] == 1 and word in ours_at]
    n = len(sequence)
    if n < 2:
        return None
    pairs = n * (n - 1) // 2
    return 1 - _inversions(list(sequence)) / pairs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=Path, default=DEFAULT_DOCS)
    args = parser.parse_args()
    if not args.docs.is_dir():
        print(f"real documents not found at {args.docs}; skipping")
        return 0
    if shutil.which("pdftotext") is None:
        print("pdftotext not found (apt-get install poppler-utils); skipping the PDF fidelity benchmark")
        return 0
    import logging
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.disable(logging.WARNING)
    print(
        f"{'document':52} {'ref words':>9} {'recovered':>9} {'extra':>7} {'order':>7} {'tables':>6} "
        f"{'rows':>5} {'as laid out':>11}"
    )
    for path in sorted(args.docs.glob("*.pdf")):
        reference, ours = words_of(reference_text(path)), words_of(fieldnotes_text(path))
        ref_counts, our_counts = Counter(reference), Counter(ours)
        shared = sum((ref_counts & our_counts).values())
        recovered = shared / len(reference) if reference else 0.0
        extra = 1 - shared / len(ours) if ours else 0.0
        order = order_agreement(reference, ours)
        order_text = f"{order:7.1%}" if order is not None else "    n/a"
        tables, rows, intact = table_rows(path)
        print(
            f"{path.name[:52]:52} {len(reference):9} {recovered:9.1%} {extra:7.1%} {order_text} {tables:6} "
            f"{rows:5} {intact:11}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
