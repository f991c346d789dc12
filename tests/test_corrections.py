"""Event weights from the shipped (illustrative) correction files.

Expected numbers are looked up by hand in the tables of
``hnl_coffea/corrections/make_illustrative.py`` (repeated here as literals), never by
calling the evaluator under test.
"""

from __future__ import annotations

import gzip
import json
import math
import pickle

import awkward as ak
import numpy as np
import pytest

from hnl_coffea.corrections import (
    CorrectionError,
    CorrectionProvider,
    event_weights,
    weight_variations,
)
from hnl_coffea.corrections.evaluators import CorrectionDomainWarning
from hnl_coffea.paths import data_path

# Hand look-ups (default config: era 2018, τ Medium vs jet / VVLoose vs e / Tight vs μ,
# muon mediumId + tight isolation, electron wp90iso). Each entry: (nominal, up, down).
EVENT_A = {  # τ(30, η 0.5, dm 1, genuine), τ(25, η -1.0, dm 10, e→τh), μ(40, η 0.3)
    "genWeight": 1.0,
    "pileup": (1.04, 1.0358, 1.0442),  # nTrueInt 32.5: bin [30, 35)
    "tauID": (0.97, 0.995, 0.945),  # dm 1; the e→τh fake gets 1
    "tauIDvsE": (0.98, 1.04, 0.92),  # barrel, VVLoose, for the genmatch-1 τ
    "tauIDvsMu": (1.0, 1.0, 1.0),
    "muonID": (0.992, 0.996, 0.988),  # |η| [0, 0.9), pT [30, 50)
    "muonIso": (0.997, 0.999, 0.995),
    "eleID": (1.0, 1.0, 1.0),
    "triggerMu": (0.985, 0.995, 0.975),  # the μ takes the IsoMu24 leg: pT [40, 60)
}
EVENT_B = {  # τ(50, η 1.9, dm 0, genuine), μ(22, η 0.2), e(15, η -2.2)
    "genWeight": -2.0,
    "pileup": (0.88, 0.8624, 0.8976),  # nTrueInt 12: bin [10, 15)
    "tauID": (0.95, 0.98, 0.92),  # dm 0
    "tauIDvsE": (1.0, 1.0, 1.0),
    "tauIDvsMu": (1.0, 1.0, 1.0),
    "muonID": (0.99, 0.994, 0.986),  # pT [20, 30)
    "muonIso": (0.995, 0.997, 0.993),
    "eleID": (0.92, 0.94, 0.90),  # |η| in [2.0, 2.5), pT [10, 20)
    # no trigger leg (a 22 GeV μ is below IsoMu24's 26 GeV): no trigger SF
}
EVENT_C = {"genWeight": 0.5, "pileup": (0.03, 0.0314, 0.0286)}  # no leptons, nTrueInt 97
EVENT_D = {  # assigned to the di-τ path: τ(45, dm 1), τ(42, dm 10) legs; μ(40, η 0.3) no leg
    "genWeight": 1.0,
    "pileup": (1.04, 1.0358, 1.0442),
    "muonID": (0.992, 0.996, 0.988),
    "muonIso": (0.997, 0.999, 0.995),
    # dm 1, pT [45, 50): 0.92 ± 0.03; dm 10, pT [40, 45): 0.84 ± 0.04; no single-μ SF
    "triggerDiTau": (0.92 * 0.84, 0.95 * 0.88, 0.89 * 0.80),
}
EVENTS = (EVENT_A, EVENT_B, EVENT_C, EVENT_D)


def _events():
    leptons = ak.zip(
        {
            "pt": [[30.0, 25.0, 40.0], [50.0, 22.0, 15.0], [], [45.0, 42.0, 40.0]],
            "eta": [[0.5, -1.0, 0.3], [1.9, 0.2, -2.2], [], [0.5, -1.0, 0.3]],
            "phi": [[0.0, 1.0, 2.0], [0.0, 1.0, 2.0], [], [0.0, 1.0, 2.0]],
            "mass": [[1.2, 0.9, 0.105], [1.0, 0.105, 0.0005], [], [1.2, 0.9, 0.105]],
            "charge": [[1, -1, 1], [1, -1, -1], [], [1, -1, 1]],
            "flavour": [["tau", "tau", "mu"], ["tau", "mu", "e"], [], ["tau", "tau", "mu"]],
            "decayMode": [[1, 10, -1], [0, -1, -1], [], [1, 10, -1]],
            "genPartFlav": [[5, 1, 1], [5, 1, 1], [], [0, 0, 1]],
            # trigger groups: 0 single_mu, 1 single_e, 2 ditau; -1: no leg
            "trigger_leg": [[-1, -1, 0], [-1, -1, -1], [], [2, 2, -1]],
        }
    )
    info = ak.zip({"genWeight": [1.0, -2.0, 0.5, 1.0], "Pileup_nTrueInt": [32.5, 12.0, 97.0, 32.5]})
    return leptons, info


def _expected(event: dict, variation: str | None = None) -> float:
    w = event["genWeight"]
    for name, values in event.items():
        if name == "genWeight":
            continue
        idx = 0
        if variation == f"{name}Up":
            idx = 1
        elif variation == f"{name}Down":
            idx = 2
        w *= values[idx]
    return w


@pytest.fixture()
def provider(cfg):
    return CorrectionProvider(cfg)


def test_nominal_weight_matches_hand_lookup(cfg, provider):
    leptons, info = _events()
    w = event_weights(leptons, info, cfg, provider, is_data=False)
    got = w.weight()
    for i, ev in enumerate(EVENTS):
        assert got[i] == pytest.approx(_expected(ev), rel=1e-9)


def test_variations_match_hand_lookup_and_bracket_nominal(cfg, provider):
    leptons, info = _events()
    w = event_weights(leptons, info, cfg, provider, is_data=False)
    names = weight_variations(cfg, provider, jets=False)  # no jets: no b-tag SFs
    assert set(w.variations) == set(names)
    assert {"tauIDUp", "pileupUp", "muonIDDown", "triggerMuUp", "triggerDiTauDown"} <= set(names)
    assert "triggerEUp" not in names  # no UL electron trigger SF
    nominal = w.weight()
    for var in names:
        got = w.weight(var)
        for i, ev in enumerate(EVENTS):
            assert got[i] == pytest.approx(_expected(ev, var), rel=1e-9), (var, i)
    for stem in {n[:-2] for n in names if n.endswith("Up")}:
        up, down = w.weight(f"{stem}Up"), w.weight(f"{stem}Down")
        assert np.all(np.minimum(up, down) <= nominal + 1e-12), stem
        assert np.all(np.maximum(up, down) >= nominal - 1e-12), stem
    # the τ ID variation really moves the events with a genuine τh
    assert w.weight("tauIDUp")[0] > nominal[0]


def test_shipped_json_holds_the_hand_values():
    """The literals above are what the committed file says (read as plain JSON)."""
    tau = _json("TAU/2018_UL/tau.json.gz")
    vsjet = next(c for c in tau["corrections"] if c["name"] == "DeepTau2017v2p1VSjet")
    assert [v["name"] for v in vsjet["inputs"]] == [
        "pt", "dm", "genmatch", "wp", "wp_VSe", "syst", "flag"
    ]  # fmt: skip

    def pick(node, key):
        return next(i["value"] for i in node["content"] if i["key"] == key)

    node = pick(vsjet["data"], 5)
    for key in ("Medium", "VVLoose", "dm", 1):
        node = pick(node, key)
    assert [pick(node, s) for s in ("nom", "up", "down")] == pytest.approx([0.97, 0.995, 0.945])
    assert pick(vsjet["data"], 0) == 1.0
    pu = _json("LUM/2018_UL/puWeights.json.gz")
    corr = next(c for c in pu["corrections"] if c["name"] == "Collisions18_UltraLegacy_goldenJSON")
    binning = pick(corr["data"], "nominal")
    assert binning["edges"][6:8] == [30.0, 35.0] and binning["content"][6] == 1.04
    for doc in (_json(f) for f in ("TAU/2018_UL/tau.json.gz", "MUO/2018_UL/muon_Z.json.gz")):
        assert "ILLUSTRATIVE" in json.dumps(doc) and "NOT a CMS measurement" in json.dumps(doc)


def _json(relative: str) -> dict:
    return json.loads(gzip.decompress(data_path(f"corrections/POG/{relative}").read_bytes()))


def test_data_gets_weight_one(cfg, provider):
    leptons, info = _events()
    w = event_weights(leptons, info[["Pileup_nTrueInt"]], cfg, provider, is_data=True)
    assert np.all(w.weight() == 1.0)
    assert not w.variations
    assert weight_variations(cfg, provider, is_data=True) == []


def test_systematics_off_gives_nominal_only(cfg, provider):
    leptons, info = _events()
    w = event_weights(leptons, info, cfg, provider, is_data=False, systematics=False)
    assert not w.variations
    assert w.weight()[1] == pytest.approx(_expected(EVENT_B))


def test_pdgid_flavour_and_nanoevents_style_pileup(cfg, provider):
    leptons, info = _events()
    pdg = ak.Array([[15, -15, 13], [-15, 13, -11], [], [15, -15, 13]])
    leptons = ak.with_field(leptons, pdg, "flavour")
    nested = ak.zip(
        {"genWeight": info.genWeight, "Pileup": ak.zip({"nTrueInt": info.Pileup_nTrueInt})},
        depth_limit=1,
    )
    w = event_weights(leptons, nested, cfg, provider, is_data=False)
    assert w.weight()[0] == pytest.approx(_expected(EVENT_A), rel=1e-9)


def test_missing_file_is_one_line_error(cfg):
    bad = cfg.with_overrides({"corrections.files.tau": "/nonexistent/tau_pog.json"})
    leptons, info = _events()
    with pytest.raises(CorrectionError, match=r"era '2018': TAU .*not found: /nonexistent/tau_pog"):
        event_weights(leptons, info, bad, CorrectionProvider(bad), is_data=False)


def test_missing_correction_name_is_named(cfg):
    bad = cfg.with_overrides({"corrections.names": {"tau_vsjet": "DeepTau2099VSjet"}})
    leptons, info = _events()
    match = (
        r"era '2018': correction 'DeepTau2099VSjet' not in the TAU file .*tau\.json\.gz; it has: "
    )
    with pytest.raises(CorrectionError, match=match):
        event_weights(leptons, info, bad, CorrectionProvider(bad), is_data=False)


def test_unknown_category_names_the_input(provider):
    args = (30.0, 1, 7, "Medium", "VVLoose", "nom", "dm")  # genmatch 7 does not exist
    with pytest.raises(CorrectionError, match=r"DeepTau2018v2p5VSjet.*'genmatch'"):
        provider.evaluate("tau", "DeepTau2018v2p5VSjet", *args)


def test_out_of_domain_clamps_with_counted_warning(provider):
    name = "NUM_MediumID_DEN_TrackerMuons"
    abseta = np.array([2.45, 0.3, 2.6])
    pt = np.array([40.0, 40.0, 12.0])
    with pytest.warns(CorrectionDomainWarning, match=r"clamped 2 value\(s\) of input 'abseta'"):
        got = provider.evaluate("muon", name, abseta, pt, "nominal")
    # clamped into the last |η| bin [2.1, 2.4): nominal 0.99 + offsets (-0.005, -0.030)
    assert got == pytest.approx([0.985, 0.992, 0.96])
    assert provider.clamped[(name, "abseta")] == 2


def test_out_of_domain_error_policy(cfg):
    strict = CorrectionProvider(cfg.with_overrides({"corrections.out_of_domain": "error"}))
    with pytest.raises(CorrectionError, match=r"NUM_MediumID_DEN_TrackerMuons.*'abseta'.*2\.45"):
        strict.evaluate("muon", "NUM_MediumID_DEN_TrackerMuons", [2.45], [40.0], "nominal")


def test_provider_pickles_without_loaded_files(cfg, provider):
    provider.evaluate("pileup", "Collisions18_UltraLegacy_goldenJSON", [32.5], "nominal")
    assert provider._sets
    clone = pickle.loads(pickle.dumps(provider))
    assert clone._sets == {}
    got = clone.evaluate("pileup", "Collisions18_UltraLegacy_goldenJSON", [32.5], "nominal")
    assert got[0] == 1.04


def test_jagged_awkward_inputs(provider):
    pt = ak.Array([[40.0, 22.0], [], [35.0]])
    abseta = ak.Array([[0.3, 1.0], [], [2.2]])
    got = provider.evaluate("muon", "NUM_TightRelIso_DEN_MediumID", abseta, pt, "nominal")
    # iso nominal 0.995 + offsets: (|η| bin 0, pT [30,50)) .002, (bin 1, [20,30)) -.001, (bin 3, [30,50)) -.005
    assert ak.to_list(ak.num(got)) == [2, 0, 1]
    for value, expected in zip(ak.flatten(got).tolist(), (0.997, 0.994, 0.99)):
        assert math.isclose(value, expected)
