"""The jet-energy corrections of an era, read from the JME ``jet_jerc.json.gz`` file into
coffea's correctionlib adapters (:class:`coffea.jetmet_tools.CorrectionLibJECStack` with
``CorrectionLibJEC``, ``CorrectionLibJER``, ``CorrectionLibJERSF``, ``CorrectionLibJUNC``).

Names follow the JME convention from ``eras.<era>.jets``: the compound
``<tag>_<MC|DATA>_L1L2L3Res_<algorithm>`` (JEC), ``<tag>_<MC|DATA>_L1FastJet_<algorithm>``
(type-1 MET), ``<tag>_MC_<source>_<algorithm>`` (JES sources), ``<jer>_MC_PtResolution_…``
and ``<jer>_MC_ScaleFactor_…`` (JER). Simulation has one stack; collision data one per run
period (``jets.jec_data``: tag → run range), without JES or JER.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # coffea.jetmet_tools takes seconds to import: only where jets are corrected
    from coffea.jetmet_tools import CorrectionLibJEC, CorrectionLibJECStack

from ..config import AnalysisConfig
from ..corrections.evaluators import CorrectionError, CorrectionProvider

__all__ = ["JetCorrections", "data_periods", "jet_corrections"]


@dataclass(frozen=True)
class JetCorrections:
    """The correctors of simulation or of one data period."""

    tag: str
    stack: CorrectionLibJECStack
    """JEC (compound), and for simulation JES sources and JER (None where not configured)."""
    l1: CorrectionLibJEC
    """L1FastJet alone, the reference of the type-1 MET correction."""

    def evaluate(self, corrector: Any, method: str, values: dict[str, np.ndarray]) -> np.ndarray:
        """``corrector.<method>`` with the inputs its signature names, from ``values``."""
        return np.asarray(getattr(corrector, method)(**{k: values[k] for k in corrector.signature}))


def _build(cfg: AnalysisConfig, provider: CorrectionProvider, tag: str, is_data: bool):
    from coffea.jetmet_tools import (
        CorrectionLibJEC,
        CorrectionLibJECStack,
        CorrectionLibJER,
        CorrectionLibJERSF,
        CorrectionLibJUNC,
    )

    jets = cfg.era_config.jets
    jec = CorrectionLibJEC(provider.compound("jerc", jets.jec_name(tag, is_data)))
    l1 = CorrectionLibJEC(provider.correction("jerc", jets.jec_name(tag, is_data, "L1FastJet")))
    junc = jer = jersf = None
    if not is_data:
        sources = [
            (src, provider.correction("jerc", jets.jec_name(tag, False, src)))
            for src in jets.jes_sources
        ]
        junc = CorrectionLibJUNC(sources) if sources else None
        if jets.jer is not None:
            algo = jets.algorithm
            jer = CorrectionLibJER(
                provider.correction("jerc", f"{jets.jer}_MC_PtResolution_{algo}")
            )
            jersf = CorrectionLibJERSF(
                provider.correction("jerc", f"{jets.jer}_MC_ScaleFactor_{algo}")
            )
    stack = CorrectionLibJECStack(jec=jec, junc=junc, jer=jer, jersf=jersf)
    return JetCorrections(tag, stack, l1)


def jet_corrections(
    cfg: AnalysisConfig, provider: CorrectionProvider, *, is_data: bool
) -> dict[str, JetCorrections]:
    """The correctors of ``cfg``'s era by JEC tag (simulation: one; data: one per period);
    empty when the era has no JEC for this kind of sample or the ``jerc`` file is off."""
    jets = cfg.era_config.jets
    if not provider.enabled("jerc"):
        return {}
    tags = list(jets.jec_data) if is_data else ([jets.jec_mc] if jets.jec_mc else [])
    return {
        tag: provider.derived(
            ("jets", tag, is_data), lambda t=tag: _build(cfg, provider, t, is_data)
        )
        for tag in tags
    }


def data_periods(cfg: AnalysisConfig, run: np.ndarray) -> np.ndarray:
    """The index into ``jets.jec_data`` of each run; a run outside every period is an error
    naming it and the periods."""
    periods = cfg.era_config.jets.jec_data
    run = np.asarray(run, dtype=np.int64)
    out = np.full(len(run), -1, dtype=np.int64)
    for i, (lo, hi) in enumerate(periods.values()):
        out[(run >= lo) & (run <= hi)] = i
    if (out < 0).any():
        bad = sorted(set(run[out < 0].tolist()))
        spans = ", ".join(f"{t} [{lo}, {hi}]" for t, (lo, hi) in periods.items())
        raise CorrectionError(
            f"era {cfg.era!r}: run(s) {bad[:5]}{' …' if len(bad) > 5 else ''} outside every data "
            f"JEC period of eras.{cfg.era}.jets.jec_data ({spans})"
        )
    return out
