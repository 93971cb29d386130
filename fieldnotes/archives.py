"""The one zip-safety policy: what a zip container may hold before fieldnotes opens it.

Word files (.docx, when ingesting) and the exchange formats (.qdpx and .xlsx, when importing)
are zip archives made elsewhere. Each caller passes its own ZipLimits and words the refusal
in its own error type; the checks, and their order, are the same for all:

1. no more than `max_members` members;
2. for each member: a name that stays inside the archive; not encrypted (if
   `refuse_encrypted`); no more than `max_member_bytes` unpacked (if set); no more than
   `max_ratio` times its packed size once past `ratio_floor_bytes` (if `ratio_of` is
   "member");
3. no more than `max_total_bytes` unpacked in all; and, if `ratio_of` is "archive", all
   members together no more than `max_ratio` times their packed size once past
   `ratio_floor_bytes`.

The limits differ between callers, and each keeps its own (fieldnotes.ingest.readers.word,
fieldnotes.exchange.archive) as it always had them, so that no file read before is refused now
nor one refused before read. A Word file is read by python-docx from the bytes already in
memory and never unpacked to disk, so its member names are lenient (a backslash counts as a
separator; only names that climb out are refused) and its ratio is counted over the whole
archive. The exchange formats are read member by member with a hard cap per member, so each
member is checked on its own, and their names are strict: no REFI-QDA tool or spreadsheet
program writes an empty name, a NUL, a backslash or a drive.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal

ProblemKind = Literal["members", "name", "encrypted", "member_size", "member_ratio", "total_size", "archive_ratio"]


@dataclass(frozen=True)
class ZipLimits:
    max_members: int
    max_total_bytes: int
    max_ratio: int
    ratio_floor_bytes: int  # small members of XML compress extremely well: ratios count only above this
    ratio_of: Literal["member", "archive"]
    max_member_bytes: int | None = None
    refuse_encrypted: bool = False
    # Strict names also refuse empty names, NUL, any backslash and a colon in the first part;
    # lenient ones read a backslash as a separator and refuse only names that climb out.
    strict_names: bool = False


@dataclass(frozen=True)
class ZipProblem:
    """Why an archive is refused: `member` names the member at fault (if one is), `size` the
    bytes it (or the archive) unpacks to, `count` the number of members."""

    kind: ProblemKind
    member: zipfile.ZipInfo | None = None
    size: int = 0
    count: int = 0


def member_name_is_safe(name: str, *, strict: bool) -> bool:
    """A member name that stays inside the archive (no absolute path, drive or '..')."""
    if strict and (not name or "\x00" in name or "\\" in name):
        return False
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts:
        return False
    if strict:
        return not (path.parts and ":" in path.parts[0])
    return not re.match(r"[A-Za-z]:", name)


def _member_problem(info: zipfile.ZipInfo, limits: ZipLimits) -> ZipProblem | None:
    if not member_name_is_safe(info.filename, strict=limits.strict_names):
        return ZipProblem("name", info)
    if limits.refuse_encrypted and info.flag_bits & 0x1:
        return ZipProblem("encrypted", info)
    if limits.max_member_bytes is not None and info.file_size > limits.max_member_bytes:
        return ZipProblem("member_size", info, info.file_size)
    if (
        limits.ratio_of == "member"
        and info.file_size > limits.ratio_floor_bytes
        and info.file_size > limits.max_ratio * max(info.compress_size, 1)
    ):
        return ZipProblem("member_ratio", info, info.file_size)
    return None


def zip_problem(members: Sequence[zipfile.ZipInfo], limits: ZipLimits) -> ZipProblem | None:
    """The first reason to refuse an archive with these members, or None if it is safe to open."""
    if len(members) > limits.max_members:
        return ZipProblem("members", count=len(members))
    for info in members:
        problem = _member_problem(info, limits)
        if problem is not None:
            return problem
    total = sum(info.file_size for info in members)
    if total > limits.max_total_bytes:
        return ZipProblem("total_size", size=total)
    packed = sum(info.compress_size for info in members) or 1
    if limits.ratio_of == "archive" and total > limits.ratio_floor_bytes and total / packed > limits.max_ratio:
        return ZipProblem("archive_ratio", size=total)
    return None
