"""What a result was made from: software versions, configuration hash, inputs, luminosity."""

from __future__ import annotations

import hashlib
import platform
from collections.abc import Mapping
from importlib import metadata
from typing import Any

from ..config import AnalysisConfig
from .normalise import dataset_era, output_eras

__all__ = ["PACKAGES", "config_hash", "provenance"]

#: Packages whose versions the report lists.
PACKAGES = ("hnl-coffea", "coffea", "awkward", "uproot", "hist", "numpy", "scipy", "torch",
            "correctionlib", "matplotlib", "mplhep")  # fmt: skip


def _version(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "not installed"


def config_hash(cfg: AnalysisConfig) -> str:
    """SHA-256 of the configuration as YAML (every field, defaults included)."""
    return hashlib.sha256(cfg.to_yaml().encode()).hexdigest()


def provenance(output: Mapping[str, Any], cfg: AnalysisConfig) -> dict[str, Any]:
    """Versions, config hash, eras and luminosities, input files and processing summary."""
    eras = output_eras(output, cfg)
    datasets = output["datasets"]
    files = []
    for ds, per_file in sorted((output.get("processed") or {}).items()):
        meta = datasets.get(ds, {})
        kind = (
            "data" if meta.get("is_data") else "signal" if meta.get("is_signal") else "simulation"
        )
        for path, n in sorted(per_file.items()):
            files.append({"dataset": ds, "kind": kind, "era": dataset_era(meta, cfg),
                          "file": str(path), "events": int(n)})  # fmt: skip
    lumi_sections = {ds: len(v) for ds, v in (output.get("lumi") or {}).items()}
    summary = output.get("summary") or {}
    return {
        "python": platform.python_version(),
        "versions": {p: _version(p) for p in PACKAGES},
        "config_sha256": config_hash(cfg),
        "eras": [
            {
                "era": e,
                "sqrt_s_tev": cfg.eras[e].sqrt_s_tev,
                "luminosity_fb": cfg.eras[e].luminosity_fb,
                "luminosity_uncertainties": dict(cfg.eras[e].luminosity_uncertainties),
            }
            for e in eras
        ],  # fmt: skip
        "projections": [p.model_dump() for p in cfg.postprocessing.projections],
        "n_datasets": len(datasets),
        "files": files,
        "data_lumi_sections": lumi_sections,
        "certification": {
            ds: {"events_lost": c.get("events_lost"), "mask": sorted(c.get("mask") or [])}
            for ds, c in (output.get("certification") or {}).items()
        },
        "executor": summary.get("executor"),
        "wall_s": summary.get("wall_s"),
    }
