"""Physics processes of the toy generator, their cross sections and the default event split.

=================  ===========  =========  ==============================================
sample             σ [pb]       share      content
=================  ===========  =========  ==============================================
``HNL_M<m>``       σ(m)·|V|²    signal     W* → τ N, N → τ ℓ ν (CC) or ν ℓ ℓ (NC)
``WZTo3LNu``       4.43         30 %       W → ℓν, Z → ℓℓ (ℓ = e, μ, τ)
``ZZTo4L``         1.26         15 %       Z Z → 4ℓ, one lepton lost in half the events
``TTTo2L2Nu``      88.3         25 %       t t̄ → b ℓν b̄ ℓν, extra jets; jet/b fakes
``DYJetsToLL``     1094         15 %       Z/γ* → ℓℓ + ≥ 1 jet (18 % of 6077 pb); fakes
``WJetsToLNu``     12305        5 %        W → ℓν + ≥ 1 jet (20 % of 61527 pb); fakes
``ZGToLLG``        51.1         10 %       Z → ℓℓ + γ converting to an electron
=================  ===========  =========  ==============================================

``n_events`` of :func:`hnl_coffea.toymc.generate_fileset` is the total over all samples:
a fraction ``signal_fraction`` (default 0.3) is shared equally by the 16 signal mass
points, the rest by the backgrounds with the shares above. The signal is a τ-coupled HNL
with |V_τN|² = 10⁻³ and σ(m) = 1.2 pb · (85 GeV / m)^3.5, already multiplied by the
branching fraction of the generated three-lepton decays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .physics import (
    G_W,
    G_Z,
    M_TOP,
    M_W,
    M_Z,
    MASS,
    P4,
    breit_wigner,
    p4_from_xyzt,
    produce,
    three_body,
    two_body,
)
from .truth import HARD, ORIGIN, JetSlot, Truth, Visible

__all__ = ["Sample", "background_samples", "signal_sample", "all_samples", "split_events"]

V2_TAU = 1e-3
_SIGNAL_SIGMA0, _SIGNAL_M0, _SIGNAL_SLOPE = 12.0, 85.0, 3.5


@dataclass(frozen=True)
class Sample:
    """One toy sample: process name, cross section (pb), truth builder and event share."""

    name: str
    process: str
    xsec: float
    build: Callable[[np.random.Generator, int], Truth]
    share: float
    is_signal: bool = False
    m_hnl: float | None = None
    neg_weight_fraction: float = 0.0


# ---------------------------------------------------------------- building blocks


def _flavours(rng: np.random.Generator, n: int, choices=(11, 13, 15)) -> np.ndarray:
    return rng.choice(np.array(choices, dtype=np.int32), size=n)


def _charges(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.where(rng.random(n) < 0.5, 1, -1).astype(np.int32)


def _masses(flav: np.ndarray) -> np.ndarray:
    out = np.zeros(len(flav))
    for pdg in (11, 13, 15):
        out[np.abs(flav) == pdg] = MASS[pdg]
    return out


def _w_to_lnu(rng, t: Truth, w: P4, w_idx: int, charge: np.ndarray, flav=None) -> int:
    """W± → ℓ± ν; returns the visible slot of the charged lepton."""
    flav = _flavours(rng, t.n) if flav is None else flav
    lep, nu = two_body(rng, w, _masses(flav), 0.0)
    t.add_neutrino(nu, (flav + 1) * charge, w_idx)
    return t.add_lepton(rng, lep, -flav * charge, w_idx)


def _z_to_ll(rng, t: Truth, z: P4, z_idx: int) -> tuple[int, int]:
    flav = _flavours(rng, t.n)
    m = _masses(flav)
    l1, l2 = two_body(rng, z, m, m)
    return t.add_lepton(rng, l1, flav, z_idx), t.add_lepton(rng, l2, -flav, z_idx)


def _add_jets(
    rng, t: Truth, mean: float, slots: int, pt0: float = 20.0, scale: float = 30.0, at_least=0
):
    """Initial-state radiation jets: Poisson multiplicity, falling pT, mostly light flavour."""
    njet = at_least + rng.poisson(mean, t.n)
    for k in range(slots):
        pt = pt0 + rng.exponential(scale, t.n)
        eta = np.clip(rng.normal(0.0, 1.8, t.n), -4.7, 4.7)
        phi = rng.uniform(-np.pi, np.pi, t.n)
        u = rng.random(t.n)
        flav = np.where(u < 0.03, 5, np.where(u < 0.10, 4, 0)).astype(np.int32)
        p4 = p4_from_xyzt(
            pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta), pt * np.cosh(eta) * 1.005
        )
        t.jets.append(JetSlot(p4, flav, njet > k))


def _pair(rng, t: Truth, m1: np.ndarray, m2: np.ndarray, scale: float, pt_scale: float):
    """A produced diboson-like system decayed to two resonances of masses m1, m2."""
    mass = m1 + m2 + rng.exponential(scale, t.n)
    sys = produce(rng, mass, pt_scale)
    return two_body(rng, sys, m1, m2)


def _bw(rng, n, mass, width, lo, hi):
    return breit_wigner(rng, n, mass, width, lo, hi)


# ---------------------------------------------------------------- processes


def build_signal(rng: np.random.Generator, n: int, m_hnl: float) -> Truth:
    """W* → τ N, N → τ ℓ ν (charged current, 75 %) or ν_τ ℓ ℓ (neutral current)."""
    t = Truth(n)
    m_star = m_hnl + MASS[15] + rng.exponential(0.15 * m_hnl + 15.0, n)
    w = produce(rng, m_star, 12.0, 1.4)
    q = _charges(rng, n)
    w_idx = t.add_gen(w, 24 * q, 62, HARD, -1)
    tau, hnl = two_body(rng, w, MASS[15], m_hnl)
    t.add_lepton(rng, tau, -15 * q, w_idx)
    n_idx = t.add_gen(hnl, np.full(n, 9900012), 22, HARD, w_idx)
    cc = rng.random(n) < 0.75
    f = _flavours(rng, n)
    s = _charges(rng, n)  # Majorana N: either charge
    pdg1 = np.where(cc, 15, f) * s
    pdg2 = -f * s
    pdg_nu = np.where(cc, (f + 1) * s, 16 * s)
    d1, d2, nu = three_body(rng, hnl, _masses(pdg1), _masses(pdg2), 0.0)
    t.add_lepton(rng, d1, pdg1, n_idx)
    t.add_lepton(rng, d2, pdg2, n_idx)
    t.add_neutrino(nu, pdg_nu, n_idx)
    _add_jets(rng, t, 0.8, 3)
    return t


def build_wz(rng: np.random.Generator, n: int) -> Truth:
    t = Truth(n)
    w, z = _pair(rng, t, _bw(rng, n, M_W, G_W, 50, 200), _bw(rng, n, M_Z, G_Z, 60, 200), 90, 25)
    q = _charges(rng, n)
    w_idx = t.add_gen(w, 24 * q, 62, HARD, -1)
    z_idx = t.add_gen(z, np.full(n, 23), 62, HARD, -1)
    _w_to_lnu(rng, t, w, w_idx, q)
    _z_to_ll(rng, t, z, z_idx)
    _add_jets(rng, t, 0.9, 3)
    return t


def build_zz(rng: np.random.Generator, n: int) -> Truth:
    t = Truth(n)
    z1, z2 = _pair(rng, t, _bw(rng, n, M_Z, G_Z, 60, 200), _bw(rng, n, M_Z, G_Z, 60, 200), 80, 20)
    for z in (z1, z2):
        idx = t.add_gen(z, np.full(n, 23), 62, HARD, -1)
        _z_to_ll(rng, t, z, idx)
    # one lepton escapes detection (cracks, inefficiency) in half of the events
    lost = np.where(rng.random(n) < 0.5, rng.integers(0, 4, n), -1)
    for k, vis in enumerate(t.visible):
        vis.kind = np.where(lost == k, 0, vis.kind)
    _add_jets(rng, t, 0.7, 3)
    return t


def build_ttbar(rng: np.random.Generator, n: int) -> Truth:
    t = Truth(n)
    top, atop = _pair(rng, t, np.full(n, M_TOP), np.full(n, M_TOP), 150, 40)
    for p4, q in ((top, 1), (atop, -1)):
        idx = t.add_gen(p4, np.full(n, 6 * q), 62, HARD, -1)
        mw = _bw(rng, n, M_W, G_W, 50, 160)
        b, w = two_body(rng, p4, MASS[5], mw)
        w_idx = t.add_gen(w, np.full(n, 24 * q), 22, HARD, idx)
        t.add_gen(b, np.full(n, 5 * q), 23, HARD, idx)
        t.jets.append(JetSlot(b, np.full(n, 5, np.int32), np.ones(n, bool)))
        _w_to_lnu(rng, t, w, w_idx, np.full(n, q, np.int32))
    _add_jets(rng, t, 1.0, 3)
    return t


def build_dy(rng: np.random.Generator, n: int) -> Truth:
    t = Truth(n)
    peak = rng.random(n) < 0.9
    m = np.where(peak, _bw(rng, n, M_Z, G_Z, 50, 300), 50.0 / (1 - rng.random(n) * 0.8))
    z = produce(rng, m, 15, 1.8)
    idx = t.add_gen(z, np.full(n, 23), 62, HARD, -1)
    _z_to_ll(rng, t, z, idx)
    _add_jets(rng, t, 0.4, 4, pt0=20.0, scale=35.0, at_least=1)
    return t


def build_wjets(rng: np.random.Generator, n: int) -> Truth:
    t = Truth(n)
    w = produce(rng, _bw(rng, n, M_W, G_W, 50, 200), 20, 1.8)
    q = _charges(rng, n)
    idx = t.add_gen(w, 24 * q, 62, HARD, -1)
    _w_to_lnu(rng, t, w, idx, q)
    _add_jets(rng, t, 0.6, 5, pt0=20.0, scale=40.0, at_least=1)
    return t


def build_zgamma(rng: np.random.Generator, n: int) -> Truth:
    """Z → ℓℓ γ with the photon converting asymmetrically: one hard electron (flav 22)."""
    t = Truth(n)
    z = produce(rng, _bw(rng, n, M_Z, G_Z, 50, 300), 15, 1.8)
    idx = t.add_gen(z, np.full(n, 23), 62, HARD, -1)
    _z_to_ll(rng, t, z, idx)
    pt = 12.0 + rng.exponential(18.0, n)
    eta = np.clip(rng.normal(0, 1.3, n), -2.6, 2.6)
    phi = rng.uniform(-np.pi, np.pi, n)
    g = p4_from_xyzt(pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta), pt * np.cosh(eta))
    g_idx = t.add_gen(g, np.full(n, 22), 1, HARD, -1)
    x = rng.uniform(0.6, 1.0, n)
    e = p4_from_xyzt(g.px * x, g.py * x, g.pz * x, g.E * x)
    q = _charges(rng, n)
    conv = rng.random(n) < 0.8
    t.visible.append(
        Visible(
            e,
            np.where(conv, 11, 0).astype(np.int32),
            q,
            np.full(n, g_idx, np.int32),
            np.full(n, ORIGIN["conversion"], np.int32),
            np.full(n, -1, np.int32),
            np.full(n, -1, np.int32),
        )
    )
    _add_jets(rng, t, 0.8, 3)
    return t


# ---------------------------------------------------------------- the sample table


def signal_xsec(m_hnl: float) -> float:
    """Toy signal cross section in pb (σ·BR at the default |V_τN|² = 10⁻³)."""
    return _SIGNAL_SIGMA0 * (V2_TAU / 1e-2) * (_SIGNAL_M0 / m_hnl) ** _SIGNAL_SLOPE


def signal_sample(m_hnl: float, share: float = 1.0) -> Sample:
    name = f"HNL_M{int(round(m_hnl))}"
    return Sample(
        name=name,
        process=name,
        xsec=signal_xsec(m_hnl),
        build=lambda rng, n: build_signal(rng, n, m_hnl),
        share=share,
        is_signal=True,
        m_hnl=float(m_hnl),
        neg_weight_fraction=0.0,
    )


def background_samples() -> list[Sample]:
    return [
        Sample("WZTo3LNu", "WZ", 4.43, build_wz, 0.30, neg_weight_fraction=0.08),
        Sample("ZZTo4L", "ZZ", 1.26, build_zz, 0.15, neg_weight_fraction=0.02),
        Sample("TTTo2L2Nu", "TT", 88.3, build_ttbar, 0.25, neg_weight_fraction=0.004),
        Sample("DYJetsToLL", "DY", 6077.0 * 0.18, build_dy, 0.15, neg_weight_fraction=0.16),
        Sample("WJetsToLNu", "WJets", 61527.0 * 0.20, build_wjets, 0.05, neg_weight_fraction=0.0),
        Sample("ZGToLLG", "ZG", 51.1, build_zgamma, 0.10, neg_weight_fraction=0.18),
    ]


def all_samples(mass_hypotheses) -> list[Sample]:
    """Signal samples for each mass hypothesis, then the backgrounds."""
    return [signal_sample(m) for m in mass_hypotheses] + background_samples()


def split_events(
    samples: list[Sample], n_events: int, signal_fraction: float = 0.3
) -> dict[str, int]:
    """Events per sample for a total of ``n_events`` (see the module table)."""
    if not 0.0 <= signal_fraction <= 1.0:
        raise ValueError(f"signal_fraction must be in [0, 1], got {signal_fraction}")
    sig = [s for s in samples if s.is_signal]
    bkg = [s for s in samples if not s.is_signal]
    sig_total = n_events * signal_fraction if bkg else n_events
    bkg_total = n_events - sig_total if sig else n_events
    bkg_norm = sum(s.share for s in bkg) or 1.0
    out = {s.name: int(round(sig_total / len(sig))) for s in sig}
    out.update({s.name: int(round(bkg_total * s.share / bkg_norm)) for s in bkg})
    return out
