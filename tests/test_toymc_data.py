"""Toy collision data: no MC branches, lumi blocks vs golden JSON, primary-dataset overlap."""

from __future__ import annotations

import json
import math
import warnings
from collections import Counter

import numpy as np
import pytest
import uproot

from hnl_coffea.fileset import load_fileset
from hnl_coffea.paths import data_path
from hnl_coffea.toymc import generate_fileset

LUMI_FB = 0.006  # ≈ 7 400 generated collisions after the generator-level filter


@pytest.fixture(scope="module")
def data_fileset(tmp_path_factory, cfg):
    out = tmp_path_factory.mktemp("toydata")
    path = generate_fileset(
        out,
        600,
        seed=5,
        cfg=cfg,
        samples=["WZTo3LNu"],
        with_data=True,
        luminosity_fb=LUMI_FB,
        chunk_size=2000,
    )
    return path, json.loads(path.read_text())


def _data_files(fileset):
    return {
        md["metadata"]["primary_dataset"]: next(iter(md["files"]))
        for md in fileset.values()
        if md["metadata"]["is_data"]
    }


def test_data_metadata(data_fileset, cfg):
    path, raw = data_fileset
    fs = load_fileset(path)
    pds = [pd.name for pd in cfg.era_config.primary_datasets]
    assert set(_data_files(raw)) == set(pds)
    for name in pds:
        md = fs[f"data_{name}"]["metadata"]
        assert md["is_data"] is True and md["primary_dataset"] == name and md["xsec"] is None
    assert fs["WZTo3LNu"]["metadata"]["is_data"] is False


def test_no_mc_only_branches_and_nanoevents_reads(data_fileset):
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

    _, raw = data_fileset
    for file in _data_files(raw).values():
        with uproot.open(file) as f:
            keys = set(f["Events"].keys())
        for forbidden in ("genWeight", "Pileup_nTrueInt", "Jet_hadronFlavour", "nGenPart"):
            assert forbidden not in keys
        assert not [k for k in keys if k.startswith("GenPart") or k.startswith("GenVisTau")]
        assert not [k for k in keys if k.endswith("_genPartIdx") or k.endswith("_genPartFlav")]
        assert {"run", "luminosityBlock", "event", "Muon_pt", "Tau_decayMode"} <= keys
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            events = NanoEventsFactory.from_root(
                {file: "Events"}, schemaclass=NanoAODSchema, mode="virtual"
            ).events()
            assert len(events) > 0
            assert len(events.Tau.matched_jet.pt) == len(events)


def test_overlap_events_are_exactly_the_multi_trigger_ones(data_fileset, cfg):
    _, raw = data_fileset
    era = cfg.era_config
    group_of = {pd.name: pd.trigger_group for pd in era.primary_datasets}
    seen: Counter = Counter()
    n_groups: dict = {}
    for pd, file in _data_files(raw).items():
        with uproot.open(file) as f:
            a = f["Events"].arrays(library="np")
        fired = {
            g: np.any([a[f"HLT_{p}"] for p in paths], axis=0) for g, paths in era.triggers.items()
        }
        assert fired[group_of[pd]].all(), f"{pd} holds events its trigger group did not fire"
        for i, key in enumerate(zip(a["run"], a["luminosityBlock"], a["event"])):
            seen[key] += 1
            n = sum(int(fired[group_of[q]][i]) for q in group_of)
            assert n_groups.setdefault(key, n) == n
    duplicated = {k for k, c in seen.items() if c > 1}
    multi = {k for k, n in n_groups.items() if n > 1}
    assert duplicated == multi
    assert len(duplicated) > 10
    assert all(seen[k] == n_groups[k] for k in seen)


def test_run_lumi_numbers_and_golden_json(data_fileset, cfg):
    """Toy data carry runs of the era's real golden JSON, some blocks outside it."""
    from coffea.lumi_tools import LumiMask

    _, raw = data_fileset
    golden = data_path(cfg.era_config.golden_json)
    certified = json.loads(golden.read_text())
    mask = LumiMask(str(golden))
    runs, lumis = [], []
    for file in _data_files(raw).values():
        with uproot.open(file) as f:
            a = f["Events"].arrays(["run", "luminosityBlock"], library="np")
        runs.append(a["run"])
        lumis.append(a["luminosityBlock"])
    run, lumi = np.concatenate(runs), np.concatenate(lumis)
    assert run.dtype == np.uint32 and lumi.dtype == np.uint32
    first, last = cfg.era_config.runs
    assert (run >= first).all() and (run <= last).all() and (lumi >= 1).all()
    assert len(np.unique(run)) >= 5

    def inside(r, ls):  # independent reading of the CMS JSON format
        return any(lo <= ls <= hi for lo, hi in certified.get(str(r), []))

    expected = np.array([inside(r, ls) for r, ls in zip(run.tolist(), lumi.tolist())])
    assert np.array_equal(mask(run, lumi), expected)
    outside = 1.0 - expected.mean()
    assert 0.02 < outside < 0.3


def test_generator_filter_metadata_and_event_count(data_fileset):
    """σ × L × ε with ε = 1 for processes with ≥ 2 hard leptons, 0 for W+jets (hand sum)."""
    _, raw = data_fileset
    data = [d["metadata"]["user"] for d in raw.values() if d["metadata"]["is_data"]]
    expected_eff = {
        "WZTo3LNu": 1.0,
        "ZZTo4L": 1.0,
        "TTTo2L2Nu": 1.0,
        "DYJetsToLL": 1.0,
        "WJetsToLNu": 0.0,
        "ZGToLLG": 1.0,
    }
    for md in data:
        filt = md["generator_filter"]
        assert filt["name"] == "GenDilepton" and "2 charged leptons" in filt["definition"]
        assert filt["efficiency"] == expected_eff
    for file in _data_files(raw).values():
        with uproot.open(file) as f:
            meta = json.loads(str(f["hnl_coffea_toymc"]))
        assert meta["generator_filter"]["efficiency"] == expected_eff
    sigma_pb = 4.43 + 1.26 + 88.3 + 6077.0 * 0.18 + 51.1  # W+jets filtered away
    mean = sigma_pb * LUMI_FB * 1000.0
    n = data[0]["n_collisions_generated"]
    assert abs(n - mean) < 5 * math.sqrt(mean)


@pytest.mark.parametrize(("sample", "n_leptons"), [("WJetsToLNu", 1), ("WZTo3LNu", 3)])
def test_hard_lepton_count(tmp_path, cfg, sample, n_leptons):
    """The filter's lepton count against a per-event loop over the written GenPart."""
    from hnl_coffea.toymc import generate_sample
    from hnl_coffea.toymc.fileset import find_sample
    from hnl_coffea.toymc.filters import GEN_DILEPTON, n_hard_leptons
    from hnl_coffea.toymc.writer import sample_rng

    path = tmp_path / f"{sample}.root"
    generate_sample(sample, 300, path, seed=2, cfg=cfg, chunk_size=300)
    with uproot.open(path) as f:
        a = f["Events"].arrays(["GenPart_pdgId", "GenPart_statusFlags"], library="ak")
    counts = []
    for pdgs, flags in zip(a["GenPart_pdgId"].tolist(), a["GenPart_statusFlags"].tolist()):
        counts.append(sum(1 for p, s in zip(pdgs, flags) if abs(p) in (11, 13, 15) and s >> 7 & 1))
    assert set(counts) == {n_leptons}
    # the same truth, rebuilt from the same random stream, gives the same count per event
    truth = find_sample(sample, cfg).build(sample_rng(2, sample, 0), 300)
    assert n_hard_leptons(truth).tolist() == counts
    assert GEN_DILEPTON.passes(truth).all() == (n_leptons >= 2)
