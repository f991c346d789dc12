"""The whole postprocessing chain behind ``hnl-coffea postprocess``.

:func:`postprocess_output` normalises the processor output, bins every
(discriminant, channel, mass hypothesis) of the signal region adaptively, computes the
significances (table ``significance.csv`` / ``significance.md``), saves the rebinned
histograms (``rebinned.coffea`` with all variations, ``rebinned.root`` with the nominal
templates) and draws the plots.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hist
import numpy as np
import uproot
from coffea.util import save

from ..config import AnalysisConfig
from .categories import DISCRIMINANTS, BinnedCategory, bin_category, masses_for, nominal, select
from .normalise import ProcessHists, dataset_scales, luminosity_fb, normalise_output
from .significance import asimov, average_channels, combine_channels, s_over_sqrt_b

__all__ = ["PostprocessSummary", "markdown_table", "postprocess_output", "significance_rows"]

PLOT_MODES = ("none", "default", "all")


@dataclass
class PostprocessSummary:
    """What :func:`postprocess_output` computed and wrote."""

    outdir: Path
    rows: list[dict[str, Any]]
    files: list[Path] = field(default_factory=list)
    plots: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        return markdown_table(self.rows)


def significance_rows(
    categories: Sequence[BinnedCategory], channels: Sequence[str]
) -> list[dict[str, Any]]:
    """One row per (discriminant, mass, channel), plus ``average`` and ``combined`` rows."""
    rows: list[dict[str, Any]] = []
    groups: dict[tuple[str, float], dict[str, BinnedCategory]] = {}
    for c in categories:
        groups.setdefault((c.discriminant, c.mass), {})[c.channel] = c
    for (disc, mass), per_ch in groups.items():
        zs, za = [], []
        for ch in channels:
            cat = per_ch.get(ch)
            s = cat.signal_yields if cat else np.zeros(1)
            b = cat.background_yields if cat else np.zeros(1)
            row = {
                "discriminant": disc,
                "mass": mass,
                "channel": ch,
                "s_over_sqrt_b": s_over_sqrt_b(s, b),
                "asimov": asimov(s, b),
                "n_bins": len(s),
                "signal": float(s.sum()),
                "background": float(b.sum()),
            }
            zs.append(row["s_over_sqrt_b"])
            za.append(row["asimov"])
            rows.append(row)
        for kind, fn in (("average", average_channels), ("combined", combine_channels)):
            rows.append(
                {"discriminant": disc, "mass": mass, "channel": kind, "s_over_sqrt_b": fn(zs),
                 "asimov": fn(za), "n_bins": "", "signal": "", "background": ""}
            )  # fmt: skip
    return rows


def markdown_table(rows: Sequence[Mapping[str, Any]], metric: str = "asimov") -> str:
    """One Markdown table per discriminant: mass × (channels, average, combined)."""
    out = []
    for disc in dict.fromkeys(r["discriminant"] for r in rows):
        sel = [r for r in rows if r["discriminant"] == disc]
        cols = list(dict.fromkeys(r["channel"] for r in sel))
        what = "Asimov Z" if metric == "asimov" else "S/sqrt(B)"
        out += [f"### {DISCRIMINANTS.get(disc, disc)} ({disc}): {what}", ""]
        out.append("| m_hyp [GeV] | " + " | ".join(cols) + " |")
        out.append("|---:|" + "---:|" * len(cols))
        for mass in sorted(dict.fromkeys(r["mass"] for r in sel)):
            vals = {r["channel"]: r[metric] for r in sel if r["mass"] == mass}
            out.append(f"| {mass:g} | " + " | ".join(f"{vals[c]:.3f}" for c in cols) + " |")
        out.append("")
    return "\n".join(out)


def _write_tables(rows: list[dict], outdir: Path) -> list[Path]:
    csv_path, md_path = outdir / "significance.csv", outdir / "significance.md"
    with csv_path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["discriminant"])
        writer.writeheader()
        writer.writerows(rows)
    text = markdown_table(rows) + "\n" + markdown_table(rows, "s_over_sqrt_b")
    md_path.write_text("# Expected significance\n\n" + text)
    return [csv_path, md_path]


def _write_rebinned(cats: list[BinnedCategory], outdir: Path) -> list[Path]:
    tree: dict[str, Any] = {}
    for c in cats:
        tree.setdefault(c.discriminant, {}).setdefault(f"m{c.mass:g}", {})[c.channel] = {
            "edges": c.edges, "backgrounds": c.backgrounds, "signal": c.signal, "data": c.data,
        }  # fmt: skip
    save(tree, outdir / "rebinned.coffea")
    with uproot.recreate(outdir / "rebinned.root") as f:
        for c in cats:
            d = f"{c.discriminant}/m{c.mass:g}/{c.channel}"
            f[f"{d}/{c.signal_name}"] = nominal(c.signal)
            for p, h in c.backgrounds.items():
                f[f"{d}/{p}"] = nominal(h)
            if c.data is not None:
                f[f"{d}/data"] = nominal(c.data)
    return [outdir / "rebinned.coffea", outdir / "rebinned.root"]


def _filled(ph: ProcessHists) -> bool:
    hs = [*ph.backgrounds.values(), *ph.signals.values()]
    return any(h.values().sum() != 0 for h in hs)


def postprocess_output(
    output: Mapping[str, Any],
    outdir: str | Path,
    cfg: AnalysisConfig,
    *,
    scheme: str | None = None,
    max_rel_unc: float | None = None,
    unblind: bool = False,
    plots: str = "default",
) -> PostprocessSummary:
    """Bin adaptively, compute significances, save rebinned histograms and draw plots.

    ``scheme`` (``increasing``/``constant``) and ``max_rel_unc`` default to the config's
    ``postprocessing`` section; ``plots`` is ``none``, ``default`` (a small set) or ``all``.
    Signal-region data are hidden from plots unless ``unblind``.
    """
    if plots not in PLOT_MODES:
        raise ValueError(f"plots must be one of {', '.join(PLOT_MODES)}, got {plots!r}")
    pp = cfg.postprocessing
    scheme = scheme or pp.binning_scheme
    max_rel_unc = max_rel_unc or pp.max_rel_unc
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    norm = normalise_output(output, cfg)
    cats: list[BinnedCategory] = []
    for disc in DISCRIMINANTS:
        if disc not in norm or not _filled(norm[disc]):
            continue
        for mass in masses_for(norm[disc], output["hists"][disc]):
            for ch in cfg.channel_names:
                cats.append(
                    bin_category(norm[disc], disc, ch, mass, region=pp.signal_region,
                                 scheme=scheme, max_rel_unc=max_rel_unc,
                                 require_signal=pp.require_signal)
                )  # fmt: skip
    rows = significance_rows(cats, cfg.channel_names)
    summary = PostprocessSummary(outdir=outdir, rows=rows)
    summary.warnings = sorted({w for c in cats for w in c.warnings})
    summary.files += _write_tables(rows, outdir)
    if cats:
        summary.files += _write_rebinned(cats, outdir)
    if plots != "none":
        from .report_plots import draw_plots

        summary.plots = draw_plots(
            output, norm, cats, rows, outdir / "plots", cfg, unblind=unblind, mode=plots,
            scales=dataset_scales(output, cfg), lumi=luminosity_fb(cfg),
        )  # fmt: skip
    return summary


def project(h: hist.Hist, region: str, channel: str | None) -> hist.Hist:
    """``h`` in one region and channel (``None``: summed over channels), mhyp-free."""
    out = select(h, region=region, channel=channel)
    if channel is None and "channel" in [a.name for a in out.axes]:
        out = out[{"channel": sum}]
    return out


def plot_masses(masses: Sequence[float], wanted: Sequence[float]) -> list[float]:
    """The configured plot masses, else the lowest, middle and highest available."""
    if wanted:
        return [m for m in masses if any(math.isclose(m, w) for w in wanted)]
    ms = sorted(masses)
    return sorted({ms[0], ms[len(ms) // 2], ms[-1]}) if ms else []
