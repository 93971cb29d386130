"""Decode text files whose encoding nobody wrote down (UTF-8, UTF-16, Shift_JIS/CP932, ...)."""

from __future__ import annotations

import codecs
from pathlib import Path

from fieldnotes.errors import DocumentError

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Encodings our users' files come in when they are not UTF-8: Japanese and Western
# Windows code pages. Detection chooses among these first; any other only if none fits.
_LIKELY = ["cp932", "euc_jp", "iso2022_jp", "cp1252", "latin_1"]
_JAPANESE = ("cp932", "euc_jp", "iso2022_jp")


def _control_ratio(text: str) -> float:
    if not text:
        return 0.0
    sample = text[:20000]
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\n\r\f\v")
    return controls / len(sample)


def _utf16_without_bom(data: bytes) -> str | None:
    """UTF-16 without a BOM shows as many zero bytes at odd (LE) or even (BE) positions."""
    sample = data[:4096]
    if len(sample) < 4:
        return None
    even_zero = sample[0::2].count(0) / len(sample[0::2])
    odd_zero = sample[1::2].count(0) / len(sample[1::2])
    if odd_zero > 0.3 and even_zero < 0.05:
        return "utf-16-le"
    if even_zero > 0.3 and odd_zero < 0.05:
        return "utf-16-be"
    return None


def decode_text(data: bytes, path: Path | str) -> tuple[str, str]:
    """Return (text, encoding) or raise DocumentError with a reason a researcher understands."""
    if not data:
        raise DocumentError(path, "empty file (0 bytes)")
    for bom, name in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(name).lstrip("\ufeff"), name
            except UnicodeDecodeError:
                raise DocumentError(path, f"starts with a {name} byte-order mark but is not valid {name}") from None
    if b"\x00" in data[:8192]:
        guess = _utf16_without_bom(data)
        if guess:
            try:
                return data.decode(guess), guess
            except UnicodeDecodeError:
                pass
        raise DocumentError(path, "looks like a binary file, not text (contains NUL bytes)")
    try:
        text, encoding = data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = _mixed(data, path) or _detect(data, path)
    if _control_ratio(text) > 0.02:
        raise DocumentError(path, "looks like a binary file, not text (many control characters)")
    return text, encoding


def _mixed(data: bytes, path: Path | str) -> tuple[str, str] | None:
    """Notes pasted together from files in different encodings: lines that are UTF-8 (with
    characters beyond ASCII) beside lines in one legacy encoding. Each line is decoded in its own."""
    lines = data.splitlines(keepends=True)
    utf8: dict[int, str] = {}
    for index, line in enumerate(lines):
        try:
            utf8[index] = line.decode("utf-8")
        except UnicodeDecodeError:
            continue
    if not any(not lines[index].isascii() for index in utf8):
        return None  # no UTF-8 beyond ASCII: one legacy encoding, found by _detect
    legacy = [index for index in range(len(lines)) if index not in utf8]
    _, encoding = _detect(b"".join(lines[index] for index in legacy), path)
    try:
        decoded = {index: lines[index].decode(encoding) for index in legacy}
    except (UnicodeDecodeError, LookupError):
        return None
    return "".join(utf8[i] if i in utf8 else decoded[i] for i in range(len(lines))), f"utf-8+{encoding}"


def _detect(data: bytes, path: Path | str) -> tuple[str, str]:
    from charset_normalizer import from_bytes

    best = from_bytes(data, cp_isolation=_LIKELY).best() or from_bytes(data).best()
    if best is not None and best.encoding:
        encoding = best.encoding
        # charset-normalizer often reports shift_jis for CP932 text; CP932 is its superset.
        if encoding in ("shift_jis", "shift_jis_2004", "shift_jisx0213"):
            encoding = "cp932"
        try:
            return data.decode(encoding), encoding
        except (UnicodeDecodeError, LookupError):
            pass
    for encoding in _JAPANESE:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise DocumentError(path, "cannot tell the text encoding; save the file as UTF-8")
