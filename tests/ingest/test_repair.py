"""Each repair kind on its own, and the promise that clean text passes unchanged."""

from collections import Counter

from conftest import common_words
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from fieldnotes.ingest.model import BlockKind, RawBlock, SourceDocument
from fieldnotes.ingest.repair import (
    HYPHENS,
    PARAGRAPHS,
    drop_page_artifacts,
    heading_level,
    join_letter_spacing,
    join_split_words,
    normalize_text,
    repair_document,
    unwrap_lines,
)


def source(blocks, fmt="pdf"):
    return SourceDocument(path=None, relpath="x", format=fmt, raw_hash="0", blocks=blocks)


def test_characters_are_normalised():
    damaged = "The \ufb01eld \u201cnotes\u201d \u2010 co\u00adoperative\u3000members\u00a0met \uff2e\uff41\uff47\uff4f\uff59\uff41"
    assert normalize_text(damaged) == 'The field "notes" - cooperative members met Nagoya'


def test_mojibake_is_fixed():
    assert normalize_text("caf\u00c3\u00a9 in Amagasaki") == "café in Amagasaki"


def test_hyphenation_at_line_ends_uses_word_frequencies():
    counts = Counter()
    text = unwrap_lines(["The com-", "munity in-", "formation on well-", "being and self-", "help."], counts)
    assert text == "The community information on well-being and self-help."
    assert counts[HYPHENS] == 2


def test_hyphenation_prefers_the_documents_own_spelling():
    vocabulary = Counter({"minami-odaka": 2})
    assert (
        unwrap_lines(["near Min-", "ami-Odaka station"], Counter(), vocabulary=vocabulary)
        == "near Minami-Odaka station"
    )


def test_list_lines_stay_on_their_own_lines():
    assert unwrap_lines(["Agenda:", "- budget", "- volunteers"], Counter()) == "Agenda:\n- budget\n- volunteers"


def test_japanese_lines_join_without_spaces():
    assert (
        unwrap_lines(["新居浜のサロンが", "一周年を迎えました。"], Counter()) == "新居浜のサロンが一周年を迎えました。"
    )


def test_split_words_are_joined(settings):
    text, joins = join_split_words(
        "the dif ferent staf f of the communi ty and im portant commu ni ty work", settings.repair
    )
    assert text == "the different staff of the community and important community work"
    assert joins == 5


def test_real_word_pairs_are_not_joined(settings):
    clean = "a part of ten per cent to get her Ms K ate the han leader in Minami Odaka since the 1950s and 3rd floor"
    assert join_split_words(clean, settings.repair) == (clean, 0)


def test_letter_spaced_runs_are_joined(settings):
    assert join_letter_spacing("results a r e  b a s e d  o n data", settings.repair)[0] == "results are based on data"
    assert join_letter_spacing("results a r e b a s e d o n data", settings.repair)[0] == "results are based on data"
    assert join_letter_spacing("C O N C L U S I O N", settings.repair)[0] == "CONCLUSION"
    assert join_letter_spacing("grades A B C D", settings.repair)[0] == "grades A B C D"


def test_page_numbers_and_running_headers_are_dropped():
    blocks = []
    for page in (1, 2, 3):
        blocks += [
            RawBlock(["Policy brief 2025/1"], page=page, at_page_edge=True),
            RawBlock([f"Body text of page {page} about the salon."], page=page),
            RawBlock([str(page)], page=page, at_page_edge=True),
        ]
    kept, dropped = drop_page_artifacts(blocks)
    assert dropped == 6
    assert [block.lines[0] for block in kept] == [f"Body text of page {p} about the salon." for p in (1, 2, 3)]


def test_heading_detection_from_layout(settings):
    segment = settings.segment
    assert heading_level(["Concluding remarks"], False, segment) == 2
    assert heading_level(["2.1 Han groups"], False, segment) == 3
    assert (
        heading_level(
            [
                "4. Niihama Health and Welfare Cooperative: care facilities, group homes",
                "and the place of neighbourhood associations in governance",
            ],
            False,
            segment,
        )
        == 2
    )
    assert heading_level(["The members met in the salon."], False, segment) is None
    assert heading_level(["In 2019 the members of the"], False, segment) is None
    assert heading_level(["the rest of a sentence"], False, segment) is None
    assert heading_level(["- a list item"], False, segment) is None


def test_paragraph_cut_by_a_page_break_is_rejoined(settings):
    blocks = [
        RawBlock(["The members of the cooperative decided to open a"], page=1),
        RawBlock(["12"], page=1),
        RawBlock(["day service in the old shop, because neighbours asked for it."], page=2),
        RawBlock(["A new paragraph starts here."], page=2),
    ]
    document = repair_document(source(blocks), settings.repair, settings.segment)
    assert [block.text for block in document.blocks] == [
        "The members of the cooperative decided to open a day service in the old shop, because neighbours asked for it.",
        "A new paragraph starts here.",
    ]
    assert document.repairs[PARAGRAPHS] == 1


def test_repaired_offsets_point_at_block_text(settings):
    blocks = [RawBlock(["Visit notes"]), RawBlock(["First para-", "graph here."]), RawBlock(["Second one."])]
    document = repair_document(source(blocks, "txt"), settings.repair, settings.segment)
    assert document.blocks[0].kind == BlockKind.HEADING
    for block in document.blocks:
        assert document.text[block.start : block.end] == block.text
    assert document.text == "Visit notes\n\nFirst paragraph here.\n\nSecond one."


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_clean_text_passes_unchanged(settings, data):
    """Repair never loses, changes or reorders the words of clean, well-formed text."""
    words = common_words()
    paragraphs = []
    for _ in range(data.draw(st.integers(1, 4))):
        sentence_words = data.draw(st.lists(st.sampled_from(words), min_size=3, max_size=30))
        paragraphs.append(sentence_words[0].capitalize() + " " + " ".join(sentence_words[1:]) + ".")
    blocks = [RawBlock([p]) for p in paragraphs]
    document = repair_document(source(blocks, "txt"), settings.repair, settings.segment)
    assert document.text.split() == "\n\n".join(paragraphs).split()


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(min_size=1, max_size=120), min_size=1, max_size=6))
def test_any_text_repairs_without_error_and_offsets_hold(settings, lines):
    document = repair_document(source([RawBlock(lines)], "txt"), settings.repair, settings.segment)
    for block in document.blocks:
        assert document.text[block.start : block.end] == block.text


# --- page furniture in documents that lost their pages (Markdown or text from a PDF) ------------


def _paragraph(n: int) -> RawBlock:
    return RawBlock(
        [
            f"The han meeting number {n} began with blood pressure checks and went on with a long talk about",
            "the visits that members make to neighbours who live alone in the estate.",
        ],
        BlockKind.PARAGRAPH,
    )


def test_running_heads_and_stray_glyph_lines_of_a_converted_pdf_are_dropped(settings):
    blocks = []
    for page in range(2, 8):
        head = (
            f"{page} T. Sato et al. / Journal of Community Care 12 (2020) 1-9"
            if page % 2 == 0
            else (f"T. Sato et al. / Journal of Community Care 12 (2020) 1-9 {page}")
        )
        blocks += [
            RawBlock([head], BlockKind.PARAGRAPH),
            RawBlock(["t"], BlockKind.PARAGRAPH),
            RawBlock(["www.community-care-journal.org Open Access"], BlockKind.PARAGRAPH),
            _paragraph(page),
        ]
    document = repair_document(source(blocks, "md"), settings.repair, settings.segment)
    assert "Sato" not in document.text and "Open Access" not in document.text
    assert "\n\nt\n\n" not in document.text
    assert all(f"meeting number {n} began" in document.text for n in range(2, 8))
    assert document.repairs["page numbers and running headers dropped"] == 18


def test_lines_that_recur_in_field_notes_are_kept(settings):
    """Repeated lines a researcher wrote (a pause marker, an attendance line with the same count,
    a heading per day) are not page furniture: nothing counts pages in them."""
    blocks = []
    for day in range(1, 5):
        blocks += [
            RawBlock([f"Day {day}"], BlockKind.HEADING, 2),
            RawBlock(["(Tape paused)"], BlockKind.PARAGRAPH),
            RawBlock(["Present: 5 members and the nurse"], BlockKind.PARAGRAPH),
            _paragraph(day),
        ]
    document = repair_document(source(blocks, "md"), settings.repair, settings.segment)
    assert document.text.count("(Tape paused)") == 4
    assert document.text.count("Present: 5 members and the nurse") == 4
    assert "page numbers and running headers dropped" not in document.repairs


def test_dashes_extracted_as_a_letter_are_restored_in_english_only(settings):
    english = [
        RawBlock([f"“We visit the old people every week” (Osaka Case Study e Volunteer {n})."], BlockKind.PARAGRAPH)
        for n in range(3)
    ] + [RawBlock(["a r t i c l e i n f o"], BlockKind.PARAGRAPH), _paragraph(1)]
    document = repair_document(source(english, "md"), settings.repair, settings.segment)
    assert document.text.count("Case Study \u2013 Volunteer") == 3 and " e " not in document.text
    assert "article info" in document.text  # a letter-spaced word keeps its e
    portuguese = [
        RawBlock([f"A saúde e o bem-estar das pessoas idosas e das famílias {n}."], BlockKind.PARAGRAPH)
        for n in range(4)
    ]
    document = repair_document(source(portuguese, "md"), settings.repair, settings.segment)
    assert document.text.count(" e ") == 8


def test_mixed_letter_spacing_and_split_words_are_read_as_words(settings):
    """A PDF extract where letter spacing and split words mix in one run, as real articles do."""
    damaged = (
        "The cooperative also r un s t he on l y ca f é and r es ta u ra n t a t i t s c l in i c. "
        "Members use the fac i l i t ies of d i f ferent clinics in the loca l communi ty and its ser vices."
    )
    fixed, joins = join_split_words(damaged, settings.repair)
    assert fixed == (
        "The cooperative also runs the only café and restaurant at its clinic. "
        "Members use the facilities of different clinics in the local community and its services."
    )
    assert joins == 13


def test_pairs_of_whole_words_stay_apart(settings):
    text = "Some times we can not go any one way, so we be come a part of ten groups in to the town."
    assert join_split_words(text, settings.repair) == (text, 0)
