"""Reading files made elsewhere without trusting them.

A .qdpx or .xlsx is a zip archive of XML. Before anything is parsed: the archive must be
a readable zip, have at most MAX_MEMBERS members, no member whose name is absolute or
climbs out of the archive ('../'), no member larger than MAX_MEMBER_BYTES once
unpacked, no more than MAX_TOTAL_BYTES in all, and no member that unpacks to more than
MAX_RATIO times its packed size (a zip bomb). Members are read with a hard cap, so a
lying size in the zip directory cannot get past it. XML is parsed with defusedxml: no
DTDs, no entities, no external references.
"""

from __future__ import annotations

import zipfile
from pathlib import Path, PurePosixPath
from xml.etree.ElementTree import Element

from fieldnotes.errors import FieldnotesError

MAX_MEMBERS = 10_000
MAX_MEMBER_BYTES = 200 * 1024 * 1024
MAX_TOTAL_BYTES = 1024 * 1024 * 1024
MAX_RATIO = 200
# Small members compress extremely well when they are XML; ratios only count above this size.
RATIO_FLOOR_BYTES = 1024 * 1024


class ExchangeError(FieldnotesError):
    """A file to import or export is invalid, unsafe or does not fit the database."""


def _safe_member_name(name: str) -> bool:
    if not name or "\x00" in name or "\\" in name:
        return False
    path = PurePosixPath(name)
    return not path.is_absolute() and ".." not in path.parts and not (path.parts and ":" in path.parts[0])


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
        members = self._zip.infolist()
        if len(members) > MAX_MEMBERS:
            raise ExchangeError(f"{self.path}: refused: {len(members)} files inside (limit {MAX_MEMBERS})")
        total = 0
        for info in members:
            if not _safe_member_name(info.filename):
                raise ExchangeError(
                    f"{self.path}: refused: member '{info.filename}' has an unsafe path (absolute or '..')"
                )
            if info.flag_bits & 0x1:
                raise ExchangeError(f"{self.path}: refused: member '{info.filename}' is encrypted")
            if info.file_size > MAX_MEMBER_BYTES:
                raise ExchangeError(
                    f"{self.path}: refused: member '{info.filename}' unpacks to {info.file_size:,} bytes "
                    f"(limit {MAX_MEMBER_BYTES:,})"
                )
            if info.file_size > RATIO_FLOOR_BYTES and info.file_size > MAX_RATIO * max(info.compress_size, 1):
                raise ExchangeError(
                    f"{self.path}: refused: member '{info.filename}' looks like a zip bomb "
                    f"({info.compress_size:,} bytes unpack to {info.file_size:,})"
                )
            total += info.file_size
        if total > MAX_TOTAL_BYTES:
            raise ExchangeError(f"{self.path}: refused: unpacks to {total:,} bytes (limit {MAX_TOTAL_BYTES:,})")

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
