"""CMS-style plots (mplhep) from normalised histograms; every figure is saved as PNG and PDF.

All functions take 1D :class:`hist.Hist` objects (already normalised, already rebinned where
wanted) and return the written paths. The Agg backend is used, so no display is needed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import hist
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import mplhep as hep  # noqa: E402
import numpy as np  # noqa: E402

from .categories import clip_negative_bins  # noqa: E402

__all__ = ["plot_cutflow", "plot_significance", "plot_stack", "save_figure", "systematic_band"]

FORMATS = ("png", "pdf")


def save_figure(fig: plt.Figure, base: Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Save ``fig`` as ``base.<fmt>`` for every format and close it."""
    base.parent.mkdir(parents=True, exist_ok=True)
    paths = [base.with_suffix(f".{fmt}") for fmt in formats]
    for p in paths:
        fig.savefig(p, dpi=100 if p.suffix == ".png" else None)
    plt.close(fig)
    return paths


def _label(ax: plt.Axes, lumi: float | None, data: bool) -> None:
    hep.cms.label(
        "Preliminary",  # mplhep prefixes "Simulation" when data=False
        data=data,
        lumi=None if lumi is None else float(f"{lumi:.2g}"),
        ax=ax,
        fontsize=16,
    )


def systematic_band(variations: Mapping[str, tuple[np.ndarray, np.ndarray]], nominal: np.ndarray):
    """Per-bin (up, down) uncertainty: shifts of each ``name: (up, down)`` in quadrature."""
    up2 = np.zeros_like(nominal, dtype=float)
    dn2 = np.zeros_like(nominal, dtype=float)
    for u, d in variations.values():
        du, dd = np.asarray(u) - nominal, np.asarray(d) - nominal
        up2 += np.maximum(np.maximum(du, dd), 0) ** 2
        dn2 += np.minimum(np.minimum(du, dd), 0) ** 2
    return np.sqrt(up2), np.sqrt(dn2)


def plot_stack(
    backgrounds: Mapping[str, hist.Hist],
    base: Path,
    *,
    signals: Mapping[str, hist.Hist] | None = None,
    data: hist.Hist | None = None,
    syst: tuple[np.ndarray, np.ndarray] | None = None,
    title: str = "",
    xlabel: str | None = None,
    lumi: float | None = None,
    logy: bool = True,
) -> list[Path]:
    """Stacked backgrounds, signal overlays, stat(+syst) band and optional data/MC ratio."""
    # a process's negative bins (negative generator weights) are drawn as zero, as they
    # enter the templates and datacards (see categories.clip_negative_bins)
    clipped = {k: clip_negative_bins(v)[0] for k, v in backgrounds.items()}
    bkgs = {k: v for k, v in sorted(clipped.items(), key=lambda kv: kv[1].values().sum())}
    if data is not None:
        fig, (ax, rax) = plt.subplots(
            2, 1, figsize=(9, 9), gridspec_kw={"height_ratios": (3, 1)}, sharex=True
        )
    else:
        fig, ax = plt.subplots(figsize=(9, 7))
        rax = None
    first = next(iter(bkgs.values()), None) or next(iter((signals or {}).values()))
    edges = first.axes[0].edges
    total = sum((h.values() for h in bkgs.values()), np.zeros(len(edges) - 1))
    stat = np.sqrt(sum((h.variances() for h in bkgs.values()), np.zeros(len(edges) - 1)))
    up, dn = stat, stat
    if syst is not None:
        up, dn = np.hypot(stat, syst[0]), np.hypot(stat, syst[1])
    if bkgs:
        hep.histplot([h.values() for h in bkgs.values()], edges, stack=True, histtype="fill",
                     label=list(bkgs), ax=ax)  # fmt: skip
        band = "Stat. + syst." if syst is not None else "Stat. unc."
        ax.stairs(total + up, edges, baseline=total - dn, fill=True, alpha=0.3, color="grey",
                  hatch="///", label=band)  # fmt: skip
    for name, h in (signals or {}).items():
        hep.histplot(h.values(), edges, histtype="step", linewidth=2, label=name, ax=ax)
    if data is not None:
        hep.histplot(data.values(), edges, yerr=np.sqrt(np.clip(data.values(), 0, None)),
                     histtype="errorbar", color="black", label="Data", ax=ax)  # fmt: skip
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(total > 0, data.values() / total, np.nan)
            rerr = np.where(total > 0, np.sqrt(np.clip(data.values(), 0, None)) / total, np.nan)
            rel_up = np.where(total > 0, 1 + up / total, np.nan)
            rel_dn = np.where(total > 0, 1 - dn / total, np.nan)
        rax.stairs(rel_up, edges, baseline=rel_dn, fill=True, alpha=0.3, color="grey")
        rax.errorbar(0.5 * (edges[1:] + edges[:-1]), ratio, yerr=rerr, fmt="o", color="black")
        rax.axhline(1, color="black", linewidth=1)
        rax.set_ylim(0, 2)
        rax.set_ylabel("Data / MC")
        rax.set_xlabel(xlabel or first.axes[0].label)
    else:
        ax.set_xlabel(xlabel or first.axes[0].label)
    ax.set_ylabel("Events / bin")
    shown = [total, *(h.values() for h in (signals or {}).values())]
    if data is not None:
        shown.append(data.values())
    positive = np.concatenate([v[v > 0] for v in shown])
    if logy and positive.size:
        ax.set_yscale("log")
        ax.set_ylim(bottom=max(1e-3, 0.5 * positive.min()), top=positive.max() * 1e3)
    if title:
        ax.set_title(title, loc="right", fontsize=12, pad=24)
    ax.legend(fontsize=11, ncol=2)
    _label(ax, lumi, data is not None)
    return save_figure(fig, base)


def plot_significance(
    rows: Sequence[Mapping], base: Path, *, metric: str = "asimov", lumi: float | None = None
) -> list[Path]:
    """Significance vs mass hypothesis, one curve per discriminant: channel average (left)
    and quadrature combination (right)."""
    fig, axes = plt.subplots(1, 2, figsize=(15, 6.5))
    discs = list(dict.fromkeys(r["discriminant"] for r in rows))
    for ax, kind in zip(axes, ("average", "combined")):
        for d in discs:
            pts = sorted(
                (r["mass"], r[metric])
                for r in rows
                if r["discriminant"] == d and r["channel"] == kind
            )
            if pts:
                ax.plot(*zip(*pts), marker="o", label=_DISC_LABELS.get(d, d))
        ax.set_xlabel(r"$m_{hyp}$ [GeV]")
        ax.set_ylabel(
            ("Mean over channels" if kind == "average" else "Combined")
            + (" Asimov Z" if metric == "asimov" else r" $S/\sqrt{B}$")
        )
        ax.set_xscale("log")
        ax.legend(fontsize=12)
        _label(ax, lumi, False)
    fig.tight_layout()
    return save_figure(fig, base)


_DISC_LABELS = {
    "mt_total": r"$M_T^{tot}$",
    "score_parametric": "Parametric DNN",
    "score_transfer": "Transfer model",
}


def plot_cutflow(
    yields: Mapping[str, Mapping[str, float]], base: Path, *, title: str = ""
) -> list[Path]:
    """Expected yield after each selection step, one line per process (log scale)."""
    fig, ax = plt.subplots(figsize=(10, 7))
    steps: list[str] = []
    for per_step in yields.values():
        steps += [s for s in per_step if s not in steps]
    x = np.arange(len(steps))
    for proc, per_step in yields.items():
        ax.plot(x, [per_step.get(s, np.nan) for s in steps], marker="o", label=proc)
    ax.set_xticks(x, steps, rotation=45, ha="right", fontsize=11)
    ax.set_yscale("log")
    ax.set_ylabel("Weighted events")
    if title:
        ax.set_title(title, loc="right", fontsize=12, pad=24)
    ax.legend(fontsize=11)
    _label(ax, None, False)
    fig.tight_layout()
    return save_figure(fig, base)
