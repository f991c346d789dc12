"""Locations of the files hnl-coffea ships (configs, corrections, models, lumi masks)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["data_dir", "data_path", "cache_dir"]


def data_dir() -> Path:
    """The folder holding hnl-coffea's shipped data (``data/`` of the source tree).

    Looked up in order: ``$HNL_COFFEA_DATA``, the source checkout next to the package
    (editable installs), ``<prefix>/share/hnl-coffea/data`` (wheel installs).
    """
    env = os.environ.get("HNL_COFFEA_DATA")
    candidates = [Path(env)] if env else []
    candidates += [
        Path(__file__).resolve().parent.parent / "data",
        Path(sys.prefix) / "share" / "hnl-coffea" / "data",
    ]
    for cand in candidates:
        if (cand / "config").is_dir():
            return cand
    raise FileNotFoundError(
        "hnl-coffea data folder not found (looked in: "
        + ", ".join(str(c) for c in candidates)
        + "); set HNL_COFFEA_DATA to the repository's data/ folder"
    )


def data_path(relative: str | os.PathLike[str]) -> Path:
    """Resolve a path relative to the shipped data folder; absolute paths pass through."""
    p = Path(relative)
    return p if p.is_absolute() else data_dir() / p


def cache_dir() -> Path:
    """Per-user cache folder for generated demo samples (``$HNL_COFFEA_CACHE`` overrides)."""
    env = os.environ.get("HNL_COFFEA_CACHE")
    base = (
        Path(env)
        if env
        else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "hnl-coffea"
    )
    base.mkdir(parents=True, exist_ok=True)
    return base
