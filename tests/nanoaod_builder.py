"""Write tiny NanoAOD-layout ROOT files from explicit per-event Python lists, for tests.

An event is a dict::

    {"Muon": [{"pt": 30, "eta": 0.1, "phi": 1.0, "charge": -1}, ...],
     "Electron": [...], "Tau": [...], "Jet": [...],
     "MET": {"pt": 40.0, "phi": 0.3}, "HLT": {"IsoMu24": True},
     "TrigObj": [{"id": 13, "pt": 30, "eta": 0.1, "phi": 1.0, "filterBits": 2}], "run": 1}

Objects get defaults that pass the default selection, so hand cases list kinematics only.
Without a ``TrigObj`` list an event gets one trigger object on every muon, electron and
τh, with every filter bit (0-30) set, so hand cases pass trigger matching unless they say
otherwise; unlisted HLT paths fire.
Jets get the inputs of the jet corrections: unless given, ``rawFactor`` is the one whose
re-applied illustrative JEC (the toy detector's response, ``hnl_coffea.toymc.detector``)
gives back the jet's pT, and each jet of a simulated event has a ``GenJet`` with its own
kinematics (so the nominal JER smearing leaves it unchanged); ``GenJet`` lists them
explicitly. The raw MET (``RawMET``: ``{"pt", "phi"}`` to give it) is by default the one
whose type-1 correction with those JEC is ``MET``.
Tau DeepTau discriminants are given as working-point integers (``vsjet``/``vse`` 0..8,
``vsmu`` 0..4) and written as v2p5 integers (``layout="modern"``) or v2p1 cumulative bit
masks (``layout="legacy"``); electron IDs use the modern names and are renamed for legacy.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import uproot

HLT_PATHS = (
    "IsoMu24",
    "Ele32_WPTight_Gsf",
    "DoubleMediumChargedIsoPFTauHPS35_Trk1_eta2p1_Reg",
    "DoubleTightChargedIsoPFTau35_Trk1_TightID_eta2p1_Reg",
    "DoubleMediumChargedIsoPFTau40_Trk1_TightID_eta2p1_Reg",
    "DoubleTightChargedIsoPFTau40_Trk1_eta2p1_Reg",
)
#: ``TrigObj_filterBits`` with every bit of a 32-bit ``Int_t`` but the sign set.
ALL_BITS = 0x7FFFFFFF
_TRIGOBJ_ID = {"Muon": 13, "Electron": 11, "Tau": 15}
#: MET filter flags written (``Flag_<name>``, True unless an event's ``"Flag"`` says otherwise):
#: every filter of every era of the default configuration.
FLAGS = (
    "goodVertices", "globalSuperTightHalo2016Filter", "HBHENoiseFilter", "HBHENoiseIsoFilter",
    "EcalDeadCellTriggerPrimitiveFilter", "BadPFMuonFilter", "BadPFMuonDzFilter",
    "eeBadScFilter", "ecalBadCalibFilter", "hfNoisyHitsFilter",
)  # fmt: skip

_I32, _F32, _U8, _B = np.int32, np.float32, np.uint8, np.bool_
_BASE = {"pt": (30.0, _F32), "eta": (0.0, _F32), "phi": (0.0, _F32), "charge": (1, _I32)}
DEFAULTS: dict[str, dict[str, tuple[Any, Any]]] = {
    "Muon": {
        **_BASE, "mass": (0.10566, _F32), "pdgId": (-13, _I32), "looseId": (True, _B),
        "mediumId": (True, _B), "tightId": (True, _B), "pfRelIso04_all": (0.01, _F32),
        "dxy": (0.001, _F32), "dz": (0.01, _F32), "jetIdx": (-1, _I32),
        "genPartFlav": (1, _U8),
    },
    "Electron": {
        **_BASE, "mass": (0.000511, _F32), "pdgId": (-11, _I32), "mvaIso_WP90": (True, _B),
        "mvaIso_WP80": (True, _B), "mvaNoIso_WP90": (True, _B),
        "pfRelIso03_all": (0.01, _F32), "dxy": (0.001, _F32), "dz": (0.01, _F32),
        "convVeto": (True, _B), "lostHits": (0, _U8), "deltaEtaSC": (0.0, _F32),
        "jetIdx": (-1, _I32), "genPartFlav": (1, _U8),
    },
    "Tau": {
        **_BASE, "mass": (1.2, _F32), "decayMode": (0, _I32), "dz": (0.01, _F32),
        "dxy": (0.001, _F32), "jetIdx": (-1, _I32), "genPartFlav": (5, _U8),
        "vsjet": (8, _U8), "vse": (8, _U8), "vsmu": (4, _U8), "idDecayModeNewDMs": (True, _B),
    },
    "Jet": {
        **{k: v for k, v in _BASE.items() if k != "charge"}, "mass": (5.0, _F32),
        "jetId": (6, _I32), "btagDeepFlavB": (0.01, _F32), "hadronFlavour": (0, _I32),
        "rawFactor": (None, _F32), "area": (0.5, _F32), "chHEF": (0.6, _F32),
        "neHEF": (0.1, _F32), "chEmEF": (0.05, _F32), "neEmEF": (0.2, _F32), "muEF": (0.0, _F32),
        "chMultiplicity": (5, _U8), "neMultiplicity": (5, _U8), "muonSubtrFactor": (0.0, _F32),
        "genJetIdx": (None, _I32),
    },
}  # fmt: skip
_MC_ONLY = {"genPartFlav", "hadronFlavour", "genJetIdx"}
RHO = 20.0
_LEGACY_ELE = {
    "mvaIso_WP90": "mvaFall17V2Iso_WP90",
    "mvaIso_WP80": "mvaFall17V2Iso_WP80",
    "mvaNoIso_WP90": "mvaFall17V2noIso_WP90",
}


def _tau_branch(key: str, layout: str) -> str:
    version = "2018v2p5" if layout == "modern" else "2017v2p1"
    return f"idDeepTau{version}{ {'vsjet': 'VSjet', 'vse': 'VSe', 'vsmu': 'VSmu'}[key] }"


def _encode_wp(value: int, layout: str) -> int:
    """A working-point integer (passes WPs 0..value-1) in the layout's encoding."""
    return int(value) if layout == "modern" else (1 << int(value)) - 1


def raw_factor(pt: float, eta: float, area: float, rho: float = RHO) -> float:
    """The ``rawFactor`` for which the illustrative JEC give back ``pt`` (toy response)."""
    from hnl_coffea.toymc.detector import JET_PU_OFFSET, JET_RESPONSE, JET_RESPONSE_ABSETA

    k = max(i for i, lo in enumerate(JET_RESPONSE_ABSETA[:-1]) if abs(eta) >= lo)
    raw = pt * JET_RESPONSE[k] + JET_PU_OFFSET * rho * area
    return 1.0 - raw / pt


def _jet_default(jet: dict, field: str, index: int) -> Any:
    if field == "rawFactor":
        return raw_factor(jet.get("pt", 30.0), jet.get("eta", 0.0), jet.get("area", 0.5))
    return index  # genJetIdx: the event's GenJet of the same index


def _columns(events: list[dict], name: str, layout: str, is_mc: bool) -> dict[str, ak.Array]:
    cols: dict[str, ak.Array] = {}
    for field, (default, dtype) in DEFAULTS[name].items():
        if field in _MC_ONLY and not is_mc:
            continue
        values = [
            [
                obj.get(field, default if default is not None else _jet_default(obj, field, i))
                for i, obj in enumerate(ev.get(name, []))
            ]
            for ev in events
        ]
        out = field
        if name == "Tau" and field in ("vsjet", "vse", "vsmu"):
            values = [[_encode_wp(v, layout) for v in row] for row in values]
            out = _tau_branch(field, layout)
        elif name == "Electron" and layout == "legacy" and field in _LEGACY_ELE:
            out = _LEGACY_ELE[field]
        content = np.asarray([v for row in values for v in row], dtype=dtype)
        counts = np.asarray([len(row) for row in values], dtype=np.int64)
        cols[out] = ak.unflatten(content, counts)
    return cols


def trigger_objects(ev: dict) -> list[dict]:
    """The event's ``TrigObj`` list: as given, or one per lepton with every bit set."""
    if "TrigObj" in ev:
        return ev["TrigObj"]
    out = []
    for name, pdg in _TRIGOBJ_ID.items():
        for o in ev.get(name, []):
            kin = {k: o.get(k, _BASE[k][0]) for k in ("pt", "eta", "phi")}
            out.append({"id": pdg, **kin, "filterBits": ALL_BITS})
    return out


def _trigobj_columns(events: list[dict]) -> dict[str, ak.Array]:
    rows = [trigger_objects(ev) for ev in events]
    counts = np.asarray([len(r) for r in rows], dtype=np.int64)
    cols = {}
    for field, dtype in (("id", _I32), ("pt", _F32), ("eta", _F32), ("phi", _F32),
                         ("filterBits", _I32)):  # fmt: skip
        content = np.asarray([o[field] for r in rows for o in r], dtype=dtype)
        cols[field] = ak.unflatten(content, counts)
    return cols


def write_nanoaod(
    path: str | Path,
    events: list[dict],
    layout: str = "modern",
    is_mc: bool = True,
    drop: tuple[str, ...] = (),
    hlt_paths: tuple[str, ...] = HLT_PATHS,
    both_deeptau: bool = False,
) -> Path:
    """Write ``events`` as a NanoAOD ``Events`` tree; ``drop`` lists branch names to omit.
    ``both_deeptau`` (modern layout) also writes DeepTau2017v2p1 as working-point integers,
    as NanoAOD v10-v14 do."""
    n = len(events)
    rho = "fixedGridRhoFastjetAll" if layout == "legacy" else "Rho_fixedGridRhoFastjetAll"
    tree: dict[str, Any] = {
        "run": np.asarray([ev.get("run", 1) for ev in events], np.uint32),
        "luminosityBlock": np.ones(n, np.uint32),
        "event": np.arange(n, dtype=np.uint64),
        "PV_npvsGood": np.asarray([ev.get("PV_npvsGood", 30) for ev in events], np.int32),
        "PV_x": np.zeros(n, np.float32),
        "PV_y": np.zeros(n, np.float32),
        "PV_z": np.zeros(n, np.float32),
        rho: np.full(n, RHO, np.float32),
    }
    if is_mc:
        tree["genWeight"] = np.ones(n, np.float32)
        tree["Pileup_nTrueInt"] = np.full(n, 30.0, np.float32)
    for name in ("Muon", "Electron", "Tau", "Jet"):
        cols = {k: v for k, v in _columns(events, name, layout, is_mc).items()}
        if name == "Tau" and both_deeptau and layout == "modern":
            for disc in ("VSjet", "VSe", "VSmu"):
                cols[f"idDeepTau2017v2p1{disc}"] = cols[f"idDeepTau2018v2p5{disc}"]
        cols = {k: v for k, v in cols.items() if f"{name}_{k}" not in drop}
        tree[name] = ak.zip(cols)
    tree["TrigObj"] = ak.zip(
        {k: v for k, v in _trigobj_columns(events).items() if f"TrigObj_{k}" not in drop}
    )
    if is_mc:
        tree["GenJet"] = ak.zip(_genjets(events))
    met = "PFMET" if layout == "modern" else "MET"
    for field, default in (
        ("pt", 30.0), ("phi", 0.0), ("sumEt", 500.0), ("MetUnclustEnUpDeltaX", 1.0),
        ("MetUnclustEnUpDeltaY", -1.0),
    ):  # fmt: skip
        tree[f"{met}_{field}"] = np.asarray(
            [ev.get("MET", {}).get(field, default) for ev in events], np.float32
        )
    for flag in FLAGS:
        tree[f"Flag_{flag}"] = np.asarray(
            [bool(ev.get("Flag", {}).get(flag, True)) for ev in events], dtype=np.bool_
        )
    raw_pt, raw_phi = _raw_met(events, tree[f"{met}_pt"], tree[f"{met}_phi"])
    raw = "RawPFMET" if layout == "modern" else "RawMET"
    for prefix in (raw, "RawPuppiMET"):
        tree[f"{prefix}_pt"], tree[f"{prefix}_phi"] = raw_pt, raw_phi
    tree["PuppiMET_pt"], tree["PuppiMET_phi"] = tree[f"{met}_pt"], tree[f"{met}_phi"]
    dx, dy = tree[f"{met}_MetUnclustEnUpDeltaX"], tree[f"{met}_MetUnclustEnUpDeltaY"]
    mx = tree[f"{met}_pt"] * np.cos(tree[f"{met}_phi"])
    my = tree[f"{met}_pt"] * np.sin(tree[f"{met}_phi"])
    tree["PuppiMET_ptUnclusteredUp"] = np.hypot(mx + dx, my + dy).astype(np.float32)
    tree["PuppiMET_phiUnclusteredUp"] = np.arctan2(my + dy, mx + dx).astype(np.float32)
    for p in hlt_paths:
        tree[f"HLT_{p}"] = np.asarray(
            [bool(ev.get("HLT", {}).get(p, True)) for ev in events], dtype=np.bool_
        )
    tree = {k: v for k, v in tree.items() if k not in drop}
    path = Path(path)
    with uproot.recreate(path) as f:
        f.mktree(
            "Events", {k: (v.type if isinstance(v, ak.Array) else v.dtype) for k, v in tree.items()}
        )
        f["Events"].extend(tree)
    return path


def _genjets(events: list[dict]) -> dict[str, ak.Array]:
    """``GenJet`` of each event: its ``GenJet`` list, else copies of its jets."""
    rows = [
        ev.get(
            "GenJet",
            [{k: j.get(k, d) for k, d in _GEN_DEFAULTS.items()} for j in ev.get("Jet", [])],
        )
        for ev in events
    ]
    out = {}
    for field, default in _GEN_DEFAULTS.items():
        content = np.asarray([g.get(field, default) for row in rows for g in row], np.float32)
        out[field] = ak.unflatten(content, np.asarray([len(r) for r in rows], np.int64))
    return out


_GEN_DEFAULTS = {"pt": 30.0, "eta": 0.0, "phi": 0.0, "mass": 5.0}


def _raw_met(events: list[dict], met_pt: np.ndarray, met_phi: np.ndarray):
    """The raw MET whose type-1 correction (illustrative JEC, JME jet selection) is the MET."""
    from hnl_coffea.toymc.detector import JET_PU_OFFSET, JET_RESPONSE, JET_RESPONSE_ABSETA

    x = met_pt.astype(np.float64) * np.cos(met_phi)
    y = met_pt.astype(np.float64) * np.sin(met_phi)
    for i, ev in enumerate(events):
        if "RawMET" in ev:  # given explicitly
            x[i] = ev["RawMET"]["pt"] * np.cos(ev["RawMET"]["phi"])
            y[i] = ev["RawMET"]["pt"] * np.sin(ev["RawMET"]["phi"])
            continue
        for jet in ev.get("Jet", []):
            j = {k: jet.get(k, d) for k, (d, _) in DEFAULTS["Jet"].items()}
            j["rawFactor"] = jet.get("rawFactor", _jet_default(j, "rawFactor", 0))
            raw = np.float32(j["pt"]) * (1.0 - np.float32(j["rawFactor"]))
            l1 = max(1e-4, 1.0 - JET_PU_OFFSET * np.float32(j["area"]) * RHO / raw)
            no_mu = raw * (1.0 - j["muonSubtrFactor"])
            k = max(i for i, lo in enumerate(JET_RESPONSE_ABSETA[:-1]) if abs(j["eta"]) >= lo)
            full = no_mu * l1 / JET_RESPONSE[k]
            if full > 15.0 and j["chEmEF"] + j["neEmEF"] < 0.9 and abs(j["eta"]) < 5.2:
                x[i] += (full - no_mu * l1) * np.cos(np.float32(j["phi"]))
                y[i] += (full - no_mu * l1) * np.sin(np.float32(j["phi"]))
    return np.hypot(x, y).astype(np.float32), np.arctan2(y, x).astype(np.float32)


def open_events(path: str | Path, mode: str = "virtual") -> Any:
    """Open a file written by :func:`write_nanoaod` as coffea NanoEvents."""
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

    return NanoEventsFactory.from_root(
        {str(path): "Events"}, schemaclass=NanoAODSchema, mode=mode
    ).events()


def random_events(n: int, seed: int = 1, runs: tuple[int, ...] = ()) -> list[dict]:
    """``n`` random events with 0-5 leptons of each flavour, near-threshold kinematics, IDs,
    isolation, occasional overlaps and trigger objects (some displaced, without filter bits
    or of another id, some without offline partner), so that every selection step both
    passes and fails; ``runs``: run numbers to draw from (default: run 1)."""
    rng = random.Random(seed)

    def count() -> int:
        return rng.choices(range(6), weights=(20, 30, 25, 12, 8, 5))[0]

    def kin(pt_scale: float) -> dict:
        return {
            "pt": 5.0 + rng.expovariate(1.0 / pt_scale),
            "eta": rng.uniform(-2.7, 2.7),
            "phi": rng.uniform(-math.pi, math.pi),
            "charge": rng.choice((-1, 1)),
        }

    events = []
    for _ in range(n):
        muons = [
            {**kin(30), "mediumId": rng.random() < 0.92, "pfRelIso04_all": rng.expovariate(25.0),
             "dxy": rng.gauss(0, 0.015), "dz": rng.gauss(0, 0.06), "genPartFlav": rng.choice((0, 1, 15))}
            for _ in range(count())
        ]  # fmt: skip
        electrons = [
            {**kin(30), "mvaIso_WP90": rng.random() < 0.92, "pfRelIso03_all": rng.expovariate(25.0),
             "dxy": rng.gauss(0, 0.015), "dz": rng.gauss(0, 0.06), "convVeto": rng.random() < 0.95,
             "lostHits": rng.choice((0, 0, 0, 1, 2)), "genPartFlav": rng.choice((0, 1, 22))}
            for _ in range(count())
        ]  # fmt: skip
        taus = []
        for _ in range(count()):
            tau = {
                **kin(45), "mass": rng.uniform(0.14, 1.8), "dz": rng.gauss(0, 0.06),
                "decayMode": rng.choice((0, 0, 0, 1, 1, 1, 2, 10, 10, 11, 5)),
                "vsjet": rng.choice((0, 2, 4, 5, 5, 6, 7, 8, 8, 8)),
                "vse": rng.choice((0, 1, 2, 3, 8, 8, 8, 8, 8, 8)), "vsmu": rng.choice((0, 3, 4, 4, 4, 4)),
                "genPartFlav": rng.choice((0, 1, 2, 5)),
            }  # fmt: skip
            light = muons + electrons
            if light and rng.random() < 0.15:  # overlapping with a light lepton
                src = rng.choice(light)
                tau["eta"], tau["phi"] = src["eta"] + rng.gauss(0, 0.3), src["phi"]
            taus.append(tau)
        jets = []
        for _ in range(rng.randint(0, 4)):
            jet = {**kin(40), "jetId": rng.choice((0, 2, 6, 6)), "btagDeepFlavB": rng.random() ** 3}
            if (muons or taus) and rng.random() < 0.2:
                src = rng.choice(muons + taus)
                jet["eta"], jet["phi"] = src["eta"], src["phi"] + rng.gauss(0, 0.3)
            jets.append(jet)
        for coll in (muons, electrons, taus, jets):
            coll.sort(key=lambda o: -o["pt"])
        trig = []
        for pdg, coll in ((13, muons), (11, electrons), (15, taus)):
            for o in coll:
                if rng.random() < 0.1:
                    continue  # not reconstructed online
                far = rng.random() < 0.12
                step = rng.uniform(0.05, 0.6) if far else abs(rng.gauss(0, 0.02))
                angle = rng.uniform(0, 2 * math.pi)
                bits = rng.choice((ALL_BITS,) * 6 + (0, rng.getrandbits(12)))
                trig.append(
                    {"id": rng.choice((pdg,) * 9 + (22,)), "pt": o["pt"] * rng.uniform(0.9, 1.1),
                     "eta": o["eta"] + step * math.cos(angle),
                     "phi": o["phi"] + step * math.sin(angle), "filterBits": bits}
                )  # fmt: skip
        for _ in range(rng.choice((0, 0, 1, 2))):  # objects without an offline partner
            trig.append(
                {"id": rng.choice((1, 11, 13, 15)), "pt": 5.0 + rng.expovariate(1 / 30),
                 "eta": rng.uniform(-2.5, 2.5), "phi": rng.uniform(-math.pi, math.pi),
                 "filterBits": rng.choice((ALL_BITS, rng.getrandbits(12)))}
            )  # fmt: skip
        events.append(
            {
                "Muon": muons,
                "Electron": electrons,
                "Tau": taus,
                "Jet": jets,
                "MET": {"pt": rng.expovariate(1 / 40), "phi": rng.uniform(-math.pi, math.pi)},
                "HLT": {p: rng.random() < 0.8 for p in HLT_PATHS},
                "TrigObj": trig,
                "run": rng.choice(runs) if runs else 1,
            }
        )
    # event filters from a stream of their own (the objects above stay as they were)
    frng = random.Random(seed + 7919)
    for ev in events:
        ev["Flag"] = {f: frng.random() > 0.01 for f in FLAGS}
        ev["PV_npvsGood"] = frng.choice((0,) + (1, 12, 25, 40) * 10)
    return events


def build_events(tmp_dir: str | Path, events: list[dict], name: str = "chunk", **kwargs: Any):
    """Write ``events`` to ``tmp_dir/name.root`` and open them as NanoEvents."""
    layout = kwargs.get("layout", "modern")
    return open_events(write_nanoaod(Path(tmp_dir) / f"{name}_{layout}.root", events, **kwargs))
