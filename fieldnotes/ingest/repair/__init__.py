"""Repair the damage that PDF extraction and copy-paste do to text.

Decisions that could change correct text (joining fragments, removing a hyphen)
are taken with a word-frequency resource (wordfreq), never with a hand list of
words: a join happens only when it yields a common word where the text held a
rare fragment. Clean text therefore passes through unchanged.

One module per kind of damage (characters, pages, lines, words); `document` classifies
the blocks and applies them in order.
"""

from fieldnotes.ingest.repair.characters import normalize_text
from fieldnotes.ingest.repair.document import heading_level, repair_document
from fieldnotes.ingest.repair.frequency import document_vocabulary, zipf
from fieldnotes.ingest.repair.kinds import (
    HYPHENS,
    LETTER_RUNS,
    NORMALISED,
    PAGE_ARTEFACTS,
    PARAGRAPHS,
    SPLIT_WORDS,
    UNWRAPPED,
)
from fieldnotes.ingest.repair.lines import unwrap_lines
from fieldnotes.ingest.repair.pages import drop_page_artifacts
from fieldnotes.ingest.repair.words import (
    _TWO_LETTER_WORDS,  # the fuzzer and the property tests draw prose around these words
    join_inline_hyphens,
    join_letter_spacing,
    join_split_words,
    repair_words,
    segment_letters,
)

__all__ = [
    "HYPHENS",
    "LETTER_RUNS",
    "NORMALISED",
    "PAGE_ARTEFACTS",
    "PARAGRAPHS",
    "SPLIT_WORDS",
    "UNWRAPPED",
    "_TWO_LETTER_WORDS",
    "document_vocabulary",
    "drop_page_artifacts",
    "heading_level",
    "join_inline_hyphens",
    "join_letter_spacing",
    "join_split_words",
    "normalize_text",
    "repair_document",
    "repair_words",
    "segment_letters",
    "unwrap_lines",
    "zipf",
]
