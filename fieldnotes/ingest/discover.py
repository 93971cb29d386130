"""Find the documents of a corpus folder, and the optional manifest of their metadata."""

from __future__ import annotations

import csv
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from fieldnotes.errors import CorpusError
from fieldnotes.settings import IngestSettings


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


@dataclass
class CorpusFiles:
    root: Path
    files: list[tuple[Path, str]]  # absolute path, path relative to root (POSIX)
    skipped: list[Skipped] = field(default_factory=list)
    manifest: dict[str, dict[str, str]] = field(default_factory=dict)


def read_manifest(path: Path) -> dict[str, dict[str, str]]:
    """Read `path,site,...` rows; keys are paths relative to the corpus root."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CorpusError(f"{path}: cannot read the manifest ({exc}); save it as UTF-8 CSV") from None
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames or "path" not in [name.strip().lower() for name in reader.fieldnames]:
        raise CorpusError(f"{path}:1: the manifest needs a header row with a 'path' column (e.g. 'path,site')")
    rows: dict[str, dict[str, str]] = {}
    for line, row in enumerate(reader, start=2):
        clean = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items() if k}
        relpath = clean.pop("path", "").replace("\\", "/").lstrip("./")
        if not relpath:
            raise CorpusError(f"{path}:{line}: empty 'path'; give the file's path relative to the corpus folder")
        if relpath in rows:
            raise CorpusError(f"{path}:{line}: '{relpath}' is listed twice; keep one row per file")
        rows[relpath] = {k: v for k, v in clean.items() if v}
    return rows


def discover(root: Path, settings: IngestSettings, results: Path | None = None) -> CorpusFiles:
    """List readable documents under `root` (a folder, or a single file) in a stable order.

    `results`, the results folder, is never read when it lies inside the corpus (its report and
    CSV files are not documents)."""
    root = Path(root)
    if not root.exists():
        raise CorpusError(f"{root}: no such file or folder")
    if root.is_file():
        return CorpusFiles(root.parent, [(root.resolve(), root.name)])
    base = root.resolve()
    results = Path(results).resolve() if results is not None else None
    if results == base:
        raise CorpusError(
            f"{root}: the results folder (--out) is the corpus folder itself; choose another one, "
            "e.g. --out outputs (a subfolder is fine: it is not read)"
        )
    found = CorpusFiles(root, [])
    manifest_path = root / settings.manifest
    if settings.manifest and manifest_path.is_file():
        found.manifest = read_manifest(manifest_path)
    for directory, subdirs, filenames in os.walk(root, followlinks=False):
        here = Path(directory)
        if results is not None and results.parent == here.resolve() and results.name in subdirs:
            subdirs.remove(results.name)
            inside = (here / results.name).relative_to(root).as_posix() + "/"
            found.skipped.append(Skipped(inside, "the results folder (--out), not read"))
        _prune_folders(root, here, subdirs, found.skipped)
        for name in sorted(filenames):
            path = here / name
            relpath = path.relative_to(root).as_posix()
            if path == manifest_path:
                continue
            if not _is_utf8(relpath):
                # Ids, CSV files and exports all need a name that is text: say which file, go on.
                shown = relpath.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
                found.skipped.append(Skipped(shown, "its name is not valid UTF-8 text; rename the file to read it"))
                continue
            reason = _reason_to_skip(path, base, settings)
            if reason is None:
                found.files.append((path, relpath))
            else:
                found.skipped.append(Skipped(relpath, reason))
    listed = {relpath for _, relpath in found.files}
    for relpath in found.manifest:
        if relpath not in listed:
            found.skipped.append(Skipped(settings.manifest, f"lists '{relpath}', which is not in the corpus"))
    return found


def _is_utf8(name: str) -> bool:
    """False for a name the file system gave as bytes that are not UTF-8 (held as surrogates)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _prune_folders(root: Path, here: Path, subdirs: list[str], skipped: list[Skipped]) -> None:
    """Keep os.walk out of hidden folders and symbolic links to folders (noted as skipped);
    sort the rest so the walk's order is stable."""
    for name in sorted(subdirs):
        if name.startswith((".", "__")):
            skipped.append(Skipped((here / name).relative_to(root).as_posix() + "/", "hidden folder"))
        elif (here / name).is_symlink():
            skipped.append(
                Skipped((here / name).relative_to(root).as_posix() + "/", "symbolic link to a folder, not followed")
            )
    subdirs[:] = sorted(n for n in subdirs if not n.startswith((".", "__")) and not (here / n).is_symlink())


def _reason_to_skip(path: Path, base: Path, settings: IngestSettings) -> str | None:
    """Why a file found in the corpus is not read, or None to read it."""
    name = path.name
    if name.startswith((".", "~$")):
        return "hidden or temporary file"
    if path.suffix.lower() not in settings.extensions:
        return f"unsupported format '{path.suffix or name}'"
    if path.is_symlink():
        try:
            target = path.resolve(strict=True)
        except (OSError, RuntimeError):  # dangling, or a loop (RuntimeError before Python 3.13)
            return "symbolic link that leads nowhere (broken or a loop)"
        if not target.is_relative_to(base):
            return "symbolic link to a file outside the corpus"
    try:
        info = path.stat()
    except OSError as exc:
        return f"cannot read file ({exc.strerror or exc})"
    if not stat.S_ISREG(info.st_mode):
        # A named pipe or device would block the read forever or never end.
        return "not a regular file (a pipe, socket or device)"
    size = info.st_size
    if size > settings.max_file_mb * 1024 * 1024:
        megabytes = size / 1024 / 1024
        return f"larger than max_file_mb ({megabytes:.0f} MB > {settings.max_file_mb:g})"
    return None
