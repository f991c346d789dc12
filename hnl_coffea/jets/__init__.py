"""Jets and MET on real NanoAOD: JEC re-applied, JER smearing of simulated jets, type-1 MET,
JES/JER variations, jet veto maps and the jet ID computed from the energy fractions.

* :mod:`.corrector` — the era's JME corrections as coffea's correctionlib adapters.
* :mod:`.correct` — :func:`correct_objects`: nominal corrected jets and MET, and the
  JES/JER shifts of simulated jets.
* :mod:`.met` — type-1 MET from the raw MET.
* :mod:`.random` — reproducible per-jet random numbers of the stochastic JER smearing.
* :mod:`.vetomap` — jet veto maps (per-jet region flag, per-event veto).
* :mod:`.jetid` — the jet ID of NanoAOD v15 from the energy fractions.
"""

from __future__ import annotations

from .correct import JetShifts, correct_objects, met_collections, rho
from .jetid import jet_id_flags
from .vetomap import in_veto_region, vetoed_events

__all__ = [
    "JetShifts",
    "correct_objects",
    "in_veto_region",
    "jet_id_flags",
    "met_collections",
    "rho",
    "vetoed_events",
]
