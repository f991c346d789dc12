"""Every histogram hnl-coffea fills, declared in one place.

All histograms share the categorical axes ``dataset``, ``region``, ``channel`` and
``systematic`` (growing string categories: nothing is hard-coded per channel or region);
classifier scores add an ``mhyp`` axis with the configured HNL mass hypotheses. Storage is
``Weight`` (sum of weights and sum of squared weights) so postprocessing can compute
statistical uncertainties.

Histogram names (keys of the processor's ``"hists"`` accumulator):

* ``score_parametric``, ``score_transfer`` — classifier score per mass hypothesis
* ``mass_regression`` — regressed HNL mass
* ``mt_total`` — MT_total
* ``feature_<name>`` — the configured feature histograms
"""

from __future__ import annotations

import hist
import numpy as np

from .config import AnalysisConfig, Binning

__all__ = [
    "NOMINAL",
    "SCORE_HISTS",
    "book_histograms",
    "category_axes",
    "fill_entries",
    "in_score_range",
    "variable_axis",
]

NOMINAL = "nominal"
SCORE_HISTS = ("score_parametric", "score_transfer")


def category_axes(with_mhyp: bool, mass_hypotheses: tuple[float, ...] = ()) -> list:
    """The categorical axes every histogram carries (mhyp only for classifier scores)."""
    axes = [
        hist.axis.StrCategory([], name="dataset", growth=True, label="Dataset"),
        hist.axis.StrCategory([], name="region", growth=True, label="Region"),
        hist.axis.StrCategory([], name="channel", growth=True, label="Channel"),
    ]
    if with_mhyp:
        axes.append(
            hist.axis.IntCategory(
                [int(m) for m in mass_hypotheses], name="mhyp", label=r"$m_{hyp}$ [GeV]"
            )
        )
    axes.append(hist.axis.StrCategory([], name="systematic", growth=True, label="Systematic"))
    return axes


def variable_axis(name: str, binning: Binning) -> hist.axis.Regular:
    """A regular axis for one variable, from a configured binning."""
    return hist.axis.Regular(
        binning.bins, binning.start, binning.stop, name=name, label=binning.label or name
    )


def book_histograms(cfg: AnalysisConfig) -> dict[str, hist.Hist]:
    """Empty histograms for one chunk, with all axes declared from the configuration."""
    h = cfg.histograms
    out: dict[str, hist.Hist] = {}
    for name in SCORE_HISTS:
        out[name] = hist.Hist(
            *category_axes(True, cfg.mass_hypotheses),
            variable_axis("score", h.score),
            storage=hist.storage.Weight(),
        )
    out["mass_regression"] = hist.Hist(
        *category_axes(False),
        variable_axis("mass", h.mass_regression),
        storage=hist.storage.Weight(),
    )
    out["mt_total"] = hist.Hist(
        *category_axes(False), variable_axis("mt_total", h.mt_total), storage=hist.storage.Weight()
    )
    for feat, binning in h.features.items():
        out[f"feature_{feat}"] = hist.Hist(
            *category_axes(False), variable_axis(feat, binning), storage=hist.storage.Weight()
        )
    return out


def _cat(values, n: int) -> np.ndarray:
    """A category column: a scalar broadcast to ``n`` entries, or an array as given."""
    if isinstance(values, str):
        return np.full(n, values, dtype=object)
    return np.asarray(values)


def fill_entries(
    h: hist.Hist,
    *,
    value: np.ndarray,
    weight: np.ndarray,
    dataset: str,
    systematic: str,
    region: np.ndarray,
    channel: np.ndarray,
    mhyp: np.ndarray | None = None,
) -> None:
    """Fill one histogram in a single call (all regions, channels and hypotheses at once).

    ``region`` and ``channel`` are per-entry label arrays; ``value``/``weight`` per entry.
    """
    n = len(value)
    if n == 0:
        return
    cats = {
        "dataset": _cat(dataset, n),
        "region": region,
        "channel": channel,
        "systematic": _cat(systematic, n),
    }
    if mhyp is not None:
        cats["mhyp"] = mhyp
    var = h.axes[-1].name
    h.fill(**cats, **{var: in_score_range(value) if var == "score" else value}, weight=weight)


def in_score_range(score: np.ndarray) -> np.ndarray:
    """Scores with 1.0 moved just below it: a float32 sigmoid saturates at exactly 1.0 for
    confident events, which a [0, 1) axis would put into the overflow bin, where the
    adaptive binning and the datacards do not look."""
    return np.minimum(np.asarray(score, dtype=np.float64), np.nextafter(1.0, 0.0))


def region_entries(regions: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Row indices and region labels for filling: one entry per (event, region it is in).

    ``regions`` maps region name → boolean mask over the same rows.
    """
    idx = [np.flatnonzero(np.asarray(m)) for m in regions.values()]
    labels = [np.full(len(i), name, dtype=object) for name, i in zip(regions, idx)]
    if not idx:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=object)
    return np.concatenate(idx), np.concatenate(labels)
