"""The kinds of repair, as counted per document and reported."""

NORMALISED = "characters normalised"
PAGE_ARTEFACTS = "page numbers and running headers dropped"
UNWRAPPED = "broken lines rejoined"
HYPHENS = "hyphenated words rejoined"
PARAGRAPHS = "paragraphs rejoined across breaks"
SPLIT_WORDS = "split words joined"
LETTER_RUNS = "letter-spaced runs joined"
