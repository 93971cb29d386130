"""Which calibration a codebook is scored with, and whether a reference set can carry one."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fieldnotes.codebook import LoadedCodebook
from fieldnotes.coding.gold import GoldSet
from fieldnotes.coding.suggest import Calibration
from fieldnotes.resources import data_dir

SHIPPED_CALIBRATION = "coproduction.calibration.json"


def find_calibration(loaded: LoadedCodebook) -> Path | None:
    """The codebook's own calibration: beside it if `fieldnotes calibrate` wrote one there, the
    shipped one for the shipped co-production codebook (and copies of it with its id); None for
    any other codebook, which is then scored label-free (fieldnotes.coding.ranked), never with
    another codebook's weights."""
    if loaded.calibration_path.is_file():
        return loaded.calibration_path
    shipped = data_dir("codebooks") / SHIPPED_CALIBRATION
    if shipped.is_file() and calibration_codebook(Calibration.load(shipped)) == loaded.codebook.id:
        return shipped
    return None


def scoring_threshold(loaded: LoadedCodebook) -> float:
    """The score from which suggestions are shown: the calibration's, or the label-free cut (0.5)."""
    from fieldnotes.coding.ranked import RankedScorer

    path = find_calibration(loaded)
    return Calibration.load(path).threshold if path is not None else RankedScorer.threshold


def calibration_codebook(calibration: Calibration) -> str:
    """The id of the codebook a calibration was fitted on ('' when it does not say)."""
    fitted = calibration.fitted_on
    return str(fitted.get("codebook_id") or str(fitted.get("codebook", "")).split(" ")[0])


def borrowed_calibration_note(loaded: LoadedCodebook, calibration: Calibration, path: Path) -> str | None:
    """What to tell the user when the calibration file beside a codebook was fitted on another one
    (a copied file: fieldnotes itself never borrows)."""
    fitted_on = calibration_codebook(calibration)
    if fitted_on == loaded.codebook.id:
        return None
    return (
        f"codebook '{loaded.codebook.id}' is scored with {path.name}, which was fitted on codebook "
        f"'{fitted_on or 'unknown'}', so its weights and threshold may suit it badly; delete that file for the "
        "label-free ranking, or run `fieldnotes calibrate` on a reference set of this codebook"
    )


def label_free_note(loaded: LoadedCodebook, suggestions_per_excerpt: float, model: str | None = None) -> str:
    """What every run of a codebook without a calibration (for this `model`, when given) says once."""
    lacking = "no calibration of its own" if model is None else f"no calibration for {model}"
    return (
        f"codebook '{loaded.codebook.id}' has {lacking}: suggestions are a label-free ranking "
        f"within this corpus (about {suggestions_per_excerpt:g} per excerpt; scores rank, they are not "
        f"probabilities); label at least {MIN_REFERENCE_EXCERPTS} excerpts as a reference set and run "
        "`fieldnotes calibrate` for calibrated scores"
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
