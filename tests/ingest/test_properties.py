"""Properties of each ingestion stage and of codebook loading, over generated inputs (hypothesis).

The same invariants as the fuzz targets in scripts/fuzz.py (shared through check_offsets and
check_sites): no exception but fieldnotes' own, offsets that point at their text, words kept.
Repair's "clean text passes unchanged" on unwrapped paragraphs is in test_repair.py.
"""

from __future__ import annotations

import codecs

import pytest
import yaml
from conftest import DATA, common_words, load_fuzz
from hypothesis import HealthCheck, assume, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from fieldnotes.codebook import CodebookError, load_codebook
from fieldnotes.errors import DocumentError
from fieldnotes.ingest.encoding import decode_text
from fieldnotes.ingest.model import BlockKind, CleanBlock, CleanDocument, RawBlock, SourceDocument
from fieldnotes.ingest.readers import split_blocks
from fieldnotes.ingest.repair import repair_document
from fieldnotes.ingest.segment import segment_document

fuzz = load_fuzz()
SLOW = hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FAST = hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text as researchers' files hold it: any printable character (controls excluded; the decoder
# refuses files full of them), with line breaks.
PRINTABLE = st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\ufeff") | st.sampled_from("\n\t")
TEXT = st.text(PRINTABLE, min_size=1, max_size=400)


def source(blocks: list[RawBlock], fmt: str = "txt") -> SourceDocument:
    return SourceDocument(path=None, relpath="x", format=fmt, raw_hash="0", blocks=blocks)


# --- encoding ---------------------------------------------------------------------------------


@FAST
@given(TEXT)
def test_utf8_text_decodes_to_itself(text):
    assume(text.strip())
    assert decode_text(text.encode("utf-8"), "x.txt") == (text, "utf-8")


@FAST
@given(TEXT, st.sampled_from(["utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32"]))
def test_text_with_a_byte_order_mark_decodes_to_itself(text, encoding):
    bom = {"utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE}.get(encoding, b"")
    decoded, _ = decode_text(bom + text.encode(encoding), "x.txt")
    assert decoded == text


@FAST
@given(st.binary(max_size=2000))
def test_any_bytes_decode_or_are_refused_with_the_file_named(data):
    try:
        text, encoding = decode_text(data, "notes/x.txt")
    except DocumentError as error:
        assert str(error).startswith("notes/x.txt: ")
    else:
        assert isinstance(text, str) and encoding


# --- reading and the whole chain ------------------------------------------------------------------

SITE_WORDS = ["Nagoya", "Osaka", "Niihama", "Amagasaki", "名古屋", "新居浜", "Minami-Odaka", "Ehime"]
WORDS = st.sampled_from(common_words()) | st.sampled_from(SITE_WORDS) | st.text(PRINTABLE, min_size=1, max_size=8)
LINE = st.lists(WORDS, min_size=1, max_size=14).map(" ".join)
MARKERS = st.sampled_from(["", "", "", "# ", "## ", "- ", "1. ", "> ", "Nagoya: ", "Page 3", "שלום ", "مرحبا "])
DOCUMENT = st.lists(st.tuples(MARKERS, LINE, st.sampled_from(["\n", "\n\n", "\n\n", "-\n", "\f"])), max_size=12).map(
    lambda parts: "".join(marker + line + end for marker, line, end in parts)
)


@SLOW
@given(DOCUMENT, st.sampled_from([".txt", ".md", ".html"]))
def test_any_document_is_read_with_offsets_and_sites_that_hold(text, suffix):
    if suffix == ".html":
        text = "<html><body>" + "".join(f"<p>{line}</p>" for line in text.split("\n\n")) + "</body></html>"
    try:
        fuzz.read_and_process(fuzz.materialise(text.encode("utf-8"), suffix), f"notes/x{suffix}")
    except DocumentError as error:
        assert str(error).startswith(f"notes/x{suffix}: ")


@FAST
@given(TEXT)
def test_plain_text_blocks_keep_every_word_in_order(text):
    blocks = split_blocks(text)
    words = [word for block in blocks for line in block.lines for word in line.split()]
    kept = [word for line in text.split("\n") for word in line.split() if not set(word) <= set("=-")]
    assert [w for w in words if not set(w) <= set("=-")] == kept


# --- repair -------------------------------------------------------------------------------------


@st.composite
def wrapped_prose(draw) -> list[list[str]]:
    """Paragraphs of clean prose wrapped at a drawn width, as an editor or a PDF lays them out."""
    words = common_words()
    paragraphs = []
    for _ in range(draw(st.integers(1, 3))):
        chosen = draw(st.lists(st.sampled_from(words), min_size=3, max_size=40))
        # Consecutive single letters ("a i a") are letter spacing, not prose.
        chosen = [w for i, w in enumerate(chosen) if not (len(w) == 1 and i and len(chosen[i - 1]) == 1)]
        body = chosen[0].capitalize() + " " + " ".join(chosen[1:]) + "."
        width = draw(st.integers(20, 100))
        lines, line = [], ""
        for word in body.split():
            if line and len(line) + 1 + len(word) > width:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}" if line else word
        paragraphs.append([*lines, line])
    return paragraphs


@SLOW
@given(wrapped_prose(), st.sampled_from(["txt", "pdf"]))
def test_repair_keeps_the_words_of_wrapped_clean_prose(settings, paragraphs, fmt):
    document = repair_document(
        source([RawBlock(lines) for lines in paragraphs], fmt), settings.repair, settings.segment
    )
    assert document.text.split() == [word for lines in paragraphs for line in lines for word in line.split()]


# --- segmentation ---------------------------------------------------------------------------------


def cleaned(paragraphs: list[str]) -> CleanDocument:
    blocks, offset = [], 0
    for text in paragraphs:
        blocks.append(CleanBlock(text, BlockKind.PARAGRAPH, None, offset, offset + len(text)))
        offset += len(text) + 2
    return CleanDocument(source([]), "\n\n".join(paragraphs), blocks, {})


PARAGRAPH = st.lists(LINE.map(lambda s: s.strip() + "."), min_size=1, max_size=8).map(" ".join)


@SLOW
@given(st.lists(PARAGRAPH, min_size=1, max_size=6), st.integers(0, 60), st.integers(200, 600))
def test_passages_cover_the_paragraphs_with_offsets_that_hold(settings, paragraphs, low, high):
    paragraphs = [p.strip() for p in paragraphs if p.strip()]
    assume(paragraphs)
    document = cleaned(paragraphs)
    segment = settings.segment.model_copy(update={"min_passage_chars": low, "max_passage_chars": high})
    passages = segment_document(document, segment, fuzz._splitters())
    fuzz.check_offsets(document, passages)
    assert "".join("".join(p.text.split()) for p in passages) == "".join("".join(paragraphs).split())


@SLOW
@given(st.lists(PARAGRAPH, min_size=2, max_size=5, unique=True), PARAGRAPH)
def test_passage_ids_survive_a_paragraph_inserted_before_them(settings, paragraphs, inserted):
    paragraphs = [p.strip() for p in paragraphs]
    assume(all(25 <= len(p) <= 1500 for p in [*paragraphs, inserted.strip()]))
    assume(len(set(paragraphs)) == len(paragraphs) and inserted.strip() not in paragraphs)
    before = segment_document(cleaned(paragraphs), settings.segment, fuzz._splitters())
    after = segment_document(cleaned([inserted.strip(), *paragraphs]), settings.segment, fuzz._splitters())
    assert {p.passage_id for p in before} <= {p.passage_id for p in after}
    assert len({p.passage_id for p in after}) == len(after)


# --- sites ----------------------------------------------------------------------------------------

SITES = {"nagoya": "Nagoya", "osaka": "Osaka", "niihama": "Niihama"}
NEUTRAL = st.lists(st.sampled_from([w for w in common_words() if len(w) > 3][:500]), min_size=6, max_size=20).map(
    lambda ws: ws[0].capitalize() + " " + " ".join(ws[1:]) + "."
)


@SLOW
@given(
    st.lists(
        st.tuples(
            st.sampled_from([*SITES, None]),
            st.lists(st.tuples(NEUTRAL, st.sampled_from([*SITES.values(), None])), min_size=1, max_size=3),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_every_passage_takes_the_site_of_its_section(sections):
    """Markdown sections under headings that name one site (or none); a passage that mentions
    another site in passing stays in its section's site."""
    text, expected = "", []
    assume(any(site for site, _ in sections))
    for site, paragraphs in sections:
        text += f"# {SITES[site]} visit\n\n" if site else "# Further observations\n\n"
        for sentence, mention in paragraphs:
            text += sentence + (f" Unlike in {mention}, it was quiet." if mention else "") + "\n\n"
            expected.append(site or "general")
    path = fuzz.materialise(text.encode("utf-8"), ".md")
    from fieldnotes.ingest.readers import read_document
    from fieldnotes.ingest.run import process_document

    _, passages, _ = process_document(read_document(path, "x.md"), fuzz._settings(), fuzz._matcher(), fuzz._splitters())
    fuzz.check_sites(passages)
    assert [p.site for p in passages] == expected


# --- codebooks ----------------------------------------------------------------------------------

SCALAR = st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=False) | st.text(max_size=30)
VALUE = st.recursive(
    SCALAR,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
CODE = st.fixed_dictionaries(
    {"id": st.sampled_from(["mutual-help", "a", "Bad Id", "x-1"]), "name": VALUE},
    optional={
        "definition": st.text(max_size=60) | VALUE,
        "examples": st.lists(st.text(max_size=40), max_size=3) | VALUE,
        "patterns": st.lists(
            st.text(max_size=12)
            | st.fixed_dictionaries({"regex": st.text(max_size=12)})
            | st.fixed_dictionaries(
                {
                    "tokens": st.lists(
                        st.dictionaries(st.sampled_from(["LOWER", "OP", "FOO"]), VALUE, max_size=2), max_size=2
                    )
                }
            ),
            max_size=3,
        ),
        "threshold": VALUE,
        "parent": VALUE,
        "unknown": VALUE,
    },
)
BOOK = st.fixed_dictionaries(
    {"id": VALUE, "name": VALUE, "version": VALUE, "codes": st.lists(CODE, max_size=3) | VALUE},
    optional={"groups": VALUE, "reference": st.sampled_from(["mini-reference.csv", "../../etc/passwd", ""])},
)


@pytest.fixture(scope="module")
def book_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("books")
    (folder / "mini-reference.csv").write_bytes((DATA / "codebooks" / "mini-reference.csv").read_bytes())
    return folder


@SLOW
@given(BOOK)
def test_any_codebook_loads_or_is_refused_with_a_message(book_folder, book):
    path = book_folder / "book.yaml"
    path.write_text(yaml.safe_dump(book, allow_unicode=True), encoding="utf-8")
    try:
        loaded = load_codebook(path)
    except CodebookError as error:
        assert str(path) in str(error) or str(error).startswith("invalid codebook")
    else:
        assert loaded.codebook.codes and all(code.definition for code in loaded.codebook.codes)
