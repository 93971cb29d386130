"""Which blocks of a web page are its body: trafilatura finds the main text, and every block
the reader made is kept or marked as boilerplate by whether its letters are in that text.

The reader keeps its own blocks (headings, lists, paragraphs as the markup has them) and only
borrows trafilatura's judgement of what is navigation, share links, menus, tags, footers and
other page furniture. Nothing is marked when trafilatura finds no main text (a short or plain
page), so a page without boilerplate loses nothing.
"""

from __future__ import annotations

import logging

from fieldnotes.anchors import letter_stream
from fieldnotes.ingest.model import BlockKind, RawBlock
from fieldnotes.text import KANA_KANJI

# A block must be found within this many letters after the previous match, so a short block
# ("Home") is not taken for body just because the same word occurs somewhere far ahead.
_WINDOW = 4000
# Running text: at least this many words, ending as a sentence ends.
_PROSE_WORDS = 25
_SENTENCE_ENDS = tuple(".!?:;\"')”’。！？」")


def _letters(text: str) -> str:
    """The letters anchors count (fieldnotes.anchors): a block is looked for by them."""
    return letter_stream(text)[0]


def main_text(html: str) -> str | None:
    """The page's main text as trafilatura extracts it, or None when it finds none."""
    import trafilatura

    # trafilatura logs every page it finds too short; that is not news for a reader of notes.
    logging.getLogger("trafilatura").setLevel(logging.ERROR)
    try:
        extracted = trafilatura.extract(
            html,
            output_format="txt",
            include_tables=True,
            include_comments=False,
            include_links=False,
            favor_recall=True,
            deduplicate=False,
            with_metadata=False,
        )
    except Exception:  # a parser failure inside trafilatura must not cost the document
        return None
    return extracted or None


def is_prose(block: RawBlock, link_share: float) -> bool:
    """A paragraph of running text that is not a row of links: body on any page, whatever the
    main-text finder says (it may pick the wrong region of a page it does not understand)."""
    text = " ".join(block.lines).strip()
    # Japanese and Chinese write words without spaces: about two characters make a word.
    words = len(text.split()) + len(KANA_KANJI.findall(text)) / 2
    return words >= _PROSE_WORDS and text.endswith(_SENTENCE_ENDS) and link_share < 0.5


def mark_boilerplate(blocks: list[RawBlock], body: str, link_shares: list[float] | None = None) -> int:
    """Mark the blocks whose letters the main text does not hold, in reading order; return how
    many were marked. Blocks without letters, and prose paragraphs, are never marked; nothing
    is marked when the main text misses most of the page's prose, because then the finder has
    failed on this page and keeping everything loses nothing."""
    letters = _letters(body)
    if not letters:
        return 0
    shares = link_shares if link_shares is not None and len(link_shares) == len(blocks) else [0.0] * len(blocks)
    prose = [is_prose(block, share) for block, share in zip(blocks, shares, strict=True)]
    # The page's first top-level heading is its title, body of any page the main-text finder
    # may leave it out of (it reports titles apart).
    title = next((i for i, block in enumerate(blocks) if block.kind == BlockKind.HEADING and block.level == 1), None)
    if title is not None:
        prose[title] = True
    own_letters = [_letters(" ".join(block.lines)) for block in blocks]
    prose_letters = [own for own, keep in zip(own_letters, prose, strict=True) if keep]
    found = sum(len(own) for own in prose_letters if own in letters)
    if prose_letters and found < 0.5 * sum(map(len, prose_letters)):
        return 0
    cursor = 0
    marked = 0
    for block, keep, own in zip(blocks, prose, own_letters, strict=True):
        if not own:
            continue
        if keep:
            at = letters.find(own, cursor)
            cursor = at + len(own) if at >= 0 else cursor
            continue
        at = letters.find(own, cursor, cursor + _WINDOW + len(own))
        if at < 0 and len(own) >= 40:
            # Long text is body wherever it is: trafilatura may move a block (a lead paragraph)
            # before the place where the reader has it.
            at = letters.find(own)
            if at >= 0:
                continue
        if at < 0:
            block.boilerplate = True
            marked += 1
        else:
            cursor = at + len(own)
    return marked
