"""Cross-site statistics checked against values worked out by hand (and against scipy)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chi2_contingency

from fieldnotes.compare.stats import code_by_site, contingency, cooccurrence, distinctive_codes, topic_by_site

SITES = ["nagoya", "osaka", "niihama", "general"]


def table(rows: list[list[int]], index: list[str] | None = None, columns: list[str] | None = None) -> pd.DataFrame:
    index = index or [f"c{i}" for i in range(len(rows))]
    columns = columns or [f"s{j}" for j in range(len(rows[0]))]
    return pd.DataFrame(rows, index=index, columns=columns)


def by_hand(observed: list[list[float]]) -> tuple[float, list[list[float]], list[list[float]]]:
    """Chi-square, expected counts and Haberman's adjusted residuals, written out cell by cell."""
    n = sum(sum(row) for row in observed)
    row_totals = [sum(row) for row in observed]
    col_totals = [sum(row[j] for row in observed) for j in range(len(observed[0]))]
    expected = [[r * c / n for c in col_totals] for r in row_totals]
    chi2 = sum(
        (observed[i][j] - expected[i][j]) ** 2 / expected[i][j]
        for i in range(len(observed))
        for j in range(len(observed[0]))
    )
    residuals = [
        [
            (observed[i][j] - expected[i][j])
            / math.sqrt(expected[i][j] * (1 - row_totals[i] / n) * (1 - col_totals[j] / n))
            for j in range(len(observed[0]))
        ]
        for i in range(len(observed))
    ]
    return chi2, expected, residuals


# contingency ---------------------------------------------------------------------------------


def test_two_by_two_matches_hand_computation() -> None:
    result = contingency(table([[10, 20], [30, 40]], ["trust", "care"], ["nagoya", "osaka"]))

    # Row totals 30, 70; column totals 40, 60; N = 100; E = row * col / N.
    assert result.expected.to_numpy() == pytest.approx(np.array([[12.0, 18.0], [28.0, 42.0]]))
    # chi2 = 2²/12 + 2²/18 + 2²/28 + 2²/42 = 4 * 50/252 = 50/63, one degree of freedom.
    assert result.chi2 == pytest.approx(50 / 63)
    assert result.dof == 1
    # Chi-square with 1 dof: p = erfc(sqrt(chi2 / 2)).
    assert result.p_value == pytest.approx(math.erfc(math.sqrt(50 / 63 / 2)))
    # Adjusted residual of (trust, nagoya): (10 - 12) / sqrt(12 * (1 - 30/100) * (1 - 40/100)) = -2 / sqrt(5.04);
    # in a 2x2 table every cell has the same |residual| = sqrt(chi2).
    r = 2 / math.sqrt(5.04)
    assert r == pytest.approx(math.sqrt(50 / 63))
    assert result.residuals.to_numpy() == pytest.approx(np.array([[-r, r], [r, -r]]))
    assert result.residuals.at["trust", "nagoya"] == pytest.approx(-r)

    # The same numbers as scipy without Yates' correction (which would shrink chi2 for a 2x2 table).
    reference = chi2_contingency([[10, 20], [30, 40]], correction=False)
    assert result.chi2 == pytest.approx(reference.statistic)
    assert result.p_value == pytest.approx(reference.pvalue)
    assert result.expected.to_numpy() == pytest.approx(reference.expected_freq)
    assert result.chi2 > chi2_contingency([[10, 20], [30, 40]], correction=True).statistic

    assert result.test == "Pearson chi-square test of independence"
    assert result.low_expected_share == 0.0
    assert result.warning is None
    assert list(result.expected.index) == ["trust", "care"]
    assert list(result.residuals.columns) == ["nagoya", "osaka"]


def test_three_by_three_symmetric_table() -> None:
    result = contingency(table([[10, 5, 5], [5, 10, 5], [5, 5, 10]]))

    # Every row and column totals 20, N = 60, so every E = 20 * 20 / 60 = 20/3.
    assert result.expected.to_numpy() == pytest.approx(np.full((3, 3), 20 / 3))
    # chi2 = 3 * (10/3)² / (20/3) + 6 * (5/3)² / (20/3) = 5 + 2.5 = 7.5 with (3-1)(3-1) = 4 dof.
    assert result.chi2 == pytest.approx(7.5)
    assert result.dof == 4
    # Chi-square survival function for 4 dof: exp(-x/2) * (1 + x/2).
    assert result.p_value == pytest.approx(math.exp(-3.75) * 4.75)
    # Diagonal: (10/3) / sqrt(20/3 * 2/3 * 2/3); off-diagonal: (-5/3) / the same.
    scale = math.sqrt(20 / 3 * 2 / 3 * 2 / 3)
    diagonal, off = (10 / 3) / scale, (-5 / 3) / scale
    assert diagonal == pytest.approx(1.9365, abs=1e-4)  # just short of 1.96
    expected_residuals = [[diagonal if i == j else off for j in range(3)] for i in range(3)]
    assert result.residuals.to_numpy() == pytest.approx(np.array(expected_residuals))
    assert result.warning is None


def test_three_by_three_uneven_table_matches_formulas_and_scipy() -> None:
    observed = [[25, 10, 5], [12, 30, 8], [6, 9, 40]]
    result = contingency(table(observed))
    chi2, expected, residuals = by_hand(observed)

    assert result.chi2 == pytest.approx(chi2)
    assert result.expected.to_numpy() == pytest.approx(np.array(expected))
    assert result.residuals.to_numpy() == pytest.approx(np.array(residuals))
    reference = chi2_contingency(observed, correction=False)
    assert result.chi2 == pytest.approx(reference.statistic)
    assert result.p_value == pytest.approx(reference.pvalue)
    assert result.dof == reference.dof == 4
    # Pearson residuals (O - E) / sqrt(E) would be smaller: the adjustment divides by sqrt(1 - share) < 1.
    pearson = (np.array(observed) - np.array(expected)) / np.sqrt(expected)
    assert np.all(np.abs(result.residuals.to_numpy()) > np.abs(pearson))


def test_all_zero_row_and_column_are_dropped_from_the_test_but_kept() -> None:
    counts = table([[10, 0, 20], [0, 0, 0], [30, 0, 40]], ["trust", "unused", "care"], ["nagoya", "general", "osaka"])
    result = contingency(counts)

    # Without the zero row and column this is the 2x2 table above.
    assert result.chi2 == pytest.approx(50 / 63)
    assert result.dof == 1
    pd.testing.assert_frame_equal(result.counts, counts)
    assert result.expected.shape == result.residuals.shape == (3, 3)
    assert result.expected.loc["unused"].isna().all()
    assert result.expected["general"].isna().all()
    assert result.residuals.loc["unused"].isna().all()
    assert result.residuals["general"].isna().all()
    assert result.expected.at["trust", "nagoya"] == pytest.approx(12.0)
    assert result.expected.at["care", "osaka"] == pytest.approx(42.0)
    assert result.residuals.at["trust", "osaka"] == pytest.approx(2 / math.sqrt(5.04))
    assert result.low_expected_share == 0.0  # the dropped cells are not tested, so not counted
    assert result.warning is None


def test_small_expected_counts_warn() -> None:
    result = contingency(table([[1, 2], [3, 1]]))

    # N = 7, rows 3 and 4, columns 4 and 3: E = 12/7, 9/7, 16/7, 12/7, all below 5.
    assert result.expected.to_numpy() == pytest.approx(np.array([[12 / 7, 9 / 7], [16 / 7, 12 / 7]]))
    assert result.low_expected_share == 1.0
    assert result.warning is not None
    assert "unreliable" in result.warning
    assert "descriptive" in result.warning
    assert "4 of 4 cells" in result.warning
    assert not math.isnan(result.chi2)  # the test still runs; the warning says how far to trust it


def test_cochran_rule_is_more_than_twenty_percent() -> None:
    # Rows total 42 each, so E = column total / 2: the first column gives 2 of 10 cells with E = 2 < 5.
    at_limit = contingency(table([[2, 10, 10, 10, 10], [2, 10, 10, 10, 10]]))
    assert at_limit.low_expected_share == pytest.approx(0.2)
    assert at_limit.warning is None

    # Two small columns: 4 of 10 cells.
    over = contingency(table([[2, 2, 10, 10, 10], [2, 2, 10, 10, 10]]))
    assert over.low_expected_share == pytest.approx(0.4)
    assert over.warning is not None and "unreliable" in over.warning


@pytest.mark.parametrize(
    "counts",
    [
        pd.DataFrame(),
        pd.DataFrame(columns=["nagoya", "osaka"], dtype="int64"),
        table([[0, 0], [0, 0]]),
        table([[3, 4, 5]]),  # one category
        table([[3], [4]]),  # one site
        table([[3, 0], [4, 0]]),  # one site left after dropping the empty one
    ],
    ids=["empty", "no-rows", "all-zero", "one-row", "one-column", "one-nonzero-column"],
)
def test_degenerate_tables_do_not_raise(counts: pd.DataFrame) -> None:
    result = contingency(counts)

    assert math.isnan(result.chi2)
    assert math.isnan(result.p_value)
    assert result.dof == 0
    assert result.warning is not None and "No test possible" in result.warning
    assert result.expected.shape == result.residuals.shape == counts.shape
    assert result.expected.isna().all().all()
    assert result.residuals.isna().all().all()
    pd.testing.assert_frame_equal(result.counts, counts)


def test_missing_cells_count_as_zero() -> None:
    counts = table([[10, 20], [30, 40]]).astype(float)
    counts.iloc[0, 1] = np.nan
    result = contingency(counts)
    reference = chi2_contingency([[10, 0], [30, 40]], correction=False)
    assert result.chi2 == pytest.approx(reference.statistic)
    assert math.isnan(result.counts.iloc[0, 1])  # the caller's table is returned as given

    blank = contingency(pd.DataFrame(index=["trust", "care"], columns=["nagoya", "osaka"]))
    assert math.isnan(blank.chi2)
    assert blank.warning is not None and "No test possible" in blank.warning


def test_negative_counts_are_rejected() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        contingency(table([[1, -1], [2, 3]]))


# code_by_site --------------------------------------------------------------------------------


@pytest.fixture
def passages() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "passage_id": ["p1", "p2", "p3", "p4", "p5", "p6"],
            "site": ["nagoya", "nagoya", "osaka", "osaka", "niihama", "niihama"],
            "words": [100, 300, 200, 50, 250, 150],
        }
    )


@pytest.fixture
def coded() -> pd.DataFrame:
    """Six excerpts; e4 also carries a code outside the codebook list, which is ignored."""
    rows = [
        ("e1", "p1", "nagoya", "trust"),
        ("e1", "p1", "nagoya", "care"),
        ("e2", "p1", "nagoya", "trust"),
        ("e3", "p2", "nagoya", "care"),
        ("e4", "p3", "osaka", "trust"),
        ("e4", "p3", "osaka", "other"),
        ("e5", "p5", "niihama", "care"),
        ("e5", "p5", "niihama", "money"),
        ("e6", "p5", "niihama", "care"),
    ]
    return pd.DataFrame(rows, columns=["excerpt_id", "passage_id", "site", "code"])


CODES = ["trust", "care", "money", "unused"]


def test_code_by_site_counts_shares_and_rates(coded: pd.DataFrame, passages: pd.DataFrame) -> None:
    tidy, result = code_by_site(coded, passages, CODES, SITES)

    assert list(tidy.columns) == [
        "code",
        "site",
        "excerpts",
        "passages_coded",
        "site_passages",
        "share_of_passages",
        "site_words",
        "rate_per_1000_words",
        "expected",
        "residual",
        "code_p",
        "code_p_holm",
        "distinctive",
    ]
    assert len(tidy) == len(CODES) * len(SITES)
    assert list(zip(tidy["code"], tidy["site"], strict=True)) == [(c, s) for c in CODES for s in SITES]
    row = tidy.set_index(["code", "site"])

    # Excerpts: trust at nagoya e1, e2; trust at osaka e4; care at nagoya e1, e3; care at niihama e5, e6; money e5.
    excerpts = {
        ("trust", "nagoya"): 2,
        ("trust", "osaka"): 1,
        ("care", "nagoya"): 2,
        ("care", "niihama"): 2,
        ("money", "niihama"): 1,
    }
    passages_coded = {
        ("trust", "nagoya"): 1,  # e1 and e2 are both in p1
        ("trust", "osaka"): 1,
        ("care", "nagoya"): 2,  # p1 and p2
        ("care", "niihama"): 1,  # e5 and e6 are both in p5
        ("money", "niihama"): 1,
    }
    for code in CODES:
        for site in SITES:
            assert row.at[(code, site), "excerpts"] == excerpts.get((code, site), 0), (code, site)
            assert row.at[(code, site), "passages_coded"] == passages_coded.get((code, site), 0), (code, site)

    # Denominators: 2 passages at each real site (p6 is uncoded but counts), none at 'general'.
    assert row.xs("trust", level="code")["site_passages"].to_dict() == {
        "nagoya": 2,
        "osaka": 2,
        "niihama": 2,
        "general": 0,
    }
    assert row.xs("care", level="code")["site_words"].to_dict() == {
        "nagoya": 400,
        "osaka": 250,
        "niihama": 400,
        "general": 0,
    }
    assert row.at[("trust", "nagoya"), "share_of_passages"] == 0.5  # 1 / 2
    assert row.at[("care", "nagoya"), "share_of_passages"] == 1.0  # 2 / 2
    assert row.at[("care", "niihama"), "share_of_passages"] == 0.5  # 1 / 2
    assert row.at[("trust", "general"), "share_of_passages"] == 0.0  # no passages: 0, not NaN
    assert row.at[("trust", "nagoya"), "rate_per_1000_words"] == 5.0  # 2 / 400 * 1000
    assert row.at[("trust", "osaka"), "rate_per_1000_words"] == 4.0  # 1 / 250 * 1000
    assert row.at[("care", "niihama"), "rate_per_1000_words"] == 5.0  # 2 / 400 * 1000
    assert row.at[("money", "niihama"), "rate_per_1000_words"] == 2.5  # 1 / 400 * 1000
    assert row.at[("money", "general"), "rate_per_1000_words"] == 0.0  # no words: 0, not NaN

    for column in ["excerpts", "passages_coded", "site_passages", "site_words"]:
        assert tidy[column].dtype == np.int64
    assert tidy["distinctive"].dtype == bool

    # The overall test runs on the coded-passage counts (what the heatmap shades), without the
    # 'unused' code and the empty 'general' site.
    tested_codes, tested_sites = ["trust", "care", "money"], ["nagoya", "osaka", "niihama"]
    table = [[passages_coded.get((c, s), 0) for s in tested_sites] for c in tested_codes]
    assert result.counts.loc[tested_codes, tested_sites].to_numpy().tolist() == table
    chi2, _, _ = by_hand(table)
    assert result.chi2 == pytest.approx(chi2)
    assert result.dof == 4
    assert result.warning is not None and "unreliable" in result.warning  # few passages: every E < 5
    # Each cell's expected count and residual come from its code's own test: coded against not
    # coded passages across the sites.
    for code in tested_codes:
        coded_row = [passages_coded.get((code, site), 0) for site in tested_sites]
        totals = [int(row.at[(code, site), "site_passages"]) for site in tested_sites]
        _, expected, residuals = by_hand([coded_row, [t - c for t, c in zip(totals, coded_row, strict=True)]])
        for k, site in enumerate(tested_sites):
            assert row.at[(code, site), "expected"] == pytest.approx(expected[0][k]), (code, site)
            assert row.at[(code, site), "residual"] == pytest.approx(residuals[0][k]), (code, site)
    assert row.loc["unused"]["expected"].isna().all()
    assert row.xs("general", level="site")["residual"].isna().all()
    # Distinctive only with a corrected, reliable test behind it: none in a table this small.
    assert not tidy["distinctive"].any()
    assert not tidy.loc[tidy["residual"].isna(), "distinctive"].any()


def test_code_by_site_flags_over_represented_codes() -> None:
    # 20 'trust' and 2 'care' excerpts at nagoya, the reverse at osaka: residuals far beyond ±1.96.
    rows = []
    for site, n_trust, n_care in [("nagoya", 20, 2), ("osaka", 2, 20)]:
        for code, n in [("trust", n_trust), ("care", n_care)]:
            rows += [(f"{site}-{code}-{i}", f"{site}-p{i}", site, code) for i in range(n)]
    coded = pd.DataFrame(rows, columns=["excerpt_id", "passage_id", "site", "code"])
    passages = pd.DataFrame(
        {
            "passage_id": [f"{s}-p{i}" for s in ["nagoya", "osaka"] for i in range(20)],
            "site": ["nagoya"] * 20 + ["osaka"] * 20,
        }
    ).assign(words=100)

    tidy, result = code_by_site(coded, passages, ["trust", "care"], ["nagoya", "osaka"])

    # The overall table of coded passages: rows 22, 22 and columns 22, 22, N = 44: E = 11.
    assert result.expected.to_numpy() == pytest.approx(np.full((2, 2), 11.0))
    flagged = tidy.loc[tidy["distinctive"], ["code", "site"]].values.tolist()
    assert flagged == [["trust", "nagoya"], ["care", "osaka"]]
    # Each code's own test, coded against not coded passages (20 per site): for trust, coded 20 and 2,
    # N = 40, E = 11; residual = 9 / sqrt(11 * (1 - 22/40) * (1 - 20/40)).
    assert tidy.loc[tidy["distinctive"], "residual"].to_numpy() == pytest.approx([9 / math.sqrt(11 * 0.45 * 0.5)] * 2)
    assert distinctive_codes(tidy) == {"nagoya": ["trust"], "osaka": ["care"]}
    assert result.warning is None


def test_code_by_site_with_nothing_coded(passages: pd.DataFrame) -> None:
    empty = pd.DataFrame(columns=["excerpt_id", "passage_id", "site", "code"])
    tidy, result = code_by_site(empty, passages, CODES, SITES)

    assert len(tidy) == len(CODES) * len(SITES)
    assert (tidy["excerpts"] == 0).all()
    assert not tidy["distinctive"].any()
    assert result.warning is not None and "No test possible" in result.warning


# topic_by_site -------------------------------------------------------------------------------


def test_topic_by_site(passages: pd.DataFrame) -> None:
    assignments = pd.DataFrame(
        {
            "passage_id": ["p1", "p2", "p3", "p4", "p5", "p6", "p9"],
            "topic_id": [0, 0, 1, 1, 0, -1, 0],  # p6 is an outlier, p9 is not in the corpus
        }
    )
    topics = {0: "housing", 1: "festivals", 2: "empty"}
    sites = ["nagoya", "osaka", "niihama"]

    tidy, result = topic_by_site(assignments, passages, topics, sites)

    assert list(tidy.columns) == [
        "topic_id",
        "label",
        "site",
        "passages",
        "site_passages",
        "share_of_passages",
        "expected",
        "residual",
        "cell_p_holm",
        "distinctive",
    ]
    assert len(tidy) == 9
    row = tidy.set_index(["topic_id", "site"])
    assert row.at[(0, "nagoya"), "passages"] == 2
    assert row.at[(0, "nagoya"), "share_of_passages"] == 1.0  # 2 / 2
    assert row.at[(0, "osaka"), "passages"] == 0
    assert row.at[(0, "niihama"), "passages"] == 1
    assert row.at[(0, "niihama"), "share_of_passages"] == 0.5  # p5 of p5, p6
    assert row.at[(1, "osaka"), "passages"] == 2
    assert row.at[(1, "osaka"), "label"] == "festivals"
    assert (row.loc[2]["passages"] == 0).all()
    assert row.loc[2]["residual"].isna().all()
    assert tidy["topic_id"].dtype == np.int64

    # Indexed by topic id; the test sees [[2, 0, 1], [0, 2, 0]].
    assert list(result.counts.index) == [0, 1, 2]
    chi2, expected, residuals = by_hand([[2, 0, 1], [0, 2, 0]])
    assert result.chi2 == pytest.approx(chi2)
    assert result.dof == 2
    assert row.at[(1, "osaka"), "expected"] == pytest.approx(expected[1][1])
    assert row.at[(1, "osaka"), "residual"] == pytest.approx(residuals[1][1])


# cooccurrence --------------------------------------------------------------------------------


def test_cooccurrence_counts_and_jaccard() -> None:
    rows = [
        ("x1", "a"),
        ("x1", "a"),  # a duplicate row counts once
        ("x1", "b"),
        ("x1", "c"),
        ("x2", "a"),
        ("x2", "b"),
        ("x3", "b"),
        ("x4", "c"),
        ("x4", "a"),
        ("x5", "d"),
        ("x5", "zz"),  # not in the list of codes
    ]
    coded = pd.DataFrame(rows, columns=["excerpt_id", "code"]).assign(passage_id="p1", site="nagoya")
    codes = ["b", "a", "c", "d"]  # display order, deliberately not alphabetical

    pairs = cooccurrence(coded, codes)

    # b & a: x1, x2 of b ∪ a = {x1, x2, x3, x4}       -> 2, 2/4
    # a & c: x1, x4 of a ∪ c = {x1, x2, x4}           -> 2, 2/3
    # b & c: x1     of b ∪ c = {x1, x2, x3, x4}       -> 1, 1/4
    # Pairs with d (and zz) never co-occur, so they are left out. Ties follow `codes` order.
    assert list(pairs.columns) == ["code_a", "code_b", "excerpts", "jaccard"]
    assert pairs[["code_a", "code_b", "excerpts"]].values.tolist() == [["b", "a", 2], ["a", "c", 2], ["b", "c", 1]]
    assert pairs["jaccard"].tolist() == pytest.approx([2 / 4, 2 / 3, 1 / 4])
    assert pairs["excerpts"].dtype == np.int64


def test_cooccurrence_of_the_code_by_site_example(coded: pd.DataFrame) -> None:
    pairs = cooccurrence(coded, CODES)

    # trust & care share e1 (trust ∪ care = e1..e6); care & money share e5 (care ∪ money = e1, e3, e5, e6).
    assert pairs[["code_a", "code_b", "excerpts"]].values.tolist() == [["trust", "care", 1], ["care", "money", 1]]
    assert pairs["jaccard"].tolist() == pytest.approx([1 / 6, 1 / 4])


def test_cooccurrence_with_no_pairs() -> None:
    coded = pd.DataFrame({"excerpt_id": ["x1", "x2"], "code": ["a", "b"]})
    assert cooccurrence(coded, ["a", "b"]).empty
    assert list(cooccurrence(coded.iloc[0:0], ["a", "b"]).columns) == ["code_a", "code_b", "excerpts", "jaccard"]


# distinctive_codes ---------------------------------------------------------------------------


def test_distinctive_codes_orders_by_residual() -> None:
    tidy = pd.DataFrame(
        {
            "code": ["trust", "care", "money", "trust", "care", "money"],
            "site": ["nagoya", "nagoya", "nagoya", "osaka", "osaka", "osaka"],
            "residual": [2.1, 3.5, 1.5, -2.1, np.nan, -1.0],
            "distinctive": [True, True, False, False, False, False],
        }
    )
    assert distinctive_codes(tidy) == {"nagoya": ["care", "trust"], "osaka": []}

    topics = tidy.rename(columns={"code": "label"})
    assert distinctive_codes(topics, key="label") == {"nagoya": ["care", "trust"], "osaka": []}


# inputs --------------------------------------------------------------------------------------


def test_inputs_are_not_mutated(coded: pd.DataFrame, passages: pd.DataFrame) -> None:
    counts = table([[10, 0, 20], [0, 0, 0], [30, 0, 40]])
    assignments = pd.DataFrame({"passage_id": ["p1", "p3", "p5"], "topic_id": [0, 1, 0]})
    codes, sites, topics = list(CODES), list(SITES), {0: "housing", 1: "festivals"}
    before = [frame.copy(deep=True) for frame in (counts, coded, passages, assignments)]

    result = contingency(counts)
    tidy, _ = code_by_site(coded, passages, codes, sites)
    topic_by_site(assignments, passages, topics, sites)
    cooccurrence(coded, codes)
    tidy_before = tidy.copy(deep=True)
    distinctive_codes(tidy)

    for original, frame in zip(before, (counts, coded, passages, assignments), strict=True):
        pd.testing.assert_frame_equal(frame, original)
    pd.testing.assert_frame_equal(tidy, tidy_before)
    assert codes == CODES and sites == SITES and topics == {0: "housing", 1: "festivals"}
    result.counts.iloc[0, 0] = 999  # the result holds its own copy
    assert counts.iloc[0, 0] == 10


@settings(max_examples=80, deadline=None)
@given(
    st.integers(2, 6).flatmap(
        lambda rows: st.integers(2, 5).flatmap(
            lambda cols: st.lists(
                st.lists(st.integers(1, 400), min_size=cols, max_size=cols), min_size=rows, max_size=rows
            )
        )
    )
)
def test_chi_square_equals_scipy_on_any_table(rows: list[list[int]]) -> None:
    # fieldnotes computes the test with numpy and scipy.special (scipy.stats is slow to import).
    result = contingency(table(rows))
    reference = chi2_contingency(rows, correction=False)
    assert result.chi2 == pytest.approx(reference.statistic, rel=1e-9)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-9, abs=1e-300)
    assert result.dof == reference.dof
    assert result.expected.to_numpy() == pytest.approx(reference.expected_freq, rel=1e-12)


def test_no_distinctive_claim_without_a_corrected_test_behind_it() -> None:
    """A residual of 2 on one code among many is no claim once the codes' tests are
    Holm-corrected, and a theme table whose overall test fails marks no cell at all."""
    sites = ["nagoya", "osaka"]
    passages = pd.DataFrame(
        {"passage_id": [f"{s}-p{i}" for s in sites for i in range(40)], "site": ["nagoya"] * 40 + ["osaka"] * 40}
    ).assign(words=100)
    rows = []
    codes = [f"c{k}" for k in range(12)]
    for k, code in enumerate(codes):
        # c0: 12 of 40 coded at nagoya, 4 of 40 at osaka (2x2 p about .03, residual about 2.2); the others even.
        n_nagoya, n_osaka = (12, 4) if k == 0 else (5, 5)
        rows += [(f"n-{code}-{i}", f"nagoya-p{i}", "nagoya", code) for i in range(n_nagoya)]
        rows += [(f"o-{code}-{i}", f"osaka-p{i}", "osaka", code) for i in range(n_osaka)]
    coded = pd.DataFrame(rows, columns=["excerpt_id", "passage_id", "site", "code"])
    tidy, _ = code_by_site(coded, passages, codes, sites)
    first = tidy.loc[(tidy["code"] == "c0") & (tidy["site"] == "nagoya")].iloc[0]
    assert first["residual"] >= 1.96 and first["code_p"] < 0.05
    assert first["code_p_holm"] >= 0.05 and not tidy["distinctive"].any()
    # Alone, the same code is distinctive: its test needs no correction.
    alone, _ = code_by_site(coded.loc[coded["code"] == "c0"], passages, ["c0"], sites)
    assert alone.loc[alone["site"] == "nagoya", "distinctive"].item()

    # Themes: a 3 x 2 table whose overall test gives p > .05.
    assignments = pd.DataFrame(
        {
            "passage_id": [f"{s}-p{i}" for s in sites for i in range(12)],
            "topic_id": [0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2] * 2,
        }
    )
    assignments.loc[assignments["passage_id"] == "nagoya-p11", "topic_id"] = 0
    themes, result = topic_by_site(assignments, passages, {0: "a", 1: "b", 2: "c"}, sites)
    assert result.p_value > 0.05 and not themes["distinctive"].any()
