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

from .config import AnalysisConfig, Binning

__all__ = ["NOMINAL", "SCORE_HISTS", "book_histograms", "category_axes", "variable_axis"]

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
