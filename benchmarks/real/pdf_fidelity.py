"""PDF text fidelity on the real documents: what fieldnotes makes of each PDF of
../shared/real-docs, against poppler's pdftotext as an independent reference extractor.

    python benchmarks/real/pdf_fidelity.py [--docs ../shared/real-docs]

For each PDF it prints:
  - words recovered: the share of the reference's words (multiset; NFKC, case-folded letters and
    digits; each CJK character counts as a word) that fieldnotes' cleaned text holds;
  - extra words: fieldnotes' words the reference does not hold (repairs that joined words, or
    text pdftotext misses), as a share of fieldnotes' words;
  - reading order: over the words that occur exactly once in both texts, the share of pairs
    whose order agrees (Kendall's concordance; 100% = the same reading order).
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
    print(f"{'document':52} {'ref words':>9} {'recovered':>9} {'extra':>7} {'order':>7}")
    for path in sorted(args.docs.glob("*.pdf")):
        reference, ours = words_of(reference_text(path)), words_of(fieldnotes_text(path))
        ref_counts, our_counts = Counter(reference), Counter(ours)
        shared = sum((ref_counts & our_counts).values())
        recovered = shared / len(reference) if reference else 0.0
        extra = 1 - shared / len(ours) if ours else 0.0
        order = order_agreement(reference, ours)
        order_text = f"{order:7.1%}" if order is not None else "    n/a"
        print(f"{path.name[:52]:52} {len(reference):9} {recovered:9.1%} {extra:7.1%} {order_text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
