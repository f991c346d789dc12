"""The trigger step: a path of the event's channel fired, and its offline legs match it.

For every HLT path of the era (``eras.<era>.triggers``, legs in ``eras.<era>.trigger_paths``)
an event *satisfies* the path when

1. the path is used for the event: in simulation when ``simulation`` is true, in collision
   data when the run lies in ``data_runs`` (2018: the non-HPS di-τ paths before run 317509,
   the HPS path from it on);
2. its ``HLT_<path>`` bit fired;
3. each leg is taken by a *different* one of the event's three analysis leptons, of the
   leg's flavour, with pT > ``pt_min`` and |η| < ``abs_eta_max``, and within ΔR <
   ``dr_max`` of a ``TrigObj`` with the leg's ``TrigObj_id`` (11, 13, 15) and all its
   ``filter_bits`` set (``trigger_matching: false`` drops the ``TrigObj`` requirement).

The event passes the step when a path of one of its channel's trigger groups is satisfied.
It is *assigned* to the first satisfied group in the order of ``channels[].triggers`` (and,
within the group, to its first satisfied path in the era's order); the leptons that take
that path's legs (for each leg, the highest-pT lepton that can) are the legs the trigger
scale factor of that group applies to (:mod:`hnl_coffea.corrections.weights`).

Everything runs on flat numpy arrays of an eager chunk, on the events that can pass only.
"""

from __future__ import annotations

import dataclasses
import itertools
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import awkward as ak
import numpy as np

from .config import AnalysisConfig, TriggerLeg, TriggerPath
from .flat import column, delta_r, pair_indices
from .nanoaod import MissingBranchError, NanoLayout

__all__ = [
    "DenseLeptons",
    "TriggerDecision",
    "TriggerObjects",
    "paths_fired",
    "path_applies",
    "trigger_decision",
    "trigger_group_indices",
    "trigger_objects",
]

_TRIGOBJ_FIELDS = ("id", "eta", "phi", "filterBits")
_LEPTON_IDS = (11, 13, 15)


@dataclass(frozen=True)
class DenseLeptons:
    """The (up to) three analysis leptons of each event as dense ``(n, 3)`` arrays."""

    flavour: np.ndarray
    """Absolute PDG ID (15, 13, 11); 0 in empty slots."""
    pt: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    valid: np.ndarray


@dataclass(frozen=True)
class TriggerObjects:
    """Trigger objects (``TrigObj``) of a chunk, flat with per-event counts."""

    counts: np.ndarray
    id: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    bits: np.ndarray
    """``TrigObj_filterBits`` as unsigned 64-bit integers."""

    def rows(self, rows: np.ndarray) -> TriggerObjects:
        """The trigger objects of the events ``rows`` (with e, μ, τ ids only)."""
        starts = np.cumsum(self.counts) - self.counts
        counts = self.counts[rows]
        local = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        index = np.repeat(starts[rows], counts) + local
        keep = np.isin(self.id[index], _LEPTON_IDS)
        event = np.repeat(np.arange(len(rows)), counts)[keep]
        index = index[keep]
        return TriggerObjects(
            np.bincount(event, minlength=len(rows)),
            self.id[index],
            self.eta[index],
            self.phi[index],
            self.bits[index],
        )


def trigger_objects(events: Any) -> TriggerObjects:
    """The ``TrigObj`` collection of ``events`` as flat numpy columns; a one-line
    :class:`~hnl_coffea.nanoaod.MissingBranchError` when it is absent."""
    hint = (
        "any NanoAOD version (set trigger_matching=false to apply the trigger thresholds "
        "without matching)"
    )
    if "TrigObj" not in events.fields:
        raise MissingBranchError("TrigObj_id", hint)
    coll = events.TrigObj
    for f in _TRIGOBJ_FIELDS:
        if f not in coll.fields:
            raise MissingBranchError(f"TrigObj_{f}", hint)
    counts = np.asarray(ak.num(coll, axis=1), dtype=np.int64)
    flat = ak.flatten(coll, axis=1)
    bits = column(flat, "filterBits")
    if bits.dtype.itemsize == 4:  # Int_t up to NanoAOD v14: no sign extension
        bits = bits.view(np.uint32)
    return TriggerObjects(
        counts,
        column(flat, "id").astype(np.int64),
        column(flat, "eta"),
        column(flat, "phi"),
        bits.astype(np.uint64),
    )


def path_applies(path: TriggerPath, runs: np.ndarray | None, is_mc: bool) -> Any:
    """Whether events use ``path``: a bool for simulation, a per-event mask for data."""
    if is_mc:
        return path.simulation
    if path.data_runs is None:
        return True
    first, last = path.data_runs
    ok = np.ones(len(runs), dtype=bool)
    if first is not None:
        ok &= runs >= first
    if last is not None:
        ok &= runs <= last
    return ok


def paths_fired(events: Any, cfg: AnalysisConfig, layout: NanoLayout) -> dict[str, np.ndarray]:
    """Per HLT path of the era: fired, and used for these events (simulation, or the data run).

    Paths used here but absent from the file count as not fired, with one warning per chunk
    listing them.
    """
    era = cfg.era_config
    n = len(events)
    runs = None if layout.is_mc else np.asarray(events.run, dtype=np.int64)
    out, missing = {}, []
    for name, path in era.trigger_paths.items():
        applies = path_applies(path, runs, layout.is_mc)
        used = bool(np.any(applies))
        if name not in layout.hlt_paths:
            if used:
                missing.append(f"HLT_{name}")
            out[name] = np.zeros(n, dtype=bool)
        else:
            out[name] = np.asarray(events.HLT[name], dtype=bool) & applies
    if missing:
        source = (getattr(events, "metadata", None) or {}).get("filename", "input file")
        warnings.warn(
            f"{source}: trigger branch(es) {', '.join(missing)} absent; treated as not fired",
            stacklevel=3,
        )
    return out


@dataclass(frozen=True)
class TriggerDecision:
    """The trigger step of one chunk."""

    passed: np.ndarray
    """Per event: a path of its channel is satisfied."""
    group: np.ndarray
    """int8 index into the era's trigger groups of the group the event is assigned to (−1)."""
    legs: np.ndarray
    """``(n, 3)``: the leptons that take the legs of the assigned path."""
    fired: dict[str, np.ndarray]
    """Per trigger group: one of its paths fired (and is used for the event), unmatched."""


def _matched(
    leptons: DenseLeptons, objs: TriggerObjects, legs: list[TriggerLeg]
) -> dict[tuple, np.ndarray]:
    """Per distinct (id, bits, ΔR) of ``legs``: ``(m, 3)`` lepton slots with such a TrigObj."""
    m = len(leptons.valid)
    n_lep = leptons.valid.sum(axis=1)
    flat = np.flatnonzero(leptons.valid.ravel())  # slot positions, event-major
    il, it = pair_indices(n_lep, objs.counts)
    eta, phi = leptons.eta.ravel()[flat], leptons.phi.ravel()[flat]
    dr = delta_r(eta[il], phi[il], objs.eta[it], objs.phi[it])
    out = {}
    for leg in legs:
        key = (leg.pdg_id, leg.bit_mask, leg.dr_max)
        if key in out:
            continue
        mask = np.uint64(leg.bit_mask)
        ok = (objs.id[it] == leg.pdg_id) & ((objs.bits[it] & mask) == mask) & (dr < leg.dr_max)
        hit = np.zeros(m * 3, dtype=bool)
        hit[flat[np.unique(il[ok])]] = True
        out[key] = hit.reshape(m, 3)
    return out


def _satisfy(path: TriggerPath, leg_ok: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Events where the legs take distinct leptons, and those leptons (highest pT first)."""
    m = len(leg_ok[0])
    done = np.zeros(m, dtype=bool)
    slots = np.zeros((m, 3), dtype=bool)
    for perm in itertools.permutations(range(3), len(path.legs)):
        ok = ~done
        for leg, slot in enumerate(perm):
            ok = ok & leg_ok[leg][:, slot]
        for slot in perm:
            slots[ok, slot] = True
        done |= ok
    return done, slots


def trigger_decision(
    events: Any,
    cfg: AnalysisConfig,
    layout: NanoLayout,
    leptons: DenseLeptons,
    channel: np.ndarray,
) -> TriggerDecision:
    """The trigger step of ``events`` given their three analysis leptons and channel index."""
    era = cfg.era_config
    group_names = list(era.triggers)
    n = len(channel)
    fired = paths_fired(events, cfg, layout)
    none = np.zeros(n, dtype=bool)
    group_fired = {}
    for g, paths in era.triggers.items():
        group_fired[g] = none.copy()
        for p in paths:
            group_fired[g] |= fired[p]
    candidate = none.copy()
    for index, ch in enumerate(cfg.channels):
        for g in ch.triggers:
            candidate |= (channel == index) & group_fired[g]
    rows = np.flatnonzero(candidate)
    passed, group, legs = none.copy(), np.full(n, -1, np.int8), np.zeros((n, 3), dtype=bool)
    if len(rows) == 0:
        return TriggerDecision(passed, group, legs, group_fired)

    sub = DenseLeptons(*(getattr(leptons, f.name)[rows] for f in dataclasses.fields(leptons)))
    used = [name for name in era.trigger_paths if fired[name][rows].any()]
    all_legs = [leg for name in used for leg in era.trigger_paths[name].legs]
    if cfg.trigger_matching:
        matched = _matched(sub, trigger_objects(events).rows(rows), all_legs)
    satisfied: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name in used:
        path = era.trigger_paths[name]
        leg_ok = []
        for leg in path.legs:
            ok = sub.valid & (sub.flavour == leg.pdg_id)
            ok &= (sub.pt > leg.pt_min) & (np.abs(sub.eta) < leg.abs_eta_max)
            if cfg.trigger_matching:
                ok &= matched[(leg.pdg_id, leg.bit_mask, leg.dr_max)]
            leg_ok.append(ok)
        done, slots = _satisfy(path, leg_ok)
        satisfied[name] = (done & fired[name][rows], slots)

    sub_channel = channel[rows]
    sub_group = np.full(len(rows), -1, np.int8)
    sub_legs = np.zeros((len(rows), 3), dtype=bool)
    for index, ch in enumerate(cfg.channels):
        in_channel = sub_channel == index
        for g in ch.triggers:
            for name in era.triggers[g]:
                if name not in satisfied:
                    continue
                ok, slots = satisfied[name]
                take = in_channel & ok & (sub_group < 0)
                sub_group[take] = group_names.index(g)
                sub_legs[take] = slots[take]
    group[rows] = sub_group
    legs[rows] = sub_legs
    passed[rows] = sub_group >= 0
    return TriggerDecision(passed, group, legs, group_fired)


def trigger_group_indices(cfg: AnalysisConfig) -> Mapping[str, int]:
    """Index of each trigger group of the era, as stored in :attr:`TriggerDecision.group`."""
    return {g: i for i, g in enumerate(cfg.era_config.triggers)}
