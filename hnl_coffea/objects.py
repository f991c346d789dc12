"""Physics objects: loading the raw collections and selecting analysis-quality ones.

Two steps, so that systematic variations can shift objects in between::

    raw = load_objects(events, cfg, layout)          # no cuts; standardized fields
    raw = raw.replace(taus=shifted_taus)             # e.g. tau energy scale
    sel = select_objects(raw, cfg, layout)           # IDs, isolation, overlap removal

Standardized fields added by :func:`load_objects`:

- ``electrons.mvaId``: the configured electron ID (``objects.electron.id``) whatever its
  branch name in this NanoAOD version.
- ``met``: a record with ``pt``, ``phi`` and, when the file has them, ``unclust_dx`` /
  ``unclust_dy`` (the unclustered-energy up shifts ``MetUnclustEnUpDeltaX/Y``).

:func:`select_objects` adds ``jets.btag`` (DeepJet score above the era's working point).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import awkward as ak
from coffea.nanoevents.methods import vector as coffea_vector

from .config import AnalysisConfig
from .nanoaod import NanoLayout, deeptau_pass, require_fields

__all__ = ["Objects", "array_module", "load_objects", "select_objects"]

_MUON_FIELDS = ("pt", "eta", "phi", "mass", "charge", "pfRelIso04_all", "dxy", "dz")
_ELECTRON_FIELDS = (
    "pt", "eta", "phi", "mass", "charge", "pfRelIso03_all", "dxy", "dz", "convVeto", "lostHits",
)  # fmt: skip
_TAU_FIELDS = ("pt", "eta", "phi", "mass", "charge", "dz", "decayMode")
_JET_FIELDS = ("pt", "eta", "phi", "mass", "jetId", "btagDeepFlavB")
#: Jet ID bit per configured level (loose: any bit; NanoAOD v9 sets 2 = tight, 4 = tightLepVeto).
_JET_ID_BIT = {"loose": 7, "tight": 2, "tightlepveto": 4}


def array_module(array: Any) -> Any:
    """``dask_awkward`` for dask-awkward arrays, ``awkward`` otherwise."""
    if type(array).__module__.startswith("dask_awkward"):
        import dask_awkward

        return dask_awkward
    return ak


@dataclass(frozen=True)
class Objects:
    """The analysis objects of one chunk (jagged per event, except ``met``)."""

    muons: Any
    electrons: Any
    taus: Any
    jets: Any
    met: Any

    def replace(self, **changes: Any) -> Objects:
        """A copy with some collections replaced (e.g. energy-scale shifted taus)."""
        return dataclasses.replace(self, **changes)


def _collection(events: Any, name: str, fields: tuple[str, ...], layout: NanoLayout) -> Any:
    if name not in events.fields:
        from .nanoaod import MissingBranchError

        raise MissingBranchError(f"n{name}", layout.description)
    coll = events[name]
    require_fields(coll, name, fields, layout)
    return coll


def load_objects(events: Any, cfg: AnalysisConfig, layout: NanoLayout) -> Objects:
    """The raw muon, electron, tau, jet and MET collections with standardized fields; no cuts."""
    lib = array_module(events)
    muons = _collection(events, "Muon", (*_MUON_FIELDS, cfg.objects.muon.id), layout)
    electrons = _collection(events, "Electron", _ELECTRON_FIELDS, layout)
    id_field = layout.electron_id_field(cfg.objects.electron.id)
    electrons = lib.with_field(electrons, electrons[id_field], "mvaId")
    taus = _collection(events, "Tau", _TAU_FIELDS, layout)
    jets = _collection(events, "Jet", _JET_FIELDS, layout)

    raw_met = _collection(events, layout.met, ("pt", "phi"), layout)
    met_fields = {"pt": raw_met.pt, "phi": raw_met.phi}
    if {"MetUnclustEnUpDeltaX", "MetUnclustEnUpDeltaY"} <= set(raw_met.fields):
        met_fields["unclust_dx"] = raw_met.MetUnclustEnUpDeltaX
        met_fields["unclust_dy"] = raw_met.MetUnclustEnUpDeltaY
    met = lib.zip(met_fields, with_name="PolarTwoVector", behavior=coffea_vector.behavior)
    return Objects(muons=muons, electrons=electrons, taus=taus, jets=jets, met=met)


def _p4(coll: Any, lib: Any) -> Any:
    """Only the four-momentum of ``coll``, as coffea PtEtaPhiM vectors."""
    return lib.zip(
        {"pt": coll.pt, "eta": coll.eta, "phi": coll.phi, "mass": coll.mass},
        with_name="PtEtaPhiMLorentzVector",
        behavior=coffea_vector.behavior,
    )


def clean(objects: Any, against: Any, dr_min: float) -> Any:
    """Mask of ``objects`` with ΔR > ``dr_min`` to every object of ``against`` (same events)."""
    lib = array_module(objects)
    pairs = lib.cartesian({"o": _p4(objects, lib), "a": against}, axis=1, nested=True)
    return lib.all(pairs.o.delta_r(pairs.a) > dr_min, axis=-1)


def select_objects(objs: Objects, cfg: AnalysisConfig, layout: NanoLayout) -> Objects:
    """Apply kinematic, ID, isolation and impact-parameter cuts, DeepTau working points and
    overlap removal (taus vs selected e/μ, jets vs all selected leptons); flag b jets."""
    c = cfg.objects
    lib = array_module(objs.muons)

    mu, cm = objs.muons, c.muon
    mu_ok = (
        (mu.pt > cm.pt_min)
        & (abs(mu.eta) < cm.abs_eta_max)
        & mu[cm.id]
        & (mu.pfRelIso04_all < cm.rel_iso_max)
        & (abs(mu.dxy) < cm.dxy_max)
        & (abs(mu.dz) < cm.dz_max)
    )
    muons = mu[mu_ok]

    el, ce = objs.electrons, c.electron
    el_ok = (
        (el.pt > ce.pt_min)
        & (abs(el.eta) < ce.abs_eta_max)
        & el.mvaId
        & (el.pfRelIso03_all < ce.rel_iso_max)
        & (abs(el.dxy) < ce.dxy_max)
        & (abs(el.dz) < ce.dz_max)
        & (el.lostHits <= ce.max_lost_hits)
    )
    if ce.conversion_veto:
        el_ok = el_ok & el.convVeto
    electrons = el[el_ok]

    ta, ct = objs.taus, c.tau
    dm_ok = ta.decayMode < -999  # all False, same structure
    for dm in ct.decay_modes:
        dm_ok = dm_ok | (ta.decayMode == dm)
    ta_ok = (
        (ta.pt > ct.pt_min)
        & (abs(ta.eta) < ct.abs_eta_max)
        & (abs(ta.dz) < ct.dz_max)
        & dm_ok
        & deeptau_pass(ta, "VSjet", ct.vs_jet, layout)
        & deeptau_pass(ta, "VSe", ct.vs_e, layout)
        & deeptau_pass(ta, "VSmu", ct.vs_mu, layout)
    )
    light = lib.concatenate([_p4(muons, lib), _p4(electrons, lib)], axis=1)
    ta_ok = ta_ok & clean(ta, light, c.overlap_dr)
    taus = ta[ta_ok]

    je, cj = objs.jets, c.jet
    je_ok = (
        (je.pt > cj.pt_min)
        & (abs(je.eta) < cj.abs_eta_max)
        & ((je.jetId & _JET_ID_BIT[cj.jet_id]) != 0)
    )
    leptons = lib.concatenate([light, _p4(taus, lib)], axis=1)
    je_ok = je_ok & clean(je, leptons, c.overlap_dr)
    jets = je[je_ok]
    wp = cfg.era_config.btag_wp[cj.btag_wp]
    jets = lib.with_field(jets, jets.btagDeepFlavB > wp, "btag")

    return Objects(muons=muons, electrons=electrons, taus=taus, jets=jets, met=objs.met)


def preselection(objs: Objects, cfg: AnalysisConfig, margin: float = 0.8) -> Any:
    """Events with at least three e/μ/τh candidates above ``margin`` × their pT threshold and
    inside the η acceptance (no ID, isolation or overlap requirement).

    A superset of the events passing the ``three_leptons`` step for every energy-scale
    variation smaller than ``1 − margin``, so running the full selection only on these events
    changes no result; it only skips events that cannot have three leptons.
    """
    c = cfg.objects
    lib = array_module(objs.muons)
    n = 0
    for coll, cuts in ((objs.muons, c.muon), (objs.electrons, c.electron), (objs.taus, c.tau)):
        n = n + lib.sum(
            (coll.pt > margin * cuts.pt_min) & (abs(coll.eta) < cuts.abs_eta_max), axis=1
        )
    return n >= 3
