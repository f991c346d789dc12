"""NanoAOD version differences on the writing side: branch names and DeepTau encodings.

``modern`` follows NanoAOD v12-v14 (DeepTau2018v2p5 working points as integers,
``PFMET_*``, ``Electron_mvaIso_*``); ``legacy`` follows Run-2 NanoAOD v9 (DeepTau2017v2p1
working points as cumulative bit masks, ``MET_*``, ``Electron_mvaFall17V2*``); ``v15``
follows NanoAOD v15: as ``modern``, but without ``Jet_jetId`` (the jet ID is computed from
the energy fractions) and with the unclustered-energy variation as the varied MET
(``PFMET_ptUnclusteredUp/Down``, ``PFMET_phiUnclusteredUp/Down``) instead of
``MetUnclustEnUpDeltaX/Y``.
"""

from __future__ import annotations

import numpy as np

from .detector import DEEPTAU_THRESHOLDS
from .reco import Collection

__all__ = [
    "LAYOUTS",
    "MC_ONLY_COLLECTIONS",
    "scalar_names",
    "to_layout",
    "wp_bitmask",
    "wp_integer",
]

LAYOUTS = ("modern", "legacy", "v15")
#: Collections and fields that exist in simulation only.
MC_ONLY_COLLECTIONS = ("GenPart", "GenJet", "GenVisTau", "GenJetAK8")
MC_ONLY_FIELDS = ("genPartIdx", "genPartFlav", "hadronFlavour", "genJetIdx", "genJetAK8Idx")
MC_ONLY_SCALARS = ("genWeight", "Pileup_nTrueInt")

_ELECTRON_LEGACY = {
    "mvaIso_WP80": "mvaFall17V2Iso_WP80",
    "mvaIso_WP90": "mvaFall17V2Iso_WP90",
    "mvaNoIso_WP90": "mvaFall17V2noIso_WP90",
}
_DEEPTAU = {"modern": "DeepTau2018v2p5", "legacy": "DeepTau2017v2p1", "v15": "DeepTau2018v2p5"}
#: Branches NanoAOD v15 no longer has.
_V15_DROPPED = {"Jet": ("jetId",)}
#: Collections and scalars renamed from NanoAOD v12 on.
_RUN3_NAMES = {"MET": "PFMET", "RawMET": "RawPFMET"}
_RUN3_SCALARS = {"fixedGridRhoFastjetAll": "Rho_fixedGridRhoFastjetAll"}


def wp_integer(raw: np.ndarray, thresholds: tuple[float, ...]) -> np.ndarray:
    """NanoAOD v12 encoding: number of working points passed (0 = none, 1 = loosest …)."""
    return np.searchsorted(np.asarray(thresholds), raw, side="left").astype(np.uint8)


def wp_bitmask(raw: np.ndarray, thresholds: tuple[float, ...]) -> np.ndarray:
    """NanoAOD v9 encoding: bit k set when working point k (loosest = 0) is passed."""
    n_pass = wp_integer(raw, thresholds).astype(np.uint16)
    return ((1 << n_pass) - 1).astype(np.uint8)


def _tau_fields(fields: dict[str, np.ndarray], layout: str) -> dict[str, np.ndarray]:
    tag = _DEEPTAU[layout]
    encode = wp_bitmask if layout == "legacy" else wp_integer
    out = {k: v for k, v in fields.items() if not k.startswith("rawDeepTau")}
    for short, key in (("VSjet", "vsjet"), ("VSe", "vse"), ("VSmu", "vsmu")):
        raw = fields[f"rawDeepTau{short}"]
        out[f"raw{tag}{short}"] = raw
        out[f"id{tag}{short}"] = encode(raw, DEEPTAU_THRESHOLDS[key])
    return out


def to_layout(
    collections: dict[str, Collection], layout: str, is_data: bool = False
) -> dict[str, Collection]:
    """Rename fields and encode working points for a NanoAOD layout; drop MC-only content."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown NanoAOD layout {layout!r}; allowed: {', '.join(LAYOUTS)}")
    out: dict[str, Collection] = {}
    for name, coll in collections.items():
        if is_data and name in MC_ONLY_COLLECTIONS:
            continue
        fields = {k: v for k, v in coll.fields.items() if not k.startswith("_")}
        if is_data:
            fields = {k: v for k, v in fields.items() if k not in MC_ONLY_FIELDS}
        if name == "Tau":
            fields = _tau_fields(fields, layout)
        if name == "Electron" and layout == "legacy":
            fields = {_ELECTRON_LEGACY.get(k, k): v for k, v in fields.items()}
        if layout == "v15":
            fields = {k: v for k, v in fields.items() if k not in _V15_DROPPED.get(name, ())}
            if name == "MET":
                fields = _v15_unclustered(fields)
        if layout != "legacy":
            name = _RUN3_NAMES.get(name, name)
        out[name] = Collection(coll.counts, fields)
    return out


def _v15_unclustered(fields: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The unclustered-energy variation as v15 stores it: the varied MET's pT and φ."""
    fields = dict(fields)
    dx, dy = fields.pop("MetUnclustEnUpDeltaX"), fields.pop("MetUnclustEnUpDeltaY")
    pt, phi = fields["pt"].astype(np.float64), fields["phi"].astype(np.float64)
    x, y = pt * np.cos(phi), pt * np.sin(phi)
    for name, sign in (("Up", 1.0), ("Down", -1.0)):
        vx, vy = x + sign * dx, y + sign * dy
        fields[f"ptUnclustered{name}"] = np.hypot(vx, vy).astype(np.float32)
        fields[f"phiUnclustered{name}"] = np.arctan2(vy, vx).astype(np.float32)
    return fields


def scalar_names(scalars: dict[str, np.ndarray], layout: str) -> dict[str, np.ndarray]:
    """Scalar branches under the layout's names (``Rho_fixedGridRhoFastjetAll`` from v12)."""
    if layout == "legacy":
        return scalars
    return {_RUN3_SCALARS.get(k, k): v for k, v in scalars.items()}
