"""Event weights and systematic variations through correctionlib.

* :mod:`.normalisation` — σ × L / Σ genWeight and the lnN normalisation uncertainties.
* :mod:`.evaluators` — :class:`CorrectionProvider`: correction files loaded lazily, once
  per worker process, with clear errors and a documented out-of-domain policy.
* :mod:`.names` — which correction (by official POG name) serves which scale factor.
* :mod:`.weights` — per-event scale factors into a coffea ``Weights`` object.
* :mod:`.shifts` — shape variations (τh energy scale, MET unclustered energy, JES, JER).
* :mod:`.make_illustrative` — writes the shipped ILLUSTRATIVE files in ``data/corrections``.
"""

from __future__ import annotations

from .evaluators import CorrectionError, CorrectionProvider
from .normalisation import NormalisationUncertainty, mc_scale, normalisation_uncertainties
from .shifts import (
    SHAPE_SYSTEMATICS,
    ShapeVariation,
    Shifted,
    propagate_to_met,
    shape_variations,
    shift_met,
    shift_taus,
)
from .weights import SCALE_FACTORS, event_weights, weight_variations

__all__ = [
    "CorrectionError",
    "CorrectionProvider",
    "NormalisationUncertainty",
    "SCALE_FACTORS",
    "SHAPE_SYSTEMATICS",
    "ShapeVariation",
    "Shifted",
    "event_weights",
    "mc_scale",
    "normalisation_uncertainties",
    "propagate_to_met",
    "shape_variations",
    "shift_met",
    "shift_taus",
    "weight_variations",
]
