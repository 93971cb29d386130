"""Labelled excerpts (gold sets) and the metrics computed against them."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fieldnotes.errors import FieldnotesError

if TYPE_CHECKING:
    import numpy as np


class GoldError(FieldnotesError):
    """A gold file cannot be read or names codes the codebook lacks."""


@dataclass
class GoldSet:
    path: Path
    ids: list[str]
    texts: list[str]
    labels: np.ndarray  # excerpts x codes, 0/1


def load_gold(path: Path, code_ids: list[str]) -> GoldSet:
    """Read `id,text,codes[,note]` rows; codes separated by ';'."""
    import numpy as np

    path = Path(path)
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise GoldError(f"{path}: cannot read the gold file ({exc})") from None
    if not rows or not {"text", "codes"} <= set(rows[0]):
        raise GoldError(f"{path}: needs a header with at least the columns text,codes (and id)")
    index = {code: column for column, code in enumerate(code_ids)}
    labels = np.zeros((len(rows), len(code_ids)), dtype=np.int8)
    for line, row in enumerate(rows, start=2):
        for code in filter(None, (c.strip() for c in (row.get("codes") or "").split(";"))):
            if code not in index:
                raise GoldError(f"{path}:{line}: code '{code}' is not in the codebook")
            labels[line - 2, index[code]] = 1
    ids = [row.get("id") or f"row-{i + 2}" for i, row in enumerate(rows)]
    return GoldSet(path, ids, [row["text"] for row in rows], labels)


@dataclass(frozen=True)
class Scores:
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def score_predictions(predicted: np.ndarray, truth: np.ndarray) -> tuple[list[Scores], Scores]:
    """Per-code and micro-averaged counts for 0/1 matrices (excerpts x codes)."""
    per_code = []
    for column in range(truth.shape[1]):
        p, t = predicted[:, column].astype(bool), truth[:, column].astype(bool)
        per_code.append(Scores(int((p & t).sum()), int((p & ~t).sum()), int((~p & t).sum())))
    micro = Scores(sum(s.tp for s in per_code), sum(s.fp for s in per_code), sum(s.fn for s in per_code))
    return per_code, micro
