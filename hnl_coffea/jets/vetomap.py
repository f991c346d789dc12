"""Jet veto maps (JME ``jetvetomaps.json.gz``): events with a jet in a hot or cold
calorimeter region are rejected, in data and simulation alike.

Per jet, :func:`in_veto_region` evaluates the era's map (``eras.<era>.jets.veto_map``;
the ``jetvetomap`` type JME recommends for analyses; a non-zero value vetoes) at its (η, φ),
which no energy correction changes. Per event, :func:`vetoed_events` applies the JME
recipe for which jets count: corrected pT > 15 GeV, the tight jet ID, charged + neutral EM
fraction < 0.9 and no muon of the ``Muon`` collection (``isPFcand`` where stored) within
ΔR < 0.2 — with the jets' pT of the variation being selected.
"""

from __future__ import annotations

import numpy as np

from ..config import AnalysisConfig
from ..corrections.evaluators import CorrectionProvider
from ..flat import delta_r, event_index, pair_indices

__all__ = ["JET_ID_BITS", "in_veto_region", "vetoed_events"]

#: Jet ID bit per level (loose: any bit; 2 = tight, 4 = tightLepVeto).
JET_ID_BITS = {"loose": 7, "tight": 2, "tightlepveto": 4}
# the map binning: |η| < 5.191, φ in [−π, π]; φ is wrapped, values on the edges go to the
# edge bins
_ETA_MAX = 5.19
_PHI_MAX = np.nextafter(np.pi, 0.0)


def in_veto_region(
    eta: np.ndarray, phi: np.ndarray, cfg: AnalysisConfig, provider: CorrectionProvider
) -> np.ndarray:
    """Per flat jet: whether it lies in a vetoed cell of the era's map (all False when the
    era has none)."""
    veto = cfg.era_config.jets.veto_map
    if veto.name is None or len(eta) == 0:
        return np.zeros(len(eta), dtype=bool)
    corr = provider.correction("jetvetomap", veto.name)
    value = corr.evaluate(
        veto.type,
        np.clip(np.asarray(eta, dtype=np.float64), -_ETA_MAX, _ETA_MAX),
        np.clip(
            (np.asarray(phi, dtype=np.float64) + np.pi) % (2 * np.pi) - np.pi, -_PHI_MAX, _PHI_MAX
        ),
    )
    return np.asarray(value) != 0


def vetoed_events(
    jets: dict[str, np.ndarray],
    jet_counts: np.ndarray,
    muons: dict[str, np.ndarray],
    muon_counts: np.ndarray,
    cfg: AnalysisConfig,
) -> np.ndarray:
    """Per event: whether a jet that counts for the veto lies in a vetoed region.

    ``jets``: flat columns ``pt``, ``eta``, ``phi``, ``jetId``, ``chEmEF``, ``neEmEF``,
    ``vetoMap``; ``muons``: ``eta``, ``phi`` and optionally ``isPFcand``.
    """
    cuts = cfg.era_config.jets.veto_map
    n = len(jet_counts)
    cand = np.asarray(jets["vetoMap"], dtype=bool)
    if not cand.any():
        return np.zeros(n, dtype=bool)
    cand &= jets["pt"] > cuts.pt_min
    cand &= (jets["jetId"] & JET_ID_BITS[cuts.jet_id]) != 0
    cand &= (jets["chEmEF"] + jets["neEmEF"]) < cuts.em_fraction_max
    idx = np.flatnonzero(cand)
    if len(idx) == 0:
        return np.zeros(n, dtype=bool)
    jet_event = event_index(jet_counts)[idx]
    # muons of the candidate jets' events only
    mu_keep = np.ones(len(muons["eta"]), dtype=bool)
    if "isPFcand" in muons:
        mu_keep &= np.asarray(muons["isPFcand"], dtype=bool)
    mu_event = event_index(muon_counts)
    mu_keep &= np.isin(mu_event, jet_event)
    mu_idx = np.flatnonzero(mu_keep)
    counts_c = np.bincount(jet_event, minlength=n)
    counts_m = np.bincount(mu_event[mu_idx], minlength=n)
    ij, im = pair_indices(counts_c, counts_m)
    eta_c, phi_c = jets["eta"][idx], jets["phi"][idx]
    eta_m, phi_m = muons["eta"][mu_idx], muons["phi"][mu_idx]
    close = delta_r(eta_c[ij], phi_c[ij], eta_m[im], phi_m[im]) < cuts.muon_dr
    overlapped = np.bincount(ij[close], minlength=len(idx)) > 0
    return np.bincount(jet_event[~overlapped], minlength=n) > 0
