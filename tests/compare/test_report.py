"""The HTML report and its charts, built from a hand-made ReportData (no model, no corpus)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from fieldnotes.compare.charts import CODE_BARS, CODE_HEATMAP, TOPIC_HEATMAP, bars_by_site, charts_for_report, heatmap
from fieldnotes.compare.model import ContingencyResult, ReportData, Theme
from fieldnotes.compare.report import render_report

SITES = ["nagoya", "osaka", "niihama", "general"]
LABELS = {"nagoya": "Nagoya", "osaka": "Osaka", "niihama": "Niihama", "general": "General"}
CODES = {
    "collective-coproduction": "Collective co-production",
    "mutual-help": "Mutual help",
    "staff-autonomy": "Staff autonomy",
}
EVIL = 'Han groups <script>alert(1)</script> with "quotes" & ampersands'
PASSAGES = {"nagoya": 40, "osaka": 25, "niihama": 30, "general": 15}
COUNTS = {
    "collective-coproduction": [20, 3, 6, 2],
    "mutual-help": [4, 10, 5, 3],
    "staff-autonomy": [2, 2, 12, 1],
}
RESIDUALS = {
    "collective-coproduction": [3.1, -1.9, -1.2, -0.8],
    "mutual-help": [-1.7, 2.4, -0.3, 0.2],
    "staff-autonomy": [-2.0, -1.1, 2.9, -0.4],
}
HEADINGS = [
    "Corpus overview",
    "Themes",
    "Codes by site",
    "Themes by site",
    "Co-occurring codes",
    "Top excerpts by code and site",
    "Provenance",
]


def _contingency(counts: pd.DataFrame, residuals: pd.DataFrame) -> ContingencyResult:
    expected = counts.sum(axis=1).to_numpy()[:, None] * counts.sum(axis=0).to_numpy()[None, :] / counts.to_numpy().sum()
    return ContingencyResult(
        counts=counts,
        expected=pd.DataFrame(expected, index=counts.index, columns=counts.columns),
        residuals=residuals,
        chi2=31.42,
        dof=6,
        p_value=2.1e-5,
        test="Pearson chi-square test of independence",
        low_expected_share=0.25,
        warning="3 of 12 cells have expected counts below 5; read the test with care.",
    )


def make_data(charts: dict[str, Path] | None = None) -> ReportData:
    rows = []
    for code, counts in COUNTS.items():
        for site, count, residual in zip(SITES, counts, RESIDUALS[code], strict=True):
            rows.append(
                {
                    "code": code,
                    "site": site,
                    "excerpts": count + 1,
                    "passages_coded": count,
                    "share_of_passages": count / PASSAGES[site],
                    "rate_per_1000_words": 1000 * count / (PASSAGES[site] * 90),
                    "residual": residual,
                    "distinctive": residual >= 1.96,
                }
            )
    code_by_site = pd.DataFrame(rows)
    counts = pd.DataFrame(COUNTS, index=SITES).T
    residuals = pd.DataFrame(RESIDUALS, index=SITES).T
    topics = []
    for topic_id, label, shares, res in [
        (0, "han groups & health checks", [0.5, 0.2, 0.3, 0.4], [2.5, -1.5, -0.5, 0.1]),
        (1, "care staff <work>", [0.5, 0.8, 0.7, 0.6], [-2.5, 1.5, 0.5, -0.1]),
    ]:
        for site, share, residual in zip(SITES, shares, res, strict=True):
            topics.append(
                {
                    "topic_id": topic_id,
                    "label": label,
                    "site": site,
                    "passages": round(share * PASSAGES[site]),
                    "share_of_passages": share,
                    "residual": residual,
                    "distinctive": residual >= 1.96,
                }
            )
    themes = [
        Theme(
            0,
            "han groups & health checks",
            ["han", "members", "health", "check"],
            40,
            dict(zip(SITES, [0.5, 0.2, 0.3, 0.4], strict=True)),
            [
                {"text": EVIL, "document": "notes/nagoya <visit>.md", "site": "nagoya"},
                {"text": "Members measure blood pressure together.", "document": "brochure.pdf", "site": "general"},
            ],
        ),
        Theme(
            1,
            "care staff <work>",
            ["staff", "care", "nurses"],
            70,
            dict(zip(SITES, [0.5, 0.8, 0.7, 0.6], strict=True)),
            [{"text": "Nurses decide the rota themselves.", "document": "niihama.docx", "site": "niihama"}],
        ),
    ]
    excerpts = [
        {
            "code": "collective-coproduction",
            "site": "nagoya",
            "text": EVIL,
            "document": "notes/nagoya <visit>.md",
            "score": 0.91,
            "status": "accepted",
        },
        {
            "code": "collective-coproduction",
            "site": "osaka",
            "text": "Members fund the clinic.",
            "document": "hanshin.pdf",
            "score": 0.62,
            "status": "suggested",
        },
        {
            "code": "mutual-help",
            "site": "osaka",
            "text": "Neighbours help each other.",
            "document": "hanshin.pdf",
            "score": 0.77,
            "status": "suggested",
        },
        {
            "code": "staff-autonomy",
            "site": "niihama",
            "text": "Nurses decide the rota themselves.",
            "document": "niihama.docx",
            "score": 0.85,
            "status": "accepted",
        },
    ]
    return ReportData(
        title='Co-production across sites: "Nagoya" & <friends>',
        generated_at="2025-01-02 03:04 UTC",
        corpus={"documents": 12, "passages": 110, "words": 9900, "by_format": {"pdf": 5, "md": 4, "docx": 3}},
        sites=SITES,
        site_labels=LABELS,
        passages_by_site=PASSAGES,
        words_by_site={site: n * 90 for site, n in PASSAGES.items()},
        status_used="accepted and suggested codes (few accepted yet)",
        code_names=CODES,
        code_by_site=code_by_site,
        code_test=_contingency(counts, residuals),
        topic_by_site=pd.DataFrame(topics),
        topic_test=None,
        themes=themes,
        distinctive={"nagoya": ["collective-coproduction"], "osaka": ["mutual-help"], "niihama": ["staff-autonomy"]},
        top_excerpts=excerpts,
        cooccurrence=pd.DataFrame(
            [
                {"code_a": "collective-coproduction", "code_b": "mutual-help", "excerpts": 4, "jaccard": 0.2},
                {"code_a": "mutual-help", "code_b": "staff-autonomy", "excerpts": 1, "jaccard": 0.05},
            ]
        ),
        provenance={
            "codebook": 'co-production v1 "draft" & more',
            "model": "all-MiniLM-L6-v2",
            "settings hash": "abc123",
            "corpus hash": "def456",
            "run ids": "3, 4",
        },
        charts=charts or {},
        warnings=["Only 4 suggestions were reviewed; shares count unreviewed suggestions."],
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[ReportData, Path]:
    """Charts and report drawn once for the module: drawing is the slow part."""
    directory = tmp_path_factory.mktemp("report")
    data = make_data()
    data.charts.update(charts_for_report(data, directory / "charts"))
    data.charts["missing"] = directory / "charts" / "not-there.png"
    return data, render_report(data, directory / "report.html")


def test_charts_are_pngs_and_stable(tmp_path: Path) -> None:
    table = pd.DataFrame(COUNTS, index=SITES).T / pd.Series(PASSAGES)
    distinctive = pd.DataFrame(RESIDUALS, index=SITES).T >= 1.96
    first = heatmap(table, tmp_path / "a.png", "Codes by site", "share of passages", distinctive)
    second = heatmap(table, tmp_path / "b.png", "Codes by site", "share of passages", distinctive)
    bars = bars_by_site(table, tmp_path / "bars.png", "Codes by site")
    for path in (first, second, bars):
        assert path.read_bytes().startswith(b"\x89PNG")
    assert first.read_bytes() == second.read_bytes()
    assert b"matplotlib" not in first.read_bytes()


def test_charts_for_report_names(report: tuple[ReportData, Path]) -> None:
    charts = report[0].charts
    assert set(charts) == {CODE_HEATMAP, CODE_BARS, TOPIC_HEATMAP, "missing"}
    assert all(path.is_file() for name, path in charts.items() if name != "missing")


def test_report_is_self_contained(report: tuple[ReportData, Path]) -> None:
    _data, path = report
    html = path.read_text(encoding="utf-8")
    assert path.is_file()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html)
    assert "http://" not in html and "https://" not in html
    assert html.count('<img src="data:image/png;base64,') == 3
    assert "<link" not in html and "@import" not in html and "<script" not in html


def test_report_escapes_document_and_codebook_text(report: tuple[ReportData, Path]) -> None:
    html = report[1].read_text(encoding="utf-8")
    assert "alert(1)" in html
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&#34;quotes&#34; &amp; ampersands" in html
    assert "co-production v1 &#34;draft&#34; &amp; more" in html
    assert "&lt;friends&gt;" in html and "<friends>" not in html
    assert "care staff &lt;work&gt;" in html and "<work>" not in html
    assert "notes/nagoya &lt;visit&gt;.md" in html


def test_report_sections_in_order(report: tuple[ReportData, Path]) -> None:
    html = report[1].read_text(encoding="utf-8")
    headings = re.findall(r"<h2>\d+\. ([^<]+)</h2>", html)
    assert headings == HEADINGS
    for heading in HEADINGS:
        assert f">{heading}</a>" in html  # table of contents
    assert "What was counted" in html and "few accepted yet" in html
    assert "Only 4 suggestions were reviewed" in html
    assert "2025-01-02 03:04 UTC" in html


def test_report_content(report: tuple[ReportData, Path]) -> None:
    html = report[1].read_text(encoding="utf-8")
    # Three distinctive code cells and one distinctive topic cell, each outlined and starred.
    assert html.count('class="cell distinctive"') == 4
    assert html.count('<span class="star">*</span>') == 4
    assert "survives correction for multiple comparisons" in html and "Holm-corrected" in html
    assert "Pearson chi-square test of independence" in html
    assert "χ² = 31.42, df = 6, p &lt; 0.001" in html
    assert "expected counts below 5" in html
    assert "<strong>Nagoya:</strong> Collective co-production" in html
    assert '<strong>General:</strong> <span class="note">none</span>' in html
    assert html.count("<details>") == len(CODES)
    assert "score 0.91" in html and 'class="badge accepted"' in html
    assert "50%" in html  # Nagoya share for collective co-production
    assert "Mutual help</td><td>Staff autonomy" in html


def test_report_without_topics_or_charts(tmp_path: Path) -> None:
    data = make_data()
    data.topic_by_site = None
    data.themes = []
    html = render_report(data, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Themes by site" not in html
    assert "No themes in this run." in html
    assert "<img" not in html
    assert re.findall(r"<h2>(\d+)\. Provenance</h2>", html) == ["6"]


def test_report_is_deterministic(report: tuple[ReportData, Path], tmp_path: Path) -> None:
    """Same data, same bytes (charts' own stability is tested above)."""
    data, first = report
    again = make_data(charts=dict(data.charts))
    second = render_report(again, tmp_path / "again.html")
    assert second.read_bytes() == first.read_bytes()


def test_table_shading_matches_chart_colours() -> None:
    """The HTML tables hard-code the heatmaps' scale; keep the two in step."""
    from fieldnotes.compare.charts import _colormap
    from fieldnotes.compare.report import _RAMP

    colours = _colormap()
    sampled = [tuple(round(255 * x) for x in colours(i / (len(_RAMP) - 1))[:3]) for i in range(len(_RAMP))]
    assert sampled == list(_RAMP)


def test_japanese_labels_are_drawn_with_a_japanese_font(tmp_path: Path) -> None:
    import warnings

    import matplotlib

    before = list(matplotlib.rcParams["font.family"])
    table = pd.DataFrame([[0.5, 0.1], [0.2, 0.4]], index=["職員 足りず", "見守り 班会"], columns=["nagoya", "niihama"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns "Glyph ... missing from font(s)" for an empty box
        heatmap(table, tmp_path / "ja.png", "テーマ by site", "share")
    assert (tmp_path / "ja.png").stat().st_size > 0
    assert list(matplotlib.rcParams["font.family"]) == before  # no global change
