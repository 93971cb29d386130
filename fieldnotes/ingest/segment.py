"""Segment cleaned documents into passages (paragraph-sized) and sentences.

Sentence splitting sits behind a small interface so that another segmenter
(a trained spaCy pipeline, GiNZA for Japanese) can replace the default.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from typing import Protocol

from fieldnotes.ingest.model import BlockKind, CleanDocument
from fieldnotes.records import Passage
from fieldnotes.settings import SegmentSettings
from fieldnotes.text import KANA_KANJI

Span = tuple[int, int]

_LETTER = re.compile(r"[^\W\d_]")


def detect_language(text: str) -> str:
    """'ja' when most letters are kana or kanji, else 'en'."""
    letters = len(_LETTER.findall(text))
    if letters and len(KANA_KANJI.findall(text)) / letters > 0.3:
        return "ja"
    return "en"


class SentenceSplitter(Protocol):
    def split(self, texts: Sequence[str]) -> list[list[Span]]:
        """Sentence spans (start, end) within each text, in order, covering its words."""
        ...


class SpacySentenceSplitter:
    """spaCy's rule-based sentencizer on a blank pipeline, with fixes for quotes."""

    def __init__(self, language: str = "en") -> None:
        self.language = language
        self._nlp = None

    def _pipeline(self):
        if self._nlp is None:
            from fieldnotes.lazy import import_spacy

            nlp = import_spacy().blank(self.language)
            nlp.add_pipe("sentencizer")
            self._nlp = nlp
        return self._nlp

    def split(self, texts: Sequence[str]) -> list[list[Span]]:
        pieces = [(index, offset, piece) for index, text in enumerate(texts) for offset, piece in _pieces(text)]
        spans: list[list[Span]] = [[] for _ in texts]
        docs = self._pipeline().pipe((_tame(piece) for _, _, piece in pieces), batch_size=256)
        for (index, offset, _), doc in zip(pieces, docs, strict=True):
            spans[index].extend((offset + sent.start_char, offset + sent.end_char) for sent in doc.sents)
        return [_fix_spans(text, found) for text, found in zip(texts, spans, strict=True)]


# spaCy's tokenizer strips prefix and suffix punctuation one character at a time, copying the
# rest each time: a run of thousands of "(((" or "___" takes minutes. Such a run is never a
# sentence, so the tokenizer sees it as hyphens (cheap infixes); offsets stay the same.
_PUNCTUATION_RUN = re.compile(r"(?:[^\w\s]|_){64,}")
# spaCy refuses texts over a million characters (nlp.max_length); a longer paragraph is
# split in pieces cut at a line end or a space, so memory stays bounded too.
_PIECE_CHARS = 100_000


def _tame(text: str) -> str:
    return _PUNCTUATION_RUN.sub(lambda match: "-" * len(match.group()), text)


def _pieces(text: str) -> list[tuple[int, str]]:
    """(offset, piece) of at most _PIECE_CHARS characters, cut at white space where there is some."""
    pieces: list[tuple[int, str]] = []
    start = 0
    while len(text) - start > _PIECE_CHARS:
        end = start + _PIECE_CHARS
        cut = max(text.rfind("\n", start + _PIECE_CHARS // 2, end), text.rfind(" ", start + _PIECE_CHARS // 2, end))
        end = cut + 1 if cut > start else end
        pieces.append((start, text[start:end]))
        start = end
    pieces.append((start, text[start:]))
    return pieces


def _fix_spans(text: str, spans: list[Span]) -> list[Span]:
    """Undo the sentencizer's usual slips: an opening quote left at a sentence end,
    and a 'sentence' that starts in lower case (the rest of a quoted question)."""
    fixed: list[list[int]] = []
    for start, end in spans:
        if fixed and text[fixed[-1][1] - 1 : fixed[-1][1]] in ('"', "'"):
            quote_at = fixed[-1][1] - 1
            before = text[fixed[-1][0] : quote_at].rstrip()
            if before.endswith((".", "!", "?")) and text[quote_at - 1 : quote_at].isspace():
                fixed[-1][1] = fixed[-1][0] + len(before)
                start = quote_at
        first_letter = _LETTER.search(text, start, end)
        if fixed and first_letter and first_letter.group().islower() and first_letter.start() - start < 3:
            fixed[-1][1] = end
        else:
            fixed.append([start, end])
    return [(s, e) for s, e in ((_strip_span(text, s, e)) for s, e in fixed) if e > s]


def _strip_span(text: str, start: int, end: int) -> Span:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


_JA_OPEN = "「『（(〈《【"
_JA_CLOSE = "」』）)〉》】"
_JA_STOPS = "。！？!?"


class JapaneseSentenceSplitter:
    """Rule-based: a sentence ends at 。！？ (with closing brackets) or a line break, but not
    inside a quotation or parenthesis (「…。…」 is one sentence with the words around it)."""

    def split(self, texts: Sequence[str]) -> list[list[Span]]:
        return [self._split_one(text) for text in texts]

    @staticmethod
    def _split_one(text: str) -> list[Span]:
        spans: list[Span] = []
        start, depth, index = 0, 0, 0
        while index < len(text):
            char = text[index]
            if char in _JA_OPEN:
                depth += 1
            elif char in _JA_CLOSE:
                depth = max(0, depth - 1)
            ends = char == "\n" or (char in _JA_STOPS and depth == 0)
            if ends:
                end = index + 1
                while end < len(text) and (text[end] in _JA_STOPS or text[end] in _JA_CLOSE + "\"'"):
                    end += 1
                if char == "\n":
                    depth = 0  # a line break ends an unclosed quotation too
                span = _strip_span(text, start, end)
                if span[1] > span[0]:
                    spans.append(span)
                start = index = end
                continue
            index += 1
        span = _strip_span(text, start, len(text))
        if span[1] > span[0]:
            spans.append(span)
        return spans


def passage_id(document_id: str, text: str, occurrence: int) -> str:
    """Content-addressed: the same text in the same document keeps its id across runs,
    wherever it moves; `occurrence` tells repeated identical paragraphs apart."""
    key = f"{document_id}\x1f{' '.join(text.split())}\x1f{occurrence}"
    return "p" + hashlib.sha256(key.encode()).hexdigest()[:15]


def document_id(relpath: str) -> str:
    """A document is identified by its path relative to the corpus root."""
    return "d" + hashlib.sha256(relpath.encode()).hexdigest()[:11]


def _chunk(sentences: list[Span], limit: int) -> list[list[Span]]:
    """Greedy runs of whole sentences of at most `limit` characters (a longer sentence stands alone)."""
    chunks: list[list[Span]] = []
    for span in sentences:
        if chunks and span[1] - chunks[-1][0][0] <= limit:
            chunks[-1].append(span)
        else:
            chunks.append([span])
    return chunks


def segment_document(
    document: CleanDocument,
    settings: SegmentSettings,
    splitters: dict[str, SentenceSplitter],
) -> list[Passage]:
    """Cut a cleaned document into passages with sentence offsets (document coordinates).

    A passage is a paragraph, list or table; a block shorter than `min_passage_chars`
    joins the next one in its section; a longer one than `max_passage_chars` is cut
    at sentence boundaries. Headings are not passages; they name the section.
    """
    doc_id = document_id(document.source.relpath)
    text = document.text
    units = _units(document, settings.min_passage_chars)
    languages = [detect_language(text[s:e]) for s, e, _ in units]
    sentence_spans = _sentence_spans(text, units, languages, splitters)

    passages: list[Passage] = []
    seen: Counter[str] = Counter()
    for (start, end, heading), spans, language in zip(units, sentence_spans, languages, strict=True):
        spans = spans or [(start, end)]
        groups = [spans] if end - start <= settings.max_passage_chars else _chunk(spans, settings.max_passage_chars)
        for group in groups:
            p_start = start if group is groups[0] else group[0][0]
            p_end = end if group is groups[-1] else group[-1][1]
            p_start, p_end = _strip_span(text, p_start, p_end)
            body = text[p_start:p_end]
            key = " ".join(body.split())
            passages.append(
                Passage(
                    passage_id=passage_id(doc_id, body, seen[key]),
                    document_id=doc_id,
                    seq=len(passages),
                    start=p_start,
                    end=p_end,
                    text=body,
                    section=heading,
                    language=language,
                    sentences=tuple(group),
                )
            )
            seen[key] += 1
    return passages


def _units(document: CleanDocument, min_chars: int) -> list[tuple[int, int, str]]:
    """(start, end, section heading) of each passage-to-be: a block, with the short blocks
    before it in its section."""
    units: list[tuple[int, int, str]] = []
    section = ""
    pending: int | None = None
    for block in document.blocks:
        if block.kind == BlockKind.HEADING:
            if pending is not None:
                units.append((pending, _last_end(document, block.start), section))
                pending = None
            section = block.text
            continue
        start = pending if pending is not None else block.start
        if block.end - start < min_chars:
            pending = start
            continue
        units.append((start, block.end, section))
        pending = None
    if pending is not None:
        units.append((pending, len(document.text), section))
    return units


def _sentence_spans(
    text: str, units: list[tuple[int, int, str]], languages: list[str], splitters: dict[str, SentenceSplitter]
) -> list[list[Span]]:
    """Sentence spans of each unit in document coordinates, each language split in one batch."""
    sentence_spans: list[list[Span]] = [[] for _ in units]
    for language in set(languages):
        splitter = splitters.get(language) or splitters["en"]
        indexes = [i for i, lang in enumerate(languages) if lang == language]
        for i, spans in zip(indexes, splitter.split([text[units[i][0] : units[i][1]] for i in indexes]), strict=True):
            sentence_spans[i] = [(units[i][0] + s, units[i][0] + e) for s, e in spans]
    return sentence_spans


def _last_end(document: CleanDocument, before: int) -> int:
    """End of the last non-heading block that starts before `before`."""
    ends = [b.end for b in document.blocks if b.start < before and b.kind != BlockKind.HEADING]
    return ends[-1] if ends else before


def english_splitter() -> SentenceSplitter:
    return SpacySentenceSplitter("en")


def splitters_for(settings: SegmentSettings) -> dict[str, SentenceSplitter]:
    """A sentence splitter per language, built from the segmenter registry by the names in
    `[segment] splitters`."""
    from fieldnotes import registry

    return {language: registry.segmenters.get(name)() for language, name in settings.splitters.items()}


def default_splitters() -> dict[str, SentenceSplitter]:
    """The splitters of the default settings."""
    return splitters_for(SegmentSettings())
