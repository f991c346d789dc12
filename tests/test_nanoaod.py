"""NanoAOD layout detection, DeepTau decoding and missing-branch errors."""

from __future__ import annotations

import json

import awkward as ak
import pytest
from nanoaod_builder import build_events

from hnl_coffea.config import DEEPTAU_VSMU_WPS, DEEPTAU_WPS
from hnl_coffea.nanoaod import MissingBranchError, deeptau_pass, detect_layout
from hnl_coffea.objects import load_met, load_objects

# one tau per event with working-point integer v (passes WPs 0..v-1), v = 0..8
TAU_EVENTS = [{"Tau": [{"vsjet": v, "vse": v, "vsmu": min(v, 4)}]} for v in range(9)]


@pytest.mark.parametrize("layout", ["modern", "legacy"])
def test_detect_layout(tmp_path, layout):
    events = build_events(tmp_path, TAU_EVENTS, layout=layout)
    lay = detect_layout(events)
    assert lay.name == layout
    assert lay.deeptau == ("2018v2p5" if layout == "modern" else "2017v2p1")
    assert lay.met == ("PFMET" if layout == "modern" else "MET")
    expected_ele = "mvaIso_WP90" if layout == "modern" else "mvaFall17V2Iso_WP90"
    assert lay.electron_id_field("mvaIso_WP90") == expected_ele
    assert "IsoMu24" in lay.hlt_paths
    assert lay.is_mc


@pytest.mark.parametrize("layout", ["modern", "legacy"])
@pytest.mark.parametrize("disc", ["VSjet", "VSe", "VSmu"])
def test_deeptau_both_encodings(tmp_path, layout, disc):
    events = build_events(tmp_path, TAU_EVENTS, layout=layout)
    lay = detect_layout(events)
    wps = DEEPTAU_VSMU_WPS if disc == "VSmu" else DEEPTAU_WPS
    for k, wp in enumerate(wps):
        passed = ak.to_list(ak.flatten(deeptau_pass(events.Tau, disc, wp, lay)))
        values = [min(v, 4) if disc == "VSmu" else v for v in range(9)]
        assert passed == [v >= k + 1 for v in values], (disc, wp)


def test_legacy_bitmask_values_are_decoded(tmp_path):
    """v2p1 stores bit masks: a Medium (index 4) tau has value 0b11111 = 31, not 5."""
    events = build_events(tmp_path, [{"Tau": [{"vsjet": 5}]}], layout="legacy")
    assert ak.to_list(events.Tau.idDeepTau2017v2p1VSjet) == [[31]]
    lay = detect_layout(events)
    assert ak.to_list(deeptau_pass(events.Tau, "VSjet", "Medium", lay)) == [[True]]
    assert ak.to_list(deeptau_pass(events.Tau, "VSjet", "Tight", lay)) == [[False]]


def test_unknown_working_point(tmp_path):
    events = build_events(tmp_path, TAU_EVENTS)
    with pytest.raises(ValueError, match="VVTight"):
        deeptau_pass(events.Tau, "VSmu", "VVTight", detect_layout(events))


@pytest.mark.parametrize(
    ("layout", "drop", "named"),
    [
        ("modern", ("Tau_idDeepTau2018v2p5VSjet",), "Tau_idDeepTau2018v2p5VSjet"),
        ("legacy", ("Tau_idDeepTau2017v2p1VSjet",), "Tau_idDeepTau2017v2p1VSjet"),
        ("modern", ("PFMET_pt",), "PFMET_pt"),
        ("modern", ("Muon_mediumId",), "Muon_mediumId"),
        ("legacy", ("Electron_pfRelIso03_all",), "Electron_pfRelIso03_all"),
        ("legacy", ("Electron_mvaFall17V2Iso_WP90",), "Electron_mvaIso_WP90"),
        ("modern", ("Jet_btagDeepFlavB",), "Jet_btagDeepFlavB"),
    ],
)
def test_missing_branch_is_one_line_naming_it(tmp_path, cfg, layout, drop, named):
    events = build_events(tmp_path, TAU_EVENTS, layout=layout, drop=drop)
    with pytest.raises(MissingBranchError) as err:
        load_objects(events, cfg, detect_layout(events))
    msg = str(err.value)
    assert named in msg
    assert "\n" not in msg
    assert "NanoAOD" in msg


def test_missing_vse_branch(tmp_path, cfg):
    events = build_events(tmp_path, TAU_EVENTS, drop=("Tau_idDeepTau2018v2p5VSe",))
    with pytest.raises(MissingBranchError, match="Tau_idDeepTau2018v2p5VSe"):
        deeptau_pass(events.Tau, "VSe", "Loose", detect_layout(events))


def test_forced_deeptau_version_absent(tmp_path):
    events = build_events(tmp_path, TAU_EVENTS, layout="legacy")
    with pytest.raises(MissingBranchError, match="Tau_idDeepTau2018v2p5VSjet"):
        detect_layout(events, deeptau="2018v2p5")


def test_real_nanoaod_layout(shared_nanoaod):
    from nanoaod_builder import open_events

    for path in shared_nanoaod:
        lay = detect_layout(open_events(path))
        assert lay.deeptau == "2017v2p1"
        assert lay.met == "MET"
        assert lay.electron_id_field("mvaIso_WP90") == "mvaFall17V2Iso_WP90"


def test_deeptau_decoding_follows_the_file_not_the_version_name(tmp_path):
    """NanoAOD v10+ stores DeepTau2017v2p1 as working-point integers too: forcing 2017v2p1
    on such a file decodes integers (a Medium τ, value 5, passes Medium), not bit masks."""
    events = build_events(tmp_path, [{"Tau": [{"vsjet": 5}]}], both_deeptau=True)
    lay = detect_layout(events, "2017v2p1")
    assert lay.deeptau == "2017v2p1" and lay.deeptau_encoding == "integer"
    assert ak.to_list(events.Tau.idDeepTau2017v2p1VSjet) == [[5]]
    assert ak.to_list(deeptau_pass(events.Tau, "VSjet", "Medium", lay)) == [[True]]
    assert ak.to_list(deeptau_pass(events.Tau, "VSjet", "Tight", lay)) == [[False]]
    legacy = build_events(tmp_path, [{"Tau": [{"vsjet": 5}]}], layout="legacy")
    assert detect_layout(legacy).deeptau_encoding == "bitmask"


def test_real_v9_file_title_says_bitmask(shared_nanoaod):
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

    for path in shared_nanoaod:
        events = NanoEventsFactory.from_root(
            {str(path): "Events"}, schemaclass=NanoAODSchema, mode="virtual"
        ).events()
        lay = detect_layout(events)
        assert (lay.deeptau, lay.deeptau_encoding) == ("2017v2p1", "bitmask")


def test_v15_unclustered_met_names(tmp_path, cfg):
    """NanoAOD v15 stores the varied MET (PFMET_pt/phiUnclusteredUp/Down) instead of the
    MetUnclustEnUpDeltaX/Y shifts: the same toy events give the same varied MET."""
    import numpy as np

    from hnl_coffea.corrections.shifts import shift_met
    from hnl_coffea.toymc import generate_fileset

    mets = {}
    for layout in ("modern", "v15"):
        path = generate_fileset(
            tmp_path / layout, 400, samples=["WZTo3LNu"], layout=layout, cfg=cfg
        )
        (file,) = json.loads(path.read_text())["WZTo3LNu"]["files"]
        events = _open(file)
        lay = detect_layout(events)
        assert lay.unclustered == ("v15" if layout == "v15" else "delta")
        assert ("jetId" in events.Jet.fields) == (layout == "modern")
        met = load_met(events, cfg, lay)
        mets[layout] = {d: shift_met(met, d) for d in ("up", "down")}
        mets[layout]["nominal"] = met
    for key in ("nominal", "up", "down"):
        a, b = mets["modern"][key], mets["v15"][key]
        np.testing.assert_allclose(np.asarray(a.pt), np.asarray(b.pt), rtol=2e-6, atol=2e-5)
        dphi = np.angle(np.exp(1j * (np.asarray(a.phi) - np.asarray(b.phi))))
        np.testing.assert_allclose(dphi, 0.0, atol=2e-5)
    up, nom = mets["modern"]["up"], mets["modern"]["nominal"]
    assert not np.allclose(np.asarray(up.pt), np.asarray(nom.pt))


def _open(file):
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

    return NanoEventsFactory.from_root(
        {file: "Events"}, schemaclass=NanoAODSchema, mode="virtual"
    ).events()
