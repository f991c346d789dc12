"""The typed analysis configuration: the one place where thresholds, working points,
channels, eras, binnings and file paths live.

Load with :func:`load_config` (the shipped default, optionally overlaid with user YAML
files and ``key.path=value`` overrides). Every validation problem becomes a one-line
:class:`ConfigError` naming the field and, where it applies, the allowed values.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from ._config_model import ConfigModel
from .config_jets import JetEraConfig
from .paths import data_path
from .postprocessing_config import PostprocessingConfig

__all__ = [
    "AnalysisConfig",
    "BtagAlgorithm",
    "CVMFS_POG_ROOT",
    "ChannelConfig",
    "ConfigError",
    "EraConfig",
    "EventCuts",
    "TriggerLeg",
    "TriggerPath",
    "load_config",
    "DEEPTAU_WPS",
    "DEFAULT_CONFIG",
    "ILLUSTRATIVE_POG_ROOT",
    "POG_FILES",
]

DEFAULT_CONFIG = "config/default.yaml"

#: DeepTau working points, loosest first. v2p5 NanoAOD stores the index+1 as an integer,
#: v2p1 NanoAOD stores bit ``index`` of a bit mask (see :mod:`hnl_coffea.nanoaod`).
DEEPTAU_WPS = ("VVVLoose", "VVLoose", "VLoose", "Loose", "Medium", "Tight", "VTight", "VVTight")
DEEPTAU_VSMU_WPS = ("VLoose", "Loose", "Medium", "Tight")

Flavour = Literal["tau", "mu", "e"]


class ConfigError(ValueError):
    """A configuration problem, with a one-line message naming the field."""


_Model = ConfigModel


def _positive(v: float, info) -> float:  # noqa: ANN001 - pydantic validator
    if v < 0:
        raise ValueError(f"must be >= 0, got {v}")
    return v


class MuonCuts(_Model):
    pt_min: float = 10.0
    abs_eta_max: float = 2.4
    id: Literal["looseId", "mediumId", "mediumPromptId", "tightId"] = "mediumId"
    rel_iso_max: float = 0.15
    dxy_max: float = 0.045
    dz_max: float = 0.2

    _nonneg = field_validator("pt_min", "abs_eta_max", "rel_iso_max", "dxy_max", "dz_max")(
        _positive
    )


class ElectronCuts(_Model):
    pt_min: float = 10.0
    abs_eta_max: float = 2.5
    id: Literal["mvaIso_WP90", "mvaIso_WP80", "mvaNoIso_WP90"] = "mvaIso_WP90"
    rel_iso_max: float = 0.15
    dxy_max: float = 0.045
    dz_max: float = 0.2
    conversion_veto: bool = True
    max_lost_hits: int = Field(default=1, ge=0)

    _nonneg = field_validator("pt_min", "abs_eta_max", "rel_iso_max", "dxy_max", "dz_max")(
        _positive
    )


class TauCuts(_Model):
    pt_min: float = 20.0
    abs_eta_max: float = 2.3
    dz_max: float = 0.2
    decay_modes: tuple[int, ...] = (0, 1, 10, 11)
    deeptau_version: Literal["auto", "2017v2p1", "2018v2p5"] = "auto"
    vs_jet: Literal[DEEPTAU_WPS] = "Medium"  # type: ignore[valid-type]
    vs_e: Literal[DEEPTAU_WPS] = "VVLoose"  # type: ignore[valid-type]
    vs_mu: Literal[DEEPTAU_VSMU_WPS] = "Tight"  # type: ignore[valid-type]

    _nonneg = field_validator("pt_min", "abs_eta_max", "dz_max")(_positive)

    @field_validator("decay_modes")
    @classmethod
    def _dm(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v:
            raise ValueError("must list at least one tau decay mode (allowed: 0, 1, 2, 10, 11)")
        bad = [d for d in v if d not in (0, 1, 2, 10, 11)]
        if bad:
            raise ValueError(f"unknown tau decay mode(s) {bad}; allowed: 0, 1, 2, 10, 11")
        return v


class JetCuts(_Model):
    pt_min: float = 20.0
    abs_eta_max: float = 2.5
    jet_id: Literal["loose", "tight", "tightlepveto"] = "tight"
    btag_wp: Literal["loose", "medium", "tight"] = "medium"

    _nonneg = field_validator("pt_min", "abs_eta_max")(_positive)


class ObjectCuts(_Model):
    muon: MuonCuts = MuonCuts()
    electron: ElectronCuts = ElectronCuts()
    tau: TauCuts = TauCuts()
    jet: JetCuts = JetCuts()
    overlap_dr: float = 0.5
    lepton_separation_dr: float = 0.5
    veto_extra_leptons: bool = True

    _nonneg = field_validator("overlap_dr", "lepton_separation_dr")(_positive)


class ChannelConfig(_Model):
    """A final state: how many τh, μ and e it has, and which trigger groups may fire."""

    name: str
    label: str
    n_tau: int = Field(ge=1, le=3)
    n_mu: int = Field(ge=0, le=2)
    n_e: int = Field(ge=0, le=2)
    triggers: tuple[str, ...]

    @model_validator(mode="after")
    def _three(self) -> ChannelConfig:
        if self.n_tau + self.n_mu + self.n_e != 3:
            raise ValueError(f"channel {self.name!r} must have exactly 3 leptons")
        return self

    @property
    def flavours(self) -> tuple[str, ...]:
        """Lepton flavours in feature order: taus, then muons, then electrons."""
        return ("tau",) * self.n_tau + ("mu",) * self.n_mu + ("e",) * self.n_e


class PrimaryDataset(_Model):
    name: str
    trigger_group: str


class BtagAlgorithm(_Model):
    """The b-tagging discriminant of an era: its NanoAOD branch and its BTV correction prefix."""

    branch: str = "btagDeepFlavB"
    #: Prefix of the BTV corrections (``<prefix>_comb``, ``<prefix>_light``, ``<prefix>_incl``).
    correction: str = "deepJet"
    #: Scale factors of light jets: ``<prefix>_incl`` (UL) or ``<prefix>_light`` (Run 3); b
    #: and c jets take ``<prefix>_comb``.
    light: Literal["incl", "light"] = "incl"


_PDG_CODE = {"tau": 15, "mu": 13, "e": 11}


class TriggerLeg(_Model):
    """One offline lepton a trigger path needs: thresholds above the turn-on and how it is
    matched to a ``TrigObj``.

    ``filter_bits`` are bit numbers (0 = least significant) of ``TrigObj_filterBits`` that
    the matched trigger object must all have; their meaning depends on the NanoAOD version
    (``docs/triggers.md`` lists the sources).
    """

    object: Flavour
    pt_min: float = Field(ge=0)
    abs_eta_max: float = Field(gt=0)
    filter_bits: tuple[Annotated[int, Field(ge=0, le=63)], ...] = ()
    dr_max: float = Field(default=0.5, gt=0)

    @property
    def pdg_id(self) -> int:
        """``TrigObj_id`` of the leg's trigger objects (11, 13 or 15)."""
        return _PDG_CODE[self.object]

    @property
    def bit_mask(self) -> int:
        """``filter_bits`` as one integer mask."""
        return sum(1 << b for b in set(self.filter_bits))


class TriggerPath(_Model):
    """An HLT path's offline legs and where it is used (data runs, simulation)."""

    legs: tuple[TriggerLeg, ...]
    #: First and last run (inclusive; ``null``: open) in which collision data use the path.
    data_runs: tuple[int | None, int | None] | None = None
    #: Whether simulated events use the path.
    simulation: bool = True

    @field_validator("legs")
    @classmethod
    def _legs(cls, v: tuple[TriggerLeg, ...]) -> tuple[TriggerLeg, ...]:
        if not 1 <= len(v) <= 3:
            raise ValueError(f"a trigger path needs 1 to 3 offline legs, got {len(v)}")
        return v


class EraConfig(_Model):
    """Everything that changes from one data-taking period to the next.

    Every era-dependent setting of the analysis lives here, resolved per dataset from its
    ``era`` metadata (see :meth:`AnalysisConfig.for_era`); ``docs/eras.md`` lists them.
    """

    name: str
    run: Literal[2, 3] = 2
    #: Centre-of-mass energy in TeV (13 for Run 2, 13.6 for Run 3).
    sqrt_s_tev: float = Field(default=13.0, gt=0)
    luminosity_fb: float = Field(gt=0)
    #: Relative luminosity uncertainties by nuisance name, as the LUM POG splits them: a name
    #: shared by several eras is fully correlated between them (e.g. ``lumi_13TeV_correlated``).
    luminosity_uncertainties: dict[str, float] = {}
    #: First and last run of the era (collision data outside it are reported).
    runs: tuple[int, int] | None = None
    #: DeepTau version of the era's τh identification and of its TAU POG corrections.
    deeptau: Literal["2017v2p1", "2018v2p5"] = "2018v2p5"
    btag: BtagAlgorithm = BtagAlgorithm()
    btag_wp: dict[Literal["loose", "medium", "tight"], Annotated[float, Field(ge=0, le=1)]]
    triggers: dict[str, tuple[str, ...]]
    #: Offline legs (thresholds, TrigObj matching) and data/simulation use of every HLT path
    #: of ``triggers``, by path name without the ``HLT_`` prefix.
    trigger_paths: dict[str, TriggerPath] = {}
    #: Certified-luminosity (golden) JSON, relative to the data folder or absolute.
    golden_json: str | None = None
    #: Primary datasets in priority order (an event is taken from the first whose group fired).
    primary_datasets: tuple[PrimaryDataset, ...] = ()
    #: MET noise filters required of every event (NanoAOD ``Flag_<name>``), as JME recommends.
    met_filters: tuple[str, ...] = ()
    #: Era folder of the jsonpog-integration POG tree, e.g. ``2018_UL``, ``2022_Summer22EE``.
    pog_tag: str | None = None
    #: Per-era overrides of ``corrections.files`` (``null`` switches a file off for this era).
    pog_files: dict[str, str | None] = {}
    #: Correction names of this era, by scale-factor key (see ``hnl_coffea.corrections.names``).
    correction_names: dict[str, str] = {}
    #: Fixed string inputs of this era's corrections, by scale-factor key.
    correction_inputs: dict[str, dict[str, str]] = {}
    #: Jet energy corrections, JES/JER uncertainties, veto map, type-1 MET and jet ID.
    jets: JetEraConfig = JetEraConfig()
    #: b-tagging efficiency of simulated jets per flavour, pT and |η| (correctionlib JSON
    #: written by ``hnl-coffea btag-efficiency``), relative to the data folder or absolute;
    #: null: no b-tag scale factors for this era.
    btag_efficiency: str | None = None

    @field_validator("luminosity_uncertainties")
    @classmethod
    def _lumi_unc(cls, v: dict[str, float]) -> dict[str, float]:
        bad = {k: x for k, x in v.items() if not (0 <= x < 1)}
        if bad:
            raise ValueError(f"relative luminosity uncertainties must lie in [0, 1), got {bad}")
        return v

    @model_validator(mode="after")
    def _trigger_paths(self) -> EraConfig:
        paths = list(dict.fromkeys(p for group in self.triggers.values() for p in group))
        missing = [p for p in paths if p not in self.trigger_paths]
        if missing:
            raise ValueError(
                f"trigger_paths: no offline legs for HLT path(s) {missing}; every path of "
                "triggers needs {legs: [{object, pt_min, abs_eta_max, filter_bits, dr_max}]}"
            )
        unused = [p for p in self.trigger_paths if p not in paths]
        if unused:
            raise ValueError(
                f"trigger_paths: path(s) {unused} belong to no trigger group; "
                f"the groups' paths are: {', '.join(paths)}"
            )
        return self

    @property
    def luminosity_uncertainty(self) -> float:
        """The total relative luminosity uncertainty (quadratic sum of its parts)."""
        return float(sum(x * x for x in self.luminosity_uncertainties.values()) ** 0.5)

    @property
    def energy_label(self) -> str:
        """``13TeV`` or ``13p6TeV``, as in CMS nuisance names."""
        return f"{self.sqrt_s_tev:g}TeV".replace(".", "p")


class RegionConfig(_Model):
    """A region defined as data: which standard requirements it applies or inverts.

    Regions must not share events unless they declare it (``overlaps``): two regions are
    disjoint when one applies the b-jet veto and the other inverts it, or when one requires
    an OSSF e/μ pair within ``w`` of m_Z and the other vetoes such pairs within at least ``w``.
    """

    name: str
    bjet_veto: Literal["apply", "invert", "ignore"] = "apply"
    z_window_gev: float | None = Field(default=None, gt=0)  # OSSF e/μ pair within this of m_Z
    z_veto_gev: float | None = Field(default=None, gt=0)  # reject events with such a pair
    #: Regions this one may share events with (blinding then covers both).
    overlaps: tuple[str, ...] = ()

    def disjoint_from(self, other: RegionConfig) -> bool:
        """Whether no event can be in both regions, by their definitions."""
        if {self.bjet_veto, other.bjet_veto} == {"apply", "invert"}:
            return True
        return any(
            a.z_window_gev is not None
            and b.z_veto_gev is not None
            and a.z_window_gev <= b.z_veto_gev
            for a, b in ((self, other), (other, self))
        )


class EventCuts(_Model):
    """Event-level requirements applied before the object selection."""

    #: At least this many good primary vertices (``PV_npvsGood``).
    min_good_vertices: int = Field(default=1, ge=0)


class Binning(_Model):
    bins: int = Field(gt=0)
    start: float
    stop: float
    label: str = ""

    @model_validator(mode="after")
    def _order(self) -> Binning:
        if not self.stop > self.start:
            raise ValueError(f"stop ({self.stop}) must be greater than start ({self.start})")
        return self


class HistogramConfig(_Model):
    score: Binning = Binning(bins=200, start=0.0, stop=1.0, label="Classifier score")
    mt_total: Binning = Binning(bins=400, start=0.0, stop=2000.0, label=r"$M_T^{tot}$ [GeV]")
    mass_regression: Binning = Binning(bins=300, start=0.0, stop=1500.0, label=r"$m_N^{reg}$ [GeV]")
    features: dict[str, Binning] = {}
    #: Mean-score axis of the MC-dropout σ-vs-score histograms (coarse: one cell per σ bin).
    mc_dropout_score: Binning = Binning(bins=10, start=0.0, stop=1.0, label="MC-dropout mean score")
    #: Per-event MC-dropout standard deviation of the score (at most 0.5 for a score in [0, 1]).
    mc_dropout_std: Binning = Binning(
        bins=50, start=0.0, stop=0.5, label=r"MC-dropout $\sigma$(score)"
    )
    #: Mean-mass axis of the MC-dropout σ-vs-mass histogram of the mass regressor.
    mc_dropout_mass: Binning = Binning(
        bins=15, start=0.0, stop=1500.0, label=r"MC-dropout mean $m_N^{reg}$ [GeV]"
    )
    #: Per-event MC-dropout standard deviation of the regressed mass over its mean.
    mc_dropout_mass_rel_std: Binning = Binning(
        bins=50, start=0.0, stop=0.5, label=r"MC-dropout $\sigma(m_N^{reg}) / m_N^{reg}$"
    )


#: The correction files of the jsonpog-integration ``POG/`` tree, by kind, relative to the POG
#: root; ``{tag}`` is the era's ``pog_tag`` (e.g. ``TAU/2018_UL/tau.json.gz``).
POG_FILES: dict[str, str] = {
    "tau": "TAU/{tag}/tau.json.gz",
    "muon": "MUO/{tag}/muon_Z.json.gz",
    "electron": "EGM/{tag}/electron.json.gz",
    "electron_trigger": "EGM/{tag}/electronHlt.json.gz",
    "pileup": "LUM/{tag}/puWeights.json.gz",
    "btag": "BTV/{tag}/btagging.json.gz",
    "jerc": "JME/{tag}/jet_jerc.json.gz",
    "jetvetomap": "JME/{tag}/jetvetomaps.json.gz",
}
CorrectionFile = Literal[
    "tau", "muon", "electron", "electron_trigger", "pileup", "btag", "jerc", "jetvetomap"
]
#: Where CMS publishes the POG tree (used by default when it is mounted).
CVMFS_POG_ROOT = "/cvmfs/cms.cern.ch/rsync/cms-nanoAOD/jsonpog-integration/POG"
#: The illustrative correction files shipped with hnl-coffea, in the same layout.
ILLUSTRATIVE_POG_ROOT = "corrections/POG"


class CorrectionsConfig(_Model):
    """correctionlib files, found per era in a jsonpog-integration ``POG/`` tree."""

    #: Root of the POG tree: ``auto`` takes the CMS tree on /cvmfs when it is mounted, else
    #: the illustrative files shipped with hnl-coffea (``corrections/POG``, same layout).
    #: Relative paths are resolved inside hnl-coffea's data folder.
    pog_root: str = "auto"
    #: The file of each kind below the root (``{tag}``: the era's ``pog_tag``); ``null``
    #: switches every correction read from that file off. Eras override with ``pog_files``.
    files: dict[CorrectionFile, str | None] = dict(POG_FILES)
    tau_energy_scale: bool = True
    met_unclustered: bool = True
    #: JES (``JES_<source>``, sources per era) and JER shape variations of simulated jets.
    jet_energy_scale: bool = True
    jet_energy_resolution: bool = True
    #: Seed of the per-jet random numbers of the stochastic JER smearing (each jet's number
    #: is a function of this seed, run, luminosity block, event and jet index only).
    jer_seed: int = Field(default=0, ge=0)
    #: Apply the fixed-WP b-tag scale factors (``eras.<era>.btag_efficiency``) to the b veto.
    btag_sf: bool = True
    systematics: bool = True
    #: Inputs outside a correction's binned domain: clamp to the edge with a counted
    #: warning, or raise an error naming the correction and input.
    out_of_domain: Literal["clamp", "error"] = "clamp"
    #: Trigger scale factor of each trigger group (``trigger_mu``: MUO single μ,
    #: ``trigger_e``: EGM single e, ``tau_trigger``: TAU di-τ), applied to the matched legs of
    #: the path an event is assigned to; a group not listed gets none.
    trigger_scale_factors: dict[str, Literal["trigger_mu", "trigger_e", "tau_trigger"]] = {
        "single_mu": "trigger_mu",
        "single_e": "trigger_e",
        "ditau": "tau_trigger",
    }
    #: Overrides of the correction names for every era, by scale-factor key (see
    #: ``hnl_coffea.corrections.names``); per-era names go to ``eras.<era>.correction_names``.
    names: dict[str, str] = {}

    @field_validator("files", mode="before")
    @classmethod
    def _all_files(cls, v: Any) -> Any:
        return {**POG_FILES, **v} if isinstance(v, Mapping) else v


class ModelsConfig(_Model):
    """Model artifacts; relative paths are resolved inside hnl-coffea's data folder."""

    parametric: str | None = "models/parametric.pt"
    transfer: str | None = "models/transfer.pt"
    mass_regression: str | None = "models/mass_regression.pt"
    #: Verdict of the model comparison written by ``hnl-coffea train`` (best discriminant
    #: overall and per mass hypothesis); read by ``postprocessing.datacard_discriminant: auto``.
    comparison: str | None = "models/comparison.json"
    device: str = Field(default="cpu", pattern=r"^(cpu|cuda(:\d+)?)$")
    threads: int = Field(default=1, ge=1)
    #: "bf16": the transfer backbone in bfloat16 (max |Δscore| ~1e-2); "bf16x3": as three
    #: bfloat16 products per layer (≤ 1e-3, about three times the bf16 cost); "auto": bf16
    #: where native. Without native bfloat16 each falls back to fp32 with a warning.
    precision: Literal["auto", "fp32", "bf16", "bf16x3"] = "fp32"
    #: Monte-Carlo dropout passes per event (0: off). With N > 0 the processor also fills
    #: ``score_<model>_mc`` and ``score_<model>_mcstd`` for the classifiers in
    #: ``mc_dropout_models``, and ``mass_regression_mc`` / ``mass_regression_mcstd`` when it
    #: names the mass regressor.
    mc_dropout_passes: int = Field(default=0, ge=0)
    mc_dropout_models: tuple[Literal["parametric", "transfer", "mass_regression"], ...] = (
        "parametric",
        "transfer",
        "mass_regression",
    )


class AnalysisConfig(_Model):
    """The whole analysis configuration (see ``data/config/default.yaml``)."""

    era: str = "2018"
    eras: dict[str, EraConfig]
    objects: ObjectCuts = ObjectCuts()
    channels: tuple[ChannelConfig, ...]
    mass_hypotheses: tuple[float, ...]
    event: EventCuts = EventCuts()
    regions: tuple[RegionConfig, ...] = (RegionConfig(name="SR"),)
    histograms: HistogramConfig = HistogramConfig()
    corrections: CorrectionsConfig = CorrectionsConfig()
    models: ModelsConfig = ModelsConfig()
    postprocessing: PostprocessingConfig = PostprocessingConfig()
    redirector: str | None = None
    #: Require the offline legs of a trigger path to match a ``TrigObj`` (ΔR, id, filter
    #: bits); ``false`` keeps the thresholds only, for files without ``TrigObj``.
    trigger_matching: bool = True

    @field_validator("era", mode="before")
    @classmethod
    def _era_str(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int | float) else v

    @model_validator(mode="after")
    def _consistency(self) -> AnalysisConfig:
        if self.era not in self.eras:
            raise ValueError(f"era {self.era!r} unknown; allowed: {', '.join(self.eras)}")
        for key, era in self.eras.items():
            if era.name != key:
                raise ValueError(f"eras.{key}.name is {era.name!r}; it must equal its key {key!r}")
            unknown = [k for k in era.pog_files if k not in POG_FILES]
            if unknown:
                raise ValueError(
                    f"eras.{key}.pog_files: unknown kind(s) {unknown}; allowed: {', '.join(POG_FILES)}"
                )
            groups = [
                pd.trigger_group
                for pd in era.primary_datasets
                if pd.trigger_group not in era.triggers
            ]
            if groups:
                raise ValueError(
                    f"eras.{key}.primary_datasets use trigger group(s) {groups} not in its triggers"
                )
        self._check_regions()
        all_groups = {g for era in self.eras.values() for g in era.triggers}
        unknown_sf = [g for g in self.corrections.trigger_scale_factors if g not in all_groups]
        if unknown_sf:
            raise ValueError(
                f"corrections.trigger_scale_factors: unknown trigger group(s) {unknown_sf}; "
                f"allowed: {', '.join(sorted(all_groups))}"
            )
        names = [c.name for c in self.channels]
        if len(set(names)) != len(names):
            raise ValueError(f"channel names must be unique, got {names}")
        for ch in self.channels:
            for era in self.eras.values():
                missing = [t for t in ch.triggers if t not in era.triggers]
                if missing:
                    raise ValueError(
                        f"channel {ch.name!r} uses trigger group(s) {missing} not defined in era "
                        f"{era.name!r}; allowed: {', '.join(era.triggers)}"
                    )
        for name in ("channels", "regions", "mass_hypotheses"):
            if not getattr(self, name):
                raise ValueError(f"{name} must not be empty")
        if any(m <= 0 for m in self.mass_hypotheses):
            raise ValueError("mass hypotheses must be positive")
        if list(self.mass_hypotheses) != sorted(set(self.mass_hypotheses)):
            raise ValueError("mass hypotheses must be strictly increasing")
        return self

    def _check_regions(self) -> None:
        names = [r.name for r in self.regions]
        if len(set(names)) != len(names):
            raise ValueError(f"region names must be unique, got {names}")
        for region in self.regions:
            unknown = [o for o in region.overlaps if o not in names]
            if unknown:
                raise ValueError(
                    f"region {region.name!r} declares overlaps with unknown region(s) {unknown}; "
                    f"allowed: {', '.join(names)}"
                )
        for i, a in enumerate(self.regions):
            for b in self.regions[i + 1 :]:
                declared = b.name in a.overlaps or a.name in b.overlaps
                if not declared and not a.disjoint_from(b):
                    raise ValueError(
                        f"regions {a.name!r} and {b.name!r} can share events: make them disjoint "
                        "(bjet_veto apply/invert, or z_window_gev within the other's "
                        "z_veto_gev) or declare it in regions[].overlaps"
                    )

    @property
    def blinded_regions(self) -> tuple[str, ...]:
        """``postprocessing.blinded_regions`` and every region declared to overlap one."""
        blinded = set(self.postprocessing.blinded_regions)
        for r in self.regions:
            if r.name in blinded or blinded & set(r.overlaps):
                blinded.add(r.name)
                blinded |= set(r.overlaps)
        return tuple(r.name for r in self.regions if r.name in blinded)

    @property
    def era_config(self) -> EraConfig:
        """The settings of the era this configuration is resolved for (see :meth:`for_era`)."""
        return self.eras[self.era]

    def for_era(self, era: str | None, *, deeptau: str | None = None) -> AnalysisConfig:
        """This configuration as seen by a dataset of ``era`` (None: the configured era).

        Every era-dependent step reads ``cfg.era_config``, so processing a dataset with
        ``cfg.for_era(meta.era)`` resolves triggers, working points, certification,
        correction files and names, luminosity and √s for that dataset's era. ``deeptau``
        pins the DeepTau version actually used (the one found in the file).
        """
        era = self.era if era is None else str(era)
        if era not in self.eras:
            raise ConfigError(f"era {era!r} unknown; allowed: {', '.join(self.eras)}")
        if era == self.era and deeptau in (None, self.objects.tau.deeptau_version):
            return self
        update: dict[str, Any] = {"era": era}
        if deeptau is not None:
            tau = self.objects.tau.model_copy(update={"deeptau_version": deeptau})
            update["objects"] = self.objects.model_copy(update={"tau": tau})
        return self.model_copy(update=update)

    @property
    def deeptau_version(self) -> str:
        """The DeepTau version of this view: ``objects.tau.deeptau_version``, or the era's."""
        v = self.objects.tau.deeptau_version
        return self.era_config.deeptau if v == "auto" else v

    @property
    def channel_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.channels)

    def channel(self, name: str) -> ChannelConfig:
        for c in self.channels:
            if c.name == name:
                return c
        raise ConfigError(f"unknown channel {name!r}; allowed: {', '.join(self.channel_names)}")

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def with_overrides(self, overrides: Mapping[str, Any] | Iterable[str]) -> AnalysisConfig:
        """A copy with ``{"a.b": value}`` or ``["a.b=value"]`` overrides applied."""
        data = self.to_dict()
        _apply_overrides(data, overrides)
        return _validate(data)


# ---------------------------------------------------------------- loading and errors


def _format_error(err: ValidationError) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "<root>"
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
        parent = _model_at(AnalysisConfig, first["loc"][:-1])
        if parent is not None:
            allowed = list(parent.model_fields)
            close = difflib.get_close_matches(str(first["loc"][-1]), allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            msg += f"{hint}; allowed: {', '.join(allowed)}"
    elif first["type"] == "literal_error":
        msg = msg.replace("Input should be", "must be one of")
    elif first["type"] == "string_pattern_mismatch" and loc == "models.device":
        msg = f"must be 'cpu' or 'cuda[:N]', got {first['input']!r}"
    elif first["type"] in ("finite_number", "greater_than", "greater_than_equal", "less_than"):
        msg = f"{msg.replace('Input should be', 'must be')}, got {first['input']!r}"
    more = f" (+{len(err.errors()) - 1} more)" if len(err.errors()) > 1 else ""
    return f"config field '{loc}': {msg}{more}"


def _model_at(model: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        ann = field.annotation
        inner = getattr(ann, "__args__", None)
        candidates = [ann, *(inner or ())]
        nxt = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
        if nxt is None:
            return None
        model = nxt
    return model


def _validate(data: Mapping[str, Any]) -> AnalysisConfig:
    try:
        return AnalysisConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_error(err)) from None


def _deep_merge(base: dict, update: Mapping) -> dict:
    for k, v in update.items():
        if isinstance(v, Mapping) and isinstance(base.get(k), dict):
            _deep_merge(base[k], v)
        else:
            base[k] = v
    return base


def _apply_overrides(data: dict, overrides: Mapping[str, Any] | Iterable[str]) -> None:
    items = overrides.items() if isinstance(overrides, Mapping) else (_split(o) for o in overrides)
    for key, value in items:
        node = data
        parts = key.split(".")
        for p in parts[:-1]:
            if not isinstance(node, dict) or p not in node:
                raise ConfigError(f"config field '{key}': unknown key {p!r}")
            node = node[p]
        if not isinstance(node, dict):
            raise ConfigError(f"config field '{key}': cannot set a field inside a non-mapping")
        node[parts[-1]] = value


def _split(item: str) -> tuple[str, Any]:
    if "=" not in item:
        raise ConfigError(f"override {item!r} must look like 'section.field=value'")
    key, raw = item.split("=", 1)
    return key.strip(), yaml.safe_load(raw)


def _read_yaml(path: Path) -> dict:
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError(f"config file {path}: {err.strerror or err}") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        raise ConfigError(
            f"config file {path}: invalid YAML ({str(err).splitlines()[0]})"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: top level must be a mapping")
    return data


def load_config(
    *paths: str | Path | None,
    overrides: Mapping[str, Any] | Iterable[str] = (),
) -> AnalysisConfig:
    """Load the shipped default configuration, overlaid with user YAML files and overrides.

    ``paths`` are merged in order on top of ``data/config/default.yaml`` (mappings merge
    key by key, everything else replaces); ``overrides`` are ``"a.b=value"`` strings or a
    ``{"a.b": value}`` mapping, applied last.
    """
    data = _read_yaml(data_path(DEFAULT_CONFIG))
    for p in paths:
        if p is not None:
            _deep_merge(data, _read_yaml(Path(p)))
    _apply_overrides(data, overrides)
    return _validate(data)


def config_from_yaml(text: str) -> AnalysisConfig:
    """Build a configuration from a complete YAML document (no default merged in)."""
    return _validate(yaml.safe_load(text))
