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
    cfg = provider.cfg
    dms = tuple(cfg.objects.tau.decay_modes if decay_modes is None else decay_modes)
    counts = ak.num(taus, axis=1)
    flat = ak.flatten(taus, axis=1)
    dm = np.asarray(ak.fill_none(flat.decayMode, -1), dtype=np.int64)
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
    factor = ak.unflatten(scale, counts)
    out = ak.with_field(taus, taus.pt * factor, "pt")
    return ak.with_field(out, taus.mass * factor, "mass")


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

    def sum_xy(taus: ak.Array) -> tuple[np.ndarray, np.ndarray]:
        counts = np.asarray(ak.num(taus, axis=1), dtype=np.int64)
        flat = ak.flatten(taus, axis=1)
        pt, phi = (column(flat, f).astype(np.float64) for f in ("pt", "phi"))
        ev, n = event_index(counts), len(counts)
        x = np.bincount(ev, pt * np.cos(phi), minlength=n)
        return x, np.bincount(ev, pt * np.sin(phi), minlength=n)

    px, py = _met_xy(met)
    ox, oy = sum_xy(old_taus)
    nx, ny = sum_xy(new_taus)
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


def _changed(new: ak.Array, old: ak.Array, fields: Sequence[str]) -> np.ndarray:
    """Per event: whether any object's ``fields`` differ between ``new`` and ``old``."""
    diff = None
    for f in fields:
        d = new[f] != old[f]
        diff = d if diff is None else diff | d
    return np.asarray(ak.any(diff, axis=1), dtype=bool)


# ---------------------------------------------------------------- variations as data
#: (raw, nominal, provider, variation, jet shifts) → the shifted record.
Builder = Callable[..., "Shifted"]


def _tau_es(raw, nominal, provider, var, jets) -> Shifted:
    """Taus of ``decay_modes`` at the up/down scale (from the uncorrected taus); the others
    keep their nominal scale. The MET follows the change from the nominal taus."""
    dms = var.decay_modes
    shifted = shift_taus(raw.taus, provider, var.direction, decay_modes=dms)
    counts = ak.num(raw.taus, axis=1)
    dm = np.asarray(ak.fill_none(ak.flatten(raw.taus.decayMode), -1))
    in_group = ak.unflatten(np.isin(dm, dms), counts)
    taus = nominal.taus
    for f in ("pt", "mass"):
        taus = ak.with_field(taus, ak.where(in_group, shifted[f], nominal.taus[f]), f)
    met = propagate_to_met(nominal.met, nominal.taus, taus)
    reselect = _changed(taus, nominal.taus, ("pt", "mass"))
    return Shifted(nominal.replace(taus=taus, met=met), reselect)


def _unclustered(raw, nominal, provider, var, jets) -> Shifted:
    met = shift_met(nominal.met, var.direction)
    return Shifted(nominal.replace(met=met), np.zeros(len(met), dtype=bool))


def _jets(raw, nominal, provider, var, jets) -> Shifted:
    """The jets of a JES/JER variation; the MET moved by the change of the type-1 MET."""
    if jets is None or var.source not in jets.stems:
        raise CorrectionError(
            f"shape variation {var.name!r} needs the jet energy corrections of the era "
            f"(JME jet_jerc file and eras.<era>.jets tags); none were computed"
        )
    shifted = jets.jets(var.source, var.direction)
    met = jets.met_of(var.source, var.direction, base=nominal.met)
    reselect = _changed(shifted, nominal.jets, ("pt", "mass"))
    return Shifted(nominal.replace(jets=shifted, met=met), reselect)


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
    ) -> Shifted:
        """The shifted object record, built from the uncorrected (``raw``) and the nominal
        objects of the same events, and (JES/JER) the jet shifts of
        :func:`hnl_coffea.jets.correct_objects`."""
        build: Builder = SHAPE_SYSTEMATICS[self.stem]["build"]
        return build(raw, nominal, provider, self, jets)


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
