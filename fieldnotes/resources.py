"""Locate the default settings and codebooks.

The repository keeps one copy of each in `pipeline/` and `codebooks/`; the wheel
ships the same files under `fieldnotes/_data/` (see pyproject.toml). An editable
install or a source checkout finds them at the repository root instead.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "FIELDNOTES_CACHE_DIR"  # overrides the user cache folder (the settings win over it)
_PACKAGE_DIR = Path(__file__).resolve().parent


def data_dir(kind: str) -> Path:
    """Return the folder holding the shipped files of `kind` ("pipeline" or "codebooks")."""
    for candidate in (_PACKAGE_DIR / "_data" / kind, _PACKAGE_DIR.parent / kind):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"the shipped '{kind}' folder is missing from this installation")


def default_settings_path() -> Path:
    return data_dir("pipeline") / "default.toml"


def installed_version(distribution: str) -> str:
    """The installed version of a package, or "absent"; for run records and cache keys."""
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "absent"


def user_cache_dir() -> Path:
    """The user's cache folder for fieldnotes: $FIELDNOTES_CACHE_DIR, else the platform's
    (XDG_CACHE_HOME or ~/.cache on Linux, ~/Library/Caches on macOS, %LOCALAPPDATA% on Windows)."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    if os.name == "nt":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif os.uname().sysname == "Darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "fieldnotes"
