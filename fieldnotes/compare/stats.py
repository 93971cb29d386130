"""Category-by-site statistics: counts, chi-square tests, residuals and co-occurrence.

The tests count excerpts (codes) or passages (topics); passages and words per site are
reported alongside, because the sites' corpora differ in size.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from fieldnotes.compare.model import ContingencyResult

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

_TEST = "Pearson chi-square test of independence"
_Z_05 = 1.96  # two-sided p < .05 for a standard normal residual
_MIN_EXPECTED = 5.0  # Cochran's rule: expected counts below 5 ...
_MAX_LOW_SHARE = 0.20  # ... in more than 20% of cells make the p-value unreliable

_CODE_COLUMNS = [
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
_TOPIC_COLUMNS = [
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
ALPHA = 0.05


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment of a family of p-values (NaN stays NaN, and is not counted)."""
    import numpy as np

    values = np.asarray(p_values, dtype=float)
    adjusted = np.full(values.shape, np.nan)
    finite = np.flatnonzero(~np.isnan(values))
    order = finite[np.argsort(values[finite], kind="stable")]
    m, running = len(order), 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * values[index]))
        adjusted[index] = running
    return adjusted.tolist()


def _upper_tail(z: float) -> float:
    """One-sided p-value of a standard normal residual (over-representation)."""
    from scipy.special import ndtr

    return math.nan if math.isnan(z) else float(1 - ndtr(z))


def contingency(counts: pd.DataFrame) -> ContingencyResult:
    """Chi-square test of independence with adjusted residuals, so a report can say which
    category is over- or under-represented at which site, and how far to trust that.

    All-zero rows and columns are left out of the test (they carry no information and would
    give zero expected counts) but kept in the result with NaN expected and residual; missing
    cells count as zero. Raises only on negative counts; empty or degenerate tables get a
    warning instead.
    """
    import numpy as np

    # Missing cells (as unstack or reindex leave them) are categories never seen at a site: zero.
    observed = np.nan_to_num(counts.to_numpy(dtype=float, na_value=np.nan), nan=0.0)
    if (observed < 0).any():
        raise ValueError("counts must be non-negative")

    expected = np.full(observed.shape, np.nan)
    residuals = np.full(observed.shape, np.nan)
    keep_rows = observed.sum(axis=1) > 0
    keep_cols = observed.sum(axis=0) > 0
    n_rows, n_cols = int(keep_rows.sum()), int(keep_cols.sum())
    if n_rows < 2 or n_cols < 2:
        return _untestable(counts, expected, residuals, n_rows, n_cols)

    tested = observed[np.ix_(keep_rows, keep_cols)]
    statistic, dof, p_value, tested_expected = _pearson_chi2(tested)
    tested_residuals = _adjusted_residuals(tested, tested_expected)
    block = np.ix_(np.flatnonzero(keep_rows), np.flatnonzero(keep_cols))
    expected[block] = tested_expected
    residuals[block] = tested_residuals
    low_share, warning = _low_expected(tested_expected)
    return ContingencyResult(
        counts=counts.copy(),
        expected=_frame(expected, counts),
        residuals=_frame(residuals, counts),
        chi2=statistic,
        dof=dof,
        p_value=p_value,
        test=_TEST,
        low_expected_share=float(low_share),
        warning=warning,
    )


def _frame(values: np.ndarray, counts: pd.DataFrame) -> pd.DataFrame:
    """`values` labelled as `counts` is."""
    import pandas as pd

    return pd.DataFrame(values, index=counts.index.copy(), columns=counts.columns.copy())


def _untestable(
    counts: pd.DataFrame, expected: np.ndarray, residuals: np.ndarray, n_rows: int, n_cols: int
) -> ContingencyResult:
    """The result for a table with fewer than two categories or sites that have counts: no test."""
    warning = (
        f"No test possible: only {n_rows} {'category' if n_rows == 1 else 'categories'} and "
        f"{n_cols} {'site' if n_cols == 1 else 'sites'} have any counts, and a test of independence "
        "needs at least two of each."
    )
    return ContingencyResult(
        counts=counts.copy(),
        expected=_frame(expected, counts),
        residuals=_frame(residuals, counts),
        chi2=math.nan,
        dof=0,
        p_value=math.nan,
        test=_TEST,
        low_expected_share=math.nan,
        warning=warning,
    )


def _low_expected(tested_expected: np.ndarray) -> tuple[float, str | None]:
    """The share of cells with an expected count below 5, and a warning when it breaks Cochran's rule."""
    cells = tested_expected.size
    low = int((tested_expected < _MIN_EXPECTED).sum())
    low_share = low / cells
    warning = None
    if low_share > _MAX_LOW_SHARE:
        warning = (
            f"{low} of {cells} cells ({low_share:.0%}) have an expected count below 5, more than the 20% "
            "Cochran's rule allows, so the chi-square p-value is unreliable; read the residuals as "
            "descriptive, not as significance tests."
        )
    return low_share, warning


def _pearson_chi2(observed: np.ndarray) -> tuple[float, int, float, np.ndarray]:
    """Pearson's chi-square test of independence without continuity correction (what
    scipy.stats.chi2_contingency(correction=False) gives): statistic, degrees of freedom,
    p-value and expected counts. Only scipy.special is imported: scipy.stats takes over a
    second to import, in every run that draws the report."""
    import numpy as np
    from scipy.special import chdtrc

    total = observed.sum()
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / total
    statistic = float(((observed - expected) ** 2 / expected).sum())
    dof = (observed.shape[0] - 1) * (observed.shape[1] - 1)
    return statistic, dof, float(chdtrc(dof, statistic)), expected


def _adjusted_residuals(observed: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Haberman's adjusted standardised residuals: roughly standard normal under independence,
    so |r| >= 1.96 marks a cell that departs from independence at p < .05."""
    import numpy as np

    total = observed.sum()
    row_share = observed.sum(axis=1, keepdims=True) / total
    col_share = observed.sum(axis=0, keepdims=True) / total
    return (observed - expected) / np.sqrt(expected * (1 - row_share) * (1 - col_share))


def code_by_site(
    coded: pd.DataFrame, passages: pd.DataFrame, codes: list[str], sites: list[str]
) -> tuple[pd.DataFrame, ContingencyResult]:
    """Excerpts per code and site, with the denominators (passages, words) a reader needs to
    compare sites of different sizes, and the residuals that say where a code is distinctive.

    Codes not in `codes` and sites not in `sites` are ignored; every listed pair gets a row.
    """
    import pandas as pd

    codes = list(dict.fromkeys(codes))
    sites = list(dict.fromkeys(sites))
    wanted = coded["code"].isin(codes) & coded["site"].isin(sites)
    kept = coded.loc[wanted, ["excerpt_id", "passage_id", "site", "code"]]
    kept = kept.drop_duplicates(["excerpt_id", "code"])
    grouped = kept.groupby(["code", "site"])
    excerpts = _square(grouped["excerpt_id"].nunique(), codes, sites)
    passages_coded = _square(grouped["passage_id"].nunique(), codes, sites)

    site_passages, site_words = _site_sizes(passages, sites)
    # The picture shows each site's share of passages carrying a code, so the test counts those
    # passages too: per code, coded against not coded passages across the sites (a 2 x k table),
    # Holm-corrected over the codes. A cell is distinctive only when its code's corrected test
    # holds, the test is reliable by Cochran's rule, and the cell's residual is >= 1.96.
    per_code = {code: _code_test(passages_coded.loc[code], site_passages, sites) for code in codes}
    corrected = dict(zip(codes, holm([per_code[code][0] for code in codes]), strict=True))
    # The overall table for the report: passages coded per code and site.
    result = contingency(passages_coded)

    rows = []
    for code in codes:
        code_p, reliable, code_residuals, code_expected = per_code[code]
        for site in sites:
            n_excerpts = int(excerpts.at[code, site])
            n_coded = int(passages_coded.at[code, site])
            n_passages = site_passages[site]
            n_words = site_words[site]
            rows.append(
                {
                    "code": code,
                    "site": site,
                    "excerpts": n_excerpts,
                    "passages_coded": n_coded,
                    "site_passages": n_passages,
                    "share_of_passages": n_coded / n_passages if n_passages else 0.0,
                    "site_words": n_words,
                    "rate_per_1000_words": n_excerpts / n_words * 1000 if n_words else 0.0,
                    "expected": code_expected[site],
                    "residual": code_residuals[site],
                    "code_p": code_p,
                    "code_p_holm": corrected[code],
                    "distinctive": bool(reliable and corrected[code] < ALPHA and code_residuals[site] >= _Z_05),
                }
            )
    table = pd.DataFrame(rows, columns=_CODE_COLUMNS)
    return _typed(table, _CODE_COLUMNS, ints=["excerpts", "passages_coded", "site_passages", "site_words"]), result


def _code_test(
    coded: pd.Series, site_passages: dict[str, int], sites: list[str]
) -> tuple[float, bool, dict[str, float], dict[str, float]]:
    """One code's passages, coded or not, across the sites: (p, reliable, residual and expected
    coded count per site). NaN everywhere when no test is possible (code never or always used)."""
    import numpy as np
    import pandas as pd

    with_code = np.array([float(coded.get(site, 0)) for site in sites])
    totals = np.array([float(site_passages.get(site, 0)) for site in sites])
    table = pd.DataFrame([with_code, np.maximum(totals - with_code, 0)], index=["coded", "not coded"], columns=sites)
    result = contingency(table)
    nan = {site: math.nan for site in sites}
    if math.isnan(result.p_value):
        return math.nan, False, nan, nan
    residuals = {site: float(result.residuals.at["coded", site]) for site in sites}
    expected = {site: float(result.expected.at["coded", site]) for site in sites}
    return result.p_value, result.warning is None, residuals, expected


def topic_by_site(
    assignments: pd.DataFrame, passages: pd.DataFrame, topics: dict[int, str], sites: list[str]
) -> tuple[pd.DataFrame, ContingencyResult]:
    """Passages per topic and site, with each site's share, so themes can be compared across
    sites of different sizes. The test's tables are indexed by topic id (labels may repeat).

    A passage's site comes from `passages`; assignments to unknown passages, topics not in
    `topics` (such as outliers) and sites not in `sites` are ignored.
    """
    import pandas as pd

    topic_ids = list(topics)
    sites = list(dict.fromkeys(sites))
    site_of = passages.drop_duplicates("passage_id").set_index("passage_id")["site"]
    kept = assignments.loc[assignments["topic_id"].isin(topic_ids), ["passage_id", "topic_id"]]
    kept = kept.assign(site=kept["passage_id"].map(site_of))
    kept = kept.loc[kept["site"].isin(sites)].drop_duplicates(["passage_id", "topic_id"])
    counts = _square(kept.groupby(["topic_id", "site"])["passage_id"].nunique(), topic_ids, sites)

    site_passages, _ = _site_sizes(passages, sites)
    result = contingency(counts)

    rows = []
    for topic_id in topic_ids:
        for site in sites:
            n = int(counts.at[topic_id, site])
            n_passages = site_passages[site]
            rows.append(
                {
                    "topic_id": topic_id,
                    "label": topics[topic_id],
                    "site": site,
                    "passages": n,
                    "site_passages": n_passages,
                    "share_of_passages": n / n_passages if n_passages else 0.0,
                    "expected": float(result.expected.at[topic_id, site]),
                    "residual": float(result.residuals.at[topic_id, site]),
                }
            )
    table = pd.DataFrame(rows, columns=_TOPIC_COLUMNS[:-2])
    # A passage has one theme, so theme x site is one table and one test: a cell is distinctive
    # only when that test holds (p < .05, reliable by Cochran's rule) and the cell's one-sided p,
    # Holm-corrected over every cell, is below .05.
    table["cell_p_holm"] = holm([_upper_tail(z) for z in table["residual"]])
    overall = (not math.isnan(result.p_value)) and result.p_value < ALPHA and result.warning is None
    table["distinctive"] = (table["cell_p_holm"] < ALPHA) & overall
    return _typed(table, _TOPIC_COLUMNS, ints=["topic_id", "passages", "site_passages"]), result


def cooccurrence(coded: pd.DataFrame, codes: list[str]) -> pd.DataFrame:
    """Pairs of codes applied to the same excerpt, to show which ideas travel together.

    One row per unordered pair (code_a before code_b in `codes` order) that shares at least
    one excerpt; Jaccard = excerpts with both / excerpts with either. Sorted by excerpts
    descending, ties in `codes` order.
    """
    import numpy as np
    import pandas as pd

    codes = list(dict.fromkeys(codes))
    columns = ["code_a", "code_b", "excerpts", "jaccard"]
    kept = coded.loc[coded["code"].isin(codes), ["excerpt_id", "code"]].drop_duplicates()
    if kept.empty or len(codes) < 2:
        return _typed(pd.DataFrame(columns=columns), columns, ints=["excerpts"])

    position = {code: i for i, code in enumerate(codes)}
    excerpt_index = {excerpt: i for i, excerpt in enumerate(dict.fromkeys(kept["excerpt_id"]))}
    matrix = np.zeros((len(excerpt_index), len(codes)), dtype=np.int64)
    matrix[kept["excerpt_id"].map(excerpt_index).to_numpy(), kept["code"].map(position).to_numpy()] = 1
    both = matrix.T @ matrix  # both[i, j]: excerpts carrying codes i and j; diagonal: excerpts with code i

    rows = []
    for i in range(len(codes)):
        for j in range(i + 1, len(codes)):
            shared = int(both[i, j])
            if shared:
                either = int(both[i, i] + both[j, j]) - shared
                rows.append((i, j, codes[i], codes[j], shared, shared / either))
    rows.sort(key=lambda row: (-row[4], row[0], row[1]))
    table = pd.DataFrame([row[2:] for row in rows], columns=columns)
    return _typed(table, columns, ints=["excerpts"])


def distinctive_codes(table: pd.DataFrame, key: str = "code") -> dict[str, list[str]]:
    """Site -> categories over-represented there, strongest first, for the report's summary.

    Every site in the table gets an entry, empty when nothing stands out; ties keep table order.
    """
    result: dict[str, list[str]] = {site: [] for site in dict.fromkeys(table["site"])}
    flagged = table.loc[table["distinctive"].fillna(False).astype(bool)]
    flagged = flagged.sort_values("residual", ascending=False, kind="stable")
    for site, category in zip(flagged["site"], flagged[key], strict=True):
        result[site].append(category)
    return result


def _square(series: pd.Series, index: list, columns: list[str]) -> pd.DataFrame:
    """A (category, site) count series as a full category x site table of ints, zeros filled."""
    import pandas as pd

    table = series.unstack("site") if len(series) else pd.DataFrame()
    table = table.reindex(index=pd.Index(index), columns=pd.Index(columns)).fillna(0).astype("int64")
    table.index.name = None
    table.columns.name = None
    return table


def _site_sizes(passages: pd.DataFrame, sites: list[str]) -> tuple[dict[str, int], dict[str, int]]:
    """Passages and words per site: the denominators for shares and rates."""
    distinct = passages.drop_duplicates("passage_id")
    n_passages = distinct.groupby("site")["passage_id"].nunique()
    n_words = distinct.groupby("site")["words"].sum() if "words" in distinct.columns else None
    passages_by_site = {site: int(n_passages.get(site, 0)) for site in sites}
    words_by_site = {site: int(n_words.get(site, 0)) if n_words is not None else 0 for site in sites}
    return passages_by_site, words_by_site


def _typed(table: pd.DataFrame, columns: list[str], ints: list[str]) -> pd.DataFrame:
    """Stable column order and dtypes, also for empty tables."""
    table = table.reindex(columns=columns)
    for column in columns:
        if column in ints:
            table[column] = table[column].astype("int64")
        elif column == "distinctive":
            table[column] = table[column].astype(bool)
        elif column in {
            "share_of_passages",
            "rate_per_1000_words",
            "expected",
            "residual",
            "jaccard",
            "code_p",
            "code_p_holm",
            "cell_p_holm",
        }:
            table[column] = table[column].astype(float)
    return table
