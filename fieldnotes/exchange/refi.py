"""REFI-QDA exports: a project (.qdpx) and a codebook (.qdc).

The project carries every current document as a plain-text source (`internal://GUID.txt`,
the cleaned text whose offsets fieldnotes uses), the codebook as a code tree (groups are
non-codable parents), one PlainTextSelection per (excerpt, code) with one Coding, sites
as cases with a `Site` variable, and coders as users (suggestions not yet reviewed are
the user "fieldnotes"). Score, status, rationale and memo go into the selection's
description.

Offsets are Unicode code points by default, as the REFI-QDA standard says. NVivo counts
UTF-16 code units instead, so a character outside the Basic Multilingual Plane (an emoji,
a rare kanji) counts twice there; `offsets="utf16"` writes NVivo's counting.

GUIDs are derived (uuid5) from fieldnotes' own ids: the same database gives the same
file, and a code keeps its GUID from one export to the next.
"""

from __future__ import annotations

import re
import uuid
import zipfile
from bisect import bisect_left
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from xml.etree.ElementTree import Element, SubElement, tostring

from fieldnotes import __version__
from fieldnotes.codebook import Codebook
from fieldnotes.exchange.data import (
    CODING_STATUSES,
    MACHINE_CODER,
    CodedExcerpt,
    ExportData,
    ExportFormat,
    ExportRequest,
    SourceText,
)
from fieldnotes.files import atomic_path

PROJECT_NS = "urn:QDA-XML:project:1.0"
CODEBOOK_NS = "urn:QDA-XML:codebook:1.0"
ORIGIN = f"fieldnotes {__version__}"
OFFSET_UNITS = ("codepoints", "utf16")
_GUIDS = uuid.UUID("6f1d0b52-3f43-5b8e-9d59-1c7e0a3c2f10")
# Characters XML 1.0 cannot carry at all.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# A fixed time inside the archive, so the same export gives the same bytes.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def guid(*parts: str) -> str:
    """A stable GUID (8-4-4-4-12 hex) for a fieldnotes object."""
    return str(uuid.uuid5(_GUIDS, "\x1f".join(parts)))


def xml_text(value: str) -> str:
    return _NOT_XML.sub("\ufffd", value)


def xsd_datetime(stamp: str | None) -> str | None:
    """The database's '2026-11-22T18:00:00+0000' as an xsd:dateTime in UTC."""
    if not stamp:
        return None
    for pattern in ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z"):
        try:
            return datetime.strptime(stamp, pattern).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Utf16Offsets:
    """Code-point offsets of one text converted to UTF-16 code units (NVivo's counting)."""

    def __init__(self, text: str) -> None:
        self._astral = [index for index, char in enumerate(text) if ord(char) > 0xFFFF]

    def __call__(self, offset: int) -> int:
        return offset + bisect_left(self._astral, offset)


def code_guid(book: Codebook, code_id: str) -> str:
    return guid("code", book.id, code_id)


# What a REFI-QDA codebook has no place for (ids, rules, examples, patterns) travels in a marked
# block at the end of each description: other tools show it as text and keep it, and
# `fieldnotes import-codebook` reads it back, so a codebook survives a trip through them.
DATA_BLOCK_START = "--- fieldnotes data (keep this block; fieldnotes reads it back) ---"
DATA_BLOCK_END = "--- end of fieldnotes data ---"


def data_block(values: dict) -> str:
    import json

    return f"{DATA_BLOCK_START}\n{json.dumps(values, ensure_ascii=False, sort_keys=True)}\n{DATA_BLOCK_END}"


def code_description(book: Codebook, code_id: str) -> str:
    code = book.code(code_id)
    parts = [code.definition.strip()]
    if code.include:
        parts.append("Include: " + " ".join(item.strip() for item in code.include))
    if code.exclude:
        parts.append("Exclude: " + " ".join(item.strip() for item in code.exclude))
    kept = code.model_dump(exclude={"name", "parent"}, exclude_defaults=True)
    parts.append(data_block(kept))
    return xml_text("\n\n".join(parts))


def code_tree(book: Codebook) -> Element:
    """<Codes>: groups (nested by their parents) as non-codable codes, codes as codable leaves."""
    codes = Element("Codes")
    group_elements: dict[str, Element] = {}
    pending = list(book.groups)
    # Parents before children, whatever order the YAML lists them in (the codebook has no cycles).
    while pending:
        rest = []
        for group in pending:
            if group.parent is not None and group.parent not in group_elements:
                rest.append(group)
                continue
            parent = codes if group.parent is None else group_elements[group.parent]
            element = SubElement(
                parent, "Code", guid=guid("group", book.id, group.id), name=xml_text(group.name), isCodable="false"
            )
            block = data_block({"id": group.id, "group": True})
            SubElement(element, "Description").text = xml_text(
                f"{group.description.strip()}\n\n{block}" if group.description.strip() else block
            )
            group_elements[group.id] = element
        pending = rest
    for code in book.codes:
        parent = codes if code.parent is None else group_elements[code.parent]
        element = SubElement(parent, "Code", guid=code_guid(book, code.id), name=xml_text(code.name), isCodable="true")
        SubElement(element, "Description").text = code_description(book, code.id)
    return codes


def _serialise(root: Element) -> bytes:
    return tostring(root, encoding="utf-8", xml_declaration=True)


def codebook_xml(book: Codebook) -> bytes:
    root = Element("CodeBook", xmlns=CODEBOOK_NS, origin=ORIGIN)
    root.append(code_tree(book))
    return _serialise(root)


def source_names(paths: list[str]) -> list[str]:
    """A source's name as other tools show it and build file names from: the document's name
    without its folders' slashes or its extension ("articles/three-sites.pdf" -> "articles -
    three-sites"), numbered when two would be the same. (QualCoder makes file paths from the
    name and guesses the type from its extension; the full path goes in the description.)"""
    names: list[str] = []
    seen: set[str] = set()
    for path in paths:
        parts = Path(path).with_suffix("").parts
        base = " - ".join(parts) or "source"
        name, number = base, 2
        while name.lower() in seen:
            name, number = f"{base} ({number})", number + 1
        seen.add(name.lower())
        names.append(name)
    return names


def write_qdc(book: Codebook, path: Path) -> int:
    """The codebook alone, as a REFI-QDA codebook file; returns the number of codes."""
    _write_atomic(path, codebook_xml(book))
    return len(book.codes)


def _description(row: CodedExcerpt, site_label: str) -> str:
    parts = [f"fieldnotes: {row.status}"]
    if row.coder and row.status != "suggested":
        parts[0] += f" by {row.coder}"
    if row.score is not None:
        parts.append(f"score {row.score:.2f}")
    parts.append(f"site {site_label}")
    if row.suggested_by:
        parts.append(f"suggested by {row.suggested_by}")
    text = "; ".join(parts)
    if row.rationale:
        text += f"\nReason: {row.rationale}"
    if row.memo:
        text += f"\nMemo: {row.memo}"
    return xml_text(text)


def project_xml(data: ExportData, offsets: str = "codepoints") -> tuple[bytes, dict[str, str]]:
    """The project.qde document and the source texts to store beside it (GUID -> text)."""
    if offsets not in OFFSET_UNITS:
        raise ValueError(f"offsets must be one of {OFFSET_UNITS}")
    book = data.codebook
    rows = [row for row in data.rows if row.status in CODING_STATUSES]
    stamps = [stamp for stamp in (xsd_datetime(row.decided_at) for row in rows) if stamp]
    root = Element("Project", xmlns=PROJECT_NS, name=xml_text(f"fieldnotes: {book.name}"), origin=ORIGIN)
    if stamps:
        root.set("modifiedDateTime", max(stamps))
    coders = sorted({_coder_of(row) for row in rows})
    if coders:
        users = SubElement(root, "Users")
        for name in coders:
            SubElement(users, "User", guid=guid("user", name), name=xml_text(name), id=xml_text(name))
    codebook = SubElement(root, "CodeBook")
    codebook.append(code_tree(book))

    documents = [doc for doc in data.documents if doc.text]
    selection_guid = {(row.excerpt_id, row.code): guid("selection", row.excerpt_id, row.code) for row in rows}
    _add_site_cases(root, data, documents, rows, selection_guid)
    texts = _add_sources(root, data, documents, rows, selection_guid, offsets)
    SubElement(root, "Description").text = xml_text(
        f"Exported by {ORIGIN} from codebook {book.id} {book.version}; codings with status "
        f"{', '.join(sorted({row.status for row in rows})) or 'none'}; selection offsets in "
        f"{'UTF-16 code units (NVivo)' if offsets == 'utf16' else 'Unicode code points'} of the plain-text sources."
    )
    return _serialise(root), texts


def _coder_of(row: CodedExcerpt) -> str:
    return row.coder if row.status == "accepted" and row.coder else MACHINE_CODER


def _add_site_cases(
    root: Element,
    data: ExportData,
    documents: list[SourceText],
    rows: list[CodedExcerpt],
    selection_guid: dict[tuple[str, str], str],
) -> None:
    """<Variables> with the Site variable and <Cases>, one per site: the documents wholly about
    the site, and the selections placed there inside documents that cover several sites."""
    site_of_document = {doc.document_id: doc.sites for doc in documents}
    sites = sorted({site for doc in documents for site in doc.sites} | {row.site for row in rows})
    if not sites:
        return
    site_variable = guid("variable", "site")
    variables = SubElement(root, "Variables")
    variable = SubElement(variables, "Variable", guid=site_variable, name="Site", typeOfVariable="Text")
    SubElement(variable, "Description").text = "The research site fieldnotes placed the text at"
    cases = SubElement(root, "Cases")
    for site in sites:
        case = SubElement(cases, "Case", guid=guid("case", site), name=xml_text(data.site_label(site)))
        SubElement(case, "Description").text = xml_text(
            f"Site {data.site_label(site)}: whole documents about this site, and the coded "
            "selections placed here inside documents that cover several sites"
        )
        value = SubElement(case, "VariableValue")
        SubElement(value, "VariableRef", targetGUID=site_variable)
        SubElement(value, "TextValue").text = xml_text(data.site_label(site))
        for doc in documents:
            if doc.sites == (site,):
                SubElement(case, "SourceRef", targetGUID=guid("source", doc.document_id))
        for row in rows:
            if row.site == site and len(site_of_document.get(row.document_id, ())) != 1:
                SubElement(case, "SelectionRef", targetGUID=selection_guid[(row.excerpt_id, row.code)])


def _add_sources(
    root: Element,
    data: ExportData,
    documents: list[SourceText],
    rows: list[CodedExcerpt],
    selection_guid: dict[tuple[str, str], str],
    offsets: str,
) -> dict[str, str]:
    """<Sources>: each document as a plain-text source holding its coded selections; returns
    the texts to store beside the project (GUID -> text)."""
    texts: dict[str, str] = {}
    by_document: dict[str, list[CodedExcerpt]] = {}
    for row in rows:
        by_document.setdefault(row.document_id, []).append(row)
    if not documents:
        return texts
    sources = SubElement(root, "Sources")
    names = source_names([doc.path for doc in documents])
    for doc, name in zip(documents, names, strict=True):
        source_guid = guid("source", doc.document_id)
        texts[source_guid] = doc.text
        source = SubElement(
            sources, "TextSource", guid=source_guid, name=xml_text(name),
            plainTextPath=f"internal://{source_guid}.txt",
        )  # fmt: skip
        SubElement(source, "Description").text = xml_text(f"fieldnotes document: {doc.path}")
        convert = Utf16Offsets(doc.text) if offsets == "utf16" else None
        for row in by_document.get(doc.document_id, []):
            _add_selection(source, data, row, selection_guid[(row.excerpt_id, row.code)], convert)
        if len(doc.sites) == 1:
            # The site as a variable of the source too: tools that ignore cases (QualCoder) keep it.
            value = SubElement(source, "VariableValue")
            SubElement(value, "VariableRef", targetGUID=guid("variable", "site"))
            SubElement(value, "TextValue").text = xml_text(data.site_label(doc.sites[0]))
    return texts


def _add_selection(
    source: Element, data: ExportData, row: CodedExcerpt, selection_guid: str, convert: Utf16Offsets | None
) -> None:
    """One PlainTextSelection with its one Coding; dated when a coder accepted it."""
    start, end = (convert(row.start), convert(row.end)) if convert else (row.start, row.end)
    user = guid("user", _coder_of(row))
    stamp = xsd_datetime(row.decided_at) if row.status == "accepted" else None
    selection = SubElement(
        source, "PlainTextSelection", guid=selection_guid,
        name=xml_text(_short(row.text)), startPosition=str(start), endPosition=str(end),
        creatingUser=user,
    )  # fmt: skip
    if stamp:
        selection.set("creationDateTime", stamp)
    SubElement(selection, "Description").text = _description(row, data.site_label(row.site))
    coding_guid = guid("coding", row.excerpt_id, row.code)
    coding = SubElement(selection, "Coding", guid=coding_guid, creatingUser=user)
    if stamp:
        coding.set("creationDateTime", stamp)
    SubElement(coding, "CodeRef", targetGUID=code_guid(data.codebook, row.code))


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def write_qdpx(data: ExportData, path: Path, offsets: str = "codepoints") -> int:
    """The REFI-QDA project archive; returns the number of codings written."""
    project, texts = project_xml(data, offsets)
    members: list[tuple[str, bytes]] = [("project.qde", project)]
    members += [(f"Sources/{source}.txt", text.encode("utf-8")) for source, text in sorted(texts.items())]
    _write_zip(path, members)
    return sum(1 for row in data.rows if row.status in CODING_STATUSES)


def _write_zip(path: Path, members: Iterable[tuple[str, bytes]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def _write_qdpx_request(request: ExportRequest) -> int:
    assert request.data is not None, "a project export needs coded excerpts"
    return write_qdpx(request.data, request.path, request.offsets)


export_qdpx = ExportFormat(_write_qdpx_request, codings_only=True)
export_qdc = ExportFormat(lambda request: write_qdc(request.codebook, request.path), codebook_only=True)
