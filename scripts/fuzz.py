#!/usr/bin/env python
"""Coverage-guided fuzzing of fieldnotes' input stages with atheris (libFuzzer for Python).

    pip install -e '.[fuzz]'                      # atheris; not needed by the tests
    python scripts/fuzz.py --list                 # the targets
    python scripts/fuzz.py txt --seconds 120      # one target for a fixed budget
    python scripts/fuzz.py --all --seconds 120    # every target, one after the other
    python scripts/fuzz.py pdf --replay crash.bin # run inputs once, without atheris

Each target is a plain function of the fuzzer's bytes. It may raise FieldnotesError (a
clear message for the user) and nothing else; invariants that fail raise
InvariantError. A crashing input lands in WORK/TARGET/crashes/ with its traceback;
once the bug is fixed, copy it to tests/data/fuzz_regressions/TARGET/ and
tests/test_fuzz_regressions.py replays it on every test run.

Adding a target (an importer, say) is one function:

    @target("qdpx", seeds=lambda: [Path("tests/data/x.qdpx").read_bytes()], instrument=["fieldnotes.exchange"])
    def fuzz_qdpx(data: bytes) -> None:
        import_qdpx(materialise(data, ".qdpx"), ...)

Without --keep-going the run stops at the first crash, as libFuzzer does; with it
every distinct crash (exception type and place) is saved once and fuzzing goes on.
"""

from __future__ import annotations

import argparse
import atexit
import functools
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from fieldnotes.errors import FieldnotesError  # noqa: E402


class InvariantError(AssertionError):
    """A promise of the library does not hold for this input."""


def check(condition: object, message: str) -> None:
    # Not `assert`: python -O must not switch the invariants off.
    if not condition:
        raise InvariantError(message)


@dataclass
class Target:
    name: str
    func: Callable[[bytes], None]
    doc: str
    seeds: Callable[[], list[bytes]]
    # Strings the mutator splices in; a function when building them needs imports.
    dictionary: Sequence[bytes] | Callable[[], Sequence[bytes]] = ()
    # Modules whose code coverage guides the fuzzer (instrumenting everything is slow).
    instrument: Sequence[str] = ("fieldnotes",)
    max_len: int = 16 * 1024


TARGETS: dict[str, Target] = {}


def target(
    name: str,
    *,
    seeds: Callable[[], list[bytes]] = lambda: [],
    dictionary: Sequence[bytes] | Callable[[], Sequence[bytes]] = (),
    instrument: Sequence[str] = ("fieldnotes",),
    max_len: int = 16 * 1024,
) -> Callable[[Callable[[bytes], None]], Callable[[bytes], None]]:
    """Register a fuzz target: a function of bytes that raises only FieldnotesError."""

    def register(func: Callable[[bytes], None]) -> Callable[[bytes], None]:
        doc = (func.__doc__ or "").strip().split("\n")[0]
        TARGETS[name] = Target(name, func, doc, seeds, dictionary, instrument, max_len)
        return func

    return register


# --- helpers shared by targets ---------------------------------------------------------


class Draw:
    """Choices read off the fuzzer's bytes (like atheris.FuzzedDataProvider, but replayable
    without atheris, so the regression tests need nothing beyond the library)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            return 0
        self.pos += 1
        return self.data[self.pos - 1]

    def flag(self) -> bool:
        return bool(self.byte() & 1)

    def choice(self, options: Sequence):
        return options[self.byte() % len(options)]

    def rest(self) -> bytes:
        rest = self.data[self.pos :]
        self.pos = len(self.data)
        return rest

    def text(self) -> str:
        """The rest as text: UTF-8, Latin-1 (every byte a character) or UTF-16 (any plane)."""
        mode = self.byte() % 3
        rest = self.rest()
        if mode == 1:
            return rest.decode("latin-1")
        if mode == 2:
            return rest[: len(rest) // 2 * 2].decode("utf-16-le", errors="replace")
        return rest.decode("utf-8", errors="replace")


@functools.cache
def _scratch() -> Path:
    # RAM-backed where there is one: read_document and the codebook loader take a path.
    if os.environ.get(_SCRATCH_ENV):  # a fuzzing child: its parent removes the folder afterwards
        return Path(os.environ[_SCRATCH_ENV])
    path = _new_scratch()
    atexit.register(shutil.rmtree, path, True)
    return path


_SCRATCH_ENV = "FIELDNOTES_FUZZ_SCRATCH"


def _new_scratch() -> Path:
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix="fieldnotes-fuzz-", dir=base))


def materialise(data: bytes, suffix: str, name: str = "input") -> Path:
    """Write the input to a scratch file with the given suffix and return its path."""
    path = _scratch() / f"{name}{suffix}"
    path.write_bytes(data)
    return path


@functools.cache
def _settings():
    from fieldnotes.settings import load_settings

    return load_settings()


@functools.cache
def _matcher():
    from fieldnotes.ingest.sites import SiteMatcher

    return SiteMatcher(_settings().site)


@functools.cache
def _splitters():
    from fieldnotes.ingest.segment import default_splitters

    return default_splitters()


def check_offsets(cleaned, passages) -> None:
    """Blocks, passages and sentences point at exactly the text they claim."""
    text = cleaned.text
    previous_end = 0
    for block in cleaned.blocks:
        check(
            previous_end <= block.start < block.end <= len(text), f"block span {block.start}-{block.end} out of order"
        )
        check(text[block.start : block.end] == block.text, f"block {block.start}-{block.end} does not hold its text")
        previous_end = block.end
    seen: set[str] = set()
    previous_end = 0
    for passage in passages:
        check(passage.passage_id not in seen, f"passage id {passage.passage_id} repeated")
        seen.add(passage.passage_id)
        check(previous_end <= passage.start < passage.end <= len(text), f"passage span {passage.start}-{passage.end}")
        check(
            text[passage.start : passage.end] == passage.text, f"passage {passage.passage_id} text is not at its span"
        )
        check(passage.text == passage.text.strip(), f"passage {passage.passage_id} has outer white space")
        previous_end = passage.end
        sentence_end = passage.start
        check(len(passage.sentences) > 0, f"passage {passage.passage_id} has no sentence")
        for start, end in passage.sentences:
            check(sentence_end <= start < end <= passage.end, f"sentence {start}-{end} outside its passage/order")
            body = text[start:end]
            check(body == body.strip() and body, f"sentence {start}-{end} is empty or has outer white space")
            sentence_end = end


def check_excerpts(cleaned, passages, relpath: str) -> None:
    """The excerpts codes attach to (sentences, short ones grouped) point at their text too."""
    from fieldnotes.coding.excerpts import build_excerpts

    rows = [
        {"passage_id": p.passage_id, "document_id": "dfuzz", "document": relpath, "site": p.site}
        | {"start": p.start, "end": p.end}
        for p in passages
    ]
    sentences = {p.passage_id: list(p.sentences) for p in passages}
    for excerpt in build_excerpts(rows, sentences, {"dfuzz": cleaned.text}, 40):
        body = cleaned.text[excerpt.start : excerpt.end]
        check(body == excerpt.text and body.strip() == body and body, f"excerpt {excerpt.excerpt_id} off its text")


def check_sites(passages) -> None:
    from fieldnotes.settings import GENERAL_SITE

    known = {site.id for site in _settings().site} | {GENERAL_SITE}
    for passage in passages:
        check(passage.site in known, f"passage placed at unknown site {passage.site!r}")
        check(isinstance(passage.site_evidence, str), "site evidence is not text")


def read_and_process(path: Path, relpath: str) -> None:
    """The ingestion of one file, as ingest_corpus does it, with every invariant checked."""
    from fieldnotes.ingest.readers import read_document
    from fieldnotes.ingest.run import document_version, process_document

    source = read_document(path, relpath)
    for block in source.blocks:
        check(all(isinstance(line, str) for line in block.lines), "a reader produced a non-text line")
    cleaned, passages, notes = process_document(source, _settings(), _matcher(), _splitters())
    check(all(isinstance(note, str) for note in notes), "notes must be text")
    check_offsets(cleaned, passages)
    check_sites(passages)
    check_excerpts(cleaned, passages, relpath)
    # Stored as ingest_corpus stores it (metadata as JSON, passages, sentences), in a database in memory.
    store, run_id = _memory_store()
    store.corpus.save_document(run_id, "dfuzz", document_version(cleaned, "settings"), passages)


@functools.cache
def _memory_store():
    from fieldnotes.store import Store

    store = Store.open(Path(":memory:"))
    return store, store.runs.begin("ingest", "fuzz", "", "{}", {})


def _files(*patterns: str) -> Callable[[], list[bytes]]:
    def load() -> list[bytes]:
        return [path.read_bytes() for pattern in patterns for path in sorted(REPO.glob(pattern))]

    return load


# Strings the fuzzer splices into inputs: site names, markup, and characters the repair handles.
_TEXT_DICTIONARY = [
    s.encode()
    for s in (
        "\n\n",
        "\f",
        "\r\n",
        "-\n",
        "\u00ad",
        "\ufb01",
        "\u3000",
        "\uff2e",
        "\u201c",
        "\u2014",
        "\u200f",
        "\u202e",
        "\u05e9\u05dc\u05d5\u05dd",
        "\u0645\u0631\u062d\u0628\u0627",
        "\u540d\u53e4\u5c4b",
        "\u65b0\u5c45\u6d5c",
        "\u3002",
        "dif ferent",
        "co-op-",
        "erative",
        "C O N C L U S I O N",
        "Page 3 of 9",
        "Nagoya",
        "Osaka",
        "Niihama",
        "Minami-Odaka",
        "Introduction",
        "1. ",
        "- ",
        "Nagoya: ",
    )
]


# --- targets ---------------------------------------------------------------------------


@target(
    "decode",
    seeds=_files("corpus/japanese/*", "tests/data/mini/*/*.txt"),
    dictionary=[b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\x82\xa0", b"\x1b$B", b"\x00"],
)
def fuzz_decode(data: bytes) -> None:
    """Encoding detection: text and its encoding, or a DocumentError."""
    from fieldnotes.ingest.encoding import decode_text

    text, encoding = decode_text(data, "fuzz.txt")
    # A file holding only a byte-order mark decodes to ""; read_document refuses it as "no text".
    check(isinstance(text, str), "decoded to something other than text")
    if encoding == "utf-8":
        check(text == data.decode("utf-8"), "UTF-8 input was not decoded as itself")


@target("txt", seeds=_files("tests/data/mini/*/*.txt", "corpus/general/*.txt"), dictionary=_TEXT_DICTIONARY)
def fuzz_txt(data: bytes) -> None:
    """Plain text: read, repair, segment and place one .txt file."""
    read_and_process(materialise(data, ".txt"), "fuzz.txt")


@target(
    "md",
    seeds=_files("tests/data/mini/*/*.md", "corpus/nagoya/*.md"),
    dictionary=[*_TEXT_DICTIONARY, b"---\n", b"site: ", b"# ", b"## ", b"**", b"| a | b |\n|---|---|\n", b"1. "],
)
def fuzz_md(data: bytes) -> None:
    """Markdown with front matter: read, repair, segment and place one .md file."""
    read_and_process(materialise(data, ".md"), "fuzz.md")


@target(
    "html",
    seeds=_files("corpus/documents/*.html"),
    dictionary=[
        *_TEXT_DICTIONARY,
        b"<h1>",
        b"</h1>",
        b"<p>",
        b"<div>",
        b"<script>",
        b"</script>",
        b"<li>",
        b'<meta charset="',
        b'<meta name="site" content="',
        b"<!DOCTYPE html [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>",
        b"&#x",
        b"&amp;",
        b"<![CDATA[",
        b"<!--",
        # Codec names a page may declare in <meta charset>: not all of them are text encodings.
        b"punycode",
        b"idna",
        b"utf-7",
        b"unicode_escape",
        b"rot13",
        b"utf-16",
    ],
)
def fuzz_html(data: bytes) -> None:
    """HTML: read, repair, segment and place one .html file."""
    read_and_process(materialise(data, ".html"), "fuzz.html")


@functools.cache
def _docx_template() -> dict[str, bytes]:
    path = REPO / "corpus" / "articles" / "staff-work-environment-report.docx"
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _docx_seeds() -> list[bytes]:
    template = _docx_template()
    seeds = [_files("corpus/articles/*.docx")()[0]]
    # Structured seeds: a flag byte (0 = fuzz word/document.xml, 2 = styles, 4 = core properties) + the XML.
    for flag, member in ((0, "word/document.xml"), (2, "word/styles.xml"), (4, "docProps/core.xml")):
        seeds.append(bytes([flag]) + template[member][:60000])
    return seeds


_DOCX_MEMBERS = ("word/document.xml", "word/styles.xml", "docProps/core.xml")


@target(
    "docx",
    seeds=_docx_seeds,
    dictionary=[
        *_TEXT_DICTIONARY,
        b"<w:p>",
        b"</w:p>",
        b"<w:r><w:t>",
        b"</w:t></w:r>",
        b'<w:pStyle w:val="Heading1"/>',
        b"<w:numPr>",
        b"<w:tbl>",
        b"<w:tc>",
        b'<!DOCTYPE w [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
        b"&x;",
    ],
    max_len=128 * 1024,
)
def fuzz_docx(data: bytes) -> None:
    """Word: raw container bytes, or one XML part of a real .docx replaced by the input."""
    draw = Draw(data)
    flag = draw.byte()
    if flag & 1:
        # Odd first byte: the input is the whole file (zip structure and all).
        payload = draw.rest()
    else:
        member = _DOCX_MEMBERS[(flag >> 1) % len(_DOCX_MEMBERS)]
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, content in _docx_template().items():
                archive.writestr(name, draw.rest() if name == member else content)
        payload = buffer.getvalue()
    read_and_process(materialise(payload, ".docx"), "fuzz.docx")


@functools.cache
def _pdf_seeds() -> list[bytes]:
    seeds = _files("corpus/articles/*.pdf")()
    seeds.append(
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
        b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 300 300]/Contents 4 0 R/Resources<</Font<</F1 5 0 R>>>>>>"
        b"endobj\n4 0 obj<</Length 44>>stream\nBT /F1 12 Tf 20 200 Td (Nagoya han notes) Tj ET\nendstream endobj\n"
        b"5 0 obj<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )
    try:  # a small real PDF, when the test extra (reportlab) is installed
        from reportlab.pdfgen import canvas

        buffer = io.BytesIO()
        page = canvas.Canvas(buffer, invariant=1)
        page.setFont("Helvetica-Bold", 14)
        page.drawString(72, 760, "Niihama: care facilities")
        page.setFont("Helvetica", 10)
        for i, line in enumerate(
            ["Members of the han meet every month in a", "neigh-", "bour's house to plan visits."]
        ):
            page.drawString(72, 730 - 14 * i, line)
        page.drawString(290, 30, "3")
        page.save()
        seeds.append(buffer.getvalue())
    except ImportError:
        pass
    return seeds


@target(
    "pdf",
    seeds=_pdf_seeds,
    dictionary=[b"obj", b"endobj", b"stream\n", b"endstream", b"/Encrypt", b"/Filter/FlateDecode", b"xref", b"Tj"],
    instrument=("fieldnotes", "pdfminer"),
    max_len=128 * 1024,
)
def fuzz_pdf(data: bytes) -> None:
    """PDF: read (pdfminer layout), repair, segment and place one .pdf file."""
    read_and_process(materialise(data, ".pdf"), "fuzz.pdf")


def _source(blocks, fmt: str):
    from fieldnotes.ingest.model import SourceDocument

    return SourceDocument(path=Path("fuzz"), relpath="fuzz", format=fmt, raw_hash="0", blocks=blocks)


@target("repair", seeds=_files("tests/data/repair/*.txt", "tests/data/mini/*/*.txt"), dictionary=_TEXT_DICTIONARY)
def fuzz_repair(data: bytes) -> None:
    """Text repair on any text: layout flags, page numbers and formats drawn from the input."""
    from fieldnotes.ingest.model import BlockKind, RawBlock
    from fieldnotes.ingest.repair import repair_document

    draw = Draw(data)
    fmt = draw.choice(["txt", "pdf", "md", "docx", "html"])
    flags = [draw.byte() for _ in range(4)]
    text = draw.text()
    blocks = []
    for index, chunk in enumerate(text.split("\n\n")):
        flag = flags[index % 4]
        kind = [BlockKind.UNKNOWN, BlockKind.PARAGRAPH, BlockKind.HEADING, BlockKind.LIST, BlockKind.TABLE][flag % 5]
        blocks.append(
            RawBlock(
                chunk.split("\n"),
                kind,
                level=(flag >> 3) % 7 or None,
                page=(index // 3) + 1 if flag & 0x20 else None,
                looks_like_heading=bool(flag & 0x40),
                at_page_edge=bool(flag & 0x80),
            )
        )
    settings = _settings()
    cleaned = repair_document(_source(blocks, fmt), settings.repair, settings.segment)
    check_offsets(cleaned, [])
    check(cleaned.text == "\n\n".join(block.text for block in cleaned.blocks), "blocks do not lay out the cleaned text")
    for block in cleaned.blocks:
        check(block.text and block.text == block.text.strip(), "a cleaned block is empty or has outer white space")


@functools.cache
def _clean_words() -> tuple[str, ...]:
    from wordfreq import top_n_list

    from fieldnotes.ingest.repair import _TWO_LETTER_WORDS

    # The same vocabulary as the property test in tests/test_repair.py: common words of running prose.
    return tuple(
        w for w in top_n_list("en", 3000) if w.isalpha() and (len(w) > 2 or w in ("a", "i") or w in _TWO_LETTER_WORDS)
    )


def clean_paragraphs(draw: Draw) -> list[list[str]]:
    """Well-formed prose drawn from the bytes: capitalised sentences of common words, some with
    commas, each paragraph as lines wrapped at a drawn width (as a text editor or PDF would)."""
    words = _clean_words()
    paragraphs: list[list[str]] = []
    for _ in range(1 + draw.byte() % 4):
        sentences = []
        for _ in range(1 + draw.byte() % 3):
            chosen = [words[(draw.byte() << 8 | draw.byte()) % len(words)] for _ in range(3 + draw.byte() % 20)]
            # English prose does not run single letters together ("a i a i"): that is letter spacing.
            chosen = [w for i, w in enumerate(chosen) if not (len(w) == 1 and i and len(chosen[i - 1]) == 1)]
            if draw.flag() and len(chosen) > 4:
                chosen[len(chosen) // 2] += ","
            sentences.append(chosen[0].capitalize() + " " + " ".join(chosen[1:]) + ".")
        body = " ".join(sentences)
        width = 30 + draw.byte() % 90
        lines, line = [], ""
        for word in body.split():
            if line and len(line) + 1 + len(word) > width:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}" if line else word
        lines.append(line)
        paragraphs.append(lines)
    return paragraphs


@target("repair_clean")
def fuzz_repair_clean(data: bytes) -> None:
    """Repair keeps every word of clean, wrapped prose, in order."""
    from fieldnotes.ingest.model import RawBlock
    from fieldnotes.ingest.repair import repair_document

    draw = Draw(data)
    fmt = draw.choice(["txt", "pdf"])
    paragraphs = clean_paragraphs(draw)
    settings = _settings()
    cleaned = repair_document(
        _source([RawBlock(lines) for lines in paragraphs], fmt), settings.repair, settings.segment
    )
    expected = [word for lines in paragraphs for line in lines for word in line.split()]
    check(cleaned.text.split() == expected, f"words changed: {expected!r} -> {cleaned.text.split()!r}")


@target("segment", seeds=_files("tests/data/mini/*/*.txt", "corpus/japanese/*.md"), dictionary=_TEXT_DICTIONARY)
def fuzz_segment(data: bytes) -> None:
    """Segmentation of any cleaned text into passages and sentences, at any passage sizes."""
    from fieldnotes.ingest.model import BlockKind, CleanBlock, CleanDocument
    from fieldnotes.ingest.segment import segment_document
    from fieldnotes.settings import SegmentSettings

    draw = Draw(data)
    segment = SegmentSettings(min_passage_chars=draw.byte(), max_passage_chars=200 + draw.byte() * 8)
    heading_every = draw.byte() % 5
    text = draw.text()
    # Blocks laid out as repair_document does: stripped, non-empty, two newlines apart.
    blocks, pieces, offset = [], [], 0
    for index, chunk in enumerate(part.strip() for part in text.split("\n\n")):
        if not chunk:
            continue
        if pieces:
            pieces.append("\n\n")
            offset += 2
        kind = BlockKind.HEADING if heading_every and index % heading_every == 0 else BlockKind.PARAGRAPH
        blocks.append(CleanBlock(chunk, kind, 2 if kind == BlockKind.HEADING else None, offset, offset + len(chunk)))
        pieces.append(chunk)
        offset += len(chunk)
    cleaned = CleanDocument(_source([], "txt"), "".join(pieces), blocks, {})
    passages = segment_document(cleaned, segment, _splitters())
    check_offsets(cleaned, passages)
    # Passages cover every character of the paragraphs, in order (a cut may fall inside "Really?Yes").
    covered = "".join("".join(cleaned.text[p.start : p.end].split()) for p in passages)
    body = "".join("".join(b.text.split()) for b in blocks if b.kind != BlockKind.HEADING)
    check(covered == body, "passages lose or reorder the text of the paragraphs")


def _site_dictionary() -> list[bytes]:
    from fieldnotes.settings import load_settings

    names = [n for site in load_settings().site for n in (site.id, site.label, *site.aliases)]
    return [*_TEXT_DICTIONARY, *(n.encode() for n in names), b"---\nsite: ", b"\n---\n", b"# ", b"## ", b"### "]


@target("sites", seeds=_files("tests/data/mini/*/*.md", "corpus/articles/*.md"), dictionary=_site_dictionary)
def fuzz_sites(data: bytes) -> None:
    """Site assignment: Markdown headings, front matter and folders drawn from the input."""
    draw = Draw(data)
    folder = draw.choice(["", "nagoya/", "Osaka visits/", "general/", "notes/niihama_2024/", "a/b/"])
    relpath = f"{folder}fuzz.md"
    path = materialise(draw.rest(), ".md")
    read_and_process(path, relpath)


def _codebook_seeds() -> list[bytes]:
    return _files("tests/data/codebooks/mini.yaml", "codebooks/coproduction.yaml")()


_REAL_LEMMA_PIPELINE: list = []


@functools.cache
def _rule_pipeline():
    from fieldnotes.coding import rules

    if not _REAL_LEMMA_PIPELINE:
        _REAL_LEMMA_PIPELINE.append(rules.lemma_pipeline)
    return _REAL_LEMMA_PIPELINE[0]()


@target(
    "codebook",
    seeds=_codebook_seeds,
    dictionary=[
        b"codes:\n",
        b"  - id: ",
        b"    patterns:\n",
        b"- regex: ",
        b"- tokens: [{LEMMA: ",
        b"&a ",
        b"*a",
        b"!!",
    ],
)
def fuzz_codebook(data: bytes) -> None:
    """Codebook YAML: loaded and validated, then its rules compiled and run on a sentence."""
    from fieldnotes.codebook import load_codebook
    from fieldnotes.coding import rules

    folder = _scratch() / "codebook"
    folder.mkdir(exist_ok=True)
    reference = folder / "mini-reference.csv"
    if not reference.exists():
        reference.write_bytes((REPO / "tests/data/codebooks/mini-reference.csv").read_bytes())
    path = folder / "fuzz.yaml"
    path.write_bytes(data)
    loaded = load_codebook(path)
    check(loaded.codebook.codes, "a loaded codebook has no codes")
    # The rules stage must accept every codebook the loader accepts (building spaCy's pipeline once).
    _rule_pipeline()
    original = rules.lemma_pipeline
    rules.lemma_pipeline = _rule_pipeline
    try:
        matcher = rules.RuleMatcher(loaded.codebook)
    finally:
        rules.lemma_pipeline = original
    matcher.match(["Volunteers deliver meals and keep confidential notes in Nagoya."])


# --- importers (files made by other tools) ---------------------------------------------


@functools.cache
def _sample_export():
    """A small export (two documents, coded excerpts, the shipped codebook) for seeds."""
    from fieldnotes.codebook import load_codebook
    from fieldnotes.exchange.data import CodedExcerpt, ExportData, SourceText

    book = load_codebook(check_patterns=False).codebook
    text = "Nagoya han meeting. Members check blood pressure together 🙂.\n\nVolunteers deliver meals."
    rows = [
        CodedExcerpt("e1", "p1", "d1", "nagoya/han.md", "nagoya", 20, 61, text[20:61], book.codes[0].id,
                     book.codes[0].name, "accepted", 0.8, "rules", "matched 'together'", "aiko", None, "memo"),
        CodedExcerpt("e2", "p2", "d1", "nagoya/han.md", "nagoya", 63, len(text), text[63:], book.codes[3].id,
                     book.codes[3].name, "suggested", 0.6, "semantic", "similar", None, None, None),
    ]  # fmt: skip
    documents = [SourceText("d1", "nagoya/han.md", text, ("nagoya",)), SourceText("d2", "x.txt", "Osaka.", ("osaka",))]
    return ExportData(book, "all", rows, documents, {"nagoya": "Nagoya", "osaka": "Osaka"})


def _qdpx_seed() -> list[bytes]:
    from fieldnotes.exchange.refi import write_qdpx

    path = _scratch() / "seed.qdpx"
    write_qdpx(_sample_export(), path, "utf16")
    seeds = [path.read_bytes()]
    nvivo = REPO.parent / "shared" / "refi-qda" / "nvivo_project.qdpx"
    if nvivo.is_file():
        seeds.append(nvivo.read_bytes())
    return seeds


def _check_imported_tree(path: Path) -> None:
    from fieldnotes.codebook import Codebook
    from fieldnotes.exchange.imports import import_codebook

    report = import_codebook(path)
    # What import-codebook writes must be a codebook fieldnotes accepts as it is.
    import yaml

    Codebook.model_validate(yaml.safe_load(report.yaml_text))


@target(
    "qdc",
    seeds=lambda: [__import__("fieldnotes.exchange.refi", fromlist=["x"]).codebook_xml(_sample_export().codebook)],
)
def fuzz_qdc(data: bytes) -> None:
    """A REFI-QDA codebook file, imported as YAML."""
    _check_imported_tree(materialise(data, ".qdc"))


@target("qdpx", seeds=_qdpx_seed, max_len=64 * 1024)
def fuzz_qdpx(data: bytes) -> None:
    """A REFI-QDA project: the whole archive, or its project.qde inside a fixed archive."""
    from fieldnotes.exchange.refi_read import read_project, utf16_to_codepoints

    draw = Draw(data)
    if draw.flag():
        path = materialise(draw.rest(), ".qdpx")
    else:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("project.qde", draw.rest())
            archive.writestr("Sources/s.txt", "Han meeting 🙂 in Osaka.".encode())
        path = materialise(buffer.getvalue(), ".qdpx")
    project = read_project(path)
    for source in project.sources:
        check(source.text is not None or source.problem, "a source without text must say why")
        for selection in source.selections:
            if source.text is not None:
                offset = utf16_to_codepoints(source.text, max(selection.start, 0))
                check(0 <= offset <= len(source.text), "converted offset outside the text")
    _check_imported_tree(path)


@target("xlsx", seeds=lambda: [_xlsx_seed()], max_len=64 * 1024)
def fuzz_xlsx(data: bytes) -> None:
    """A reviewed spreadsheet, read as import-decisions reads it."""
    from fieldnotes.exchange.decisions import read_sheet

    for number, record in read_sheet(materialise(data, ".xlsx")):
        check(number >= 2 and isinstance(record, dict), "rows are numbered from 2 (after the header)")


def _xlsx_seed() -> bytes:
    from fieldnotes.exchange.tables import write_xlsx

    path = _scratch() / "seed.xlsx"
    write_xlsx(_sample_export(), path)
    return path.read_bytes()


# --- running ---------------------------------------------------------------------------


def signature(exc: BaseException) -> str:
    """Type and innermost fieldnotes frame: one file per distinct bug, not per input."""
    if isinstance(exc, InvariantError):  # the broken promise names the bug
        return "InvariantError-" + re.sub(r"[^a-z]+", "_", re.sub(r"\d+|'.*?'|\".*?\"", "", str(exc).lower()))[:60]
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/fieldnotes/" in f.filename] or frames
    place = f"{Path(ours[-1].filename).stem}.{ours[-1].name}:{ours[-1].lineno}" if ours else "?"
    return re.sub(r"[^A-Za-z0-9_.:-]", "_", f"{type(exc).__name__}-{place}")


def run_once(spec: Target, data: bytes) -> BaseException | None:
    """Run one input; return the unexpected exception, if any (FieldnotesError is expected)."""
    try:
        spec.func(data)
    except FieldnotesError:
        return None
    except Exception as exc:  # anything else is a bug this script exists to find
        return exc
    return None


def _child(spec: Target, args: argparse.Namespace) -> None:
    """Inside the fuzzing process: instrument, then hand the target to libFuzzer."""
    import atheris

    work = Path(args.work) / spec.name
    crashes = work / "crashes"
    crashes.mkdir(parents=True, exist_ok=True)
    with atheris.instrument_imports(include=list(spec.instrument)):
        # Import what the target uses under instrumentation by running every seed once.
        for seed in spec.seeds():
            run_once(spec, seed)

    def one_input(data: bytes) -> None:
        error = run_once(spec, data)
        if error is None:
            return
        if not args.keep_going:
            raise error
        name = signature(error)
        if not any(crashes.glob(f"{name}*")):
            digest = hashlib.sha1(data).hexdigest()[:10]
            (crashes / f"{name}-{digest}.bin").write_bytes(data)
            text = "".join(traceback.format_exception(error))
            (crashes / f"{name}-{digest}.txt").write_text(text, encoding="utf-8")
            print(f"\n=== new crash {name}\n{text}", file=sys.stderr, flush=True)

    atheris.Setup(args.libfuzzer, one_input)
    atheris.Fuzz()


@dataclass
class Outcome:
    target: str
    seconds: int
    executions: int
    crashes: list[str] = field(default_factory=list)
    exit_code: int = 0


def _dict_line(entry: bytes) -> str:
    """One entry of a libFuzzer dictionary: a quoted string, every byte escaped."""
    return '"' + "".join(f"\\x{b:02x}" for b in entry) + '"\n'


def _entries(dictionary: Sequence[bytes] | Callable[[], Sequence[bytes]]) -> Sequence[bytes]:
    return dictionary() if callable(dictionary) else dictionary


def _campaign(spec: Target, args: argparse.Namespace) -> Outcome:
    """Run one target in a child process for a fixed budget and read libFuzzer's counts."""
    work = Path(args.work) / spec.name
    corpus = work / "corpus"
    crashes = work / "crashes"
    corpus.mkdir(parents=True, exist_ok=True)
    crashes.mkdir(parents=True, exist_ok=True)
    for seed in spec.seeds():
        (corpus / f"seed-{hashlib.sha1(seed).hexdigest()[:12]}").write_bytes(seed)
    options = [
        str(corpus),
        f"-max_total_time={args.seconds}",
        f"-timeout={args.timeout}",
        f"-rss_limit_mb={args.rss_mb}",
        f"-max_len={spec.max_len}",
        f"-artifact_prefix={crashes}/",
        "-print_final_stats=1",
    ]
    if spec.dictionary:
        dictionary = work / "fuzz.dict"
        dictionary.write_text("".join(_dict_line(entry) for entry in _entries(spec.dictionary)), encoding="ascii")
        options.append(f"-dict={dictionary}")
    before = set(crashes.iterdir())
    log = work / "fuzz.log"
    command = [sys.executable, __file__, spec.name, "--child", "--work", args.work]
    command += ["--keep-going"] if args.keep_going else []
    started = time.monotonic()
    scratch = _new_scratch()  # libFuzzer ends the child with exit(): the parent cleans up after it
    try:
        with log.open("wb") as handle:
            process = subprocess.run(
                [*command, "--", *options],
                stdout=handle,
                stderr=subprocess.STDOUT,
                check=False,
                env={**os.environ, _SCRATCH_ENV: str(scratch)},
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    output = log.read_text(encoding="utf-8", errors="replace")
    done = re.findall(r"Done (\d+) runs in", output) or re.findall(r"stat::number_of_executed_units: (\d+)", output)
    executions = int(done[-1]) if done else 0
    new = sorted(p.name for p in set(crashes.iterdir()) - before if p.suffix != ".txt")
    return Outcome(spec.name, round(time.monotonic() - started), executions, new, process.returncode)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    libfuzzer: list[str] = []
    if "--" in argv:
        libfuzzer = argv[argv.index("--") + 1 :]
        argv = argv[: argv.index("--")]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", nargs="?", help="a target name (see --list)")
    parser.add_argument("--all", action="store_true", help="run every target, one after the other")
    parser.add_argument("--list", action="store_true", help="list the targets")
    parser.add_argument("--seconds", type=int, default=120, help="budget per target (default 120)")
    parser.add_argument("--timeout", type=int, default=20, help="seconds one input may take (default 20)")
    parser.add_argument("--rss-mb", type=int, default=3072, help="memory limit of the fuzzing process")
    parser.add_argument("--keep-going", action="store_true", help="save each distinct crash and go on fuzzing")
    parser.add_argument("--work", default=str(REPO / ".fuzz"), help="corpora, crashes and logs (default .fuzz/)")
    parser.add_argument("--replay", nargs="+", type=Path, help="run these inputs once (no atheris needed)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.libfuzzer = [sys.argv[0], *libfuzzer]
    if args.list:
        for spec in TARGETS.values():
            print(f"{spec.name:13} {spec.doc}")
        return 0
    if args.all == bool(args.target):
        parser.error("give one target or --all")
    if args.target and args.target not in TARGETS:
        parser.error(f"unknown target '{args.target}'; choose from {', '.join(TARGETS)}")
    if args.child:
        _child(TARGETS[args.target], args)
        return 0
    if args.replay:
        spec = TARGETS[args.target]
        failed = 0
        for path in args.replay:
            error = run_once(spec, path.read_bytes())
            print(f"{path}: {'ok' if error is None else signature(error)}")
            if error is not None:
                traceback.print_exception(error)
                failed += 1
        return 1 if failed else 0
    try:
        import atheris  # noqa: F401
    except ImportError:
        parser.error("atheris is not installed: pip install -e '.[fuzz]'")
    specs = list(TARGETS.values()) if args.all else [TARGETS[args.target]]
    outcomes = []
    for spec in specs:
        print(f"fuzzing {spec.name} for {args.seconds} s ...", flush=True)
        outcome = _campaign(spec, args)
        outcomes.append(outcome)
        state = f"{len(outcome.crashes)} new crash file(s)" if outcome.crashes else "no crash"
        if outcome.exit_code and not outcome.crashes:
            state = f"fuzzer exited with {outcome.exit_code}; see {Path(args.work) / spec.name / 'fuzz.log'}"
        print(f"  {spec.name}: {outcome.executions} executions in {outcome.seconds} s, {state}", flush=True)
        for name in outcome.crashes:
            print(f"    {Path(args.work) / spec.name / 'crashes' / name}")
    if args.json:
        args.json.write_text(json.dumps([vars(o) for o in outcomes], indent=2) + "\n", encoding="utf-8")
    return 1 if any(o.crashes or o.exit_code for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
