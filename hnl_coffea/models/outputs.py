"""What the analysis asks of its networks for one chunk: scores, regressed mass and, on
request, Monte-Carlo-dropout means and standard deviations.

:func:`evaluate_models` runs every configured :class:`~hnl_coffea.models.ModelRunner` on the
feature record of the selected events and returns the arrays keyed by the histogram they
fill (``score_parametric``, ``score_transfer``, ``mass_regression``), so that the processor
only passes them on to :mod:`hnl_coffea.histograms`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .inference import ModelRunner

__all__ = ["CLASSIFIERS", "ModelOutputs", "evaluate_models", "score_hist"]

#: The classifier models of the analysis config (``models.<name>``).
CLASSIFIERS = ("parametric", "transfer")


def score_hist(model: str) -> str:
    """Name of the score histogram of classifier ``model`` (``score_<model>``)."""
    return f"score_{model}"


@dataclass
class ModelOutputs:
    """Per-event network outputs of one chunk.

    ``values``: per-event variables, (n,) (``mass_regression`` in GeV); ``scores``: score
    histogram name → (n, H) scores at the H mass hypotheses; ``mc``: output histogram name →
    (mean, std) of the Monte-Carlo-dropout passes, each (n, H) for a score and (n,) for
    ``mass_regression``.
    """

    values: dict[str, np.ndarray] = field(default_factory=dict)
    scores: dict[str, np.ndarray] = field(default_factory=dict)
    mc: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


def evaluate_models(
    runners: Mapping[str, ModelRunner],
    features: Any,
    channel: np.ndarray,
    charges: np.ndarray,
    masses: Sequence[float],
    *,
    mc_passes: int = 0,
    mc_models: Sequence[str] = CLASSIFIERS,
) -> ModelOutputs:
    """Evaluate ``runners`` (config name → runner) on one chunk's selected events.

    Classifiers give scores at every mass hypothesis of ``masses``; with ``mc_passes`` > 0
    the models named in ``mc_models`` are also evaluated with dropout active
    (``mc_passes`` stochastic passes per event; a model without dropout is refused by its
    runner with a clear error).
    """
    out = ModelOutputs()
    for name, runner in runners.items():
        if name not in CLASSIFIERS:
            out.values[name] = runner.regress(features)
            if mc_passes > 0 and name in mc_models:
                out.mc[name] = runner.regress_mc(features, n_passes=mc_passes)
            continue
        key = score_hist(name)
        out.scores[key] = runner.scores(features, channel, charges, masses)
        if mc_passes > 0 and name in mc_models:
            out.mc[key] = runner.scores_mc(features, channel, charges, masses, n_passes=mc_passes)
    return out
