"""Inter-coder agreement between two parties who coded the same excerpts.

Pure functions over plain data, no database access. One comparison is:

* ``units``: the excerpt ids both parties coded (saw). Each counts once, duplicates
  are ignored.
* ``a`` and ``b``: for each party, excerpt id -> set of code ids applied. An empty set,
  or an excerpt missing from the mapping, means the party applied no code to it.
* ``codes``: the code ids to compare. Codes applied but not listed are ignored.

Coding is multi-label, so every (unit, code) pair is a binary decision, applied or
not applied. Per code, the units give a 2x2 table::

                     B applied   B not applied
    A applied          both         only_a
    A not applied      only_b       neither

and the overall row pools the (unit, code) decisions of all codes, i.e. sums the
per-code tables cell by cell. Precision, recall and F1 treat ``a`` as the reference
(e.g. reviewed decisions) and ``b`` as the prediction (e.g. the tool's suggestions).

A statistic that is undefined for a table (a zero denominator) is NaN, never an
exception: kappa and alpha when both parties made the same single decision
throughout, precision when B never applied the code, recall when A never did, F1
when neither did; everything but the counts when there are no units.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

OVERALL = "overall"
HEADER = (
    "excerpt level: each excerpt both parties saw counts once per code; "
    "an excerpt a party left uncoded counts as 'not applied' for every code"
)
_NAN = float("nan")
_EMPTY: frozenset[str] = frozenset()


@dataclass(frozen=True)
class AgreementRow:
    """Agreement between A and B on one code (or on all codes pooled: code == "overall")."""

    code: str
    units: int  # binary decisions: excerpts for one code, excerpts x codes for "overall"
    both: int  # A applied, B applied
    only_a: int  # A applied, B did not
    only_b: int  # B applied, A did not
    neither: int  # neither applied
    observed_agreement: float  # (both + neither) / units
    cohen_kappa: float
    krippendorff_alpha: float  # nominal, two coders, no missing data
    precision: float  # both / (both + only_b): A is the reference, B the prediction
    recall: float  # both / (both + only_a)
    f1: float  # 2 both / (2 both + only_a + only_b)


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else _NAN


def observed_agreement(both: int, only_a: int, only_b: int, neither: int) -> float:
    """Share of decisions on which A and B agree: p_o = (both + neither) / n."""
    return _ratio(both + neither, both + only_a + only_b + neither)


def cohen_kappa(both: int, only_a: int, only_b: int, neither: int) -> float:
    """Cohen's kappa from a 2x2 table; NaN when undefined.

    With n = both + only_a + only_b + neither and each party's marginals
        a1 = both + only_a   (A applied)     a0 = only_b + neither = n - a1
        b1 = both + only_b   (B applied)     b0 = only_a + neither = n - b1
    observed and chance agreement are
        p_o = (both + neither) / n
        p_e = (a1 * b1 + a0 * b0) / n^2     (each party keeps its own marginals)
    and
        kappa = (p_o - p_e) / (1 - p_e)
              = (n * (both + neither) - (a1 * b1 + a0 * b0)) / (n^2 - (a1 * b1 + a0 * b0))
    The second form is what is computed: integers until the one division.
    Undefined (NaN) when p_e = 1, i.e. both parties made the same single decision on
    every unit (or n = 0).
    """
    n = both + only_a + only_b + neither
    a1, b1 = both + only_a, both + only_b
    a0, b0 = n - a1, n - b1
    chance = a1 * b1 + a0 * b0  # n^2 * p_e
    return _ratio(n * (both + neither) - chance, n * n - chance)


def krippendorff_alpha(both: int, only_a: int, only_b: int, neither: int) -> float:
    """Krippendorff's alpha (nominal, two coders, no missing data) from a 2x2 table; NaN when undefined.

    Every unit is pairable (two values), so in the coincidence matrix each unit adds
    its ordered pairs (a, b) and (b, a) with weight 1 / (m_u - 1) = 1:
        o_11 = 2 * both     o_00 = 2 * neither     o_10 = o_01 = only_a + only_b
    with value totals and N pairable values
        n_1 = 2 * both + only_a + only_b
        n_0 = 2 * neither + only_a + only_b
        N   = n_0 + n_1 = 2 * n
    Observed and expected disagreement (nominal: delta = 1 for c != k, else 0):
        D_o = (o_01 + o_10) / N
        D_e = (n_0 * n_1 + n_1 * n_0) / (N * (N - 1))
    so
        alpha = 1 - D_o / D_e = 1 - (N - 1) * (o_01 + o_10) / (2 * n_0 * n_1)
                              = 1 - (N - 1) * (only_a + only_b) / (n_0 * n_1)
    Undefined (NaN) when D_e = 0, i.e. all 2n values are the same (or n = 0).
    """
    disagree = only_a + only_b
    n1 = 2 * both + disagree
    n0 = 2 * neither + disagree
    total = n0 + n1
    expected = n0 * n1
    if not expected:
        return _NAN
    return 1.0 - (total - 1) * disagree / expected


def agreement_from_counts(code: str, both: int, only_a: int, only_b: int, neither: int) -> AgreementRow:
    """Every statistic of an AgreementRow from the four cells of a 2x2 table."""
    for name, value in (("both", both), ("only_a", only_a), ("only_b", only_b), ("neither", neither)):
        if value < 0:
            raise ValueError(f"{name} must not be negative, got {value}")
    return AgreementRow(
        code=code,
        units=both + only_a + only_b + neither,
        both=both,
        only_a=only_a,
        only_b=only_b,
        neither=neither,
        observed_agreement=observed_agreement(both, only_a, only_b, neither),
        cohen_kappa=cohen_kappa(both, only_a, only_b, neither),
        krippendorff_alpha=krippendorff_alpha(both, only_a, only_b, neither),
        precision=_ratio(both, both + only_b),
        recall=_ratio(both, both + only_a),
        f1=_ratio(2 * both, 2 * both + only_a + only_b),
    )


def _unique(items: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _counts(
    units: Sequence[str], a: Mapping[str, AbstractSet[str]], b: Mapping[str, AbstractSet[str]], code: str
) -> tuple[int, int, int, int]:
    both = only_a = only_b = neither = 0
    for unit in units:
        in_a = code in a.get(unit, _EMPTY)
        in_b = code in b.get(unit, _EMPTY)
        if in_a and in_b:
            both += 1
        elif in_a:
            only_a += 1
        elif in_b:
            only_b += 1
        else:
            neither += 1
    return both, only_a, only_b, neither


def per_code_agreement(
    units: Sequence[str],
    a: Mapping[str, AbstractSet[str]],
    b: Mapping[str, AbstractSet[str]],
    codes: Sequence[str],
) -> list[AgreementRow]:
    """One row per code (in the order given, duplicates dropped): each unit is one applied/not-applied decision."""
    unique_units = _unique(units)
    return [agreement_from_counts(code, *_counts(unique_units, a, b, code)) for code in _unique(codes)]


def pool(rows: Sequence[AgreementRow], code: str = OVERALL) -> AgreementRow:
    """Pool per-code rows: sum their 2x2 tables cell by cell and recompute every statistic."""
    return agreement_from_counts(
        code,
        sum(row.both for row in rows),
        sum(row.only_a for row in rows),
        sum(row.only_b for row in rows),
        sum(row.neither for row in rows),
    )


def overall_agreement(
    units: Sequence[str],
    a: Mapping[str, AbstractSet[str]],
    b: Mapping[str, AbstractSet[str]],
    codes: Sequence[str],
) -> AgreementRow:
    """All (unit, code) binary decisions pooled across codes into one 2x2 table (code == "overall").

    With many rarely used codes, 'neither' dominates the pooled table and inflates the
    observed agreement; kappa, alpha and F1 are the figures to read.
    """
    return pool(per_code_agreement(units, a, b, codes))


def _number(value: float, digits: int = 2) -> str:
    return "n/a" if math.isnan(value) else f"{value:.{digits}f}"


def _percent(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{100 * value:.1f}%"


def format_agreement(rows: Sequence[AgreementRow], label_a: str, label_b: str) -> str:
    """A plain-text table of agreement rows, with a header explaining what is counted."""
    columns = ["code", "units", "both", "only A", "only B", "neither", "% agree", "kappa", "alpha"]
    columns += ["precision", "recall", "F1"]
    body = [
        [
            row.code,
            str(row.units),
            str(row.both),
            str(row.only_a),
            str(row.only_b),
            str(row.neither),
            _percent(row.observed_agreement),
            _number(row.cohen_kappa),
            _number(row.krippendorff_alpha),
            _number(row.precision),
            _number(row.recall),
            _number(row.f1),
        ]
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [columns, *body]) for i in range(len(columns))]

    def render(cells: list[str]) -> str:
        # The code column reads left to right; numbers line up on the right.
        first = cells[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    lines = [
        HEADER,
        f"A = {label_a} (reference), B = {label_b} (prediction); precision, recall and F1 score B against A",
        "n/a: undefined for this table (e.g. kappa and alpha when both parties made the same decision throughout)",
        "",
        render(columns),
        render(["-" * width for width in widths]),
        *(render(cells) for cells in body),
    ]
    return "\n".join(lines) + "\n"
