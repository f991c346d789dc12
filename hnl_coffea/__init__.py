"""hnl-coffea: columnar CMS analysis of heavy neutral leptons decaying to three leptons
with hadronic taus, as a Coffea plugin.

The coffea processors are importable as ``from processors import HNLProcessor`` or,
clash-free inside analyses that already have a ``processors`` module, as
``from hnl_coffea.processors import HNLProcessor``.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .config import AnalysisConfig, ConfigError, load_config

__all__ = ["AnalysisConfig", "ConfigError", "load_config", "__version__"]
