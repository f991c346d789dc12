"""Toy NanoAOD generator: format, physics content, determinism (independent references)."""

from __future__ import annotations

import json
import math
import warnings

import awkward as ak
import numpy as np
import pytest
import uproot

from hnl_coffea.fileset import load_fileset
from hnl_coffea.toymc import generate_fileset, generate_sample, read_metadata, split_events
from hnl_coffea.toymc.samples import all_samples

N = 3000


@pytest.fixture(scope="module")
def toy(tmp_path_factory, cfg):
    """Small signal + background files in both layouts."""
    out = {}
    base = tmp_path_factory.mktemp("toymc")
    for layout in ("modern", "legacy"):
        for name in ("HNL_M300", "WZTo3LNu", "DYJetsToLL", "TTTo2L2Nu"):
            path = base / f"{name}_{layout}.root"
            meta = generate_sample(name, N, path, seed=7, layout=layout, cfg=cfg, chunk_size=1000)
            out[name, layout] = (path, meta)
    return out


def _arrays(path, *names):
    with uproot.open(path) as f:
        return f["Events"].arrays(list(names) if names else None, library="ak")


def _p4(pt, eta, phi, m):
    px, py, pz = pt * math.cos(phi), pt * math.sin(phi), pt * math.sinh(eta)
    return px, py, pz, math.sqrt(px * px + py * py + pz * pz + m * m)


def _mass(*vecs):
    px, py, pz, e = (sum(v[i] for v in vecs) for i in range(4))
    return math.sqrt(max(e * e - px * px - py * py - pz * pz, 0.0))


@pytest.mark.parametrize("layout", ["modern", "legacy"])
def test_nanoevents_roundtrip_without_crossref_warnings(toy, layout):
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

    for name in ("HNL_M300", "TTTo2L2Nu"):
        path, _ = toy[name, layout]
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # any missing cross-reference becomes an error
            events = NanoEventsFactory.from_root(
                {str(path): "Events"}, schemaclass=NanoAODSchema, mode="virtual"
            ).events()
            assert len(events) == N
            assert ak.all(
                events.Tau.matched_jet.pt[~ak.is_none(events.Tau.matched_jet, axis=1)] > 0
            )
            mothers = events.GenPart.parent.pdgId
            assert ak.sum(ak.fill_none(mothers == 9900012, False)) > 0 or name != "HNL_M300"
            met = events.PFMET if layout == "modern" else events.MET
            assert ak.all(met.pt >= 0)
            assert ak.all(ak.num(events.Jet) >= 0)


@pytest.mark.parametrize("layout", ["modern", "legacy"])
def test_branch_names_and_types(toy, layout):
    path, _ = toy["WZTo3LNu", layout]
    with uproot.open(path) as f:
        t = f["Events"]
        types = {}
        for k in t.keys():  # noqa: SIM118 - a TTree iterates over branches, not names
            interp = t[k].interpretation
            types[k] = getattr(interp, "content", interp).to_dtype

    def dt(b):
        return np.dtype(types[b]).newbyteorder("=")

    assert dt("run") == np.uint32 and dt("luminosityBlock") == np.uint32
    assert dt("event") == np.uint64 and dt("genWeight") == np.float32
    assert dt("nMuon") == np.int32 and dt("Muon_pt") == np.float32
    assert dt("Muon_mediumId") == np.bool_ and dt("Muon_genPartFlav") == np.uint8
    assert dt("Jet_jetId") == np.int32 and dt("Tau_decayMode") == np.int32
    tag = "DeepTau2018v2p5" if layout == "modern" else "DeepTau2017v2p1"
    for suffix in ("VSjet", "VSe", "VSmu"):
        assert dt(f"Tau_id{tag}{suffix}") == np.uint8
        assert dt(f"Tau_raw{tag}{suffix}") == np.float32
    met = "PFMET" if layout == "modern" else "MET"
    for field in ("pt", "phi", "sumEt", "covXX", "covXY", "covYY", "significance"):
        assert f"{met}_{field}" in types
    ele = "Electron_mvaIso_WP90" if layout == "modern" else "Electron_mvaFall17V2Iso_WP90"
    assert dt(ele) == np.bool_
    for b in (
        "HLT_IsoMu24",
        "HLT_Ele32_WPTight_Gsf",
        "Pileup_nTrueInt",
        "PV_npvsGood",
        "fixedGridRhoFastjetAll" if layout == "legacy" else "Rho_fixedGridRhoFastjetAll",
    ):
        assert b in types
    raw = "RawMET" if layout == "legacy" else "RawPFMET"
    for b in (f"{raw}_pt", "RawPuppiMET_pt", "PuppiMET_ptUnclusteredUp", "GenJet_pt"):
        assert dt(b) == np.float32, b
    for f in ("rawFactor", "area", "chHEF", "neHEF", "chEmEF", "neEmEF", "muEF", "muonSubtrFactor"):
        assert dt(f"Jet_{f}") == np.float32, f
    assert dt("Jet_chMultiplicity") == np.uint8 and dt("Jet_genJetIdx") == np.int32


def test_cross_references_in_range(toy):
    a = _arrays(toy["TTTo2L2Nu", "modern"][0])
    for coll, idx, target in (
        ("Tau", "jetIdx", "Jet"),
        ("Muon", "jetIdx", "Jet"),
        ("Electron", "jetIdx", "Jet"),
        ("Muon", "genPartIdx", "GenPart"),
        ("Tau", "genPartIdx", "GenPart"),
        ("Jet", "genJetIdx", "GenJet"),
        ("GenPart", "genPartIdxMother", "GenPart"),
    ):
        i = a[f"{coll}_{idx}"]
        n = a[f"n{target}"]
        assert ak.all((i >= -1) & (i < n)), f"{coll}_{idx} out of range"
    # mothers come before their daughters
    mother = a["GenPart_genPartIdxMother"]
    local = ak.local_index(mother)
    assert ak.all(mother < local)


def test_wz_z_peak(toy):
    """OSSF light-lepton pair mass peaks at m_Z (independent per-event loop)."""
    a = _arrays(toy["WZTo3LNu", "modern"][0])
    masses = []
    for ev in ak.to_list(
        a[
            [
                "Muon_pt",
                "Muon_eta",
                "Muon_phi",
                "Muon_mass",
                "Muon_charge",
                "Electron_pt",
                "Electron_eta",
                "Electron_phi",
                "Electron_mass",
                "Electron_charge",
            ]
        ]
    ):
        for fl in ("Muon", "Electron"):
            leps = list(
                zip(
                    ev[f"{fl}_pt"],
                    ev[f"{fl}_eta"],
                    ev[f"{fl}_phi"],
                    ev[f"{fl}_mass"],
                    ev[f"{fl}_charge"],
                )
            )
            for i in range(len(leps)):
                for j in range(i + 1, len(leps)):
                    if leps[i][4] != leps[j][4] and min(leps[i][0], leps[j][0]) > 10:
                        masses.append(_mass(_p4(*leps[i][:4]), _p4(*leps[j][:4])))
    counts, edges = np.histogram(masses, bins=np.arange(60.0, 122.0, 2.0))
    peak = 0.5 * (edges[np.argmax(counts)] + edges[np.argmax(counts) + 1])
    assert len(masses) > 500
    assert abs(peak - 91.19) <= 2.0


def test_signal_hnl_mass_and_visible_pair(toy):
    """Σ of the HNL daughters' gen four-vectors gives m_N; the visible pair is below m_N."""
    a = _arrays(toy["HNL_M300", "modern"][0])
    m_n = 300.0
    n_checked = 0
    for ev in ak.to_list(
        a[
            [
                "GenPart_pt",
                "GenPart_eta",
                "GenPart_phi",
                "GenPart_mass",
                "GenPart_pdgId",
                "GenPart_genPartIdxMother",
                "GenVisTau_pt",
                "GenVisTau_eta",
                "GenVisTau_phi",
                "GenVisTau_mass",
                "GenVisTau_genPartIdxMother",
            ]
        ]
    ):
        pdg = ev["GenPart_pdgId"]
        n_idx = [i for i, p in enumerate(pdg) if abs(p) == 9900012]
        assert len(n_idx) == 1
        daughters = [i for i, m in enumerate(ev["GenPart_genPartIdxMother"]) if m == n_idx[0]]
        assert len(daughters) == 3
        vec = [
            _p4(
                ev["GenPart_pt"][i],
                ev["GenPart_eta"][i],
                ev["GenPart_phi"][i],
                ev["GenPart_mass"][i],
            )
            for i in daughters
        ]
        assert abs(_mass(*vec) - m_n) < 1e-3 * m_n
        assert abs(ev["GenPart_mass"][n_idx[0]] - m_n) < 1e-3
        # visible: e/μ daughters as they are, τ → GenVisTau or its leptonic daughter
        vis = []
        for i in daughters:
            if abs(pdg[i]) in (11, 13):
                vis.append(vec[daughters.index(i)])
            elif abs(pdg[i]) == 15:
                k = [j for j, m in enumerate(ev["GenVisTau_genPartIdxMother"]) if m == i]
                if k:
                    j = k[0]
                    vis.append(
                        _p4(
                            ev["GenVisTau_pt"][j],
                            ev["GenVisTau_eta"][j],
                            ev["GenVisTau_phi"][j],
                            ev["GenVisTau_mass"][j],
                        )
                    )
                else:
                    j = [
                        j
                        for j, m in enumerate(ev["GenPart_genPartIdxMother"])
                        if m == i and abs(pdg[j]) in (11, 13)
                    ][0]
                    vis.append(
                        _p4(
                            ev["GenPart_pt"][j],
                            ev["GenPart_eta"][j],
                            ev["GenPart_phi"][j],
                            ev["GenPart_mass"][j],
                        )
                    )
        assert len(vis) == 2
        assert _mass(*vis) < m_n * 1.001
        n_checked += 1
    assert n_checked == N


def test_reco_pair_from_hnl_below_mass(toy):
    """Reco light leptons matched to HNL daughters form a pair below m_N + resolution."""
    a = _arrays(toy["HNL_M300", "modern"][0])
    over, pairs = 0, 0
    for ev in ak.to_list(
        a[
            [
                "Muon_pt",
                "Muon_eta",
                "Muon_phi",
                "Muon_mass",
                "Muon_genPartIdx",
                "GenPart_genPartIdxMother",
                "GenPart_pdgId",
            ]
        ]
    ):
        mothers = ev["GenPart_genPartIdxMother"]
        hnl = (
            ev["GenPart_pdgId"].index(9900012)
            if 9900012 in ev["GenPart_pdgId"]
            else ev["GenPart_pdgId"].index(-9900012)
        )

        def from_hnl(g, hnl=hnl, mothers=mothers):
            while g >= 0:
                if g == hnl:
                    return True
                g = mothers[g]
            return False

        sel = [i for i, g in enumerate(ev["Muon_genPartIdx"]) if g >= 0 and from_hnl(g)]
        if len(sel) == 2:
            v = [
                _p4(ev["Muon_pt"][i], ev["Muon_eta"][i], ev["Muon_phi"][i], ev["Muon_mass"][i])
                for i in sel
            ]
            pairs += 1
            over += _mass(*v) > 300.0 * 1.05
    assert pairs > 20
    assert over == 0


def test_fake_taus_have_lower_deeptau(toy):
    a = _arrays(
        toy["DYJetsToLL", "modern"][0], "Tau_genPartFlav", "Tau_rawDeepTau2018v2p5VSjet", "Tau_pt"
    )
    flav = ak.flatten(a["Tau_genPartFlav"]).to_numpy()
    raw = ak.flatten(a["Tau_rawDeepTau2018v2p5VSjet"]).to_numpy()
    genuine, fake = raw[flav == 5], raw[flav == 0]
    assert len(genuine) > 50 and len(fake) > 50
    assert fake.mean() < genuine.mean() - 0.3


@pytest.mark.parametrize("layout", ["modern", "legacy"])
def test_deeptau_working_points_follow_raw_scores(toy, layout):
    thresholds = {  # loosest first, as documented for the toy
        "VSjet": (0.2599, 0.4249, 0.5983, 0.7848, 0.8834, 0.9308, 0.9603, 0.9797),
        "VSe": (0.0630, 0.1692, 0.3872, 0.6681, 0.8516, 0.9288, 0.9658, 0.9819),
        "VSmu": (0.1058, 0.2476, 0.5943, 0.8410),
    }
    tag = "DeepTau2018v2p5" if layout == "modern" else "DeepTau2017v2p1"
    a = _arrays(toy["DYJetsToLL", layout][0])
    for suffix, thr in thresholds.items():
        raw = ak.flatten(a[f"Tau_raw{tag}{suffix}"]).to_list()
        wp = ak.flatten(a[f"Tau_id{tag}{suffix}"]).to_list()
        assert len(raw) > 100
        for r, w in zip(raw, wp):
            passed = [r > t for t in thr]
            if layout == "modern":
                assert w == sum(passed)
            else:
                assert all(bool(w >> k & 1) == p for k, p in enumerate(passed))
                assert w < (1 << len(thr))


def test_same_seed_identical_different_seed_differs(tmp_path, cfg):
    def arrays(seed, tag):
        p = tmp_path / f"{tag}.root"
        generate_sample("TTTo2L2Nu", 1500, p, seed=seed, cfg=cfg, chunk_size=700)
        return _arrays(p)

    a, b, c = arrays(3, "a"), arrays(3, "b"), arrays(4, "c")
    assert a.fields == b.fields
    for field in a.fields:
        assert ak.to_buffers(a[field])[2].keys() == ak.to_buffers(b[field])[2].keys()
        for (k, x), y in zip(
            ak.to_buffers(a[field])[2].items(), ak.to_buffers(b[field])[2].values()
        ):
            assert np.asarray(x).tobytes() == np.asarray(y).tobytes(), f"{field} {k} differs"
    rho = "Rho_fixedGridRhoFastjetAll"
    assert not np.array_equal(ak.to_numpy(a[rho]), ak.to_numpy(c[rho]))
    assert not ak.array_equal(a["Muon_pt"], c["Muon_pt"])


def test_metadata_runs_tree_and_negative_weights(toy):
    path, meta = toy["WZTo3LNu", "modern"]
    md = read_metadata(path)
    assert md["seed"] == 7 and md["generator"] == "hnl_coffea.toymc" and md["version"]
    w = _arrays(path, "genWeight")["genWeight"].to_numpy()
    assert (w < 0).sum() > 0
    assert meta["sumw"] == pytest.approx(float(w.astype(np.float64).sum()))
    with uproot.open(path) as f:
        assert f["Runs"]["genEventSumw"].array(library="np")[0] == pytest.approx(meta["sumw"])
        assert f["Runs"]["genEventCount"].array(library="np")[0] == N
        # baskets hold the requested chunk of 1000 events
        assert f["Events"]["Muon_pt"].num_baskets == N // 1000


def test_hlt_bits_consistent_with_leptons(toy):
    a = _arrays(
        toy["WZTo3LNu", "modern"][0],
        "HLT_IsoMu24",
        "Muon_pt",
        "HLT_Ele32_WPTight_Gsf",
        "Electron_pt",
    )
    for fired, pts, thr in (
        (a["HLT_IsoMu24"], a["Muon_pt"], 24.0),
        (a["HLT_Ele32_WPTight_Gsf"], a["Electron_pt"], 32.0),
    ):
        for f, p in zip(fired.to_list(), pts.to_list()):
            if f:
                assert max(p) > thr
        assert sum(fired.to_list()) > 0.2 * N


def test_fileset_json_and_split(tmp_path, cfg):
    path = generate_fileset(
        tmp_path / "fs", 4000, seed=2, cfg=cfg, samples=["HNL_M100", "WZTo3LNu", "ZGToLLG"]
    )
    raw = json.loads(path.read_text())
    assert set(raw) == {"HNL_M100", "WZTo3LNu", "ZGToLLG"}
    fs = load_fileset(path)
    assert fs["HNL_M100"]["metadata"]["is_signal"] and fs["HNL_M100"]["metadata"]["m_hnl"] == 100.0
    assert fs["WZTo3LNu"]["metadata"]["xsec"] > 0 and not fs["WZTo3LNu"]["metadata"]["is_data"]
    n_total = 0
    for spec in raw.values():
        ((file, tree),) = spec["files"].items()
        assert tree == "Events"
        with uproot.open(file) as f:
            n_total += f["Events"].num_entries
    assert n_total == 4000
    counts = split_events(all_samples(cfg.mass_hypotheses), 200_000)
    assert sum(counts.values()) == pytest.approx(200_000, abs=20)
    assert sum(v for k, v in counts.items() if k.startswith("HNL")) == pytest.approx(60_000, abs=20)


def test_bad_input_messages(tmp_path, cfg):
    with pytest.raises(ValueError, match="unknown toy sample 'Nope'"):
        generate_sample("Nope", 10, tmp_path / "x.root", cfg=cfg)
    with pytest.raises(ValueError, match="unknown compression 'gzip'"):
        generate_sample("WZTo3LNu", 10, tmp_path / "x.root", compression="gzip", cfg=cfg)
    with pytest.raises(ValueError, match="unknown NanoAOD layout 'v7'"):
        generate_sample("WZTo3LNu", 10, tmp_path / "x.root", layout="v7", cfg=cfg)
    with pytest.raises(ValueError, match="n_events must be > 0"):
        generate_sample("WZTo3LNu", 0, tmp_path / "x.root", cfg=cfg)
