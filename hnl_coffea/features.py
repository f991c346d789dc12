"""The feature set: one registry (:data:`FEATURES`) and the functions that compute it.

Leptons ℓ1, ℓ2, ℓ3 are in the analysis order (taus by descending pT, then muons, then
electrons); pairs are ij ∈ {12, 13, 23}. Conventions:

- Δφ(a, b) = φ_a − φ_b wrapped into [−π, π); Δη(a, b) = η_a − η_b.
- MT(a, b) = sqrt(2 pT_a pT_b (1 − cos Δφ(a, b))) for leptons, lepton systems and MET alike.
- Sums of leptons ("mother" candidates) are four-vector sums; "+MET" adds the MET vector in
  the transverse plane only.

:func:`kinematic_features` computes every feature that depends only on the three lepton
four-vectors and MET, from plain numpy arrays (shape ``(n, 3)`` and ``(n,)``) or awkward
arrays; it is also used to build regression targets for synthetic events.
:func:`compute_features` adds charges and jet features for the events of a
:class:`~hnl_coffea.channels.Selection` and returns a flat float32 record array.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import vector

__all__ = [
    "FEATURES",
    "FEATURE_NAMES",
    "Feature",
    "PAIRS",
    "compute_features",
    "feature_table_markdown",
    "kinematic_features",
]

PAIRS = ("12", "13", "23")


@dataclass(frozen=True)
class Feature:
    """One column of the feature record."""

    name: str
    formula: str
    unit: str
    source: str = "kinematic"
    """``kinematic`` (leptons + MET only), ``charge`` or ``jets``."""


def _registry() -> tuple[Feature, ...]:
    f: list[Feature] = []
    for i in (1, 2, 3):
        li = f"ℓ{i}"
        f += [
            Feature(f"l{i}_pt", f"pT({li})", "GeV"),
            Feature(f"l{i}_eta", f"η({li})", ""),
            Feature(f"l{i}_phi", f"φ({li})", "rad"),
            Feature(f"l{i}_mass", f"m({li})", "GeV"),
            Feature(f"l{i}_charge", f"q({li})", "e", "charge"),
            Feature(f"l{i}_energy", f"E({li})", "GeV"),
            Feature(f"l{i}_px", f"pT({li}) cos φ({li})", "GeV"),
            Feature(f"l{i}_py", f"pT({li}) sin φ({li})", "GeV"),
            Feature(f"l{i}_pz", f"pT({li}) sinh η({li})", "GeV"),
        ]
    f += [
        Feature("met_pt", "pT^miss", "GeV"),
        Feature("met_phi", "φ(pT^miss)", "rad"),
        Feature("met_px", "pT^miss cos φ", "GeV"),
        Feature("met_py", "pT^miss sin φ", "GeV"),
    ]
    for ij in PAIRS:
        a, b = f"ℓ{ij[0]}", f"ℓ{ij[1]}"
        s = f"({a}+{b})"
        f += [
            Feature(f"m_{ij}", f"m{s}", "GeV"),
            Feature(f"pt_{ij}", f"pT{s}", "GeV"),
            Feature(f"eta_{ij}", f"η{s}", ""),
            Feature(f"phi_{ij}", f"φ{s}", "rad"),
            Feature(f"energy_{ij}", f"E{s}", "GeV"),
            Feature(f"dr_{ij}", f"sqrt(Δη({a},{b})² + Δφ({a},{b})²)", ""),
            Feature(f"dphi_{ij}", f"Δφ({a}, {b})", "rad"),
            Feature(f"deta_{ij}", f"Δη({a}, {b})", ""),
            Feature(f"mt_{ij}", f"MT({a}, {b})", "GeV"),
            Feature(f"mt_{ij}met", f"MT({s}, MET)", "GeV"),
            Feature(f"dphi_{ij}met", f"Δφ({s}, MET)", "rad"),
            Feature(f"pt_{ij}met", f"|pT{s} + pT^miss|", "GeV"),
        ]
    for i in (1, 2, 3):
        f += [
            Feature(f"mt_{i}", f"MT(ℓ{i}, MET)", "GeV"),
            Feature(f"dphi_{i}met", f"Δφ(ℓ{i}, MET)", "rad"),
        ]
    s3 = "(ℓ1+ℓ2+ℓ3)"
    f += [
        Feature("m_3l", f"m{s3}", "GeV"),
        Feature("pt_3l", f"pT{s3}", "GeV"),
        Feature("eta_3l", f"η{s3}", ""),
        Feature("phi_3l", f"φ{s3}", "rad"),
        Feature("mt_3l", f"MT({s3}, MET)", "GeV"),
        Feature("dphi_3lmet", f"Δφ({s3}, MET)", "rad"),
        Feature("pt_3lmet", f"|pT{s3} + pT^miss|", "GeV"),
        Feature("mt_total", "sqrt(Σ_i MT²(ℓi, MET) + Σ_{i<j} MT²(ℓi, ℓj))", "GeV"),
        Feature("e_vis", "Σ_i E(ℓi)", "GeV"),
        Feature("e_tot", "e_vis + pT^miss", "GeV"),
        Feature("sum_pt", "Σ_i pT(ℓi)", "GeV"),
        Feature("min_dr", "min_{i<j} ΔR(ℓi, ℓj)", ""),
        Feature("max_dr", "max_{i<j} ΔR(ℓi, ℓj)", ""),
        Feature("ht", "Σ pT of selected jets", "GeV", "jets"),
        Feature("n_jets", "number of selected jets", "", "jets"),
        Feature("n_bjets", "number of b-tagged selected jets", "", "jets"),
        Feature("j1_pt", "pT of the leading jet (−1 if none)", "GeV", "jets"),
        Feature("j1_eta", "η of the leading jet (0 if none)", "", "jets"),
        Feature("j1_phi", "φ of the leading jet (0 if none)", "rad", "jets"),
    ]
    return tuple(f)


#: Every feature, in output column order.
FEATURES: tuple[Feature, ...] = _registry()
FEATURE_NAMES: tuple[str, ...] = tuple(x.name for x in FEATURES)
_KINEMATIC = tuple(x.name for x in FEATURES if x.source == "kinematic")


def _column(x: Any, i: int | None) -> np.ndarray:
    return np.asarray(x if i is None else x[:, i], dtype=np.float64)


def _vectors(pt: Any, eta: Any, phi: Any, mass: Any) -> tuple[Any, ...]:
    out = []
    for i in range(3):
        comps = {"pt": _column(pt, i), "eta": _column(eta, i), "phi": _column(phi, i)}
        comps["mass"] = _column(mass, i)
        out.append(_make(comps, "Momentum4D"))
    return tuple(out)


def _make(comps: dict[str, np.ndarray], name: str) -> Any:
    return vector.array(comps)


def _mt(a: Any, b: Any) -> Any:
    return np.sqrt(2.0 * a.pt * b.pt * (1.0 - np.cos(a.deltaphi(b))))


def kinematic_features(
    pt: Any, eta: Any, phi: Any, mass: Any, met_pt: Any, met_phi: Any
) -> dict[str, Any]:
    """Every lepton/MET feature of :data:`FEATURES` (``source == "kinematic"``), float64.

    ``pt``, ``eta``, ``phi``, ``mass``: three ordered leptons per event, numpy ``(n, 3)``;
    ``met_pt``, ``met_phi``: one value per event.
    """
    leps = _vectors(pt, eta, phi, mass)
    met = _make({"pt": _column(met_pt, None), "phi": _column(met_phi, None)}, "Momentum2D")
    out: dict[str, Any] = {}
    for i, lep in enumerate(leps, start=1):
        out[f"l{i}_pt"] = lep.pt
        out[f"l{i}_eta"] = lep.eta
        out[f"l{i}_phi"] = lep.phi
        out[f"l{i}_mass"] = lep.mass
        out[f"l{i}_energy"] = lep.E
        out[f"l{i}_px"] = lep.px
        out[f"l{i}_py"] = lep.py
        out[f"l{i}_pz"] = lep.pz
    out["met_pt"] = met.pt
    out["met_phi"] = met.phi
    out["met_px"] = met.px
    out["met_py"] = met.py
    mt2_sum = 0.0
    drs = []
    for (i, a), (j, b) in combinations(enumerate(leps, start=1), 2):
        ij = f"{i}{j}"
        pair = a + b
        out[f"m_{ij}"] = pair.mass
        out[f"pt_{ij}"] = pair.pt
        out[f"eta_{ij}"] = pair.eta
        out[f"phi_{ij}"] = pair.phi
        out[f"energy_{ij}"] = pair.E
        out[f"dr_{ij}"] = a.deltaR(b)
        out[f"dphi_{ij}"] = a.deltaphi(b)
        out[f"deta_{ij}"] = a.deltaeta(b)
        out[f"mt_{ij}"] = _mt(a, b)
        out[f"mt_{ij}met"] = _mt(pair, met)
        out[f"dphi_{ij}met"] = pair.deltaphi(met)
        out[f"pt_{ij}met"] = (pair.to_Vector2D() + met).pt
        mt2_sum = mt2_sum + out[f"mt_{ij}"] ** 2
        drs.append(out[f"dr_{ij}"])
    for i, lep in enumerate(leps, start=1):
        out[f"mt_{i}"] = _mt(lep, met)
        out[f"dphi_{i}met"] = lep.deltaphi(met)
        mt2_sum = mt2_sum + out[f"mt_{i}"] ** 2
    tri = leps[0] + leps[1] + leps[2]
    out["m_3l"] = tri.mass
    out["pt_3l"] = tri.pt
    out["eta_3l"] = tri.eta
    out["phi_3l"] = tri.phi
    out["mt_3l"] = _mt(tri, met)
    out["dphi_3lmet"] = tri.deltaphi(met)
    out["pt_3lmet"] = (tri.to_Vector2D() + met).pt
    out["mt_total"] = np.sqrt(mt2_sum)
    out["e_vis"] = leps[0].E + leps[1].E + leps[2].E
    out["e_tot"] = out["e_vis"] + met.pt
    out["sum_pt"] = leps[0].pt + leps[1].pt + leps[2].pt
    out["min_dr"] = np.minimum(np.minimum(drs[0], drs[1]), drs[2])
    out["max_dr"] = np.maximum(np.maximum(drs[0], drs[1]), drs[2])
    return {name: out[name] for name in _KINEMATIC}


_P4 = ("pt", "eta", "phi", "mass")


def compute_features(selection: Any, mask: Any = None) -> Any:
    """The flat float32 feature record (registry order) plus ``channel`` (int8) for the events
    of ``mask`` (default: ``selection.selected``); every such event must have three leptons.
    Every column is computed from flat numpy arrays."""
    import awkward

    from .flat import column, event_index

    mask = np.asarray(selection.selected if mask is None else mask, dtype=bool)
    # every selected event has exactly three leptons: dense (n, 3) numpy columns
    lep = selection.leptons[mask]
    flat = awkward.flatten(lep, axis=1)
    if len(flat) != 3 * len(lep):
        raise ValueError("compute_features needs exactly three leptons in every masked event")
    cols = [column(flat, name).astype(np.float64).reshape(-1, 3) for name in _P4]
    met = selection.met[mask]
    out = kinematic_features(*cols, np.asarray(met["pt"]), np.asarray(met["phi"]))
    charge = column(flat, "charge").reshape(-1, 3)
    for i in range(3):
        out[f"l{i + 1}_charge"] = charge[:, i]
    jets = selection.jets[mask]
    counts = np.asarray(awkward.num(jets, axis=1), dtype=np.int64)
    flat_jets = awkward.flatten(jets, axis=1)
    pt = column(flat_jets, "pt")
    n = len(counts)
    ht = np.asarray(awkward.sum(jets["pt"], axis=1))  # awkward's float32 summation order
    j1 = {"pt": np.full(n, -1.0), "eta": np.zeros(n), "phi": np.zeros(n)}
    filled = counts > 0
    if filled.any():
        starts = (np.cumsum(counts) - counts)[filled]
        # leading jet: the first of the highest pT (as ak.argmax)
        lead = np.lexsort((-pt, event_index(counts)))[starts]
        j1["pt"][filled] = pt[lead]
        for name in ("eta", "phi"):
            j1[name][filled] = column(flat_jets, name)[lead]
    out["ht"] = ht
    out["n_jets"] = counts
    out["n_bjets"] = np.asarray(selection.n_bjets)[mask]
    for name, values in j1.items():
        out[f"j1_{name}"] = values
    columns = [np.asarray(out[name]).astype(np.float32) for name in FEATURE_NAMES]
    columns.append(np.asarray(selection.channel)[mask].astype(np.int8))
    contents = [awkward.contents.NumpyArray(c) for c in columns]
    record = awkward.contents.RecordArray(contents, [*FEATURE_NAMES, "channel"], length=n)
    return awkward.Array(record)


def feature_table_markdown() -> str:
    """The feature table of ``docs/features.md``, generated from :data:`FEATURES`."""
    lines = [
        "# Feature set",
        "",
        "Generated from `hnl_coffea.features.FEATURES` by `feature_table_markdown()`; do not edit.",
        "",
        "Leptons ℓ1, ℓ2, ℓ3 are ordered taus first (by descending pT), then muons, then electrons.",
        "Δφ(a, b) = φ_a − φ_b wrapped into [−π, π); Δη(a, b) = η_a − η_b;",
        "MT(a, b) = sqrt(2 pT_a pT_b (1 − cos Δφ(a, b))). Lepton sums are four-vector sums;",
        '"+ pT^miss" adds the MET vector in the transverse plane. All columns are float32;',
        "the record also carries `channel` (int8 index into the configured channels).",
        "",
        f"{len(FEATURES)} features.",
        "",
        "| # | name | formula | unit | source |",
        "|---|------|---------|------|--------|",
    ]
    for n, feat in enumerate(FEATURES):
        lines.append(f"| {n} | `{feat.name}` | {feat.formula} | {feat.unit} | {feat.source} |")
    return "\n".join(lines) + "\n"
