"""Toy CMS detector: resolution smearing, acceptance, identification, isolation and DeepTau
scores for jets, muons, electrons and τh, including jet → lepton/τh fakes.

Everything acts on chunks of events; collections come out pT-ordered as in NanoAOD with
internal field names (the layout module maps them to a NanoAOD version).
"""

from __future__ import annotations

import numpy as np

from .physics import TAU_DM, TAU_DM_FRAC, beta_by_class, p4_from_xyzt
from .reco import Collection, Flat, kin_tables, remap, slots_where, stack
from .truth import ORIGIN, Truth, Visible

__all__ = ["DEEPTAU_THRESHOLDS", "make_jets", "make_fakes", "make_leptons", "make_taus"]

#: Raw-score thresholds of the DeepTau working points (loosest first), used in both layouts.
DEEPTAU_THRESHOLDS = {
    "vsjet": (0.2599, 0.4249, 0.5983, 0.7848, 0.8834, 0.9308, 0.9603, 0.9797),
    "vse": (0.0630, 0.1692, 0.3872, 0.6681, 0.8516, 0.9288, 0.9658, 0.9819),
    "vsmu": (0.1058, 0.2476, 0.5943, 0.8410),
}

#: Toy jet energy response: raw pT = pT × JET_RESPONSE[|η| bin] + JET_PU_OFFSET × ρ × area,
#: where pT is the (calibrated) pT NanoAOD stores. The illustrative JME files invert it
#: (L1FastJet removes the offset, L2Relative divides by the response) and describe the
#: toy's MC resolution σ/pT = sqrt(JET_RESOLUTION[0] / pT + JET_RESOLUTION[1]²)
#: (``hnl_coffea.corrections.make_illustrative_jme``).
JET_RESPONSE_ABSETA = (0.0, 1.3, 2.5, 3.0, 5.191)
JET_RESPONSE = (0.92, 0.88, 0.84, 0.80)
JET_PU_OFFSET = 0.9
JET_AREA = (0.50, 0.02)  # mean and spread of Jet_area (≈ π 0.4²)
JET_RESOLUTION = (1.0, 0.05)

# per-jet fake probabilities (τh, μ, e) by hadron flavour
_FAKE_PROB = {5: (0.05, 0.05, 0.03), 4: (0.12, 0.01, 0.01), 0: (0.15, 0.003, 0.006)}
_ORIGIN_OF_FLAV = {5: ORIGIN["b"], 4: ORIGIN["c"], 0: ORIGIN["light"]}


def _i32(x) -> np.ndarray:
    return np.asarray(x, dtype=np.int32)


def _f32(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def _smear_dir(rng, eta, phi, sigma):
    eta = eta + rng.normal(0.0, sigma, len(eta))
    phi = phi + rng.normal(0.0, sigma, len(phi))
    return eta, (phi + np.pi) % (2 * np.pi) - np.pi


# ---------------------------------------------------------------- jets


def make_jets(rng: np.random.Generator, truth: Truth, n_pu: np.ndarray, rho: np.ndarray):
    """Reco jets from jet slots, genuine τh and pile-up; returns (Jet, GenJet, jet slot map).

    Jets carry the stored (calibrated) pT and the quantities of their corrections: the raw
    pT (``rawFactor``) of the toy response, ``area``, energy fractions and multiplicities
    (:func:`jet_composition`). ``jetId`` is filled later (:func:`jet_id_bits`).

    The τh of each genuine τ decay also forms a jet (as in NanoAOD, where every τh is seeded
    by a jet); its slot index is stored in the visible slot's ``jet`` field.
    """
    n = truth.n
    slots = list(truth.jets)
    for vis in truth.visible:
        is_th = (vis.kind == 15) & (vis.origin == ORIGIN["tau"])
        if is_th.any():
            vis.jet = np.where(is_th, len(slots), -1).astype(np.int32)
            p = vis.p4
            from .truth import JetSlot

            slots.append(
                JetSlot(p4_from_xyzt(p.px, p.py, p.pz, p.E), np.zeros(n, np.int32), is_th, False)
            )
    n_true = len(truth.jets)
    from .truth import JetSlot

    for k in range(2):  # pile-up jets
        pt = 15.0 + rng.exponential(7.0, n)
        eta = rng.uniform(-4.7, 4.7, n)
        phi = rng.uniform(-np.pi, np.pi, n)
        valid = rng.random(n) < np.clip(n_pu / 120.0, 0, 0.6) / (k + 1)
        p4 = p4_from_xyzt(pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta), pt * np.cosh(eta))
        slots.append(JetSlot(p4, np.zeros(n, np.int32), valid, False))

    valid = stack([s.valid for s in slots])
    gpt, geta, gphi, gmass = kin_tables([s.p4 for s in slots], valid)
    flav = stack([s.flavour for s in slots])
    has_gen = np.zeros(valid.shape, bool)
    has_gen[:, :n_true] = True

    # GenJet: true jets above 10 GeV
    gsel = slots_where(valid & has_gen & (gpt > 10.0))
    gsel.sort_by(gsel.take(gpt))
    genjet = Collection(
        gsel.counts,
        {
            "pt": _f32(gsel.take(gpt)),
            "eta": _f32(gsel.take(geta)),
            "phi": _f32(gsel.take(gphi)),
            "mass": _f32(gsel.take(gmass)),
            "hadronFlavour": _i32(gsel.take(flav)),
            "partonFlavour": _i32(gsel.take(flav)),
        },
    )
    genjet_map = gsel.slot_map(len(slots))

    pre = slots_where(valid & (gpt > 8.0))
    pt0 = pre.take(gpt)
    res = np.sqrt((1.0 / np.sqrt(pt0)) ** 2 + 0.05**2)
    pt = pt0 * np.clip(rng.normal(1.0, res), 0.3, None)
    keep = (pt > 15.0) & (np.abs(pre.take(geta)) < 4.7)
    sel = Flat(pre.n, pre.ev[keep], pre.slot[keep])
    pt, pt0 = pt[keep], pt0[keep]
    order = sel.sort_by(pt)
    pt, pt0 = pt[order], pt0[order]
    eta, phi = _smear_dir(rng, sel.take(geta), sel.take(gphi), 0.02)
    m = len(pt)
    f = sel.take(flav)
    # DeepJet-like scores: at the 2018 working points (L, M, T) ε_b ≈ 0.91, 0.78, 0.58,
    # ε_c ≈ 0.55, 0.19, 0.015, ε_light ≈ 0.25, 0.01, 0.0005
    btag = beta_by_class(rng, [f == 5, f == 4, None], [(0.5, 0.25), (0.4, 2.4), (0.35, 9.0)])
    quality = rng.random(m)  # 96 % clean jets, 2.5 % with a lepton-like EM fraction, rest noise
    sub = rng.spawn(1)[0]  # jet composition: its own stream, the others stay as they were
    area = sub.normal(JET_AREA[0], JET_AREA[1], m)
    bins = np.clip(np.searchsorted(JET_RESPONSE_ABSETA, np.abs(eta), side="right") - 1, 0, 3)
    raw = pt * np.asarray(JET_RESPONSE)[bins] + JET_PU_OFFSET * rho[sel.ev] * area
    jet = Collection(
        sel.counts,
        {
            "pt": _f32(pt),
            "eta": _f32(eta),
            "phi": _f32(phi),
            "mass": _f32(sel.take(gmass) * pt / np.maximum(pt0, 1e-3)),
            "rawFactor": _f32(1.0 - raw / pt),
            "area": _f32(area),
            **jet_composition(sub, eta, raw, quality),
            "btagDeepFlavB": _f32(btag),
            "hadronFlavour": _i32(f),
            "genJetIdx": _i32(genjet_map[sel.ev, sel.slot]),
            "_dpx": pt * np.cos(phi) - pt0 * np.cos(sel.take(gphi)),
            "_dpy": pt * np.sin(phi) - pt0 * np.sin(sel.take(gphi)),
        },
    )
    return jet, genjet, sel.slot_map(len(slots))


def jet_composition(rng, eta: np.ndarray, raw: np.ndarray, quality: np.ndarray) -> dict:
    """Energy fractions (of the raw energy) and multiplicities of toy jets.

    Clean jets (``quality`` < 0.96) share their energy as a Dirichlet draw over the charged
    and neutral hadron and neutral EM fractions, with a small charged EM part (no charged
    part outside the tracker, |η| > 2.5); jets with 0.96 ≤ ``quality`` < 0.985 have a
    charged EM fraction of 0.85 (they fail a lepton veto), the rest are noise jets (a
    neutral fraction beyond every jet-ID cut).
    """
    m = len(eta)
    abs_eta = np.abs(eta)
    tracker, forward = abs_eta < 2.5, abs_eta > 3.0
    frac = np.zeros((m, 5))  # chHEF, neHEF, chEmEF, neEmEF, muEF
    frac[:, 0] = np.where(tracker, rng.standard_gamma(6.0, m), 0.0)
    frac[:, 1] = rng.standard_gamma(1.0, m)
    frac[:, 3] = rng.standard_gamma(2.2, m)
    chem = np.where(tracker, rng.uniform(0.0, 0.08, m), 0.0)
    frac *= ((1.0 - chem) / frac.sum(axis=1))[:, None]
    frac[:, 2] = chem
    # forward calorimeter: mostly hadronic
    frac[forward, 3] = rng.uniform(0.02, 0.38, int(forward.sum()))
    frac[forward, 1] = 1.0 - frac[forward, 3]
    lepton_like = (quality >= 0.96) & (quality < 0.985)
    frac[lepton_like] *= 0.15 / frac[lepton_like].sum(axis=1, keepdims=True)
    frac[lepton_like, 2] += 0.85
    noise = quality >= 0.985
    hadronic = noise & (abs_eta > 2.6) & (abs_eta <= 3.0)
    frac[noise] *= 0.005
    frac[noise & ~hadronic, 3] += 0.995
    frac[hadronic, 1] += 0.995
    n_ch = np.where(tracker, rng.poisson(2.0 + 0.15 * raw), 0)
    n_ch = np.where(noise, 0, n_ch)
    n_ne = rng.poisson(1.0 + 0.10 * raw) + np.where(forward, 2, 0)
    names = ("chHEF", "neHEF", "chEmEF", "neEmEF", "muEF")
    out = {name: _f32(frac[:, k]) for k, name in enumerate(names)}
    out["chMultiplicity"] = np.clip(n_ch, 0, 255).astype(np.uint8)
    out["neMultiplicity"] = np.clip(n_ne, 0, 255).astype(np.uint8)
    out["nConstituents"] = np.clip(n_ch + n_ne, 0, 255).astype(np.uint8)
    out["muonSubtrFactor"] = np.zeros(m, np.float32)
    return out


def jet_id_bits(jets: Collection, recipe) -> None:
    """``Jet_jetId`` from the jets' composition by a JME jet-ID recipe (the toy detector's
    ID: the one hnl-coffea computes for NanoAOD v15)."""
    from ..jets.jetid import JET_ID_FIELDS, jet_id_flags

    f = jets.fields
    jets.fields["jetId"] = jet_id_flags(f["eta"], {k: f[k] for k in JET_ID_FIELDS}, recipe)


def make_fakes(rng: np.random.Generator, truth: Truth) -> list[Visible]:
    """Jet → τh / non-prompt μ / e fakes: softer than the jet and not isolated."""
    out = []
    n = truth.n
    for j, slot in enumerate(truth.jets):
        p_tau = np.select(
            [slot.flavour == 5, slot.flavour == 4],
            [_FAKE_PROB[5][0], _FAKE_PROB[4][0]],
            _FAKE_PROB[0][0],
        )
        p_mu = np.select(
            [slot.flavour == 5, slot.flavour == 4],
            [_FAKE_PROB[5][1], _FAKE_PROB[4][1]],
            _FAKE_PROB[0][1],
        )
        p_e = np.select(
            [slot.flavour == 5, slot.flavour == 4],
            [_FAKE_PROB[5][2], _FAKE_PROB[4][2]],
            _FAKE_PROB[0][2],
        )
        u = rng.random(n)
        kind = np.where(
            u < p_tau, 15, np.where(u < p_tau + p_mu, 13, np.where(u < p_tau + p_mu + p_e, 11, 0))
        )
        kind = np.where(slot.valid, kind, 0).astype(np.int32)
        x = np.where(kind == 15, rng.uniform(0.45, 0.95, n), rng.uniform(0.2, 0.8, n))
        p = slot.p4
        mvis = np.where(
            kind == 15, rng.uniform(0.14, 1.6, n), np.where(kind == 13, 0.10566, 0.000511)
        )
        px, py, pz = p.px * x, p.py * x, p.pz * x
        p4 = p4_from_xyzt(px, py, pz, np.sqrt(px**2 + py**2 + pz**2 + mvis**2))
        dm = rng.choice(np.array((0, 1, 2, 10, 11)), size=n, p=(0.2, 0.3, 0.1, 0.25, 0.15))
        origin = np.select(
            [slot.flavour == 5, slot.flavour == 4], [ORIGIN["b"], ORIGIN["c"]], ORIGIN["light"]
        )
        out.append(
            Visible(
                p4,
                kind,
                np.where(rng.random(n) < 0.5, 1, -1).astype(np.int32),
                np.full(n, -1, np.int32),
                origin.astype(np.int32),
                np.where(kind == 15, dm, -1).astype(np.int32),
                np.full(n, j, np.int32),
            )
        )
    return out


class _Slots:
    """The visible slots of a chunk stacked into (event × slot) tables."""

    def __init__(self, visible: list[Visible]):
        self.kind = stack([v.kind for v in visible], np.int32)
        self.pt, self.eta, self.phi, self.mass = kin_tables([v.p4 for v in visible], self.kind != 0)
        self.charge = stack([v.charge for v in visible], np.int32)
        self.gen = stack([v.gen for v in visible], np.int32)
        self.origin = stack([v.origin for v in visible], np.int32)
        self.dm = stack([v.dm for v in visible], np.int32)
        self.jet = stack([v.jet for v in visible], np.int32)
        self.n_slots = len(visible)


def _iso(rng, origin: np.ndarray, n_pu: np.ndarray) -> np.ndarray:
    m = len(origin)
    base = rng.exponential(0.02, m) + np.clip(rng.normal(0.002 * (n_pu - 30), 0.01), 0, None)
    hf = (origin == ORIGIN["b"]) | (origin == ORIGIN["c"])
    base = np.where(hf, 0.04 + rng.exponential(0.35, m), base)
    base = np.where(origin == ORIGIN["light"], 0.08 + rng.exponential(0.6, m), base)
    return base


def _impact(rng, origin: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    m = len(origin)
    width = np.select(
        [origin == ORIGIN["prompt"], origin == ORIGIN["tau"], origin == ORIGIN["b"]],
        [1.0, 4.0, 20.0],
        8.0,
    )
    return rng.normal(0, 0.0015 * scale * width, m), rng.normal(0, 0.003 * scale * width, m)


def _gen_flav_light(origin: np.ndarray) -> np.ndarray:
    table = {
        ORIGIN["prompt"]: 1,
        ORIGIN["tau"]: 15,
        ORIGIN["b"]: 5,
        ORIGIN["c"]: 4,
        ORIGIN["light"]: 3,
        ORIGIN["conversion"]: 22,
    }
    out = np.zeros(len(origin), np.uint8)
    for k, v in table.items():
        out[origin == k] = v
    return out


def make_leptons(rng, slots: _Slots, flavour: int, n_pu, jet_map, gen_map) -> Collection:
    """Muons (13) or electrons (11): smearing, acceptance, IDs, isolation, impact parameters."""
    is_mu = flavour == 13
    eff = 0.97 if is_mu else 0.92
    pre = slots_where((slots.kind == flavour) & (slots.pt > 3.0))
    m0 = len(pre.ev)
    pt = pre.take(slots.pt) * np.clip(rng.normal(1.0, 0.012 if is_mu else 0.025, m0), 0.5, None)
    eta, phi = _smear_dir(rng, pre.take(slots.eta), pre.take(slots.phi), 0.001)
    keep = (pt > (3.0 if is_mu else 5.0)) & (np.abs(eta) < (2.4 if is_mu else 2.5))
    keep &= rng.random(m0) < eff
    sel = Flat(pre.n, pre.ev[keep], pre.slot[keep])
    pt, eta, phi = pt[keep], eta[keep], phi[keep]
    order = sel.sort_by(pt)
    pt, eta, phi = pt[order], eta[order], phi[order]
    m = len(pt)
    origin = sel.take(slots.origin)
    genuine = (origin == ORIGIN["prompt"]) | (origin == ORIGIN["tau"])
    iso = _iso(rng, origin, n_pu[sel.ev])
    dxy, dz = _impact(rng, origin, 1.0)
    charge = sel.take(slots.charge)
    qual = beta_by_class(rng, [genuine, None], [(8.0, 1.0), (1.5, 2.5)])
    gen_idx = remap(sel.take(slots.gen), gen_map, sel.ev)
    f = {
        "pt": _f32(pt),
        "eta": _f32(eta),
        "phi": _f32(phi),
        "mass": _f32(sel.take(slots.mass)),
        "charge": _i32(charge),
        "pdgId": _i32(-flavour * charge),
        "dxy": _f32(dxy),
        "dz": _f32(dz),
        "jetIdx": remap(sel.take(slots.jet), jet_map, sel.ev),
        "genPartIdx": gen_idx,
        "genPartFlav": _gen_flav_light(origin),
        "_gen_pt": pre.take(slots.pt)[keep][order],
        "_gen_phi": pre.take(slots.phi)[keep][order],
    }
    if is_mu:
        f |= {
            "looseId": qual > 0.05,
            "mediumId": qual > 0.25,
            "tightId": qual > 0.4,
            "pfRelIso04_all": _f32(iso),
        }
    else:
        conv = origin == ORIGIN["conversion"]
        mva_noiso = np.clip(qual - np.where(conv, 0.3, 0.0), 0, 1)
        mva_iso = np.clip(mva_noiso - 0.8 * iso, 0, 1)
        lost = np.where(conv, 1 + rng.poisson(0.8, m), (rng.random(m) < 0.05).astype(int))
        f |= {
            "mvaIso_WP80": mva_iso > 0.55,
            "mvaIso_WP90": mva_iso > 0.35,
            "mvaNoIso_WP90": mva_noiso > 0.35,
            "pfRelIso03_all": _f32(iso * 0.8),
            "convVeto": np.where(conv, rng.random(m) < 0.25, rng.random(m) < 0.995),
            "lostHits": np.clip(lost, 0, 255).astype(np.uint8),
            "deltaEtaSC": _f32(rng.normal(0.0, 0.01, m)),
            "photonIdx": np.full(m, -1, np.int32),
        }
        del mva_noiso
    if is_mu:
        f["fsrPhotonIdx"] = np.full(m, -1, np.int32)
    return Collection(sel.counts, f)


def make_taus(rng, slots: _Slots, n_pu, jet_map, gen_map) -> Collection:
    """τh candidates: genuine τh, jet fakes and e/μ misidentified as τh, with DeepTau scores."""
    genuine = (slots.kind == 15) & (slots.origin == ORIGIN["tau"])
    jetfake = (slots.kind == 15) & ~genuine
    u = rng.random(slots.kind.shape)
    lepfake = ((slots.kind == 11) & (u < 0.03)) | ((slots.kind == 13) & (u < 0.01))
    reco_eff = np.where(genuine, 0.85, 1.0)
    pre = slots_where((genuine | jetfake | lepfake) & (rng.random(slots.kind.shape) < reco_eff))
    m0 = len(pre.ev)
    kind = pre.take(slots.kind)
    src = np.where(pre.take(genuine), 5, np.where(pre.take(jetfake), 0, kind))
    pt = pre.take(slots.pt) * np.clip(rng.normal(0.98, 0.06, m0), 0.5, None)
    eta, phi = _smear_dir(rng, pre.take(slots.eta), pre.take(slots.phi), 0.008)
    keep = (pt > 18.0) & (np.abs(eta) < 2.5)
    sel = Flat(pre.n, pre.ev[keep], pre.slot[keep])
    pt, eta, phi, src = pt[keep], eta[keep], phi[keep], src[keep]
    order = sel.sort_by(pt)
    pt, eta, phi, src = pt[order], eta[order], phi[order], src[order]
    m = len(pt)
    origin = sel.take(slots.origin)
    dm = sel.take(slots.dm)
    lep_dm = rng.choice(np.array(TAU_DM), size=m, p=np.array(TAU_DM_FRAC))
    dm = np.where(src == 5, np.where(rng.random(m) < 0.04, 2, dm), dm)
    dm = np.where((src == 11) | (src == 13), np.where(lep_dm > 1, 0, lep_dm), dm)
    mass = np.where(
        (src == 11) | (src == 13), np.where(dm == 0, 0.13957, 0.6), sel.take(slots.mass)
    )
    flav = np.zeros(m, np.uint8)
    flav[src == 5] = 5
    from_tau = origin == ORIGIN["tau"]
    flav[(src == 11) & ~from_tau] = 1
    flav[(src == 13) & ~from_tau] = 2
    flav[(src == 11) & from_tau] = 3
    flav[(src == 13) & from_tau] = 4
    is_lep = (src == 11) | (src == 13)
    vsjet = beta_by_class(rng, [is_lep, src == 5, None], [(5.0, 1.5), (12.0, 0.8), (1.2, 2.5)])
    vse = beta_by_class(rng, [src == 11, None], [(1.2, 6.0), (10.0, 0.6)])
    vsmu = beta_by_class(rng, [src == 13, None], [(1.0, 8.0), (15.0, 0.4)])
    charge = np.where(src == 0, sel.take(slots.charge), sel.take(slots.charge))
    dxy, dz = _impact(rng, np.where(src == 0, ORIGIN["light"], ORIGIN["tau"]), 1.0)
    return Collection(
        sel.counts,
        {
            "pt": _f32(pt),
            "eta": _f32(eta),
            "phi": _f32(phi),
            "mass": _f32(mass),
            "charge": _i32(charge),
            "decayMode": _i32(dm),
            "idDecayModeNewDMs": rng.random(m) < 0.99,
            "dxy": _f32(dxy),
            "dz": _f32(dz),
            "jetIdx": remap(sel.take(slots.jet), jet_map, sel.ev),
            "genPartIdx": remap(np.where(src == 0, -1, sel.take(slots.gen)), gen_map, sel.ev),
            "genPartFlav": flav,
            "rawDeepTauVSjet": _f32(vsjet),
            "rawDeepTauVSe": _f32(vse),
            "rawDeepTauVSmu": _f32(vsmu),
        },
    )
