"""The trigger step and the trigger scale factors on hand-built events with known answers.

Thresholds and filter bits are those of ``data/config/default.yaml`` (2018 unless said
otherwise: IsoMu24 → μ pT > 26 GeV, ΔR < 0.1, bit 1; di-τ → two τh pT > 40 GeV, |η| < 2.1,
ΔR < 0.5, bits 1 and 4 for the HPS path, 2, 3 and 6 for DoubleTightChargedIsoPFTau35
before run 317509). Scale factors are looked up by hand in the illustrative tables of
``hnl_coffea/corrections/make_illustrative.py`` and written here as literals.
"""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
from nanoaod_builder import build_events, open_events, write_nanoaod

from hnl_coffea.channels import select
from hnl_coffea.config import ConfigError
from hnl_coffea.corrections import CorrectionError, CorrectionProvider, event_weights
from hnl_coffea.nanoaod import MissingBranchError

HPS = "DoubleMediumChargedIsoPFTauHPS35_Trk1_eta2p1_Reg"
TIGHT35 = "DoubleTightChargedIsoPFTau35_Trk1_TightID_eta2p1_Reg"
NONE_FIRED = {
    "IsoMu24": False,
    "Ele32_WPTight_Gsf": False,
    HPS: False,
    TIGHT35: False,
    "DoubleMediumChargedIsoPFTau40_Trk1_TightID_eta2p1_Reg": False,
    "DoubleTightChargedIsoPFTau40_Trk1_eta2p1_Reg": False,
}
MU_BITS = 1 << 1
HPS_BITS = (1 << 1) | (1 << 4)
TIGHT35_BITS = (1 << 2) | (1 << 3) | (1 << 6)


def _lep(pt, eta, phi, q, **kw):
    return {"pt": pt, "eta": eta, "phi": phi, "charge": q, **kw}


def _trig(pdg, lep, bits, deta=0.0):
    return {"id": pdg, "pt": lep["pt"], "eta": lep["eta"] + deta, "phi": lep["phi"],
            "filterBits": bits}  # fmt: skip


def _taumumu(mu1_pt, mu2_pt, trig=None, fired=("IsoMu24",)):
    """τμμ: τ(40, η 0), μ(mu1_pt, η 1, φ 2), μ(mu2_pt, η −1, φ −2)."""
    mu1, mu2 = _lep(mu1_pt, 1.0, 2.0, -1), _lep(mu2_pt, -1.0, -2.0, -1)
    ev = {"Tau": [_lep(40, 0.0, 0.0, 1)], "Muon": [mu1, mu2],
          "HLT": {**NONE_FIRED, **dict.fromkeys(fired, True)}}  # fmt: skip
    ev["TrigObj"] = trig if trig is not None else [_trig(13, mu1, MU_BITS), _trig(13, mu2, MU_BITS)]
    return ev, mu1, mu2


def _tautaumu(fired, tau_bits=HPS_BITS, run=1, mu_pt=30.0):
    """ττμ: τ(50, dm 0), τ(45, dm 0), μ(mu_pt); trigger objects on all three."""
    t1, t2 = _lep(50, 0.0, 0.0, 1), _lep(45, 1.5, 2.0, -1)
    mu = _lep(mu_pt, -1.5, -2.0, 1)
    return {
        "Tau": [t1, t2], "Muon": [mu], "run": run,
        "HLT": {**NONE_FIRED, **dict.fromkeys(fired, True)},
        "TrigObj": [_trig(15, t1, tau_bits), _trig(15, t2, tau_bits), _trig(13, mu, MU_BITS)],
    }  # fmt: skip


def _trigger(tmp_path, events, cfg, name="ev", **kw):
    sel = select(build_events(tmp_path, events, name=name, **kw), cfg)
    assert ak.to_list(sel.steps.all("lepton_dr")) == [True] * len(events)  # all but the trigger
    return ak.to_list(sel.steps.all("trigger")), sel


def test_muon_below_the_offline_threshold_does_not_satisfy_isomu24(tmp_path, cfg):
    """IsoMu24 fired and both muons are matched, but 22 and 25 GeV are below 26 GeV."""
    low, _, _ = _taumumu(25.0, 22.0)
    high, _, _ = _taumumu(27.0, 22.0)
    got, sel = _trigger(tmp_path, [low, high], cfg)
    assert got == [False, True]
    # the 27 GeV muon takes the leg, the 22 GeV one does not
    assert ak.to_list(sel.leptons.trigger_leg) == [[-1, -1, -1], [-1, 0, -1]]
    # 2017 (IsoMu27 → 29 GeV): the 27 GeV muon is below threshold there
    hlt17 = {"IsoMu27": True}
    ev17 = {**high, "HLT": hlt17}
    got, _ = _trigger(tmp_path, [ev17], cfg.for_era("2017"), name="e17",
                      hlt_paths=("IsoMu27",))  # fmt: skip
    assert got == [False]


def test_unmatched_muon_does_not_count(tmp_path, cfg):
    """The 30 GeV muon's trigger object is ΔR 0.3 away, lacks bit 1, or is an electron."""
    base, mu1, mu2 = _taumumu(30.0, 20.0)
    cases = [
        [_trig(13, mu1, MU_BITS, deta=0.3)],  # ΔR 0.3 > 0.1
        [_trig(13, mu1, 1 << 3)],  # bit 3 only, IsoMu24 needs bit 1
        [_trig(11, mu1, MU_BITS)],  # an electron trigger object
        [_trig(13, mu2, MU_BITS)],  # matches the 20 GeV muon only (below threshold)
        [_trig(13, mu1, MU_BITS | (1 << 3), deta=0.05)],  # matched
    ]
    events = [{**base, "TrigObj": trig} for trig in cases]
    got, _ = _trigger(tmp_path, events, cfg)
    assert got == [False, False, False, False, True]
    # without matching only the thresholds count: all five pass
    loose = cfg.with_overrides({"trigger_matching": False})
    got, _ = _trigger(tmp_path, events, loose, name="nomatch")
    assert got == [True] * 5


def test_ditau_needs_two_distinct_taus_above_40_gev(tmp_path, cfg):
    one_low = _tautaumu([HPS])
    one_low["Tau"][1] = {**one_low["Tau"][1], "pt": 39.0}
    one_low["TrigObj"][1] = {**one_low["TrigObj"][1], "pt": 39.0}
    forward = _tautaumu([HPS])
    forward["Tau"][1] = {**forward["Tau"][1], "eta": 2.2}
    forward["TrigObj"][1] = {**forward["TrigObj"][1], "eta": 2.2}
    one_object = _tautaumu([HPS])
    one_object["TrigObj"] = one_object["TrigObj"][:1] + one_object["TrigObj"][2:]
    good = _tautaumu([HPS])
    got, sel = _trigger(tmp_path, [one_low, forward, one_object, good], cfg)
    assert got == [False, False, False, True]
    ditau = list(cfg.era_config.triggers).index("ditau")
    assert ak.to_list(sel.trigger_group) == [-1, -1, -1, ditau]
    assert ak.to_list(sel.leptons.trigger_leg)[3] == [ditau, ditau, -1]


def test_2018_data_before_run_317509_use_the_non_hps_ditau_paths(tmp_path, cfg):
    """Only DoubleTightChargedIsoPFTau35 fired: kept in data at run 317000, not at 318000
    (the HPS path took over at 317509), and not in simulation (which uses the HPS path)."""
    early = _tautaumu([TIGHT35], tau_bits=TIGHT35_BITS, run=317000)
    late = _tautaumu([TIGHT35], tau_bits=TIGHT35_BITS, run=318000)
    hps_early = _tautaumu([HPS], run=317000)  # HPS fired before it is used: not kept
    hps_late = _tautaumu([HPS], run=318000)
    data = [early, late, hps_early, hps_late]
    got, _ = _trigger(tmp_path, data, cfg, name="data", is_mc=False)
    assert got == [True, False, False, True]
    got, _ = _trigger(tmp_path, data, cfg, name="mc")
    assert got == [False, False, True, True]
    # the filter bits of the path used in the run decide: HPS bits at run 317000 fail
    wrong = _tautaumu([TIGHT35], tau_bits=HPS_BITS, run=317000)
    got, _ = _trigger(tmp_path, [wrong], cfg, name="bits", is_mc=False)
    assert got == [False]


def test_run3_bits_follow_the_era(tmp_path, cfg):
    """2022 (NanoAOD v12) IsoMu24 needs bits 1 (Iso) and 3 (1mu); bit 1 alone is 2018's."""
    only_iso, mu1, _ = _taumumu(30.0, 20.0)
    both = {**only_iso, "TrigObj": [_trig(13, mu1, MU_BITS | (1 << 3))]}
    cfg22 = cfg.for_era("2022")
    got, _ = _trigger(tmp_path, [only_iso, both], cfg22, name="r3", hlt_paths=("IsoMu24",))
    assert got == [False, True]


def _factor(weights, name: str, event: int) -> float:
    return float(weights.partial_weight(include=[name])[event])


def test_scale_factors_go_to_the_assigned_path_only(tmp_path, cfg):
    """ττμ events: di-τ only → the di-τ SF of both τh and no single-μ SF; both fired → the
    single-μ path has priority (channel order); a τμμ event with two muons above threshold
    → the SF of the leading one only."""
    ditau_only = _tautaumu([HPS])
    both = _tautaumu([HPS, "IsoMu24"])
    two_mu, _, _ = _taumumu(45.0, 35.0)
    events = [ditau_only, both, two_mu]
    for ev in events:
        for coll in ("Tau", "Muon"):
            ev[coll] = [{**o, "genPartFlav": 0} for o in ev[coll]]  # no τ ID SF
    nano = build_events(tmp_path, events)
    sel = select(nano, cfg)
    assert ak.to_list(sel.selected) == [True, True, True]
    w = event_weights(sel.leptons, nano, cfg, CorrectionProvider(cfg), is_data=False)
    # di-τ legs, dm 0: τ(50) pT [50, 60) → 0.92, τ(45) pT [45, 50) → 0.90
    assert _factor(w, "triggerDiTau", 0) == pytest.approx(0.92 * 0.90)
    assert _factor(w, "triggerMu", 0) == 1.0
    # μ(30, |η| 1.5) → |η| [1.2, 2.1), pT [30, 40): 0.955
    assert _factor(w, "triggerMu", 1) == pytest.approx(0.955)
    assert _factor(w, "triggerDiTau", 1) == 1.0
    # μ(45, |η| 1.0) → |η| [0.9, 1.2), pT [40, 60): 0.975; the 35 GeV muon gets none
    assert _factor(w, "triggerMu", 2) == pytest.approx(0.975)
    # variations: di-τ up/down of both legs (0.92 ± 0.03, 0.90 ± 0.03)
    assert w.weight("triggerDiTauUp")[0] / w.weight()[0] == pytest.approx(0.95 * 0.93 / 0.828)
    assert w.weight("triggerDiTauDown")[0] / w.weight()[0] == pytest.approx(0.89 * 0.87 / 0.828)
    assert w.weight("triggerMuUp")[0] == pytest.approx(w.weight()[0])
    assert w.weight("triggerMuUp")[1] / w.weight()[1] == pytest.approx(0.965 / 0.955)


def test_trigger_leg_field_is_required_for_trigger_scale_factors(cfg):
    leptons = ak.zip({"pt": [[30.0]], "eta": [[0.1]], "flavour": [["mu"]]})
    info = ak.zip({"genWeight": [1.0], "Pileup_nTrueInt": [30.0]})
    with pytest.raises(CorrectionError, match=r"no 'trigger_leg' field.*triggerMu") as err:
        event_weights(leptons, info, cfg, CorrectionProvider(cfg), is_data=False)
    assert "\n" not in str(err.value)


def test_missing_trigobj_is_one_line(tmp_path, cfg):
    ev, _, _ = _taumumu(30.0, 20.0)
    path = write_nanoaod(tmp_path / "notrig.root", [ev], drop=("TrigObj",))
    with pytest.raises(MissingBranchError, match=r"'TrigObj_id'.*trigger_matching=false") as err:
        select(open_events(path), cfg)
    assert "\n" not in str(err.value)
    sel = select(open_events(path), cfg.with_overrides({"trigger_matching": False}))
    assert ak.to_list(sel.steps.all("trigger")) == [True]


def test_every_path_needs_its_legs(cfg):
    with pytest.raises(ConfigError, match=r"eras\.2018.*no offline legs.*'IsoMu27'"):
        cfg.with_overrides({"eras.2018.triggers.single_mu": ["IsoMu24", "IsoMu27"]})
    with pytest.raises(ConfigError, match=r"trigger_scale_factors.*'single_tau'"):
        cfg.with_overrides({"corrections.trigger_scale_factors.single_tau": "tau_trigger"})


def test_toy_trigger_objects_match_the_bits_it_fires(tmp_path, cfg):
    """Toy simulation writes a TrigObj for every object that fired a path, with the path's
    filter bits: every event that fired IsoMu24 has a matching muon object with bit 1."""
    toymc = pytest.importorskip("hnl_coffea.toymc")
    path = tmp_path / "wz.root"
    toymc.generate_sample("WZTo3LNu", 3000, path, seed=5, layout="legacy")
    events = open_events(path)
    fired = np.asarray(events.HLT.IsoMu24)
    trig = events.TrigObj
    has_mu = np.asarray(ak.any((trig.id == 13) & ((trig.filterBits & MU_BITS) != 0), axis=1))
    assert fired.sum() > 100
    assert np.array_equal(fired, has_mu)
    ditau = np.asarray(events.HLT[HPS])
    n_tau = np.asarray(ak.sum((trig.id == 15) & ((trig.filterBits & HPS_BITS) == HPS_BITS), axis=1))
    assert np.array_equal(ditau, n_tau >= 2)
    assert not np.asarray(events.HLT[TIGHT35]).any()  # a data-only path: never in simulation
    # every muon trigger object sits on an offline muon (online resolution σ(η, φ) 0.002)
    tmu = trig[trig.id == 13]
    pairs = ak.cartesian([tmu, events.Muon], nested=True)
    dr = ak.min(pairs["0"].delta_r(pairs["1"]), axis=2)
    assert ak.count(dr) > 100 and float(ak.max(dr)) < 0.05


def test_toy_data_fire_the_paths_of_their_run(cfg):
    """Toy 2018 collision data: the non-HPS di-τ paths fire before run 317509 only, the HPS
    path from it on only, and their trigger objects carry the bits of the path that fired."""
    from hnl_coffea.toymc.event import simulate
    from hnl_coffea.toymc.samples import signal_sample

    rng = np.random.default_rng(3)
    truth = signal_sample(300.0).build(rng, 4000)
    runs = np.where(np.arange(4000) % 2 == 0, 316000, 320000)
    chunk = simulate(rng, truth, cfg.era_config, runs)
    early = runs < 317509
    hps, tight35 = chunk.scalars[f"HLT_{HPS}"], chunk.scalars[f"HLT_{TIGHT35}"]
    assert hps[~early].sum() > 20 and not hps[early].any()
    assert tight35[early].sum() > 20 and not tight35[~early].any()
    trig = chunk.collections["TrigObj"]
    event = np.repeat(np.arange(4000), trig.counts)
    bits = trig.fields["filterBits"].astype(np.int64)
    taus = trig.fields["id"] == 15
    assert np.all((bits[taus & early[event]] & TIGHT35_BITS) != 0)
    assert not np.any((bits[taus & ~early[event]] & (1 << 6)) != 0)  # HPS: no di-τ bit in v9
