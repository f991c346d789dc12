"""The cutflow figure of one channel: total background and signals (and data) after each step,
with the cumulative efficiency in a lower panel; the legend sits outside the axes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.ticker import NullFormatter

from .cutflows import CutflowTable
from .plots import FORMATS, cms_label, cms_style, figure, save_figure
from .style import Style

__all__ = ["cutflow_figure", "plot_cutflow"]

BACKGROUND_COLOR = "#3b3b3b"


@cms_style
def cutflow_figure(
    table: CutflowTable,
    *,
    style: Style,
    signal_masses: Sequence[float],
    title: str = "",
    lumi: str | None = None,
):  # noqa: ANN201 - the matplotlib figure
    """The figure (see the module docstring) for ``table`` (quantity ``yield``)."""
    steps = table.steps
    x = np.arange(len(steps))
    fig, (ax, eax) = figure(2, figsize=(15, 10), sharex=True,
                            gridspec_kw={"height_ratios": (2, 1), "hspace": 0})  # fmt: skip
    fig.subplots_adjust(left=0.09, right=0.70, bottom=0.2, top=0.93)
    cms_label(ax, lumi, data=table.data is not None, text=style.config.cms_text)
    total = np.array([table.total_background().get(s, 0.0) for s in steps])
    series = [("Total background", total, BACKGROUND_COLOR, "-", "s", "background")]
    for m in signal_masses:
        if m in table.signals:
            st = style.signal(m)
            vals = np.array([table.signals[m].get(s, 0.0) for s in steps])
            label = style.signal_label(table.signal_names[m], m)
            series.append((label, vals, st.color, st.linestyle, "o", f"signal_{m:g}"))
    for label, vals, color, ls, marker, gid in series:
        shown = np.where(vals > 0, vals, np.nan)
        ax.plot(x, shown, color=color, linestyle=ls, marker=marker, lw=2.5, label=label, gid=gid)
        eff = shown / shown[0] if vals[0] > 0 else np.full(len(x), np.nan)
        eax.plot(x, eff, color=color, linestyle=ls, marker=marker, lw=2.5, gid=gid)
    if table.data is not None:
        d = np.array([table.data.get(s, np.nan) for s in steps], dtype=float)
        d[d <= 0] = np.nan
        ax.plot(x, d, "o", color=style.config.data_color, markersize=9, label="Data", gid="data")
    ax.set_yscale("log")
    ax.set_ylabel("Expected events")
    eax.set_yscale("log")
    eax.set_ylabel("Efficiency")
    eax.set_xticks(x, steps, rotation=35, ha="right", fontsize=18)
    eax.set_xlim(-0.5, len(steps) - 0.5)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=17, title=title or None,
              title_fontsize=17, frameon=False)  # fmt: skip
    effs = [v / v[0] for _, v, *_ in series if v[0] > 0 and (v > 0).any()]
    low = min((float(e[e > 0].min()) for e in effs), default=1e-3)
    eax.set_ylim(min(low / 3, 0.05), 4)  # the top tick label stays clear of the upper panel
    eax.yaxis.set_minor_formatter(NullFormatter())
    return fig


@cms_style
def plot_cutflow(
    table: CutflowTable, base: Path, formats: Sequence[str] = FORMATS, **kwargs
) -> list[Path]:  # noqa: ANN003
    """Save :func:`cutflow_figure` as ``base.<format>`` and ``base.json``."""
    return save_figure(cutflow_figure(table, **kwargs), base, formats)
