"""Generator-level event record of the toy: ``GenPart`` slots, visible objects and jets.

Every process fills a fixed number of *slots* per event (with per-event validity masks),
so the whole chunk stays rectangular numpy; the detector turns valid slots into the
jagged NanoAOD collections.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .physics import P4, TauDecay, decay_taus

__all__ = ["Truth", "Visible", "JetSlot", "ORIGIN", "FLAG"]

#: Origin codes of visible objects (mapped to NanoAOD ``genPartFlav`` by the detector).
ORIGIN = {"prompt": 1, "tau": 2, "b": 3, "c": 4, "light": 5, "conversion": 6}

#: GenPart statusFlags bits used by the toy.
FLAG = {
    "isPrompt": 1 << 0,
    "isTauDecayProduct": 1 << 2,
    "isPromptTauDecayProduct": 1 << 3,
    "isDirectTauDecayProduct": 1 << 4,
    "isDirectPromptTauDecayProduct": 1 << 5,
    "isHardProcess": 1 << 7,
    "fromHardProcess": 1 << 8,
    "isFirstCopy": 1 << 12,
    "isLastCopy": 1 << 13,
}
HARD = FLAG["isPrompt"] | FLAG["isHardProcess"] | FLAG["fromHardProcess"]
HARD |= FLAG["isFirstCopy"] | FLAG["isLastCopy"]
TAU_PRODUCT = FLAG["isTauDecayProduct"] | FLAG["isPromptTauDecayProduct"]
TAU_PRODUCT |= FLAG["isDirectTauDecayProduct"] | FLAG["isDirectPromptTauDecayProduct"]
TAU_PRODUCT |= FLAG["isLastCopy"] | FLAG["fromHardProcess"]


@dataclass
class Visible:
    """A detector-visible object slot: lepton, τh or jet fake (``kind`` 11, 13, 15; 0 = none)."""

    p4: P4
    kind: np.ndarray
    charge: np.ndarray
    gen: np.ndarray  # GenPart slot index (-1: none)
    origin: np.ndarray  # ORIGIN code
    dm: np.ndarray  # τh decay mode, -1 otherwise
    jet: np.ndarray  # jet slot index (-1: none)


@dataclass
class JetSlot:
    """A jet slot: four-vector, hadron flavour (5, 4, 0), validity, and whether a GenJet exists."""

    p4: P4
    flavour: np.ndarray
    valid: np.ndarray
    genjet: bool = True


@dataclass
class Truth:
    """All generator-level slots of one chunk of events."""

    n: int
    gen_p4: list[P4] = field(default_factory=list)
    gen_pdg: list[np.ndarray] = field(default_factory=list)
    gen_status: list[int] = field(default_factory=list)
    gen_flags: list[int] = field(default_factory=list)
    gen_mother: list[int] = field(default_factory=list)
    gen_valid: list[np.ndarray] = field(default_factory=list)
    visible: list[Visible] = field(default_factory=list)
    jets: list[JetSlot] = field(default_factory=list)
    vistau: list[tuple[int, TauDecay]] = field(default_factory=list)
    nu_px: np.ndarray | None = None
    nu_py: np.ndarray | None = None
    tau_slots: dict[int, np.ndarray] = field(default_factory=dict)  # GenPart slot → is-τ mask

    def __post_init__(self) -> None:
        self.nu_px = np.zeros(self.n)
        self.nu_py = np.zeros(self.n)

    def add_gen(self, p4: P4, pdg, status: int, flags: int, mother: int, valid=None) -> int:
        """Append a GenPart slot and return its index."""
        self.gen_p4.append(p4)
        self.gen_pdg.append(np.broadcast_to(np.asarray(pdg, dtype=np.int32), (self.n,)))
        self.gen_status.append(status)
        self.gen_flags.append(flags)
        self.gen_mother.append(mother)
        self.gen_valid.append(np.ones(self.n, bool) if valid is None else valid)
        return len(self.gen_p4) - 1

    def add_neutrino(self, p4: P4, pdg, mother: int, flags: int = HARD, valid=None) -> int:
        """A neutrino GenPart slot that also enters the true missing momentum."""
        v = np.ones(self.n, bool) if valid is None else valid
        self.nu_px += np.where(v, p4.px, 0.0)
        self.nu_py += np.where(v, p4.py, 0.0)
        return self.add_gen(p4, pdg, 1, flags, mother, v)

    def add_lepton(self, rng: np.random.Generator, p4: P4, pdg: np.ndarray, mother: int) -> int:
        """A charged lepton from the hard process (e, μ or τ per event); τ are decayed.

        Adds the GenPart slot(s) and one visible slot; returns the visible slot index.
        """
        pdg = np.asarray(pdg, dtype=np.int32)
        apdg = np.abs(pdg)
        charge = -np.sign(pdg).astype(np.int32)
        idx = self.add_gen(p4, pdg, 1, HARD, mother)
        is_tau = apdg == 15
        if not is_tau.any():
            vis = Visible(
                p4, apdg, charge, np.full(self.n, idx), _full(self.n, 1), _m1(self.n), _m1(self.n)
            )
            self.visible.append(vis)
            return len(self.visible) - 1
        dec = decay_taus(rng, p4)
        lep = is_tau & (dec.kind != 15)
        sgn = np.sign(pdg)
        self.add_neutrino(dec.nu_tau, 16 * sgn, idx, TAU_PRODUCT, is_tau)
        d_idx = self.add_gen(dec.visible, dec.kind * sgn, 1, TAU_PRODUCT, idx, lep)
        self.add_neutrino(dec.nu_lep, -(dec.kind + 1) * sgn, idx, TAU_PRODUCT, lep)
        self.vistau.append((idx, dec))
        self.tau_slots[idx] = is_tau
        kind = np.where(is_tau, dec.kind, apdg)
        vis_p4 = _where_p4(is_tau, dec.visible, p4)
        gen = np.where(lep, d_idx, idx)
        origin = np.where(is_tau, ORIGIN["tau"], ORIGIN["prompt"])
        dm = np.where(is_tau, dec.dm, -1)
        self.visible.append(Visible(vis_p4, kind, charge, gen, origin, dm, _m1(self.n)))
        return len(self.visible) - 1

    def gen_status_array(self, slot: int) -> np.ndarray:
        """Per-event status of a GenPart slot (τ slots are 2, decayed)."""
        mask = self.tau_slots.get(slot)
        if mask is None:
            return np.full(self.n, self.gen_status[slot], np.int32)
        return np.where(mask, 2, 1).astype(np.int32)


def _full(n: int, v: int) -> np.ndarray:
    return np.full(n, v, np.int32)


def _m1(n: int) -> np.ndarray:
    return np.full(n, -1, np.int32)


def _where_p4(mask: np.ndarray, a: P4, b: P4) -> P4:
    from .physics import p4_from_xyzt

    return p4_from_xyzt(
        np.where(mask, a.px, b.px),
        np.where(mask, a.py, b.py),
        np.where(mask, a.pz, b.pz),
        np.where(mask, a.E, b.E),
    )
