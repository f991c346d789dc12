"""Per-event weights of simulated events: generator weight × scale factors, with Up/Down
variations named for combine (``tauIDUp``, ``tauIDDown``, ...).

The scale factors are data (:data:`SCALE_FACTORS`): each names the correction it is read
from (see :mod:`.names`), the lepton flavour it applies to, and the correction input that
carries the variation. Lepton scale factors multiply over all leptons of that flavour in
the event; the trigger scale factor applies to the trigger leg, the leading light lepton
(μ or e) of the event. Setting ``corrections.files.<kind>: null`` (or the era's ``pog_files``) switches off every scale factor
read from that file (and its variations).

Leptons are an awkward array ``events × leptons`` with fields ``pt``, ``eta``, ``flavour``
(``"tau"``/``"mu"``/``"e"`` or a pdgId; a ``pdgId`` field works too), and for MC
``genPartFlav`` (τh gen match), for taus ``decayMode``, and ``trigger_leg`` (int, −1: no
trigger leg) when a trigger scale factor is active. Electrons may carry
``deltaEtaSC`` (the supercluster η, ``eta + deltaEtaSC``, is then used).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import awkward as ak
import numpy as np
from coffea.analysis_tools import Weights

from ..config import AnalysisConfig
from ..flat import per_event_product
from .evaluators import CorrectionError, CorrectionProvider, correction_file
from .names import CORRECTION_KEYS, correction_constants, correction_name

__all__ = [
    "SCALE_FACTORS",
    "Factors",
    "ScaleFactor",
    "event_weights",
    "scale_factors",
    "trigger_groups_of",
    "variation_sources",
    "weight_variations",
]

PDG_ID = {"tau": 15, "mu": 13, "e": 11}


@dataclass(frozen=True)
class ScaleFactor:
    """One source of per-event weight and its Up/Down variation."""

    name: str  # combine name stem: variations are f"{name}Up" / f"{name}Down"
    key: str  # correction key (see hnl_coffea.corrections.names)
    flavour: Literal["tau", "mu", "e"] | None  # None: a per-event quantity (pile-up)
    variation_input: str  # the correction input selecting nominal / up / down
    variation_values: tuple[str, str, str]  # its values for nominal, up, down
    leg: Literal["all", "trigger"] = "all"

    @property
    def file(self) -> str:
        return CORRECTION_KEYS[self.key]


_TAU = ("nom", "up", "down")
_MUO = ("nominal", "systup", "systdown")
_EGM = ("sf", "sfup", "sfdown")

#: Every scale factor applied to simulated events (several entries may share a name: their
#: product then forms one weight with one variation, e.g. the μ or e trigger leg).
SCALE_FACTORS: tuple[ScaleFactor, ...] = (
    ScaleFactor("pileup", "pileup", None, "weights", ("nominal", "up", "down")),
    ScaleFactor("tauID", "tau_vsjet", "tau", "syst", _TAU),
    ScaleFactor("tauIDvsE", "tau_vse", "tau", "syst", _TAU),
    ScaleFactor("tauIDvsMu", "tau_vsmu", "tau", "syst", _TAU),
    ScaleFactor("muonID", "muon_id", "mu", "scale_factors", _MUO),
    ScaleFactor("muonIso", "muon_iso", "mu", "scale_factors", _MUO),
    ScaleFactor("eleID", "electron_id", "e", "ValType", _EGM),
    ScaleFactor("triggerMu", "trigger_mu", "mu", "scale_factors", _MUO, leg="trigger"),
    ScaleFactor("triggerE", "trigger_e", "e", "ValType", _EGM, leg="trigger"),
    ScaleFactor("triggerDiTau", "tau_trigger", "tau", "syst", _TAU, leg="trigger"),
)


def trigger_groups_of(cfg: AnalysisConfig, key: str) -> list[int]:
    """Indices (as in the leptons' ``trigger_leg``) of the era's trigger groups whose scale
    factor is ``key`` (``corrections.trigger_scale_factors``)."""
    groups = list(cfg.era_config.triggers)
    return [
        groups.index(g)
        for g, k in cfg.corrections.trigger_scale_factors.items()
        if k == key and g in groups
    ]


def _active(cfg: AnalysisConfig) -> list[ScaleFactor]:
    """The scale factors whose file the era has (``null`` switches a file's factors off);
    trigger scale factors only where a trigger group of the era uses them."""
    return [
        sf
        for sf in SCALE_FACTORS
        if correction_file(cfg, sf.file) is not None
        and (sf.leg != "trigger" or trigger_groups_of(cfg, sf.key))
    ]


def weight_variations(
    cfg: AnalysisConfig, provider: CorrectionProvider, *, is_data: bool = False, jets: bool = True
) -> list[str]:
    """Names of the weight variations (``<name>Up``/``Down``, ``<name>_<part>Up``/``Down``
    where the file splits an uncertainty) that :func:`event_weights` produces (``jets``:
    given jets, with the b-tag scale factors)."""
    if is_data or not cfg.corrections.systematics:
        return []
    from .btag import btag_variation_names

    names: dict[str, None] = {}
    for sf in _active(cfg):
        for mod, _, _ in variation_sources(sf, cfg, provider):
            stem = f"{sf.name}_{mod}" if mod else sf.name
            names.update({f"{stem}Up": None, f"{stem}Down": None})
    if jets:
        names.update(dict.fromkeys(btag_variation_names(cfg, provider)))
    return list(names)


# ---------------------------------------------------------------- lepton helpers
def _is_string(array: ak.Array) -> bool:
    return "string" in str(ak.type(array))


def flavour_mask(leptons: ak.Array, flavour: str) -> ak.Array:
    """Boolean ``events × leptons`` mask of leptons with ``flavour`` ("tau", "mu", "e")."""
    if "flavour" in leptons.fields:
        field = leptons.flavour
        if _is_string(field):
            return field == flavour
    elif "pdgId" in leptons.fields:
        field = leptons.pdgId
    else:
        raise CorrectionError("leptons need a 'flavour' ('tau'/'mu'/'e' or pdgId) or 'pdgId' field")
    return abs(field) == PDG_ID[flavour]


@dataclass(frozen=True)
class _FlatLeptons:
    """The leptons of a chunk flattened once: correction inputs, flavours and trigger legs."""

    counts: np.ndarray
    columns: dict[str, np.ndarray]
    flavours: dict[str, np.ndarray]
    trigger_leg: np.ndarray | None
    """Per lepton: the trigger group whose leg it takes (−1: none); None when not given."""

    @classmethod
    def build(cls, leptons: ak.Array) -> _FlatLeptons:
        counts = np.asarray(ak.num(leptons, axis=1), dtype=np.int64)
        flat = ak.flatten(leptons, axis=1)
        fields = set(flat.fields)

        def column(name: str, dtype: Any, fill: Any = None) -> np.ndarray:
            values = flat[name]
            if fill is not None and values.layout.is_option:
                values = ak.fill_none(values, fill)
            return np.asarray(values, dtype=dtype)

        columns = {"pt": column("pt", np.float64), "eta": column("eta", np.float64)}
        if "deltaEtaSC" in fields:
            columns["deltaEtaSC"] = column("deltaEtaSC", np.float64)
        if "decayMode" in fields:
            columns["dm"] = column("decayMode", np.int64, -1)
        if "genPartFlav" in fields:
            columns["genmatch"] = column("genPartFlav", np.int64, 0)
        if "flavour" in fields and _is_string(flat["flavour"]):
            flavours = {f: np.asarray(flat["flavour"] == f, dtype=bool) for f in PDG_ID}
        else:
            if "flavour" in fields:
                code = np.abs(np.asarray(flat["flavour"]))
            elif "pdgId" in fields:
                code = np.abs(np.asarray(flat["pdgId"]))
            else:
                flavour_mask(leptons, "tau")  # raises the error naming the missing field
            flavours = {f: code == PDG_ID[f] for f in PDG_ID}
        legs = column("trigger_leg", np.int64, -1) if "trigger_leg" in fields else None
        return cls(counts, columns, flavours, legs)

    def inputs(self, mask: np.ndarray, flavour: str) -> dict[str, Any]:
        """Correction inputs (``pt``, ``eta``, ``abseta``, ``dm``, ``genmatch``) of ``mask``."""
        cols = self.columns
        eta = cols["eta"][mask]
        if flavour == "e" and "deltaEtaSC" in cols:
            eta = eta + cols["deltaEtaSC"][mask]
        values: dict[str, Any] = {"pt": cols["pt"][mask], "eta": eta, "abseta": np.abs(eta)}
        for name in ("dm", "genmatch"):
            if name in cols:
                values[name] = cols[name][mask]
        return values

    def product(self, per_lepton: np.ndarray) -> np.ndarray:
        """Per-event product of per-lepton factors (1 for events without leptons)."""
        return per_event_product(per_lepton, self.counts)


def _event_field(events_info: ak.Array, name: str) -> np.ndarray:
    """``Pileup_nTrueInt`` as a flat field or as ``events.Pileup.nTrueInt``."""
    if name in events_info.fields:
        return np.asarray(events_info[name], dtype=np.float64)
    head, _, tail = name.partition("_")
    if head in events_info.fields and tail in events_info[head].fields:
        return np.asarray(events_info[head][tail], dtype=np.float64)
    raise CorrectionError(f"event record has no field {name!r} (needed for the event weight)")


def _evaluate_sf(
    sf: ScaleFactor, leptons: _FlatLeptons, events_info: ak.Array, cfg, provider, variations
) -> list[np.ndarray]:
    """Per-event factors, one per requested variation value."""
    name = correction_name(cfg, sf.key)
    const = correction_constants(cfg, sf.key)
    if sf.flavour is None:
        values = {"NumTrueInteractions": _event_field(events_info, "Pileup_nTrueInt"), **const}
        return [
            np.asarray(
                provider.evaluate_named(sf.file, name, {**values, sf.variation_input: v}),
                dtype=np.float64,
            )
            for v in variations
        ]
    mask = leptons.flavours[sf.flavour]
    if sf.leg == "trigger":
        if leptons.trigger_leg is None:
            raise CorrectionError(
                f"leptons have no 'trigger_leg' field, needed for the {sf.name} scale factor "
                "(hnl_coffea.channels.select sets it: the trigger group whose leg each lepton "
                "takes, -1 for none)"
            )
        mask = mask & np.isin(leptons.trigger_leg, trigger_groups_of(cfg, sf.key))
    values = {**leptons.inputs(mask, sf.flavour), **const}
    n_chosen = int(mask.sum())
    out = []
    for v in variations:
        per_lepton = np.ones(len(mask))
        if n_chosen:
            per_lepton[mask] = provider.evaluate_named(
                sf.file, name, {**values, sf.variation_input: v}
            )
        out.append(leptons.product(per_lepton))
    return out


def variation_sources(
    sf: ScaleFactor, cfg: AnalysisConfig, provider: CorrectionProvider
) -> list[tuple[str, str, str]]:
    """``(modifier, up value, down value)`` of each uncertainty the correction file offers.

    A file with a total up/down (``"up"``/``"down"``, ``"systup"``…) gives one source with
    modifier ``""`` (nuisance ``<name>Up/Down``). Files that split the uncertainty into
    named parts instead — the UL τ ID scale factors by decay mode offer ``stat1_dm0_up``,
    ``syst_2018_up``, ``syst_alleras_up``… but no total — give one source per
    ``<part>_up``/``<part>_down`` pair (nuisance ``<name>_<part>Up/Down``), so no variation
    is silently equal to the nominal. A file offering neither is an error naming the values
    it has.
    """
    _, up, down = sf.variation_values
    name = correction_name(cfg, sf.key)
    const = correction_constants(cfg, sf.key)
    keys = provider.variation_keys(sf.file, name, sf.variation_input, const)
    if up in keys and down in keys:
        return [("", up, down)]
    parts = sorted(k[:-3] for k in keys if k.endswith("_up") and f"{k[:-3]}_down" in keys)
    if not parts:
        raise CorrectionError(
            f"era {cfg.era!r}: correction {name!r} ({provider.path(sf.file)}) offers no "
            f"{up!r}/{down!r} for input {sf.variation_input!r} with {const}; it has: "
            + ", ".join(sorted(keys))
        )
    return [(p, f"{p}_up", f"{p}_down") for p in parts]


@dataclass
class Factors:
    """Per-event factors of one weight: the nominal and, per uncertainty source (modifier
    ``""`` for a single total), the up and down factors."""

    nominal: np.ndarray
    variations: dict[str, tuple[np.ndarray, np.ndarray]]

    def __mul__(self, other: Factors) -> Factors:
        """The product of two weights sharing a name (e.g. the μ and e trigger legs): each
        source shifts its own factor, the other stays nominal."""
        out = {}
        for mod in dict.fromkeys([*self.variations, *other.variations]):
            a = self.variations.get(mod, (self.nominal, self.nominal))
            b = other.variations.get(mod, (other.nominal, other.nominal))
            out[mod] = (a[0] * b[0], a[1] * b[1])
        return Factors(self.nominal * other.nominal, out)


def scale_factors(
    leptons: ak.Array,
    events_info: ak.Array,
    cfg: AnalysisConfig,
    provider: CorrectionProvider,
    *,
    variations: bool = True,
) -> dict[str, Factors]:
    """Per-event factors of every scale factor, by weight name (no variations unless
    ``variations``)."""
    out: dict[str, Factors] = {}
    active = _active(cfg)
    flat = _FlatLeptons.build(leptons) if any(sf.flavour for sf in active) else None
    for sf in active:
        sources = variation_sources(sf, cfg, provider) if variations else []
        values = [sf.variation_values[0]] + [v for _, up, down in sources for v in (up, down)]
        got = _evaluate_sf(sf, flat, events_info, cfg, provider, values)
        factors = Factors(
            got[0], {mod: (got[1 + 2 * i], got[2 + 2 * i]) for i, (mod, _, _) in enumerate(sources)}
        )
        out[sf.name] = out[sf.name] * factors if sf.name in out else factors
    return out


def event_weights(
    leptons: ak.Array,
    events_info: ak.Array,
    cfg: AnalysisConfig,
    provider: CorrectionProvider,
    *,
    is_data: bool,
    systematics: bool = True,
    jets: ak.Array | None = None,
) -> Weights:
    """A coffea ``Weights`` with ``genWeight`` × every scale factor for simulated events
    (variations ``<name>Up``/``<name>Down`` when systematics are on); weight 1 for data.

    ``jets``: the selected jets of each event with their b-veto ``btag`` flag; given, the
    fixed-WP b-tag scale factors are included (weight ``btagSF``, :mod:`.btag`).

    The sample normalisation σ × L / Σ genWeight is applied later, at postprocessing
    (:func:`hnl_coffea.corrections.mc_scale`).
    """
    n = len(events_info)
    weights = Weights(n, storeIndividual=True)
    if is_data:
        return weights
    if len(leptons) != n:
        raise CorrectionError(
            f"leptons ({len(leptons)} events) and event record ({n}) differ in length"
        )
    weights.add("genWeight", _event_field(events_info, "genWeight"))
    with_syst = systematics and cfg.corrections.systematics
    for name, factors in scale_factors(
        leptons, events_info, cfg, provider, variations=with_syst
    ).items():
        mods = list(factors.variations)
        if mods == [""]:
            up, down = factors.variations[""]
            weights.add(name, factors.nominal, weightUp=up, weightDown=down)
        elif mods:
            weights.add_multivariation(
                name,
                factors.nominal,
                mods,
                [factors.variations[m][0] for m in mods],
                [factors.variations[m][1] for m in mods],
            )
        else:
            weights.add(name, factors.nominal)
    if jets is not None:
        from .btag import btag_active, btag_factors

        if btag_active(cfg, provider):
            nominal, shifts = btag_factors(jets, cfg, provider, variations=with_syst)
            if shifts:
                mods = list(shifts)
                weights.add_multivariation(
                    "btagSF",
                    nominal,
                    mods,
                    [shifts[m][0] for m in mods],
                    [shifts[m][1] for m in mods],
                )
            else:
                weights.add("btagSF", nominal)
    return weights
