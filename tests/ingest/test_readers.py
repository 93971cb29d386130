"""Each format is read into blocks; each kind of bad file gives a clear DocumentError."""

from pathlib import Path

import pytest
from conftest import make_docx, make_pdf

from fieldnotes.errors import DocumentError
from fieldnotes.ingest.encoding import decode_text
from fieldnotes.ingest.model import BlockKind
from fieldnotes.ingest.readers import read_document

JAPANESE = "新居浜のサロンが一周年を迎えました。ボランティアを募集しています。"


def texts(document):
    return [" ".join(block.lines) for block in document.blocks]


# --- encodings ----------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "cp932", "euc_jp"])
def test_japanese_text_decodes_in_common_encodings(encoding):
    text, found = decode_text(((JAPANESE + "\n") * 3).encode(encoding), "x.txt")
    assert text.strip().startswith("新居浜のサロン")
    assert found


def test_utf16_without_bom_is_recognised():
    text, found = decode_text("Nagoya han meeting notes\n".encode("utf-16-le"), "x.txt")
    assert text.startswith("Nagoya han meeting") and found == "utf-16-le"


def test_latin1_text_is_decoded():
    text, _ = decode_text("Café in Amagasaki, naïve résumé of the meeting.".encode("latin-1"), "x.txt")
    assert "Café" in text


def _garbled_bytes() -> bytes:
    import random

    generator = random.Random(1)
    return bytes(generator.randrange(128, 256) for _ in range(3000))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (_garbled_bytes(), "cannot tell the text encoding"),
        (bytes(range(256)) * 20, "binary file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200), "binary file"),
    ],
)
def test_undecodable_input_is_refused(data, reason):
    with pytest.raises(DocumentError, match=reason):
        decode_text(data, "bad.txt")


# --- formats ------------------------------------------------------------------


def test_plain_text_blocks_and_setext_headings(tmp_path):
    path = tmp_path / "note.txt"
    path.write_text("Visit notes\n===========\n\nFirst line of a\nwrapped paragraph.\n\n\nSecond.\n", encoding="utf-8")
    document = read_document(path, "note.txt")
    assert document.format == "txt" and document.encoding == "utf-8"
    assert document.blocks[0].kind == BlockKind.HEADING and document.blocks[0].level == 1
    assert document.blocks[1].lines == ["First line of a", "wrapped paragraph."]
    assert texts(document)[-1] == "Second."


def test_markdown_front_matter_headings_lists_tables(tmp_path):
    path = tmp_path / "leaflet.md"
    path.write_text(
        "---\ntitle: Day service\nsite: nagoya\n---\n\n# Day service\n\nOpen *to all* [residents](http://x).\n\n"
        "## Programme\n\n- Monday: exercise\n- Tuesday: lunch\n\n| Day | Activity |\n|---|---|\n| Mon | Tea |\n\n"
        "**Osaka**\n\n<!-- a comment -->\n",
        encoding="utf-8",
    )
    document = read_document(path, "leaflet.md")
    assert document.metadata == {"title": "Day service", "site": "nagoya"}
    kinds = [(block.kind, block.level) for block in document.blocks]
    assert kinds[:4] == [
        (BlockKind.HEADING, 1),
        (BlockKind.PARAGRAPH, None),
        (BlockKind.HEADING, 2),
        (BlockKind.LIST, None),
    ]
    assert texts(document)[1] == "Open to all residents."
    assert document.blocks[3].lines == ["- Monday: exercise", "- Tuesday: lunch"]
    assert document.blocks[4].kind == BlockKind.TABLE and document.blocks[4].lines == ["Day | Activity", "Mon | Tea"]
    assert document.blocks[5].looks_like_heading  # a paragraph that is all bold
    assert "comment" not in " ".join(texts(document))


def test_markdown_with_broken_front_matter_is_read_with_a_note(tmp_path):
    path = tmp_path / "bad.md"
    path.write_text("---\ntitle: [unclosed\n---\n\nBody text here.\n", encoding="utf-8")
    document = read_document(path, "bad.md")
    assert document.notes and "not valid YAML" in document.notes[0]
    assert "Body text here." in " ".join(texts(document))


def test_docx_headings_lists_and_tables(tmp_path):
    path = make_docx(
        tmp_path / "report.docx",
        [
            ("Title", "Staff report"),
            ("Heading 1", "Aichi: Minami hospital"),
            ("", "Nurses described heavy workloads."),
            ("List Bullet", "more staff"),
            ("List Bullet", "fewer meetings"),
            ("table", "Site | Score; Nagoya | 2.9"),
        ],
    )
    document = read_document(path, "report.docx")
    assert document.format == "docx"
    assert [(b.kind, b.level) for b in document.blocks][:3] == [
        (BlockKind.HEADING, 0),
        (BlockKind.HEADING, 1),
        (BlockKind.PARAGRAPH, None),
    ]
    assert document.blocks[3].kind == BlockKind.LIST and document.blocks[3].lines == [
        "- more staff",
        "- fewer meetings",
    ]
    assert document.blocks[4].kind == BlockKind.TABLE and document.blocks[4].lines == ["Site | Score", "Nagoya | 2.9"]


def test_pdf_two_columns_pages_and_bold_headings(tmp_path):
    body = [f"Paragraph {i} tells how the members of the cooperative organised the salon together." for i in range(120)]
    path = make_pdf(tmp_path / "brief.pdf", body, columns=2, heading="Niihama salon", pages_header="Policy brief")
    document = read_document(path, "brief.pdf")
    assert document.format == "pdf"
    assert document.blocks[0].lines == ["Policy brief"]  # the running header, read first
    assert document.blocks[1].lines == ["Niihama salon"] and document.blocks[1].looks_like_heading
    pages = {block.page for block in document.blocks}
    assert len(pages) >= 2
    joined = " ".join(texts(document))
    assert joined.index("Paragraph 1 ") < joined.index("Paragraph 30 ")
    assert not [block for block in document.blocks if block.kind == BlockKind.TABLE]  # prose side by side


def _pdf_with_table(path: Path, rows: list[list[str]], before: str, after: str) -> Path:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Table

    styles = getSampleStyleSheet()
    cells = [[Paragraph(cell, styles["BodyText"]) for cell in row] for row in rows]
    story = [
        Paragraph(before, styles["BodyText"]),
        Table(cells, colWidths=[170, 140, 140]),
        Paragraph(after, styles["BodyText"]),
    ]
    SimpleDocTemplate(str(path), pagesize=A4).build(story)
    return path


def test_pdf_table_is_kept_as_rows_of_cells_in_reading_order(tmp_path):
    rows = [
        ["Site", "Members", "Han groups"],
        ["Nagoya south district cooperative, including the two branch clinics", "12,400", "310"],
        ["Osaka", "8,900", "205"],
        ["Niihama", "5,100", "96"],
    ]
    before = "The cooperatives differ in size, as the membership figures of the last annual reports show."
    after = "Han groups meet once a month in a member's home or the community hall."
    path = _pdf_with_table(tmp_path / "figures.pdf", rows, before, after)
    document = read_document(path, "figures.pdf")
    (table,) = [block for block in document.blocks if block.kind == BlockKind.TABLE]
    # One line per row, cells in column order; a cell that wraps over two lines stays in its row.
    assert table.lines == [" | ".join(row) for row in rows]
    order = texts(document)
    assert order.index(before) < order.index(" ".join(table.lines)) < order.index(after)
    assert not table.looks_like_heading


def test_pdf_table_rows_ignore_empty_boxes_and_prose_is_left_alone():
    from types import SimpleNamespace

    from fieldnotes.ingest.readers.pdf import PageTable, find_tables

    class Box(SimpleNamespace):
        """What find_tables reads of a pdfminer text box: its edges, its text, its lines."""

        def __iter__(self):
            return iter(())

    def cell(x0, y0, x1, y1, text):
        return Box(x0=x0, y0=y0, x1=x1, y1=y1, height=y1 - y0, get_text=lambda text=text: text)

    agenda = [
        cell(24, 700, 108, 718, "1 | Context"),
        cell(168, 700, 500, 718, "- Why we meet"),
        cell(24, 650, 132, 668, "2 | Objectives"),
        cell(168, 650, 560, 668, "- What we want"),
        cell(24, 600, 146, 618, "3 | Participants"),
        cell(168, 580, 490, 618, "- Who is here / Consent forms"),
        cell(24, 580, 142, 598, ""),  # an empty box under a cell, as a slide template leaves
    ]
    (table,) = [part for part in find_tables(agenda, 842) if isinstance(part, PageTable)]
    assert table.rows == [
        "1 | Context | - Why we meet",
        "2 | Objectives | - What we want",
        "3 | Participants | - Who is here / Consent forms",
    ]
    long = "Members of the han meet every month in a member's home to talk about health, " * 2
    prose = [cell(40, 700 - 60 * i, 290, 750 - 60 * i, long) for i in range(4)]
    prose += [cell(310, 700 - 60 * i, 560, 750 - 60 * i, long) for i in range(4)]
    assert find_tables(prose, 842) == prose  # two columns of prose are not a table


def test_html_skips_scripts_and_reads_headings_and_meta(tmp_path):
    path = tmp_path / "about.html"
    path.write_text(
        '<!DOCTYPE html><html><head><meta charset="utf-8"><meta name="site" content="osaka">'
        "<title>About us</title><script>var tracker = 1;</script></head><body><nav><a>Home</a></nav>"
        "<h1>Hanshin cooperative</h1><p>We run small <b>clinics</b> in Amagasaki.</p><ul><li>Open to all</li></ul>"
        "</body></html>",
        encoding="utf-8",
    )
    document = read_document(path, "about.html")
    assert document.metadata["site"] == "osaka" and document.metadata["title"] == "About us"
    joined = texts(document)
    assert "tracker" not in " ".join(joined)
    assert "We run small clinics in Amagasaki." in joined
    assert any(block.kind == BlockKind.HEADING and block.level == 1 for block in document.blocks)


# --- bad files ----------------------------------------------------------------


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.txt", b"", "empty file"),
        ("blank.md", b"  \n\n ", "only white space"),
        ("image.txt", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, "binary file"),
        ("fake.pdf", b"this is not a pdf at all", "not a PDF file"),
        ("truncated.pdf", b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog", "PDF"),
        ("fake.docx", b"PK\x03\x04 broken zip", "not a valid Word file"),
        ("plain.docx", b"just some text", "not a valid Word file"),
    ],
)
def test_bad_files_raise_a_clear_error_naming_the_file(tmp_path, name, data, reason):
    path = _write(tmp_path, name, data)
    with pytest.raises(DocumentError, match=reason) as error:
        read_document(path, f"sub/{name}")
    assert str(error.value).startswith(f"sub/{name}: ")


def test_encrypted_pdf_asks_for_an_unprotected_copy(tmp_path):
    path = make_pdf(tmp_path / "locked.pdf", ["Confidential minutes."], user_password="secret")
    with pytest.raises(DocumentError, match="needs a password"):
        read_document(path, "locked.pdf")


def test_half_a_pdf_is_refused(tmp_path):
    whole = make_pdf(tmp_path / "whole.pdf", ["Members met in the salon."] * 20).read_bytes()
    path = _write(tmp_path, "half.pdf", whole[: len(whole) // 2])
    with pytest.raises(DocumentError, match=r"PDF|no extractable text"):
        read_document(path, "half.pdf")


def test_zip_bomb_docx_is_refused(tmp_path):
    import zipfile

    path = tmp_path / "bomb.docx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", b"\0" * (600 * 1024 * 1024 // 8))
        for i in range(8):
            archive.writestr(f"word/media/pad{i}.bin", b"\0" * (80 * 1024 * 1024))
    with pytest.raises(DocumentError, match="zip bomb"):
        read_document(path, "bomb.docx")


# --- web pages: body and boilerplate ------------------------------------------------------------

WEB_PAGE = Path(__file__).parents[1] / "data" / "web" / "case-page.html"
WEB_BODY = (
    "Evening surgery at the Minami clinic",
    "Members of the cooperative in Nagoya asked for evening surgery hours",
    "How the decision was made",
    "Nurses proposed a rota that kept every shift under nine hours",
    "The first evening surgery opened in April.",
    "A volunteer at reception who knows the neighbourhood",
    "who can ask questions about medicines and care at home.",
)
WEB_BOILERPLATE = (
    "Jump to the content",
    "Terms of use",
    "Facebook",
    "Tags:",
    "Share this case",
    "Cookie settings",
    "© 2024 Casebook",
    "A salon for older people in Osaka",
)


def _cleaned(path: Path, **repair: bool) -> tuple[str, dict[str, int]]:
    from fieldnotes.ingest.repair import repair_document
    from fieldnotes.settings import Settings

    settings = Settings()
    document = repair_document(
        read_document(path, path.name), settings.repair.model_copy(update=repair), settings.segment
    )
    return document.text, document.repairs


def test_web_page_keeps_its_body_and_leaves_out_menus_share_links_and_footer():
    text, repairs = _cleaned(WEB_PAGE)
    for part in WEB_BODY:
        assert part in text
    for part in WEB_BOILERPLATE:
        assert part not in text
    # The related-cases box names Osaka and Niihama: gone with the boilerplate, it cannot
    # make the page look as if it were about those sites.
    assert "Osaka" not in text and "Niihama" not in text
    assert repairs["web-page boilerplate blocks dropped"] >= len(WEB_BOILERPLATE)


def test_web_page_boilerplate_kept_when_the_setting_is_off():
    text, repairs = _cleaned(WEB_PAGE, drop_boilerplate=False)
    assert all(part in text for part in WEB_BOILERPLATE)
    assert "web-page boilerplate blocks dropped" not in repairs


def test_plain_page_without_a_template_loses_nothing(tmp_path):
    path = tmp_path / "note.html"
    path.write_text(
        "<html><body><h2>Han meeting</h2><p>Tea at ten.</p><p>Blood pressure for six people.</p>"
        "<ul><li>Ask about the bus</li></ul></body></html>",
        encoding="utf-8",
    )
    text, repairs = _cleaned(path)
    for part in ("Han meeting", "Tea at ten.", "Blood pressure for six people.", "Ask about the bus"):
        assert part in text
    assert "web-page boilerplate blocks dropped" not in repairs


def test_prose_is_never_marked_even_when_the_main_text_finder_misses_it():
    from fieldnotes.ingest.model import RawBlock
    from fieldnotes.ingest.readers.boilerplate import mark_boilerplate

    prose = " ".join(["The members met in the hall and talked about the visits."] * 4)
    blocks = [RawBlock(["Home"]), RawBlock([prose]), RawBlock(["Share"])]
    # The finder returned only the menu: it failed on this page, so nothing is marked.
    assert mark_boilerplate(blocks, "Home Share", [1.0, 0.0, 1.0]) == 0
    assert not any(block.boilerplate for block in blocks)
    # The finder holds the prose but not the share link: only the link goes.
    blocks = [RawBlock(["Home"]), RawBlock([prose]), RawBlock(["Share"])]
    assert mark_boilerplate(blocks, "Home " + prose, [1.0, 0.0, 1.0]) == 1
    assert [block.boilerplate for block in blocks] == [False, False, True]


def test_numbered_section_lines_of_a_converted_paper_are_headings(tmp_path):
    """A PDF converted to Markdown keeps "1. Introduction" as a plain line, which Markdown reads
    as a one-item list: numbered like that through the document, they are its section headings."""
    path = tmp_path / "paper.md"
    path.write_text(
        "# A study\n\n1. Introduction\n\nHan groups meet monthly.\n\n2. Methods\n\nWe observed meetings.\n\n"
        "- a bullet stays a list\n\n3. Findings\n\nMembers decide.\n",
        encoding="utf-8",
    )
    document = read_document(path, "paper.md")
    headings = [" ".join(b.lines) for b in document.blocks if b.kind == BlockKind.HEADING]
    assert headings == ["A study", "1. Introduction", "2. Methods", "3. Findings"]
    # A numbered line alone in a note is not a heading: nothing numbers on from it.
    note = tmp_path / "note.md"
    note.write_text("Tea at ten.\n\n1. Ask about the bus\n", encoding="utf-8")
    assert all(b.kind != BlockKind.HEADING for b in read_document(note, "note.md").blocks)


def test_japanese_prose_and_the_page_title_are_never_boilerplate():
    """Japanese has no spaces between words: a long paragraph is still prose. And the page's first
    top-level heading is its title, which a main-text finder reports apart and leaves out."""
    from fieldnotes.ingest.model import RawBlock
    from fieldnotes.ingest.readers.boilerplate import mark_boilerplate

    paragraph = "組合員は毎月の班会で血圧を測り、近所の一人暮らしの高齢者を見守る活動について話し合いました。" * 2
    english = " ".join(["The members met in the hall and talked about the visits."] * 4)
    blocks = [
        RawBlock(["農民自治の理論と実際"], BlockKind.HEADING, 1),
        RawBlock([english]),
        RawBlock([paragraph]),
        RawBlock(["底本：青空文庫"]),
    ]
    assert mark_boilerplate(blocks, english, [0.0] * 4) == 1
    assert [block.boilerplate for block in blocks] == [False, False, False, True]
