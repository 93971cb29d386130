"""Keyword rules: spaCy PhraseMatcher and Matcher on lower-case lemmas, and regexes."""

from __future__ import annotations

import re
from collections.abc import Sequence

from fieldnotes.codebook import Codebook, RegexPattern, TokenPattern


def lemma_pipeline():
    """A blank English pipeline whose lemmas are lower-case dictionary base forms.

    spaCy's lookup table is case-sensitive; looking up the lower-cased word makes
    "Volunteers" and "volunteers" both "volunteer".
    """
    import spacy
    from spacy.language import Language
    from spacy.lookups import load_lookups

    table = load_lookups("en", ["lemma_lookup"]).get_table("lemma_lookup")
    name = "fieldnotes_lower_lemma"
    if not Language.has_factory(name):

        @Language.factory(name)
        def make_lemmatizer(nlp, name):
            def lemmatize(doc):
                for token in doc:
                    lower = token.lower_
                    token.lemma_ = table.get(lower, lower)
                return doc

            return lemmatize

    nlp = spacy.blank("en")
    nlp.add_pipe(name)
    return nlp


class RuleMatcher:
    """Finds each code's patterns in excerpts; returns the matched terms as written."""

    def __init__(self, codebook: Codebook) -> None:
        from spacy.matcher import Matcher, PhraseMatcher

        self.nlp = lemma_pipeline()
        self.phrases = PhraseMatcher(self.nlp.vocab, attr="LEMMA")
        self.tokens = Matcher(self.nlp.vocab)
        self.regexes: list[tuple[str, re.Pattern[str]]] = []
        for code in codebook.codes:
            phrases = []
            for pattern in code.patterns:
                if isinstance(pattern, str):
                    phrases.append(self.nlp(pattern))
                elif isinstance(pattern, TokenPattern):
                    self.tokens.add(code.id, [_lower_lemmas(pattern.tokens)])
                elif isinstance(pattern, RegexPattern):
                    self.regexes.append((code.id, re.compile(pattern.regex, re.I)))
            if phrases:
                self.phrases.add(code.id, phrases)

    def match(self, texts: Sequence[str]) -> list[dict[str, list[str]]]:
        """For each text: code id -> distinct matched terms, in order of appearance."""
        results: list[dict[str, list[str]]] = []
        for text, doc in zip(texts, self.nlp.pipe(texts, batch_size=256), strict=True):
            found: dict[str, list[str]] = {}
            hits = [(start, end, self.nlp.vocab.strings[key]) for key, start, end in self.phrases(doc)]
            hits += [(start, end, self.nlp.vocab.strings[key]) for key, start, end in self.tokens(doc)]
            for start, end, code_id in sorted(hits):
                _add(found, code_id, doc[start:end].text)
            for code_id, regex in self.regexes:
                for match in regex.finditer(text):
                    _add(found, code_id, match.group(0))
            results.append(found)
        return results


def _add(found: dict[str, list[str]], code_id: str, term: str) -> None:
    terms = found.setdefault(code_id, [])
    if term not in terms:
        terms.append(term)


def _lower_lemmas(tokens: list[dict]) -> list[dict]:
    """LEMMA values in token patterns compare with our lower-case lemmas."""
    fixed = []
    for token in tokens:
        token = dict(token)
        if isinstance(token.get("LEMMA"), str):
            token["LEMMA"] = token["LEMMA"].lower()
        fixed.append(token)
    return fixed
