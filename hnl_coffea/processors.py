"""Clash-free access to hnl-coffea's coffea processors.

``from hnl_coffea.processors import HNLProcessor`` gives the same class as
``from processors import HNLProcessor`` when the top-level ``processors`` package is
hnl-coffea's own. If your analysis has its own module called ``processors`` that shadows
ours, this module loads hnl-coffea's from its installed files under the importable alias
``hnl_coffea._processors`` instead (so it pickles and unpickles on Dask workers too).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

_OURS = Path(__file__).resolve().parent.parent / "processors"


def _is_ours(mod: ModuleType | None) -> bool:
    return mod is not None and getattr(mod, "__hnl_coffea__", False)


def _resolve() -> ModuleType:
    mod = sys.modules.get("processors")
    if _is_ours(mod):
        return mod  # type: ignore[return-value]
    if mod is None:
        try:
            mod = importlib.import_module("processors")
        except ImportError:
            mod = None
        if _is_ours(mod):
            return mod  # type: ignore[return-value]
    return importlib.import_module("hnl_coffea._processors")


def __getattr__(name: str):
    if name.startswith("__"):
        raise AttributeError(name)
    return getattr(_resolve(), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(getattr(_resolve(), "__all__", ())))
