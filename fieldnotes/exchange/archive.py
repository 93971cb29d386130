"""Reading files made elsewhere without trusting them.

A .qdpx or .xlsx is a zip archive of XML. Before anything is parsed: the archive must be
a readable zip and pass the zip-safety policy (fieldnotes.archives) with these limits: at
most MAX_MEMBERS members, no member whose name is absolute or climbs out of the archive
('../'), no member larger than MAX_MEMBER_BYTES once unpacked, no more than
MAX_TOTAL_BYTES in all, and no member that unpacks to more than MAX_RATIO times its
packed size (a zip bomb). Members are read with a hard cap, so a lying size in the zip
directory cannot get past it. XML is parsed with defusedxml: no DTDs, no entities, no
external references.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from xml.etree.ElementTree import Element

from fieldnotes.archives import ZipLimits, zip_problem
from fieldnotes.errors import FieldnotesError

MAX_MEMBERS = 10_000
MAX_MEMBER_BYTES = 200 * 1024 * 1024
MAX_TOTAL_BYTES = 1024 * 1024 * 1024
MAX_RATIO = 200
# Small members compress extremely well when they are XML; ratios only count above this size.
RATIO_FLOOR_BYTES = 1024 * 1024
# These limits, for the one zip-safety policy (fieldnotes.archives): every member checked on its own.
ZIP_LIMITS = ZipLimits(
    max_members=MAX_MEMBERS,
    max_total_bytes=MAX_TOTAL_BYTES,
    max_ratio=MAX_RATIO,
    ratio_floor_bytes=RATIO_FLOOR_BYTES,
    ratio_of="member",
    max_member_bytes=MAX_MEMBER_BYTES,
    refuse_encrypted=True,
    strict_names=True,
)


class ExchangeError(FieldnotesError):
    """A file to import or export is invalid, unsafe or does not fit the database."""


class SafeArchive:
    """A zip archive checked for traversal, size and bombs; members read with a hard cap."""

    def __init__(self, path: Path, kind: str) -> None:
        self.path = Path(path)
        self.kind = kind
        try:
            self._zip = zipfile.ZipFile(self.path)
        except FileNotFoundError:
            raise ExchangeError(f"{path}: no such file") from None
        except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError) as exc:
            # NotImplementedError: a compression method or zip feature Python cannot read.
            raise ExchangeError(f"{path}: not a readable {kind} file (not a zip archive: {exc})") from None
        try:
            self._check()
        except ExchangeError:
            self._zip.close()
            raise

    def _check(self) -> None:
        problem = zip_problem(self._zip.infolist(), ZIP_LIMITS)
        if problem is None:
            return
        info, refused = problem.member, f"{self.path}: refused:"
        name = info.filename if info is not None else ""
        if problem.kind == "members":
            raise ExchangeError(f"{refused} {problem.count} files inside (limit {MAX_MEMBERS})")
        if problem.kind == "name":
            raise ExchangeError(f"{refused} member '{name}' has an unsafe path (absolute or '..')")
        if problem.kind == "encrypted":
            raise ExchangeError(f"{refused} member '{name}' is encrypted")
        if problem.kind == "member_size":
            raise ExchangeError(
                f"{refused} member '{name}' unpacks to {problem.size:,} bytes (limit {MAX_MEMBER_BYTES:,})"
            )
        if problem.kind == "member_ratio" and info is not None:
            packed = info.compress_size
            raise ExchangeError(
                f"{refused} member '{name}' looks like a zip bomb ({packed:,} bytes unpack to {problem.size:,})"
            )
        raise ExchangeError(f"{refused} unpacks to {problem.size:,} bytes (limit {MAX_TOTAL_BYTES:,})")

    def names(self) -> list[str]:
        return self._zip.namelist()

    def read(self, name: str) -> bytes:
        """A member's bytes, never more than its declared size or the limit."""
        try:
            info = self._zip.getinfo(name)
        except KeyError:
            raise ExchangeError(f"{self.path}: '{name}' is missing from the {self.kind} file") from None
        limit = min(info.file_size, MAX_MEMBER_BYTES)
        try:
            with self._zip.open(info) as handle:
                data = handle.read(limit + 1)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
            raise ExchangeError(f"{self.path}: cannot read '{name}' ({exc})") from None
        if len(data) > limit:
            raise ExchangeError(f"{self.path}: refused: '{name}' unpacks to more than its declared size")
        return data

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> SafeArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def parse_xml(data: bytes, source: str) -> Element:
    """Parse untrusted XML: DTDs, entities and external references are refused."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import ParseError, fromstring

    try:
        return fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise ExchangeError(f"{source}: refused: the XML declares a DTD or entities ({type(exc).__name__})") from None
    except ParseError as exc:
        raise ExchangeError(f"{source}: not well-formed XML ({exc})") from None


def local_name(element: Element) -> str:
    """The tag without its namespace: tools differ in how they write the REFI namespace."""
    tag = element.tag
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def children(element: Element, name: str) -> list[Element]:
    return [child for child in element if local_name(child) == name]


def child(element: Element, name: str) -> Element | None:
    for item in element:
        if local_name(item) == name:
            return item
    return None


def read_bounded_file(path: Path, limit: int, what: str) -> bytes:
    """The bytes of a file brought in from another tool, refused with a message naming it when it
    is missing or larger than `limit` (`what` says what it was to be: "a codebook")."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ExchangeError(f"{path}: no such file") from None
    if size > limit:
        raise ExchangeError(f"{path}: refused: {size:,} bytes is too large for {what}")
    return path.read_bytes()
