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
    from fieldnotes.lazy import import_spacy

    spacy = import_spacy()
    from spacy.language import Language
    from spacy.lookups import load_lookups

    table = load_lookups("en", ["lemma_lookup"]).get_table("lemma_lookup")
    name = "fieldnotes_lower_lemma"
    if not Language.has_factory(name):

        @Language.factory(name)
        def make_lemmatizer(nlp, name):
            strings = nlp.vocab.strings
            # lower-case form -> its lemma, both as string-store keys: a table lookup and a string
            # store entry per distinct word rather than per token.
            lemma_of: dict[int, int] = {}

            def lemmatize(doc):
                for token in doc:
                    lemma = lemma_of.get(token.lower)
                    if lemma is None:
                        lower = token.lower_
                        lemma = lemma_of[token.lower] = strings.add(table.get(lower, lower))
                    token.lemma = lemma
                return doc

            return lemmatize

    nlp = spacy.blank("en")
    nlp.add_pipe(name)
    return nlp


class RuleMatcher:
    """Finds each code's patterns in excerpts; returns the matched terms as written."""

    def __init__(self, codebook: Codebook) -> None:
        self.nlp = lemma_pipeline()  # imports spaCy (without torch) before spacy.matcher does
        from spacy.matcher import Matcher, PhraseMatcher

        self.phrases = PhraseMatcher(self.nlp.vocab, attr="LEMMA")
        self.tokens = Matcher(self.nlp.vocab)
        self.regexes: list[tuple[str, re.Pattern[str]]] = []
        # Per regex, words one of which any match must contain (None: no such words known).
        self.gates: list[frozenset[str] | None] = []
        for code in codebook.codes:
            phrases = []
            for pattern in code.patterns:
                if isinstance(pattern, str):
                    phrases.append(self.nlp(pattern))
                elif isinstance(pattern, TokenPattern):
                    self.tokens.add(code.id, [_lower_lemmas(pattern.tokens)])
                elif isinstance(pattern, RegexPattern):
                    self.regexes.append((code.id, re.compile(pattern.regex, re.I)))
                    self.gates.append(required_literals(pattern.regex))
            if phrases:
                self.phrases.add(code.id, phrases)

    def match(self, texts: Sequence[str]) -> list[dict[str, list[str]]]:
        """For each text: code id -> distinct matched terms, in order of appearance."""
        if not (len(self.phrases) or len(self.tokens) or self.regexes):
            return [{} for _ in texts]  # a codebook without patterns: nothing to match, no spaCy to run
        results: list[dict[str, list[str]]] = []
        candidates = self._regex_candidates(texts)
        for text, doc, regexes in zip(texts, self.nlp.pipe(texts, batch_size=256), candidates, strict=True):
            found: dict[str, list[str]] = {}
            hits = [(start, end, self.nlp.vocab.strings[key]) for key, start, end in self.phrases(doc)]
            if len(self.tokens):  # an empty Matcher warns on every call (spaCy's W036)
                hits += [(start, end, self.nlp.vocab.strings[key]) for key, start, end in self.tokens(doc)]
            for start, end, code_id in sorted(hits):
                _add(found, code_id, doc[start:end].text)
            for index in regexes:
                code_id, regex = self.regexes[index]
                for match in regex.finditer(text):
                    _add(found, code_id, match.group(0))
            results.append(found)
        return results

    def _regex_candidates(self, texts: Sequence[str]) -> list[list[int]]:
        """For each text, the regexes (by index, in order) that may match it.

        Most regexes cannot match most excerpts: a regex runs on an ASCII text only when the
        lower-cased text contains one of its gate words (exact there; other text runs every
        regex). Each gate word is searched once through all texts joined, not once per text
        and regex: at 37,000 excerpts and 106 regexes that loop took longer than the matching.
        """
        from bisect import bisect_right

        ungated = [index for index, gate in enumerate(self.gates) if gate is None]
        every = list(range(len(self.regexes)))
        by_word: dict[str, list[int]] = {}
        for index, gate in enumerate(self.gates):
            for word in gate or ():
                by_word.setdefault(word, []).append(index)
        ascii_text = [text.isascii() for text in texts]
        lowered = [text.lower() if ok else "" for text, ok in zip(texts, ascii_text, strict=True)]
        starts, position = [], 0
        for text in lowered:
            starts.append(position)
            position += len(text) + 1
        # NUL never occurs in a gate word, so no word is found across two texts.
        joined = "\0".join(lowered)
        gated: list[set[int]] = [set() for _ in texts]
        for word, indexes in by_word.items():
            found = joined.find(word)
            while found != -1:
                row = bisect_right(starts, found) - 1
                gated[row].update(indexes)
                following = starts[row + 1] if row + 1 < len(starts) else len(joined)
                found = joined.find(word, following)
        return [sorted(gated[row].union(ungated)) if ascii_text[row] else every for row in range(len(texts))]


MIN_GATE_CHARS = 3


def required_literals(regex: str) -> frozenset[str] | None:
    """Lower-case strings one of which every match of `regex` (compiled case-insensitively)
    contains, read from the parsed pattern; None when there are none of 3+ characters.

    Sound for ASCII text: a match there contains the literal in some letter case. Literals
    with non-ASCII letters are not used (case-insensitive matching can pair them with ASCII
    ones, e.g. the Kelvin sign and 'k'); caseless ones (Japanese) are.
    """
    try:
        from re import _parser as parser  # type: ignore[attr-defined]  # re's own parser, private and untyped
    except ImportError:  # pragma: no cover
        import sre_parse as parser
    try:
        tree = parser.parse(regex, re.I)
    except (re.error, RecursionError):
        return None
    return _required(tree, parser)


def _required(items, parser) -> frozenset[str] | None:
    """The best requirement of a sequence of pattern items (all of which must match in order)."""
    constants = parser  # LITERAL, BRANCH, ... live in the parser module's namespace
    candidates: list[frozenset[str]] = []
    run: list[str] = []

    def close_run() -> None:
        if run:
            candidates.append(frozenset(["".join(run)]))
            run.clear()

    for op, av in items:
        if op is constants.LITERAL:
            run.append(chr(av))
            continue
        close_run()
        found = None
        if op is constants.SUBPATTERN:
            found = _required(av[-1], parser)
        elif op is constants.BRANCH:
            branches = [_required(branch, parser) for branch in av[1]]
            if all(branches):
                found = frozenset[str]().union(*(branch for branch in branches if branch is not None))
        elif op in (constants.MAX_REPEAT, constants.MIN_REPEAT, getattr(constants, "POSSESSIVE_REPEAT", None)):
            low, _, item = av
            if low >= 1:
                found = _required(item, parser)
        if found:
            candidates.append(found)
    close_run()
    usable = [
        frozenset(word.lower() for word in option)
        for option in candidates
        if all(len(word) >= MIN_GATE_CHARS and _caseless_or_ascii(word) for word in option)
    ]
    # The most selective: the option whose shortest word is longest.
    return max(usable, key=lambda option: min(map(len, option)), default=None)


def _caseless_or_ascii(word: str) -> bool:
    return all(char.isascii() or char.lower() == char.upper() for char in word)


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
