"""NanoAOD version differences behind one small interface.

Run-2 NanoAOD (v7-v9) and Run-3 NanoAOD (v12+) differ in a few places that matter here:

========================  ===================================  ==================================
                          ``legacy`` (v7-v9, Run 2)            ``modern`` (v12+, Run 3)
========================  ===================================  ==================================
DeepTau                   ``Tau_idDeepTau2017v2p1VS*`` bit      ``Tau_idDeepTau2018v2p5VS*`` working
                          masks (bit k = passes WP k)          point integers (k+1 = passes WP k)
MET                       ``MET_*``                            ``PFMET_*``
electron MVA ID           ``Electron_mvaFall17V2Iso_WP90`` ...  ``Electron_mvaIso_WP90`` ...
========================  ===================================  ==================================

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


class MissingBranchError(LookupError):
    """A branch the analysis needs is absent from the input file."""

    def __init__(self, branch: str, expected: str) -> None:
        self.branch = branch
        self.expected = expected
        super().__init__(
            f"NanoAOD branch '{branch}' not found in the input; expected in {expected}"
        )

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

    @property
    def description(self) -> str:
        return f"{_DESCRIPTION[self.deeptau]}, MET collection '{self.met}'"

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
    return NanoLayout(
        name="modern" if version == "2018v2p5" else "legacy",
        deeptau=version,  # type: ignore[arg-type]
        met=met,
        electron_ids=tuple(ids),
        hlt_paths=hlt,
        is_mc="genWeight" in events.fields,
    )


def require_fields(collection: Any, name: str, fields: tuple[str, ...], layout: NanoLayout) -> None:
    """Raise :class:`MissingBranchError` for the first of ``fields`` absent from ``collection``."""
    present = set(collection.fields)
    for f in fields:
        if f not in present:
            raise MissingBranchError(f"{name}_{f}", layout.description)


def deeptau_pass(taus: Any, discriminator: str, wp_name: str, layout: NanoLayout) -> Any:
    """Whether each tau passes DeepTau ``discriminator`` (VSjet/VSe/VSmu) at ``wp_name``.

    Decodes both encodings: v2p5 working-point integers (``value >= index + 1``) and v2p1
    cumulative bit masks (bit ``index`` set).
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
    if layout.deeptau == "2018v2p5":
        return value >= index + 1
    return (value & (1 << index)) != 0
