"""Type-1 MET from the raw MET and the corrected jets (the JME recipe, as coffea's
``CorrectedMETFactory`` in type-1 mode and CMSJMECalculators compute it).

A jet enters with its muon-subtracted raw pT ``pT_raw (1 − muonSubtrFactor)`` corrected
to L1 and to L1L2L3: it is used when the fully corrected muon-subtracted pT exceeds
``type1.jet_pt_min`` (15 GeV), its charged + neutral EM fraction is below
``type1.em_fraction_max`` (0.9) and |η| < ``type1.abs_eta_max`` (5.2), and contributes
``−(pT_L1L2L3 × s − pT_L1)`` along its direction, where ``s`` is the JER smearing factor
(type-1 smeared MET, ``type1.jer_smeared``) times any JES/JER variation. The jets used are
fixed by the nominal corrections for every variation. The muon's pT is added back to
both terms (so it cancels for s = 1); its direction is the jet's, or the jet's φ plus
``muonSubtrDeltaPhi`` where NanoAOD stores it (v15). ``CorrT1METJet`` (the low-pT jets
NanoAOD keeps only for this correction) enter the same way when the file has them, with
an EM fraction of 0 where it is not stored (before v12).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config_jets import Type1MetConfig

__all__ = ["Type1Jets", "corrected_met", "type1_jets"]


@dataclass(frozen=True)
class Type1Jets:
    """The jets of the type-1 correction (flat, selected with the nominal corrections)."""

    event: np.ndarray
    n_events: int
    pt_l1: np.ndarray
    """L1-corrected pT (muon-subtracted, plus the muon)."""
    pt_full: np.ndarray
    """L1L2L3(Res)-corrected pT (muon-subtracted, plus the muon), before smearing."""
    cos: np.ndarray
    sin: np.ndarray
    selected: np.ndarray
    """Which entries of the input jets these are (flat indices)."""

    def deltas(self, scale: np.ndarray | float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """Per-event Σ (pT_L1L2L3 × scale − pT_L1) (cos φ, sin φ); ``scale`` is one factor
        per input jet (or a number)."""
        s = scale if np.isscalar(scale) else np.asarray(scale, dtype=np.float64)[self.selected]
        diff = self.pt_full * s - self.pt_l1
        dpx = np.bincount(self.event, diff * self.cos, minlength=self.n_events)
        dpy = np.bincount(self.event, diff * self.sin, minlength=self.n_events)
        return dpx, dpy


def type1_jets(
    event: np.ndarray,
    n_events: int,
    pt_raw: np.ndarray,
    eta: np.ndarray,
    phi: np.ndarray,
    jec: np.ndarray,
    l1: np.ndarray,
    muon_factor: np.ndarray,
    muon_dphi: np.ndarray,
    em_fraction: np.ndarray,
    cuts: Type1MetConfig,
) -> Type1Jets:
    """The jets entering the type-1 correction, from flat per-jet inputs (``jec``, ``l1``:
    the L1L2L3(Res) and L1 factors at the raw pT)."""
    pt_raw = np.asarray(pt_raw, dtype=np.float64)
    no_mu = pt_raw * (1.0 - muon_factor)
    muon = pt_raw * muon_factor
    full = no_mu * jec
    ok = (full > cuts.jet_pt_min) & (np.abs(eta) < cuts.abs_eta_max)
    ok &= em_fraction < cuts.em_fraction_max
    sel = np.flatnonzero(ok)
    direction = (np.asarray(phi, dtype=np.float64) + muon_dphi)[sel]
    return Type1Jets(
        event=np.asarray(event)[sel],
        n_events=n_events,
        pt_l1=(no_mu * l1 + muon)[sel],
        pt_full=(full + muon)[sel],
        cos=np.cos(direction),
        sin=np.sin(direction),
        selected=sel,
    )


def corrected_met(
    raw_pt: np.ndarray, raw_phi: np.ndarray, dpx: np.ndarray, dpy: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(pT, φ) of the raw MET minus the summed jet deltas (coffea's ``corrected_type1_met``)."""
    from coffea.jetmet_tools.CorrectedMETFactory import corrected_type1_met  # slow to import

    met = corrected_type1_met(
        np.asarray(raw_pt, dtype=np.float64), np.asarray(raw_phi, dtype=np.float64), dpx, dpy
    )
    return np.asarray(met["pt"]), np.asarray(met["phi"])
