"""The plot set of ``hnl-coffea postprocess`` (kept small by default; ``mode="all"`` for more).

Per view — the eras analysed together (luminosities summed in the CMS label) and, when
there are several, each era alone under ``eras/<era>/`` — the default set is: significance
vs mass, the cutflow of every channel, the adaptively binned distribution of the best
available discriminant per channel for a few mass hypotheses, and data/MC (or MC-only)
stacks per region of MT_total (summed over channels and per channel) and of the configured
feature histograms (summed over channels). The combined view adds the expected limits at
the analysed luminosity and at each projection. ``all`` adds every discriminant and mass
hypothesis, and the feature histograms per channel. Every plot shares one :class:`~.style.Style`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hist
import numpy as np

from ..config import AnalysisConfig
from ..progress import Steps
from .binning import rebin
from .categories import (
    ALL_ERAS,
    DISCRIMINANTS,
    BinnedCategory,
    bin_category,
    first_era_choice,
    nominal,
    plot_masses,
    project,
    take_categories,
    usable_templates,
)
from .combine import shape_systematics
from .cutflows import cutflow_yields
from .normalise import ProcessHists, dataset_era, dataset_scales, normalise_output
from .plots import plot_limits, plot_significance, systematic_band
from .plots_cutflow import plot_cutflow
from .plots_stack import SignalLine, filled_range, plot_stack
from .ranking import discriminant_ranking
from .style import Style, build_style, lumi_label

__all__ = ["PlotContext", "draw_plots", "plot_masses_of", "run_style"]

MAX_PLOT_BINS = 40


@dataclass
class PlotContext:
    """What every plot of a run shares."""

    output: Mapping[str, Any]
    cfg: AnalysisConfig
    eras: list[str]
    style: Style
    unblind: bool
    mode: str
    masses: list[float]
    progress: bool = False

    @property
    def formats(self) -> tuple[str, ...]:
        return self.cfg.postprocessing.plot_formats


def _signal_masses(output: Mapping[str, Any]) -> list[float]:
    return sorted({
        float(m["m_hnl"]) for m in output["datasets"].values()
        if m.get("is_signal") and m.get("m_hnl") is not None
    })  # fmt: skip


def plot_masses_of(output: Mapping[str, Any], cfg: AnalysisConfig) -> list[float]:
    """The signal masses drawn in the default plots (see :func:`~.categories.plot_masses`)."""
    return plot_masses(_signal_masses(output), cfg.postprocessing.plot_mass_hypotheses)


def run_style(
    output: Mapping[str, Any], cfg: AnalysisConfig, masses: Sequence[float] | None = None
) -> Style:
    """The style of every plot of a run: all background processes of the output, and the
    signal styles given to ``masses`` (default: every signal mass)."""
    bkgs = {
        str(m.get("process") or name) for name, m in output["datasets"].items()
        if not m.get("is_data") and not m.get("is_signal")
    }  # fmt: skip
    return build_style(cfg.postprocessing.style, bkgs, masses or _signal_masses(output))


def _var(h: hist.Hist, name: str) -> np.ndarray:
    if name in list(h.axes["systematic"]):
        return take_categories(h, systematic=name).values()
    return nominal(h).values()


def _syst(backgrounds: Mapping[str, hist.Hist]):
    """Total-background systematic band from the ``systematic`` axes of the backgrounds."""
    if not backgrounds:
        return None
    nom = sum(nominal(h).values() for h in backgrounds.values())
    names = sorted({s for h in backgrounds.values() for s in shape_systematics(h)})
    if not names:
        return None
    var = {}
    for s in names:
        up = sum(_var(h, f"{s}Up") for h in backgrounds.values())
        dn = sum(_var(h, f"{s}Down") for h in backgrounds.values())
        var[s] = (up, dn)
    return systematic_band(var, nom)


def _category_plot(c: BinnedCategory, base: Path, ctx: PlotContext, show_data: bool, lumi: str):
    title = f"{ctx.cfg.channel(c.channel).label}, $m_{{hyp}}$ = {c.mass:g} GeV"
    return plot_stack(
        {p: nominal(h) for p, h in c.backgrounds.items()}, base, style=ctx.style,
        signals=[SignalLine(c.signal_name, c.mass, nominal(c.signal))],
        data=nominal(c.data) if (show_data and c.data is not None) else None,
        syst=_syst(c.backgrounds), title=title, lumi=lumi, formats=ctx.formats,
        xlabel=f"{DISCRIMINANTS.get(c.discriminant, c.discriminant)} (adaptive bins)",
    )  # fmt: skip


def _plot_edges(fine: np.ndarray, values: Sequence[np.ndarray]) -> np.ndarray:
    """At most MAX_PLOT_BINS merged bins over the filled range of the fine histograms."""
    i0, i1 = filled_range(*values)
    sub = fine[i0 : i1 + 2]
    step = max(1, int(np.ceil((len(sub) - 1) / MAX_PLOT_BINS)))
    out = sub[::step]
    return out if out[-1] == sub[-1] else np.append(out, sub[-1])


def _region_plot(
    ph: ProcessHists, region: str, channel: str | None, base: Path, ctx: PlotContext,
    show_data: bool, lumi: str, label: str,
) -> list[Path]:  # fmt: skip
    bkgs, _ = usable_templates({p: project(h, region, channel) for p, h in ph.backgrounds.items()})
    sigs = {m: ph.signal_at(m) for m in ctx.masses if ph.signal_at(m) is not None}
    sigs = {m: project(s, region, channel) for m, s in sigs.items()}
    data = project(ph.data, region, channel) if show_data and ph.data is not None else None
    shown = [nominal(h).values() for h in [*bkgs.values(), *sigs.values()]]
    if not bkgs or not any(v.sum() > 0 for v in shown):
        return []
    fine = next(iter(bkgs.values())).axes[-1].edges
    edges = _plot_edges(fine, shown + ([nominal(data).values()] if data is not None else []))
    bkgs = {p: rebin(h, edges) for p, h in bkgs.items()}
    lines = [SignalLine(ph.signal_name_at(m), m, nominal(rebin(s, edges))) for m, s in sigs.items()]
    return plot_stack(
        {p: nominal(h) for p, h in bkgs.items()}, base, style=ctx.style, signals=lines,
        data=None if data is None else nominal(rebin(data, edges)), syst=_syst(bkgs),
        title=label, lumi=lumi, formats=ctx.formats,
    )  # fmt: skip


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")


def _view_jobs(
    ctx: PlotContext, view: list[str], norm: Mapping[str, ProcessHists],
    cats: Sequence[BinnedCategory], rows: Sequence[Mapping[str, Any]], outdir: Path,
) -> list[tuple[str, Callable[[], list[Path]]]]:  # fmt: skip
    """The plots of one view (eras ``view``), as (name, draw) pairs."""
    cfg, pp = ctx.cfg, ctx.cfg.postprocessing
    lumi = lumi_label(cfg, view)
    jobs: list[tuple[str, Callable[[], list[Path]]]] = []
    if rows:
        jobs.append(("significance", lambda: plot_significance(
            rows, outdir / "significance_vs_mass", lumi=lumi, formats=ctx.formats)))  # fmt: skip
    datasets = {n for n, m in ctx.output["datasets"].items() if dataset_era(m, cfg) in view}
    scales = dataset_scales(ctx.output, cfg)
    blind = () if ctx.unblind or pp.signal_region not in cfg.blinded_regions else ("bjet_veto",)
    for group in ["all", *cfg.channel_names]:
        table = cutflow_yields(ctx.output, scales, group, datasets=datasets, blind_steps=blind)
        if table.steps:
            where = "All channels" if group == "all" else cfg.channel(group).label
            jobs.append((f"cutflow {group}", lambda t=table, g=group, w=where: plot_cutflow(
                t, outdir / "cutflow" / g, ctx.formats, style=ctx.style,
                signal_masses=ctx.masses, title=w, lumi=lumi)))  # fmt: skip
    discs = list(dict.fromkeys(c.discriminant for c in cats))
    preferred = [d for d in ("score_transfer", "score_parametric", "mt_total") if d in discs]
    show_sr = ctx.unblind or pp.signal_region not in cfg.blinded_regions
    masses = sorted({c.mass for c in cats}) if ctx.mode == "all" else ctx.masses
    for c in cats:
        if (ctx.mode == "all" or c.discriminant == preferred[0]) and c.mass in masses:
            base = outdir / "binned" / c.discriminant / f"m{c.mass:g}_{c.channel}"
            jobs.append((f"{c.discriminant} {c.channel}",
                         lambda c=c, b=base: _category_plot(c, b, ctx, show_sr, lumi)))  # fmt: skip
    names = ["mt_total"] + [n for n in norm if n.startswith("feature_")]
    for name in names:
        ph = norm.get(name)
        if ph is None:
            continue
        for region in cfg.regions:
            show = ctx.unblind or region.name not in cfg.blinded_regions
            per_channel = ctx.mode == "all" or name == "mt_total"
            channels: list[str | None] = [None] + (list(cfg.channel_names) if per_channel else [])
            for ch in channels:
                where = "all channels" if ch is None else cfg.channel(ch).label
                base = outdir / "regions" / region.name / f"{name}_{ch or 'all'}"
                blind_note = "" if show or ph.data is None else " (data blinded)"
                label = f"{region.name}, {where}{blind_note}"
                jobs.append((f"{region.name} {name}", lambda ph=ph, r=region.name, ch=ch, b=base,
                             s=show, lb=label: _region_plot(ph, r, ch, b, ctx, s, lumi, lb)))  # fmt: skip
    return jobs


def _limit_jobs(ctx: PlotContext, expected: Sequence[Mapping[str, Any]], disc: str, outdir: Path):
    jobs = []
    ref = {r["mass"]: r["xsec_ref"] for r in expected if r["xsec_ref"]}
    for scen in dict.fromkeys(r["scenario"] for r in expected):
        sel = [r for r in expected if r["scenario"] == scen and r["discriminant"] == disc]
        sel = [r for r in sel if r["xsec_median"] is not None and np.isfinite(r["xsec_median"])]
        if not sel:
            continue
        lumi = lumi_label(ctx.cfg, ctx.eras, luminosity_fb=sel[0]["luminosity_fb"])
        if scen != "analysed":
            lumi = f"{sel[0]['luminosity_fb']:.3g} fb$^{{-1}}$ ({sel[0]['sqrt_s_tev']} TeV)"
        title = f"{DISCRIMINANTS.get(disc, disc)}, {'analysed' if scen == 'analysed' else scen}"
        jobs.append((f"limits {scen}", lambda s=sel, lu=lumi, t=title, n=scen: plot_limits(
            s, outdir / f"limits_{_slug(n)}", lumi=lu, title=t, reference=ref,
            cl=ctx.cfg.postprocessing.limit_cl, formats=ctx.formats)))  # fmt: skip
    return jobs


def draw_plots(
    ctx: PlotContext,
    norms: Mapping[str, Mapping[str, ProcessHists]],
    cats: Sequence[BinnedCategory],
    rows: Sequence[Mapping[str, Any]],
    expected: Sequence[Mapping[str, Any]],
    outdir: Path,
) -> list[Path]:
    """Draw the plot set (see the module docstring); returns the written files."""
    eras = ctx.eras
    jobs = []
    if len(eras) == 1:
        jobs += _view_jobs(ctx, eras, norms[eras[0]], cats, rows, outdir)
    else:
        combined = normalise_output(ctx.output, ctx.cfg)
        combined_cats = _summed_categories(ctx, combined, cats)
        all_rows = [r for r in rows if r["era"] == ALL_ERAS]
        jobs += _view_jobs(ctx, eras, combined, combined_cats, all_rows, outdir)
        for e in eras:
            era_rows = [r for r in rows if r["era"] == e]
            era_cats = [c for c in cats if c.era == e]
            jobs += _view_jobs(ctx, [e], norms[e], era_cats, era_rows, outdir / "eras" / e)
    if expected:
        try:
            disc = first_era_choice(norms, ctx.cfg.postprocessing.datacard_discriminant,
                                    discriminant_ranking(ctx.cfg.models))  # fmt: skip
        except ValueError:
            disc = None
        if disc is not None:
            jobs += _limit_jobs(ctx, expected, disc, outdir)
    paths: list[Path] = []
    with Steps("plots", len(jobs), enabled=ctx.progress) as step:
        for name, draw in jobs:
            paths += draw()
            step.advance(name)
    return paths


def _summed_categories(
    ctx: PlotContext, combined: Mapping[str, ProcessHists], cats: Sequence[BinnedCategory]
) -> list[BinnedCategory]:
    """Categories binned on the histograms summed over eras (for the combined view's plots;
    the numbers combine the per-era categories)."""
    pp = ctx.cfg.postprocessing
    wanted = {(c.discriminant, c.mass, c.channel) for c in cats}
    out = []
    for disc, mass, ch in sorted(wanted):
        if ctx.mode != "all" and mass not in ctx.masses:
            continue
        out.append(bin_category(combined[disc], disc, ch, mass, region=pp.signal_region,
                                scheme=pp.binning_scheme, max_rel_unc=pp.max_rel_unc,
                                require_signal=pp.require_signal))  # fmt: skip
    return out
