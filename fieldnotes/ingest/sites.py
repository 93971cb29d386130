"""Decide the site of every passage.

Order of evidence: the document's metadata (front matter or manifest), its
folder, then its structure. A heading naming one site opens that site's section,
which runs until the next heading of the same or a higher level; a heading that
names no site returns to "general". A passage that merely mentions another site
stays in its section's site.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import PurePosixPath

from fieldnotes.citations import reads_as_references
from fieldnotes.ingest.model import BlockKind, CleanBlock
from fieldnotes.records import Passage
from fieldnotes.settings import GENERAL_SITE, Site
from fieldnotes.text import KANA_KANJI_BLOCK

# Headings of sections that by their nature belong to no one site. A heading
# inferred from plain-text layout carries no reliable level, so these words
# (and the sites its section talks about) tell a cross-site section from a
# subsection of a site's section.
_GENERAL_HEADING = re.compile(
    r"\b(introduction|conclusions?|concluding|summary|discussion|comparison|comparing|compared|"
    r"background|methods?|methodology|overview|references|bibliography|appendix|acknowledg\w*|"
    r"implications|recommendations|lessons|across|cross-cutting|cross-site|three|all sites|"
    r"key messages|abstract|preface|notes|reflections?|remarks|final)\b",
    re.I,
)
# Front-matter values that say "several sites": let the structure decide.
_MULTI_SITE_VALUES = {"multiple", "mixed", "several", "multi-site", "all", "various"}
_RUN_IN_HEADING_MAX = 60


# Words that make a place name part of an institution's name: a university in a biography or an
# affiliation, a publisher's city in a reference. A cooperative, clinic or hospital named after a
# site is evidence and is not listed here.
_INSTITUTION_AFTER = re.compile(
    r"^[\s,]*(?:(?:City|Metropolitan|Prefectural|National|Municipal|Medical|Dental|Christian)\s+)?"
    r"(?:University|College|Institute|Graduate School|Polytechnic|Gakuin|Daigaku)\b"
    # "Osaka: Sogensha, 2004." / "Tokyo: University of Tokyo Press."
    r"|^\s*:\s*[A-Z][\w&'’.-]*(?:\s+[A-Z][\w&'’.-]*)*\s*(?:Press|Publishers?|Publishing|Books)?[,.;)]",
)
_INSTITUTION_BEFORE = re.compile(r"\b(?:University|College|Institute|School)\s+(?:of|at)\s+(?:the\s+)?$", re.I)
# A place named to contrast with the one the text is about ("unlike in Nagoya", "than Osaka").
_CONTRAST_BEFORE = re.compile(
    r"\b(?:unlike|than|compared\s+(?:with|to)|in\s+contrast\s+(?:with|to)|whereas|other\s+than|as\s+in)"
    r"(?:\s+(?:in|at|with))?(?:\s+the)?\s*$",
    re.I,
)


def _not_about(text: str, start: int, end: int) -> bool:
    """Whether the site name at text[start:end] is part of an institution's or a publisher's
    name, or named in contrast, rather than a place the text is about."""
    after, before = text[end : end + 60], text[max(0, start - 40) : start]
    return bool(
        _INSTITUTION_AFTER.match(after) or _INSTITUTION_BEFORE.search(before) or _CONTRAST_BEFORE.search(before)
    )


def _is_cjk(text: str) -> bool:
    return bool(KANA_KANJI_BLOCK.search(text))


class SiteMatcher:
    """Finds site names (ids, labels and aliases) in text."""

    def __init__(self, sites: Sequence[Site]) -> None:
        self.sites = list(sites)
        self.labels = {site.id: site.label for site in sites}
        self._site_of: dict[str, str] = {}
        self._patterns: dict[str, re.Pattern[str]] = {}
        for site in sites:
            names = sorted({site.id, site.label, *site.aliases}, key=len, reverse=True)
            self._site_of.update({name.casefold(): site.id for name in names})
            parts = []
            for name in names:
                # Spaces and hyphens are interchangeable: "Minami-Odaka", "Minami Odaka".
                escaped = re.sub(r"(\\ |\\-)+", r"[\\s\\-]+", re.escape(name))
                parts.append(escaped if _is_cjk(name) else rf"(?<![^\W_]){escaped}(?![^\W_])")
            self._patterns[site.id] = re.compile("|".join(parts), re.I)

    def mentions(self, text: str) -> Counter[str]:
        """How often each site is named in `text` (aliases included, whole words only)."""
        return self._count(text, evidence_only=False)

    def evidence(self, text: str) -> Counter[str]:
        """Mentions that say a text is about a site: `mentions` without the site names that are
        part of an institution's name or a publisher's place ("Osaka University", "University
        of Osaka", "Osaka: Sogensha"), which say where someone works or a book was printed, and
        those named in contrast ("unlike in Nagoya")."""
        return self._count(text, evidence_only=True)

    def _count(self, text: str, evidence_only: bool) -> Counter[str]:
        counts: Counter[str] = Counter()
        for site_id, pattern in self._patterns.items():
            found = sum(
                1
                for match in pattern.finditer(text)
                if not (evidence_only and _not_about(text, match.start(), match.end()))
            )
            if found:
                counts[site_id] = found
        return counts

    def sites_named(self, text: str) -> set[str]:
        return set(self.mentions(text))

    def resolve(self, value: object) -> str | None:
        """Map a metadata value ('nagoya', 'Osaka', '新居浜') to a site id; None if unknown."""
        text = str(value).strip()
        if text.casefold() == GENERAL_SITE:
            return GENERAL_SITE
        direct = self._site_of.get(text.casefold())
        if direct:
            return direct
        named = self.sites_named(text)
        return named.pop() if len(named) == 1 else None


@dataclass(frozen=True)
class SiteDecision:
    site: str | None  # None: no decision yet, use the next kind of evidence
    evidence: str


def site_from_metadata(metadata: dict[str, object], matcher: SiteMatcher, source: str) -> SiteDecision:
    """Front matter or manifest `site:`. A list of sites or 'multiple' defers to the structure."""
    value = metadata.get("site")
    if value is None or value == "" or value == []:
        return SiteDecision(None, "")
    if isinstance(value, list) or str(value).strip().casefold() in _MULTI_SITE_VALUES:
        return SiteDecision(None, f"{source} lists several sites")
    site = matcher.resolve(value)
    if site is None:
        known = ", ".join([*matcher.labels, GENERAL_SITE])
        return SiteDecision(None, f"{source} names unknown site '{value}' (known: {known})")
    return SiteDecision(site, f"{source}: site={value}")


def site_from_folder(relpath: str, matcher: SiteMatcher) -> SiteDecision:
    """The deepest folder of the path whose name is a site's id, label or alias."""
    folders = PurePosixPath(relpath).parts[:-1]
    for folder in reversed(folders):
        name = re.sub(r"[_]+", " ", folder)
        site = matcher.resolve(name)
        if site and site != GENERAL_SITE:
            return SiteDecision(site, f"folder: {folder}/")
        named = matcher.sites_named(name)
        if len(named) == 1:
            return SiteDecision(named.pop(), f"folder: {folder}/")
    return SiteDecision(None, "")


def _run_in_heading(text: str, matcher: SiteMatcher) -> str | None:
    """A paragraph opening 'Nagoya: ...' or 'Niihama site — ...' acts as a section heading."""
    match = re.match(rf"^([^.!?:\n—–]{{2,{_RUN_IN_HEADING_MAX}}})\s*[:—–]\s+\S", text)
    if not match:
        return None
    named = matcher.sites_named(match.group(1))
    return named.pop() if len(named) == 1 else None


def _quote(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return f'"{text if len(text) <= limit else text[: limit - 1] + "…"}"'


@dataclass
class _Section:
    level: int
    site: str  # a site id or GENERAL_SITE
    evidence: str
    # A section found to be about a site from its text: passages before the text first names
    # the site (a general lead-in) stay general.
    starts_at: int = 0


def sites_from_structure(
    blocks: Sequence[CleanBlock], passages: Sequence[Passage], matcher: SiteMatcher
) -> list[SiteDecision]:
    """Walk headings in order; each passage takes the site of the innermost open section."""
    decisions: list[SiteDecision] = []
    stack: list[_Section] = []
    any_site_heading = False
    block_index = 0
    blocks = list(blocks)
    for passage in passages:
        while block_index < len(blocks) and blocks[block_index].start < passage.start:
            block = blocks[block_index]
            block_index += 1
            if block.kind != BlockKind.HEADING:
                continue
            level = block.level if block.level is not None else 2
            current = stack[-1] if stack else None
            while stack and stack[-1].level >= level:
                stack.pop()
            named = matcher.mentions(block.text)
            enclosing = stack[-1] if stack else None
            if len(named) == 1:
                site = next(iter(named))
                any_site_heading = True
                stack.append(_Section(level, site, f"heading {_quote(block.text)}"))
            elif len(named) > 1:
                stack.append(_Section(level, GENERAL_SITE, f"heading {_quote(block.text)} names several sites"))
            elif not block.inferred and enclosing and enclosing.site != GENERAL_SITE:
                # A marked-up subheading inside a site's section stays in that site.
                stack.append(_Section(level, enclosing.site, f"{enclosing.evidence} > {_quote(block.text, 40)}"))
            elif (
                block.inferred
                and current
                and current.site != GENERAL_SITE
                and not _GENERAL_HEADING.search(block.text)
                and _section_stays(blocks, block_index, current.site, matcher)
            ):
                # Plain text has no heading levels: a site-less heading whose section
                # talks of no other site is read as a subsection of the current site.
                base = current.evidence.split(" > ")[0]
                stack.append(_Section(level, current.site, f"{base} > {_quote(block.text, 40)}"))
            elif not _GENERAL_HEADING.search(block.text) and (
                about := _section_about(blocks, block_index, level, matcher)
            ):
                # A heading that names no site over a section that is about one (a case study
                # whose heading gives its theme, not its place).
                site, count, first = about
                any_site_heading = True
                label = matcher.labels[site]
                evidence = f"section {_quote(block.text, 40)} is about {label} (named {count}x, no other site)"
                stack.append(_Section(level, site, evidence, starts_at=first))
            else:
                stack.append(_Section(level, GENERAL_SITE, f"heading {_quote(block.text)} names no site"))
        run_in = _run_in_heading(passage.text, matcher)
        if run_in:
            any_site_heading = True
            while stack and stack[-1].level >= 99:
                stack.pop()
            stack.append(_Section(99, run_in, f"section opening {_quote(passage.text, 40)}"))
        if stack and passage.end <= stack[-1].starts_at:
            section = stack[-1]
            lead_in = f"{section.evidence.split(' is about ')[0]} has not named {matcher.labels[section.site]} yet"
            decisions.append(SiteDecision(GENERAL_SITE, lead_in))
        elif stack:
            decisions.append(SiteDecision(stack[-1].site, stack[-1].evidence))
        else:
            decisions.append(SiteDecision(None, ""))
    if any_site_heading:
        return decisions
    # No heading names a site: the structure says nothing about sites.
    return [SiteDecision(None, "") for _ in decisions]


# A section is about one site when its text names that site this often and no other site.
_SECTION_MIN_MENTIONS = 2


def _section_about(
    blocks: list[CleanBlock], after: int, level: int, matcher: SiteMatcher
) -> tuple[str, int, int] | None:
    """(site, times named, offset of the first naming) when the section opened by the heading
    before `after` is about one site: its text (up to the next heading of its level or higher)
    names that site at least twice outside headings and no other site, and every subheading
    in it names that site too (a subheading that names none, "Implications", is a part of the
    section that is not about it). None otherwise, and for a title heading over the whole
    document, which the document-wide evidence decides."""
    named: Counter[str] = Counter()
    in_body = 0
    first: int | None = None
    reached_end = True
    for block in blocks[after:]:
        is_heading = block.kind == BlockKind.HEADING
        if is_heading and (block.level if block.level is not None else 2) <= level:
            reached_end = False
            break
        found = matcher.evidence(block.text)
        if is_heading and not found:
            return None
        if found and first is None:
            first = block.start
        if not is_heading:
            in_body += sum(found.values())
        named.update(found)
    if after == 1 and reached_end:
        return None
    if len(named) != 1 or first is None or in_body < _SECTION_MIN_MENTIONS:
        return None
    site, count = next(iter(named.items()))
    return site, count, first


def _section_stays(blocks: list[CleanBlock], after: int, site: str, matcher: SiteMatcher) -> bool:
    """Whether the text up to the next heading still belongs to `site`.

    A section that names two other sites, or sets another site beside this one
    (a third or more of its site names), is cross-site; one other site named in
    passing is not.
    """
    named: Counter[str] = Counter()
    for block in blocks[after:]:
        if block.kind == BlockKind.HEADING:
            break
        named.update(matcher.mentions(block.text))
    others = {name: count for name, count in named.items() if name != site}
    if len(others) >= 2:
        return False
    if others and named[site]:
        return sum(others.values()) * 3 < sum(named.values())
    return True


# A document is about one site when its text names that site at least this often (in passages
# that are not reference lists, outside institutions' names), or names it at all when it is short.
_DOCUMENT_MIN_MENTIONS = 2
_SHORT_DOCUMENT_PASSAGES = 3


def sites_from_mentions(passages: Sequence[Passage], matcher: SiteMatcher) -> list[SiteDecision]:
    """Last resort for documents without site headings: what the text is about, weighed. Site
    names in reference lists and in institutions' names (an author's university) count for
    nothing; one passing mention in a long document makes only its passage that site's."""
    named_in: list[Counter[str]] = []
    total: Counter[str] = Counter()
    for passage in passages:
        named = Counter() if reads_as_references(passage.text) else matcher.evidence(passage.text)
        named_in.append(named)
        total.update(named)
    if len(total) == 1:
        site, count = next(iter(total.items()))
        if count >= _DOCUMENT_MIN_MENTIONS or len(passages) <= _SHORT_DOCUMENT_PASSAGES:
            evidence = f"the document names only {matcher.labels[site]} ({count}x)"
            return [SiteDecision(site, evidence) for _ in passages]
    if not total:
        ignored = any(matcher.mentions(passage.text) for passage in passages)
        why = "no site named in the document" + (" (only in references or institutions' names)" if ignored else "")
        return [SiteDecision(GENERAL_SITE, why) for _ in passages]
    several = len(total) > 1
    decisions = []
    for passage, named in zip(passages, named_in, strict=True):
        if len(named) == 1:
            site = next(iter(named))
            label = matcher.labels[site]
            evidence = (
                f"the document names several sites; this passage only {label}"
                if several
                else f"this passage names {label}; the rest of the document does not"
            )
            decisions.append(SiteDecision(site, evidence))
        elif reads_as_references(passage.text) and matcher.mentions(passage.text):
            decisions.append(SiteDecision(GENERAL_SITE, "a reference list: the sites it names are not evidence"))
        else:
            decisions.append(SiteDecision(GENERAL_SITE, "the document names several sites; this passage not one"))
    return decisions


def assign_sites(
    relpath: str,
    metadata: dict[str, object],
    metadata_source: str,
    blocks: Sequence[CleanBlock],
    passages: Sequence[Passage],
    matcher: SiteMatcher,
) -> tuple[list[Passage], list[str]]:
    """Return the passages with `site` and `site_evidence` set, and notes for the user."""
    notes: list[str] = []
    meta = site_from_metadata(metadata, matcher, metadata_source)
    if meta.site is None and meta.evidence and "unknown site" in meta.evidence:
        notes.append(meta.evidence)
    whole = meta if meta.site else site_from_folder(relpath, matcher)
    if whole.site:
        decisions: Iterable[SiteDecision] = [whole] * len(passages)
    else:
        structural = sites_from_structure(blocks, passages, matcher)
        fallback = sites_from_mentions(passages, matcher)
        if any(decision.site for decision in structural):
            # Outside the sites' sections (introduction, conclusion): general, unless
            # the whole document names a single site.
            single = fallback[0] if fallback and fallback[0].evidence.startswith("the document names only") else None
            outside = single or SiteDecision(GENERAL_SITE, "outside any site's section")
            decisions = [s if s.site else outside for s in structural]
        else:
            decisions = fallback
    assigned = [
        replace(passage, site=decision.site or GENERAL_SITE, site_evidence=decision.evidence)
        for passage, decision in zip(passages, decisions, strict=True)
    ]
    return assigned, notes
