"""Locations of the files hnl-coffea ships (configs, corrections, models, lumi masks)."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

__all__ = ["data_dir", "data_path", "cache_dir"]

#: Where the shipped data sit inside the installed package (the repository's ``data/``).
PACKAGE_DATA = "_data"


def _candidates() -> list[Path]:
    env = os.environ.get("HNL_COFFEA_DATA")
    found = [Path(env)] if env else []
    packaged = resources.files("hnl_coffea") / PACKAGE_DATA
    if isinstance(packaged, Path):  # a regular (unzipped) install: a real folder
        found.append(packaged)
    found.append(Path(__file__).resolve().parent.parent / "data")  # source checkout, editable
    return found


def data_dir() -> Path:
    """The folder holding hnl-coffea's shipped data.

    Looked up in order: ``$HNL_COFFEA_DATA``; the package's own ``hnl_coffea/_data`` (wheel
    installs, found with :mod:`importlib.resources`); the ``data/`` folder of the source
    checkout next to the package (editable installs and ``PYTHONPATH`` use).
    """
    candidates = _candidates()
    for cand in candidates:
        if (cand / "config").is_dir():
            return cand
    raise FileNotFoundError(
        "hnl-coffea data folder not found (looked in: "
        + ", ".join(str(c) for c in candidates)
        + "); reinstall hnl-coffea or set HNL_COFFEA_DATA to the repository's data/ folder"
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
