"""Pseudo-experiment templates from the processor output, and the JSON + plot report.

:func:`templates_from_output` turns the classifier-score histograms of ``hnl-coffea run``
into :class:`~hnl_coffea.postprocessing.pseudoexperiments.Templates`: simulated datasets are
normalised to ``xsec × 1000 × L / Σw``, summed into background and per-mass signal, each
(channel, m_hyp) score histogram is merged into at most ``n_bins`` bins of equal background
(pass ``rebin=`` to use another binning, e.g. the adaptive one), the systematic variations
``<name>Up``/``<name>Down`` become shape nuisances, the background normalisation
uncertainties of ``cfg.postprocessing`` become shape nuisances acting on their process and
the luminosity uncertainty of the era a log-normal nuisance on all simulated background.
:func:`run_pseudoexperiments` throws the toys and writes ``toys.json`` and the plots; the
local fits profile every nuisance acting on a scan point (``profile=False``: background fixed
at its nominal template), and the report says which (``nuisances_thrown``,
``nuisances_profiled``) and how many fits needed the scalar fallback or failed (``fits``).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from ..config import AnalysisConfig
from ..histograms import NOMINAL
from . import pseudoexperiments as pe
from .normalise import dataset_scale

__all__ = [
    "equal_background_groups",
    "plot_max_z",
    "plot_pvalues",
    "run_pseudoexperiments",
    "templates_from_output",
]

#: (background, signal) of one fine histogram → start indices of the merged bins
RebinHook = Callable[[np.ndarray, np.ndarray], np.ndarray]
_AXES = ("dataset", "region", "channel", "mhyp", "systematic")


def equal_background_groups(background: np.ndarray, n_bins: int = 10) -> np.ndarray:
    """Start indices (for ``np.add.reduceat``) of ≤ ``n_bins`` merged bins of equal background.

    Bins are closed from the high-score end once they hold ``total / n_bins`` background;
    leading fine bins without background are merged into the first bin.
    """
    b = np.clip(np.asarray(background, dtype=float), 0, None)
    total = b.sum()
    if total <= 0:
        raise ValueError("cannot rebin a histogram without background")
    target = total / n_bins
    starts, acc = [], 0.0
    for i in range(b.size - 1, -1, -1):
        acc += b[i]
        if acc >= target * (1 - 1e-9) and acc > 0:
            starts.append(i)
            acc = 0.0
    if not starts:
        return np.array([0])
    starts = sorted(starts)
    if acc > 0 and len(starts) > 1:  # leftover low-score background: merge into the first bin
        starts = starts[1:]
    starts[0] = 0
    return np.array(starts)


def _values(output: Mapping[str, Any], hist_name: str, region: str) -> tuple[np.ndarray, Any]:
    hists = output.get("hists", {})
    if hist_name not in hists:
        raise ValueError(f"histogram {hist_name!r} not in the output; have: {', '.join(hists)}")
    h = hists[hist_name]
    names = tuple(h.axes.name)
    missing = [a for a in _AXES if a not in names]
    if missing:
        raise ValueError(f"histogram {hist_name!r} lacks axes {missing}; has {list(names)}")
    if region not in list(h.axes["region"]):
        raise ValueError(f"region {region!r} not filled in {hist_name!r}: {list(h.axes['region'])}")
    h = h[{"region": region}]
    order = [h.axes.name.index(a) for a in (*_AXES[:1], *_AXES[2:])] + [h.ndim - 1]
    return np.transpose(h.values(), order), h


def templates_from_output(
    output: Mapping[str, Any],
    cfg: AnalysisConfig,
    *,
    hist_name: str = "score_parametric",
    region: str | None = None,
    n_bins: int = 10,
    rebin: RebinHook | None = None,
    combinations: Sequence[tuple[str, ...]] | None = None,
    unblind: bool = False,
) -> tuple[pe.Templates, np.ndarray | None, list[dict]]:
    """Templates, observed counts (None without data or while blinded) and bin blocks."""
    region = region or cfg.postprocessing.signal_region
    vals, h = _values(output, hist_name, region)  # (D, C, M, S, X)
    datasets, channels = list(h.axes["dataset"]), list(h.axes["channel"])
    mhyps, systs = [float(m) for m in h.axes["mhyp"]], list(h.axes["systematic"])
    if NOMINAL not in systs:
        raise ValueError(f"histogram {hist_name!r} has no {NOMINAL!r} systematic")
    metas = output.get("datasets", {})
    unknown = [d for d in datasets if d not in metas]
    if unknown:
        raise ValueError(f"datasets {unknown} have no metadata in output['datasets']")
    sumws = output.get("sumw", {}) or {}
    scales = np.array([dataset_scale(d, metas[d], sumws.get(d), cfg) for d in datasets])
    scaled = vals * scales[:, None, None, None, None]
    is_data = np.array([bool(metas[d].get("is_data")) for d in datasets])
    is_sig = np.array([bool(metas[d].get("is_signal")) for d in datasets]) & ~is_data
    is_bkg = ~is_data & ~is_sig
    sig_mass = np.array([metas[d].get("m_hnl") or np.nan for d in datasets], dtype=float)
    masses = [m for m in mhyps if np.any(is_sig & np.isclose(sig_mass, m))]
    if not masses:
        raise ValueError("no signal dataset matches a mass hypothesis of the mhyp axis")
    if not is_bkg.any():
        raise ValueError("no background (simulated, non-signal) dataset in the output")
    nom = systs.index(NOMINAL)
    sig = np.stack([scaled[is_sig & np.isclose(sig_mass, m)].sum(axis=0) for m in masses])
    blinded = region in cfg.blinded_regions and not unblind
    data = None if blinded or not is_data.any() else vals[is_data].sum(axis=0)[:, :, nom]
    processes = sorted({metas[d].get("process", d) for d in np.array(datasets)[is_bkg]})
    # a process cannot contribute a negative yield (negative generator weights): clipped per
    # bin, as in the binned templates and datacards of the postprocessing
    proc_bkg = {
        p: np.clip(
            scaled[is_bkg & np.array([metas[d].get("process", d) == p for d in datasets])].sum(0),
            0,
            None,
        )
        for p in processes
    }
    bkg = sum(proc_bkg.values())  # (C, M, S, X)
    shapes = sorted(
        s[:-2] for s in systs if s.endswith("Up") and f"{s[:-2]}Down" in systs and s != NOMINAL
    )
    norms = {
        p: cfg.postprocessing.norm_uncertainties.get(p, cfg.postprocessing.default_norm_uncertainty)
        for p in processes
    }
    norms = {p: k for p, k in norms.items() if k > 0}
    cols: dict[str, list] = {k: [] for k in ("b", "s", "obs", "ch", "m", "up", "down")}
    blocks = []
    for (ci, ch), (mi, m) in _pairs(channels, mhyps, masses):
        b_fine = bkg[ci, mi, nom]
        if b_fine.sum() <= 0:
            warnings.warn(f"no background in {ch} at m_hyp={m:g}: left out", stacklevel=2)
            continue
        s_fine = sig[masses.index(m), ci, mi, nom]
        starts = (rebin or (lambda b, s: equal_background_groups(b, n_bins)))(b_fine, s_fine)

        def merge(a: np.ndarray, starts=starts) -> np.ndarray:
            return np.add.reduceat(a, starts, axis=-1)

        b = merge(b_fine)
        if np.any(b <= 0):
            raise ValueError(f"rebinned background of {ch} at m_hyp={m:g} has empty bins")
        cols["b"].append(b)
        cols["s"].append(np.clip(merge(sig[:, ci, mi, nom]), 0, None))
        cols["obs"].append(None if data is None else merge(data[ci, mi]))
        cols["ch"] += [ch] * b.size
        cols["m"] += [masses.index(m)] * b.size
        up, down = [], []
        for name in shapes:
            u = merge(bkg[ci, mi, systs.index(f"{name}Up")])
            d = merge(bkg[ci, mi, systs.index(f"{name}Down")])
            up.append(np.clip(u if u.sum() > 0 else b, 0, None))
            down.append(np.clip(d if d.sum() > 0 else b, 0, None))
        for p, k in norms.items():
            bp = merge(proc_bkg[p][ci, mi, nom])
            up.append(b + k * bp)
            down.append(np.clip(b - k / (1 + k) * bp, 0, None))
        cols["up"].append(np.array(up).reshape(-1, b.size))
        cols["down"].append(np.array(down).reshape(-1, b.size))
        blocks.append({"channel": ch, "mhyp": m, "n_bins": int(b.size), "starts": starts.tolist()})
    if not blocks:
        raise ValueError(f"no (channel, m_hyp) histogram of {hist_name!r} has background")
    background = np.concatenate(cols["b"])
    kappa = 1.0 + cfg.era_config.luminosity_uncertainty
    templates = pe.Templates(
        background=background,
        signal=np.concatenate(cols["s"], axis=1),
        masses=np.array(masses),
        bin_channel=np.array(cols["ch"]),
        bin_mass=np.array(cols["m"]),
        shape_names=tuple(shapes) + tuple(f"norm_{p}" for p in norms),
        shape_up=np.concatenate(cols["up"], axis=1),
        shape_down=np.concatenate(cols["down"], axis=1),
        lnn_names=("lumi",),
        lnn_up=np.full((1, background.size), kappa),
        lnn_down=np.full((1, background.size), 1.0 / kappa),
        combinations=None if combinations is None else tuple(map(tuple, combinations)),
    )
    observed = None if data is None else np.concatenate(cols["obs"])
    return templates, observed, blocks


def _pairs(channels: list[str], mhyps: list[float], masses: list[float]):
    for ci, ch in enumerate(channels):
        for mi, m in enumerate(mhyps):
            if m in masses:
                yield (ci, ch), (mi, m)


def _quantiles(z: np.ndarray) -> dict[str, float]:
    qs = (0.5, 0.6827, 0.9, 0.95, 0.99)
    return {f"{q:g}": float(v) for q, v in zip(qs, np.quantile(z, qs))}


def _significance_entry(
    z: float, point: int, bkg_only: pe.ScanResult, labels, nuisances: bool
) -> dict:
    """p-values at local significance ``z``; with nuisance draws the local p-value (and so the
    trials factor) comes from the toys at ``point``, else from the asymptotic 1 − Φ(Z)."""
    p_glob = float(pe.global_pvalue(z, bkg_only.max_z))
    p_loc_toys = bkg_only.local_pvalue(z, point)
    tf = pe.trials_factor(z, bkg_only.max_z, p_loc_toys if nuisances else None)
    return {
        "z_local": float(z),
        "combination": labels[point][0],
        "mhyp": labels[point][1],
        "p_local_asymptotic": float(pe.local_pvalue(z)),
        "p_local_toys": p_loc_toys,
        "p_global": p_glob,
        "p_global_upper_limit": p_glob == 0.0,  # beyond the toys: p < 1/n_toys
        "z_global": pe._z_from_p(p_glob, bkg_only.max_z.size),
        # None: too few toys beyond z for this number
        "trials_factor": tf if np.isfinite(tf) and p_glob > 0 else None,
    }


def run_pseudoexperiments(
    output: Mapping[str, Any],
    outdir: str | Path,
    cfg: AnalysisConfig | None = None,
    n_toys: int = 10_000,
    seed: int = 0,
    *,
    inject: tuple[float, float] | None = None,
    n_injection_toys: int = 200,
    nuisances: bool = True,
    profile: bool = True,
    client=None,  # noqa: ANN001 - optional distributed.Client
    plots: bool = True,
    progress: bool = False,
    **template_options: Any,
) -> dict:
    """Background-only toys over the scan; write ``toys.json`` (+ plots) and return the report.

    ``inject=(mu, mhyp)`` also throws ``n_injection_toys`` toys with that signal and reports
    the recovered m_hyp and the local and global significance. ``nuisances`` draws the
    nuisances in the toys, ``profile`` profiles them in every local fit (toys and data).
    ``template_options`` go to :func:`templates_from_output`.
    """
    if cfg is None:
        cfg = AnalysisConfig.model_validate(output["config"])
    templates, observed, blocks = templates_from_output(output, cfg, **template_options)
    bkg_only = pe.run_toys(
        templates, n_toys, seed, nuisances=nuisances, profile=profile, client=client,
        progress=progress,
    )  # fmt: skip
    labels = templates.point_labels
    rep: dict[str, Any] = {
        "n_toys": n_toys,
        "seed": seed,
        "nuisances": list(templates.shape_names + templates.lnn_names) if nuisances else [],
        "nuisances_thrown": bool(nuisances),
        "nuisances_profiled": bool(profile),
        "fits": bkg_only.fit_summary(),
        "n_points": len(labels),
        "points": [{"combination": c, "mhyp": m} for c, m in labels],
        "blocks": blocks,
        "max_z": {
            "mean": float(bkg_only.max_z.mean()),
            "std": float(bkg_only.max_z.std()),
            "quantiles": _quantiles(bkg_only.max_z),
        },
        "reference": {},
    }
    # global p-value and trials factor at reference local significances, at the most
    # sensitive point (the one with the largest expected signal over background)
    ref_point = int(np.argmax([np.sum(s) for s in templates._points["sig"]]))
    for z in (2.0, 3.0, 4.0):
        rep["reference"][f"{z:g}"] = _significance_entry(z, ref_point, bkg_only, labels, nuisances)
    if observed is not None:
        z_obs, _ = pe.local_significance(observed, templates, profile=profile)
        best = int(np.argmax(z_obs[0]))
        rep["observed"] = _significance_entry(
            float(z_obs[0, best]), best, bkg_only, labels, nuisances
        )
    if inject is not None:
        inj = pe.inject_and_recover(
            templates,
            *inject,
            bkg_only,
            n_injection_toys,
            seed + 1,
            nuisances=nuisances,
            profile=profile,
            client=client,
        )
        rep["injected"] = inj.summary()
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    if plots:
        rep["plots"] = [
            str(plot_max_z(bkg_only.max_z, len(labels), outdir / "toys_max_z.png")),
            str(plot_pvalues(bkg_only.max_z, outdir / "toys_pvalue.png")),
        ]
    (outdir / "toys.json").write_text(json.dumps(rep, indent=2, allow_nan=True))
    return rep


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep

    plt.style.use(mplhep.style.CMS)
    fig, ax = plt.subplots(figsize=(9, 7))
    return plt, fig, ax


def plot_max_z(max_z: np.ndarray, n_points: int, path: str | Path) -> Path:
    """Distribution of the maximum local Z with the one-point and independent-points curves."""
    plt, fig, ax = _figure()
    import mplhep

    hi = max(float(max_z.max()) * 1.1, 4.0)
    counts, edges = np.histogram(max_z, bins=40, range=(0, hi))
    width = edges[1] - edges[0]
    mplhep.histplot(counts / (max_z.size * width), edges, ax=ax, label="toys (max over scan)")
    z = np.linspace(1e-3, hi, 400)
    ax.plot(z, stats.norm.pdf(z), "--", label="one point: half-normal")
    cdf_pow = np.exp((n_points - 1) * stats.norm.logcdf(z))
    ax.plot(z, n_points * cdf_pow * stats.norm.pdf(z), ":", label=f"{n_points} independent points")
    ax.set_xlabel("maximum local significance $Z$")
    ax.set_ylabel("probability density")
    ax.legend(fontsize="small")
    mplhep.cms.text("Simulation Preliminary", ax=ax)
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def plot_pvalues(max_z: np.ndarray, path: str | Path) -> Path:
    """Global (toys) and local (asymptotic) p-value versus the local significance."""
    plt, fig, ax = _figure()
    import mplhep

    z = np.linspace(0, max(float(max_z.max()), 4.0), 200)
    p_glob = pe.global_pvalue(z, max_z)
    ok = p_glob > 0
    ax.plot(z[ok], p_glob[ok], label="global (toys)")
    ax.plot(z, pe.local_pvalue(z), "--", label=r"local: $1-\Phi(Z)$")
    ax.set_yscale("log")
    ax.set_ylim(max(0.3 / max_z.size, 1e-7), 1.5)
    ax.set_xlabel("local significance $Z$")
    ax.set_ylabel("p-value")
    ax.legend(fontsize="small")
    mplhep.cms.text("Simulation Preliminary", ax=ax)
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
