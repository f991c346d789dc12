"""The model comparison of the training report: MT_total, the parametric DNN and the transfer
model, compared honestly.

* **Orientation**: every discriminant is oriented per mass hypothesis on the *validation*
  split of the training sample (signal-like = high if its unweighted AUC there is ≥ 0.5,
  else the discriminant is mirrored), then applied unchanged to the evaluation events — so
  MT_total at low mass (signal at *low* MT_total) is not reported as an AUC below 0.5.
* **ROC AUC** of the oriented discriminants, physics-weighted and unweighted.
* **Expected significance** per mass hypothesis and channel: binned S/√B with the adaptive
  binning of the postprocessing (the config's scheme and ``max_rel_unc``) on the config's
  fine histogram of the oriented discriminant, channels combined in quadrature, at the
  luminosity of Run 2 (the sum of the config's Run-2 eras) and of every other run the
  config declares. The binning criterion is invariant under a common weight scale, so Z
  scales exactly as √L between luminosities.
* **Statistical error** of every Z from a Poisson bootstrap of the evaluation events, with
  the binning redone in every replica (``error``: the spread of the whole procedure) and
  with the nominal bins kept (``error_fixed_bins``: the MC statistical error of the
  templates); differences and ratios between discriminants use the paired replicas, so
  their errors account for the shared events.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..config import AnalysisConfig
from ..postprocessing.binning import constant_signal_edges, increasing_signal_edges
from ..postprocessing.significance import s_over_sqrt_b
from .metrics import weighted_auc

__all__ = [
    "DISCRIMINANTS",
    "EvalEvents",
    "luminosities",
    "orientations",
    "compare",
]

#: Discriminant name → datacard histogram name.
DISCRIMINANTS = {
    "mt_total": "mt_total",
    "parametric": "score_parametric",
    "transfer": "score_transfer",
}
#: Verdict threshold: a difference counts when it exceeds this many standard deviations.
N_SIGMA = 2.0


@dataclass
class EvalEvents:
    """Events with every discriminant evaluated at every mass hypothesis."""

    channel: np.ndarray  # (n,) channel index
    is_signal: np.ndarray  # (n,) bool
    m_true: np.ndarray  # (n,) generated HNL mass, NaN for background
    weight: np.ndarray  # (n,) physics weight at 1 fb⁻¹
    scores: dict[str, np.ndarray]  # discriminant → (n,) or (n, H)

    def score(self, name: str, k: int) -> np.ndarray:
        s = self.scores[name]
        return s if s.ndim == 1 else s[:, k]

    def at_mass(self, m: float) -> tuple[np.ndarray, np.ndarray]:
        """(events used, signal label) at hypothesis m: signal generated at m, all background."""
        sig = self.is_signal & np.isclose(self.m_true, m)
        return sig | ~self.is_signal, sig


def luminosities(cfg: AnalysisConfig) -> dict[str, float]:
    """Integrated luminosity per LHC run declared by the config's eras (fb⁻¹), Run 2 first."""
    runs: dict[int, float] = {}
    for era in cfg.eras.values():
        runs[era.run] = runs.get(era.run, 0.0) + era.luminosity_fb
    order = sorted(runs, key=lambda r: (r != 2, r))
    return {f"Run {r}": round(runs[r], 3) for r in order}


def orientations(val: EvalEvents, masses: Sequence[float]) -> dict[str, dict[str, int]]:
    """+1 (signal-like = high) or −1 per discriminant and mass hypothesis, from the unweighted
    AUC on validation events (never on the events the comparison is made on)."""
    out: dict[str, dict[str, int]] = {}
    for name in val.scores:
        out[name] = {}
        for k, m in enumerate(masses):
            use, label = val.at_mass(m)
            auc = weighted_auc(val.score(name, k)[use], label[use])
            out[name][f"{m:g}"] = 1 if not auc < 0.5 else -1
    return out


def _fine_edges(name: str, cfg: AnalysisConfig) -> np.ndarray:
    b = cfg.histograms.mt_total if name == "mt_total" else cfg.histograms.score
    return np.linspace(b.start, b.stop, b.bins + 1)


def _fine_index(values: np.ndarray, sign: int, fine: np.ndarray) -> np.ndarray:
    """Fine-bin index of the oriented values (mirrored in the histogram range for sign −1;
    values outside the range go to the first / last bin, as the analysis fills them)."""
    v = values if sign > 0 else fine[0] + fine[-1] - values
    idx = np.searchsorted(fine, v, side="right") - 1
    return np.clip(idx, 0, len(fine) - 2)


class _Category:
    """One (discriminant, mass, channel): fine-bin indices of its signal and background."""

    def __init__(self, idx: np.ndarray, sig: np.ndarray, bkg: np.ndarray, nfine: int) -> None:
        self.sig, self.bkg = np.flatnonzero(sig), np.flatnonzero(bkg)
        self.i_sig, self.i_bkg = idx[self.sig], idx[self.bkg]
        self.nfine = nfine

    def z(
        self, w: np.ndarray, fine: np.ndarray, cfg: AnalysisConfig, cut: np.ndarray | None = None
    ) -> tuple[float, np.ndarray]:
        """Z with the adaptive binning chosen on ``w`` (or with the fixed bins ``cut``: the
        fine-bin index where each bin starts); returns Z and the bin starts."""
        ws, wb = w[self.sig], w[self.bkg]
        n = self.nfine
        s, b = np.bincount(self.i_sig, ws, n), np.bincount(self.i_bkg, wb, n)
        if cut is None:
            sv, bv = np.bincount(self.i_sig, ws * ws, n), np.bincount(self.i_bkg, wb * wb, n)
            pp = cfg.postprocessing
            increasing = pp.binning_scheme == "increasing"
            scheme = increasing_signal_edges if increasing else constant_signal_edges
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                edges = scheme(s, sv, b, bv, fine, max_rel_unc=pp.max_rel_unc,
                               require_signal=pp.require_signal)  # fmt: skip
            cut = np.searchsorted(fine, edges[:-1])
        return s_over_sqrt_b(np.add.reduceat(s, cut), np.add.reduceat(b, cut)), cut


def _summary(z0: float, boot: np.ndarray, boot_fixed: np.ndarray) -> dict[str, float]:
    """Z, its bootstrap error with the binning redone in every replica (``error``), and
    with the bins fixed to the nominal ones (``error_fixed_bins``: the MC statistical
    error of the templates alone)."""
    err = float(np.std(boot, ddof=1)) if len(boot) > 1 else float("nan")
    fixed = float(np.std(boot_fixed, ddof=1)) if len(boot_fixed) > 1 else float("nan")
    rel = err / z0 if z0 > 0 else float("nan")
    return {"z": float(z0), "error": err, "rel_error": rel, "error_fixed_bins": fixed,
            "rel_error_fixed_bins": fixed / z0 if z0 > 0 else float("nan")}  # fmt: skip


def _pair(a0: float, b0: float, a: np.ndarray, b: np.ndarray) -> dict:
    """Difference and ratio of two discriminants' Z with paired-bootstrap errors."""
    ratio = a / np.where(b > 0, b, np.nan)
    d_err = float(np.std(a - b, ddof=1)) if len(a) > 1 else float("nan")
    r0 = a0 / b0 if b0 > 0 else float("nan")
    r_err = float(np.nanstd(ratio, ddof=1)) if len(a) > 1 else float("nan")
    diff = a0 - b0
    verdict = "compatible"
    if np.isfinite(d_err) and abs(diff) > N_SIGMA * d_err:
        verdict = "better" if diff > 0 else "worse"
    return {"diff": diff, "diff_error": d_err, "ratio": r0, "ratio_error": r_err,
            "verdict": verdict}  # fmt: skip


def compare(
    events: EvalEvents,
    signs: Mapping[str, Mapping[str, int]],
    masses: Sequence[float],
    cfg: AnalysisConfig,
    *,
    n_boot: int = 40,
    seed: int = 0,
    high_mass_from: float = 400.0,
) -> dict:
    """The comparison tables (see the module docstring) as a JSON-compatible dict."""
    lumis = luminosities(cfg)
    ref_name, ref_lumi = next(iter(lumis.items()))
    channels = cfg.channel_names
    rng = np.random.default_rng(seed)
    w0 = events.weight * ref_lumi
    replicas = [w0 * rng.poisson(1.0, len(w0)) for _ in range(n_boot)]
    keys = [f"{m:g}" for m in masses]
    auc: dict = {}
    sig_tab: dict = {}
    zs: dict[tuple[str, str], tuple[float, np.ndarray]] = {}  # combined Z and its replicas
    for name in events.scores:
        fine = _fine_edges(name, cfg)
        auc[name] = {"physics": {}, "unweighted": {}}
        per_ch = {ch: {} for ch in channels}
        combined, n_bins = {}, {ch: {} for ch in channels}
        for k, m in enumerate(masses):
            key = keys[k]
            sign = signs[name][key]
            use, label = events.at_mass(m)
            v = sign * events.score(name, k)
            auc[name]["physics"][key] = weighted_auc(v[use], label[use], events.weight[use])
            auc[name]["unweighted"][key] = weighted_auc(v[use], label[use])
            idx = _fine_index(events.score(name, k), sign, fine)
            z0 = np.zeros(len(channels))
            zb, zf = np.zeros((n_boot, len(channels))), np.zeros((n_boot, len(channels)))
            for c, ch in enumerate(channels):
                in_ch = events.channel == c
                cat = _Category(idx, label & in_ch, ~events.is_signal & in_ch, len(fine) - 1)
                z0[c], cut = cat.z(w0, fine, cfg)
                n_bins[ch][key] = len(cut)
                zb[:, c] = [cat.z(w, fine, cfg)[0] for w in replicas]
                zf[:, c] = [cat.z(w, fine, cfg, cut)[0] for w in replicas]
                per_ch[ch][key] = _summary(z0[c], zb[:, c], zf[:, c])
            zc0, zcb = float(np.sqrt(np.sum(z0**2))), np.sqrt(np.sum(zb**2, axis=1))
            combined[key] = _summary(zc0, zcb, np.sqrt(np.sum(zf**2, axis=1)))
            zs[(name, key)] = (zc0, zcb)
        sig_tab[name] = {"combined": combined, "per_channel": per_ch, "n_bins": n_bins}
    pairs = {}
    for a, b in (("parametric", "mt_total"), ("transfer", "parametric"), ("transfer", "mt_total")):
        if a in events.scores and b in events.scores:
            pairs[f"{a}_vs_{b}"] = {k: _pair(*zs[(a, k)][:1], *zs[(b, k)][:1], zs[(a, k)][1],
                                             zs[(b, k)][1]) for k in keys}  # fmt: skip
    best_by_mass = {k: max(events.scores, key=lambda n: zs[(n, k)][0]) for k in keys}
    total = {n: float(np.sum([zs[(n, k)][0] ** 2 for k in keys])) for n in events.scores}
    best = max(total, key=total.get)
    combined_all = [v for t in sig_tab.values() for v in t["combined"].values()]
    worst_err = max(v["rel_error"] for v in combined_all)
    worst_fixed = max(v["rel_error_fixed_bins"] for v in combined_all)
    return {
        "luminosity_fb": lumis,
        "reference_luminosity": ref_name,
        "z_scaling": "Z(L) = Z(reference) × sqrt(L / L_reference) for every luminosity",
        "orientation": {n: dict(s) for n, s in signs.items()},
        "auc": auc,
        "significance": sig_tab,
        "pairs": pairs,
        "bootstrap_replicas": n_boot,
        "max_rel_error_combined": worst_err,
        "max_rel_error_combined_fixed_bins": worst_fixed,
        "best": {
            "by_mass": {k: DISCRIMINANTS.get(v, v) for k, v in best_by_mass.items()},
            "overall": DISCRIMINANTS.get(best, best),
            "overall_criterion": "largest sum over mass hypotheses of Z² (channels combined)",
        },
        "claims": _claims(pairs, keys, masses, high_mass_from),
    }


def _claims(pairs: dict, keys: list[str], masses: Sequence[float], high_from: float) -> dict:
    """The seed study's two claims, checked mass by mass with the paired errors."""
    out: dict = {}
    p = pairs.get("parametric_vs_mt_total")
    if p:
        better = [k for k in keys if p[k]["verdict"] == "better"]
        worse = [k for k in keys if p[k]["verdict"] == "worse"]
        out["dnn_beats_mt_total"] = {
            "better_at": better, "worse_at": worse,
            "holds": len(better) == len(keys),
            "summary": f"parametric DNN vs MT_total: significantly better at {len(better)} of "
                       f"{len(keys)} mass hypotheses, worse at {len(worse)}",
        }  # fmt: skip
    t = pairs.get("transfer_vs_parametric")
    if t:
        hi = [k for k, m in zip(keys, masses) if m >= high_from]
        lo = [k for k, m in zip(keys, masses) if m < high_from]
        worse = [k for k in keys if t[k]["verdict"] == "worse"]
        better = [k for k in keys if t[k]["verdict"] == "better"]
        mean_hi = float(np.mean([t[k]["ratio"] for k in hi])) if hi else float("nan")
        mean_lo = float(np.mean([t[k]["ratio"] for k in lo])) if lo else float("nan")
        out["transfer_matches_or_beats_dnn"] = {
            "better_at": better, "worse_at": worse, "holds": not worse,
            "mean_ratio_low_mass": mean_lo, "mean_ratio_high_mass": mean_hi,
            "high_mass_from_gev": high_from,
            "summary": f"transfer vs parametric DNN: significantly better at {len(better)}, "
                       f"worse at {len(worse)} of {len(keys)} mass hypotheses; mean "
                       f"Z ratio {mean_lo:.3f} below and {mean_hi:.3f} from {high_from:g} GeV",
        }  # fmt: skip
    return out
