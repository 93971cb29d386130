"""Passages and sentences: offsets, sizes, languages and stable identities."""

from pathlib import Path

from fieldnotes.ingest.model import RawBlock, SourceDocument
from fieldnotes.ingest.repair import repair_document
from fieldnotes.ingest.segment import (
    JapaneseSentenceSplitter,
    SpacySentenceSplitter,
    default_splitters,
    detect_language,
    segment_document,
)


def segment(settings, paragraphs, relpath="notes/visit.txt", segment_settings=None):
    source = SourceDocument(Path(relpath), relpath, "txt", "0", [RawBlock([p]) for p in paragraphs])
    cleaned = repair_document(source, settings.repair, settings.segment)
    return cleaned, segment_document(cleaned, segment_settings or settings.segment, default_splitters())


def test_sentences_and_quotes(settings):
    splitter = SpacySentenceSplitter()
    text = 'Dr. Sato met us at 9 a.m. at the station. "Is this co-production?" she asked. Yes.'
    spans = splitter.split([text])[0]
    assert [text[s:e] for s, e in spans] == [
        "Dr. Sato met us at 9 a.m. at the station.",
        '"Is this co-production?" she asked.',
        "Yes.",
    ]


def test_japanese_sentences():
    text = "サロンが一周年を迎えました。「元気が出る」という声もあります！ボランティア募集中"
    spans = JapaneseSentenceSplitter().split([text])[0]
    assert [text[s:e] for s, e in spans] == [
        "サロンが一周年を迎えました。",
        "「元気が出る」という声もあります！",
        "ボランティア募集中",
    ]
    assert detect_language(text) == "ja" and detect_language("Minami han meeting") == "en"


def test_passages_carry_document_offsets(settings):
    cleaned, passages = segment(
        settings,
        ["Visit to the clinic", "The clinic is small. Nurses plan their own rota.", "We left at five in the rain."],
    )
    assert [p.text for p in passages] == [
        "The clinic is small. Nurses plan their own rota.",
        "We left at five in the rain.",
    ]
    for passage in passages:
        assert cleaned.text[passage.start : passage.end] == passage.text
        assert passage.section == "Visit to the clinic"
        for start, end in passage.sentences:
            assert passage.start <= start < end <= passage.end
    assert [cleaned.text[s:e] for s, e in passages[0].sentences] == [
        "The clinic is small.",
        "Nurses plan their own rota.",
    ]


def test_short_blocks_join_the_next_passage(settings):
    _cleaned, passages = segment(
        settings, ["Notes.", "Observations:", "Members took blood pressure readings together."]
    )
    assert len(passages) == 1
    assert passages[0].text.startswith("Notes.") and passages[0].text.endswith("together.")


def test_long_paragraphs_are_cut_at_sentence_boundaries(settings):
    sentence = "The han leader checked on a neighbour who lives alone and reported back to the nurse."
    limit = settings.segment.model_copy(update={"max_passage_chars": 300})
    _cleaned, passages = segment(settings, [" ".join([sentence] * 12)], segment_settings=limit)
    assert len(passages) > 3
    assert all(len(p.text) <= 300 for p in passages)
    assert " ".join(p.text for p in passages) == " ".join([sentence] * 12)


def test_passage_ids_are_stable_content_addressed_and_distinct(settings):
    paragraphs = ["Members met in the salon.", "Members met in the salon.", "A different paragraph about volunteers."]
    _, first = segment(settings, paragraphs)
    _, again = segment(settings, paragraphs)
    assert [p.passage_id for p in first] == [p.passage_id for p in again]
    assert len({p.passage_id for p in first}) == 3
    # Editing one paragraph leaves the others' ids alone, even when they move.
    _, edited = segment(settings, ["A new opening paragraph was added here.", *paragraphs[:2], "Volunteers changed."])
    assert first[0].passage_id == edited[1].passage_id and first[1].passage_id == edited[2].passage_id
    assert first[2].passage_id not in {p.passage_id for p in edited}
    # The same text in another document is another passage.
    _, other = segment(settings, paragraphs, relpath="notes/other.txt")
    assert not {p.passage_id for p in other} & {p.passage_id for p in first}


def test_a_japanese_quotation_with_a_full_stop_inside_stays_one_sentence():
    text = "班長は「見守りは大事だ。続けたい。」と話した。次の会は来月です。\n（注。原文のまま）"
    spans = JapaneseSentenceSplitter().split([text])[0]
    assert [text[a:b] for a, b in spans] == [
        "班長は「見守りは大事だ。続けたい。」と話した。",
        "次の会は来月です。",
        "（注。原文のまま）",
    ]
