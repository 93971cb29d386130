"""Which calibration a codebook is scored with, and whether a reference set can carry one."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fieldnotes.codebook import LoadedCodebook
from fieldnotes.coding.gold import GoldSet
from fieldnotes.coding.suggest import Calibration
from fieldnotes.resources import data_dir


def find_calibration(loaded: LoadedCodebook) -> Path:
    """Beside the codebook if `fieldnotes calibrate` wrote one there, else the shipped default."""
    if loaded.calibration_path.is_file():
        return loaded.calibration_path
    return data_dir("codebooks") / "coproduction.calibration.json"


def calibration_codebook(calibration: Calibration) -> str:
    """The id of the codebook a calibration was fitted on ('' when it does not say)."""
    fitted = calibration.fitted_on
    return str(fitted.get("codebook_id") or str(fitted.get("codebook", "")).split(" ")[0])


def borrowed_calibration_note(loaded: LoadedCodebook, calibration: Calibration, path: Path) -> str | None:
    """What to tell the user when a codebook is scored with another codebook's calibration."""
    fitted_on = calibration_codebook(calibration)
    if fitted_on == loaded.codebook.id:
        return None
    return (
        f"codebook '{loaded.codebook.id}' has no calibration of its own: its scores use {path.name}, fitted on "
        f"codebook '{fitted_on or 'unknown'}', so the threshold may suit it badly; label excerpts as a reference "
        "set and run `fieldnotes calibrate` for a calibration of its own"
    )


# Below these, a calibration fitted on a reference set says more about chance than about the codebook.
MIN_REFERENCE_EXCERPTS = 50
MIN_POSITIVES_PER_CODE = 5


def reference_warnings(gold: GoldSet, code_ids: Sequence[str]) -> list[str]:
    """Why a reference set may be too small to calibrate on (empty when it is not)."""
    warnings = []
    if len(gold.texts) < MIN_REFERENCE_EXCERPTS:
        warnings.append(
            f"{gold.path.name} has {len(gold.texts)} labelled excerpts; a calibration fitted on fewer than "
            f"{MIN_REFERENCE_EXCERPTS} is unreliable (its threshold can swing widely)"
        )
    positives = gold.labels.sum(axis=0)
    thin = [code for code, count in zip(code_ids, positives, strict=True) if count < MIN_POSITIVES_PER_CODE]
    if thin:
        warnings.append(
            f"{len(thin)} code(s) have fewer than {MIN_POSITIVES_PER_CODE} positive excerpts in {gold.path.name}: "
            + ", ".join(thin)
        )
    return warnings
