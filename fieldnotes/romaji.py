"""Japanese names as readable ASCII ids: 班会 -> hankai, 地域包括ケア -> chiiki-houkatsu-kea.

Code ids are ASCII words joined by '-'; a codebook brought from a Japanese project names its
codes in Japanese, and stripping what is not ASCII left nothing ('code', 'code-2', ...). The
reading of each word comes from Sudachi (spaCy's Japanese tokenizer, already a dependency), in
katakana; it is spelt out in a simple Hepburn (long vowels as written: ou, ei; ー dropped).
"""

from __future__ import annotations

import unicodedata

_KANA = (
    "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワヲン"
    "ガギグゲゴザジズゼゾダヂヅデドバビブベボパピプペポヴ"
)
_SPELT = (
    "a i u e o ka ki ku ke ko sa shi su se so ta chi tsu te to na ni nu ne no ha hi fu he ho "
    "ma mi mu me mo ya yu yo ra ri ru re ro wa o n ga gi gu ge go za ji zu ze zo da ji zu de do "
    "ba bi bu be bo pa pi pu pe po vu"
)
_SINGLE = dict(zip(_KANA, _SPELT.split(" "), strict=True))
# Syllables written with a small kana: ャュョ after an i-row kana, and the loanword ones.
_SMALL = {"ャ": "ya", "ュ": "yu", "ョ": "yo"}
_LOANWORD = {
    "ティ": "ti",
    "ディ": "di",
    "トゥ": "tu",
    "ドゥ": "du",
    "ファ": "fa",
    "フィ": "fi",
    "フェ": "fe",
    "フォ": "fo",
    "ウィ": "wi",
    "ウェ": "we",
    "ウォ": "wo",
    "シェ": "she",
    "ジェ": "je",
    "チェ": "che",
    "ヴァ": "va",
    "ヴィ": "vi",
    "ヴェ": "ve",
    "ヴォ": "vo",
    "デュ": "dyu",
    "テュ": "tyu",
    "フュ": "fyu",
}
_VOWEL_ONLY = {"ァ": "a", "ィ": "i", "ゥ": "u", "ェ": "e", "ォ": "o"}


def kana_to_romaji(kana: str) -> str:
    """Katakana (or hiragana) spelt in ASCII; characters it does not know are left out."""
    # Hiragana to katakana: the same table serves both.
    text = "".join(chr(ord(c) + 0x60) if "\u3041" <= c <= "\u3096" else c for c in kana)
    out: list[str] = []
    double = False
    i = 0
    while i < len(text):
        pair = text[i : i + 2]
        char = text[i]
        if pair in _LOANWORD:
            syllable, i = _LOANWORD[pair], i + 2
        elif char in _SINGLE and i + 1 < len(text) and text[i + 1] in _SMALL and _SINGLE[char].endswith("i"):
            stem = _SINGLE[char][:-1]
            small = _SMALL[text[i + 1]]
            syllable = stem + small[1:] if stem.endswith(("sh", "ch", "j")) else stem + small
            i += 2
        elif char in _SINGLE:
            syllable, i = _SINGLE[char], i + 1
        elif char in _VOWEL_ONLY:
            syllable, i = _VOWEL_ONLY[char], i + 1
        elif char == "ッ":
            double, i = True, i + 1
            continue
        else:  # ー and anything else: nothing to spell
            i += 1
            continue
        if double and syllable[0] not in "aeiou":
            syllable = ("t" if syllable.startswith("ch") else syllable[0]) + syllable
        double = False
        out.append(syllable)
    return "".join(out)


def romanize(text: str) -> str:
    """A Japanese name as ASCII words joined by '-' (ASCII words in it are kept as they are)."""
    from fieldnotes.lazy import import_spacy

    spacy = import_spacy()
    words = []
    for token in spacy.blank("ja")(unicodedata.normalize("NFKC", text)):
        if token.is_space or token.is_punct:
            continue
        if token.text.isascii():
            words.append(token.text)
            continue
        reading = token.morph.get("Reading")
        spelt = kana_to_romaji(reading[0] if reading else token.text)
        if spelt:
            words.append(spelt)
    return "-".join(words)
