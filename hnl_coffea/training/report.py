"""Quality report of a training: ROC AUCs, binned significance vs mass hypothesis, regression
residuals, and whether the seed analyses' headline holds on this sample. JSON + PNG plots."""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import AnalysisConfig
from ..postprocessing.binning import constant_signal_edges, increasing_signal_edges
from ..postprocessing.significance import combine_channels, s_over_sqrt_b
from .metrics import residual_summary, weighted_auc

__all__ = [
    "TestSample",
    "auc_table",
    "significance_table",
    "mass_regression_summary",
    "backbone_summary",
    "headline",
    "write_report",
]


@dataclass
class TestSample:
    """Test-split events with every discriminant evaluated at every mass hypothesis."""

    channel: np.ndarray  # (n,)
    is_signal: np.ndarray  # (n,) bool
    m_true: np.ndarray  # (n,) NaN for background
    weight: np.ndarray  # (n,) physics weight scaled to the full sample
    scores: dict[str, np.ndarray]  # discriminant → (n, H); "mt_total" is (n,) or (n, H)

    def score(self, name: str, k: int) -> np.ndarray:
        s = self.scores[name]
        return s if s.ndim == 1 else s[:, k]


def _at_mass(sample: TestSample, m: float) -> tuple[np.ndarray, np.ndarray]:
    """(events used, label) at hypothesis m: signal generated at m, all background."""
    sig = sample.is_signal & np.isclose(sample.m_true, m)
    return sig | ~sample.is_signal, sig


def auc_table(
    sample: TestSample, masses: Sequence[float], channels: Sequence[str]
) -> dict[str, dict[str, dict[str, float]]]:
    """``{discriminant: {"all" | channel: {m_hyp: AUC}}}`` (NaN where a class is empty)."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for name in sample.scores:
        table: dict[str, dict[str, float]] = {"all": {}}
        for k, m in enumerate(masses):
            use, label = _at_mass(sample, m)
            s = sample.score(name, k)
            table["all"][f"{m:g}"] = weighted_auc(s[use], label[use], sample.weight[use])
            for c, ch in enumerate(channels):
                inc = use & (sample.channel == c)
                table.setdefault(ch, {})[f"{m:g}"] = weighted_auc(
                    s[inc], label[inc], sample.weight[inc]
                )
        out[name] = table
    return out


def _fine_edges(name: str, cfg: AnalysisConfig) -> np.ndarray:
    b = cfg.histograms.mt_total if name == "mt_total" else cfg.histograms.score
    return np.linspace(b.start, b.stop, b.bins + 1)


def _channel_z(s_val, s_w, b_val, b_w, fine: np.ndarray, cfg: AnalysisConfig) -> tuple[float, int]:
    lo, hi = fine[0], fine[-1]
    s_val, b_val = np.clip(s_val, lo, hi - 1e-9), np.clip(b_val, lo, hi - 1e-9)
    s, _ = np.histogram(s_val, fine, weights=s_w)
    sv, _ = np.histogram(s_val, fine, weights=s_w**2)
    b, _ = np.histogram(b_val, fine, weights=b_w)
    bv, _ = np.histogram(b_val, fine, weights=b_w**2)
    pp = cfg.postprocessing
    scheme = increasing_signal_edges if pp.binning_scheme == "increasing" else constant_signal_edges
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        edges = scheme(
            s, sv, b, bv, fine, max_rel_unc=pp.max_rel_unc, require_signal=pp.require_signal
        )
    s_r, _ = np.histogram(s_val, edges, weights=s_w)
    b_r, _ = np.histogram(b_val, edges, weights=b_w)
    return s_over_sqrt_b(s_r, b_r), len(edges) - 1


def significance_table(
    sample: TestSample, masses: Sequence[float], channels: Sequence[str], cfg: AnalysisConfig
) -> dict[str, dict]:
    """Binned S/√B per channel and mass hypothesis (postprocessing binning scheme of the
    config on the configured fine histogram), channels combined in quadrature; ``n_bins``
    records how many bins the statistical requirement left (1 bin: no shape information)."""
    out: dict[str, dict] = {}
    for name in sample.scores:
        fine = _fine_edges(name, cfg)
        per_channel: dict[str, dict[str, float]] = {ch: {} for ch in channels}
        n_bins: dict[str, dict[str, int]] = {ch: {} for ch in channels}
        combined: dict[str, float] = {}
        for k, m in enumerate(masses):
            use, label = _at_mass(sample, m)
            s = sample.score(name, k)
            zs = []
            for c, ch in enumerate(channels):
                sig = use & label & (sample.channel == c)
                bkg = use & ~label & (sample.channel == c)
                z, nb = _channel_z(
                    s[sig], sample.weight[sig], s[bkg], sample.weight[bkg], fine, cfg
                )
                per_channel[ch][f"{m:g}"] = z
                n_bins[ch][f"{m:g}"] = nb
                zs.append(z)
            combined[f"{m:g}"] = combine_channels(zs)
        out[name] = {"combined": combined, "per_channel": per_channel, "n_bins": n_bins}
    return out


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


def headline(
    significance: Mapping[str, dict], masses: Sequence[float], high_mass_from: float = 400.0
) -> dict:
    """Check the seeds' claims on the combined significances, mass by mass."""
    z = {k: v["combined"] for k, v in significance.items()}
    keys = [f"{m:g}" for m in masses]
    out: dict = {}
    # masses where every discriminant ended with one bin in every channel: Z is the plain
    # S/sqrt(B) of the whole selection, identical for all of them (too few test events)
    single = [
        k
        for k in keys
        if all(max(ch[k] for ch in v["n_bins"].values()) <= 1 for v in significance.values())
    ]
    out["single_bin_masses"] = single
    if "parametric" in z and "mt_total" in z:
        fails = [k for k in keys if not z["parametric"][k] > z["mt_total"][k]]
        out["dnn_beats_mt_total_everywhere"] = not fails
        out["dnn_not_better_than_mt_total_at"] = fails
    if "transfer" in z and "parametric" in z:
        ratio = {
            k: z["transfer"][k] / z["parametric"][k] if z["parametric"][k] > 0 else np.nan
            for k in keys
        }
        high = [k for k, m in zip(keys, masses) if m >= high_mass_from]
        low = [k for k, m in zip(keys, masses) if m < high_mass_from]
        out["transfer_over_dnn_ratio"] = ratio
        out["transfer_at_least_dnn_everywhere"] = all(ratio[k] >= 1 for k in keys)
        out["transfer_below_dnn_at"] = [k for k in keys if not ratio[k] >= 1]
        mean_hi = float(np.nanmean([ratio[k] for k in high])) if high else float("nan")
        mean_lo = float(np.nanmean([ratio[k] for k in low])) if low else float("nan")
        out["transfer_over_dnn_mean_ratio_high_mass"] = mean_hi
        out["transfer_over_dnn_mean_ratio_low_mass"] = mean_lo
        out["transfer_better_at_high_mass"] = bool(mean_hi > 1.0)
        out["high_mass_from_gev"] = high_mass_from
    lines = []
    if single:
        lines.append(
            "no shape information (one bin in every channel, test sample too small) at m_hyp = "
            + ", ".join(single)
            + " GeV"
        )
    if "dnn_beats_mt_total_everywhere" in out:
        lines.append(
            "parametric DNN beats MT_total at every mass hypothesis"
            if out["dnn_beats_mt_total_everywhere"]
            else "parametric DNN does NOT beat MT_total at m_hyp = "
            + ", ".join(out["dnn_not_better_than_mt_total_at"])
            + " GeV"
        )
    if "transfer_at_least_dnn_everywhere" in out:
        lines.append(
            "transfer model ≥ parametric DNN at every mass hypothesis"
            if out["transfer_at_least_dnn_everywhere"]
            else "transfer model below the parametric DNN at m_hyp = "
            + ", ".join(out["transfer_below_dnn_at"])
            + " GeV"
        )
        lines.append(
            f"mean Z(transfer)/Z(DNN): {out['transfer_over_dnn_mean_ratio_low_mass']:.3f} below "
            f"{high_mass_from:g} GeV, {out['transfer_over_dnn_mean_ratio_high_mass']:.3f} from "
            f"{high_mass_from:g} GeV ("
            + ("better" if out["transfer_better_at_high_mass"] else "not better")
            + " at high mass)"
        )
    out["summary"] = lines
    return out


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
    for weighting, entry in report.get("classifiers", {}).items():
        if "significance" not in entry or "auc" not in entry:
            continue
        fig, ax = plt.subplots(1, 2, figsize=(11, 4.2))
        for name, tab in entry["significance"].items():
            ax[0].plot(
                masses, [tab["combined"][k] for k in keys], "o-", label=labels.get(name, name)
            )
        for name, tab in entry["auc"].items():
            ax[1].plot(masses, [tab["all"][k] for k in keys], "o-", label=labels.get(name, name))
        ax[0].set(
            xlabel=r"$m_{hyp}$ [GeV]",
            ylabel=r"binned $S/\sqrt{B}$ (channels combined)",
            xscale="log",
            yscale="log",
        )
        ax[1].set(xlabel=r"$m_{hyp}$ [GeV]", ylabel="ROC AUC (all channels)", xscale="log")
        for a in ax:
            a.legend(title=f"{weighting} weights")
            a.grid(alpha=0.3)
        fig.tight_layout()
        name = f"significance_auc_vs_mass_{weighting}.png"
        fig.savefig(outdir / name, dpi=110)
        plt.close(fig)
        written.append(name)
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


def write_report(report: dict, outdir: str | Path, masses: Sequence[float]) -> Path:
    """Write ``report.json`` and the PNG plots into ``outdir``; returns the JSON path."""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    report = dict(report)
    report["plots"] = _plot(report, out, masses)
    path = out / "report.json"
    path.write_text(json.dumps(_clean(report), indent=1) + "\n")
    return path
