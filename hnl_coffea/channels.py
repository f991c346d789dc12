"""Three-lepton channels, triggers and regions.

:func:`select` turns a NanoEvents chunk into a :class:`Selection`: the three analysis
leptons per event in the fixed order of the analysis (hadronic taus by descending pT, then
muons by pT, then electrons by pT), the channel index into ``cfg.channels`` (−1 when the
three leptons form no configured channel), the named selection steps in a coffea
:class:`~coffea.analysis_tools.PackedSelection` and one mask per region of ``cfg.regions``.

Steps, in cutflow order:

``three_leptons``      at least three selected leptons (e, μ, τh after overlap removal)
``extra_lepton_veto``  exactly three (when ``objects.veto_extra_leptons``; otherwise the three
                       highest-pT leptons are used and the step always passes)
``has_tau``            at least one τh among the three
``channel``            the flavour content is one of ``cfg.channels``
``charge``             total charge ±1
``lepton_dr``          the three leptons pairwise separated by ΔR > ``lepton_separation_dr``
``trigger``            a path of the channel's trigger groups fired and its offline legs are
                       above threshold and matched to ``TrigObj`` (:mod:`hnl_coffea.triggers`)
``jet_veto_map``       no jet of the JME veto recipe in a vetoed region of the era's jet
                       veto map (``eras.<era>.jets.veto_map``; passes without a map)
``bjet_veto``          no b-tagged jet (used by the regions, not by ``selected``)

Chunks are selected on flat numpy arrays (two stable sorts order the leptons, masks and
pair quantities are dense ``(n, 3)`` arrays); every step is written once, for eager
(virtual) NanoEvents — dask-awkward arrays go through
:func:`hnl_coffea.daskmode.run_partitions`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import awkward as ak
import numpy as np
import vector
from coffea.analysis_tools import PackedSelection
from coffea.nanoevents.methods import candidate

from .config import AnalysisConfig
from .flat import column, delta_r, event_index
from .nanoaod import NanoLayout, detect_layout
from .objects import Objects, flatten_objects, load_objects, object_masks
from .triggers import DenseLeptons, trigger_decision

__all__ = [
    "FLAVOUR_CODES",
    "SR_STEPS",
    "STEPS",
    "STEP_INPUTS",
    "Selection",
    "may_enter_a_region",
    "select",
    "steps_and_regions",
]

#: Lepton flavour codes (absolute PDG ID) in the ``flavour`` field, in lepton-order rank.
FLAVOUR_CODES = {"tau": 15, "mu": 13, "e": 11}
STEPS = (
    "three_leptons",
    "extra_lepton_veto",
    "has_tau",
    "channel",
    "charge",
    "lepton_dr",
    "trigger",
    "jet_veto_map",
    "bjet_veto",
)
#: The signal-region-independent steps that define :attr:`Selection.selected`.
SR_STEPS = STEPS[:-1]
_LEPTONS = ("muons", "electrons", "taus")
#: The object collections (of :class:`~hnl_coffea.objects.Objects`) each step reads: the
#: leptons are selected without the jets, the jets are cleaned against the leptons, the
#: veto-map recipe reads the muons; no step reads the MET.
STEP_INPUTS: dict[str, tuple[str, ...]] = {
    **{step: _LEPTONS for step in STEPS[:7]},
    "jet_veto_map": ("jets", "muons"),
    "bjet_veto": ("jets", *_LEPTONS),
}
Z_MASS = 91.1876


@dataclass(frozen=True)
class Selection:
    """Per-event selection results of one chunk (every array has one entry per event)."""

    channel: Any
    """int8 index into ``cfg.channels``; −1 when the leptons form no channel."""
    leptons: Any
    """Up to three ordered leptons (exactly three where :attr:`selected`)."""
    met: Any
    jets: Any
    """Selected, lepton-cleaned jets with a ``btag`` flag."""
    n_bjets: Any
    steps: PackedSelection
    regions: dict[str, Any]
    selected: Any
    channel_names: tuple[str, ...]
    triggers: dict[str, Any] = field(default_factory=dict)
    """Per trigger group of the era: whether any of its HLT paths fired (before matching)."""
    trigger_group: Any = None
    """int8 index into the era's trigger groups of the group the event is assigned to (−1);
    the leptons that take its legs have ``trigger_leg`` set to that index."""


def steps_and_regions(
    cfg: AnalysisConfig,
    masks: dict[str, np.ndarray],
    near_z: Callable[[float], np.ndarray],
) -> tuple[PackedSelection, np.ndarray, dict[str, Any]]:
    """The named steps, the events passing the signal-region-independent ones, and one mask
    per region of ``cfg.regions``.

    ``masks``: one mask per step of :data:`STEPS`; ``near_z(window)``: events with an
    opposite-sign same-flavour e/μ pair within ``window`` GeV of m_Z.
    """
    steps = PackedSelection()
    for name in STEPS:
        steps.add(name, masks[name])
    selected = steps.all(*SR_STEPS)
    regions = {}
    for region in cfg.regions:
        mask = selected
        if region.bjet_veto == "apply":
            mask = mask & masks["bjet_veto"]
        elif region.bjet_veto == "invert":
            mask = mask & ~masks["bjet_veto"]
        if region.z_window_gev is not None:
            mask = mask & near_z(region.z_window_gev)
        if region.z_veto_gev is not None:
            mask = mask & ~near_z(region.z_veto_gev)
        regions[region.name] = ak.Array(mask)
    return steps, selected, regions


def may_enter_a_region(selection: Selection, shifted: tuple[str, ...]) -> np.ndarray:
    """Per event: whether shifting only the collections ``shifted`` could put it in a region:
    it passes every step of :attr:`Selection.selected` that reads none of them (every region
    requires those steps, and they keep their result under the shift)."""
    fixed = [step for step in SR_STEPS if not set(STEP_INPUTS[step]) & set(shifted)]
    if not fixed:
        return np.ones(len(selection.selected), dtype=bool)
    return np.asarray(selection.steps.all(*fixed), dtype=bool)


def select(
    events: Any,
    cfg: AnalysisConfig,
    objs: Objects | None = None,
    layout: NanoLayout | None = None,
) -> Selection:
    """Select objects, assign the channel and evaluate every selection step and region.

    ``objs`` are the analysis objects, as the processors build them with
    :func:`hnl_coffea.resolve.corrected_objects` (possibly shifted by a systematic
    variation); by default the objects of ``events`` with the era's jet energy corrections
    only (no τh energy scale), which the jet veto map needs.
    """
    layout = layout or detect_layout(events, cfg.objects.tau.deeptau_version)
    if objs is None:
        from .corrections.evaluators import CorrectionProvider
        from .jets import correct_objects

        raw = load_objects(events, cfg, layout)
        provider = CorrectionProvider(cfg)
        objs = correct_objects(
            raw, events, cfg, provider, is_data=not layout.is_mc, variations=False
        )[0]
    return _select(events, cfg, objs, layout)


def _jet_veto(flats: dict, cfg: AnalysisConfig) -> np.ndarray:
    """Per event: not vetoed by the era's jet veto map (:mod:`hnl_coffea.jets.vetomap`)."""
    from .jets.vetomap import vetoed_events

    jet_counts, jets = flats["jets"]
    mu_counts, muons = flats["muons"]
    if "vetoMap" not in jets.fields:
        if cfg.era_config.jets.veto_map.name is not None:
            raise ValueError(
                f"era {cfg.era!r} has a jet veto map but the jets carry no vetoMap flag: pass "
                "the objects through hnl_coffea.jets.correct_objects before selecting"
            )
        return np.ones(len(jet_counts), dtype=bool)
    cols = {f: column(jets, f) for f in ("pt", "eta", "phi", "jetId", "chEmEF", "neEmEF")}
    cols["vetoMap"] = column(jets, "vetoMap")
    mu = {f: column(muons, f) for f in ("eta", "phi")}
    if "isPFcand" in muons.fields:
        mu["isPFcand"] = column(muons, "isPFcand")
    return ~vetoed_events(cols, jet_counts, mu, mu_counts, cfg)


_LEPTON_COLLECTIONS = (("tau", "taus"), ("mu", "muons"), ("e", "electrons"))


def _eager_leptons(flats: dict, masks: dict) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Event index and flat columns of every selected lepton (taus, muons, electrons)."""
    with_gen = all("genPartFlav" in flats[a][1].fields for _, a in _LEPTON_COLLECTIONS)
    events, cols = [], {}
    for name, attr in _LEPTON_COLLECTIONS:
        coll = flats[attr][1]
        counts, mask = masks[attr]
        events.append(event_index(counts)[mask])
        n = int(mask.sum())
        part = {f: column(coll, f)[mask] for f in ("pt", "eta", "phi", "mass")}
        part["charge"] = column(coll, "charge")[mask].astype(np.int32)
        part["flavour"] = np.full(n, FLAVOUR_CODES[name], dtype=np.int8)
        part["decayMode"] = (
            column(coll, "decayMode")[mask].astype(np.int32)
            if name == "tau"
            else np.full(n, -1, dtype=np.int32)
        )
        if with_gen:
            part["genPartFlav"] = column(coll, "genPartFlav")[mask].astype(np.uint8)
        for key, value in part.items():
            cols.setdefault(key, []).append(value)
    return np.concatenate(events), {k: np.concatenate(v) for k, v in cols.items()}


def _select(events: Any, cfg: AnalysisConfig, objs: Objects, layout: NanoLayout) -> Selection:
    """:func:`select` on flat numpy arrays."""
    flats = flatten_objects(objs)
    masks = object_masks(objs, cfg, layout, flats)
    n = len(masks["muons"][0])
    event, cols = _eager_leptons(flats, masks)
    n_cand = np.bincount(event, minlength=n)

    # the three highest-pT leptons (stable: ties keep the tau, mu, e order), then
    # reordered taus, muons, electrons, each by descending pT
    by_pt = np.lexsort((-cols["pt"], event))
    start = np.cumsum(n_cand) - n_cand
    position = np.arange(len(event)) - start[event[by_pt]]
    top = by_pt[position < 3]
    rank = np.select(
        [cols["flavour"][top] == FLAVOUR_CODES["mu"], cols["flavour"][top] == FLAVOUR_CODES["e"]],
        [1, 2],
        0,
    )
    order = top[np.lexsort((position[position < 3], rank, event[top]))]
    cols = {k: v[order] for k, v in cols.items()}
    n_lep = np.minimum(n_cand, 3)

    # dense (n, 3) views, padded where an event has fewer than three leptons
    slot = np.arange(3)
    valid = slot[None, :] < n_lep[:, None]
    index = np.where(valid, (np.cumsum(n_lep) - n_lep)[:, None] + slot[None, :], 0)

    def dense(name: str, fill: Any) -> np.ndarray:
        values = cols[name]
        if len(values) == 0:
            return np.full((n, 3), fill, dtype=values.dtype)
        return np.where(valid, values[index], fill)

    flavour = dense("flavour", 0)
    counts = {name: (flavour == code).sum(axis=1) for name, code in FLAVOUR_CODES.items()}
    channel = np.full(n, -1, dtype=np.int8)
    for i, ch in enumerate(cfg.channels):
        match = (counts["tau"] == ch.n_tau) & (counts["mu"] == ch.n_mu) & (counts["e"] == ch.n_e)
        channel[match] = i

    jet_counts, jet_mask = masks["jets"]
    flat_jets = flats["jets"][1][jet_mask]
    era = cfg.era_config
    wp = era.btag_wp[cfg.objects.jet.btag_wp]
    btag = column(flats["jets"][1], era.btag.branch)[jet_mask] > wp
    jet_event = event_index(jet_counts)[jet_mask]
    n_sel_jets = np.bincount(jet_event, minlength=n)
    jets = ak.unflatten(ak.with_field(flat_jets, btag, "btag"), n_sel_jets)
    n_bjets = np.bincount(jet_event[btag], minlength=n)

    pt, eta, phi, mass = (dense(f, 0) for f in ("pt", "eta", "phi", "mass"))
    trig = trigger_decision(
        events, cfg, layout, DenseLeptons(flavour, pt, eta, phi, valid), channel
    )
    trigger_leg = np.full(len(cols["pt"]), -1, dtype=np.int8)
    trigger_leg[index[trig.legs]] = np.broadcast_to(trig.group[:, None], (n, 3))[trig.legs]
    cols["trigger_leg"] = trigger_leg
    record = ak.zip(cols, with_name="PtEtaPhiMCandidate", behavior=candidate.behavior)
    leptons = ak.unflatten(record, n_lep)
    charge = dense("charge", 0)
    pairs = [(0, 1), (0, 2), (1, 2)]
    sep = cfg.objects.lepton_separation_dr
    dr_ok = np.ones(n, dtype=bool)
    ossf = np.zeros((n, 3), dtype=bool)
    dm_z = np.zeros((n, 3), dtype=pt.dtype)
    p4 = vector.array({"pt": pt, "eta": eta, "phi": phi, "mass": mass})
    for k, (a, b) in enumerate(pairs):
        both = valid[:, b]
        dr = delta_r(eta[:, a], phi[:, a], eta[:, b], phi[:, b])
        dr_ok &= ~both | (dr > sep)
        ossf[:, k] = (
            both
            & (flavour[:, a] == flavour[:, b])
            & (flavour[:, a] != FLAVOUR_CODES["tau"])
            & (charge[:, a] != charge[:, b])
        )
        la, lb = p4[:, a], p4[:, b]
        pair = vector.array(
            {"px": la.x + lb.x, "py": la.y + lb.y, "pz": la.z + lb.z, "E": la.t + lb.t}
        )
        dm_z[:, k] = abs(pair.mass - Z_MASS)

    extra_veto = n_cand <= 3 if cfg.objects.veto_extra_leptons else n_cand >= 0
    masks_by_step = {
        "three_leptons": n_cand >= 3,
        "extra_lepton_veto": extra_veto,
        "has_tau": counts["tau"] >= 1,
        "channel": channel >= 0,
        "charge": abs(charge.sum(axis=1)) == 1,
        "lepton_dr": dr_ok,
        "trigger": trig.passed,
        "jet_veto_map": _jet_veto(flats, cfg),
        "bjet_veto": n_bjets == 0,
    }
    steps, selected, regions = steps_and_regions(
        cfg, masks_by_step, lambda window: (ossf & (dm_z < window)).any(axis=1)
    )

    return Selection(
        channel=ak.Array(channel),
        leptons=leptons,
        met=objs.met,
        jets=jets,
        n_bjets=ak.Array(n_bjets),
        steps=steps,
        regions=regions,
        selected=selected,
        channel_names=cfg.channel_names,
        triggers={k: ak.Array(v) for k, v in trig.fired.items()},
        trigger_group=ak.Array(trig.group),
    )
