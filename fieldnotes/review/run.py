"""Gathering who coded what from the results database, for agreement statistics."""

from __future__ import annotations

from collections.abc import Sequence

from fieldnotes.errors import FieldnotesError
from fieldnotes.review.agreement import AgreementRow, overall_agreement, per_code_agreement
from fieldnotes.store import Store


class AgreementError(FieldnotesError):
    """Nothing to compare: no reviewed excerpts, or the coders share none."""


def _latest_by_coder(store: Store, codebook_id: str) -> dict[str, dict[str, dict[str, str]]]:
    """coder -> excerpt -> code -> that coder's latest status (accepted or rejected)."""
    rows = store.decisions.by_coders(codebook_id)
    latest: dict[str, dict[str, dict[str, str]]] = {}
    for row in rows:
        latest.setdefault(row["coder"], {}).setdefault(row["excerpt_id"], {})[row["code_id"]] = row["new_status"]
    return latest


def agreement(
    store: Store, codebook_id: str, codes: Sequence[str], coders: Sequence[str] = ()
) -> tuple[list[AgreementRow], str, str, int]:
    """Per-code and overall agreement: the tool against reviewed decisions (no coders), or
    coder A against coder B (two coders), on the excerpts both saw. Returns rows, labels, units."""
    if coders and len(coders) != 2:
        raise AgreementError("name two coders (--coder A --coder B), or none to compare the tool with decisions")
    if coders:
        latest = _latest_by_coder(store, codebook_id)
        missing = [coder for coder in coders if coder not in latest]
        if missing:
            known = ", ".join(sorted(latest)) or "none"
            raise AgreementError(f"no decisions by {', '.join(missing)} (coders with decisions: {known})")
        first, second = (latest[coder] for coder in coders)
        units = sorted(set(first) & set(second))
        applied_a = {e: {c for c, s in first[e].items() if s == "accepted"} for e in units}
        applied_b = {e: {c for c, s in second[e].items() if s == "accepted"} for e in units}
        label_a, label_b = coders
    else:
        rows = store.reads.current_suggestions(codebook_id)
        reviewed = {row["excerpt_id"] for row in rows if row["status"] in ("accepted", "rejected")}
        units = sorted(reviewed)
        applied_a = {e: set() for e in units}
        applied_b = {e: set() for e in units}
        for row in rows:
            if row["excerpt_id"] not in reviewed:
                continue
            if row["status"] == "accepted":
                applied_a[row["excerpt_id"]].add(row["code_id"])
            # Only suggestions someone reviewed count: an unreviewed one says nothing about agreement.
            if row["score"] is not None and row["status"] in ("accepted", "rejected"):
                applied_b[row["excerpt_id"]].add(row["code_id"])
        label_a, label_b = "reviewed decisions", "fieldnotes suggestions"
    if not units:
        raise AgreementError("no excerpts to compare: nothing has been reviewed (by both coders)")
    per_code = per_code_agreement(units, applied_a, applied_b, codes)
    return [*per_code, overall_agreement(units, applied_a, applied_b, codes)], label_a, label_b, len(units)
