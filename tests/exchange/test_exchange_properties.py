"""Property tests for the importers: any bytes, any code tree, any spreadsheet cell give either
a result or fieldnotes' own clear error, never a crash."""

from __future__ import annotations

import contextlib
import io
import zipfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fieldnotes.codebook import Codebook
from fieldnotes.errors import FieldnotesError
from fieldnotes.exchange.imports import codebook_from_tree, locate, slug
from fieldnotes.exchange.refi import Utf16Offsets
from fieldnotes.exchange.refi_read import RefiCode, read_codebook, read_project, utf16_to_codepoints

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

names = st.text(min_size=0, max_size=30)
trees = st.recursive(
    st.builds(lambda n, d: RefiCode("g", n, d, True, []), names, names),
    lambda kids: st.builds(
        lambda n, codable, c: RefiCode("g", n, "", codable, c),
        names,
        st.booleans(),
        st.lists(kids, min_size=1, max_size=4),
    ),
    max_leaves=25,
)


@FAST
@given(st.lists(trees, min_size=1, max_size=4))
def test_any_code_tree_becomes_a_valid_codebook(tree):
    data, report = codebook_from_tree(tree, "imported", "Imported", "a tool")
    book = Codebook.model_validate(data)
    # Leaves, and parents that are codable too (they may carry codings), become codes.
    codable = [node for root in tree for node in root.walk() if not node.children or node.codable]
    assert len(book.codes) == len(codable) == report.codes
    assert len({c.id for c in book.codes} | {g.id for g in book.groups}) == len(book.codes) + len(book.groups)


@FAST
@given(names)
def test_slug_is_always_a_valid_id(name):
    Codebook.model_validate(
        {
            "id": slug(name),
            "name": "x",
            "version": "1",
            "codes": [{"id": slug(name), "name": "x", "definition": "ten letters at least", "patterns": ["x"]}],
        }
    )


@FAST
@given(st.binary(max_size=2000))
def test_any_bytes_as_a_codebook_file(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("qdc") / "x.qdc"
    path.write_bytes(data)
    with contextlib.suppress(FieldnotesError):
        read_codebook(path)


xml_fragments = st.sampled_from(
    [
        b"<Project name='p'>",
        b"<CodeBook><Codes>",
        b"<Code guid='a' name='n' isCodable='true'>",
        b"</Code>",
        b"</Codes></CodeBook>",
        b"<Sources><TextSource guid='s' name='a' plainTextPath='internal://s.txt'>",
        b"<PlainTextSelection guid='x' startPosition='3' endPosition='1'><Coding guid='c'><CodeRef targetGUID='a'/>",
        b"</Coding></PlainTextSelection>",
        b"</TextSource></Sources>",
        b"<Users><User guid='u'/></Users>",
        b"</Project>",
        b"<!DOCTYPE x [<!ENTITY e 'e'>]>",
        b"&e;",
        b"\xff\xfe",
        b"<PlainTextContent>text</PlainTextContent>",
    ]
)


@FAST
@given(st.lists(xml_fragments, max_size=12), st.binary(max_size=50))
def test_any_project_archive(tmp_path_factory, fragments, source):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("project.qde", b"".join(fragments))
        archive.writestr("Sources/s.txt", source)
    path = tmp_path_factory.mktemp("qdpx") / "p.qdpx"
    path.write_bytes(buffer.getvalue())
    try:
        project = read_project(path)
    except FieldnotesError:
        return
    for item in project.sources:
        assert item.text is not None or item.problem


@FAST
@given(st.text(max_size=200), st.integers(0, 300), st.floats(0, 1))
def test_locate_returns_a_span_of_the_same_words(text, cut, hint):
    wanted = text[cut : cut + 40]
    span = locate(text, wanted, hint)
    if span is not None:
        assert text[span[0] : span[1]].split() == wanted.split()
    elif wanted.strip():
        raise AssertionError("text that is in the document must be found")


@FAST
@given(st.text(max_size=100))
def test_utf16_offsets_round_trip(text):
    forward = Utf16Offsets(text)
    for offset in range(len(text) + 1):
        assert utf16_to_codepoints(text, forward(offset)) == offset
        assert forward(offset) == len(text[:offset].encode("utf-16-le")) // 2
