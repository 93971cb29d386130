"""Helpers for labelling real documents as data that points into them (never quoted text).

    python benchmarks/real/label_tool.py sentences FILE [--settings S.toml]
        prints every excerpt of FILE as fieldnotes cleans and segments it, numbered, with the
        anchor columns (letter_start, letter_count, digest, head) to copy into a label file;
    python benchmarks/real/label_tool.py check LABELS.csv [--settings S.toml]
        locates every label of LABELS.csv (columns file, letter_start, letter_count, digest, head,
        ...) in its document and reports the ones that cannot be found.

    python benchmarks/real/label_tool.py reanchor LABELS.csv --before REV
        after an ingestion change, moves each label that no longer locates to today's excerpt
        holding the most of the letters its span had at git revision REV (codes unchanged).

    python benchmarks/real/label_tool.py refresh LABELS.csv
        rewrites the position of labels found elsewhere than they say (text before them changed).

FILE names are relative to ../shared/real-docs (or absolute). See fieldnotes/anchors.py.
"""

from __future__ import annotations

import argparse
import bisect
import csv
import difflib
import os
import sys
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REAL_DOCS = Path(os.environ.get("FIELDNOTES_REAL_DOCS", ROOT.parent / "shared" / "real-docs"))
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


@lru_cache(maxsize=64)
def _stream(text: str) -> tuple[str, list[int]]:
    return letter_stream(text)


def located(row: dict[str, str], settings: str | None) -> tuple[str, tuple[int, int] | None]:
    """The cleaned text of a label's document and where the label is in it (None: not found)."""
    text = cleaned(row["file"], settings_for(row, settings))[0]
    anchor = Anchor(int(row["letter_start"]), int(row["letter_count"]), row["digest"], row["head"])
    return text, locate(text, anchor, _stream(text))


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
    for row in rows:
        text, span = located(row, args.settings)
        if span is None:
            missing += 1
            print(f"NOT FOUND: {row['file']} {row['letter_start']} {row['digest']}")
        elif args.show:
            print(f"{row['file']} {span}: {row.get('codes', '')}\n    {' '.join(text[span[0] : span[1]].split())}")
    print(f"{len(rows) - missing} of {len(rows)} labels located")
    sys.exit(1 if missing else 0)


def cmd_spans(args: argparse.Namespace) -> None:
    """Print, as JSON, the letters of every label's span in the text of this checkout (used by
    reanchor on an older revision)."""
    import json

    with open(args.labels, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    out = {}
    for row in rows:
        text, span = located(row, args.settings)
        if span is not None:
            out[f"{row['file']}|{row['letter_start']}|{row['digest']}"] = letter_stream(text[span[0] : span[1]])[0]
    print(json.dumps(out))


def settings_for(row: dict[str, str], given: str | None) -> str | None:
    """The settings file of a sites label's document (sites/<stem>.toml), else the one given."""
    if given:
        return given
    path = Path(__file__).resolve().parent / "sites" / (Path(row["file"]).stem + ".toml")
    return str(path) if "site" in row and path.exists() else None


def cmd_reanchor(args: argparse.Namespace) -> None:
    """Re-anchor the labels that no longer locate after an ingestion change: each takes the
    excerpt of today's text whose letters are the longest run inside the letters its span had
    at revision --before (the same sentence without the letters the change dropped)."""
    import json
    import subprocess
    import tempfile

    with open(args.labels, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        fields = list(reader.fieldnames or [])
        rows = list(reader)
    lost = []
    for row in rows:
        if located(row, args.settings)[1] is None:
            lost.append(row)
    if not lost:
        print("every label locates; nothing to re-anchor")
        return
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", tmp, args.before], check=True)
        try:
            labels = Path(tmp) / "lost.csv"
            with open(labels, "w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, fieldnames=fields)
                writer.writeheader()
                writer.writerows(lost)
            # This tool, run against the old revision's fieldnotes (it imports from its own tree).
            tool = Path(tmp) / "benchmarks" / "real" / "label_tool.py"
            tool.write_text(Path(__file__).read_text(encoding="utf-8"), encoding="utf-8")
            done = subprocess.run(
                [sys.executable, str(tool), "spans", str(labels)],
                check=True,
                capture_output=True,
                text=True,
                env={**os.environ, "FIELDNOTES_REAL_DOCS": str(REAL_DOCS)},
            )
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", tmp], check=True)
    old = json.loads(done.stdout.strip().splitlines()[-1])
    changed = 0
    for row in lost:
        before = old.get(f"{row['file']}|{row['letter_start']}|{row['digest']}")
        if not before:
            print(f"NOT LOCATED at {args.before} either: {row['file']} {row['letter_start']}")
            continue
        text, _, excerpts = cleaned(row["file"], settings_for(row, args.settings))
        offsets = _stream(text)[1]
        best = None
        for excerpt in excerpts:
            letters = letter_stream(text[excerpt.start : excerpt.end])[0]
            at = bisect.bisect_left(offsets, excerpt.start)
            if not letters or abs(at - int(row["letter_start"])) > 3000:
                continue  # the same words elsewhere in the document are another excerpt
            matcher = difflib.SequenceMatcher(None, before, letters, autojunk=False)
            shared = sum(block.size for block in matcher.get_matching_blocks())
            score = shared / max(len(before), len(letters))
            # Equal overlap (a repeated attribution line): the nearer excerpt is the one.
            key = (round(score, 2), -abs(at - int(row["letter_start"])))
            if best is None or key > best[2]:
                best = (score, excerpt, key)
        if best is None or best[0] < 0.5:
            print(f"NO EXCERPT shares half its letters with the old span: {row['file']} {row['letter_start']}")
            continue
        anchor = make_anchor(text, best[1].start, best[1].end).as_row()
        print(f"{row['file']} {row['letter_start']} -> {anchor['letter_start']} (overlap {best[0]:.2f})")
        row.update({key: str(value) for key, value in anchor.items()})
        changed += 1
    newline = "\r\n" if b"\r\n" in Path(args.labels).read_bytes() else "\n"  # keep the file's own
    with open(args.labels, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, lineterminator=newline)
        writer.writeheader()
        writer.writerows(rows)
    print(f"{changed} of {len(lost)} lost labels re-anchored")


def cmd_refresh(args: argparse.Namespace) -> None:
    """Rewrite the position of every label that is found at another place than it says (text
    before it changed: a dropped running head moves everything after it); digests and codes stay."""
    with open(args.labels, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        fields = list(reader.fieldnames or [])
        rows = list(reader)
    moved = missing = 0
    for row in rows:
        text, span = located(row, args.settings)
        if span is None:
            missing += 1
            continue
        fresh = make_anchor(text, *span).as_row()
        if str(fresh["letter_start"]) != row["letter_start"] and fresh["digest"] == row["digest"]:
            row["letter_start"] = str(fresh["letter_start"])
            moved += 1
    newline = "\r\n" if b"\r\n" in Path(args.labels).read_bytes() else "\n"
    with open(args.labels, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, lineterminator=newline)
        writer.writeheader()
        writer.writerows(rows)
    print(f"{moved} labels moved to where they are found; {missing} not found (use reanchor)")


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
    spans = sub.add_parser("spans")
    spans.add_argument("labels")
    spans.add_argument("--settings")
    spans.set_defaults(run=cmd_spans)
    reanchor = sub.add_parser("reanchor")
    reanchor.add_argument("labels")
    reanchor.add_argument("--before", required=True, help="git revision whose cleaned text the labels point into")
    reanchor.add_argument("--settings")
    reanchor.set_defaults(run=cmd_reanchor)
    refresh = sub.add_parser("refresh")
    refresh.add_argument("labels")
    refresh.add_argument("--settings")
    refresh.set_defaults(run=cmd_refresh)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
