"""Expected significance and expected limits, at the analysed luminosity and projected.

For each discriminant and mass hypothesis, every (era × channel) category of the signal
region becomes bins of one counting model (:class:`~.limits.CountingModel`, with the
log-normal luminosity and normalisation nuisances of the datacards). Scenarios:

* ``analysed`` — the expectation at the luminosity of the eras analysed (Σ of their
  ``luminosity_fb``);
* each ``postprocessing.projections`` entry — the same expectation scaled by
  ``luminosity_fb / analysed luminosity`` (cross sections and efficiencies unchanged).

Each row has the Asimov and S/√B significances (no systematics, bins in quadrature) and
the expected CLs upper limits on the signal strength μ (median, ±1σ, ±2σ) and on σ·B (μ ×
the signal samples' cross section).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..config import AnalysisConfig
from ..progress import Steps
from .categories import BinnedCategory
from .limits import BAND_QUANTILES, CountingModel, expected_limits
from .nuisances import lnn_uncertainties
from .significance import asimov, s_over_sqrt_b

__all__ = ["analysed_luminosity", "counting_model", "expected_rows", "scenarios", "signal_xsec"]


def analysed_luminosity(cfg: AnalysisConfig, eras: Sequence[str]) -> float:
    """Σ of the luminosities of ``eras`` in fb⁻¹."""
    return float(sum(cfg.eras[e].luminosity_fb for e in eras))


def scenarios(cfg: AnalysisConfig, eras: Sequence[str]) -> list[dict[str, Any]]:
    """``analysed`` and every configured projection: name, luminosity, √s, yield factor."""
    lumi = analysed_luminosity(cfg, eras)
    energies = sorted({cfg.eras[e].sqrt_s_tev for e in eras})
    out = [{"scenario": "analysed", "luminosity_fb": lumi, "factor": 1.0,
            "sqrt_s_tev": "+".join(f"{x:g}" for x in energies)}]  # fmt: skip
    for p in cfg.postprocessing.projections:
        out.append({"scenario": p.name, "luminosity_fb": p.luminosity_fb,
                    "sqrt_s_tev": f"{p.sqrt_s_tev:g}", "factor": p.luminosity_fb / lumi})  # fmt: skip
    return out


def counting_model(cats: Sequence[BinnedCategory], cfg: AnalysisConfig) -> CountingModel:
    """All bins of ``cats`` as one model, with the datacards' log-normal nuisances."""
    procs = sorted({p for c in cats for p in c.backgrounds})
    sig, bkg, per_bin_lnn = [], [], []
    for c in cats:
        s = c.signal_yields
        b = np.zeros((len(procs), len(s)))
        for i, p in enumerate(procs):
            if p in c.backgrounds:
                b[i] = c.backgrounds_nominal(p)
        sig.append(s)
        bkg.append(b)
        lnn = lnn_uncertainties(cfg, c.era or cfg.era, c.signal_name, list(c.backgrounds))
        per_bin_lnn.append((len(s), c.signal_name, lnn))
    names = list(dict.fromkeys(n for _, _, lnn in per_bin_lnn for n in lnn))
    n_bins = sum(n for n, _, _ in per_bin_lnn)
    log_kappa = np.zeros((len(names), 1 + len(procs), n_bins))
    start = 0
    for n, signal, lnn in per_bin_lnn:
        for k, name in enumerate(names):
            for proc, unc in lnn.get(name, {}).items():
                row = 0 if proc == signal else 1 + procs.index(proc)
                log_kappa[k, row, start : start + n] = np.log1p(unc)
        start += n
    return CountingModel(np.concatenate(sig), np.concatenate(bkg, axis=1), log_kappa, names)


def signal_xsec(output: Mapping[str, Any], mass: float) -> float | None:
    """Cross section [pb] of the signal samples at ``mass`` (mean over their datasets)."""
    xs = [
        float(m["xsec"])
        for m in output["datasets"].values()
        if m.get("is_signal") and m.get("xsec") is not None and m.get("m_hnl") is not None
        and np.isclose(float(m["m_hnl"]), mass)
    ]  # fmt: skip
    return float(np.mean(xs)) if xs else None


def expected_rows(
    cats: Sequence[BinnedCategory],
    output: Mapping[str, Any],
    cfg: AnalysisConfig,
    eras: Sequence[str],
    *,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """One row per (scenario, discriminant, mass): significances and expected limits."""
    groups: dict[tuple[str, float], list[BinnedCategory]] = {}
    for c in cats:
        groups.setdefault((c.discriminant, c.mass), []).append(c)
    rows = []
    scen = scenarios(cfg, eras)
    with Steps("limits", len(groups), enabled=progress) as step:
        for (disc, mass), group in groups.items():
            model = counting_model(group, cfg)
            xsec = signal_xsec(output, mass)
            for sc in scen:
                m = model.scaled(sc["factor"])
                b = m.asimov
                lim = expected_limits(m, cl=cfg.postprocessing.limit_cl)
                row = {**{k: sc[k] for k in ("scenario", "luminosity_fb", "sqrt_s_tev")},
                       "discriminant": disc, "mass": mass,
                       "asimov": asimov(m.signal, b), "s_over_sqrt_b": s_over_sqrt_b(m.signal, b),
                       "signal": float(m.signal.sum()), "background": float(b.sum()),
                       "xsec_ref": xsec}  # fmt: skip
                for key in BAND_QUANTILES:
                    row[f"mu_{key}"] = lim[key]
                    row[f"xsec_{key}"] = None if xsec is None else lim[key] * xsec
                rows.append(row)
            step.advance(f"{disc} m = {mass:g} GeV")
    return rows
