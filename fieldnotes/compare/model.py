"""Data handed from the comparison stage to charts and the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class ContingencyResult:
    """A category-by-site table of counts and its chi-square test of independence."""

    counts: pd.DataFrame  # index: categories (codes or topics), columns: sites; ints
    expected: pd.DataFrame  # same shape; expected counts under independence
    residuals: pd.DataFrame  # same shape; adjusted standardised residuals
    chi2: float
    dof: int
    p_value: float
    test: str  # e.g. "Pearson chi-square test of independence"
    low_expected_share: float  # share of cells with expected count < 5
    warning: str | None  # set when the test is unreliable (too many small expected counts, empty table)


@dataclass
class Theme:
    topic_id: int  # -1 never appears: outliers are reassigned
    label: str
    words: list[str]
    size: int  # passages
    share_by_site: dict[str, float]  # share of each site's passages in this theme
    examples: list[dict[str, str]]  # representative passages: text, document, site
    words_by_site: dict[str, str] = field(default_factory=dict)  # how each site talks about it


@dataclass
class ReportData:
    title: str
    generated_at: str
    corpus: dict[str, object]  # documents, passages, words, by_format {fmt: n}
    sites: list[str]  # site ids in display order, 'general' last
    site_labels: dict[str, str]
    passages_by_site: dict[str, int]
    words_by_site: dict[str, int]
    status_used: str  # "accepted", "suggested" or "all", and why
    code_names: dict[str, str]
    code_by_site: (
        pd.DataFrame
    )  # tidy: code, site, excerpts, passages_coded, share_of_passages, rate_per_1000_words, residual, distinctive
    code_test: ContingencyResult | None
    topic_by_site: (
        pd.DataFrame | None
    )  # tidy: topic_id, label, site, passages, share_of_passages, residual, distinctive
    topic_test: ContingencyResult | None
    themes: list[Theme]
    distinctive: dict[str, list[str]]  # site -> code ids over-represented there
    top_excerpts: list[dict[str, object]]  # code, site, text, document, score, status; a few per (code, site)
    cooccurrence: pd.DataFrame  # code_a, code_b, excerpts, jaccard
    provenance: dict[str, str]
    charts: dict[str, Path] = field(default_factory=dict)  # name -> PNG path
    warnings: list[str] = field(default_factory=list)
