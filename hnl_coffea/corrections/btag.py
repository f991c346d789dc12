"""b-tag scale factors for the b veto: the BTV fixed-working-point method with MC
efficiency maps.

For the selected jets of an event (b-tagged at the era's working point or not),

    w = Π_tagged SF_i × Π_untagged (1 − SF_i ε_i) / (1 − ε_i)

with ε the b-tagging efficiency of simulated jets of the jet's hadron flavour, pT and |η|
(``eras.<era>.btag_efficiency``: a correctionlib file written by
``hnl-coffea btag-efficiency``, :mod:`hnl_coffea.corrections.btag_efficiency`). b and c
jets take ``<algo>_comb``, light jets ``<algo>_incl`` (UL) or ``<algo>_light`` (Run 3,
``eras.<era>.btag.light``). Uncertainties: b/c and light separately; where the BTV file
splits them into ``up_correlated``/``up_uncorrelated`` (correlated between eras or not),
each part is a nuisance (``btagSF_bc_correlated``, ``btagSF_bc_<era>``, ``btagSF_light_…``),
else ``btagSF_bc`` and ``btagSF_light`` from ``up``/``down``. ε is kept inside
[``EPS_MIN``, ``EPS_MAX``] and each untagged factor ≥ 0.
"""

from __future__ import annotations

import warnings
from typing import Any

import awkward as ak
import numpy as np

from ..config import AnalysisConfig
from ..flat import column, per_event_product
from ..paths import data_path
from .evaluators import CorrectionError, CorrectionProvider, _load

__all__ = [
    "EFFICIENCY_NAME",
    "btag_active",
    "btag_factors",
    "btag_sources",
    "btag_variation_names",
]

EFFICIENCY_NAME = "btag_efficiency"
EPS_MIN, EPS_MAX = 1e-4, 1.0 - 1e-4
_HEAVY = (5, 4)


def btag_active(cfg: AnalysisConfig, provider: CorrectionProvider) -> bool:
    """Whether b-tag scale factors apply to this era (switch, BTV file, efficiency map)."""
    if not cfg.corrections.btag_sf or not provider.enabled("btag"):
        return False
    if cfg.era_config.btag_efficiency is None:
        warnings.warn(
            f"era {cfg.era!r}: no b-tag efficiency map (eras.{cfg.era}.btag_efficiency); the "
            "b veto of simulation is not corrected by b-tag scale factors",
            stacklevel=3,
        )
        return False
    return True


def _names(cfg: AnalysisConfig) -> dict[str, str]:
    algo = cfg.era_config.btag
    return {"bc": f"{algo.correction}_comb", "light": f"{algo.correction}_{algo.light}"}


def _wp(cfg: AnalysisConfig) -> str:
    return cfg.objects.jet.btag_wp[0].upper()


def btag_sources(
    cfg: AnalysisConfig, provider: CorrectionProvider
) -> list[tuple[str, str, str, str]]:
    """``(group, modifier, up value, down value)`` of every uncertainty source (group ``bc``
    or ``light``), from the ``systematic`` values the BTV file offers."""
    out = []
    for group, name in _names(cfg).items():
        keys = provider.variation_keys("btag", name, "systematic", {"working_point": _wp(cfg)})
        if {"up_correlated", "down_correlated", "up_uncorrelated", "down_uncorrelated"} <= keys:
            out.append((group, f"{group}_correlated", "up_correlated", "down_correlated"))
            out.append((group, f"{group}_{cfg.era}", "up_uncorrelated", "down_uncorrelated"))
        elif {"up", "down"} <= keys:
            out.append((group, group, "up", "down"))
        else:
            raise CorrectionError(
                f"era {cfg.era!r}: b-tag correction {name!r} ({provider.path('btag')}) offers no "
                f"up/down systematic; it has: {', '.join(sorted(keys))}"
            )
    return out


def btag_variation_names(cfg: AnalysisConfig, provider: CorrectionProvider) -> list[str]:
    """The weight variations the b-tag scale factors add (``btagSF_<modifier>Up/Down``)."""
    if not btag_active(cfg, provider):
        return []
    return [
        f"btagSF_{mod}{d}" for _, mod, _, _ in btag_sources(cfg, provider) for d in ("Up", "Down")
    ]


def _efficiency(cfg: AnalysisConfig, flavour, abseta, pt) -> np.ndarray:
    path = data_path(cfg.era_config.btag_efficiency)
    if not path.is_file():
        raise CorrectionError(
            f"era {cfg.era!r}: b-tag efficiency map not found: {path} (eras.{cfg.era}."
            "btag_efficiency; write one with hnl-coffea btag-efficiency)"
        )
    cset = _load(str(path), path.stat().st_mtime_ns)[0]
    if EFFICIENCY_NAME not in list(cset):
        raise CorrectionError(
            f"{path}: no correction {EFFICIENCY_NAME!r}; it has: {', '.join(cset)}"
        )
    eff = cset[EFFICIENCY_NAME].evaluate(_wp(cfg), flavour, abseta, pt)
    return np.clip(np.asarray(eff, dtype=np.float64), EPS_MIN, EPS_MAX)


def btag_factors(
    jets: Any, cfg: AnalysisConfig, provider: CorrectionProvider, *, variations: bool
) -> tuple[np.ndarray, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Per-event b-tag weight and, per uncertainty modifier, its (up, down) weights.

    ``jets``: the selected jets of each event (jagged) with ``pt``, ``eta``,
    ``hadronFlavour`` and the ``btag`` flag of the b veto.
    """
    counts = np.asarray(ak.num(jets, axis=1), dtype=np.int64)
    flat = ak.flatten(jets, axis=1)
    n_jets = int(counts.sum())
    nominal = np.ones(len(counts))
    if n_jets == 0:
        sources = btag_sources(cfg, provider) if variations else []
        return nominal, {mod: (nominal, nominal) for _, mod, _, _ in sources}
    if "hadronFlavour" not in flat.fields:
        raise CorrectionError("b-tag scale factors need Jet_hadronFlavour (simulation)")
    pt = column(flat, "pt").astype(np.float64)
    abseta = np.abs(column(flat, "eta").astype(np.float64))
    flavour = np.abs(column(flat, "hadronFlavour").astype(np.int64))
    flavour = np.where(np.isin(flavour, _HEAVY), flavour, 0)
    tagged = column(flat, "btag").astype(bool)
    eff = _efficiency(cfg, flavour, abseta, pt)
    heavy = flavour > 0
    names = _names(cfg)

    def sf(systematic_bc: str, systematic_light: str) -> np.ndarray:
        out = np.ones(n_jets)
        for group, mask, syst in (
            ("bc", heavy, systematic_bc),
            ("light", ~heavy, systematic_light),
        ):
            if mask.any():
                values = {
                    "systematic": syst, "working_point": _wp(cfg), "flavor": flavour[mask],
                    "abseta": abseta[mask], "pt": pt[mask],
                }  # fmt: skip
                out[mask] = provider.evaluate_named("btag", names[group], values)
        return out

    def weight(scale: np.ndarray) -> np.ndarray:
        untagged = np.maximum(1.0 - scale * eff, 0.0) / (1.0 - eff)
        return per_event_product(np.where(tagged, scale, untagged), counts)

    nominal = weight(sf("central", "central"))
    out = {}
    if variations:
        for group, mod, up, down in btag_sources(cfg, provider):
            pair = []
            for syst in (up, down):
                bc, light = (syst, "central") if group == "bc" else ("central", syst)
                pair.append(weight(sf(bc, light)))
            out[mod] = (pair[0], pair[1])
    return nominal, out
