"""Static PNG charts for the cross-site report.

Charts are drawn on a bare Agg canvas (no pyplot, no global state), with sizes
derived only from the table's shape and PNG metadata stripped, so the same
table always gives the same bytes and reports can be diffed between runs.
"""

from __future__ import annotations

import functools
import logging
import math
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import pandas as pd

    from fieldnotes.compare.model import ReportData

DPI = 110
DISTINCTIVE_RESIDUAL = 1.96
# Names under which `charts_for_report` files its charts in ReportData.charts.
CODE_HEATMAP = "code_heatmap"
CODE_BARS = "code_bars"
TOPIC_HEATMAP = "topic_heatmap"

_CMAP = "cividis_r"  # colour-blind safe, light = little, dark = much
_MARK = "#D55E00"  # Okabe-Ito vermillion: visible on both ends of cividis
_BAR = "#2F4B7C"
_PNG_METADATA = {"Software": None}
_FONT = 9


# Latin text in matplotlib's own DejaVu Sans; kana and kanji (theme labels, Japanese code names)
# fall back glyph by glyph to IPAexGothic, shipped by the matplotlib-fontja package, instead of
# being drawn as empty boxes.
_FAMILIES = ["DejaVu Sans", "IPAexGothic"]
_Chart = TypeVar("_Chart", bound=Callable[..., Any])


@functools.cache
def _register_japanese_font() -> bool:
    """Add the Japanese font to matplotlib's font list once; False when it is not installed."""
    import importlib.util

    from matplotlib import font_manager

    # Found without importing the package: its import switches matplotlib's default font globally.
    spec = importlib.util.find_spec("matplotlib_fontja")
    if spec is None or not spec.submodule_search_locations:
        return False
    font = Path(next(iter(spec.submodule_search_locations))) / "fonts" / "ipaexg.ttf"
    if not font.is_file():
        return False
    font_manager.fontManager.addfont(str(font))
    return True


def _with_fonts(chart: _Chart) -> _Chart:
    """Draw `chart` with the font families above (a scoped rc context: no global change)."""

    @functools.wraps(chart)
    def drawn(*args: Any, **kwargs: Any) -> Any:
        import matplotlib

        families = _FAMILIES if _register_japanese_font() else _FAMILIES[:1]
        # IPAexGothic has no bold face: matplotlib would log "Failed to find font weight bold"
        # for every bold title; it draws the regular face, which is what we want.
        log = logging.getLogger("matplotlib.font_manager")
        level = log.level
        log.setLevel(logging.ERROR)
        try:
            with matplotlib.rc_context({"font.family": families}):
                return chart(*args, **kwargs)
        finally:
            log.setLevel(level)

    return drawn  # type: ignore[return-value]


def _wrap(label: object, width: int) -> str:
    return "\n".join(textwrap.wrap(str(label), width=width, break_long_words=True)) or str(label)


def _is_share(values: list[float]) -> bool:
    """Shares (0..1) read better as percentages than as decimals."""
    finite = [v for v in values if not math.isnan(v)]
    return bool(finite) and all(0.0 <= v <= 1.0 for v in finite)


def _formatter(values: list[float], fmt: str | None) -> Callable[[float], str]:
    if fmt is not None:
        return lambda v: fmt.format(v)
    if _is_share(values):
        return lambda v: f"{100 * v:.1f}%" if v < 0.1 and v > 0 else f"{100 * v:.0f}%"
    return lambda v: f"{v:.1f}" if abs(v) < 100 else f"{v:,.0f}"


def _colormap():  # -> matplotlib.colors.Colormap
    """cividis, reversed and faded towards white at the low end: empty cells stay quiet.

    Luminance still falls steadily with the value, so the scale survives colour
    blindness and greyscale printing.
    """
    import numpy as np
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap

    steps = np.linspace(0.0, 1.0, 256)
    colours = colormaps[_CMAP](steps)
    fade = (0.75 * (1.0 - steps))[:, None]
    colours[:, :3] = colours[:, :3] * (1.0 - fade) + fade
    return ListedColormap(colours, name="fieldnotes_cividis").with_extremes(bad="#EEEEEE")


def _new_figure(width: float, height: float):  # -> matplotlib.figure.Figure
    """A figure bound to an Agg canvas, independent of any pyplot backend."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI, format="png", metadata=_PNG_METADATA, facecolor="white")
    return path


@_with_fonts
def heatmap(
    table: pd.DataFrame,
    path: Path,
    title: str,
    value_label: str,
    distinctive: pd.DataFrame | None = None,
    *,
    fmt: str | None = None,
) -> Path:
    """Rows x columns heatmap with values in the cells, so the picture can be read without the table.

    `distinctive` (same labels, booleans: the table's `distinctive` column, whose tests passed)
    outlines and stars those cells: the ones a reader should look at first.
    """
    import numpy as np

    values = table.astype(float)
    n_rows, n_cols = values.shape
    row_labels = [_wrap(label, 44) for label in values.index]
    col_labels = [_wrap(label, 14) for label in values.columns]
    flat = [float(v) for v in values.to_numpy().ravel()]
    show = _formatter(flat, fmt)
    finite = [v for v in flat if not math.isnan(v)]
    vmax = max(finite) if finite else 1.0
    vmin = min(0.0, min(finite)) if finite else 0.0
    if vmax <= vmin:
        vmax = vmin + 1.0

    marks = None
    if distinctive is not None:
        marks = distinctive.reindex(index=values.index, columns=values.columns).fillna(False).astype(bool)

    figure = _new_figure(*_heatmap_size(row_labels, n_rows, n_cols, marks is not None))
    axes = figure.add_subplot()

    cmap = _colormap()
    masked = np.ma.masked_invalid(values.to_numpy())
    image = axes.imshow(masked, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto", interpolation="nearest")
    _cell_grid(axes, row_labels, col_labels)
    _cell_values(axes, values, marks, cmap, (vmin, vmax), show)

    colorbar = figure.colorbar(image, ax=axes, fraction=0.05, pad=0.02, aspect=max(8, 3 * n_rows))
    colorbar.set_label(value_label, fontsize=_FONT)
    colorbar.ax.tick_params(labelsize=_FONT - 1)
    if _is_share(finite) and fmt is None:
        colorbar.ax.yaxis.set_major_formatter(lambda v, _pos: f"{100 * v:.0f}%")
    colorbar.outline.set_visible(False)
    figure.suptitle(title, fontsize=_FONT + 2, fontweight="bold")
    if marks is not None:
        # A figure-level label, so constrained layout keeps room for it below the axes.
        figure.supxlabel(
            "* outlined: distinctive (more frequent at this site; tests corrected for multiple comparisons, "
            "see the report)",
            fontsize=_FONT - 1,
            color="#444444",
            x=0.01,
            ha="left",
        )
    return _save(figure, path)


def _heatmap_size(row_labels: list[str], n_rows: int, n_cols: int, with_note: bool) -> tuple[float, float]:
    """Width and height in inches: room for the longest row label, and rows as tall as their labels."""
    max_lines = max((label.count("\n") + 1 for label in row_labels), default=1)
    row_height = 0.24 + 0.13 * max_lines
    label_width = max((len(line) for label in row_labels for line in label.split("\n")), default=8)
    width = 1.2 + 0.068 * label_width + 1.0 * max(n_cols, 1) + 1.0
    height = 1.3 + row_height * max(n_rows, 1) + (0.35 if with_note else 0.0)
    return width, height


def _cell_grid(axes, row_labels: list[str], col_labels: list[str]) -> None:
    """Labels on the top and left, white lines between the cells, no ticks or frame."""
    n_rows, n_cols = len(row_labels), len(col_labels)
    axes.set_xticks(range(n_cols), labels=col_labels, fontsize=_FONT)
    axes.set_yticks(range(n_rows), labels=row_labels, fontsize=_FONT)
    axes.xaxis.tick_top()
    axes.tick_params(length=0)
    axes.set_xticks([x - 0.5 for x in range(1, n_cols)], minor=True)
    axes.set_yticks([y - 0.5 for y in range(1, n_rows)], minor=True)
    axes.grid(which="minor", color="white", linewidth=1.5)
    axes.tick_params(which="minor", length=0)
    for spine in axes.spines.values():
        spine.set_visible(False)


def _cell_values(
    axes,
    values: pd.DataFrame,
    marks: pd.DataFrame | None,
    cmap,
    value_range: tuple[float, float],
    show: Callable[[float], str],
) -> None:
    """Each cell's value in a colour readable on its shade; distinctive cells starred and outlined."""
    from matplotlib.patches import Rectangle

    vmin, vmax = value_range
    n_rows, n_cols = values.shape
    for i in range(n_rows):
        for j in range(n_cols):
            value = float(values.iat[i, j])
            marked = marks is not None and bool(marks.iat[i, j])
            if math.isnan(value):
                text, colour = "–", "#555555"
            else:
                red, green, blue, _ = cmap((value - vmin) / (vmax - vmin))
                luminance = 0.2126 * red + 0.7152 * green + 0.0722 * blue
                colour = "white" if luminance < 0.5 else "#1A1A1A"
                text = show(value)
            if marked:
                text += "*"
                axes.add_patch(Rectangle((j - 0.46, i - 0.44), 0.92, 0.88, fill=False, edgecolor=_MARK, linewidth=2.4))
            axes.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=_FONT,
                color=colour,
                fontweight="bold" if marked else "normal",
            )


@_with_fonts
def bars_by_site(table: pd.DataFrame, path: Path, title: str) -> Path:
    """One horizontal bar panel per site, sorted within the panel, to show each site's own profile.

    All panels share the x scale so bar lengths compare across sites.
    """
    values = table.astype(float).fillna(0.0)
    sites = list(values.columns)
    n_sites = max(len(sites), 1)
    n_rows = max(len(values.index), 1)
    ncols = n_sites if n_sites <= 2 else (2 if n_sites <= 4 else 3)
    nrows = math.ceil(n_sites / ncols)
    flat = [float(v) for v in values.to_numpy().ravel()]
    show = _formatter(flat, None)
    share = _is_share(flat)
    top = max(flat, default=0.0)
    top = top if top > 0 else 1.0

    labels = {label: _wrap(label, 40) for label in values.index}
    max_lines = max((text.count("\n") + 1 for text in labels.values()), default=1)
    panel_height = 0.6 + (0.14 + 0.13 * max_lines) * n_rows
    figure = _new_figure(4.8 * ncols, 0.6 + panel_height * nrows)
    grid = figure.subplots(nrows, ncols, squeeze=False)
    for index in range(nrows * ncols):
        axes = grid[index // ncols][index % ncols]
        if index >= len(sites):
            axes.set_visible(False)
            continue
        site = sites[index]
        column = values[site]
        # Largest first; ties by label so the order never depends on the input order.
        ranked = sorted(((-float(column[label]), str(label), index) for index, label in enumerate(column.index)))
        order = [column.index[index] for _, _, index in ranked]
        order.reverse()  # barh draws bottom-up
        heights = [float(column[label]) for label in order]
        positions = list(range(len(order)))
        axes.barh(positions, heights, color=_BAR, height=0.7)
        axes.set_yticks(positions, labels=[labels[label] for label in order], fontsize=_FONT - 1)
        axes.set_xlim(0, top * 1.22)
        axes.set_ylim(-0.6, len(order) - 0.4)
        for position, height in zip(positions, heights, strict=True):
            axes.text(height + top * 0.015, position, show(height), va="center", fontsize=_FONT - 1, color="#333333")
        axes.set_title(str(site), fontsize=_FONT + 1, fontweight="bold", loc="left")
        axes.tick_params(axis="x", labelsize=_FONT - 1)
        axes.tick_params(axis="y", length=0)
        if share:
            axes.xaxis.set_major_formatter(lambda v, _pos: f"{100 * v:.0f}%")
        axes.grid(axis="x", color="#DDDDDD", linewidth=0.6)
        axes.set_axisbelow(True)
        for name in ("top", "right", "left"):
            axes.spines[name].set_visible(False)
    figure.suptitle(title, fontsize=_FONT + 2, fontweight="bold")
    return _save(figure, path)


def wide_by_site(tidy: pd.DataFrame, row: str, value: str, rows: Sequence[object], sites: list[str]) -> pd.DataFrame:
    """Pivot a tidy (row, site, value) frame into rows x sites in the given orders."""
    import pandas as pd

    if tidy is None or tidy.empty or value not in tidy.columns:
        return pd.DataFrame(index=rows, columns=sites, dtype=float)
    table = tidy.pivot_table(index=row, columns="site", values=value, aggfunc="first")
    return table.reindex(index=rows, columns=sites).astype(float)


def code_order(data: ReportData) -> list[str]:
    """Codebook order for codes that appear, then any other codes alphabetically."""
    present = set(data.code_by_site["code"]) if not data.code_by_site.empty else set()
    ordered = [code for code in data.code_names if code in present]
    return ordered + sorted(present - set(ordered))


def _distinctive_cells(
    tidy: pd.DataFrame, row: str, rows: Sequence[object], sites: list[str], like: pd.DataFrame
) -> pd.DataFrame | None:
    """The table's `distinctive` column, wide and labelled as `like` (the shares drawn), or None
    when the table has no such column."""
    if "distinctive" not in tidy.columns:
        return None
    wide = wide_by_site(tidy.assign(distinctive=tidy["distinctive"].astype(float)), row, "distinctive", rows, sites)
    wide.index, wide.columns = like.index, like.columns
    return wide.fillna(0.0).astype(bool)


def charts_for_report(data: ReportData, directory: Path) -> dict[str, Path]:
    """Draw the standard charts for a report; the caller puts them in `data.charts`."""
    directory.mkdir(parents=True, exist_ok=True)
    labels = [data.site_labels.get(site, site) for site in data.sites]
    charts: dict[str, Path] = {}
    codes = code_order(data)
    if codes:
        shares = wide_by_site(data.code_by_site, "code", "share_of_passages", codes, data.sites)
        shares.index = [data.code_names.get(code, code) for code in codes]
        shares.columns = labels
        marks = _distinctive_cells(data.code_by_site, "code", codes, data.sites, shares)
        charts[CODE_HEATMAP] = heatmap(
            shares, directory / f"{CODE_HEATMAP}.png", "Codes by site", "share of the site's passages", marks
        )
        charts[CODE_BARS] = bars_by_site(
            shares, directory / f"{CODE_BARS}.png", "Share of each site's passages carrying a code"
        )
    topics = data.topic_by_site
    if topics is not None and not topics.empty:
        ids = sorted(set(topics["topic_id"]))
        shares = wide_by_site(topics, "topic_id", "share_of_passages", ids, data.sites)
        names = topics.drop_duplicates("topic_id").set_index("topic_id")["label"]
        shares.index = [f"{topic}: {names.get(topic, '')}" for topic in ids]
        shares.columns = labels
        marks = _distinctive_cells(topics, "topic_id", ids, data.sites, shares)
        charts[TOPIC_HEATMAP] = heatmap(
            shares, directory / f"{TOPIC_HEATMAP}.png", "Themes by site", "share of the site's passages", marks
        )
    return charts
