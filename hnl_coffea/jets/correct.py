"""Corrected jets and MET of a chunk, and the JES/JER variations of simulated jets.

:func:`correct_objects` turns the raw objects of :func:`hnl_coffea.objects.load_objects`
into the analysis' nominal objects:

1. **JEC** re-applied from the raw pT ``pT (1 − rawFactor)`` with the era's compound
   ``L1L2L3Res`` correction (inputs ``JetA`` = ``Jet_area``, ``JetEta``, ``JetPt`` = raw pT,
   ``Rho`` = ``fixedGridRhoFastjetAll``); collision data take the correction of their run
   period (``jets.jec_data``). pT and mass are scaled alike.
2. **JER** in simulation: the resolution σ and scale factor (nominal/up/down) at the
   corrected pT; jets matched to their ``GenJet`` (``Jet_genJetIdx``, ΔR < R/2 = 0.2 and
   |pT − pT_gen| < 3σ pT) are scaled by ``1 + (SF − 1)(pT − pT_gen)/pT``, the others
   smeared by ``1 + N(0, σ) sqrt(max(SF² − 1, 0))`` with reproducible per-jet numbers
   (:mod:`.random`); coffea's ``jer_smear`` computes both, with the correctors of
   :mod:`.corrector` (coffea's correctionlib adapters).
3. **Type-1 MET** recomputed from the raw MET of the era's MET (:mod:`.met`).
4. **Jet veto map** flag per jet (:mod:`.vetomap`).

JES variations (``JES_<source>``: pT × (1 ± δ), δ at the nominal pT) and the JER
variations (smearing with the SF up/down) are kept as per-jet pT and MET in
:class:`JetShifts`, from which a shape variation takes its jets and MET. Without a ``jerc``
file or JEC tag for the era, jets and MET are used as stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import awkward as ak
import numpy as np

from ..config import AnalysisConfig
from ..corrections.evaluators import CorrectionProvider
from ..flat import column, delta_r, event_index
from ..nanoaod import MissingBranchError
from .corrector import JetCorrections, data_periods, jet_corrections
from .met import corrected_met, type1_jets
from .random import jet_normals
from .vetomap import in_veto_region

__all__ = ["JetShifts", "correct_objects", "met_collections", "rho"]

#: Half the AK4 distance parameter: the ΔR of the JER gen-jet match.
GEN_MATCH_DR = 0.2
_DIRECTIONS = ("up", "down")


def met_collections(events: Any, cfg: AnalysisConfig, pf_name: str) -> tuple[str, str]:
    """(type-1 MET, raw MET) collection names of the era's MET: PF (``MET``/``PFMET`` with
    ``RawMET``/``RawPFMET``) or PUPPI (``PuppiMET`` with ``RawPuppiMET``)."""
    if cfg.era_config.jets.met == "puppi":
        return "PuppiMET", "RawPuppiMET"
    return pf_name, "RawPFMET" if "RawPFMET" in events.fields else "RawMET"


def rho(events: Any) -> np.ndarray:
    """``fixedGridRhoFastjetAll`` per event (``Rho_…`` from NanoAOD v12, bare before)."""
    if "Rho" in events.fields and "fixedGridRhoFastjetAll" in events.Rho.fields:
        return np.asarray(events.Rho.fixedGridRhoFastjetAll, dtype=np.float64)
    if "fixedGridRhoFastjetAll" in events.fields:
        return np.asarray(events.fixedGridRhoFastjetAll, dtype=np.float64)
    raise MissingBranchError(
        "Rho_fixedGridRhoFastjetAll", "NanoAOD v12+ (fixedGridRhoFastjetAll before), for the JEC"
    )


def _jagged(columns: dict[str, np.ndarray], counts: np.ndarray) -> ak.Array:
    n_obj = int(np.sum(counts))
    contents = [ak.contents.NumpyArray(np.ascontiguousarray(v)) for v in columns.values()]
    record = ak.contents.RecordArray(contents, list(columns), length=n_obj)
    offsets = ak.index.Index64(np.concatenate([[0], np.cumsum(counts, dtype=np.int64)]))
    return ak.Array(ak.contents.ListOffsetArray(offsets, record))


@dataclass(frozen=True)
class JetShifts:
    """Nominal corrected jets (flat columns) and MET, and per variation stem the shifted
    jet pT, mass and MET (``up``, ``down``)."""

    counts: np.ndarray
    columns: dict[str, np.ndarray]
    met: Any
    pt: dict[str, tuple[np.ndarray, np.ndarray]]
    mass: dict[str, tuple[np.ndarray, np.ndarray]]
    met_pt_phi: dict[str, tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]]

    @property
    def stems(self) -> list[str]:
        """The variation stems available (``JES_<source>``, ``JER``)."""
        return list(self.pt)

    def jets(self, stem: str | None = None, direction: str = "up") -> ak.Array:
        """The jets of a variation (None: nominal), jagged."""
        cols = dict(self.columns)
        if stem is not None:
            k = _DIRECTIONS.index(direction)
            cols["pt"], cols["mass"] = self.pt[stem][k], self.mass[stem][k]
        return _jagged(cols, self.counts)

    def met_of(self, stem: str, direction: str, base: Any = None) -> Any:
        """The MET of a variation: the type-1 MET of the shifted jets or, given ``base``
        (a MET record of the same events, e.g. with further nominal corrections), ``base``
        moved by the change of the type-1 MET under the variation."""
        pt, phi = self.met_pt_phi[stem][_DIRECTIONS.index(direction)]
        if base is None:
            return ak.with_field(ak.with_field(self.met, pt, "pt"), phi, "phi")
        pt0, phi0 = (np.asarray(self.met[f], dtype=np.float64) for f in ("pt", "phi"))
        bpt, bphi = (np.asarray(base[f], dtype=np.float64) for f in ("pt", "phi"))
        x = bpt * np.cos(bphi) + pt * np.cos(phi) - pt0 * np.cos(phi0)
        y = bpt * np.sin(bphi) + pt * np.sin(phi) - pt0 * np.sin(phi0)
        return ak.with_field(ak.with_field(base, np.hypot(x, y), "pt"), np.arctan2(y, x), "phi")


def _optional(flat: Any, name: str, n: int, default: float = 0.0) -> np.ndarray:
    if name in flat.fields:
        return column(flat, name).astype(np.float64)
    return np.full(n, default)


def _gen_pt(events: Any, flat: Any, counts: np.ndarray, eta, phi) -> np.ndarray:
    """pT of each jet's matched GenJet (ΔR < R/2), 0 when there is none."""
    n_jets = len(eta)
    if "genJetIdx" not in flat.fields or "GenJet" not in events.fields:
        raise MissingBranchError("Jet_genJetIdx and GenJet_pt", "simulation, for the JER")
    gen = events.GenJet
    gcounts = np.asarray(ak.num(gen, axis=1), dtype=np.int64)
    gflat = ak.flatten(gen, axis=1)
    idx = column(flat, "genJetIdx").astype(np.int64)
    ev = event_index(counts)
    ok = (idx >= 0) & (idx < gcounts[ev])
    where = (np.cumsum(gcounts) - gcounts)[ev] + np.where(ok, idx, 0)
    out = np.zeros(n_jets)
    if ok.any() and len(gflat):
        g = {f: column(gflat, f).astype(np.float64)[where[ok]] for f in ("pt", "eta", "phi")}
        close = delta_r(eta[ok], phi[ok], g["eta"], g["phi"]) < GEN_MATCH_DR
        out[np.flatnonzero(ok)[close]] = g["pt"][close]
    return out


def _smearing(
    corr: JetCorrections, values: dict, pt_gen: np.ndarray, normals: np.ndarray, n: int
) -> list[np.ndarray]:
    """JER factors per jet (coffea's ``jer_smear``): nominal, and with ``n`` = 3 up, down."""
    # imported here: coffea.jetmet_tools takes seconds to import, which every process
    # importing the processor (the driver too) would pay
    from coffea.jetmet_tools.CorrectedJetsFactory import jer_smear

    stack = corr.stack
    sigma = corr.evaluate(stack.jer, "getResolution", values)
    sf = np.asarray(stack.jersf.getScaleFactor(**{k: values[k] for k in stack.jersf.signature}))
    args = (ak.Array(pt_gen), ak.Array(values["JetPt"]), ak.Array(values["JetEta"]), sigma)
    return [np.asarray(jer_smear(*args, normals, sf, v, False), dtype=np.float64) for v in range(n)]


def _by_period(cfg, events, ev, corrections, is_data) -> list[tuple[JetCorrections, Any]]:
    """(corrector, jet mask or slice) pairs covering every jet."""
    if not is_data:
        return [(next(iter(corrections.values())), slice(None))]
    period = data_periods(cfg, np.asarray(events.run))[ev]
    return [
        (corrections[tag], period == i)
        for i, tag in enumerate(cfg.era_config.jets.jec_data)
        if (period == i).any()
    ]


def _jec(cfg, events, flat, ev, raw, eta, corrections, is_data):
    """The correctors' inputs, the compound JEC and its L1 part per jet (data: each jet
    with the correction of its run period)."""
    values = {"JetA": column(flat, "area").astype(np.float64), "JetEta": eta, "JetPt": raw}
    values["Rho"] = rho(events)[ev]
    jec, l1 = np.ones(len(raw)), np.ones(len(raw))
    for corr, sel in _by_period(cfg, events, ev, corrections, is_data):
        part = {k: v[sel] for k, v in values.items()}
        jec[sel] = corr.evaluate(corr.stack.jec, "getCorrection", part)
        l1[sel] = corr.evaluate(corr.l1, "getCorrection", part)
    return values, jec, l1


def correct_objects(
    objs: Any,
    events: Any,
    cfg: AnalysisConfig,
    provider: CorrectionProvider,
    *,
    is_data: bool,
    variations: bool = True,
    raw_met: str | None = None,
) -> tuple[Any, JetShifts | None]:
    """The nominal objects (corrected jets and MET) and, for simulation with
    ``variations``, the JES/JER shifts. ``raw_met``: the raw MET collection (default: the
    era's, :func:`met_collections`)."""
    era = cfg.era_config.jets
    counts = np.asarray(ak.num(objs.jets, axis=1), dtype=np.int64)
    flat = ak.flatten(objs.jets, axis=1)
    n, n_jets = len(counts), int(counts.sum())
    ev = event_index(counts)
    pt, eta, phi, mass = (column(flat, f).astype(np.float64) for f in ("pt", "eta", "phi", "mass"))
    cols: dict[str, np.ndarray] = {"pt": pt, "eta": eta, "phi": phi, "mass": mass}
    keep = ["jetId", cfg.era_config.btag.branch, "hadronFlavour", "chEmEF", "neEmEF"]
    for name in keep:
        if name in flat.fields:
            cols[name] = column(flat, name)
    cols.setdefault("chEmEF", np.zeros(n_jets, np.float32))
    cols.setdefault("neEmEF", np.zeros(n_jets, np.float32))
    cols["vetoMap"] = in_veto_region(eta, phi, cfg, provider)
    corrections = jet_corrections(cfg, provider, is_data=is_data)
    if not corrections:
        return objs.replace(jets=_jagged(cols, counts)), None

    raw = pt * (1.0 - column(flat, "rawFactor"))
    raw_mass = mass * (1.0 - column(flat, "rawFactor"))
    values, jec, l1 = _jec(cfg, events, flat, ev, raw, eta, corrections, is_data)
    pt_jec, mass_jec = raw * jec, raw_mass * jec
    smear = [np.ones(n_jets)] * 3
    mc = None if is_data else next(iter(corrections.values()))
    if mc is not None and mc.stack.jer is not None and n_jets:
        local = np.arange(n_jets) - (np.cumsum(counts) - counts)[ev]
        ids = [np.asarray(events[b])[ev] for b in ("run", "luminosityBlock", "event")]
        normals = jet_normals(*ids, local, cfg.corrections.jer_seed)
        pt_gen = _gen_pt(events, flat, counts, eta, phi)
        n_sf = 3 if variations and cfg.corrections.jet_energy_resolution else 1
        smear = _smearing(mc, {**values, "JetPt": pt_jec}, pt_gen, normals, n_sf)
    cols["pt"], cols["mass"] = pt_jec * smear[0], mass_jec * smear[0]

    # type-1 MET from the raw MET, with the nominal corrections choosing the jets
    raw_name = raw_met or met_collections(events, cfg, "MET")[1]
    if raw_name not in events.fields:
        raise MissingBranchError(f"{raw_name}_pt", f"the type-1 MET of {era.met.upper()} jets")
    em = cols["chEmEF"].astype(np.float64) + cols["neEmEF"].astype(np.float64)
    t1 = type1_jets(
        ev, n, raw, eta, phi, jec, l1, _optional(flat, "muonSubtrFactor", n_jets),
        _optional(flat, "muonSubtrDeltaPhi", n_jets), em, era.type1,
    )  # fmt: skip
    low = _low_pt_jets(events, cfg, corrections, is_data, n)
    s_nom = smear[0] if era.type1.jer_smeared else np.ones(n_jets)

    def met(scale: np.ndarray, low_scale: Any = 1.0) -> tuple[np.ndarray, np.ndarray]:
        dpx, dpy = t1.deltas(scale)
        if low is not None:
            lx, ly = low[0].deltas(low_scale)
            dpx, dpy = dpx + lx, dpy + ly
        rm = events[raw_name]
        return corrected_met(np.asarray(rm.pt), np.asarray(rm.phi), dpx, dpy)

    met_pt, met_phi = met(s_nom)
    nominal_met = ak.with_field(ak.with_field(objs.met, met_pt, "pt"), met_phi, "phi")
    nominal = objs.replace(jets=_jagged(cols, counts), met=nominal_met)
    if mc is None or not variations:
        return nominal, None

    shifts: dict[str, list[tuple[np.ndarray, np.ndarray, Any]]] = {}
    if cfg.corrections.jet_energy_scale and mc.stack.junc is not None:
        unc_in = {"JetEta": eta, "JetPt": cols["pt"]}
        junc = mc.stack.junc.getUncertainty(**{k: unc_in[k] for k in mc.stack.junc.signature})
        low_junc = dict(low[1]) if low is not None else {}
        for name, factors in junc:
            f = np.asarray(factors, dtype=np.float64)
            shifts[f"JES_{name}"] = [
                (f[:, k], f[:, k], low_junc[name][:, k] if name in low_junc else 1.0)
                for k in (0, 1)
            ]
    if cfg.corrections.jet_energy_resolution and mc.stack.jer is not None:
        shifts["JER"] = [(smear[k] / smear[0], smear[k] / smear[0], 1.0) for k in (1, 2)]
    pts, masses, mets = {}, {}, {}
    for stem, (up, down) in shifts.items():
        pts[stem] = tuple(cols["pt"] * f for f, _, _ in (up, down))
        masses[stem] = tuple(cols["mass"] * f for _, f, _ in (up, down))
        mets[stem] = tuple(met(s_nom * f, lf) for f, _, lf in (up, down))
    return nominal, JetShifts(counts, cols, nominal_met, pts, masses, mets)


def _low_pt_jets(events, cfg, corrections, is_data, n):
    """``CorrT1METJet`` (when the file has it) as type-1 jets, with the (up, down) factors
    of each JES source: ``(Type1Jets, {source: (m, 2) array})``."""
    if "CorrT1METJet" not in events.fields:
        return None
    coll = events.CorrT1METJet
    counts = np.asarray(ak.num(coll, axis=1), dtype=np.int64)
    flat = ak.flatten(coll, axis=1)
    m = int(counts.sum())
    ev = event_index(counts)
    raw = column(flat, "rawPt").astype(np.float64)
    eta, phi = column(flat, "eta").astype(np.float64), column(flat, "phi").astype(np.float64)
    _, jec, l1 = _jec(cfg, events, flat, ev, raw, eta, corrections, is_data)
    t1 = type1_jets(
        ev, n, raw, eta, phi, jec, l1, _optional(flat, "muonSubtrFactor", m),
        np.zeros(m), _optional(flat, "EmEF", m), cfg.era_config.jets.type1,
    )  # fmt: skip
    junc = {}
    stack = next(iter(corrections.values())).stack
    if not is_data and stack.junc is not None and m:
        unc_in = {"JetEta": eta, "JetPt": raw * jec}
        junc = {
            name: np.asarray(f, dtype=np.float64)
            for name, f in stack.junc.getUncertainty(**{k: unc_in[k] for k in stack.junc.signature})
        }
    return t1, junc
