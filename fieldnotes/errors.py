"""Domain errors. The CLI turns each into a one-line message and a non-zero exit."""

from __future__ import annotations

from pathlib import Path


class FieldnotesError(Exception):
    """Base class for errors a user can act on; the message is shown as is."""


class SettingsError(FieldnotesError):
    """A pipeline settings file is missing, unreadable or invalid."""


class DocumentError(FieldnotesError):
    """One input document cannot be read; the rest of the corpus goes on."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class CorpusError(FieldnotesError):
    """The corpus as a whole cannot be processed (missing, empty, nothing readable)."""


class StoreError(FieldnotesError):
    """The results database cannot be opened or has an incompatible schema."""


class DecisionConflictError(FieldnotesError):
    """A researcher's action would overwrite a decision made after the one it refers to (another
    coder's, or a re-run's move): refused, nothing changed."""
