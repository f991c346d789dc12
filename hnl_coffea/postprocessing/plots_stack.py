"""Stacked backgrounds, signal lines and data with an attached data/simulation ratio panel.

Backgrounds are stacked in the run's fixed order with their configured colours; signals are
lines drawn ×k (k in the legend); data are points with Garwood (Poisson 68 %) intervals,
none for empty bins. The x range is the filled range; the log y range leaves just the room
the legend needs. In the ratio panel, points outside the range are arrows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import hist
import numpy as np
from hist.intervals import poisson_interval

from .categories import usable_templates
from .plots import FORMATS, cms_label, cms_style, figure, save_figure
from .style import Style, signal_scale

__all__ = ["SignalLine", "filled_range", "plot_stack", "stack_figure"]


@dataclass(frozen=True)
class SignalLine:
    """One signal drawn on a stack: its process name, mass and (1D) histogram."""

    name: str
    mass: float
    hist: hist.Hist


def filled_range(*values: np.ndarray) -> tuple[int, int]:
    """First and last bin index with content in any of ``values`` (all bins if none)."""
    filled = np.zeros(len(values[0]), dtype=bool)
    for v in values:
        filled |= np.asarray(v) > 0
    idx = np.flatnonzero(filled)
    return (0, len(filled) - 1) if idx.size == 0 else (int(idx[0]), int(idx[-1]))


def _headroom_top(ax, legend, edges, curves, bottom: float, log: bool) -> float:  # noqa: ANN001
    """The smallest y maximum keeping every curve below the legend (and the peak in view)."""
    renderer = ax.figure.canvas.get_renderer()
    box = legend.get_window_extent(renderer).transformed(ax.transAxes.inverted())
    x0, x1 = ax.get_xlim()
    lx0, lx1 = x0 + box.x0 * (x1 - x0), x0 + box.x1 * (x1 - x0)
    under = (edges[1:] > lx0) & (edges[:-1] < lx1)
    peak = max(float(np.max(c)) for c in curves)
    near = max((float(np.max(c[under])) for c in curves if under.any()), default=0.0)
    frac = max(box.y0 - 0.03, 0.3)  # axes fraction free below the legend
    if log:
        need = bottom * (near / bottom) ** (1 / frac) if near > bottom else 0.0
        return max(peak * 2.0, need)
    return max(peak * 1.1, near / frac)


def _ratio_panel(rax, edges, data, total, up, dn, lo_hi, color: str) -> None:  # noqa: ANN001
    lo, hi = lo_hi
    ok = total > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        rel_up = np.where(ok, 1 + up / total, np.nan)
        rel_dn = np.where(ok, 1 - dn / total, np.nan)
    rax.stairs(rel_up, edges, baseline=rel_dn, fill=True, color="grey", alpha=0.4, lw=0)
    rax.axhline(1, color="black", linewidth=1)
    shown = ok & (data > 0)  # no point for empty data bins
    centres = 0.5 * (edges[1:] + edges[:-1])
    ilo, ihi = poisson_interval(data)
    r = np.where(shown, data / np.where(ok, total, 1), np.nan)
    err = np.array([r - ilo / np.where(ok, total, 1), ihi / np.where(ok, total, 1) - r])
    inside = shown & (r >= lo) & (r <= hi)
    rax.errorbar(centres[inside], r[inside], yerr=err[:, inside], fmt="o", color=color,
                 markersize=6, gid="data_ratio")  # fmt: skip
    span = hi - lo
    for x, y in zip(centres, r):
        if not np.isfinite(y) or lo <= y <= hi:
            continue
        tip, tail = (hi, hi - 0.3 * span) if y > hi else (lo, lo + 0.3 * span)
        rax.annotate("", xy=(x, tip), xytext=(x, tail),
                     arrowprops={"arrowstyle": "-|>", "color": color, "lw": 1.5})  # fmt: skip
    rax.set_ylim(lo, hi)
    rax.set_yticks(np.linspace(lo, hi, 5)[1:-1])  # no tick label at the panels' shared edge
    rax.set_ylabel("Data / Sim.")


@cms_style
def plot_stack(
    backgrounds: Mapping[str, hist.Hist], base: Path, *, formats: Sequence[str] = FORMATS, **kw
) -> list[Path]:  # noqa: ANN003 - the options of stack_figure
    """Save :func:`stack_figure` as ``base.<format>`` and ``base.json``."""
    return save_figure(stack_figure(backgrounds, **kw), base, formats)


@cms_style
def stack_figure(
    backgrounds: Mapping[str, hist.Hist],
    *,
    style: Style,
    signals: Sequence[SignalLine] = (),
    data: hist.Hist | None = None,
    syst: tuple[np.ndarray, np.ndarray] | None = None,
    title: str = "",
    xlabel: str | None = None,
    lumi: str | None = None,
    logy: bool = True,
):  # noqa: ANN201 - the matplotlib figure
    """Stacked 1D ``backgrounds`` (process → nominal histogram), ``signals``, stat(+syst)
    band and, with ``data``, the data points and the ratio panel."""
    bkgs, _ = usable_templates(backgrounds)
    first = next(iter(bkgs.values()), None) or (signals[0].hist if signals else None)
    if first is None:
        raise ValueError(f"nothing to draw ({title or 'no title'})")
    edges = first.axes[0].edges
    nb = len(edges) - 1
    if data is not None:
        fig, (ax, rax) = figure(2, figsize=(10, 11), sharex=True,
                                gridspec_kw={"height_ratios": (3, 1), "hspace": 0})  # fmt: skip
    else:
        fig, ax = figure(figsize=(10, 9))
        rax = None
    # layout and label first: mplhep draws the figure to place the label, cheap while empty
    fig.subplots_adjust(left=0.16, right=0.95, top=0.92, bottom=0.1)
    cms_label(ax, lumi, data=data is not None, text=style.config.cms_text)
    order = style.stack_order(bkgs)
    total = np.zeros(nb)
    layers = []
    for p in order:
        v = bkgs[p].values()
        layers.append(v)
        ax.stairs(total + v, edges, baseline=total, fill=True, color=style.color(p),
                  label=style.label(p), gid=p)  # fmt: skip
        total = total + v
    stat = np.sqrt(sum((bkgs[p].variances() for p in order), np.zeros(nb)))
    up, dn = (stat, stat) if syst is None else (np.hypot(stat, syst[0]), np.hypot(stat, syst[1]))
    if order:
        band = "Stat. + syst. unc." if syst is not None else "Stat. unc."
        ax.stairs(total + up, edges, baseline=np.clip(total - dn, 0, None), fill=True,
                  facecolor="none", edgecolor="#555555", hatch="////", linewidth=0,
                  label=band, gid="uncertainty")  # fmt: skip
    curves = [total + up]
    for sig in signals:
        v = sig.hist.values()
        k = signal_scale(style.config.signal_scale, float(v.max()), float(total.max()))
        s = style.signal(sig.mass)
        ax.stairs(v * k, edges, color=s.color, linestyle=s.linestyle, linewidth=2.5,
                  label=style.signal_label(sig.name, sig.mass, k), gid=f"signal_{sig.mass:g}")  # fmt: skip
        curves.append(v * k)
    if data is not None:
        d = data.values()
        ilo, ihi = poisson_interval(d)
        shown = d > 0
        centres = 0.5 * (edges[1:] + edges[:-1])
        ax.errorbar(centres[shown], d[shown], yerr=[d[shown] - ilo[shown], ihi[shown] - d[shown]],
                    fmt="o", color=style.config.data_color, markersize=6, label="Data",
                    gid="data")  # fmt: skip
        curves.append(np.where(shown, ihi, 0))
        _ratio_panel(
            rax, edges, d, total, up, dn, style.config.ratio_range, style.config.data_color
        )
    i0, i1 = filled_range(*curves)
    ax.set_xlim(edges[i0], edges[i1 + 1])
    (rax or ax).set_xlabel(xlabel or first.axes[0].label)
    ax.set_ylabel("Events / bin")
    legend = ax.legend(loc="upper right", ncol=2, fontsize=15, title=title or None,
                       title_fontsize=15)  # fmt: skip
    positive = np.concatenate([c[c > 0] for c in [*curves, *layers]])
    if positive.size:
        if logy:
            ax.set_yscale("log")
            peak = float(max(np.max(c) for c in curves))
            bottom = min(max(0.5 * float(positive.min()), 1e-5 * peak), 1e-2 * peak)
            ax.set_ylim(bottom, _headroom_top(ax, legend, edges, curves, bottom, True))
        else:
            ax.set_ylim(0, _headroom_top(ax, legend, edges, curves, 0.0, False))
    return fig
