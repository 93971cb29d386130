"""Reading REFI-QDA files made by other tools (NVivo, ATLAS.ti, MAXQDA, QualCoder).

Only what fieldnotes can use is read: users, the code tree, and text sources with their
plain-text selections and codings. Everything is untrusted (see `archive`); the project
XML is matched by local names, since tools differ in how they write the namespace, and
NVivo writes `sources/` where the standard says `Sources/`.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from xml.etree.ElementTree import Element

from fieldnotes.exchange.archive import (
    ExchangeError,
    SafeArchive,
    child,
    children,
    local_name,
    parse_xml,
    read_bounded_file,
)

MAX_XML_BYTES = 200 * 1024 * 1024


@dataclass
class RefiCode:
    guid: str
    name: str
    description: str
    codable: bool
    children: list[RefiCode] = field(default_factory=list)

    def walk(self) -> list[RefiCode]:
        found = [self]
        for item in self.children:
            found.extend(item.walk())
        return found


@dataclass(frozen=True)
class RefiSelection:
    guid: str
    start: int
    end: int
    code_guids: tuple[str, ...]
    user_guid: str | None
    description: str
    created: str | None


@dataclass
class RefiSource:
    guid: str
    name: str
    text: str | None
    selections: list[RefiSelection]
    problem: str | None = None  # why its text could not be read


@dataclass
class RefiProject:
    path: Path
    name: str
    origin: str
    codes: list[RefiCode]
    users: dict[str, str]  # guid -> name
    sources: list[RefiSource]
    skipped_sources: list[str]  # non-text sources (PDF, pictures, audio, video), by name
    cases_of_source: dict[str, list[str]] = field(default_factory=dict)  # source guid -> case names
    # <Sets> (ATLAS.ti's code and document groups): (name, member codes, member sources). A code
    # may be in several, so they are no tree; fieldnotes reports them.
    sets: list[tuple[str, int, int]] = field(default_factory=list)

    def all_codes(self) -> list[RefiCode]:
        return [code for root in self.codes for code in root.walk()]


def _codes(element: Element | None) -> list[RefiCode]:
    if element is None:
        return []
    found = []
    for item in children(element, "Code"):
        description = child(item, "Description")
        found.append(
            RefiCode(
                guid=(item.get("guid") or "").strip("{}").lower(),
                name=(item.get("name") or "").strip() or "unnamed code",
                description=(description.text or "").strip() if description is not None else "",
                codable=(item.get("isCodable") or "true").lower() != "false",
                children=_codes(item),
            )
        )
    return found


def _code_tree(book: Element | None) -> list[RefiCode]:
    return _codes(child(book, "Codes")) if book is not None else []


def read_codebook(path: Path) -> tuple[str, list[RefiCode]]:
    """(origin, code tree) of a .qdc codebook or of the codebook inside a .qdpx project."""
    path = Path(path)
    if path.suffix.lower() == ".qdpx":
        project = read_project(path, with_sources=False)
        return project.origin, project.codes
    root = parse_xml(read_bounded_file(path, MAX_XML_BYTES, "a codebook"), str(path))
    if local_name(root) != "CodeBook":
        raise ExchangeError(f"{path}: not a REFI-QDA codebook (root element <{local_name(root)}>, not <CodeBook>)")
    return root.get("origin") or "", _code_tree(root)


def _member_for(archive: SafeArchive, reference: str) -> str | None:
    """The archive member an `internal://` path names; NVivo uses 'sources/', others 'Sources/'."""
    name = reference.removeprefix("internal://")
    wanted = {f"sources/{name}".lower()}
    for member in archive.names():
        if member.lower() in wanted:
            return member
    return None


def _decode(data: bytes) -> str:
    return data.decode("utf-8-sig")


def _selections(source: Element) -> list[RefiSelection]:
    found = []
    for item in children(source, "PlainTextSelection"):
        try:
            start, end = int(item.get("startPosition", "")), int(item.get("endPosition", ""))
        except ValueError:
            continue
        codes = tuple(
            (ref.get("targetGUID") or "").strip("{}").lower()
            for coding in children(item, "Coding")
            for ref in children(coding, "CodeRef")
        )
        description = child(item, "Description")
        found.append(
            RefiSelection(
                guid=(item.get("guid") or "").strip("{}").lower(),
                start=start,
                end=end,
                code_guids=codes,
                user_guid=(item.get("creatingUser") or "").strip("{}").lower() or None,
                description=(description.text or "").strip() if description is not None else "",
                created=item.get("creationDateTime"),
            )
        )
    return found


def read_project(path: Path, with_sources: bool = True) -> RefiProject:
    """Users, code tree and text sources (with their text and selections) of a .qdpx archive."""
    path = Path(path)
    with SafeArchive(path, "REFI-QDA project (.qdpx)") as archive:
        qde = next((name for name in archive.names() if name.lower() == "project.qde"), None)
        if qde is None:
            raise ExchangeError(f"{path}: not a REFI-QDA project: project.qde is missing from the archive")
        root = parse_xml(archive.read(qde), f"{path}:{qde}")
        if local_name(root) != "Project":
            raise ExchangeError(f"{path}: project.qde's root element is <{local_name(root)}>, not <Project>")
        users_element = child(root, "Users")
        users = {
            (user.get("guid") or "").strip("{}").lower(): user.get("name") or user.get("id") or "unknown"
            for user in (children(users_element, "User") if users_element is not None else [])
        }
        sources: list[RefiSource] = []
        skipped: list[str] = []
        sources_element = child(root, "Sources")
        variable_names = {
            (variable.get("guid") or "").strip("{}").lower(): (variable.get("name") or "").strip().lower()
            for variable in root.iter()
            if local_name(variable) == "Variable"
        }
        site_of_source: dict[str, str] = {}
        for item in list(sources_element) if (with_sources and sources_element is not None) else []:
            kind = local_name(item)
            name = item.get("name") or item.get("guid") or "unnamed source"
            site = _site_value(item, variable_names)
            if kind != "TextSource":
                # A PDF (or other) source may carry its text as a <Representation>, a text source
                # whose selections hold the codings: that part comes in.
                representation = child(item, "Representation")
                if representation is None:
                    skipped.append(f"{name} ({kind})")
                    continue
                item = representation
            source = RefiSource((item.get("guid") or "").strip("{}").lower(), name, None, _selections(item))
            if site:
                site_of_source[source.guid] = site
            content = child(item, "PlainTextContent")
            reference = item.get("plainTextPath") or ""
            if content is not None:
                source.text = content.text or ""
            elif reference.startswith("internal://"):
                member = _member_for(archive, reference)
                if member is None:
                    source.problem = f"its text {reference} is missing from the archive"
                else:
                    try:
                        source.text = _decode(archive.read(member))
                    except UnicodeDecodeError:
                        source.problem = f"its text {member} is not UTF-8"
            elif reference:
                # relative:// and absolute:// point at files outside the archive: never read them.
                source.problem = f"its text is outside the project file ({reference})"
            else:
                source.problem = "it has no plain text"
            sources.append(source)
        # A source's site: a "Site" variable on the source (tools that ignore cases keep these),
        # else the cases that name it.
        cases_of_source: dict[str, list[str]] = {guid: [site] for guid, site in site_of_source.items()}
        cases_element = child(root, "Cases")
        for case in children(cases_element, "Case") if cases_element is not None else []:
            for ref in children(case, "SourceRef"):
                target = (ref.get("targetGUID") or "").strip("{}").lower()
                if target not in site_of_source:
                    cases_of_source.setdefault(target, []).append(case.get("name") or "")
        sets = [
            (
                element.get("name") or "unnamed set",
                sum(local_name(member) == "MemberCode" for member in element),
                sum(local_name(member) == "MemberSource" for member in element),
            )
            for element in root.iter()
            if local_name(element) == "Set"
        ]
        return RefiProject(
            sets=sets,
            cases_of_source=cases_of_source,
            path=path,
            name=root.get("name") or path.stem,
            origin=root.get("origin") or "",
            codes=_code_tree(child(root, "CodeBook")),
            users=users,
            sources=sources,
            skipped_sources=skipped,
        )


def _site_value(source: Element, variable_names: dict[str, str]) -> str | None:
    """The text value of a source's variable named "Site", if it has one."""
    for value in children(source, "VariableValue"):
        ref = child(value, "VariableRef")
        target = (ref.get("targetGUID") or "").strip("{}").lower() if ref is not None else ""
        text = child(value, "TextValue")
        if variable_names.get(target) == "site" and text is not None and (text.text or "").strip():
            return (text.text or "").strip()
    return None


def utf16_to_codepoints(text: str, offset: int) -> int:
    """A UTF-16 code-unit offset (NVivo's counting) as a code-point offset into `text`."""
    if offset <= 0:
        return 0
    # The first character whose UTF-16 start (the end of the one before) is at or past `offset`.
    return min(len(text), bisect.bisect_left(_utf16_ends(text), offset) + 1)


@lru_cache(maxsize=4)  # one source's text serves all its selections
def _utf16_ends(text: str) -> list[int]:
    """For each character, the UTF-16 offset just after it."""
    ends, units = [], 0
    for char in text:
        units += 2 if ord(char) > 0xFFFF else 1
        ends.append(units)
    return ends
