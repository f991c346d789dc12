"""Quality report of a training: the model comparison (:mod:`.comparison`), regression
residuals, fit histories. JSON + PNG plots, and the comparison summary next to the models."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .metrics import residual_summary

__all__ = [
    "mass_regression_summary",
    "backbone_summary",
    "write_comparison_summary",
    "write_report",
]


def mass_regression_summary(
    pred: np.ndarray, m_true: np.ndarray, masses: Sequence[float]
) -> dict[str, dict[str, float]]:
    """Relative bias and resolution of the regressed mass per generated mass."""
    return {
        f"{m:g}": residual_summary(pred[np.isclose(m_true, m)], m_true[np.isclose(m_true, m)])
        for m in masses
        if np.any(np.isclose(m_true, m))
    }


def backbone_summary(
    pred: np.ndarray, target: np.ndarray, names: Sequence[str], etot_index: int
) -> dict[str, dict]:
    """Absolute residual bias/resolution per normalised target; relative for E_tot, also in
    E_tot quintiles (the seed's safety check)."""
    per_target = {
        n: residual_summary(pred[:, i], target[:, i], relative=(i == etot_index))
        for i, n in enumerate(names)
    }
    et_true, et_pred = target[:, etot_index], pred[:, etot_index]
    edges = np.percentile(et_true, [0, 20, 40, 60, 80, 100])
    quint = {}
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (et_true >= lo) & (et_true <= hi)
        quint[f"{lo:.0f}-{hi:.0f}"] = residual_summary(et_pred[sel], et_true[sel])
    return {"targets": per_target, "e_tot_binned": quint}


def _plot(report: dict, outdir: Path, masses: Sequence[float]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    keys = [f"{m:g}" for m in masses]
    labels = {
        "mt_total": r"$M_T^{tot}$",
        "parametric": "parametric DNN",
        "transfer": "transfer learning",
    }
    comp = report.get("comparison")
    if comp:
        fig, ax = plt.subplots(1, 2, figsize=(11, 4.2))
        for name, tab in comp["significance"].items():
            z = [tab["combined"][k]["z"] for k in keys]
            err = [tab["combined"][k]["error"] for k in keys]
            ax[0].errorbar(masses, z, yerr=err, fmt="o-", label=labels.get(name, name))
        for name, tab in comp["auc"].items():
            ax[1].plot(
                masses, [tab["physics"][k] for k in keys], "o-", label=labels.get(name, name)
            )
        lumi = comp["luminosity_fb"][comp["reference_luminosity"]]
        ax[0].set(
            xlabel=r"$m_{hyp}$ [GeV]",
            ylabel=rf"binned $S/\sqrt{{B}}$, channels combined, {lumi:g} fb$^{{-1}}$",
            xscale="log",
            yscale="log",
        )
        ax[1].set(xlabel=r"$m_{hyp}$ [GeV]", ylabel="ROC AUC (oriented, physics weights)",
                  xscale="log")  # fmt: skip
        for a in ax:
            a.legend()
            a.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(outdir / "significance_auc_vs_mass.png", dpi=110)
        plt.close(fig)
        written.append("significance_auc_vs_mass.png")
    reg = report.get("regression", {}).get("mass_regressor")
    if reg:
        ms = [float(k) for k in reg]
        fig, ax = plt.subplots(figsize=(6, 4.2))
        ax.errorbar(
            ms, [reg[k]["bias"] for k in reg], yerr=[reg[k]["resolution"] for k in reg], fmt="o"
        )
        ax.axhline(0, color="k", lw=0.8)
        ax.set(
            xlabel=r"true $m_N$ [GeV]",
            ylabel=r"$(m^{reg}-m^{true})/m^{true}$: median ± 68 % half-width",
            xscale="log",
        )
        fig.tight_layout()
        fig.savefig(outdir / "mass_regression_residuals.png", dpi=110)
        plt.close(fig)
        written.append("mass_regression_residuals.png")
    bb = report.get("regression", {}).get("backbone")
    if bb:
        names = list(bb["targets"])
        fig, ax = plt.subplots(figsize=(max(8, len(names) * 0.12), 4))
        ax.bar(range(len(names)), [bb["targets"][n]["resolution"] for n in names])
        ax.set_xticks(range(len(names)), names, rotation=90, fontsize=5)
        ax.set(ylabel="residual 68 % half-width (E_tot: relative)")
        fig.tight_layout()
        fig.savefig(outdir / "backbone_residuals.png", dpi=110)
        plt.close(fig)
        written.append("backbone_residuals.png")
    return written


def _clean(obj):  # NaN → None for strict JSON
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, float | np.floating):
        return None if not np.isfinite(obj) else float(obj)
    if isinstance(obj, np.integer | np.bool_):
        return obj.item()
    return obj


def write_comparison_summary(comparison: dict, path: str | Path) -> Path:
    """The comparison's verdict next to the model artifacts (``comparison.json``): best
    discriminant overall and per mass hypothesis, channel-combined Z with its statistical
    error at the reference luminosity. ``datacard_discriminant: auto`` reads it."""
    z = {
        name: {k: [round(v["z"], 4), round(v["error"], 4)] for k, v in t["combined"].items()}
        for name, t in comparison["significance"].items()
    }
    summary = {
        "best": comparison["best"],
        "reference_luminosity": comparison["reference_luminosity"],
        "luminosity_fb": comparison["luminosity_fb"],
        "z_combined_and_error": z,
        "events": {k: v for k, v in comparison.get("events", {}).items() if k != "sample"},
    }
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(_clean(summary), indent=1) + "\n")
    return out


def write_report(report: dict, outdir: str | Path, masses: Sequence[float]) -> Path:
    """Write ``report.json`` and the PNG plots into ``outdir``; returns the JSON path."""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    report = dict(report)
    report["plots"] = _plot(report, out, masses)
    path = out / "report.json"
    path.write_text(json.dumps(_clean(report), indent=1) + "\n")
    return path
