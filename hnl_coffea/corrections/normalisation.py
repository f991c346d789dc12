"""Normalisation of simulated samples and the normalisation (lnN) uncertainties.

A simulated sample is scaled at postprocessing time by ``σ × L / Σ genWeight``, where
``Σ genWeight`` is summed over *all* processed events before any selection (the processor
accumulates it in the same pass), so re-processing part of a sample stays correct.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..config import AnalysisConfig

__all__ = ["NormalisationUncertainty", "mc_scale", "normalisation_uncertainties"]


def mc_scale(xsec_pb: float | None, luminosity_fb: float, sumw: float) -> float:
    """Per-event scale ``σ[pb] × 1000 × L[fb⁻¹] / Σ genWeight`` for a simulated sample.

    Multiply each event's ``genWeight × scale factors`` by this number to get a yield.
    """
    if xsec_pb is None or not math.isfinite(float(xsec_pb)):
        raise ValueError(f"cross section missing or not finite ({xsec_pb!r}); set 'xsec' (pb)")
    if xsec_pb < 0:
        raise ValueError(f"cross section must be >= 0 pb, got {xsec_pb}")
    if not luminosity_fb > 0:
        raise ValueError(f"integrated luminosity must be > 0 fb^-1, got {luminosity_fb}")
    if not sumw > 0 or not math.isfinite(sumw):
        raise ValueError(
            f"sum of generator weights must be > 0, got {sumw} "
            "(no events processed, or negative weights dominate the sample)"
        )
    return float(xsec_pb) * 1000.0 * float(luminosity_fb) / float(sumw)


@dataclass(frozen=True)
class NormalisationUncertainty:
    """A log-normal (``lnN``) uncertainty for combine datacards."""

    name: str
    value: float  # the lnN value, e.g. 1.025 for 2.5 %
    processes: str = "mc"  # "mc": every simulated process (signal and backgrounds)
    kind: str = "lnN"


def normalisation_uncertainties(cfg: AnalysisConfig) -> tuple[NormalisationUncertainty, ...]:
    """Normalisation uncertainties of ``cfg``'s era (today: the luminosity, one lnN per part
    of the LUM POG's split; parts named alike in several eras are correlated between them)."""
    era = cfg.era_config
    return tuple(
        NormalisationUncertainty(name=name, value=round(1.0 + unc, 6))
        for name, unc in era.luminosity_uncertainties.items()
    )
