"""A plain reference processor, written the way a coffea tutorial writes one.

Same object cuts, channels and regions' base selection as :class:`HNLProcessor` (nominal
only, no model, no scale factors), with NanoEvents collections and ``ak`` per object and a
handful of features (three-lepton mass, MET, leading-lepton pT, ΣpT, total transverse
mass). It is the yardstick for "what a straightforward coffea analysis costs".
"""

from __future__ import annotations

from typing import Any

import awkward as ak
import hist
import numpy as np
from coffea import processor
from coffea.nanoevents.methods import candidate

from ..config import AnalysisConfig, load_config
from ..nanoaod import deeptau_pass, detect_layout

__all__ = ["PlainProcessor"]

_JET_ID_BIT = {"loose": 7, "tight": 2, "tightlepveto": 4}


class PlainProcessor(processor.ProcessorABC):
    """Three-lepton selection with τh and five histograms, tutorial style."""

    def __init__(self, cfg: AnalysisConfig | None = None) -> None:
        self.cfg = cfg or load_config()

    def process(self, events: Any) -> dict[str, Any]:
        c = self.cfg.objects
        layout = detect_layout(events, c.tau.deeptau_version)
        dataset = events.metadata["dataset"]
        ax_ch = hist.axis.StrCategory([], name="channel", growth=True)
        ranges = {"m_3l": 1000, "met": 500, "l1_pt": 500, "sum_pt": 1000, "mt_total": 1500}
        hists = {
            name: hist.Hist(ax_ch, hist.axis.Regular(50, 0, hi, name=name), storage="weight")
            for name, hi in ranges.items()
        }

        mu, cm = events.Muon, c.muon
        mu_ok = (mu.pt > cm.pt_min) & (abs(mu.eta) < cm.abs_eta_max) & mu[cm.id]
        mu_ok = mu_ok & (mu.pfRelIso04_all < cm.rel_iso_max)
        mu_ok = mu_ok & (abs(mu.dxy) < cm.dxy_max) & (abs(mu.dz) < cm.dz_max)
        mu = mu[mu_ok]

        el, ce = events.Electron, c.electron
        el_ok = (el.pt > ce.pt_min) & (abs(el.eta) < ce.abs_eta_max)
        el_ok = el_ok & el[layout.electron_id_field(ce.id)] & (el.pfRelIso03_all < ce.rel_iso_max)
        el_ok = el_ok & (abs(el.dxy) < ce.dxy_max) & (abs(el.dz) < ce.dz_max)
        el_ok = el_ok & (el.lostHits <= ce.max_lost_hits) & el.convVeto
        el = el[el_ok]

        ta, ct = events.Tau, c.tau
        ta_ok = (ta.pt > ct.pt_min) & (abs(ta.eta) < ct.abs_eta_max) & (abs(ta.dz) < ct.dz_max)
        ta_ok = ta_ok & _any_of(ta.decayMode, ct.decay_modes)
        for disc, wp in (("VSjet", ct.vs_jet), ("VSe", ct.vs_e), ("VSmu", ct.vs_mu)):
            ta_ok = ta_ok & deeptau_pass(ta, disc, wp, layout)
        ta = ta[ta_ok]
        ta = ta[_isolated(ta, (mu, el), c.overlap_dr)]
        jets, cj = events.Jet, c.jet
        jets = jets[
            (jets.pt > cj.pt_min)
            & (abs(jets.eta) < cj.abs_eta_max)
            & ((jets.jetId & _JET_ID_BIT[cj.jet_id]) != 0)
        ]
        jets = jets[_isolated(jets, (mu, el, ta), c.overlap_dr)]
        n_b = ak.sum(jets.btagDeepFlavB > self.cfg.era_config.btag_wp[c.jet.btag_wp], axis=1)

        n_tau, n_mu, n_e = ak.num(ta), ak.num(mu), ak.num(el)
        leptons = ak.concatenate([_candidates(x) for x in (ta, mu, el)], axis=1)
        fired = np.zeros(len(events), dtype=bool)
        for paths in self.cfg.era_config.triggers.values():
            for path in paths:
                if path in events.HLT.fields:
                    fired |= np.asarray(events.HLT[path])
        three = (n_tau + n_mu + n_e == 3) & (n_tau >= 1) & (n_b == 0) & fired
        lep = leptons[three]
        met = events[layout.met][three]
        charge = ak.sum(lep.charge, axis=1)
        pairs = ak.combinations(lep, 2)
        dr_ok = ak.all(pairs["0"].delta_r(pairs["1"]) > c.lepton_separation_dr, axis=1)
        channel = np.full(len(lep), "", dtype=object)
        counts = (np.asarray(n_tau[three]), np.asarray(n_mu[three]), np.asarray(n_e[three]))
        for ch in self.cfg.channels:
            match = (counts[0] == ch.n_tau) & (counts[1] == ch.n_mu) & (counts[2] == ch.n_e)
            channel[match] = ch.name
        keep = np.asarray((abs(charge) == 1) & dr_ok) & (channel != "")
        lep, met, channel = lep[keep], met[keep], channel[keep]
        weight = np.asarray(events.genWeight[three][keep]) if "genWeight" in events.fields else 1.0

        p3 = lep[:, 0] + lep[:, 1] + lep[:, 2]
        mt2 = ak.sum(2 * lep.pt * met.pt * (1 - np.cos(lep.phi - met.phi)), axis=1)
        pairs = ak.combinations(lep, 2)
        mt2 = mt2 + ak.sum(
            2 * pairs["0"].pt * pairs["1"].pt * (1 - np.cos(pairs["0"].phi - pairs["1"].phi)),
            axis=1,
        )
        values = {
            "m_3l": p3.mass,
            "met": met.pt,
            "l1_pt": ak.max(lep.pt, axis=1),
            "sum_pt": ak.sum(lep.pt, axis=1),
            "mt_total": np.sqrt(mt2),
        }
        for name, value in values.items():
            hists[name].fill(channel=channel, **{name: ak.to_numpy(value)}, weight=weight)
        return {"hists": {dataset: hists}, "selected": {dataset: int(keep.sum())}}

    def postprocess(self, accumulator):
        return accumulator


def _any_of(values: Any, allowed: Any) -> Any:
    """Jagged mask: ``values`` equal to any of ``allowed``."""
    mask = values != values
    for a in allowed:
        mask = mask | (values == a)
    return mask


def _isolated(objects: Any, others: tuple[Any, ...], dr: float) -> Any:
    """Mask of ``objects`` farther than ``dr`` from every object of ``others``."""
    ok = ak.ones_like(objects.pt, dtype=bool)
    for other in others:
        ok = ok & ak.all(objects.metric_table(other) > dr, axis=2)
    return ok


def _candidates(coll: Any) -> Any:
    """Four-momentum and charge of a lepton collection, as uniform candidates."""
    fields = {k: coll[k] for k in ("pt", "eta", "phi", "mass", "charge")}
    return ak.zip(fields, with_name="PtEtaPhiMCandidate", behavior=candidate.behavior)
