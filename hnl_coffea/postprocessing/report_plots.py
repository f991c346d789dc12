"""The plot set of ``hnl-coffea postprocess`` (kept small by default; ``mode="all"`` for more).

Default: significance vs mass, the cutflow, the adaptively binned distribution of the best
available discriminant per channel for a few mass hypotheses, and data/MC (or MC-only) stacks
per region of MT_total (summed over channels and per channel) and of the configured feature
histograms (``histograms.features``, summed over channels). ``all`` adds every discriminant
and mass hypothesis, and the feature histograms per channel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import hist
import numpy as np

from ..config import AnalysisConfig
from .binning import rebin
from .categories import DISCRIMINANTS, BinnedCategory, nominal, select
from .combine import shape_systematics
from .normalise import ProcessHists
from .plots import plot_cutflow, plot_significance, plot_stack, systematic_band
from .report import plot_masses, project

__all__ = ["draw_plots", "cutflow_yields"]

MAX_PLOT_BINS = 40


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


def _var(h: hist.Hist, name: str) -> np.ndarray:
    if name in list(h.axes["systematic"]):
        return select(h, systematic=name).values()
    return nominal(h).values()


def cutflow_yields(
    output: Mapping[str, Any], scales: Mapping[str, float], key: str = "all"
) -> dict[str, dict[str, float]]:
    """Expected (MC: Σw × scale, grouped by process) and observed yields per cutflow step."""
    out: dict[str, dict[str, float]] = {}
    for ds, per_key in (output.get("cutflow") or {}).items():
        meta = output["datasets"].get(ds, {})
        steps = per_key.get(key) or {}
        proc = "Data" if meta.get("is_data") else str(meta.get("process") or ds)
        if meta.get("is_signal") and meta.get("m_hnl") is not None:
            proc = f"{proc} m={float(meta['m_hnl']):g}"
        for step, row in steps.items():
            # hnl_coffea.cutflow rows: {"events", "sumw", "sumw2"} (older outputs: [n, sumw])
            n, sumw = (row["events"], row["sumw"]) if isinstance(row, Mapping) else row[:2]
            val = n if meta.get("is_data") else sumw * scales.get(ds, 1.0)
            out.setdefault(proc, {})
            out[proc][step] = out[proc].get(step, 0.0) + val
    return out


def _category_plot(c: BinnedCategory, base: Path, cfg: AnalysisConfig, show_data: bool, lumi):
    title = f"{cfg.channel(c.channel).label}, $m_{{hyp}}$ = {c.mass:g} GeV"
    return plot_stack(
        {p: nominal(h) for p, h in c.backgrounds.items()},
        base,
        signals={f"{c.signal_name} ({c.mass:g} GeV)": nominal(c.signal)},
        data=nominal(c.data) if (show_data and c.data is not None) else None,
        syst=_syst(c.backgrounds),
        title=title,
        xlabel=f"{DISCRIMINANTS.get(c.discriminant, c.discriminant)} (adaptive bins)",
        lumi=lumi,
    )


def _coarse_edges(edges: np.ndarray) -> np.ndarray:
    step = max(1, int(np.ceil((len(edges) - 1) / MAX_PLOT_BINS)))
    out = edges[::step]
    return out if out[-1] == edges[-1] else np.append(out, edges[-1])


def _region_plot(
    ph: ProcessHists, region: str, channel: str | None, masses: Sequence[float], base: Path,
    show_data: bool, lumi: float, label: str,
) -> list[Path]:  # fmt: skip
    bkgs = {p: project(h, region, channel) for p, h in ph.backgrounds.items()}
    if not bkgs:
        return []
    edges = _coarse_edges(next(iter(bkgs.values())).axes[-1].edges)
    bkgs = {p: rebin(h, edges) for p, h in bkgs.items()}
    sigs = {}
    for m in masses:
        s = ph.signal_at(m)
        if s is not None:
            sigs[f"{ph.signal_name_at(m)} ({m:g} GeV)"] = nominal(
                rebin(project(s, region, channel), edges)
            )
    data = None
    if show_data and ph.data is not None:
        data = nominal(rebin(project(ph.data, region, channel), edges))
    return plot_stack(
        {p: nominal(h) for p, h in bkgs.items()}, base, signals=sigs, data=data,
        syst=_syst(bkgs), title=label, lumi=lumi,
    )  # fmt: skip


def draw_plots(
    output: Mapping[str, Any],
    norm: Mapping[str, ProcessHists],
    cats: Sequence[BinnedCategory],
    rows: Sequence[Mapping[str, Any]],
    outdir: Path,
    cfg: AnalysisConfig,
    *,
    unblind: bool,
    mode: str,
    scales: Mapping[str, float],
    lumi: float,
) -> list[Path]:
    """Draw the plot set (see the module docstring); returns the written files."""
    pp = cfg.postprocessing
    paths: list[Path] = []
    if rows:
        paths += plot_significance(rows, outdir / "significance_vs_mass", lumi=lumi)
    yields = cutflow_yields(output, scales)
    if yields:
        paths += plot_cutflow(yields, outdir / "cutflow", title="All channels")
    discs = list(dict.fromkeys(c.discriminant for c in cats))
    preferred = [d for d in ("score_transfer", "score_parametric", "mt_total") if d in discs]
    all_masses = sorted({c.mass for c in cats})
    masses = all_masses if mode == "all" else plot_masses(all_masses, pp.plot_mass_hypotheses)
    show_sr = unblind or pp.signal_region not in pp.blinded_regions
    for c in cats:
        if (mode == "all" or c.discriminant == preferred[0]) and c.mass in masses:
            base = outdir / "binned" / c.discriminant / f"m{c.mass:g}_{c.channel}"
            paths += _category_plot(c, base, cfg, show_sr, lumi)
    # data/MC per region: MT_total per channel and summed; the configured feature
    # histograms summed over channels (per channel too with mode "all")
    names = ["mt_total"] + [n for n in norm if n.startswith("feature_")]
    sig_masses = plot_masses(sorted(norm["mt_total"].signals), pp.plot_mass_hypotheses) if (
        "mt_total" in norm) else []  # fmt: skip
    for name in names:
        ph = norm.get(name)
        if ph is None:
            continue
        for region in cfg.regions:
            show = unblind or region.name not in pp.blinded_regions
            per_channel = mode == "all" or name == "mt_total"
            channels: list[str | None] = [None] + (list(cfg.channel_names) if per_channel else [])
            for ch in channels:
                where = "all channels" if ch is None else cfg.channel(ch).label
                base = outdir / "regions" / region.name / f"{name}_{ch or 'all'}"
                blind = "" if show or ph.data is None else " (data blinded)"
                paths += _region_plot(ph, region.name, ch, sig_masses, base, show, lumi,
                                      f"{region.name}, {where}{blind}")  # fmt: skip
    return paths
