"""Character classes for Japanese text (and the Latin letters the word repairs and theme words
read), defined once for every stage that needs them.

Japanese is written without spaces, so several stages treat kana and kanji specially: word
counts count each character, line joins add no space, language detection counts them, and
site names in Japanese are matched without word boundaries. The classes differ on purpose,
and each stage keeps the one it has always used (changing one would change its results):

- KANA_KANJI: hiragana and katakana (U+3040-30FF), CJK Extension A (U+3400-4DBF) and the
  unified ideographs (U+4E00-9FFF). Language detection (segment.py).
- KANA_KANJI_HALFWIDTH: KANA_KANJI plus halfwidth katakana (U+FF66-FF9F), which PDF text
  extracted from older Japanese documents contains; rejoining broken lines (repair/lines.py).
- KANA_KANJI_BLOCK: the same kana and U+3400-9FFF as one block, which also takes in the 64
  Yijing hexagram symbols (U+4DC0-4DFF) between Extension A and the unified ideographs.
  Word counts in the comparison (compare/run.py) and site names (ingest/sites.py).
"""

from __future__ import annotations

import re

# Latin letters with the accents of Western European languages ("café", "Universität").
LATIN = "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u00ff"
KANA = "\u3040-\u30ff"
KANJI = "\u3400-\u4dbf\u4e00-\u9fff"
HALFWIDTH_KATAKANA = "\uff66-\uff9f"

KANA_KANJI = re.compile(f"[{KANA}{KANJI}]")
KANA_KANJI_HALFWIDTH = re.compile(f"[{KANA}{KANJI}{HALFWIDTH_KATAKANA}]")
KANA_KANJI_BLOCK = re.compile(f"[{KANA}\u3400-\u9fff]")
