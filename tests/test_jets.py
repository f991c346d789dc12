"""Jet energy corrections, JER smearing, type-1 MET, JES/JER variations, jet veto maps and
the computed jet ID, on hand-built events against values computed here by hand.

The illustrative JME files describe the toy detector (``hnl_coffea.toymc.detector``):
L1FastJet = 1 − 0.9 ρ A / pT_raw, L2Relative = 1 / response (0.92 for |η| < 1.3),
L3Absolute = 1, L2L3Residual = 1 (MC) or 1 + 0.001 (k + 1) in data period k; JER σ/pT =
sqrt(1/pT + 0.05²) and SF = 1.10 ± 0.03 for |η| < 1.3; JES Total δ = 0.010 + 0.4/pT.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import awkward as ak
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from nanoaod_builder import build_events  # noqa: E402

from hnl_coffea.corrections import CorrectionProvider  # noqa: E402
from hnl_coffea.jets import correct_objects, jet_id_flags  # noqa: E402
from hnl_coffea.nanoaod import MissingBranchError, detect_layout  # noqa: E402
from hnl_coffea.objects import load_objects  # noqa: E402

RHO, AREA, RESPONSE, OFFSET = 20.0, 0.5, 0.92, 0.9


def corrected(events, cfg, *, is_data=False, variations=True):
    layout = detect_layout(events)
    raw = load_objects(events, cfg, layout)
    return correct_objects(
        raw, events, cfg, CorrectionProvider(cfg), is_data=is_data, variations=variations
    )


def jec(pt_raw: float) -> float:
    """The illustrative MC JEC factor of a central jet (|η| < 1.3) at raw pT."""
    return (1.0 - OFFSET * RHO * AREA / pt_raw) / RESPONSE


def sigma(pt: float) -> float:
    return math.sqrt(1.0 / pt + 0.05**2)


# ---------------------------------------------------------------- the per-jet random number
MASK = 2**64 - 1


def _splitmix(x: int) -> int:
    z = (x + 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def normal(seed: int, run: int, lumi: int, event: int, index: int) -> float:
    """The standard normal number of one jet, in plain Python integers."""
    h = 0
    for key in (seed, run, lumi, event, index):
        h = _splitmix(h ^ key)
    b1 = _splitmix(h)
    b2 = _splitmix(b1)
    u1 = ((b1 >> 11) + 1) / 2.0**53
    u2 = (b2 >> 11) / 2.0**53
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


# ---------------------------------------------------------------- JEC
def test_data_jec_per_run_period(tmp_path, cfg):
    jet = {"pt": 50.0, "eta": 0.3, "mass": 5.0, "rawFactor": 0.2}
    expected = 40.0 * jec(40.0)
    for run, period in ((315300, 0), (321000, 3)):  # 2018 periods A and D
        events = build_events(tmp_path, [{"Jet": [jet], "run": run}], name=f"r{run}", is_mc=False)
        objs, shifts = corrected(events, cfg, is_data=True)
        residual = 1.0 + 0.001 * (period + 1)
        assert shifts is None  # no JES/JER variations of data
        assert ak.to_list(objs.jets.pt) == [[pytest.approx(expected * residual, rel=1e-6)]]
        assert ak.to_list(objs.jets.mass) == [[pytest.approx(4.0 * jec(40.0) * residual, rel=1e-6)]]
    events = build_events(tmp_path, [{"Jet": [jet], "run": 2}], name="bad", is_mc=False)
    with pytest.raises(Exception, match=r"run\(s\) \[2\] outside every data JEC period"):
        corrected(events, cfg, is_data=True)


def test_mc_jec_without_jer(tmp_path, cfg):
    c = cfg.with_overrides({"eras.2018.jets.jer": None})
    jet = {"pt": 50.0, "eta": 0.3, "mass": 5.0, "rawFactor": 0.2}
    events = build_events(tmp_path, [{"Jet": [jet, {"pt": 30.0, "eta": -0.5}]}])
    objs, _ = corrected(events, c)
    # the builder's default rawFactor undoes the toy response: the JEC give the pT back
    assert ak.to_list(objs.jets.pt) == [[pytest.approx(40.0 * jec(40.0)), pytest.approx(30.0)]]


# ---------------------------------------------------------------- JER
def _jer_event() -> dict:
    return {
        "Jet": [
            {"pt": 50.0, "eta": 0.3, "phi": 0.1, "genJetIdx": 0},  # matched: hybrid
            {"pt": 60.0, "eta": 0.3, "phi": 1.0, "genJetIdx": 1},  # gen jet at ΔR 0.3
            {"pt": 40.0, "eta": 0.3, "phi": 2.0, "genJetIdx": 2},  # |ΔpT| > 3σ pT
            {"pt": 35.0, "eta": 0.3, "phi": -2.0, "genJetIdx": -1},  # no gen jet
        ],
        "GenJet": [
            {"pt": 45.0, "eta": 0.3, "phi": 0.1},
            {"pt": 60.0, "eta": 0.6, "phi": 1.0},
            {"pt": 10.0, "eta": 0.3, "phi": 2.0},
        ],
    }


def test_jer_hybrid_and_stochastic_smearing(tmp_path, cfg):
    events = build_events(tmp_path, [{}, _jer_event()])  # the second event: number 1
    objs, shifts = corrected(events, cfg)
    got = ak.to_list(objs.jets.pt)[1]
    sf = {"nom": 1.10, "up": 1.13, "down": 1.07}
    stochastic = [(1, 60.0), (2, 40.0), (3, 35.0)]

    def expected(which: str) -> list[float]:
        out = [50.0 * (1.0 + (sf[which] - 1.0) * (50.0 - 45.0) / 50.0)]
        for index, pt in stochastic:
            n = normal(0, 1, 1, 1, index)
            out.append(pt * (1.0 + n * sigma(pt) * math.sqrt(sf[which] ** 2 - 1.0)))
        return out

    assert got == pytest.approx(expected("nom"), rel=1e-5)
    for direction in ("up", "down"):
        pts = ak.to_list(shifts.jets("JER", direction).pt)[1]
        assert pts == pytest.approx(expected(direction), rel=1e-5)
    # a different seed changes only the stochastically smeared jets
    other, _ = corrected(events, cfg.with_overrides({"corrections.jer_seed": 7}))
    pts = ak.to_list(other.jets.pt)[1]
    assert pts[0] == pytest.approx(got[0]) and all(a != b for a, b in zip(pts[1:], got[1:]))


def test_jer_random_numbers_do_not_depend_on_the_chunk(tmp_path, cfg):
    evs = [_jer_event() for _ in range(12)]
    events = build_events(tmp_path, evs)
    full = ak.to_list(corrected(events, cfg)[0].jets.pt)
    part = ak.to_list(corrected(events[5:9], cfg)[0].jets.pt)
    assert part == full[5:9]
    assert full[5] != full[6]  # each event has its own numbers


# ---------------------------------------------------------------- type-1 MET and JES
def _met_event(gen_pt_j1: float = 40.0) -> dict:
    return {
        "RawMET": {"pt": 50.0, "phi": 0.0},
        "Jet": [
            {"pt": 40.0, "eta": 0.3, "phi": math.pi / 2},  # enters
            {"pt": 30.0, "eta": 0.3, "phi": math.pi, "chEmEF": 0.5, "neEmEF": 0.45},  # EM
            {"pt": 18.0, "eta": 0.3, "phi": 0.0, "muonSubtrFactor": 0.3},  # < 15 GeV w/o μ
            {"pt": 60.0, "eta": 0.3, "phi": 0.0, "muonSubtrFactor": 0.2},  # enters, with μ
        ],
        "GenJet": [
            {"pt": gen_pt_j1, "eta": 0.3, "phi": math.pi / 2},
            {"pt": 30.0, "eta": 0.3, "phi": math.pi},
            {"pt": 18.0, "eta": 0.3, "phi": 0.0},
            {"pt": 60.0, "eta": 0.3, "phi": 0.0},
        ],
    }


def _type1_by_hand(scale_j1: float = 1.0) -> tuple[float, float]:
    """MET = raw MET − Σ (pT_L1L2L3 s − pT_L1) (cos φ, sin φ) over the two jets that enter."""
    raw1 = 40.0 * RESPONSE + OFFSET * RHO * AREA
    d1 = 40.0 * scale_j1 - (raw1 - OFFSET * RHO * AREA)  # no muon
    raw4 = 60.0 * RESPONSE + OFFSET * RHO * AREA
    no_mu, muon = raw4 * 0.8, raw4 * 0.2
    d4 = (no_mu * jec(raw4) + muon) - (no_mu * (1 - OFFSET * RHO * AREA / raw4) + muon)
    x, y = 50.0 - d4, -d1
    return math.hypot(x, y), math.atan2(y, x)


def test_type1_met(tmp_path, cfg):
    events = build_events(tmp_path, [_met_event()])
    unsmeared = cfg.with_overrides({"eras.2018.jets.type1.jer_smeared": False})
    for c in (unsmeared, cfg):  # gen jets at the reco pT: smearing factors are 1
        objs, _ = corrected(events, c)
        assert float(objs.met.pt[0]) == pytest.approx(_type1_by_hand()[0], rel=1e-5)
        assert float(objs.met.phi[0]) == pytest.approx(_type1_by_hand()[1], abs=1e-5)
    # a smeared jet moves the smeared type-1 MET, not the unsmeared one
    events = build_events(tmp_path, [_met_event(gen_pt_j1=36.0)], name="smeared")
    s = 1.0 + 0.10 * (40.0 - 36.0) / 40.0
    objs, _ = corrected(events, cfg)
    assert float(objs.jets.pt[0][0]) == pytest.approx(40.0 * s, rel=1e-5)
    assert float(objs.met.pt[0]) == pytest.approx(_type1_by_hand(s)[0], rel=1e-5)
    objs, _ = corrected(events, unsmeared)
    assert float(objs.met.pt[0]) == pytest.approx(_type1_by_hand()[0], rel=1e-5)


def test_jes_variation_moves_jets_and_met(tmp_path, cfg):
    events = build_events(tmp_path, [_met_event()])
    objs, shifts = corrected(events, cfg)
    assert shifts.stems == ["JES_Total", "JER"]
    nom = np.asarray(objs.jets.pt[0])
    for direction, sign in (("up", 1.0), ("down", -1.0)):
        pts = np.asarray(shifts.jets("JES_Total", direction).pt[0])
        delta = 0.010 + 0.4 / nom
        np.testing.assert_allclose(pts, nom * (1 + sign * delta), rtol=1e-6)
        # type-1 (as coffea and CMSJMECalculators): a jet entering contributes
        # pT_L1L2L3 × s − pT_L1, where pT_L1L2L3 = muon-subtracted corrected pT + muon pT and
        # s = pT_variation / pT_JEC; the jets not entering move nothing
        met = shifts.met_of("JES_Total", direction)
        raw4 = 60.0 * RESPONSE + OFFSET * RHO * AREA
        full4 = 0.8 * raw4 * jec(raw4) + 0.2 * raw4
        dx = -full4 * (pts[3] - nom[3]) / 60.0
        dy = -(pts[0] - nom[0])
        x0 = float(objs.met.pt[0]) * math.cos(float(objs.met.phi[0]))
        y0 = float(objs.met.pt[0]) * math.sin(float(objs.met.phi[0]))
        assert float(met.pt[0]) == pytest.approx(math.hypot(x0 + dx, y0 + dy), rel=1e-6)


# ---------------------------------------------------------------- jet ID of NanoAOD v15
#: The JME Run 3 (NanoAOD v15) jet ID of AK4 PUPPI jets, typed from the recipe:
#: |η| ≤ 2.6: neHEF < 0.99, neEmEF < 0.9, multiplicity > 1, chHEF > 0.01, chMult > 0;
#: 2.6 < |η| ≤ 2.7: neHEF < 0.9, neEmEF < 0.99; 2.7 < |η| ≤ 3.0: neHEF < 0.99;
#: |η| > 3.0: neMult ≥ 2, neEmEF < 0.4; TightLepVeto adds muEF < 0.8, chEmEF < 0.8 (|η| ≤ 2.7).
GOOD = {"chHEF": 0.6, "neHEF": 0.1, "chEmEF": 0.05, "neEmEF": 0.2, "muEF": 0.0,
        "chMultiplicity": 5, "neMultiplicity": 5}  # fmt: skip
JET_ID_CASES = [
    (0.5, {}, 6),
    (0.5, {"neEmEF": 0.91}, 0),
    (0.5, {"neHEF": 0.995}, 0),
    (0.5, {"chHEF": 0.005}, 0),
    (0.5, {"chMultiplicity": 0}, 0),
    (0.5, {"chMultiplicity": 1, "neMultiplicity": 0}, 0),  # one constituent
    (0.5, {"chMultiplicity": 1, "neMultiplicity": 1}, 6),
    (-2.6, {"muEF": 0.85}, 2),
    (2.0, {"chEmEF": 0.81}, 2),
    (2.65, {"neHEF": 0.89, "chHEF": 0.0, "chMultiplicity": 0}, 6),
    (2.65, {"neHEF": 0.91}, 0),
    (2.65, {"neEmEF": 0.98}, 6),
    (2.65, {"chEmEF": 0.85}, 2),
    (2.8, {"neHEF": 0.98, "neEmEF": 0.95, "chMultiplicity": 0}, 6),
    (-2.8, {"neHEF": 0.995}, 0),
    (2.8, {"muEF": 0.9}, 6),  # no lepton veto beyond 2.7
    (3.5, {"neEmEF": 0.3, "neMultiplicity": 2}, 6),
    (3.5, {"neEmEF": 0.3, "neMultiplicity": 1}, 0),
    (-3.5, {"neEmEF": 0.45}, 0),
]


def test_computed_jet_id_follows_the_recipe(cfg):
    recipe = cfg.for_era("2022EE").era_config.jets.jet_id
    eta = np.array([c[0] for c in JET_ID_CASES])
    values = {k: np.array([{**GOOD, **c[1]}[k] for c in JET_ID_CASES]) for k in GOOD}
    assert jet_id_flags(eta, values, recipe).tolist() == [c[2] for c in JET_ID_CASES]


def test_v15_files_without_jet_id(tmp_path, cfg):
    jets = [{**GOOD, **case, "eta": eta, "pt": 30.0} for eta, case, _ in JET_ID_CASES]
    events = build_events(tmp_path, [{"Jet": jets}], drop=("Jet_jetId",))
    c = cfg.for_era("2022EE")
    objs = load_objects(events, c, detect_layout(events))
    assert ak.to_list(objs.jets.jetId) == [[case[2] for case in JET_ID_CASES]]
    with pytest.raises(MissingBranchError, match=r"'Jet_jetId' not found.*no jet-ID recipe"):
        load_objects(events, cfg, detect_layout(events))  # 2018: NanoAOD v9 stores it


# ---------------------------------------------------------------- jet veto map
def test_jet_veto_map_recipe(tmp_path, cfg):
    from test_channels import with_veto_map

    from hnl_coffea.channels import select

    hot = {"pt": 30.0, "eta": 1.8, "phi": 0.85}  # a vetoed cell of the illustrative map
    cases = [
        ({"Jet": [hot]}, False),
        ({"Jet": [{**hot, "eta": 0.3}]}, True),
        ({"Jet": [{**hot, "pt": 14.0}]}, True),  # below 15 GeV
        ({"Jet": [{**hot, "jetId": 0}]}, True),  # fails the tight ID
        ({"Jet": [{**hot, "neEmEF": 0.75}]}, False),  # EM fraction 0.8 < 0.9: vetoes
        ({"Jet": [{**hot, "chEmEF": 0.5, "neEmEF": 0.45}]}, True),  # EM fraction 0.95
        ({"Jet": [hot], "Muon": [{"pt": 5.0, "eta": 1.85, "phi": 0.9}]}, True),  # muon jet
        ({"Jet": [hot], "Muon": [{"pt": 5.0, "eta": 1.8, "phi": 1.2}]}, False),  # ΔR 0.35
        ({"Jet": [{**hot, "eta": -1.3, "phi": -1.9}]}, False),  # the other cell
    ]
    events = build_events(tmp_path, [ev for ev, _ in cases])
    sel = select(events, with_veto_map(cfg))
    assert ak.to_list(sel.steps.all("jet_veto_map")) == [ok for _, ok in cases]
    assert all(ak.to_list(select(events, cfg).steps.all("jet_veto_map")))  # 2018: no map


# ---------------------------------------------------------------- JES in the processor
def test_jes_moves_an_event_across_the_b_veto(tmp_path, cfg):
    """A b-tagged jet of 20.5 GeV puts the event in the tt̄ CR; under JES Down
    (δ = 0.010 + 0.4/20.5) it falls below the 20 GeV jet threshold and the event enters the SR."""
    from nanoaod_builder import open_events, write_nanoaod

    from hnl_coffea.config import POG_FILES
    from hnl_coffea.histograms import NOMINAL
    from processors import HNLProcessor

    event = {
        "Tau": [{"pt": 45.0, "eta": 0.5, "phi": 0.0, "charge": 1},
                {"pt": 40.0, "eta": -0.5, "phi": 2.0, "charge": -1}],
        "Muon": [{"pt": 30.0, "eta": 1.0, "phi": -2.0, "charge": -1}],
        "Jet": [{"pt": 20.5, "eta": 0.3, "phi": 1.0, "btagDeepFlavB": 0.9, "hadronFlavour": 5}],
    }  # fmt: skip
    path = write_nanoaod(tmp_path / "bveto.root", [event])
    no_sf = {f"corrections.files.{k}": None for k in POG_FILES if k != "jerc"}
    c = cfg.with_overrides({**no_sf, "corrections.tau_energy_scale": False})
    for fast in (True, False):
        events = open_events(path)
        events.metadata.update({"dataset": "TT", "filename": str(path)})
        out = HNLProcessor(c, models=False, systematics=True, fast_variations=fast).process(events)
        h = out["hists"]["mt_total"]

        def n(region: str, syst: str, h=h) -> float:
            if region not in h.axes["region"] or syst not in h.axes["systematic"]:
                return 0.0
            return h[{"region": region, "systematic": syst}].sum(flow=True).value

        assert (n("SR", NOMINAL), n("CR_ttbar", NOMINAL)) == (0.0, 1.0)
        assert (n("SR", "JES_TotalDown"), n("CR_ttbar", "JES_TotalDown")) == (1.0, 0.0)
        assert (n("SR", "JES_TotalUp"), n("CR_ttbar", "JES_TotalUp")) == (0.0, 1.0)
        assert n("CR_ttbar", "JERUp") == 1.0 and n("CR_ttbar", "JERDown") == 1.0
