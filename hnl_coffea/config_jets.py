"""Per-era jet settings of the configuration (``eras.<era>.jets``): the JEC/JER campaign
tags and jet algorithm of the JME ``jet_jerc.json.gz`` file, the JES uncertainty sources,
the jet veto map, the type-1 MET recipe and the jet-ID recipe computed from the energy
fractions when NanoAOD has no ``Jet_jetId`` (v15). ``docs/jets.md`` explains each field.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from ._config_model import ConfigModel

__all__ = [
    "JET_ID_INPUTS",
    "JetEraConfig",
    "JetIdRegion",
    "Type1MetConfig",
    "VetoMapConfig",
]

#: Jet fields a jet-ID recipe may cut on (``multiplicity`` = charged + neutral).
JET_ID_INPUTS = (
    "chHEF",
    "neHEF",
    "chEmEF",
    "neEmEF",
    "muEF",
    "chMultiplicity",
    "neMultiplicity",
    "multiplicity",
)


class JetIdRegion(ConfigModel):
    """One |η| region of a jet-ID recipe: the region ends at ``abs_eta_max`` (inclusive;
    ``null``: no upper edge) and starts where the previous one ends. Every cut is strict:
    ``value > min[field]``, ``value < max[field]``; ``lepton_veto_max`` adds the cuts of the
    TightLepVeto level."""

    abs_eta_max: float | None = Field(default=None, gt=0)
    min: dict[str, float] = {}
    max: dict[str, float] = {}
    lepton_veto_max: dict[str, float] = {}

    @model_validator(mode="after")
    def _fields(self) -> JetIdRegion:
        for cuts in (self.min, self.max, self.lepton_veto_max):
            bad = [k for k in cuts if k not in JET_ID_INPUTS]
            if bad:
                raise ValueError(
                    f"jet-ID cut on unknown field(s) {bad}; allowed: {', '.join(JET_ID_INPUTS)}"
                )
        return self


class Type1MetConfig(ConfigModel):
    """Type-1 MET from the raw MET and the corrected jets (JME recipe)."""

    #: Jets enter with their muon-subtracted, fully corrected pT above this (GeV) ...
    jet_pt_min: float = Field(default=15.0, ge=0)
    #: ... charged + neutral EM energy fraction below this ...
    em_fraction_max: float = Field(default=0.9, gt=0)
    #: ... and |η| below this.
    abs_eta_max: float = Field(default=5.2, gt=0)
    #: Propagate the JER smearing of simulated jets (type-1 smeared MET).
    jer_smeared: bool = True


class VetoMapConfig(ConfigModel):
    """Which jets veto an event when they lie in a hot or cold region of the jet veto map
    (JME recipe): corrected pT above ``pt_min``, the tight jet ID, charged + neutral EM
    fraction below ``em_fraction_max`` and no muon within ``muon_dr``."""

    #: The correction in ``jetvetomaps.json.gz`` (e.g. ``Summer22EE_23Sep2023_RunEFG_V1``);
    #: null: no veto map for this era.
    name: str | None = None
    #: Its ``type`` input (``jetvetomap``: the map JME recommends for analyses).
    type: str = "jetvetomap"
    pt_min: float = Field(default=15.0, ge=0)
    em_fraction_max: float = Field(default=0.9, gt=0)
    muon_dr: float = Field(default=0.2, ge=0)
    jet_id: Literal["loose", "tight", "tightlepveto"] = "tight"


class JetEraConfig(ConfigModel):
    """Jet energy corrections of one era, by the names of the JME ``jet_jerc`` file:
    ``<tag>_<MC|DATA>_<level>_<algorithm>`` (JEC, JES sources) and
    ``<jer>_MC_PtResolution_<algorithm>`` / ``<jer>_MC_ScaleFactor_<algorithm>`` (JER)."""

    #: ``AK4PFchs`` (Run 2) or ``AK4PFPuppi`` (Run 3).
    algorithm: Literal["AK4PFchs", "AK4PFPuppi"] = "AK4PFchs"
    #: The MET the jets are propagated to: PF MET (``MET``/``PFMET`` with ``RawMET``/
    #: ``RawPFMET``) for CHS jets, PUPPI MET (``PuppiMET`` with ``RawPuppiMET``) for PUPPI jets.
    met: Literal["pf", "puppi"] = "pf"
    #: JEC campaign of simulation, e.g. ``Summer19UL18_V5``; null: jets as stored.
    jec_mc: str | None = None
    #: JEC campaigns of collision data by run range, e.g. ``Summer19UL18_RunA_V5: [315252,
    #: 316995]``; empty: data jets as stored.
    jec_data: dict[str, tuple[int, int]] = {}
    jec_level: str = "L1L2L3Res"
    #: JER campaign, e.g. ``Summer19UL18_JRV2``; null: no smearing of simulated jets.
    jer: str | None = None
    #: JES uncertainty sources, each a shape variation ``JES_<source>Up/Down``.
    jes_sources: tuple[str, ...] = ("Total",)
    veto_map: VetoMapConfig = VetoMapConfig()
    type1: Type1MetConfig = Type1MetConfig()
    #: Jet-ID recipe used when the file has no ``Jet_jetId`` (NanoAOD v15), |η| regions in
    #: increasing order; empty: such files are refused for this era.
    jet_id: tuple[JetIdRegion, ...] = ()

    @field_validator("jec_data")
    @classmethod
    def _runs(cls, v: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
        spans = sorted((lo, hi, tag) for tag, (lo, hi) in v.items())
        for lo, hi, tag in spans:
            if hi < lo:
                raise ValueError(f"run range of {tag!r} is empty ({lo} > {hi})")
        for (_, hi, a), (lo, _, b) in zip(spans, spans[1:]):
            if lo <= hi:
                raise ValueError(f"run ranges of {a!r} and {b!r} overlap")
        return v

    @field_validator("jet_id")
    @classmethod
    def _regions(cls, v: tuple[JetIdRegion, ...]) -> tuple[JetIdRegion, ...]:
        edges = [r.abs_eta_max for r in v]
        if None in edges[:-1]:
            raise ValueError("only the last jet-ID region may have no upper |eta| edge")
        finite = [e for e in edges if e is not None]
        if finite != sorted(set(finite)):
            raise ValueError(f"jet-ID regions must have increasing |eta| edges, got {edges}")
        return v

    def jec_name(self, tag: str, is_data: bool, level: str | None = None) -> str:
        """``<tag>_<MC|DATA>_<level>_<algorithm>``, the name of a JEC or JES correction."""
        kind = "DATA" if is_data else "MC"
        return f"{tag}_{kind}_{level or self.jec_level}_{self.algorithm}"
