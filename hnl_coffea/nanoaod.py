"""NanoAOD version differences behind one small interface.

Run-2 NanoAOD (v7-v9), Run-3 NanoAOD (v12-v14) and v15 differ in a few places that matter:

=====================  ===========================  ===========================  =======================
                       v7-v9 (Run 2 UL)             v12-v14                      v15
=====================  ===========================  ===========================  =======================
DeepTau                ``…2017v2p1VS*`` bit masks   ``…2018v2p5VS*`` (and        ``…2018v2p5VS*``
                       (bit k = passes WP k)        ``…2017v2p1VS*``) integers   integers
                                                    (k+1 = passes WP k)
MET                    ``MET_*``                    ``PFMET_*``                  ``PFMET_*``
unclustered energy     ``MET_MetUnclustEnUpDeltaX/Y``  ``PFMET_MetUnclustEnUpDeltaX/Y``  ``PFMET_ptUnclusteredUp/Down``, ``…phi…``
electron MVA ID        ``Electron_mvaFall17V2Iso_*``  ``Electron_mvaIso_*``      ``Electron_mvaIso_*``
jet ID                 ``Jet_jetId``                ``Jet_jetId``                computed from the energy fractions
=====================  ===========================  ===========================  =======================

How a DeepTau branch is decoded follows the file, not the version name: from NanoAOD v10 on
DeepTau2017v2p1 is stored as working-point integers too. The branch's documentation (its
ROOT title: ``… ID working points (deepTau2017v2p1): bitmask 1 = VVVLoose, 2 = VVLoose,
4 = …`` in v9, ``…: 1 = VVVLoose, 2 = VVLoose, 3 = …`` from v10) decides; without one, a
file that also has DeepTau2018v2p5 branches (v10+) stores integers, otherwise bit masks.

:func:`detect_layout` inspects the branch names of a chunk (no data is read) and returns a
:class:`NanoLayout`; the object code asks the layout for branch names instead of
hard-coding them. A branch that the analysis needs but the file lacks raises
:class:`MissingBranchError` with a one-line message naming the branch and the layout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from .config import DEEPTAU_VSMU_WPS, DEEPTAU_WPS

__all__ = [
    "DEEPTAU_VERSIONS",
    "MissingBranchError",
    "NanoLayout",
    "deeptau_pass",
    "detect_layout",
    "require_fields",
]

DeepTauVersion = Literal["2017v2p1", "2018v2p5"]
DEEPTAU_VERSIONS: tuple[str, ...] = ("2018v2p5", "2017v2p1")

#: Configured electron ID name -> branch suffix in legacy (Fall17V2) NanoAOD.
_LEGACY_ELECTRON_IDS = {
    "mvaIso_WP90": "mvaFall17V2Iso_WP90",
    "mvaIso_WP80": "mvaFall17V2Iso_WP80",
    "mvaNoIso_WP90": "mvaFall17V2noIso_WP90",
}

_DESCRIPTION = {
    "2018v2p5": "NanoAOD v12+ (DeepTau2018v2p5 working-point integers)",
    "2017v2p1": "NanoAOD v7-v9 (DeepTau2017v2p1 bit masks)",
}
DeepTauEncoding = Literal["bitmask", "integer"]


class MissingBranchError(LookupError):
    """A branch the analysis needs is absent from the input file."""

    def __init__(self, branch: str, expected: str) -> None:
        self.branch = branch
        self.expected = expected
        super().__init__(f"NanoAOD branch '{branch}' not found in the input (needed by {expected})")

    def __str__(self) -> str:  # LookupError would quote the whole message otherwise
        return str(self.args[0])


@dataclass(frozen=True)
class NanoLayout:
    """What a NanoAOD file provides, as far as this analysis is concerned."""

    name: str
    """``"modern"`` (DeepTau v2p5) or ``"legacy"`` (DeepTau v2p1)."""
    deeptau: DeepTauVersion
    met: str
    """Name of the PF MET collection: ``"MET"`` or ``"PFMET"``."""
    electron_ids: tuple[tuple[str, str], ...]
    """(configured ID name, Electron branch field) pairs."""
    hlt_paths: frozenset[str] = field(default_factory=frozenset)
    """HLT paths present in the file (without the ``HLT_`` prefix)."""
    is_mc: bool = False
    """Whether generator information (``genWeight``) is present."""
    deeptau_encoding: DeepTauEncoding = "integer"
    """How the file stores the DeepTau working points of :attr:`deeptau`."""
    unclustered: Literal["delta", "v15", "none"] = "delta"
    """The MET unclustered-energy variation: ``MetUnclustEnUpDeltaX/Y`` (``delta``), the
    NanoAOD v15 ``ptUnclusteredUp/Down`` + ``phiUnclusteredUp/Down`` (``v15``), or absent."""

    @property
    def description(self) -> str:
        encoding = "bit masks" if self.deeptau_encoding == "bitmask" else "working-point integers"
        return f"a file read with DeepTau{self.deeptau} {encoding}, MET collection '{self.met}'"

    def electron_id_field(self, id_name: str) -> str:
        """The Electron branch field holding the configured ID ``id_name``."""
        for name, branch in self.electron_ids:
            if name == id_name:
                return branch
        raise MissingBranchError(f"Electron_{id_name}", self.description)

    def deeptau_field(self, discriminator: str) -> str:
        """``idDeepTau<version><discriminator>``, e.g. ``idDeepTau2018v2p5VSjet``."""
        if discriminator not in ("VSjet", "VSe", "VSmu"):
            raise ValueError(
                f"DeepTau discriminator must be VSjet, VSe or VSmu, got {discriminator!r}"
            )
        return f"idDeepTau{self.deeptau}{discriminator}"


def _fields(events: Any, collection: str) -> list[str]:
    return list(events[collection].fields) if collection in events.fields else []


def detect_layout(events: Any, deeptau: str = "auto", prefer: str | None = None) -> NanoLayout:
    """Inspect the branch names of a NanoEvents chunk (virtual or dask) and describe its layout.

    ``deeptau`` forces a DeepTau version (``"2017v2p1"``/``"2018v2p5"``); ``"auto"`` takes
    ``prefer`` (the era's version) when the file has it, else the version the file has
    (v2p5 first).
    """
    tau_fields = set(_fields(events, "Tau"))
    if not tau_fields:
        raise MissingBranchError("Tau_pt", "any NanoAOD version (collection 'Tau' is absent)")
    if deeptau == "auto":
        candidates = tuple(dict.fromkeys([v for v in (prefer,) if v] + list(DEEPTAU_VERSIONS)))
    else:
        candidates = (deeptau,)
    version = next((v for v in candidates if f"idDeepTau{v}VSjet" in tau_fields), None)
    if version is None:
        wanted = " or ".join(f"Tau_idDeepTau{v}VSjet" for v in candidates)
        expected = " or ".join(_DESCRIPTION[v] for v in candidates if v in _DESCRIPTION)
        raise MissingBranchError(wanted, expected or f"DeepTau version {deeptau!r}")

    met = next((m for m in ("PFMET", "MET") if "pt" in _fields(events, m)), None)
    if met is None:
        raise MissingBranchError("MET_pt or PFMET_pt", _DESCRIPTION[version])

    ele_fields = set(_fields(events, "Electron"))
    ids = []
    for name, legacy in _LEGACY_ELECTRON_IDS.items():
        if name in ele_fields:
            ids.append((name, name))
        elif legacy in ele_fields:
            ids.append((name, legacy))
    hlt = frozenset(_fields(events, "HLT"))
    met_fields = set(_fields(events, met))
    if {
        "ptUnclusteredUp",
        "phiUnclusteredUp",
        "ptUnclusteredDown",
        "phiUnclusteredDown",
    } <= met_fields:
        unclustered = "v15"
    elif {"MetUnclustEnUpDeltaX", "MetUnclustEnUpDeltaY"} <= met_fields:
        unclustered = "delta"
    else:
        unclustered = "none"
    return NanoLayout(
        name="modern" if version == "2018v2p5" else "legacy",
        deeptau=version,  # type: ignore[arg-type]
        met=met,
        electron_ids=tuple(ids),
        hlt_paths=hlt,
        is_mc="genWeight" in events.fields,
        deeptau_encoding=_deeptau_encoding(events, version, tau_fields),
        unclustered=unclustered,
    )


def _deeptau_encoding(events: Any, version: str, tau_fields: set[str]) -> DeepTauEncoding:
    """Bit masks or working-point integers, from the branch's title, else from the version
    of the file (DeepTau2018v2p5 branches only exist from NanoAOD v10 on, where every DeepTau
    branch holds integers). Reads no data."""
    doc = ""
    try:
        layout = events.Tau[f"idDeepTau{version}VSjet"].layout
        doc = str(getattr(layout, "content", layout).parameter("__doc__") or "")
    except Exception:  # noqa: BLE001 - a missing title just means no documentation
        doc = ""
    doc = doc.lower()
    if "bitmask" in doc:
        return "bitmask"
    if "working point" in doc:  # documented, and not as a bit mask (NanoAOD v10+)
        return "integer"
    if version == "2018v2p5" or "idDeepTau2018v2p5VSjet" in tau_fields:
        return "integer"
    return "bitmask"


def require_fields(collection: Any, name: str, fields: tuple[str, ...], layout: NanoLayout) -> None:
    """Raise :class:`MissingBranchError` for the first of ``fields`` absent from ``collection``."""
    present = set(collection.fields)
    for f in fields:
        if f not in present:
            raise MissingBranchError(f"{name}_{f}", layout.description)


def deeptau_pass(taus: Any, discriminator: str, wp_name: str, layout: NanoLayout) -> Any:
    """Whether each tau passes DeepTau ``discriminator`` (VSjet/VSe/VSmu) at ``wp_name``.

    Decodes the encoding the file uses (:attr:`NanoLayout.deeptau_encoding`): working-point
    integers (``value >= index + 1``) or cumulative bit masks (bit ``index`` set).
    """
    wps = DEEPTAU_VSMU_WPS if discriminator == "VSmu" else DEEPTAU_WPS
    if wp_name not in wps:
        raise ValueError(
            f"unknown DeepTau {discriminator} working point {wp_name!r}; allowed: {', '.join(wps)}"
        )
    index = wps.index(wp_name)
    branch = layout.deeptau_field(discriminator)
    if branch not in taus.fields:
        raise MissingBranchError(f"Tau_{branch}", layout.description)
    value = taus[branch]
    if getattr(value, "ndim", None) == 1 and type(value).__module__.startswith("awkward"):
        value = np.asarray(value)  # flat (one entry per tau): plain numpy comparisons
    if layout.deeptau_encoding == "integer":
        return value >= index + 1
    return (value & (1 << index)) != 0
