"""Inter-coder agreement checked against arithmetic written out by hand, scikit-learn and krippendorff."""

from __future__ import annotations

import dataclasses
import math
import random

import krippendorff
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from fieldnotes.review.agreement import (
    HEADER,
    AgreementRow,
    agreement_from_counts,
    cohen_kappa,
    format_agreement,
    krippendorff_alpha,
    overall_agreement,
    per_code_agreement,
    pool,
)


def expand(both: int, only_a: int, only_b: int, neither: int, code: str = "c") -> tuple[list[str], dict, dict]:
    """Units and the two parties' codings that give exactly this 2x2 table for `code`."""
    pattern = [(1, 1)] * both + [(1, 0)] * only_a + [(0, 1)] * only_b + [(0, 0)] * neither
    units = [f"u{i}" for i in range(len(pattern))]
    a = {u: ({code} if x else set()) for u, (x, _) in zip(units, pattern, strict=True)}
    b = {u: ({code} if y else set()) for u, (_, y) in zip(units, pattern, strict=True)}
    return units, a, b


def vectors(units: list[str], a: dict, b: dict, code: str) -> tuple[list[int], list[int]]:
    return [int(code in a[u]) for u in units], [int(code in b[u]) for u in units]


def sklearn_kappa(x: list[int], y: list[int]) -> float:
    return float(cohen_kappa_score(x, y, labels=[0, 1]))


def package_alpha(x: list[int], y: list[int]) -> float:
    return float(krippendorff.alpha(reliability_data=np.array([x, y]), level_of_measurement="nominal"))


# --- hand-computed tables ------------------------------------------------------------------------


def test_hand_computed_table_one() -> None:
    # both=20, only_a=5, only_b=10, neither=15; n = 50
    # observed: p_o = (20 + 15) / 50 = 35/50 = 0.7
    # marginals: A applied a1 = 20 + 5 = 25 (0.5), B applied b1 = 20 + 10 = 30 (0.6)
    # chance:    p_e = 0.5 * 0.6 + 0.5 * 0.4 = 0.30 + 0.20 = 0.5
    # kappa = (0.7 - 0.5) / (1 - 0.5) = 0.2 / 0.5 = 0.4
    # alpha: N = 2n = 100 values; n_1 = 2*20 + 5 + 10 = 55, n_0 = 2*15 + 5 + 10 = 45
    #        alpha = 1 - (N - 1) * (only_a + only_b) / (n_0 * n_1) = 1 - 99 * 15 / (45 * 55)
    #              = 1 - 1485 / 2475 = 1 - 0.6 = 0.4
    # precision = 20 / (20 + 10) = 2/3, recall = 20 / (20 + 5) = 0.8
    # F1 = 2 * 20 / (2 * 20 + 5 + 10) = 40 / 55 = 8/11
    row = agreement_from_counts("c", 20, 5, 10, 15)
    assert row.units == 50
    assert row.observed_agreement == pytest.approx(0.7)
    assert row.cohen_kappa == pytest.approx(0.4)
    assert row.krippendorff_alpha == pytest.approx(0.4)
    assert row.precision == pytest.approx(2 / 3)
    assert row.recall == pytest.approx(0.8)
    assert row.f1 == pytest.approx(8 / 11)
    units, a, b = expand(20, 5, 10, 15)
    x, y = vectors(units, a, b, "c")
    assert sklearn_kappa(x, y) == pytest.approx(0.4)
    assert package_alpha(x, y) == pytest.approx(0.4)


def test_hand_computed_table_two() -> None:
    # both=8, only_a=2, only_b=6, neither=4; n = 20
    # observed: p_o = (8 + 4) / 20 = 0.6
    # marginals: a1 = 8 + 2 = 10 (0.5), b1 = 8 + 6 = 14 (0.7)
    # chance:    p_e = 0.5 * 0.7 + 0.5 * 0.3 = 0.35 + 0.15 = 0.5
    # kappa = (0.6 - 0.5) / (1 - 0.5) = 0.2
    # alpha: N = 40; n_1 = 2*8 + 2 + 6 = 24, n_0 = 2*4 + 2 + 6 = 16
    #        alpha = 1 - 39 * 8 / (16 * 24) = 1 - 312 / 384 = 1 - 0.8125 = 0.1875
    # precision = 8 / 14 = 4/7, recall = 8 / 10 = 0.8, F1 = 16 / (16 + 8) = 2/3
    row = agreement_from_counts("c", 8, 2, 6, 4)
    assert row.observed_agreement == pytest.approx(0.6)
    assert row.cohen_kappa == pytest.approx(0.2)
    assert row.krippendorff_alpha == pytest.approx(0.1875)
    assert row.precision == pytest.approx(4 / 7)
    assert row.recall == pytest.approx(0.8)
    assert row.f1 == pytest.approx(2 / 3)
    units, a, b = expand(8, 2, 6, 4)
    x, y = vectors(units, a, b, "c")
    assert sklearn_kappa(x, y) == pytest.approx(0.2)
    assert package_alpha(x, y) == pytest.approx(0.1875)


def test_hand_computed_negative_agreement() -> None:
    # both=1, only_a=4, only_b=3, neither=2; n = 10
    # p_o = 3/10 = 0.3; a1 = 5 (0.5), b1 = 4 (0.4); p_e = 0.5*0.4 + 0.5*0.6 = 0.5
    # kappa = (0.3 - 0.5) / 0.5 = -0.4
    # alpha: N = 20; n_1 = 2 + 7 = 9, n_0 = 4 + 7 = 11; alpha = 1 - 19 * 7 / 99 = 1 - 133/99 = -34/99
    row = agreement_from_counts("c", 1, 4, 3, 2)
    assert row.cohen_kappa == pytest.approx(-0.4)
    assert row.krippendorff_alpha == pytest.approx(-34 / 99)
    x, y = vectors(*expand(1, 4, 3, 2), "c")
    assert sklearn_kappa(x, y) == pytest.approx(-0.4)
    assert package_alpha(x, y) == pytest.approx(-34 / 99)


def test_per_code_counts_from_codings() -> None:
    units = ["e1", "e2", "e3", "e4", "e5"]
    a = {"e1": {"x", "y"}, "e2": {"x"}, "e3": set(), "e4": {"y"}}  # e5 missing: left uncoded
    b = {"e1": {"x"}, "e2": {"x", "y"}, "e3": {"y"}, "e4": set(), "e5": {"x", "other"}}
    x, y = per_code_agreement(units, a, b, ["x", "y"])
    assert (x.code, x.units, x.both, x.only_a, x.only_b, x.neither) == ("x", 5, 2, 0, 1, 2)
    assert (y.code, y.units, y.both, y.only_a, y.only_b, y.neither) == ("y", 5, 0, 2, 2, 1)


def test_units_and_codes_count_once() -> None:
    a = {"e1": {"x"}, "e2": set()}
    b = {"e1": {"x"}, "e2": {"x"}}
    rows = per_code_agreement(["e1", "e2", "e1"], a, b, ["x", "x"])
    assert len(rows) == 1
    assert (rows[0].units, rows[0].both, rows[0].only_b) == (2, 1, 1)
    assert overall_agreement(["e1", "e2", "e1"], a, b, ["x", "x"]).units == 2


def test_units_outside_the_comparison_are_ignored() -> None:
    a = {"e1": {"x"}, "e9": {"x"}}
    b = {"e1": {"x"}, "e8": {"x"}}
    (row,) = per_code_agreement(["e1"], a, b, ["x"])
    assert (row.units, row.both) == (1, 1)


# --- against scikit-learn and krippendorff on random data ----------------------------------------


def random_codings(seed: int, n_units: int = 80) -> tuple[list[str], list[str], dict, dict]:
    """A reference coding and a noisy second coding of it, several codes of different prevalence."""
    rng = random.Random(seed)
    codes = ["common", "medium", "rare", "noisy", "skewed"]
    prevalence = {"common": 0.6, "medium": 0.3, "rare": 0.1, "noisy": 0.5, "skewed": 0.2}
    flip = {"common": 0.1, "medium": 0.2, "rare": 0.05, "noisy": 0.5, "skewed": 0.3}
    units = [f"ex{i}" for i in range(n_units)]
    a: dict[str, set[str]] = {u: set() for u in units}
    b: dict[str, set[str]] = {u: set() for u in units}
    for u in units:
        for code in codes:
            applied = rng.random() < prevalence[code]
            if applied:
                a[u].add(code)
            if applied != (rng.random() < flip[code]):
                b[u].add(code)
    return units, codes, a, b


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_per_code_matches_sklearn_and_krippendorff(seed: int) -> None:
    units, codes, a, b = random_codings(seed)
    rows = per_code_agreement(units, a, b, codes)
    assert [row.code for row in rows] == codes
    for row in rows:
        x, y = vectors(units, a, b, row.code)
        assert row.units == len(units)
        assert row.observed_agreement == pytest.approx(np.mean(np.array(x) == np.array(y)))
        assert row.cohen_kappa == pytest.approx(sklearn_kappa(x, y), abs=1e-12)
        assert row.krippendorff_alpha == pytest.approx(package_alpha(x, y), abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_overall_matches_sklearn_and_krippendorff_on_pooled_decisions(seed: int) -> None:
    units, codes, a, b = random_codings(seed)
    x = [int(c in a[u]) for u in units for c in codes]
    y = [int(c in b[u]) for u in units for c in codes]
    row = overall_agreement(units, a, b, codes)
    assert row.code == "overall"
    assert row.units == len(units) * len(codes)
    assert row.cohen_kappa == pytest.approx(sklearn_kappa(x, y), abs=1e-12)
    assert row.krippendorff_alpha == pytest.approx(package_alpha(x, y), abs=1e-12)


def test_random_tables_match_references() -> None:
    rng = random.Random(42)
    checked = 0
    while checked < 60:
        cells = [rng.randint(0, 12) for _ in range(4)]
        x, y = vectors(*expand(*cells), "c")
        if len(set(x) | set(y)) < 2:  # undefined: covered by the NaN tests
            continue
        assert cohen_kappa(*cells) == pytest.approx(sklearn_kappa(x, y), abs=1e-12)
        assert krippendorff_alpha(*cells) == pytest.approx(package_alpha(x, y), abs=1e-12)
        checked += 1


# --- edge cases ----------------------------------------------------------------------------------


def test_perfect_agreement() -> None:
    row = agreement_from_counts("c", 7, 0, 0, 13)
    assert row.observed_agreement == 1.0
    assert row.cohen_kappa == 1.0
    assert row.krippendorff_alpha == 1.0
    assert row.precision == row.recall == row.f1 == 1.0


def test_complete_disagreement() -> None:
    # both=0, only_a=2, only_b=2, neither=0: p_o = 0, p_e = 0.5*0.5 + 0.5*0.5 = 0.5, kappa = -0.5/0.5 = -1
    # alpha: N = 8, n_1 = n_0 = 4: 1 - 7 * 4 / 16 = -0.75
    row = agreement_from_counts("c", 0, 2, 2, 0)
    assert row.observed_agreement == 0.0
    assert row.cohen_kappa == pytest.approx(-1.0)
    assert row.krippendorff_alpha == pytest.approx(-0.75)
    assert row.precision == row.recall == row.f1 == 0.0
    x, y = vectors(*expand(0, 2, 2, 0), "c")
    assert sklearn_kappa(x, y) == pytest.approx(-1.0)
    assert package_alpha(x, y) == pytest.approx(-0.75)


def test_constant_but_opposite_parties() -> None:
    # A applied everywhere, B nowhere: p_o = 0, p_e = 1*0 + 0*1 = 0, kappa = 0 (defined);
    # alpha: N = 6, n_1 = n_0 = 3: 1 - 5 * 3 / 9 = -2/3
    row = agreement_from_counts("c", 0, 3, 0, 0)
    assert row.cohen_kappa == 0.0
    assert row.krippendorff_alpha == pytest.approx(-2 / 3)
    assert math.isnan(row.precision)  # B never applied the code
    assert row.recall == 0.0
    assert row.f1 == 0.0
    x, y = vectors(*expand(0, 3, 0, 0), "c")
    assert sklearn_kappa(x, y) == pytest.approx(0.0)
    assert package_alpha(x, y) == pytest.approx(-2 / 3)


@pytest.mark.parametrize("cells", [(0, 0, 0, 9), (9, 0, 0, 0)])
def test_nan_when_both_parties_constant(cells: tuple[int, int, int, int]) -> None:
    row = agreement_from_counts("c", *cells)
    assert row.observed_agreement == 1.0
    assert math.isnan(row.cohen_kappa)
    assert math.isnan(row.krippendorff_alpha)
    x, y = vectors(*expand(*cells), "c")
    with pytest.warns(UserWarning):
        assert math.isnan(float(cohen_kappa_score(x, y)))
    with pytest.raises(ValueError):
        package_alpha(x, y)


def test_code_nobody_applied() -> None:
    units = ["e1", "e2", "e3"]
    a = {"e1": {"x"}, "e2": set(), "e3": set()}
    b = {"e1": {"x"}, "e2": set(), "e3": {"x"}}
    x, unused = per_code_agreement(units, a, b, ["x", "unused"])
    assert (unused.neither, unused.observed_agreement) == (3, 1.0)
    assert math.isnan(unused.cohen_kappa) and math.isnan(unused.krippendorff_alpha)
    assert math.isnan(unused.precision) and math.isnan(unused.recall) and math.isnan(unused.f1)
    assert not math.isnan(x.cohen_kappa)


def test_no_units() -> None:
    row = overall_agreement([], {}, {}, ["x"])
    assert (row.units, row.both, row.only_a, row.only_b, row.neither) == (0, 0, 0, 0, 0)
    for value in (row.observed_agreement, row.cohen_kappa, row.krippendorff_alpha, row.precision, row.recall, row.f1):
        assert math.isnan(value)


def test_negative_counts_rejected() -> None:
    with pytest.raises(ValueError):
        agreement_from_counts("c", 1, -1, 0, 0)


# --- pooling -------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 7])
def test_overall_counts_are_the_per_code_sums(seed: int) -> None:
    units, codes, a, b = random_codings(seed)
    rows = per_code_agreement(units, a, b, codes)
    overall = overall_agreement(units, a, b, codes)
    for field in ("units", "both", "only_a", "only_b", "neither"):
        assert getattr(overall, field) == sum(getattr(row, field) for row in rows)
    assert overall == pool(rows)
    # Pooled observed agreement is the unit-weighted mean of the per-code ones.
    assert overall.observed_agreement == pytest.approx(np.mean([row.observed_agreement for row in rows]))


def test_row_is_frozen() -> None:
    row = agreement_from_counts("c", 1, 1, 1, 1)
    assert isinstance(row, AgreementRow)
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.both = 5  # type: ignore[misc]


# --- formatting ----------------------------------------------------------------------------------


def test_format_agreement() -> None:
    rows = [agreement_from_counts("trust", 20, 5, 10, 15), agreement_from_counts("unused", 0, 0, 0, 50)]
    rows.append(pool(rows))
    text = format_agreement(rows, "reviewed", "suggested")
    lines = text.splitlines()
    assert lines[0] == HEADER
    assert "excerpt level: each excerpt both parties saw counts once per code" in lines[0]
    assert "an excerpt a party left uncoded counts as 'not applied' for every code" in lines[0]
    assert "reviewed" in text and "suggested" in text
    header = next(line for line in lines if line.startswith("code"))
    columns = ["units", "both", "only A", "only B", "neither", "% agree", "kappa", "alpha", "precision", "recall"]
    for column in [*columns, "F1"]:
        assert column in header
    trust = next(line for line in lines if line.startswith("trust"))
    assert trust.split() == ["trust", "50", "20", "5", "10", "15", "70.0%", "0.40", "0.40", "0.67", "0.80", "0.73"]
    unused = next(line for line in lines if line.startswith("unused"))
    assert unused.split()[-5:] == ["n/a"] * 5
    overall = next(line for line in lines if line.startswith("overall"))
    assert overall.split()[1:6] == ["100", "20", "5", "10", "65"]
    # Columns line up: every table line (header, rule, rows) is equally wide.
    table = lines[lines.index(header) :]
    assert len({len(line) for line in table}) == 1


def test_agreement_command_compares_tool_with_decisions_and_two_coders(mini_corpus, tmp_path, shared_embedder):
    import csv

    from click.testing import CliRunner

    from fieldnotes.cli import cli
    from fieldnotes.store import Store

    out = tmp_path / "out"
    fast = tmp_path / "fast.toml"
    fast.write_text("[themes]\nenabled = false\n", encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(cli, ["code", str(mini_corpus), "--out", str(out), "--settings", str(fast)]).exit_code == 0
    none_yet = runner.invoke(cli, ["agreement", "--out", str(out)])
    assert none_yet.exit_code == 1 and "nothing has been reviewed" in none_yet.output
    with (out / "excerpts.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))[:3]
    with Store.open(out / "fieldnotes.db") as store:
        for row in rows:
            store.decisions.record(row["excerpt_id"], row["code"], "accepted", "aiko")
        store.decisions.record(rows[0]["excerpt_id"], rows[0]["code"], "accepted", "ben")
        store.decisions.record(rows[1]["excerpt_id"], rows[1]["code"], "rejected", "ben")
    tool = runner.invoke(cli, ["agreement", "--out", str(out)])
    assert tool.exit_code == 0, tool.output
    assert "excerpt level" in tool.output and "overall" in tool.output
    coders = runner.invoke(cli, ["agreement", "--out", str(out), "--coder", "aiko", "--coder", "ben"])
    assert coders.exit_code == 0, coders.output
    assert "aiko" in coders.output and "ben" in coders.output
    unknown = runner.invoke(cli, ["agreement", "--out", str(out), "--coder", "aiko", "--coder", "zoe"])
    assert unknown.exit_code == 1 and "no decisions by zoe" in unknown.output
