"""Which correction (by its official POG name) serves which scale factor, and the fixed
string inputs (working points, year, algorithm) each correction is evaluated with.

Keys are hnl-coffea's scale-factor keys (``tau_vsjet``, ``muon_id``, ...). The default
names follow the official files of cms-nanoAOD/jsonpog-integration and the configured
working points; ``corrections.names`` in the configuration overrides any of them, e.g.
``{pileup: Collisions17_UltraLegacy_goldenJSON}`` when pointing at the 2017 LUM file.
"""

from __future__ import annotations

from ..config import AnalysisConfig, ConfigError

__all__ = ["CORRECTION_KEYS", "correction_name", "correction_constants"]

#: Scale-factor key → the ``cfg.corrections`` field naming the file it is read from.
CORRECTION_KEYS: dict[str, str] = {
    "tau_vsjet": "tau",
    "tau_vse": "tau",
    "tau_vsmu": "tau",
    "tau_energy_scale": "tau",
    "muon_id": "muon",
    "muon_iso": "muon",
    "electron_id": "electron",
    "trigger_mu": "trigger",
    "trigger_e": "trigger",
    "pileup": "pileup",
    "btag": "btag",
}

_MUON_ID = {
    "looseId": "NUM_LooseID_DEN_TrackerMuons",
    "mediumId": "NUM_MediumID_DEN_TrackerMuons",
    "mediumPromptId": "NUM_MediumPromptID_DEN_TrackerMuons",
    "tightId": "NUM_TightID_DEN_TrackerMuons",
}
_MUON_ISO_DEN = {"looseId": "LooseID", "mediumId": "MediumID", "mediumPromptId": "MediumID"}
_ELECTRON_WP = {"mvaIso_WP90": "wp90iso", "mvaIso_WP80": "wp80iso", "mvaNoIso_WP90": "wp90noiso"}
_PILEUP = {
    "2016preVFP": "Collisions16_UltraLegacy_goldenJSON",
    "2016postVFP": "Collisions16_UltraLegacy_goldenJSON",
    "2017": "Collisions17_UltraLegacy_goldenJSON",
    "2018": "Collisions18_UltraLegacy_goldenJSON",
    "2022postEE": "Collisions2022_359022_362760_eraEFG_GoldenJson",
}
_ELECTRON_HLT = {"2018": "HLT_SF_Ele32_MVAiso90ID"}


def _default_names(cfg: AnalysisConfig) -> dict[str, str]:
    mu = cfg.objects.muon
    iso = "TightRelIso" if mu.rel_iso_max <= 0.15 else "LooseRelIso"
    iso_den = _MUON_ISO_DEN.get(mu.id, "TightIDandIPCut")
    return {
        "tau_vsjet": "DeepTau2018v2p5VSjet",
        "tau_vse": "DeepTau2018v2p5VSe",
        "tau_vsmu": "DeepTau2018v2p5VSmu",
        "tau_energy_scale": "tau_energy_scale",
        "muon_id": _MUON_ID[mu.id],
        "muon_iso": f"NUM_{iso}_DEN_{iso_den}",
        "electron_id": "UL-Electron-ID-SF",
        "trigger_mu": "NUM_IsoMu24_DEN_CutBasedIdTight_and_PFIsoTight",
        "trigger_e": "Electron-HLT-SF",
        "pileup": _PILEUP.get(cfg.era, f"pileup_{cfg.era}"),
        "btag": "deepJet_comb",
    }


def correction_name(cfg: AnalysisConfig, key: str) -> str:
    """The correction name used for scale-factor ``key`` (config override or default)."""
    if key not in CORRECTION_KEYS:
        raise ConfigError(f"unknown correction key {key!r}; allowed: {', '.join(CORRECTION_KEYS)}")
    return cfg.corrections.names.get(key) or _default_names(cfg)[key]


def correction_constants(cfg: AnalysisConfig, key: str) -> dict[str, str]:
    """Fixed string inputs of a correction (only those the file declares are passed)."""
    tau = cfg.objects.tau
    return {
        "tau_vsjet": {"wp": tau.vs_jet, "wp_VSe": tau.vs_e, "flag": "dm"},
        "tau_vse": {"wp": tau.vs_e},
        "tau_vsmu": {"wp": tau.vs_mu},
        "tau_energy_scale": {"id": "DeepTau2018v2p5", "wp": tau.vs_jet, "wp_VSe": tau.vs_e},
        "electron_id": {
            "year": cfg.era,
            "WorkingPoint": _ELECTRON_WP[cfg.objects.electron.id],
        },
        "trigger_e": {
            "year": cfg.era,
            "HLT_path": _ELECTRON_HLT.get(cfg.era, "HLT_SF_Ele32_MVAiso90ID"),
        },
        "btag": {"working_point": cfg.objects.jet.btag_wp[0].upper()},
    }.get(key, {})
