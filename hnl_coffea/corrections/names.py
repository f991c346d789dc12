"""Which correction (by its official POG name) serves which scale factor, and the fixed
string inputs (working points, year, algorithm) each correction is evaluated with.

Keys are hnl-coffea's scale-factor keys (``tau_vsjet``, ``muon_id``, ...). A name is looked
up, in order, in ``corrections.names`` (every era), ``eras.<era>.correction_names`` and the
defaults below, which follow the files of cms-nanoAOD/jsonpog-integration. Names and inputs
are templates: ``{deeptau}`` (e.g. ``2017v2p1``), ``{vs_jet}``, ``{vs_e}``, ``{vs_mu}``,
``{muon_id}`` (``MediumID``), ``{muon_iso}`` (``Tight``/``Loose``), ``{muon_iso_den}``
(``MediumID``; ``TightIDandIPCut`` for the tight ID), ``{electron_wp}`` (``wp90iso``),
``{btag}`` (``deepJet``), ``{btag_wp}`` (``M``) and ``{era}`` are filled from the
configuration resolved for the dataset's era, so no era needs code of its own.
"""

from __future__ import annotations

from ..config import AnalysisConfig, ConfigError

__all__ = ["CORRECTION_KEYS", "correction_name", "correction_constants", "template_values"]

#: Scale-factor key → the ``corrections.files`` kind of the file it is read from.
CORRECTION_KEYS: dict[str, str] = {
    "tau_vsjet": "tau",
    "tau_vse": "tau",
    "tau_vsmu": "tau",
    "tau_energy_scale": "tau",
    "tau_trigger": "tau",
    "muon_id": "muon",
    "muon_iso": "muon",
    "trigger_mu": "muon",
    "electron_id": "electron",
    "trigger_e": "electron_trigger",
    "pileup": "pileup",
    "btag": "btag",
}

#: Default correction names (templates) by key; eras override in ``correction_names``.
DEFAULT_NAMES: dict[str, str] = {
    "tau_vsjet": "DeepTau{deeptau}VSjet",
    "tau_vse": "DeepTau{deeptau}VSe",
    "tau_vsmu": "DeepTau{deeptau}VSmu",
    "tau_energy_scale": "tau_energy_scale",
    "tau_trigger": "tau_trigger",
    "muon_id": "NUM_{muon_id}_DEN_TrackerMuons",
    "muon_iso": "NUM_{muon_iso}RelIso_DEN_{muon_iso_den}",
    "trigger_mu": "NUM_IsoMu24_DEN_CutBasedIdTight_and_PFIsoTight",
    "electron_id": "UL-Electron-ID-SF",
    "trigger_e": "Electron-HLT-SF",
    "pileup": "pileup_{era}",
    "btag": "{btag}_comb",
}

#: Default fixed inputs (templates) by key; eras add or override in ``correction_inputs``.
#: Only the inputs a correction declares are passed to it.
DEFAULT_INPUTS: dict[str, dict[str, str]] = {
    "tau_vsjet": {"wp": "{vs_jet}", "wp_VSe": "{vs_e}", "flag": "dm"},
    "tau_vse": {"wp": "{vs_e}"},
    "tau_vsmu": {"wp": "{vs_mu}"},
    "tau_energy_scale": {"id": "DeepTau{deeptau}", "wp": "{vs_jet}", "wp_VSe": "{vs_e}"},
    "tau_trigger": {"trigtype": "ditau", "wp": "{vs_jet}", "corrtype": "sf"},
    "electron_id": {"year": "{era}", "WorkingPoint": "{electron_wp}"},
    "trigger_e": {"year": "{era}", "Path": "HLT_SF_Ele32_MVAiso90ID"},
    "btag": {"working_point": "{btag_wp}"},
}

_MUON_ID = {
    "looseId": "LooseID",
    "mediumId": "MediumID",
    "mediumPromptId": "MediumPromptID",
    "tightId": "TightID",
}
_ELECTRON_WP = {"mvaIso_WP90": "wp90iso", "mvaIso_WP80": "wp80iso", "mvaNoIso_WP90": "wp90noiso"}


def template_values(cfg: AnalysisConfig) -> dict[str, str]:
    """The placeholder values of correction names and inputs for ``cfg``'s era."""
    tau, mu, era = cfg.objects.tau, cfg.objects.muon, cfg.era_config
    muon_id = _MUON_ID[mu.id]
    return {
        "deeptau": cfg.deeptau_version,
        "vs_jet": tau.vs_jet,
        "vs_e": tau.vs_e,
        "vs_mu": tau.vs_mu,
        "muon_id": muon_id,
        "muon_iso": "Tight" if mu.rel_iso_max <= 0.15 else "Loose",
        "muon_iso_den": "TightIDandIPCut" if mu.id == "tightId" else muon_id,
        "electron_wp": _ELECTRON_WP[cfg.objects.electron.id],
        "btag": era.btag.correction,
        "btag_wp": cfg.objects.jet.btag_wp[0].upper(),
        "era": cfg.era,
    }


def _fill(template: str, values: dict[str, str], where: str) -> str:
    try:
        return template.format_map(values)
    except (KeyError, ValueError, IndexError) as err:
        raise ConfigError(
            f"{where}: bad placeholder in {template!r} ({err}); allowed: "
            + ", ".join("{" + k + "}" for k in values)
        ) from None


def _check(key: str) -> None:
    if key not in CORRECTION_KEYS:
        raise ConfigError(f"unknown correction key {key!r}; allowed: {', '.join(CORRECTION_KEYS)}")


def correction_name(cfg: AnalysisConfig, key: str) -> str:
    """The correction name used for scale-factor ``key`` in ``cfg``'s era."""
    _check(key)
    template = (
        cfg.corrections.names.get(key)
        or cfg.era_config.correction_names.get(key)
        or DEFAULT_NAMES[key]
    )
    return _fill(template, template_values(cfg), f"correction name for {key!r} (era {cfg.era})")


def correction_constants(cfg: AnalysisConfig, key: str) -> dict[str, str]:
    """Fixed string inputs of correction ``key`` in ``cfg``'s era (only the ones the file's
    correction declares are passed to it)."""
    _check(key)
    values = template_values(cfg)
    merged = {**DEFAULT_INPUTS.get(key, {}), **cfg.era_config.correction_inputs.get(key, {})}
    where = f"correction inputs for {key!r} (era {cfg.era})"
    return {name: _fill(str(v), values, where) for name, v in merged.items()}
