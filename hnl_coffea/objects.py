"""Physics objects: loading the raw collections and selecting analysis-quality ones.

Two steps, so that systematic variations can shift objects in between::

    raw = load_objects(events, cfg, layout)          # no cuts; standardized fields
    raw = raw.replace(taus=shifted_taus)             # e.g. tau energy scale
    sel = select_objects(raw, cfg, layout)           # IDs, isolation, overlap removal

Standardized fields added by :func:`load_objects`:

- ``electrons.mvaId``: the configured electron ID (``objects.electron.id``) whatever its
  branch name in this NanoAOD version.
- ``jets.jetId``: the stored ``Jet_jetId`` bits (2: tight, 4: tightLepVeto) or, where
  NanoAOD has none (v15), the same bits computed from the energy fractions by the era's
  JME recipe (:func:`hnl_coffea.jets.jetid.jet_id_flags`).
- ``met``: the era's MET as stored (PF or PUPPI, ``eras.<era>.jets.met``), a record with
  ``pt``, ``phi`` and, when the file has the unclustered-energy variation,
  ``unclust_{up,down}_{dx,dy}``: the change of the MET components under it
  (``±MetUnclustEnUpDeltaX/Y`` up to NanoAOD v14; from the ``pt/phiUnclusteredUp/Down``
  values in v15 and in the PUPPI MET).

Jet energy corrections and the type-1 MET recomputed from them are applied afterwards
(:func:`hnl_coffea.jets.correct_objects`).

:func:`select_objects` adds ``jets.btag`` (DeepJet score above the era's working point).

The cuts and the ΔR overlap removal are evaluated on flat numpy arrays (one entry per
object, events concatenated; :func:`object_masks`, helpers in :mod:`hnl_coffea.flat`), with
the same arithmetic as the coffea/vector behaviours. Chunks are eager (virtual) NanoEvents;
dask-awkward arrays go through :func:`hnl_coffea.daskmode.run_partitions`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import awkward as ak
import numpy as np
from coffea.nanoevents.methods import vector as coffea_vector

from .config import AnalysisConfig
from .flat import column, delta_r, event_index, pair_indices, require_eager
from .jets.correct import met_collections
from .nanoaod import NanoLayout, deeptau_pass, require_fields

__all__ = [
    "Objects",
    "computed_jet_id",
    "flatten_objects",
    "load_met",
    "load_objects",
    "object_masks",
    "preselection",
    "select_objects",
]

_MUON_FIELDS = ("pt", "eta", "phi", "mass", "charge", "pfRelIso04_all", "dxy", "dz")
_ELECTRON_FIELDS = (
    "pt", "eta", "phi", "mass", "charge", "pfRelIso03_all", "dxy", "dz", "convVeto", "lostHits",
)  # fmt: skip
_TAU_FIELDS = ("pt", "eta", "phi", "mass", "charge", "dz", "decayMode")
_JET_FIELDS = ("pt", "eta", "phi", "mass")
#: Jet ID bit per configured level (loose: any bit; NanoAOD v9 sets 2 = tight, 4 = tightLepVeto).
_JET_ID_BIT = {"loose": 7, "tight": 2, "tightlepveto": 4}


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

    def take(self, mask: np.ndarray) -> Objects:
        """The objects of the events where ``mask`` is true (or of the event indices
        ``mask``)."""
        return Objects(**{f.name: getattr(self, f.name)[mask] for f in dataclasses.fields(self)})

    @staticmethod
    def concatenate(parts: list[Objects]) -> Objects:
        """The events of ``parts`` one after another (collections of the same form, e.g.
        the shifted records of one kind of variation)."""
        if len(parts) == 1:
            return parts[0]
        names = [f.name for f in dataclasses.fields(Objects)]
        return Objects(**{n: ak.concatenate([getattr(p, n) for p in parts]) for n in names})


_UNCLUSTERED_V15 = (
    "ptUnclusteredUp",
    "phiUnclusteredUp",
    "ptUnclusteredDown",
    "phiUnclusteredDown",
)


def _unclustered_deltas(met: Any) -> dict[str, Any]:
    """The MET component changes under the unclustered-energy variation, up and down: from
    the varied MET (``pt/phiUnclusteredUp/Down``: NanoAOD v15, and the PUPPI MET of every
    version) or ``±MetUnclustEnUpDeltaX/Y`` (PF MET up to v14); none when the file has
    neither (the same rule as :attr:`hnl_coffea.nanoaod.NanoLayout.unclustered`)."""
    fields = set(met.fields)
    if set(_UNCLUSTERED_V15) <= fields:
        x0, y0 = met.pt * np.cos(met.phi), met.pt * np.sin(met.phi)
        out = {}
        for d, name in (("up", "Up"), ("down", "Down")):
            pt, phi = met[f"ptUnclustered{name}"], met[f"phiUnclustered{name}"]
            out[f"unclust_{d}_dx"] = pt * np.cos(phi) - x0
            out[f"unclust_{d}_dy"] = pt * np.sin(phi) - y0
        return out
    if {"MetUnclustEnUpDeltaX", "MetUnclustEnUpDeltaY"} <= fields:
        dx, dy = met.MetUnclustEnUpDeltaX, met.MetUnclustEnUpDeltaY
        return {
            "unclust_up_dx": dx,
            "unclust_up_dy": dy,
            "unclust_down_dx": -dx,
            "unclust_down_dy": -dy,
        }
    return {}


def _collection(events: Any, name: str, fields: tuple[str, ...], layout: NanoLayout) -> Any:
    if name not in events.fields:
        from .nanoaod import MissingBranchError

        raise MissingBranchError(f"n{name}", layout.description)
    coll = events[name]
    require_fields(coll, name, fields, layout)
    return coll


def load_objects(events: Any, cfg: AnalysisConfig, layout: NanoLayout) -> Objects:
    """The raw muon, electron, tau, jet and MET collections with standardized fields; no cuts."""
    require_eager(events, "hnl-coffea's object selection")
    muons = _collection(events, "Muon", (*_MUON_FIELDS, cfg.objects.muon.id), layout)
    electrons = _collection(events, "Electron", _ELECTRON_FIELDS, layout)
    id_field = layout.electron_id_field(cfg.objects.electron.id)
    electrons = ak.with_field(electrons, electrons[id_field], "mvaId")
    taus = _collection(events, "Tau", _TAU_FIELDS, layout)
    jets = _collection(events, "Jet", (*_JET_FIELDS, cfg.era_config.btag.branch), layout)
    if "jetId" not in jets.fields:
        jets = ak.with_field(jets, computed_jet_id(jets, cfg, layout), "jetId")

    met = load_met(events, cfg, layout)
    return Objects(muons=muons, electrons=electrons, taus=taus, jets=jets, met=met)


def load_met(events: Any, cfg: AnalysisConfig, layout: NanoLayout) -> Any:
    """The era's MET (PF or PUPPI) with ``pt``, ``phi`` and the unclustered-energy changes
    (``unclust_{up,down}_{dx,dy}``) when the file has them."""
    stored = _collection(events, met_collections(events, cfg, layout.met)[0], ("pt", "phi"), layout)
    met_fields = {"pt": stored.pt, "phi": stored.phi}
    met_fields.update(_unclustered_deltas(stored))
    return ak.zip(met_fields, with_name="PolarTwoVector", behavior=coffea_vector.behavior)


def computed_jet_id(jets: Any, cfg: AnalysisConfig, layout: NanoLayout) -> Any:
    """``Jet_jetId``-style bits from the energy fractions and multiplicities, by the era's
    JME recipe (``eras.<era>.jets.jet_id``), for files without ``Jet_jetId`` (NanoAOD v15)."""
    from .jets.jetid import JET_ID_FIELDS, jet_id_flags
    from .nanoaod import MissingBranchError

    recipe = cfg.era_config.jets.jet_id
    if not recipe:
        raise MissingBranchError(
            "Jet_jetId",
            f"{layout.description} (era {cfg.era!r} has no jet-ID recipe in "
            f"eras.{cfg.era}.jets.jet_id to compute it from the energy fractions)",
        )
    require_fields(jets, "Jet", JET_ID_FIELDS, layout)
    counts = np.asarray(ak.num(jets, axis=1), dtype=np.int64)
    flat = ak.flatten(jets, axis=1)
    values = {f: column(flat, f) for f in JET_ID_FIELDS}
    return ak.unflatten(jet_id_flags(column(flat, "eta"), values, recipe), counts)


class _Columns:
    """Field access on a flat record array that returns numpy arrays (see :func:`column`)."""

    def __init__(self, records: Any) -> None:
        self.records = records
        self.fields = records.fields

    def __getitem__(self, field: str) -> np.ndarray:
        return column(self.records, field)


@dataclass(frozen=True)
class _FlatColl:
    """A collection as flat numpy columns plus per-event counts (eager chunks only)."""

    counts: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    mask: np.ndarray

    def selected(self) -> _FlatColl:
        """Only the objects passing ``mask``."""
        keep = self.mask
        counts = np.bincount(event_index(self.counts)[keep], minlength=len(self.counts))
        return _FlatColl(counts, self.eta[keep], self.phi[keep], np.ones(int(keep.sum()), bool))


def _clean_flat(objs: _FlatColl, against: _FlatColl, dr_min: float) -> np.ndarray:
    """Flat mask of ``objs`` with ΔR > ``dr_min`` to every object of ``against``."""
    io, ia = pair_indices(objs.counts, against.counts)
    dr = delta_r(objs.eta[io], objs.phi[io], against.eta[ia], against.phi[ia])
    failed = io[~(dr > dr_min)]
    return np.bincount(failed, minlength=len(objs.eta)) == 0


def _cut_masks(objs: Objects, cfg: AnalysisConfig, layout: NanoLayout) -> dict:
    """ID/kinematic masks of muons, electrons, taus and jets (before overlap removal), on
    flat :class:`_Columns`."""
    c = cfg.objects
    mu, cm = objs.muons, c.muon
    mu_ok = (
        (mu["pt"] > cm.pt_min)
        & (abs(mu["eta"]) < cm.abs_eta_max)
        & mu[cm.id]
        & (mu["pfRelIso04_all"] < cm.rel_iso_max)
        & (abs(mu["dxy"]) < cm.dxy_max)
        & (abs(mu["dz"]) < cm.dz_max)
    )
    el, ce = objs.electrons, c.electron
    el_ok = (
        (el["pt"] > ce.pt_min)
        & (abs(el["eta"]) < ce.abs_eta_max)
        & el["mvaId"]
        & (el["pfRelIso03_all"] < ce.rel_iso_max)
        & (abs(el["dxy"]) < ce.dxy_max)
        & (abs(el["dz"]) < ce.dz_max)
        & (el["lostHits"] <= ce.max_lost_hits)
    )
    if ce.conversion_veto:
        el_ok = el_ok & el["convVeto"]
    ta, ct = objs.taus, c.tau
    decay_mode = ta["decayMode"]
    dm_ok = decay_mode < -999  # all False, same structure
    for dm in ct.decay_modes:
        dm_ok = dm_ok | (decay_mode == dm)
    ta_ok = (
        (ta["pt"] > ct.pt_min)
        & (abs(ta["eta"]) < ct.abs_eta_max)
        & (abs(ta["dz"]) < ct.dz_max)
        & dm_ok
        & deeptau_pass(ta, "VSjet", ct.vs_jet, layout)
        & deeptau_pass(ta, "VSe", ct.vs_e, layout)
        & deeptau_pass(ta, "VSmu", ct.vs_mu, layout)
    )
    je, cj = objs.jets, c.jet
    je_ok = (
        (je["pt"] > cj.pt_min)
        & (abs(je["eta"]) < cj.abs_eta_max)
        & ((je["jetId"] & _JET_ID_BIT[cj.jet_id]) != 0)
    )
    return {"muons": mu_ok, "electrons": el_ok, "taus": ta_ok, "jets": je_ok}


def flatten_objects(objs: Objects) -> dict[str, tuple[np.ndarray, Any]]:
    """Per-event counts and the flattened (still lazy) records of muons, electrons, taus and
    jets: ``{name: (counts, flat)}``."""
    out = {}
    for name in ("muons", "electrons", "taus", "jets"):
        coll = getattr(objs, name)
        out[name] = (np.asarray(ak.num(coll, axis=1), dtype=np.int64), ak.flatten(coll, axis=1))
    return out


def object_masks(
    objs: Objects,
    cfg: AnalysisConfig,
    layout: NanoLayout,
    flat_objs: dict[str, tuple[np.ndarray, Any]] | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Flat numpy masks (one entry per object, events concatenated) and per-event counts of
    the selected objects: ``{name: (counts, mask)}``.

    Kinematic, ID, isolation and impact-parameter cuts, DeepTau working points and overlap
    removal (taus vs selected e/μ, jets vs all selected leptons); ``flat_objs`` is
    :func:`flatten_objects` of ``objs`` when already computed.
    """
    flat_objs = flat_objs or flatten_objects(objs)
    columns = {name: _Columns(rec) for name, (_, rec) in flat_objs.items()}
    masks = _cut_masks(Objects(**columns, met=objs.met), cfg, layout)
    colls = {}
    for name, (counts, _) in flat_objs.items():
        eta, phi = columns[name]["eta"], columns[name]["phi"]
        colls[name] = _FlatColl(counts, eta, phi, masks[name])
    dr = cfg.objects.overlap_dr
    mu, el = colls["muons"].selected(), colls["electrons"].selected()
    tau_ok = masks["taus"] & _clean_flat(colls["taus"], mu, dr) & _clean_flat(colls["taus"], el, dr)
    colls["taus"] = dataclasses.replace(colls["taus"], mask=tau_ok)
    ta = colls["taus"].selected()
    je = colls["jets"]
    jet_ok = masks["jets"]
    for against in (mu, el, ta):
        jet_ok = jet_ok & _clean_flat(je, against, dr)
    colls["jets"] = dataclasses.replace(je, mask=jet_ok)
    return {name: (coll.counts, coll.mask) for name, coll in colls.items()}


def select_objects(objs: Objects, cfg: AnalysisConfig, layout: NanoLayout) -> Objects:
    """The selected objects as jagged collections (:func:`object_masks` applied); jets get a
    ``btag`` flag (the era's b-tag discriminant above its working point)."""
    masks = object_masks(objs, cfg, layout)
    out = {
        name: getattr(objs, name)[ak.unflatten(mask, counts)]
        for name, (counts, mask) in masks.items()
    }
    era = cfg.era_config
    wp = era.btag_wp[cfg.objects.jet.btag_wp]
    jets = ak.with_field(out["jets"], out["jets"][era.btag.branch] > wp, "btag")
    return Objects(
        muons=out["muons"], electrons=out["electrons"], taus=out["taus"], jets=jets, met=objs.met
    )


def preselection(objs: Objects, cfg: AnalysisConfig, margin: float = 0.8) -> np.ndarray:
    """Events with at least three e/μ/τh candidates above ``margin`` × their pT threshold and
    inside the η acceptance (no ID, isolation or overlap requirement).

    A superset of the events passing the ``three_leptons`` step for every energy-scale
    variation smaller than ``1 − margin``, so running the full selection only on these events
    changes no result; it only skips events that cannot have three leptons.
    """
    c = cfg.objects
    colls = ((objs.muons, c.muon), (objs.electrons, c.electron), (objs.taus, c.tau))
    n_events = len(objs.muons)
    n = np.zeros(n_events, dtype=np.int64)
    for coll, cuts in colls:
        counts = np.asarray(ak.num(coll, axis=1))
        flat_coll = ak.flatten(coll, axis=1)
        ok = (np.asarray(flat_coll["pt"]) > margin * cuts.pt_min) & (
            abs(np.asarray(flat_coll["eta"])) < cuts.abs_eta_max
        )
        n += np.bincount(event_index(counts)[ok], minlength=n_events)
    return n >= 3
