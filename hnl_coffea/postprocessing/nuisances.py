"""Nuisance names and log-normal uncertainties shared by the datacards and the limits.

Across eras, a nuisance is fully correlated when its name matches one of
``postprocessing.correlated_across_eras`` (shell patterns, e.g. ``norm_*``); every other
one gets the era as suffix (``tauID`` → ``tauID_2018``), so that cards of several eras
combined with ``combineCards.py`` or the combined card treat it as independent per era.
The luminosity uncertainty of an era is split into its configured parts
(``eras.<era>.luminosity_uncertainties``): a part shared by several eras is one nuisance
correlated between them (the CMS LUM POG scheme).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

from ..config import AnalysisConfig

__all__ = ["era_nuisance", "lnn_uncertainties"]


def era_nuisance(name: str, era: str, cfg: AnalysisConfig) -> str:
    """The card name of nuisance ``name`` in ``era`` (see the module docstring)."""
    patterns = cfg.postprocessing.correlated_across_eras
    if any(fnmatch.fnmatchcase(name, p) for p in patterns):
        return name
    return f"{name}_{era}"


def lnn_uncertainties(
    cfg: AnalysisConfig, era: str, signal: str, backgrounds: Iterable[str]
) -> dict[str, dict[str, float]]:
    """``{nuisance: {process: relative uncertainty}}`` of the log-normal nuisances of one era:
    the luminosity parts on every process, and one normalisation per background."""
    pp = cfg.postprocessing
    backgrounds = list(backgrounds)
    out: dict[str, dict[str, float]] = {}
    for name, unc in cfg.eras[era].luminosity_uncertainties.items():
        out[name] = {p: unc for p in (signal, *backgrounds)}
    for b in backgrounds:
        unc = pp.norm_uncertainties.get(b, pp.default_norm_uncertainty)
        if unc > 0:
            out[era_nuisance(f"norm_{b}", era, cfg)] = {b: unc}
    return out
