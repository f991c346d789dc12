"""CMS-style figures: common helpers, significance and limit plots (PNG + PDF + metadata).

Every figure is saved by :func:`save_figure` as ``<base>.png``, ``<base>.pdf`` and a
``<base>.json`` sidecar written from the drawn matplotlib artists (:func:`figure_metadata`):
the colour and label of every artist tagged with a process (``gid``), the axis limits,
the CMS label and the legend and axes bounding boxes — what the tests check. Stacks are in
:mod:`.plots_stack`, cutflows in :mod:`.plots_cutflow`. The Agg backend is used.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.colors as mcolors  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import mplhep as hep  # noqa: E402
import numpy as np  # noqa: E402

__all__ = [
    "DISCRIMINANT_STYLE",
    "cms_label",
    "cms_style",
    "figure",
    "figure_metadata",
    "plot_limits",
    "plot_significance",
    "save_figure",
    "systematic_band",
]

FORMATS = ("png", "pdf")

#: Line colour and legend label of each discriminant in the comparison plots.
DISCRIMINANT_STYLE: dict[str, tuple[str, str]] = {
    "mt_total": ("#5790fc", r"$M_T^{tot}$"),
    "score_parametric": ("#7a21dd", "Parametric DNN"),
    "score_transfer": ("#f89c20", "Transfer model"),
}


def cms_style(func: Callable[..., Any]) -> Callable[..., Any]:
    """Draw everything ``func`` draws in mplhep's CMS style."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with plt.style.context(hep.style.CMS):
            return func(*args, **kwargs)

    return wrapper


def figure(nrows: int = 1, **kwargs: Any):  # noqa: ANN201 - (fig, axes) as plt.subplots
    """``plt.subplots``; call inside a :func:`cms_style` function."""
    return plt.subplots(nrows, **kwargs)


def _color(artist: Any) -> str | None:
    for getter in ("get_facecolor", "get_color", "get_edgecolor"):
        fn = getattr(artist, getter, None)
        if fn is None:
            continue
        c = np.asarray(fn(), dtype=float) if not isinstance(fn(), str) else fn()
        if isinstance(c, np.ndarray) and c.ndim == 2:
            c = c[0] if len(c) else None
        if c is None or (isinstance(c, np.ndarray) and c.size and c[-1] == 0):
            continue  # transparent face: look at the line colour
        return mcolors.to_hex(c)
    return None


def _bbox(artist: Any, renderer: Any) -> list[float]:
    b = artist.get_window_extent(renderer)
    return [float(b.x0), float(b.y0), float(b.x1), float(b.y1)]


def figure_metadata(fig: plt.Figure) -> dict[str, Any]:
    """What was drawn, read back from the artists (see the module docstring)."""
    renderer = fig.canvas.get_renderer()
    axes = []
    for ax in fig.axes:
        tagged = []
        for artist in ax.get_children():
            gid = artist.get_gid()
            if gid:
                tagged.append(
                    {"process": gid, "color": _color(artist), "label": artist.get_label()}
                )
        legend = ax.get_legend()
        axes.append(
            {
                "bbox": _bbox(ax, renderer),
                "xlim": [float(x) for x in ax.get_xlim()],
                "ylim": [float(y) for y in ax.get_ylim()],
                "yscale": ax.get_yscale(),
                "artists": tagged,
                "legend": None
                if legend is None
                else {
                    "bbox": _bbox(legend, renderer),
                    "labels": [t.get_text() for t in legend.get_texts()],
                },
                "texts": [t.get_text() for t in ax.texts if t.get_text()],
                "xticklabels_bbox": [
                    _bbox(t, renderer) for t in ax.get_xticklabels() if t.get_text()
                ],
            }
        )
    return {"size_px": [float(x) for x in fig.get_size_inches() * fig.dpi], "axes": axes}


def save_figure(fig: plt.Figure, base: Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Save ``fig`` as ``base.<fmt>`` for every format plus the ``base.json`` metadata."""
    base.parent.mkdir(parents=True, exist_ok=True)
    paths = [base.with_suffix(f".{fmt}") for fmt in formats]
    for p in paths:
        fig.savefig(p, dpi=100 if p.suffix == ".png" else None)
    meta = base.with_suffix(".json")
    meta.write_text(json.dumps(figure_metadata(fig), indent=1))
    plt.close(fig)
    return [*paths, meta]


def cms_label(ax: plt.Axes, lumi: str | None, *, data: bool, text: str = "Preliminary") -> None:
    """ "CMS <text>" above the axes ("Simulation" added without data) and the luminosity and
    √s of the era(s) shown on the right."""
    # mplhep draws the figure to measure its texts: with the axes hidden meanwhile that draw
    # costs nothing (the texts sit in axes coordinates, independent of ticks and content)
    hidden = [a for a in ax.figure.axes if a.axison]
    for a in hidden:
        a.set_axis_off()
    try:
        _, exp_text, lumi_text, _ = hep.cms.label(text, data=data, rlabel=lumi or "", ax=ax, loc=0)
    finally:
        for a in hidden:
            a.set_axis_on()
    # a long luminosity label (several √s) shrinks until it clears "CMS Preliminary"
    renderer = ax.figure.canvas.get_renderer()
    while lumi_text is not None and exp_text is not None and lumi_text.get_fontsize() > 9:
        left = lumi_text.get_window_extent(renderer).x0
        if left > exp_text.get_window_extent(renderer).x1 + 0.01 * ax.figure.bbox.width:
            break
        lumi_text.set_fontsize(lumi_text.get_fontsize() * 0.92)


def systematic_band(variations: Mapping[str, tuple[np.ndarray, np.ndarray]], nominal: np.ndarray):
    """Per-bin (up, down) uncertainty: shifts of each ``name: (up, down)`` in quadrature."""
    up2 = np.zeros_like(nominal, dtype=float)
    dn2 = np.zeros_like(nominal, dtype=float)
    for u, d in variations.values():
        du, dd = np.asarray(u) - nominal, np.asarray(d) - nominal
        up2 += np.maximum(np.maximum(du, dd), 0) ** 2
        dn2 += np.minimum(np.minimum(du, dd), 0) ** 2
    return np.sqrt(up2), np.sqrt(dn2)


@cms_style
def plot_significance(
    rows: Sequence[Mapping], base: Path, *, metric: str = "asimov", lumi: str | None = None,
    title: str = "", formats: Sequence[str] = FORMATS,
) -> list[Path]:  # fmt: skip
    """Significance vs mass hypothesis, one curve per discriminant: channel average (left)
    and combination over channels (right)."""
    fig, axes = figure(1, ncols=2, figsize=(20, 9))
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.12, top=0.92, wspace=0.22)
    for ax in axes:
        cms_label(ax, lumi, data=False)
    discs = list(dict.fromkeys(r["discriminant"] for r in rows))
    for ax, kind in zip(axes, ("average", "combined")):
        for d in discs:
            pts = sorted(
                (r["mass"], r[metric])
                for r in rows
                if r["discriminant"] == d and r["channel"] == kind
            )
            color, label = DISCRIMINANT_STYLE.get(d, (None, d))
            if pts:
                ax.plot(*zip(*pts), marker="o", color=color, label=label, gid=d)
        ax.set_xlabel(r"$m_{hyp}$ [GeV]")
        ax.set_ylabel(
            ("Mean over channels" if kind == "average" else "Combined")
            + (" Asimov Z" if metric == "asimov" else r" $S/\sqrt{B}$")
        )
        ax.set_xscale("log")
        ax.legend(fontsize=18, title=title or None, title_fontsize=16)
    return save_figure(fig, base, formats)


@cms_style
def plot_limits(
    rows: Sequence[Mapping], base: Path, *, lumi: str | None = None, cl: float = 0.95,
    title: str = "", reference: Mapping[float, float] | None = None,
    formats: Sequence[str] = FORMATS,
) -> list[Path]:  # fmt: skip
    """Expected upper limit on σ·B vs mass: median (dashed), ±1σ (green) and ±2σ (yellow)
    bands, and the reference cross section of the signal samples."""
    rows = sorted(rows, key=lambda r: r["mass"])
    m = np.array([r["mass"] for r in rows], dtype=float)
    q = {k: np.array([r[f"xsec_{k}"] for r in rows], dtype=float) for k in LIMIT_KEYS}
    fig, ax = figure(figsize=(11, 9))
    fig.subplots_adjust(left=0.15, right=0.95, bottom=0.11, top=0.92)
    cms_label(ax, lumi, data=False)
    ax.fill_between(m, q["m2"], q["p2"], color="#ffcc00", label=r"95% expected", gid="band2")
    ax.fill_between(m, q["m1"], q["p1"], color="#00cc00", label=r"68% expected", gid="band1")
    ax.plot(m, q["median"], "k--", label="Median expected", gid="median")
    if reference:
        ref = sorted(reference.items())
        ax.plot(*zip(*ref), color="#e42536", label=r"Signal $\sigma\mathcal{B}$ (samples)",
                gid="reference")  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"$m_{N}$ [GeV]")
    ax.set_ylabel(rf"{100 * cl:g}% CL upper limit on $\sigma\mathcal{{B}}$ [pb]")
    lo, hi = np.nanmin(q["m2"][q["m2"] > 0]), np.nanmax(q["p2"])
    if reference:
        lo = min(lo, min(reference.values()))
        hi = max(hi, max(reference.values()))
    ax.set_ylim(lo / 3, hi * 30)
    ax.legend(fontsize=16, title=title or None, title_fontsize=15, loc="upper right")
    return save_figure(fig, base, formats)


#: Quantiles of the expected limit: median, ±1σ, ±2σ.
LIMIT_KEYS = ("m2", "m1", "median", "p1", "p2")
