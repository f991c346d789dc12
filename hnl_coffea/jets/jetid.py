"""The jet ID computed from the stored energy fractions and multiplicities (JME recipe).

NanoAOD v15 has no ``Jet_jetId``: the JME POG recommends computing the Tight and
TightLepVeto IDs from ``Jet_chHEF``, ``neHEF``, ``chEmEF``, ``neEmEF``, ``muEF``,
``chMultiplicity`` and ``neMultiplicity``. The cut values are per-era data
(``eras.<era>.jets.jet_id``: one entry per |η| region, strict cuts ``value > min`` and
``value < max``; ``multiplicity`` is charged + neutral); :func:`jet_id_flags` returns the
same bits as the old branch (2: tight, 4: tightLepVeto), so one selection serves both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..config_jets import JetIdRegion

__all__ = ["JET_ID_FIELDS", "TIGHT", "TIGHT_LEPVETO", "jet_id_flags"]

#: The NanoAOD jet fields a recipe reads.
JET_ID_FIELDS = ("chHEF", "neHEF", "chEmEF", "neEmEF", "muEF", "chMultiplicity", "neMultiplicity")
TIGHT, TIGHT_LEPVETO = 2, 4


def _passes(values: Mapping[str, np.ndarray], cuts: Mapping[str, float], above: bool) -> Any:
    ok = True
    for name, cut in cuts.items():
        ok = ok & ((values[name] > cut) if above else (values[name] < cut))
    return ok


def jet_id_flags(
    eta: np.ndarray, values: Mapping[str, np.ndarray], recipe: Sequence[JetIdRegion]
) -> np.ndarray:
    """``Jet_jetId``-style bits (2: tight, 4: tightLepVeto) of flat jets from their |η| and
    the recipe's fields (``values``: flat arrays by NanoAOD field name). Jets beyond the
    last region's edge pass neither level."""
    abs_eta = np.abs(np.asarray(eta, dtype=np.float64))
    cols = {k: np.asarray(v) for k, v in values.items()}
    if "chMultiplicity" in cols and "neMultiplicity" in cols:
        cols["multiplicity"] = cols["chMultiplicity"] + cols["neMultiplicity"]
    flags = np.zeros(len(abs_eta), dtype=np.int32)
    low = -np.inf
    for region in recipe:
        high = np.inf if region.abs_eta_max is None else region.abs_eta_max
        inside = (abs_eta > low) & (abs_eta <= high)
        tight = inside & _passes(cols, region.min, True) & _passes(cols, region.max, False)
        lepveto = tight & _passes(cols, region.lepton_veto_max, False)
        flags |= np.where(tight, TIGHT, 0).astype(np.int32)
        flags |= np.where(lepveto, TIGHT_LEPVETO, 0).astype(np.int32)
        low = high
    return flags
