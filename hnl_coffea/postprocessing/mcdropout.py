"""Template uncertainty of a classifier from Monte-Carlo dropout.

Following the MC-dropout study of DNN uncertainties: with dropout left active at
inference, N stochastic passes per event give a mean score (the final prediction) and a
standard deviation σ, a proxy for the network's own uncertainty on that event. With
``models.mc_dropout_passes`` > 0 the processor fills, per model, ``score_<model>_mc``
(axes ... × systematic × score) whose ``systematic`` axis holds the template of the mean
score (``nominal``) and the templates with every event moved to mean + σ
(``mcdropoutUp``) and mean − σ (``mcdropoutDown``), and ``score_<model>_mcstd``
(σ versus the mean score); with the mass regressor in ``models.mc_dropout_models`` the
same for the regressed mass (``mass_regression_mc``, ``mass_regression_mcstd`` with the
relative σ / mean).

:func:`mc_dropout_uncertainty` turns one adaptively binned category of ``score_<model>_mc``
into the per-bin template uncertainty: the coherent ±1σ shift of all events, a fully
correlated shape variation (conservative: the per-event σ are not independent across
events of the same network). The same two templates are a regular ``mcdropout`` shape
nuisance when ``score_<model>_mc`` is the datacard discriminant. :func:`sigma_profile` is
the weighted mean σ in each mean-score bin (the σ-vs-score figure of the study).
"""

from __future__ import annotations

from dataclasses import dataclass

import hist
import numpy as np

from ..histograms import MC_DOWN, MC_UP, NOMINAL
from .categories import take_categories

__all__ = ["MCDropoutUncertainty", "mc_dropout_uncertainty", "sigma_profile"]


@dataclass(frozen=True)
class MCDropoutUncertainty:
    """Per-bin yields of one process in one category and their MC-dropout uncertainty."""

    nominal: np.ndarray  # mean-score template
    up: np.ndarray  # every event at mean + σ
    down: np.ndarray  # every event at mean − σ

    @property
    def relative(self) -> np.ndarray:
        """max(|up − nominal|, |down − nominal|) / nominal per bin (0 where nominal ≤ 0)."""
        delta = np.maximum(np.abs(self.up - self.nominal), np.abs(self.down - self.nominal))
        out = np.zeros_like(self.nominal)
        good = self.nominal > 0
        out[good] = delta[good] / self.nominal[good]
        return out


def mc_dropout_uncertainty(h: hist.Hist) -> MCDropoutUncertainty:
    """The MC-dropout template uncertainty of a ``score_<model>_mc`` histogram whose only
    axes left are ``systematic`` and the score (e.g. a process of
    :func:`~hnl_coffea.postprocessing.categories.bin_category`)."""
    names = [a.name for a in h.axes]
    if "systematic" not in names or h.ndim != 2:
        raise ValueError(
            f"expected a (systematic, score) histogram of score_<model>_mc, got axes {names}"
        )
    have = set(h.axes["systematic"])
    missing = [s for s in (NOMINAL, MC_UP, MC_DOWN) if s not in have]
    if missing:
        raise ValueError(
            f"histogram has no {', '.join(missing)} variation: fill it with "
            "models.mc_dropout_passes > 0 (score_<model>_mc)"
        )
    values = {s: take_categories(h, systematic=s).values() for s in (NOMINAL, MC_UP, MC_DOWN)}
    return MCDropoutUncertainty(values[NOMINAL], values[MC_UP], values[MC_DOWN])


def sigma_profile(h: hist.Hist) -> tuple[np.ndarray, np.ndarray]:
    """(mean-output bin centres, weighted mean spread per bin; NaN where empty) of an
    MC-dropout spread histogram reduced to its two variable axes: ``score`` and
    ``score_std`` (``score_<model>_mcstd``), or ``mass`` and ``mass_rel_std``
    (``mass_regression_mcstd``, σ / mean)."""
    names = [a.name for a in h.axes]
    if names not in (["score", "score_std"], ["mass", "mass_rel_std"]):
        raise ValueError(
            f"expected axes ['score', 'score_std'] or ['mass', 'mass_rel_std'], got {names}"
        )
    w = h.values()
    sigma = h.axes[1].centers
    total = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(total > 0, (w * sigma).sum(axis=1) / total, np.nan)
    return h.axes[0].centers, mean
