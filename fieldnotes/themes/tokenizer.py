"""The words of a theme: content-word lemmas of its passages, in each passage's own language."""

from __future__ import annotations

import re
from typing import ClassVar

from fieldnotes.text import LATIN

# Appended to every passage handed to BERTopic, which joins a theme's passages into one text
# for its word counts (three times: fit, label update, per-site words): the tokenizer splits
# there and tokenizes each passage once, in its own language.
PASSAGE_END = "\u2029"
# Raised whenever what the tokenizer makes of a text changes, so stored themes are labelled again.
THEME_WORDS_VERSION = 2


def _pieces(text: str, limit: int) -> list[str]:
    """`text` cut into pieces of at most `limit` characters, at a line or sentence end when one is near."""
    pieces = []
    while len(text) > limit:
        cut = max(text.rfind("\n", 0, limit), text.rfind("。", 0, limit) + 1)
        if cut < limit // 2:
            cut = limit
        pieces.append(text[:cut])
        text = text[cut:]
    return [*pieces, text] if text else pieces


# Web addresses, DOIs and e-mail addresses say where a text is, not what it says: reference
# lists otherwise label their theme "https, pdf, doi".
_ADDRESS = re.compile(r"(?:https?://|www\.|doi:\s*)\S+|\b10\.\d{4,9}/\S+|\S+@\S+\.\w+", re.IGNORECASE)
# Words of citations and file names that are not content.
_CITATION_WORDS = frozenset({"http", "https", "www", "doi", "org", "com", "pdf", "html", "htm", "isbn", "issn"})
# Lookup lemmas that change what the word means in these texts ("data protection" is not
# "datum protection").
_KEEP_AS_WRITTEN = frozenset({"data", "media"})
# The plural endings a hyphenated compound's last part loses ("care-workers" -> "care-worker");
# other inflections stay ("well-being", "data-driven", "health-related" are words of their own).
_PLURAL = re.compile(r"(?:ies|s)$")

# Auxiliaries that negate the verb or adjective before them (ない, ず, ぬ; ん has the lemma ぬ).
_NEGATIONS = frozenset({"ない", "ず", "ぬ"})


def _negated(token, following) -> str | None:
    """The negative form of a verb or adjective followed by a negating auxiliary ("足りず" ->
    "足りない"), so a theme word never says the opposite of its passages ("足りる", enough);
    None when it is not negated. Built from the form as written, which is the stem the
    negation attaches to; a verbal noun (参加, tagged サ変) takes しない."""
    if token.pos_ not in ("VERB", "ADJ"):
        return None
    for after in following:
        if after.pos_ != "AUX":
            break
        if after.lemma_ in _NEGATIONS:
            return token.text + ("しない" if "サ変" in token.tag_ else "ない")
    return None


class LemmaTokenizer:
    """Content-word lemmas for topic words: English through spaCy lookup lemmas, Japanese
    through Sudachi (spaCy's Japanese tokenizer), never whitespace-split. Stop words,
    numbers, punctuation and (optionally) site names are dropped, so themes show what
    passages are about rather than where."""

    _JAPANESE_KEEP: ClassVar[frozenset[str]] = frozenset({"NOUN", "PROPN", "VERB", "ADJ"})
    # Sudachi refuses input over 49,149 bytes; BERTopic hands the tokenizer all passages of a
    # theme joined together. 12,000 characters stay under the limit even at 4 bytes each.
    _SUDACHI_CHARS: ClassVar[int] = 12_000
    # Hyphenated compounds stay whole ("co-production", "non-member").
    # Latin letters with their accents: "café" is a word, not "caf".
    _ENGLISH_WORD = re.compile(f"[{LATIN}]+(?:['’-][{LATIN}]+)*")

    def __init__(self, drop: set[str]) -> None:
        from fieldnotes.lazy import import_spacy

        import_spacy()
        from spacy.lang.en.stop_words import STOP_WORDS
        from spacy.lookups import load_lookups

        self.lemmas = load_lookups("en", ["lemma_lookup"]).get_table("lemma_lookup")
        self.japanese = None
        # word as written -> its token or None: BERTopic tokenizes every passage three times.
        self._english: dict[str, str | None] = {}
        self._passages: dict[str, list[str]] = {}  # passage text -> its tokens
        self.stop = {word.lower() for word in STOP_WORDS} | {word.lower() for word in drop} | _CITATION_WORDS

    def _ja(self):
        if self.japanese is None:
            import spacy

            self.japanese = spacy.blank("ja")
        return self.japanese

    def _lemma(self, word: str) -> str:
        head, _, last = word.rpartition("-")
        if last in _KEEP_AS_WRITTEN:
            return word
        lemma = self.lemmas.get(last, last)
        if head and not (_PLURAL.search(last) and last.startswith(lemma.removesuffix("y"))):
            return word  # only a plural is undone inside a compound
        return f"{head}-{lemma}" if head else lemma

    def __call__(self, text: str) -> list[str]:
        if PASSAGE_END not in text:
            return self._tokens(text)
        tokens: list[str] = []
        for piece in text.split(PASSAGE_END):
            piece = piece.strip()
            if piece:
                known = self._passages.get(piece)
                if known is None:
                    known = self._passages[piece] = self._tokens(piece)
                tokens += known
        return tokens

    def _tokens(self, text: str) -> list[str]:
        from fieldnotes.ingest.segment import detect_language

        if detect_language(text) == "ja":
            tokens = []
            for piece in _pieces(text, self._SUDACHI_CHARS):
                words = list(self._ja()(piece))
                for i, t in enumerate(words):
                    if t.pos_ in self._JAPANESE_KEEP and len(t.text) > 1 and t.lemma_ not in self.stop:
                        tokens.append(_negated(t, words[i + 1 :]) or t.lemma_)
            return tokens
        tokens = []
        known = self._english
        for written in self._ENGLISH_WORD.findall(_ADDRESS.sub(" ", text)):
            if written not in known:
                known[written] = self._english_token(written)
            token = known[written]
            if token is not None:
                tokens.append(token)
        return tokens

    def _english_token(self, written: str) -> str | None:
        word = written.lower().replace("’", "'")
        if word.endswith("'s"):
            word = word[:-2]
        if len(word) < 3 or word in self.stop:
            return None
        lemma = self._lemma(word)
        return lemma if len(lemma) >= 3 and lemma not in self.stop else None
