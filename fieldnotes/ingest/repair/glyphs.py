"""Dashes a PDF font extracted as a letter: some publishers' fonts map the en dash to "e", so
"Case Study – CHW" comes out as "Case Study e CHW". In English text a lone "e" between two
words is never a word, so when a document has several, each becomes the dash it stood for."""

from __future__ import annotations

import re
from dataclasses import replace

from fieldnotes.ingest.model import RawBlock

# A lone "e" between two words on one line, one space on each side; the words are captured to
# tell it from a letter-spaced word ("a r t i c l e i n f o"), whose neighbours are letters.
_LONE_E = re.compile(r"(\S+) e (?=(\S+))")
# One stray "e" can be a variable or a typo; three are the font's habit.
_MIN_GLYPHS = 3


def restore_dash_glyphs_in(blocks: list[RawBlock], english: bool) -> tuple[list[RawBlock], int]:
    """The blocks with their dash glyphs restored, and how many, when the document is English
    prose (where "e" is not a word, unlike Portuguese or Italian) and holds at least three lone
    "e" between words; else the blocks as they were and 0."""
    if not english:
        return blocks, 0
    restored, total = [], 0
    for block in blocks:
        lines = []
        for line in block.lines:
            fixed, n = restore_dash_glyphs(line)
            lines.append(fixed)
            total += n
        restored.append(replace(block, lines=lines) if lines != block.lines else block)
    return (restored, total) if total >= _MIN_GLYPHS else (blocks, 0)


def restore_dash_glyphs(line: str) -> tuple[str, int]:
    """The line with every lone "e" between words turned into an en dash, and how many."""
    restored = 0

    def dash(match: re.Match[str]) -> str:
        nonlocal restored
        before, after = match.group(1), match.group(2)
        if _single_letter(before) or _single_letter(after):
            return match.group(0)
        restored += 1
        return f"{before} \u2013 "

    return _LONE_E.sub(dash, line), restored


def _single_letter(token: str) -> bool:
    return len(token) == 1 and token.isalpha()
