"""The cross-site comparison as one self-contained HTML file.

One file with inline CSS and charts embedded as data URIs can be mailed,
archived next to a paper or opened offline years later. Everything that comes
from documents or the codebook goes through Jinja2 autoescaping: field
material is data, never markup.
"""

from __future__ import annotations

import base64
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from fieldnotes.compare.charts import CODE_BARS, CODE_HEATMAP, DISTINCTIVE_RESIDUAL, TOPIC_HEATMAP, code_order

if TYPE_CHECKING:
    import pandas as pd

    from fieldnotes.compare.model import ContingencyResult, ReportData, Theme

TEMPLATES = Path(__file__).parent / "templates"
TEMPLATE = "report.html.j2"
THEME_EXAMPLES = 3
EXAMPLE_CHARS = 600
COOCCURRENCE_PAIRS = 15

# Cell shading: the heatmaps' colour scale (cividis reversed, faded at the low end,
# see charts._colormap) sampled at nine points, so tables and charts read alike
# without importing matplotlib here.
_RAMP = (
    (255, 249, 205),
    (243, 236, 198),
    (225, 219, 191),
    (201, 198, 182),
    (173, 172, 170),
    (141, 143, 151),
    (101, 111, 135),
    (45, 74, 124),
    (0, 34, 78),
)
_STATUS_CLASSES = {"accepted": "accepted", "suggested": "suggested", "rejected": "rejected"}


def _number(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return str(value) if value is not None else "–"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        return f"{value:,.0f}" if value.is_integer() else f"{value:,.2f}"
    return str(value)


def _percent(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "–"
    if 0 < value < 0.1:
        return f"{100 * value:.1f}%"
    return f"{100 * value:.0f}%"


def _p_value(value: float) -> str:
    if math.isnan(value):
        return "–"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _shade(value: float, top: float) -> str:
    """Inline style for a cell: darker for larger values, text colour kept readable."""
    if math.isnan(value) or top <= 0:
        return ""
    position = max(0.0, min(1.0, value / top)) * (len(_RAMP) - 1)
    low = min(int(position), len(_RAMP) - 2)
    fraction = position - low
    rgb = tuple(round(a + (b - a) * fraction) for a, b in zip(_RAMP[low], _RAMP[low + 1], strict=True))
    luminance = (0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]) / 255
    text = "#ffffff" if luminance < 0.5 else "#1f2933"
    return f"background-color:#{rgb[0]:02x}{rgb[1]:02x}{rgb[2]:02x};color:{text}"


def _data_uri(path: Path | None) -> str | None:
    if path is None or not Path(path).is_file():
        return None
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _site_label(data: ReportData, site: object) -> str:
    return data.site_labels.get(str(site), str(site))


def _clip(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _cell(row: pd.Series | None, value: str, top: float, count: str | None) -> dict[str, Any]:
    if row is None:
        return {"text": "–", "style": "", "distinctive": False, "title": "", "count": None}
    share = float(row.get(value, math.nan))
    residual = float(row.get("residual", math.nan))
    distinctive = bool(row["distinctive"]) if "distinctive" in row.index else residual >= DISTINCTIVE_RESIDUAL
    title = "" if math.isnan(residual) else f"adjusted standardised residual {residual:+.2f}"
    shown = None if count is None or count not in row.index else _number(_as_python(row[count]))
    return {
        "text": _percent(share),
        "style": _shade(share, top),
        "distinctive": distinctive,
        "title": title,
        "count": shown,
    }


def _as_python(value: object) -> object:
    """numpy scalars to int/float so they format like plain numbers."""
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def _test(result: ContingencyResult | None) -> dict[str, Any] | None:
    if result is None:
        return None
    return {
        "name": result.test,
        "chi2": f"{result.chi2:.2f}" if not math.isnan(result.chi2) else "–",
        "dof": result.dof,
        "p": _p_value(result.p_value),
        "low_expected": _percent(result.low_expected_share),
        "warning": result.warning,
    }


def _site_columns(data: ReportData) -> list[dict[str, str]]:
    return [
        {"id": site, "label": _site_label(data, site), "passages": _number(data.passages_by_site.get(site, 0))}
        for site in data.sites
    ]


def _code_table(data: ReportData) -> list[dict[str, Any]]:
    frame = data.code_by_site
    codes = code_order(data)
    if not codes:
        return []
    shares = [float(v) for v in frame["share_of_passages"] if not math.isnan(float(v))]
    top = max(shares, default=0.0)
    rows_by_key = {(str(r["code"]), str(r["site"])): r for _, r in frame.iterrows()}
    return [
        {
            "id": code,
            "name": data.code_names.get(code, code),
            "cells": [
                _cell(rows_by_key.get((code, site)), "share_of_passages", top, "passages_coded") for site in data.sites
            ],
        }
        for code in codes
    ]


def _topic_table(data: ReportData) -> list[dict[str, Any]]:
    frame = data.topic_by_site
    if frame is None or frame.empty:
        return []
    shares = [float(v) for v in frame["share_of_passages"] if not math.isnan(float(v))]
    top = max(shares, default=0.0)
    rows_by_key = {(int(r["topic_id"]), str(r["site"])): r for _, r in frame.iterrows()}
    labels = {int(r["topic_id"]): str(r["label"]) for _, r in frame.iterrows()}
    return [
        {
            "id": topic,
            "name": f"{topic}: {labels[topic]}",
            "cells": [
                _cell(rows_by_key.get((topic, site)), "share_of_passages", top, "passages") for site in data.sites
            ],
        }
        for topic in sorted(labels)
    ]


def _themes(data: ReportData) -> list[dict[str, Any]]:
    themes: list[Theme] = sorted(data.themes, key=lambda theme: theme.topic_id)
    top = max((share for theme in themes for share in theme.share_by_site.values()), default=0.0)
    out = []
    for theme in themes:
        shares = []
        for site in data.sites:
            share = float(theme.share_by_site.get(site, 0.0))
            width = 0.0 if top <= 0 else 100 * share / top
            shares.append({"label": _site_label(data, site), "text": _percent(share), "width": f"{width:.1f}%"})
        examples = [
            {
                "text": _clip(example.get("text", ""), EXAMPLE_CHARS),
                "document": example.get("document", ""),
                "site": _site_label(data, example.get("site", "")),
            }
            for example in theme.examples[:THEME_EXAMPLES]
        ]
        out.append(
            {
                "id": theme.topic_id,
                "label": theme.label,
                "size": _number(theme.size),
                "words": theme.words[:10],
                "shares": shares,
                "examples": examples,
                "site_words": [
                    {"label": _site_label(data, site), "words": theme.words_by_site[site]}
                    for site in data.sites
                    if theme.words_by_site.get(site)
                ],
            }
        )
    return out


def _distinctive(data: ReportData) -> list[dict[str, Any]]:
    sites = list(data.sites) + sorted(set(data.distinctive) - set(data.sites))
    return [
        {
            "site": _site_label(data, site),
            "codes": [data.code_names.get(code, code) for code in data.distinctive.get(site, [])],
        }
        for site in sites
    ]


def _cooccurrence(data: ReportData) -> list[dict[str, str]]:
    frame = data.cooccurrence
    if frame is None or frame.empty:
        return []
    rows = sorted(
        ((int(r["excerpts"]), float(r["jaccard"]), str(r["code_a"]), str(r["code_b"])) for _, r in frame.iterrows()),
        key=lambda row: (-row[0], -row[1], row[2], row[3]),
    )
    return [
        {
            "a": data.code_names.get(a, a),
            "b": data.code_names.get(b, b),
            "excerpts": _number(n),
            "jaccard": f"{jaccard:.2f}",
        }
        for n, jaccard, a, b in rows[:COOCCURRENCE_PAIRS]
    ]


def _excerpts(data: ReportData) -> list[dict[str, Any]]:
    """Group excerpts by code (codebook order), then site (display order), keeping the given order within."""
    site_rank = {site: index for index, site in enumerate(data.sites)}
    code_rank = {code: index for index, code in enumerate(data.code_names)}
    grouped: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for item in data.top_excerpts:
        grouped.setdefault(str(item.get("code", "")), {}).setdefault(str(item.get("site", "")), []).append(item)
    out = []
    for code in sorted(grouped, key=lambda c: (code_rank.get(c, len(code_rank)), c)):
        sites = []
        for site in sorted(grouped[code], key=lambda s: (site_rank.get(s, len(site_rank)), s)):
            items = grouped[code][site]  # in the order the comparison chose (accepted first, then score)
            sites.append(
                {
                    "label": _site_label(data, site),
                    "excerpts": [
                        {
                            "text": str(e.get("text", "")),
                            "document": str(e.get("document", "")),
                            "site": _site_label(data, site),
                            "score": _format_score(e.get("score")),
                            "status": str(e.get("status", "")),
                            "status_class": _STATUS_CLASSES.get(str(e.get("status", "")), "other"),
                        }
                        for e in items
                    ],
                }
            )
        out.append(
            {
                "id": code,
                "name": data.code_names.get(code, code),
                "count": sum(len(s["excerpts"]) for s in sites),
                "sites": sites,
            }
        )
    return out


def _score(value: object) -> float:
    try:
        score = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return -math.inf
    return -math.inf if math.isnan(score) else score


def _format_score(value: object) -> str:
    score = _score(value)
    return "–" if score == -math.inf else f"{score:.2f}"


def _corpus(data: ReportData) -> dict[str, Any]:
    corpus = data.corpus
    by_format = cast(dict[object, object], corpus.get("by_format") or {})
    formats = sorted(((str(k), cast(int, _as_python(v))) for k, v in by_format.items()), key=lambda kv: (-kv[1], kv[0]))
    total_passages = sum(data.passages_by_site.values())
    total_words = sum(data.words_by_site.values())
    sites = list(data.sites) + sorted((set(data.passages_by_site) | set(data.words_by_site)) - set(data.sites))
    rows = []
    for site in sites:
        passages = data.passages_by_site.get(site, 0)
        words = data.words_by_site.get(site, 0)
        rows.append(
            {
                "label": _site_label(data, site),
                "passages": _number(passages),
                "passage_share": _percent(passages / total_passages) if total_passages else "–",
                "words": _number(words),
                "word_share": _percent(words / total_words) if total_words else "–",
            }
        )
    return {
        "documents": _number(_as_python(corpus.get("documents", "–"))),
        "passages": _number(_as_python(corpus.get("passages", "–"))),
        "words": _number(_as_python(corpus.get("words", "–"))),
        "formats": [{"name": name, "count": _number(count)} for name, count in formats],
        "sites": rows,
        "total": {"passages": _number(total_passages), "words": _number(total_words)},
    }


def _context(data: ReportData) -> dict[str, Any]:
    known = {CODE_HEATMAP, CODE_BARS, TOPIC_HEATMAP}
    charts = {name: _data_uri(path) for name, path in data.charts.items()}
    extra = [
        {"name": name, "uri": charts[name]} for name in sorted(charts) if name not in known and charts[name] is not None
    ]
    topic_rows = _topic_table(data)
    sections = [
        ("corpus", "Corpus overview"),
        ("themes", "Themes"),
        ("codes", "Codes by site"),
        *([("topics", "Themes by site")] if topic_rows else []),
        ("cooccurrence", "Co-occurring codes"),
        ("excerpts", "Top excerpts by code and site"),
        ("provenance", "Provenance"),
    ]
    return {
        "title": data.title,
        "generated_at": data.generated_at,
        "status_used": data.status_used,
        "warnings": list(data.warnings),
        "sections": [{"id": key, "title": title, "number": n} for n, (key, title) in enumerate(sections, start=1)],
        "number": {key: n for n, (key, _title) in enumerate(sections, start=1)},
        "corpus": _corpus(data),
        "themes": _themes(data),
        "site_columns": _site_columns(data),
        "code_rows": _code_table(data),
        "code_test": _test(data.code_test),
        "distinctive": _distinctive(data),
        "topic_rows": topic_rows,
        "topic_test": _test(data.topic_test),
        "cooccurrence": _cooccurrence(data),
        "excerpts": _excerpts(data),
        "provenance": [(str(key), str(value)) for key, value in data.provenance.items()],
        "charts": {name: charts.get(name) for name in known},
        "extra_charts": extra,
        "threshold": f"{DISTINCTIVE_RESIDUAL:.2f}",
    }


def render_report(data: ReportData, path: Path) -> Path:
    """Write the report as one HTML file that needs nothing else to open, print or archive."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    environment = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=True,  # always: the template's .j2 suffix would defeat select_autoescape
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    html = environment.get_template(TEMPLATE).render(**_context(data))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path
