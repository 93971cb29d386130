"""Measure fieldnotes' ingestion on real documents by other authors, against labels that point
into them (see README.md in this folder; no text of the documents is stored in the project).

    python benchmarks/real/ingest_eval.py [--docs ../shared/real-docs] [--split dev|test|all] [--detail]

Prints three tables:
  (a) sites: passage site accuracy per multi-place document and overall, and labelled sections
      whose passages were all given one wrong site ("sections assigned whole to a wrong place");
  (b) damage: damaged tokens repaired (%), correct tokens wrongly changed (%), by kind, and the
      letter-spaced runs of 4+ single letters left in every real document's cleaned text;
  (c) web pages: boilerplate blocks dropped (%) and body text kept (% of letters).

Skips with a message (exit 0) when the real documents are absent.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DEFAULT_DOCS = ROOT.parent / "shared" / "real-docs"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

SITES_LABELS = HERE / "sites_labels.csv"
DAMAGE_LABELS = HERE / "damage_labels.csv"
WEB_LABELS = HERE / "web_body_labels.csv"
SITES_DIR = HERE / "sites"
DOC_SUFFIXES = (".md", ".pdf", ".html", ".txt", ".docx")
HYPHENS = frozenset("-\u2010\u2011\u2012\u2212")
LETTER_RUN = re.compile(r"(?<![\w'])(?:[A-Za-z] {1,3}){3,}[A-Za-z](?![\w'])")
# Fixed before any tuning: SPLITS_INGEST.md. Tune on dev, score test once per shipped change.
SPLITS = {
    "sites": {"kane2016": "dev", "nulib_ch10": "dev", "nulib_ch4": "test", "participedia_636": "test"},
    "damage": {"kane2016": "dev", "phcfm2024": "dev", "mahmoodi2023": "test", "nulib_city": "test"},
    "web": {
        "participedia_1190": "dev",
        "participedia_768": "dev",
        "participedia_636": "dev",
        "participedia_85": "test",
        "participedia_464": "test",
    },
}
KINDS = {
    "f": "page furniture",
    "g": "glyph for a dash",
    "h": "line-end hyphen",
    "s": "split word",
    "l": "letter-spaced",
    "r": "run together",
}


# Splits scored in this run (--split); dev unless the report asks for test too.
SHOWN: list[str] = ["dev"]


def shown(table: str, file: str) -> bool:
    return split_of(table, file) in SHOWN


def split_of(table: str, file: str) -> str:
    for prefix, split in SPLITS[table].items():
        if file.startswith(prefix + "_"):
            return split
    raise KeyError(f"{file} has no {table} split in SPLITS_INGEST.md")


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


# --- documents --------------------------------------------------------------------------------


def settings_for(file: str) -> str | None:
    path = SITES_DIR / (Path(file).stem + ".toml")
    return str(path) if path.exists() else None


@lru_cache(maxsize=64)
def raw_text(docs: Path, file: str) -> tuple[str, tuple[tuple[int, int], ...]]:
    """The reader's output before repair: each block's lines joined by '\\n', blocks by '\\n\\n'.
    Also the (start, end) of every block in that text. Damage and web labels point into this."""
    from fieldnotes.ingest.readers import read_document

    source = read_document(docs / file, file, max_bytes=200 * 1024 * 1024)
    parts, spans, offset = [], [], 0
    for block in source.blocks:
        text = "\n".join(block.lines)
        if parts:
            offset += 2
        spans.append((offset, offset + len(text)))
        parts.append(text)
        offset += len(text)
    return "\n\n".join(parts), tuple(spans)


@lru_cache(maxsize=64)
def ingested(docs: Path, file: str):
    """(cleaned text, passages) as fieldnotes ingests the document today, with its sites file."""
    from fieldnotes.ingest.readers import read_document
    from fieldnotes.ingest.run import process_document
    from fieldnotes.ingest.segment import default_splitters
    from fieldnotes.ingest.sites import SiteMatcher
    from fieldnotes.settings import load_settings

    settings_path = settings_for(file)
    settings = load_settings(Path(settings_path) if settings_path else None)
    source = read_document(docs / file, file, max_bytes=200 * 1024 * 1024)
    document, passages, _ = process_document(source, settings, SiteMatcher(settings.site), default_splitters())
    return document.text, passages


@lru_cache(maxsize=64)
def stream_of(text: str):
    from fieldnotes.anchors import letter_stream

    return letter_stream(text)


def anchor_of(row: dict[str, str]):
    from fieldnotes.anchors import Anchor

    return Anchor(int(row["letter_start"]), int(row["letter_count"]), row["digest"], row["head"])


def pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:5.1f}%" if whole else "   n/a"


# --- (a) sites --------------------------------------------------------------------------------


def eval_sites(docs: Path, detail: bool) -> list[str]:
    from fieldnotes.anchors import locate

    by_file: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in read_rows(SITES_LABELS):
        if shown("sites", row["file"]):
            by_file[row["file"]].append(row)
    lines = [
        "(a) Sites of passages in multi-place documents",
        f"{'document':58} {'labels':>6} {'passages':>8} {'right':>7} "
        f"{'place-passages right':>21} {'whole sections wrong':>21}",
    ]
    total = right = place_total = place_right = 0
    by_split: dict[str, Counter[str]] = defaultdict(Counter)
    for file, rows in by_file.items():
        text, passages = ingested(docs, file)
        stream = stream_of(text)
        starts: list[tuple[int, str]] = []
        missing = 0
        for row in rows:
            span = locate(text, anchor_of(row), stream)
            if span is None:
                missing += 1
                continue
            starts.append((span[0], row["site"]))
        starts.sort()
        if not starts:
            lines.append(f"{file:58} no label located")
            continue
        bounds = [start for start, _ in starts] + [len(text)]

        def expected(passage, starts=starts, bounds=bounds) -> str:
            share: Counter[str] = Counter()
            for (start, site), end in zip(starts, bounds[1:], strict=True):
                overlap = min(end, passage.end) - max(start, passage.start)
                if overlap > 0:
                    share[site] += overlap
            return share.most_common(1)[0][0] if share else ""

        sections: dict[int, list[tuple[str, str]]] = defaultdict(list)
        n = ok = n_place = ok_place = 0
        for passage in passages:
            if passage.end <= starts[0][0]:
                continue  # before the first labelled body text (page navigation)
            want = expected(passage)
            got = passage.site
            n += 1
            ok += got == want
            if want != "general":
                n_place += 1
                ok_place += got == want
            # The labelled stretch holding most of the passage (as for its expected site), not the
            # one it starts in: a passage starting a few letters before a boundary belongs after it.
            overlaps = [
                min(end, passage.end) - max(start, passage.start)
                for (start, _), end in zip(starts, bounds[1:], strict=True)
            ]
            index = max(range(len(starts)), key=lambda i, overlaps=overlaps: (overlaps[i], -i))
            sections[index].append((want, got))
            if detail and got != want:
                print(f"  site {file} passage {passage.seq}: expected {want}, got {got} ({passage.site_evidence})")
        whole_wrong = 0
        for index, pairs in sections.items():
            got_sites = {got for _, got in pairs}
            if len(got_sites) == 1 and next(iter(got_sites)) != starts[index][1]:
                whole_wrong += 1
                if detail:
                    print(f"  section wrong whole: {file} label {index} ({starts[index][1]}), got {got_sites}")
        split = by_split[split_of("sites", file)]
        split.update({"n": n, "ok": ok, "n_place": n_place, "ok_place": ok_place, "wrong": whole_wrong})
        split["sections"] += len(sections)
        total += n
        right += ok
        place_total += n_place
        place_right += ok_place
        note = f" ({missing} labels not located)" if missing else ""
        lines.append(
            f"{file:58} {len(rows):6} {n:8} {pct(ok, n):>7} {f'{ok_place}/{n_place} ' + pct(ok_place, n_place):>21}"
            f" {f'{whole_wrong}/{len(sections)}':>21}{note}"
        )
    lines.append(
        f"{'overall':58} {'':6} {total:8} {pct(right, total):>7} "
        f"{f'{place_right}/{place_total} ' + pct(place_right, place_total):>21}"
    )
    for name in SHOWN:
        c = by_split[name]
        place = f"{c['ok_place']}/{c['n_place']} " + pct(c["ok_place"], c["n_place"])
        whole = f"{c['wrong']}/{c['sections']}"
        lines.append(f"{name:58} {'':6} {c['n']:8} {pct(c['ok'], c['n']):>7} {place:>21} {whole:>21}")
    return lines


# --- (b) damage -------------------------------------------------------------------------------


@dataclass
class Word:
    offset: int  # letter offset inside the stretch's letters
    length: int
    hyphens: tuple[int, ...]  # letter offsets inside the word before which a hyphen stands
    mode: str  # "" scored word, "x" letters that must be absent, "?" not scored
    kind: str  # damage kind letter(s) from KINDS, "" for a word that is correct in the raw text


_TOKEN = re.compile(r"^([x?]?)(\d+(?:-\d+)*)([a-z]*)$")


def parse_words(spec: str) -> list[Word]:
    words, offset = [], 0
    for token in spec.split():
        match = _TOKEN.match(token)
        if not match:
            raise ValueError(f"bad token {token!r}")
        mode, parts, kind = match.groups()
        sizes = [int(p) for p in parts.split("-")]
        hyphens, at = [], 0
        for size in sizes[:-1]:
            at += size
            hyphens.append(at)
        words.append(Word(offset, sum(sizes), tuple(hyphens), mode, kind))
        offset += sum(sizes)
    return words


def _between(text: str, offsets: list[int], i: int) -> str:
    """The characters between letter i-1 and letter i of a letter stream (its text's offsets)."""
    if i <= 0:
        return " "
    if i >= len(offsets):
        return " "
    return text[offsets[i - 1] + 1 : offsets[i]]


def word_right(text: str, offsets: list[int], first: int, word: Word) -> bool:
    """Whether the word's letters, from stream index `first`, form exactly one whitespace-separated
    token of the text with hyphens where expected."""
    if not any(c.isspace() for c in _between(text, offsets, first)):
        return False
    end = first + word.length
    if not any(c.isspace() for c in _between(text, offsets, end)):
        return False
    for k in range(1, word.length):
        gap = _between(text, offsets, first + k)
        if any(c.isspace() for c in gap):
            return False
        if (any(c in HYPHENS for c in gap)) != (k in word.hyphens):
            return False
    return True


def eval_damage(docs: Path, detail: bool) -> list[str]:
    from fieldnotes.anchors import locate

    per_file: dict[str, Counter[str]] = defaultdict(Counter)
    kinds: dict[str, Counter[str]] = defaultdict(Counter)
    for row in read_rows(DAMAGE_LABELS):
        file = row["file"]
        if not shown("damage", file):
            continue
        counts = per_file[file]
        raw, _ = raw_text(docs, file)
        raw_letters, raw_offsets = stream_of(raw)
        span = locate(raw, anchor_of(row), (raw_letters, raw_offsets))
        words = parse_words(row["words"])
        if span is None:
            counts["stretches not located in raw text"] += 1
            continue
        base = raw_offsets.index(span[0]) if raw_letters else 0
        letters = raw_letters[base : base + int(row["letter_count"])]
        # Segments of letters that stay (between runs of letters that must go).
        segments: list[tuple[int, int]] = []
        for word in words:
            if word.mode == "x":
                continue
            if segments and segments[-1][1] == word.offset:
                segments[-1] = (segments[-1][0], word.offset + word.length)
            else:
                segments.append((word.offset, word.offset + word.length))
        text, _ = ingested(docs, file)
        clean_letters, clean_offsets = stream_of(text)
        placed: dict[int, int] = {}  # stretch letter offset of a segment start -> clean stream index
        cursor = None
        for start, end in segments:
            piece = letters[start:end]
            if cursor is None:
                estimate = int(row["letter_start"])
                found, best, at = None, None, clean_letters.find(piece)
                while at >= 0:
                    if best is None or abs(at - estimate) < best:
                        found, best = at, abs(at - estimate)
                    if at > estimate:
                        break
                    at = clean_letters.find(piece, at + 1)
            else:
                found = clean_letters.find(piece, cursor, cursor + 5000 + len(piece))
                found = None if found < 0 else found
            if found is None:
                continue
            placed[start] = found
            cursor = found + len(piece)
        segment_of = {}
        for start, end in segments:
            for i in range(start, end):
                segment_of[i] = start
        # Each run of letters that must go: compare with what the cleaned text holds at that place.
        kept_drop: dict[int, bool | None] = {}
        index = 0
        while index < len(words):
            if words[index].mode != "x":
                index += 1
                continue
            run = [index]
            while run[-1] + 1 < len(words) and words[run[-1] + 1].mode == "x":
                run.append(run[-1] + 1)
            before, after = words[: run[0]], words[run[-1] + 1 :]
            left = right = None
            if before and segment_of[before[-1].offset] in placed:
                last = before[-1]
                left = placed[segment_of[last.offset]] + last.offset + last.length - segment_of[last.offset]
            if after and segment_of[after[0].offset] in placed:
                right = placed[segment_of[after[0].offset]] + after[0].offset - segment_of[after[0].offset]
            drops = [letters[words[i].offset : words[i].offset + words[i].length] for i in run]
            if left is not None and right is not None and right >= left:
                gap, pos = clean_letters[left:right], 0
                for i, drop in zip(run, drops, strict=True):
                    kept_drop[i] = gap.startswith(drop, pos)
                    pos += len(drop) if kept_drop[i] else 0
            elif left is not None:
                gap, pos = clean_letters[left : left + sum(map(len, drops))], 0
                for i, drop in zip(run, drops, strict=True):
                    kept_drop[i] = gap.startswith(drop, pos)
                    pos += len(drop) if kept_drop[i] else 0
            elif right is not None:
                whole = "".join(drops)
                gap = clean_letters[max(0, right - len(whole)) : right]
                for i in run:
                    kept_drop[i] = gap == whole
            else:
                for i in run:
                    kept_drop[i] = None
            index = run[-1] + 1
        for index, word in enumerate(words):
            if word.mode == "?":
                continue
            kind = word.kind or "ok"
            if word.mode == "x":
                kept = kept_drop[index]
                if kept is None:
                    counts["unlocated"] += 1
                    continue
                counts["damaged"] += 1
                kinds[kind]["damaged"] += 1
                if not kept:
                    counts["repaired"] += 1
                    kinds[kind]["repaired"] += 1
                elif detail:
                    print(
                        f"  kept ({KINDS.get(word.kind, word.kind)}): {file} stretch {row['letter_start']} word {index}"
                    )
                continue
            raw_ok = word_right(raw, raw_offsets, base + word.offset, word)
            segment = segment_of[word.offset]
            if segment not in placed:
                counts["unlocated"] += 1
                if detail:
                    print(f"  unlocated: {file} stretch {row['letter_start']} word {index}")
                continue
            first = placed[segment] + word.offset - segment
            clean_ok = word_right(text, clean_offsets, first, word)
            if raw_ok:
                counts["correct"] += 1
                kinds["ok"]["correct"] += 1
                if not clean_ok:
                    counts["broken"] += 1
                    kinds["ok"]["broken"] += 1
                    if detail:
                        a, b = (
                            clean_offsets[max(0, first - 1)],
                            clean_offsets[min(len(clean_offsets) - 1, first + word.length)],
                        )
                        print(f"  broken: {file} stretch {row['letter_start']} word {index} clean {a}-{b}")
            else:
                counts["damaged"] += 1
                kinds[kind]["damaged"] += 1
                if clean_ok:
                    counts["repaired"] += 1
                    kinds[kind]["repaired"] += 1
                elif detail:
                    print(
                        f"  not repaired ({KINDS.get(word.kind, word.kind)}): {file}"
                        f" stretch {row['letter_start']} word {index}"
                    )
    lines = [
        "(b) Damaged tokens (damage_labels.csv)",
        f"{'document':58} {'damaged':>8} {'repaired':>9} {'correct':>8} {'wrongly changed':>16} {'unlocated':>9}",
    ]
    total: Counter[str] = Counter()
    for file, c in per_file.items():
        total.update(c)
        lines.append(
            f"{file:58} {c['damaged']:8} {pct(c['repaired'], c['damaged']):>9} {c['correct']:8} "
            f"{c['broken']:6} = {pct(c['broken'], c['correct']):>6} {c['unlocated']:9}"
        )
    lines.append(
        f"{'overall':58} {total['damaged']:8} {pct(total['repaired'], total['damaged']):>9} {total['correct']:8} "
        f"{total['broken']:6} = {pct(total['broken'], total['correct']):>6} {total['unlocated']:9}"
    )
    for name in SHOWN:
        c = Counter[str]()
        for file, counts in per_file.items():
            if split_of("damage", file) == name:
                c.update(counts)
        lines.append(
            f"{name:58} {c['damaged']:8} {pct(c['repaired'], c['damaged']):>9} {c['correct']:8} "
            f"{c['broken']:6} = {pct(c['broken'], c['correct']):>6} {c['unlocated']:9}"
        )
    lines.append(
        "  by kind: "
        + "; ".join(f"{KINDS[k]} {kinds[k]['repaired']}/{kinds[k]['damaged']}" for k in KINDS if kinds[k]["damaged"])
    )
    return lines


def eval_letter_runs(docs: Path) -> list[str]:
    lines = ["(b') Letter-spaced runs of 4+ single letters left in the cleaned text (all real documents)"]
    cells = []
    for path in sorted(docs.iterdir()):
        if path.suffix.lower() not in DOC_SUFFIXES or path.name.lower() == "readme.md":
            continue
        raw, _ = raw_text(docs, path.name)
        text, _ = ingested(docs, path.name)
        cells.append(
            f"{path.name[:50]:50} raw {len(LETTER_RUN.findall(raw)):3}  left {len(LETTER_RUN.findall(text)):3}"
        )
    return lines + ["  " + cell for cell in cells]


# --- (c) web pages ----------------------------------------------------------------------------


def eval_web(docs: Path, detail: bool) -> list[str]:
    from fieldnotes.anchors import _digest

    by_file: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in read_rows(WEB_LABELS):
        if shown("web", row["file"]):
            by_file[row["file"]].append(row)
    lines = [
        "(c) Web pages: body and boilerplate (web_body_labels.csv, unit: raw reader block)",
        f"{'document':58} {'blocks':>6} {'boilerplate dropped':>20} {'body kept (letters)':>20} {'not located':>11}",
    ]
    all_drop = all_dropped = all_keep = all_kept = 0
    by_split: dict[str, Counter[str]] = defaultdict(Counter)
    for file, rows in by_file.items():
        raw, _ = raw_text(docs, file)
        text, _ = ingested(docs, file)
        letters, _ = stream_of(text)
        cursor = 0
        drop = dropped = keep_letters = kept_letters = missing_raw = 0
        raw_letters, raw_offsets = stream_of(raw)
        for row in sorted(rows, key=lambda r: int(r["letter_start"])):
            anchor = anchor_of(row)
            start, count = anchor.letter_start, anchor.letter_count
            piece = raw_letters[start : start + count]
            if _digest(piece) != anchor.digest:
                from fieldnotes.anchors import locate

                span = locate(raw, anchor, (raw_letters, raw_offsets))
                if span is None:
                    missing_raw += 1
                    continue
                start = raw_offsets.index(span[0])
                piece = raw_letters[start : start + count]
            at = letters.find(piece, cursor)
            # A short block ("Languages") found far ahead is another occurrence of the same words,
            # not this block: taking it would move the cursor past the body and lose it all.
            present = at >= 0 and at - cursor < (20000 if len(piece) >= 40 else 2000)
            if present:
                cursor = at + len(piece)
            if row["keep"] == "1":
                keep_letters += count
                kept_letters += count if present else 0
                if detail and not present:
                    print(f"  body lost: {file} block {row['block']}")
            else:
                drop += 1
                dropped += not present
                if detail and present:
                    print(f"  boilerplate kept: {file} block {row['block']} ({row['note']})")
        by_split[split_of("web", file)].update(
            {"drop": drop, "dropped": dropped, "keep": keep_letters, "kept": kept_letters}
        )
        all_drop += drop
        all_dropped += dropped
        all_keep += keep_letters
        all_kept += kept_letters
        lines.append(
            f"{file:58} {len(rows):6} {f'{dropped}/{drop} ' + pct(dropped, drop):>20} "
            f"{pct(kept_letters, keep_letters):>20} {missing_raw:11}"
        )
    lines.append(
        f"{'overall':58} {'':6} {f'{all_dropped}/{all_drop} ' + pct(all_dropped, all_drop):>20}"
        f" {pct(all_kept, all_keep):>20}"
    )
    for name in SHOWN:
        c = by_split[name]
        dropped_part = f"{c['dropped']}/{c['drop']} " + pct(c["dropped"], c["drop"])
        lines.append(f"{name:58} {'':6} {dropped_part:>20} {pct(c['kept'], c['keep']):>20}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=Path, default=DEFAULT_DOCS, help="folder of the real documents")
    parser.add_argument("--detail", action="store_true", help="print every miss")
    parser.add_argument(
        "--split",
        choices=("dev", "test", "all"),
        default="dev",
        help="labels to score (SPLITS_INGEST.md): tune on dev; test once per shipped change, for the report",
    )
    args = parser.parse_args()
    SHOWN[:] = ["dev", "test"] if args.split == "all" else [args.split]
    docs = args.docs.resolve()
    if not docs.is_dir():
        print(f"real documents not found at {docs}; skipping the real-document ingestion evaluation")
        return 0
    import logging
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.disable(logging.WARNING)
    out: list[str] = []
    for part in (eval_sites, eval_damage):
        out += [*part(docs, args.detail), ""]
    out += [*eval_letter_runs(docs), ""]
    out += eval_web(docs, args.detail)
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
