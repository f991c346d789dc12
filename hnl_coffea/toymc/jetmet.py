"""The toy's jet and MET content beyond the four-vectors: muons inside jets, the jet ID from
the jets' composition, and the raw, type-1 and PUPPI MET consistent with the illustrative
JME files."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np

from .detector import JET_PU_OFFSET, JET_RESPONSE, JET_RESPONSE_ABSETA, jet_id_bits
from .reco import Collection

if TYPE_CHECKING:
    from ..config import EraConfig
    from ..config_jets import JetIdRegion

__all__ = ["add_jet_met", "toy_jet_id_recipe"]


def add_jet_met(
    c: dict[str, Collection], met: dict, rho: np.ndarray, jet_id: tuple[JetIdRegion, ...]
) -> None:
    """Complete the jets (muon fractions, ``jetId`` by ``jet_id``) and write ``MET`` (the
    type-1 PF MET), ``RawMET``, ``PuppiMET`` and ``RawPuppiMET``."""
    jet = c["Jet"]
    _jet_muon_fractions(c)
    jet_id_bits(jet, jet_id)
    c["MET"] = Collection(None, met)
    c["RawMET"] = Collection(None, _raw_met(jet, met, rho))
    c["PuppiMET"] = Collection(None, _puppi(met))
    c["RawPuppiMET"] = Collection(None, dict(c["RawMET"].fields))


@functools.lru_cache(maxsize=1)
def _shipped_recipe() -> tuple[JetIdRegion, ...]:
    from ..config import load_config

    cfg = load_config()
    return next((e.jets.jet_id for e in cfg.eras.values() if e.jets.jet_id), ())


def toy_jet_id_recipe(era: EraConfig | None = None) -> tuple[JetIdRegion, ...]:
    """The jet-ID recipe of the toy detector: the era's (``eras.<era>.jets.jet_id``) where
    it has one, else the first one of the shipped configuration (Run 2 eras have none:
    their NanoAOD stores ``Jet_jetId``)."""
    if era is not None and era.jets.jet_id:
        return era.jets.jet_id
    return _shipped_recipe()


def _jet_muon_fractions(c: dict[str, Collection]) -> None:
    """Jets holding a muon: its share of the raw pT is ``muonSubtrFactor`` and ``muEF``."""
    jets, muons = c["Jet"], c["Muon"]
    f = jets.fields
    has = f["muonIdx1"] >= 0
    if not has.any():
        return
    jev = np.repeat(np.arange(len(jets.counts)), jets.counts)
    mu_pt = muons.fields["pt"][muons.offsets[jev[has]] + f["muonIdx1"][has]]
    raw = f["pt"][has] * (1.0 - f["rawFactor"][has])
    share = np.clip(mu_pt / np.maximum(raw, 1e-3), 0.0, 0.95)
    rest = 1.0 - f["muEF"][has]
    for name in ("chHEF", "neHEF", "chEmEF", "neEmEF"):
        f[name][has] = (f[name][has] * (1.0 - share) / np.maximum(rest, 1e-6)).astype(np.float32)
    f["muEF"][has] = share.astype(np.float32)
    f["muonSubtrFactor"][has] = share.astype(np.float32)


def _raw_met(jets: Collection, met: dict, rho: np.ndarray) -> dict[str, np.ndarray]:
    """The raw MET whose type-1 correction with the toy's JEC (the illustrative files) is
    ``met``: raw = type-1 + Σ (pT_L1L2L3 − pT_L1) over the type-1 jets (JME recipe: fully
    corrected muon-subtracted pT > 15 GeV, EM fraction < 0.9, |η| < 5.2)."""
    f = jets.fields
    n = len(jets.counts)
    ev = np.repeat(np.arange(n), jets.counts)
    pt, eta, phi = (f[k].astype(np.float64) for k in ("pt", "eta", "phi"))
    raw = pt * (1.0 - f["rawFactor"].astype(np.float64))
    offset = JET_PU_OFFSET * f["area"].astype(np.float64) * rho[ev].astype(np.float64)
    l1 = np.maximum(1e-4, 1.0 - offset / raw)
    bins = np.clip(np.searchsorted(JET_RESPONSE_ABSETA, np.abs(eta), side="right") - 1, 0, 3)
    full = l1 / np.asarray(JET_RESPONSE)[bins]
    no_mu = raw * (1.0 - f["muonSubtrFactor"].astype(np.float64))
    em = f["chEmEF"].astype(np.float64) + f["neEmEF"].astype(np.float64)
    ok = (no_mu * full > 15.0) & (em < 0.9) & (np.abs(eta) < 5.2)
    diff = np.where(ok, no_mu * (full - l1), 0.0)
    mpt, mphi = met["pt"].astype(np.float64), met["phi"].astype(np.float64)
    x = mpt * np.cos(mphi) + np.bincount(ev, diff * np.cos(phi), n)
    y = mpt * np.sin(mphi) + np.bincount(ev, diff * np.sin(phi), n)
    return {
        "pt": np.hypot(x, y).astype(np.float32),
        "phi": np.arctan2(y, x).astype(np.float32),
        "sumEt": met["sumEt"],
    }


def _puppi(met: dict) -> dict[str, np.ndarray]:
    """The toy's PUPPI MET: the same vector, with the v9/v12 unclustered-energy fields."""
    out = {k: met[k] for k in ("pt", "phi", "sumEt")}
    x = met["pt"].astype(np.float64) * np.cos(met["phi"])
    y = met["pt"].astype(np.float64) * np.sin(met["phi"])
    dx = met["MetUnclustEnUpDeltaX"].astype(np.float64)
    dy = met["MetUnclustEnUpDeltaY"].astype(np.float64)
    for name, sign in (("Up", 1.0), ("Down", -1.0)):
        out[f"ptUnclustered{name}"] = np.hypot(x + sign * dx, y + sign * dy).astype(np.float32)
        out[f"phiUnclustered{name}"] = np.arctan2(y + sign * dy, x + sign * dx).astype(np.float32)
    return out
