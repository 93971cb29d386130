"""Helpers for labelling real documents as data that points into them (never quoted text).

    python benchmarks/real/label_tool.py sentences FILE [--settings S.toml]
        prints every excerpt of FILE as fieldnotes cleans and segments it, numbered, with the
        anchor columns (letter_start, letter_count, digest, head) to copy into a label file;
    python benchmarks/real/label_tool.py check LABELS.csv [--settings S.toml]
        locates every label of LABELS.csv (columns file, letter_start, letter_count, digest, head,
        ...) in its document and reports the ones that cannot be found.

FILE names are relative to ../shared/real-docs (or absolute). See fieldnotes/anchors.py.
"""

from __future__ import annotations

import argparse
import csv
import sys
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REAL_DOCS = ROOT.parent / "shared" / "real-docs"
sys.path.insert(0, str(ROOT))

from fieldnotes.anchors import Anchor, letter_stream, locate, make_anchor  # noqa: E402


@lru_cache(maxsize=64)
def cleaned(file: str, settings_path: str | None = None):
    """(cleaned text, passages, excerpts) of one real document, as fieldnotes ingests it today."""
    from fieldnotes.coding.excerpts import build_excerpts
    from fieldnotes.ingest.readers import read_document
    from fieldnotes.ingest.run import process_document
    from fieldnotes.ingest.segment import default_splitters
    from fieldnotes.ingest.sites import SiteMatcher
    from fieldnotes.settings import load_settings

    path = Path(file) if Path(file).is_absolute() else REAL_DOCS / file
    settings = load_settings(Path(settings_path) if settings_path else None)
    source = read_document(path, path.name, max_bytes=200 * 1024 * 1024)
    document, passages, _ = process_document(source, settings, SiteMatcher(settings.site), default_splitters())
    rows = [
        {"passage_id": p.passage_id, "document_id": p.document_id, "document": path.name, "site": p.site}
        for p in passages
    ]
    sentences = {p.passage_id: list(p.sentences) for p in passages}
    excerpts = build_excerpts(rows, sentences, {p.document_id: document.text for p in passages}, 40)
    return document.text, passages, excerpts


def cmd_sentences(args: argparse.Namespace) -> None:
    text, passages, excerpts = cleaned(args.file, args.settings)
    section_of = {p.passage_id: p.section for p in passages}
    last_section = None
    for number, excerpt in enumerate(excerpts, 1):
        section = section_of[excerpt.passage_id]
        if section != last_section:
            print(f"\n## section: {section!r}")
            last_section = section
        try:
            anchor = make_anchor(text, excerpt.start, excerpt.end)
        except ValueError:
            continue
        a = anchor.as_row()
        print(f"[{number}] {a['letter_start']},{a['letter_count']},{a['digest']},{a['head']}  site={excerpt.site}")
        print("    " + " ".join(excerpt.text.split()))


def cmd_check(args: argparse.Namespace) -> None:
    with open(args.labels, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    missing = 0
    streams: dict[str, tuple[str, list[int]]] = {}
    for row in rows:
        text = cleaned(row["file"], args.settings)[0]
        stream = streams.setdefault(row["file"], letter_stream(text))
        anchor = Anchor(int(row["letter_start"]), int(row["letter_count"]), row["digest"], row["head"])
        span = locate(text, anchor, stream)
        if span is None:
            missing += 1
            print(f"NOT FOUND: {row['file']} {row['letter_start']} {row['digest']}")
        elif args.show:
            print(f"{row['file']} {span}: {row.get('codes', '')}\n    {' '.join(text[span[0] : span[1]].split())}")
    print(f"{len(rows) - missing} of {len(rows)} labels located")
    sys.exit(1 if missing else 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sentences = sub.add_parser("sentences")
    sentences.add_argument("file")
    sentences.add_argument("--settings")
    sentences.set_defaults(run=cmd_sentences)
    check = sub.add_parser("check")
    check.add_argument("labels")
    check.add_argument("--settings")
    check.add_argument("--show", action="store_true", help="print each located span")
    check.set_defaults(run=cmd_check)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
