"""Nominal object corrections and shape variations: shifted objects on which the selection
and features are run again.

:func:`nominal_objects` applies the nominal τh energy scale to simulation, after the jet
energy corrections of :func:`hnl_coffea.jets.correct_objects` (the
``tau_energy_scale`` correction with ``syst="nom"``: the file decides which gen matches are
corrected — genuine τh, and e→τh / μ→τh where it provides them — and the change is
propagated to the MET). The shape variations are built from the *uncorrected* objects (the
POG's up/down values are full scales, not relative to the nominal) and compared with the
nominal ones:

* ``tauES_DM<k>``: τh energy scale, one nuisance per decay mode k (decorrelated, as in CMS
  τ analyses), the up/down scale of the taus of that decay mode.
* ``unclustEn``: MET unclustered energy (``MetUnclustEnUpDeltaX/Y``; NanoAOD v15 and the
  PUPPI MET: ``ptUnclusteredUp/Down``, ``phiUnclusteredUp/Down``).
* ``JES_<source>`` (sources per era, ``eras.<era>.jets.jes_sources``) and ``JER``: the
  jets of :class:`hnl_coffea.jets.JetShifts`, the MET moved by the change of the type-1
  MET they give.

Every variation returns the whole shifted object record and, per event, whether an input of
the object selection changed (:class:`Shifted`), so only those events are selected again.
The processor loops over :func:`shape_variations` (data), never over copies of code::

    jet_corrected, jet_shifts = correct_objects(raw, events, cfg, provider, is_data=False)
    nominal = nominal_objects(jet_corrected, cfg, provider, is_data=False)
    for var in shape_variations(cfg):
        shifted = var.apply(raw, nominal, provider, jets=jet_shifts)
        ...select shifted.reselect events again, compute features, fill systematic=var.name
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import awkward as ak
import numpy as np

from ..config import AnalysisConfig
from ..flat import column, event_index
from .evaluators import CorrectionError, CorrectionProvider, correction_file
from .names import correction_constants, correction_name

__all__ = [
    "SHAPE_SYSTEMATICS",
    "ShapeVariation",
    "Shifted",
    "TauScales",
    "nominal_objects",
    "propagate_to_met",
    "shape_variations",
    "shift_met",
    "shift_taus",
]

if TYPE_CHECKING:
    from ..jets import JetShifts
    from ..objects import Objects

Direction = Literal["up", "down", "nom"]


def shift_taus(
    taus: ak.Array,
    provider: CorrectionProvider,
    direction: Direction,
    *,
    decay_modes: Sequence[int] | None = None,
) -> ak.Array:
    """Taus with ``pt`` and ``mass`` scaled by the τh energy scale (``up``/``down``/``nom``).

    Only taus whose ``decayMode`` is in ``decay_modes`` (default: the configured selection
    decay modes) are scaled; others are left unchanged. Needs fields pt, eta, mass,
    decayMode, genPartFlav.
    """
    counts = ak.num(taus, axis=1)
    flat = ak.flatten(taus, axis=1)
    dm = np.asarray(ak.fill_none(flat.decayMode, -1), dtype=np.int64)
    factor = ak.unflatten(_tau_scale(flat, dm, provider, direction, decay_modes), counts)
    out = ak.with_field(taus, taus.pt * factor, "pt")
    return ak.with_field(out, taus.mass * factor, "mass")


def _tau_scale(
    flat: ak.Array,
    dm: np.ndarray,
    provider: CorrectionProvider,
    direction: Direction,
    decay_modes: Sequence[int] | None,
) -> np.ndarray:
    """The τh energy scale of every tau of ``flat`` (decay modes ``dm``): the correction's
    value for taus of ``decay_modes`` (default: the selection's), 1 for the others."""
    cfg = provider.cfg
    dms = tuple(cfg.objects.tau.decay_modes if decay_modes is None else decay_modes)
    sel = np.isin(dm, dms)
    scale = np.ones(len(dm))
    if sel.any():
        chosen = flat[sel]
        values = {
            "pt": np.asarray(chosen.pt, dtype=np.float64),
            "eta": np.asarray(chosen.eta, dtype=np.float64),
            "dm": dm[sel],
            "genmatch": np.asarray(ak.fill_none(chosen.genPartFlav, 0), dtype=np.int64),
            "syst": direction,
            **correction_constants(cfg, "tau_energy_scale"),
        }
        name = correction_name(cfg, "tau_energy_scale")
        scale[sel] = provider.evaluate_named("tau", name, values)
    return scale


def _met_xy(met: ak.Array) -> tuple[np.ndarray, np.ndarray]:
    pt = np.asarray(met.pt, dtype=np.float64)
    phi = np.asarray(met.phi, dtype=np.float64)
    return pt * np.cos(phi), pt * np.sin(phi)


def _with_xy(met: ak.Array, px, py) -> ak.Array:
    out = ak.with_field(met, np.hypot(px, py), "pt")
    return ak.with_field(out, np.arctan2(py, px), "phi")


def shift_met(met: ak.Array, direction: Literal["up", "down"]) -> ak.Array:
    """MET shifted by the unclustered-energy variation: the changes
    ``unclust_<direction>_dx/dy`` of :func:`hnl_coffea.objects.load_objects` (from
    ``MetUnclustEnUpDeltaX/Y`` or the v15 ``pt/phiUnclusteredUp/Down``), or ± the raw
    ``MetUnclustEnUpDeltaX/Y`` fields of a NanoAOD MET record."""
    px, py = _met_xy(met)
    fx, fy = f"unclust_{direction}_dx", f"unclust_{direction}_dy"
    if fx in met.fields and fy in met.fields:
        dx, dy = (np.asarray(met[f], dtype=np.float64) for f in (fx, fy))
    elif {"MetUnclustEnUpDeltaX", "MetUnclustEnUpDeltaY"} <= set(met.fields):
        sign = {"up": 1.0, "down": -1.0}[direction]
        dx = sign * np.asarray(met.MetUnclustEnUpDeltaX, dtype=np.float64)
        dy = sign * np.asarray(met.MetUnclustEnUpDeltaY, dtype=np.float64)
    else:
        raise KeyError(
            "MET unclustered-energy variation needs MetUnclustEnUpDeltaX/Y (NanoAOD up to v14) "
            "or ptUnclusteredUp/Down and phiUnclusteredUp/Down (v15) in the MET collection, "
            "absent in this file; set corrections.met_unclustered=false"
        )
    return _with_xy(met, px + dx, py + dy)


def propagate_to_met(met: ak.Array, old_taus: ak.Array, new_taus: ak.Array) -> ak.Array:
    """MET with the change of the taus' transverse momenta subtracted (MET −= Σ Δp_T)."""

    def flat(taus: ak.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        counts = np.asarray(ak.num(taus, axis=1), dtype=np.int64)
        records = ak.flatten(taus, axis=1)
        return counts, column(records, "pt"), column(records, "phi")

    return _met_minus(met, flat(old_taus), flat(new_taus))


def _met_minus(met: ak.Array, old: tuple, new: tuple) -> ak.Array:
    """MET −= Σ Δp_T of objects going from ``old`` to ``new``: each (counts per event, flat
    pT, flat φ)."""

    def sum_xy(counts, pt, phi) -> tuple[np.ndarray, np.ndarray]:
        pt, phi = np.asarray(pt, dtype=np.float64), np.asarray(phi, dtype=np.float64)
        ev, n = event_index(counts), len(counts)
        x = np.bincount(ev, pt * np.cos(phi), minlength=n)
        return x, np.bincount(ev, pt * np.sin(phi), minlength=n)

    px, py = _met_xy(met)
    ox, oy = sum_xy(*old)
    nx, ny = sum_xy(*new)
    return _with_xy(met, px - (nx - ox), py - (ny - oy))


# ---------------------------------------------------------------- nominal corrections
def nominal_objects(
    raw: Objects, cfg: AnalysisConfig, provider: CorrectionProvider, *, is_data: bool
) -> Objects:
    """The objects with their nominal corrections (simulation: the τh energy scale, when
    ``corrections.tau_energy_scale`` and a TAU file are configured); data unchanged."""
    if is_data or not cfg.corrections.tau_energy_scale or not provider.enabled("tau"):
        return raw
    taus = shift_taus(raw.taus, provider, "nom")
    return raw.replace(taus=taus, met=propagate_to_met(raw.met, raw.taus, taus))


@dataclass(frozen=True)
class Shifted:
    """A shifted object record, and per event whether an input of the object selection
    (an object's kinematics; not the MET, which no selection step reads) changed."""

    objects: Objects
    reselect: np.ndarray
    collections: tuple[str, ...] = ("muons", "electrons", "taus", "jets", "met")
    """The collections of :class:`~hnl_coffea.objects.Objects` the variation shifts."""


def _changed(new: ak.Array, old: ak.Array, fields: Sequence[str]) -> np.ndarray:
    """Per event: whether any object's ``fields`` differ between ``new`` and ``old``."""
    diff = None
    for f in fields:
        d = new[f] != old[f]
        diff = d if diff is None else diff | d
    return np.asarray(ak.any(diff, axis=1), dtype=bool)


# ---------------------------------------------------------------- variations as data
#: (raw, nominal, provider, variation, jet shifts, tau scales) → the shifted record.
Builder = Callable[..., "Shifted"]


@dataclass(frozen=True)
class TauScales:
    """The up and down τh energy scales of a chunk's uncorrected taus, flat (one entry per
    tau, events concatenated; 1 for taus outside the selection's decay modes): evaluated
    once per chunk, shared by every per-decay-mode variation."""

    counts: np.ndarray
    decay_mode: np.ndarray
    scale: dict[str, np.ndarray]

    @classmethod
    def of(cls, taus: ak.Array, provider: CorrectionProvider) -> TauScales:
        """The scales of ``taus`` (fields as :func:`shift_taus` needs them)."""
        counts = np.asarray(ak.num(taus, axis=1), dtype=np.int64)
        flat = ak.flatten(taus, axis=1)
        dm = np.asarray(ak.fill_none(flat.decayMode, -1), dtype=np.int64)
        scale = {d: _tau_scale(flat, dm, provider, d, None) for d in ("up", "down")}
        return cls(counts, dm, scale)


def _tau_es(raw, nominal, provider, var, jets, taus=None) -> Shifted:
    """Taus of ``decay_modes`` at the up/down scale (from the uncorrected taus); the others
    keep their nominal scale. The MET follows the change from the nominal taus."""
    scales = taus if taus is not None else TauScales.of(raw.taus, provider)
    flat_raw = ak.flatten(raw.taus, axis=1)
    flat_nom = ak.flatten(nominal.taus, axis=1)
    in_group = np.isin(scales.decay_mode, var.decay_modes)
    factor = scales.scale[var.direction]
    new, old = {}, {}
    for f in ("pt", "mass"):
        old[f] = column(flat_nom, f)
        new[f] = np.where(in_group, column(flat_raw, f) * factor, old[f])
    counts = scales.counts
    shifted = nominal.taus
    for f in ("pt", "mass"):
        shifted = ak.with_field(shifted, ak.unflatten(new[f], counts), f)
    phi = column(flat_nom, "phi")
    met = _met_minus(nominal.met, (counts, old["pt"], phi), (counts, new["pt"], phi))
    moved = (new["pt"] != old["pt"]) | (new["mass"] != old["mass"])
    reselect = np.bincount(event_index(counts)[moved], minlength=len(counts)) > 0
    return Shifted(nominal.replace(taus=shifted, met=met), reselect, ("taus", "met"))


def _unclustered(raw, nominal, provider, var, jets, taus=None) -> Shifted:
    met = shift_met(nominal.met, var.direction)
    return Shifted(nominal.replace(met=met), np.zeros(len(met), dtype=bool), ("met",))


def _jets(raw, nominal, provider, var, jets, taus=None) -> Shifted:
    """The jets of a JES/JER variation; the MET moved by the change of the type-1 MET."""
    if jets is None or var.source not in jets.stems:
        raise CorrectionError(
            f"shape variation {var.name!r} needs the jet energy corrections of the era "
            f"(JME jet_jerc file and eras.<era>.jets tags); none were computed"
        )
    shifted = jets.jets(var.source, var.direction)
    met = jets.met_of(var.source, var.direction, base=nominal.met)
    reselect = _changed(shifted, nominal.jets, ("pt", "mass"))
    return Shifted(nominal.replace(jets=shifted, met=met), reselect, ("jets", "met"))


def _jes_sources(cfg: AnalysisConfig) -> list[str]:
    jets = cfg.era_config.jets
    if jets.jec_mc is None or correction_file(cfg, "jerc") is None:
        return []
    return [f"JES_{s}" for s in jets.jes_sources]


def _jer_sources(cfg: AnalysisConfig) -> list[str]:
    jets = cfg.era_config.jets
    ok = jets.jec_mc is not None and jets.jer is not None
    return ["JER"] if ok and correction_file(cfg, "jerc") is not None else []


def _per_dm(cfg: AnalysisConfig) -> list[tuple[str, tuple[int, ...]]]:
    return [(f"tauES_DM{d}", (d,)) for d in cfg.objects.tau.decay_modes]


#: Shape systematic stems → how to build the shifted objects and which nuisances they
#: give (name, τh decay modes). Switched by ``corrections.<switch>``.
SHAPE_SYSTEMATICS: dict[str, dict] = {
    "tauES": {"build": _tau_es, "groups": _per_dm, "switch": "tau_energy_scale"},
    "unclustEn": {
        "build": _unclustered,
        "groups": lambda cfg: [("unclustEn", ())],
        "switch": "met_unclustered",
    },
    "JES": {
        "build": _jets,
        "groups": lambda cfg: [(s, ()) for s in _jes_sources(cfg)],
        "switch": "jet_energy_scale",
    },
    "JER": {
        "build": _jets,
        "groups": lambda cfg: [(s, ()) for s in _jer_sources(cfg)],
        "switch": "jet_energy_resolution",
    },
}


@dataclass(frozen=True)
class ShapeVariation:
    """One shifted copy of the objects, named as its histogram systematic (``…Up/Down``)."""

    name: str
    stem: str
    direction: Literal["up", "down"]
    decay_modes: tuple[int, ...] = ()
    source: str = ""
    """The nuisance without Up/Down (e.g. ``JES_Total``)."""

    def apply(
        self,
        raw: Objects,
        nominal: Objects,
        provider: CorrectionProvider,
        *,
        jets: JetShifts | None = None,
        taus: TauScales | None = None,
    ) -> Shifted:
        """The shifted object record, built from the uncorrected (``raw``) and the nominal
        objects of the same events, (JES/JER) the jet shifts of
        :func:`hnl_coffea.jets.correct_objects` and (τh ES) the chunk's :class:`TauScales`
        (evaluated here when not given)."""
        build: Builder = SHAPE_SYSTEMATICS[self.stem]["build"]
        return build(raw, nominal, provider, self, jets, taus)


def shape_variations(cfg: AnalysisConfig, *, is_data: bool = False) -> list[ShapeVariation]:
    """Every shape variation to run for this configuration (none for data)."""
    if is_data or not cfg.corrections.systematics:
        return []
    out = []
    for stem, spec in SHAPE_SYSTEMATICS.items():
        if not getattr(cfg.corrections, spec["switch"]):
            continue
        for name, dms in spec["groups"](cfg):
            for direction, suffix in (("up", "Up"), ("down", "Down")):
                out.append(ShapeVariation(f"{name}{suffix}", stem, direction, dms, name))
    return out
