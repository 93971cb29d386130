"""Words broken inside a line: split by stray spaces ("dif ferent"), hyphens whose line break
became a space ("dif- ferent"), and letter-spaced runs ("C O N C L U S I O N")."""

from __future__ import annotations

import math
import re
from collections import Counter

from fieldnotes.ingest.repair.frequency import zipf
from fieldnotes.ingest.repair.kinds import HYPHENS, LETTER_RUNS, SPLIT_WORDS
from fieldnotes.ingest.repair.lines import SUSPENDED_HYPHEN_NEXT, join_hyphenated
from fieldnotes.settings import RepairSettings
from fieldnotes.text import LATIN

# Genuine two-letter English words. Any other two-letter token ("th", "st", "er")
# is taken for a fragment of a split word, however often wordfreq has seen it.
_TWO_LETTER_WORDS = frozenset(
    [
        "of",
        "to",
        "in",
        "it",
        "is",
        "be",
        "as",
        "at",
        "so",
        "we",
        "he",
        "by",
        "or",
        "on",
        "do",
        "if",
        "me",
        "my",
        "up",
        "an",
        "go",
        "no",
        "us",
        "am",
        "oh",
        "ok",
        "hi",
        "ex",
        "ox",
        "ah",
        "eh",
        "uh",
        "ad",
        "pa",
        "ma",
    ]
)


def _is_fragment(word: str, settings: RepairSettings) -> bool:
    """A token that is probably a piece of a word rather than a word."""
    lower = word.lower()
    if len(word) == 1:
        return word not in ("a", "A", "I")  # a lowercase "i" is not the pronoun: "c l in i c"
    if len(word) == 2 and lower not in _TWO_LETTER_WORDS:
        return True
    return zipf(lower) < settings.min_word_zipf


# Two whole words may still be the halves of one ("ser vices"): when both are rare and the word
# they make is far more common than either.
_RARE_HALF_ZIPF = 4.0
_WHOLE_ADVANTAGE = 1.5


def _halves_of_one(left: str, right: str) -> bool:
    if not (left.islower() or (left[:1].isupper() and left[1:].islower())) or not right.islower():
        return False
    a, b = zipf(left.lower()), zipf(right)
    return a < _RARE_HALF_ZIPF and b < _RARE_HALF_ZIPF and zipf((left + right).lower()) >= max(a, b) + _WHOLE_ADVANTAGE


def _token_score(word: str, settings: RepairSettings) -> float:
    # log10 probability of a word; fragments score as unknown words.
    return (0.0 if _is_fragment(word, settings) else zipf(word.lower())) - 9.0


# Words in any script, with a possessive or contraction attached ("cooperative's", "cafés").
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
# Latin letters with their accents ("café", "Universität"), the script whose words get split.
_LATIN_WORD = re.compile(f"[{LATIN}]+(?:['’][{LATIN}]+)*")
# Pieces one word may be split into: "r es ta u ra n t" is seven.
_MAX_PIECES = 10


def _chains(text: str, tokens: list[re.Match[str]]) -> list[list[re.Match[str]]]:
    """Runs of word tokens separated by exactly one space."""
    chains: list[list[re.Match[str]]] = []
    for token in tokens:
        if chains and text[chains[-1][-1].end() : token.start()] == " ":
            chains[-1].append(token)
        else:
            chains.append([token])
    return chains


def _best_merges(words: list[str], settings: RepairSettings, vocabulary: Counter[str] | None) -> list[tuple[int, int]]:
    """Choose which neighbouring tokens to merge: the most probable reading of the chain,
    where only spaces next to a fragment may go and each removed space costs `min_zipf_gain`."""
    fragment = [_is_fragment(word, settings) for word in words]
    # joinable[i]: the space after words[i] may go (a fragment on either side, or two rare halves).
    joinable = [fragment[i] or fragment[i + 1] or _halves_of_one(words[i], words[i + 1]) for i in range(len(words) - 1)]
    groups: list[tuple[int, int]] = []
    # No merge crosses a space between two whole words, so the chain falls apart there into
    # runs read independently; most chains of clean prose have no fragment and need no search.
    first = 0
    while first < len(words):
        last = first
        while last + 1 < len(words) and joinable[last]:
            last += 1
        if last > first:
            run = _best_merges_in_run(words[first : last + 1], joinable[first:last], settings, vocabulary)
            groups += [(first + start, first + end) for start, end in run]
        first = last + 1
    return groups


def _best_merges_in_run(
    words: list[str], joinable: list[bool], settings: RepairSettings, vocabulary: Counter[str] | None
) -> list[tuple[int, int]]:
    n = len(words)
    best: list[tuple[float, int]] = [(0.0, 0)] + [(-math.inf, 0)] * n
    for end in range(1, n + 1):
        for start in range(max(0, end - _MAX_PIECES), end):
            if best[start][0] == -math.inf:
                continue
            if end - start == 1:
                score = _token_score(words[start], settings)
            else:
                parts = words[start:end]
                if not all(joinable[i] for i in range(start, end - 1)):
                    continue
                first = parts[0]
                if not all(part.islower() for part in parts[1:]) or not (
                    first.islower() or (len(first) > 1 and first[0].isupper() and first[1:].islower())
                ):
                    continue
                merged = "".join(parts).lower()
                known = zipf(merged)
                if known < settings.min_word_zipf and not (vocabulary and vocabulary[merged]):
                    continue
                score = max(known, settings.min_word_zipf) - 9.0 - settings.min_zipf_gain * (end - start - 1)
            if best[start][0] + score > best[end][0]:
                best[end] = (best[start][0] + score, start)
    groups: list[tuple[int, int]] = []
    end = n
    while end > 0:
        start = best[end][1]
        if end - start > 1:
            groups.append((start, end))
        end = start
    return groups


def join_split_words(text: str, settings: RepairSettings, vocabulary: Counter[str] | None = None) -> tuple[str, int]:
    """Join words split by stray spaces ("dif ferent", "staf f", "heal th", "commu ni ty").

    Only tokens that are fragments (not words) may lose a neighbouring space, so
    "a part" or "of ten" stay apart; a merged word must be common in English or
    spelt whole elsewhere in the same document ("Nago ya" where "Nagoya" occurs).
    """
    replacements: list[tuple[int, int, str]] = []
    min_run = settings.min_letter_run
    for whole_chain in _chains(text, list(_WORD.finditer(text))):
        for chain in _latin_runs(whole_chain):
            words = [token.group() for token in chain]
            if len(words) < 2:
                continue
            if all(len(word) == 1 for word in words) and len(words) >= min_run:
                continue  # letter-spaced text that join_letter_spacing could not read; leave it
            replacements += _merged(text, chain, words, settings, vocabulary)
    for start, end, merged in sorted(replacements, reverse=True):
        text = text[:start] + merged + text[end:]
    return text, len(replacements)


def _latin_runs(chain: list[re.Match[str]]) -> list[list[re.Match[str]]]:
    """The chain cut at words of other scripts, which are never merged."""
    runs: list[list[re.Match[str]]] = [[]]
    for token in chain:
        if _LATIN_WORD.fullmatch(token.group()):
            runs[-1].append(token)
        elif runs[-1]:
            runs.append([])
    return [run for run in runs if run]


def _merged(
    text: str,
    chain: list[re.Match[str]],
    words: list[str],
    settings: RepairSettings,
    vocabulary: Counter[str] | None,
) -> list[tuple[int, int, str]]:
    """(start, end, merged word) for each group of tokens of `chain` read as one word."""
    replacements = []
    for first, last in _best_merges(words, settings, vocabulary):
        start, end = chain[first].start(), chain[last - 1].end()
        if (start and text[start - 1].isalnum()) or (end < len(text) and text[end].isalnum()):
            continue  # part of a longer token such as "1950s": not a free-standing fragment
        replacements.append((start, end, "".join(words[first:last])))
    return replacements


_INLINE_HYPHEN = re.compile(r"(?<![\w-])([A-Za-z]+)- ([a-z]+)\b")


def join_inline_hyphens(text: str, settings: RepairSettings) -> tuple[str, int]:
    """'dif- ferent': a line-end hyphen whose line break became a space."""
    joins = 0

    def fix(match: re.Match[str]) -> str:
        nonlocal joins
        if SUSPENDED_HYPHEN_NEXT.match(match.group(2)):
            return match.group(0)  # "pre- and post-war"
        if join_hyphenated(
            match.group(1) + "-", match.group(2), None, settings.min_word_zipf, settings.min_compound_advantage
        ):
            joins += 1
            return match.group(1) + match.group(2)
        return match.group(0)

    return _INLINE_HYPHEN.sub(fix, text), joins


def segment_letters(letters: str, min_zipf: float) -> list[str] | None:
    """Split a run of letters into common words (most probable split), or None."""
    lower = letters.lower()
    n = len(lower)
    best: list[tuple[float, int]] = [(0.0, 0)] + [(-math.inf, 0)] * n
    for end in range(1, n + 1):
        for start in range(max(0, end - 20), end):
            if best[start][0] == -math.inf:
                continue
            word = lower[start:end]
            score = zipf(word) if (len(word) > 1 or word in ("a", "i")) else 0.0
            if score < min_zipf:
                continue
            candidate = best[start][0] + score - 9.0  # log10 probability per word
            if candidate > best[end][0]:
                best[end] = (candidate, start)
    if best[n][0] == -math.inf:
        return None
    words: list[str] = []
    end = n
    while end > 0:
        start = best[end][1]
        words.append(letters[start:end])
        end = start
    words.reverse()
    return words


def join_letter_spacing(text: str, settings: RepairSettings) -> tuple[str, int]:
    """'a r e  b a s e d  o n' -> 'are based on'; 'C O N C L U S I O N' -> 'CONCLUSION'."""
    repeats = settings.min_letter_run - 1
    pattern = re.compile(rf"(?<![\w'])(?:[A-Za-z] {{1,3}}){{{repeats},}}[A-Za-z](?![\w'])")
    joins = 0

    def fix(match: re.Match[str]) -> str:
        nonlocal joins
        run = match.group(0)
        if re.search(r" {2,}", run):
            words = ["".join(group.split()) for group in re.split(r" {2,}", run)]
        else:
            letters = "".join(run.split())
            # A long run is certainly text, so rarer words may be read in it ("m i s o").
            floor = min(settings.min_word_zipf, 1.5) if len(letters) >= 8 else settings.min_word_zipf
            words = segment_letters(letters, floor) or []
            if not words or sum(map(len, words)) / len(words) < 3:
                if letters.isupper() and len(letters) >= 5:
                    words = [letters]
                else:
                    return run
        joins += 1
        return " ".join(words)

    return pattern.sub(fix, text), joins


def repair_words(
    text: str, settings: RepairSettings, counts: Counter[str], vocabulary: Counter[str] | None = None
) -> str:
    if settings.join_letter_spacing:
        text, n = join_letter_spacing(text, settings)
        counts[LETTER_RUNS] += n
    # Runs of spaces (justified PDF lines) carry no meaning once letter spacing is undone.
    text = re.sub(r"(?<=\S) {2,}(?=\S)", " ", text)
    if settings.join_split_words:
        text, n = join_inline_hyphens(text, settings)
        counts[HYPHENS] += n
        text, n = join_split_words(text, settings, vocabulary)
        counts[SPLIT_WORDS] += n
    return text
