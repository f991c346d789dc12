"""Generator-level filters for the toy pseudo-data, as used for CMS filtered samples.

A filter keeps only events whose generator record passes a condition; the number of
events of a process at luminosity L is then σ × L × ε, with ε the filter efficiency, so
the filtered sample still corresponds to L for every event that passes the filter.

The default pseudo-data filter, :data:`GEN_DILEPTON`, keeps events with at least two
charged leptons (e, μ or τ, before τ decay) from the hard process. The analysis needs
three reconstructed leptons, and a third one can only come from a jet faking a lepton or a
τh; events with a single generator lepton (W+jets) would need two such fakes and
contribute no selected event in the simulation either, so the filter removes ≈ 90 % of
the events (W+jets is ≈ 13 k of the ≈ 13.5 k events per pb⁻¹) and nothing the selection
can see.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .truth import FLAG, Truth

__all__ = ["GenFilter", "GEN_DILEPTON", "n_hard_leptons", "filter_efficiency"]

_CHARGED_LEPTONS = (11, 13, 15)


def n_hard_leptons(truth: Truth) -> np.ndarray:
    """Per event, the number of charged leptons (e, μ, τ) from the hard process."""
    count = np.zeros(truth.n, np.int32)
    for pdg, flags, valid in zip(truth.gen_pdg, truth.gen_flags, truth.gen_valid):
        if not flags & FLAG["isHardProcess"]:
            continue
        count += valid & np.isin(np.abs(pdg), _CHARGED_LEPTONS)
    return count


@dataclass(frozen=True)
class GenFilter:
    """Keep events with at least ``min_leptons`` hard-process charged leptons."""

    name: str
    min_leptons: int

    @property
    def definition(self) -> str:
        return f">= {self.min_leptons} charged leptons (e, mu, tau) from the hard process"

    def passes(self, truth: Truth) -> np.ndarray:
        """Boolean mask of the events of ``truth`` that pass the filter."""
        return n_hard_leptons(truth) >= self.min_leptons

    def metadata(self, efficiencies: dict[str, float]) -> dict:
        """The filter as recorded in the file and fileset metadata."""
        return {
            "name": self.name,
            "definition": self.definition,
            "efficiency": dict(efficiencies),
        }


#: The pseudo-data filter: at least two generator-level charged leptons.
GEN_DILEPTON = GenFilter("GenDilepton", 2)


def filter_efficiency(gen_filter: GenFilter, build, *, seed: int, n_pilot: int = 20_000) -> float:
    """Fraction of events of a process (``build(rng, n)`` → Truth) that pass the filter.

    Measured on a pilot sample of generator-level events (no detector simulation); exact
    for the toy processes, which have a fixed number of hard-process leptons.
    """
    rng = np.random.default_rng([seed, 0xF117E5])
    return float(gen_filter.passes(build(rng, n_pilot)).mean())
