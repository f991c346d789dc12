"""One simulated chunk: GenPart record, pile-up, detector objects, MET, HLT decisions and
trigger objects."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from ..config import EraConfig
from ..triggers import path_applies
from .detector import _Slots, make_fakes, make_jets, make_leptons, make_taus
from .jetmet import add_jet_met, toy_jet_id_recipe
from .reco import Collection, ptetaphim, slots_where, stack, take_p4
from .truth import Truth

__all__ = ["Chunk", "simulate"]


@dataclass
class Chunk:
    """Simulated events of one chunk: scalar branches, collections and HLT group decisions.

    A trigger group fires on objects of the flavour and multiplicity of its paths' legs
    (``eras.<era>.trigger_paths``), above the pT threshold in the path name.
    """

    n: int
    scalars: dict[str, np.ndarray] = field(default_factory=dict)
    collections: dict[str, Collection] = field(default_factory=dict)
    trigger_groups: dict[str, np.ndarray] = field(default_factory=dict)


def _gen_record(truth: Truth) -> tuple[Collection, np.ndarray, Collection]:
    """GenPart (valid slots, mother links remapped) and GenVisTau; returns the slot map too."""
    valid = stack(truth.gen_valid)
    sel = slots_where(valid)
    smap = sel.slot_map(valid.shape[1])
    # four-vector components of the selected slots only, then collider coordinates
    pt, eta, phi, mass = ptetaphim(*take_p4(sel, truth.gen_p4))
    # neutral, massless particles along the beam would have infinite η; keep them finite
    eta = np.clip(np.nan_to_num(eta, nan=0.0, posinf=20.0, neginf=-20.0), -20.0, 20.0)
    n_slots = len(truth.gen_p4)
    pdg = stack(truth.gen_pdg, np.int32)
    status = stack([truth.gen_status_array(i) for i in range(n_slots)], np.int32)
    flags = np.asarray(truth.gen_flags, np.int32)[sel.slot]
    mother_slot = np.asarray(truth.gen_mother, np.int64)[sel.slot]
    mother = np.where(mother_slot >= 0, smap[sel.ev, np.maximum(mother_slot, 0)], -1)
    gen = Collection(
        sel.counts,
        {
            "pt": pt.astype(np.float32),
            "eta": eta.astype(np.float32),
            "phi": phi.astype(np.float32),
            "mass": mass.astype(np.float32),
            "pdgId": sel.take(pdg),
            "status": sel.take(status),
            "statusFlags": flags,
            "genPartIdxMother": mother.astype(np.int32),
        },
    )
    # GenVisTau: the visible hadronic decay products of each τh
    if truth.vistau:
        slots = [slot for slot, _ in truth.vistau]
        decays = [dec for _, dec in truth.vistau]
        vsel = slots_where(stack([truth.tau_slots[s] & (d.kind == 15) for s, d in truth.vistau]))
        vpt, veta, vphi, vmass = ptetaphim(*take_p4(vsel, [d.visible for d in decays]))
        charge = stack([-np.sign(truth.gen_pdg[s]) for s in slots], np.int32)
        vistau = Collection(
            vsel.counts,
            {
                "pt": vpt.astype(np.float32),
                "eta": veta.astype(np.float32),
                "phi": vphi.astype(np.float32),
                "mass": vmass.astype(np.float32),
                "charge": vsel.take(charge),
                "status": vsel.take(stack([d.dm for d in decays], np.int32)),
                "genPartIdxMother": vsel.take(smap[:, slots]),
            },
        )
    else:
        f4, i4 = np.float32, np.int32
        vistau = _empty(
            truth.n,
            {
                "pt": f4,
                "eta": f4,
                "phi": f4,
                "mass": f4,
                "charge": i4,
                "status": i4,
                "genPartIdxMother": i4,
            },
        )
    return gen, smap, vistau


def _met(rng, chunk: Chunk, truth: Truth, n_pu: np.ndarray) -> dict[str, np.ndarray]:
    """MET = neutrinos − object mismeasurement + unclustered noise, with its covariance."""
    n = truth.n
    mex, mey = truth.nu_px.copy(), truth.nu_py.copy()
    sum_et = 250.0 + 8.0 * n_pu + rng.gamma(2.0, 40.0, n)
    jets = chunk.collections["Jet"]
    ev = np.repeat(np.arange(n), jets.counts)
    mex -= np.bincount(ev, jets.fields["_dpx"], n)
    mey -= np.bincount(ev, jets.fields["_dpy"], n)
    jpt = jets.fields["pt"].astype(np.float64)
    jphi = jets.fields["phi"].astype(np.float64)
    s2 = (0.12 * jpt) ** 2
    cxx = np.bincount(ev, s2 * np.cos(jphi) ** 2, n)
    cyy = np.bincount(ev, s2 * np.sin(jphi) ** 2, n)
    cxy = np.bincount(ev, s2 * np.cos(jphi) * np.sin(jphi), n)
    sum_et += np.bincount(ev, jpt, n)
    for name in ("Muon", "Electron"):
        c = chunk.collections[name]
        lev = np.repeat(np.arange(n), c.counts)
        pt = c.fields["pt"].astype(np.float64)
        phi = c.fields["phi"].astype(np.float64)
        mex -= np.bincount(
            lev, pt * np.cos(phi) - c.fields["_gen_pt"] * np.cos(c.fields["_gen_phi"]), n
        )
        mey -= np.bincount(
            lev, pt * np.sin(phi) - c.fields["_gen_pt"] * np.sin(c.fields["_gen_phi"]), n
        )
        sum_et += np.bincount(lev, pt, n)
    sigma_u2 = 0.36 * (250.0 + 8.0 * n_pu)
    mex += rng.normal(0.0, np.sqrt(sigma_u2))
    mey += rng.normal(0.0, np.sqrt(sigma_u2))
    cxx += sigma_u2
    cyy += sigma_u2
    det = cxx * cyy - cxy**2
    sig = (cyy * mex**2 - 2 * cxy * mex * mey + cxx * mey**2) / det
    unc = np.sqrt(0.1 * sigma_u2)
    f32 = np.float32
    return {
        "pt": np.hypot(mex, mey).astype(f32),
        "phi": np.arctan2(mey, mex).astype(f32),
        "sumEt": sum_et.astype(f32),
        "covXX": cxx.astype(f32),
        "covXY": cxy.astype(f32),
        "covYY": cyy.astype(f32),
        "significance": sig.astype(f32),
        "MetUnclustEnUpDeltaX": rng.normal(0.0, unc).astype(f32),
        "MetUnclustEnUpDeltaY": rng.normal(0.0, unc).astype(f32),
    }


def path_threshold(path: str) -> float:
    """The pT threshold encoded in an HLT path name (first number, e.g. IsoMu24 → 24)."""
    m = re.search(r"(\d+)", path)
    if m is None:
        raise ValueError(f"cannot read a pT threshold from trigger path {path!r}")
    return float(m.group(1))


#: Offline collection of each trigger-leg flavour, its TrigObj_id, and the online-vs-offline
#: resolution of the toy trigger objects (relative pT, η and φ).
_LEG_COLLECTION = {"mu": ("Muon", 13), "e": ("Electron", 11), "tau": ("Tau", 15)}
_ONLINE_RESOLUTION = {"Muon": (0.01, 0.002), "Electron": (0.02, 0.004), "Tau": (0.06, 0.02)}


def _group_collection(era: EraConfig, group: str) -> tuple[str, int]:
    """The offline collection whose objects fire ``group`` and how many each path needs."""
    legs = {
        (leg.object, len(era.trigger_paths[p].legs))
        for p in era.triggers[group]
        for leg in era.trigger_paths[p].legs
    }
    if len(legs) != 1:
        raise ValueError(
            f"trigger group {group!r}: the toy generator fires groups of one object type with "
            f"one multiplicity, got {sorted(legs)}"
        )
    flavour, need = legs.pop()
    return _LEG_COLLECTION[flavour][0], need


def _triggers(rng, chunk: Chunk, era: EraConfig, runs: np.ndarray | None) -> dict[str, np.ndarray]:
    """HLT bits: a path fires with a plateau efficiency on objects above its threshold, where
    it is used (simulation; data: its runs). Its objects become ``TrigObj`` entries with the
    filter bits of its legs."""
    n = chunk.n
    bits: dict[str, np.ndarray] = {}
    online_bits = {
        name: np.zeros(len(chunk.collections[name].fields["pt"]), np.uint64)
        for name, _ in _LEG_COLLECTION.values()
    }
    for group, paths in era.triggers.items():
        name, need = _group_collection(era, group)
        c = chunk.collections[name]
        ev = np.repeat(np.arange(n), c.counts)
        pt, eta = c.fields["pt"], c.fields["eta"]
        if name == "Muon":
            online = (c.fields["pfRelIso04_all"] < 0.2) & c.fields["mediumId"]
        elif name == "Electron":
            online = c.fields["mvaIso_WP90"]
        else:
            online = (c.fields["rawDeepTauVSjet"] > 0.6) & (np.abs(eta) < 2.1)
        u = rng.random(len(pt))
        fired_any = np.zeros(n, bool)
        for path in paths:
            spec = era.trigger_paths[path]
            thr = path_threshold(path)
            turn_on = 0.92 / (1.0 + np.exp(-(pt - thr - 1.5) / 0.8))
            ok = online & (pt > thr) & (u < turn_on)
            fired = np.bincount(ev[ok], minlength=n) >= need
            fired &= path_applies(spec, runs, runs is None)
            bits[f"HLT_{path}"] = fired
            fired_any |= fired
            mask = 0
            for leg in spec.legs:
                mask |= leg.bit_mask
            online_bits[name][ok & fired[ev]] |= np.uint64(mask)
        chunk.trigger_groups[group] = fired_any
    chunk.collections["TrigObj"] = _trigger_objects(rng.spawn(1)[0], chunk, online_bits)
    return bits


def _trigger_objects(rng, chunk: Chunk, online_bits: dict[str, np.ndarray]) -> Collection:
    """``TrigObj``: the online copies (smeared in pT, η, φ) of the objects that fired a path."""
    n = chunk.n
    parts = []
    for name, pdg in _LEG_COLLECTION.values():
        c = chunk.collections[name]
        keep = online_bits[name] != 0
        ev = np.repeat(np.arange(n), c.counts)[keep]
        k = int(keep.sum())
        s_pt, s_ang = _ONLINE_RESOLUTION[name]
        parts.append(
            (
                ev,
                {
                    "id": np.full(k, pdg, np.int32),
                    "pt": c.fields["pt"][keep] * (1.0 + s_pt * rng.standard_normal(k)),
                    "eta": c.fields["eta"][keep] + s_ang * rng.standard_normal(k),
                    "phi": c.fields["phi"][keep] + s_ang * rng.standard_normal(k),
                    "filterBits": online_bits[name][keep],
                },
            )
        )
    ev = np.concatenate([p[0] for p in parts])
    order = np.argsort(ev, kind="stable")
    fields = {f: np.concatenate([p[1][f] for p in parts])[order] for f in parts[0][1]}
    for f in ("pt", "eta", "phi"):
        fields[f] = fields[f].astype(np.float32)
    fields["phi"] = ((fields["phi"] + np.pi) % (2 * np.pi) - np.pi).astype(np.float32)
    # Int_t as in NanoAOD up to v14 while every bit fits, else ULong64_t as in v15
    wide = bool(np.any(fields["filterBits"] >> np.uint64(31)))
    fields["filterBits"] = fields["filterBits"].astype(np.uint64 if wide else np.int32)
    return Collection(np.bincount(ev, minlength=n).astype(np.int32), fields)


def _empty(n: int, fields: dict[str, type]) -> Collection:
    return Collection(np.zeros(n, np.int32), {k: np.zeros(0, t) for k, t in fields.items()})


#: Probability that a toy event fails one given MET filter flag.
FILTER_FAILURE = 0.002


def _event_flags(rng: np.random.Generator, n: int, met_filters: tuple[str, ...]) -> dict:
    """The MET filter flags (each fails with :data:`FILTER_FAILURE`) and the primary-vertex
    position (needed by NanoEvents next to ``PV_npvsGood``)."""
    out = {f"Flag_{name}": rng.random(n) > FILTER_FAILURE for name in met_filters}
    out["PV_x"] = rng.normal(0.01, 0.002, n).astype(np.float32)
    out["PV_y"] = rng.normal(0.04, 0.002, n).astype(np.float32)
    out["PV_z"] = rng.normal(0.0, 3.5, n).astype(np.float32)
    return out


def simulate(
    rng: np.random.Generator, truth: Truth, era: EraConfig, runs: np.ndarray | None = None
) -> Chunk:
    """Run the toy detector on one chunk of generator-level events of ``era``; ``runs``:
    the run of each event of collision data (None: simulation), which decides the HLT paths
    in use. The MET filter flags written are the era's ``met_filters``."""
    n = truth.n
    chunk = Chunk(n)
    n_true = np.clip(rng.normal(32.0, 11.0, n), 1.0, 80.0)
    n_pu = rng.poisson(n_true).astype(np.float64)
    chunk.scalars["Pileup_nTrueInt"] = n_true.astype(np.float32)
    chunk.scalars["PV_npvsGood"] = np.maximum(rng.binomial(n_pu.astype(np.int64), 0.75), 1).astype(
        np.int32
    )
    rho = np.clip(0.55 * n_pu + rng.normal(1.0, 1.5, n), 0, None).astype(np.float32)
    chunk.scalars["fixedGridRhoFastjetAll"] = rho

    gen, gen_map, vistau = _gen_record(truth)
    truth.visible.extend(make_fakes(rng, truth))
    jet, genjet, jet_map = make_jets(rng, truth, n_pu, rho)
    slots = _Slots(truth.visible)
    c = chunk.collections
    c["Muon"] = make_leptons(rng, slots, 13, n_pu, jet_map, gen_map)
    c["Electron"] = make_leptons(rng, slots, 11, n_pu, jet_map, gen_map)
    c["Tau"] = make_taus(rng, slots, n_pu, jet_map, gen_map)
    c["Jet"] = jet
    c["GenJet"] = genjet
    c["GenPart"] = gen
    c["GenVisTau"] = vistau
    _jet_lepton_links(c)
    add_jet_met(c, _met(rng, chunk, truth, n_pu), rho, toy_jet_id_recipe(era))
    chunk.scalars.update(_triggers(rng, chunk, era, runs))
    f4, i4 = np.float32, np.int32
    c["Photon"] = _empty(
        n, {"pt": f4, "eta": f4, "phi": f4, "electronIdx": i4, "jetIdx": i4, "genPartIdx": i4}
    )
    c["FsrPhoton"] = _empty(n, {"pt": f4, "eta": f4, "phi": f4, "muonIdx": i4})
    c["LowPtElectron"] = _empty(
        n,
        {
            "pt": f4,
            "eta": f4,
            "phi": f4,
            "mass": f4,
            "charge": i4,
            "electronIdx": i4,
            "photonIdx": i4,
            "genPartIdx": i4,
        },
    )
    c["FatJet"] = _empty(
        n,
        {
            "pt": f4,
            "eta": f4,
            "phi": f4,
            "mass": f4,
            "subJetIdx1": i4,
            "subJetIdx2": i4,
            "genJetAK8Idx": i4,
        },
    )
    c["SubJet"] = _empty(n, {"pt": f4, "eta": f4, "phi": f4, "mass": f4})
    c["GenJetAK8"] = _empty(n, {"pt": f4, "eta": f4, "phi": f4, "mass": f4})
    # from a stream of its own, so that the rest of the event does not depend on the filters
    chunk.scalars.update(
        _event_flags(np.random.Generator(rng.bit_generator.jumped()), n, era.met_filters)
    )
    return chunk


def _jet_lepton_links(c: dict[str, Collection]) -> None:
    """``Jet_muonIdx1/2`` and ``Jet_electronIdx1/2``: the leptons inside each jet."""
    jets = c["Jet"]
    joff = jets.offsets
    for name, key in (("Muon", "muon"), ("Electron", "electron")):
        lep = c[name]
        lev = np.repeat(np.arange(len(lep.counts)), lep.counts)
        local = np.arange(len(lev)) - lep.offsets[lev]
        j = lep.fields["jetIdx"]
        has = j >= 0
        idx1 = np.full(len(jets.fields["pt"]), -1, np.int32)
        # reverse order so that the leading lepton wins when two share a jet
        target = (joff[lev] + j)[has][::-1]
        idx1[target] = local[has][::-1]
        jets.fields[f"{key}Idx1"] = idx1
        jets.fields[f"{key}Idx2"] = np.full(len(idx1), -1, np.int32)
