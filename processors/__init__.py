"""hnl-coffea's coffea processors: compositions of the hnl_coffea library functions.

``from processors import HNLProcessor`` — or ``from hnl_coffea.processors import HNLProcessor``
when your analysis already has a module called ``processors``.
"""

from __future__ import annotations

import importlib

__hnl_coffea__ = True
__all__ = ["BtagEfficiencyProcessor", "HNLProcessor", "SkimProcessor"]

_WHERE = {"BtagEfficiencyProcessor": ".btag", "HNLProcessor": ".hnl", "SkimProcessor": ".skim"}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
