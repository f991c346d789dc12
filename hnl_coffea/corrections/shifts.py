"""Shape variations: shifted objects on which selection and features are run again.

* ``tauES_DM<k>``: τh energy scale, one nuisance per decay mode k (decorrelated, as in CMS
  τ analyses). The τh ``pt`` and ``mass`` are multiplied by the ``tau_energy_scale``
  correction (inputs pt, eta, dm, genmatch, id, syst; the file decides which gen matches
  are shifted — the shipped one shifts genuine τh, genmatch 5, by 1 ± δ_dm) and the
  change is propagated to the MET.
* ``unclustEn``: MET unclustered energy, MET ± (``MetUnclustEnUpDeltaX``, ``…DeltaY``).

The processor loops over :func:`shape_variations` (data), never over copies of code::

    for var in shape_variations(cfg):
        taus_v, met_v = var.apply(taus, met, provider)
        ...select, compute features, fill with systematic=var.name
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import awkward as ak
import numpy as np

from ..config import AnalysisConfig
from .evaluators import CorrectionProvider
from .names import correction_constants, correction_name

__all__ = [
    "SHAPE_SYSTEMATICS",
    "ShapeVariation",
    "propagate_to_met",
    "shape_variations",
    "shift_met",
    "shift_taus",
]

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
    """MET shifted by ± the unclustered-energy deltas (``MetUnclustEnUpDeltaX/Y``)."""
    sign = {"up": 1.0, "down": -1.0}[direction]
    px, py = _met_xy(met)
    # raw NanoAOD names, or the standardized ones of hnl_coffea.objects.load_objects
    for fx, fy in (("MetUnclustEnUpDeltaX", "MetUnclustEnUpDeltaY"), ("unclust_dx", "unclust_dy")):
        if fx in met.fields and fy in met.fields:
            break
    else:
        raise KeyError(
            "MET unclustered-energy variation needs MET_MetUnclustEnUpDeltaX/Y, absent in this "
            "file; set corrections.met_unclustered=false"
        )
    dx = np.asarray(met[fx], dtype=np.float64)
    dy = np.asarray(met[fy], dtype=np.float64)
    return _with_xy(met, px + sign * dx, py + sign * dy)


def propagate_to_met(met: ak.Array, old_taus: ak.Array, new_taus: ak.Array) -> ak.Array:
    """MET with the change of the taus' transverse momenta subtracted (MET −= Σ Δp_T)."""

    def sum_xy(taus: ak.Array) -> tuple[np.ndarray, np.ndarray]:
        x = ak.sum(taus.pt * np.cos(taus.phi), axis=1)
        y = ak.sum(taus.pt * np.sin(taus.phi), axis=1)
        return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)

    px, py = _met_xy(met)
    ox, oy = sum_xy(old_taus)
    nx, ny = sum_xy(new_taus)
    return _with_xy(met, px - (nx - ox), py - (ny - oy))


# ---------------------------------------------------------------- variations as data
Builder = Callable[
    [ak.Array, ak.Array, CorrectionProvider, str, tuple[int, ...]], tuple[ak.Array, ak.Array]
]


def _tau_es(taus, met, provider, direction, decay_modes):
    new = shift_taus(taus, provider, direction, decay_modes=decay_modes)
    return new, propagate_to_met(met, taus, new)


def _unclustered(taus, met, provider, direction, decay_modes):
    return taus, shift_met(met, direction)


#: Shape systematic stems → how to build the shifted (taus, MET); ``per_dm`` stems get one
#: nuisance per configured τh decay mode. Switched by ``corrections.tau_energy_scale`` and
#: ``corrections.met_unclustered``.
SHAPE_SYSTEMATICS: dict[str, dict] = {
    "tauES": {"build": _tau_es, "per_dm": True, "switch": "tau_energy_scale"},
    "unclustEn": {"build": _unclustered, "per_dm": False, "switch": "met_unclustered"},
}


@dataclass(frozen=True)
class ShapeVariation:
    """One shifted copy of the objects, named as its histogram systematic (``…Up/Down``)."""

    name: str
    stem: str
    direction: Literal["up", "down"]
    decay_modes: tuple[int, ...] = ()

    def apply(
        self, taus: ak.Array, met: ak.Array, provider: CorrectionProvider
    ) -> tuple[ak.Array, ak.Array]:
        """The shifted ``(taus, met)``."""
        build: Builder = SHAPE_SYSTEMATICS[self.stem]["build"]
        return build(taus, met, provider, self.direction, self.decay_modes)


def shape_variations(cfg: AnalysisConfig, *, is_data: bool = False) -> list[ShapeVariation]:
    """Every shape variation to run for this configuration (none for data)."""
    if is_data or not cfg.corrections.systematics:
        return []
    out = []
    for stem, spec in SHAPE_SYSTEMATICS.items():
        if not getattr(cfg.corrections, spec["switch"]):
            continue
        groups = (
            [(f"{stem}_DM{d}", (d,)) for d in cfg.objects.tau.decay_modes]
            if spec["per_dm"]
            else [(stem, ())]
        )
        for name, dms in groups:
            for direction, suffix in (("up", "Up"), ("down", "Down")):
                out.append(ShapeVariation(f"{name}{suffix}", stem, direction, dms))
    return out
