"""An independent evaluation sample for the model comparison, sized per process.

A toy sample split by fixed shares leaves the rare fake-lepton backgrounds (DY, Zγ, tt̄)
with a handful of selected events of very large weight, and the expected significance is
then limited by those few events. The evaluation sample instead allocates a background
budget ``n_background`` over the processes as ``n_i ∝ σ_i √ε_i`` (ε_i: the signal-region
efficiency measured on the training sample), which minimises the statistical variance of
the total background yield; every signal mass point gets enough events for
``signal_selected`` selected ones. Processes that selected no event in the training sample
get ``unseen_events`` (their yield is then bounded by the absence of selected events; a
signal mass point without selected training events gets as many).

Each sample is generated with its own seed in parts of at most ``part_events`` events (about
400 bytes per event on disk), the whole sample is skimmed with :class:`SkimProcessor` in one
coffea run, and the ROOT files are deleted afterwards (only the Parquet skim is kept).
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..config import AnalysisConfig

__all__ = ["EvalSamplePlan", "plan_counts", "generate_and_skim"]


@dataclass(frozen=True)
class EvalSamplePlan:
    """Events to generate per toy sample, and the inputs of the allocation."""

    counts: dict[str, int]
    efficiency: dict[str, float]
    rule: str

    def to_dict(self) -> dict:
        return {"counts": self.counts, "efficiency": self.efficiency, "rule": self.rule,
                "total_events": int(sum(self.counts.values()))}  # fmt: skip


def plan_counts(
    efficiency: Mapping[str, float],
    xsec: Mapping[str, float],
    signals: Sequence[str],
    *,
    n_background: int,
    signal_selected: int = 2000,
    unseen_events: int = 2_000_000,
    min_events: int = 10_000,
    max_events: int = 20_000_000,
) -> EvalSamplePlan:
    """Events per sample (see the module docstring); ``efficiency`` and ``xsec`` per sample."""
    bkg = [s for s in efficiency if s not in signals]
    seen = [s for s in bkg if efficiency[s] > 0]
    score = {s: xsec[s] * math.sqrt(efficiency[s]) for s in seen}
    norm = sum(score.values()) or 1.0
    counts = {}
    for s in signals:
        eff = efficiency.get(s, 0.0)
        n = signal_selected / eff if eff > 0 else unseen_events
        counts[s] = int(min(max(math.ceil(n), min_events), max_events))
    for s in bkg:
        n = n_background * score[s] / norm if s in score else unseen_events
        counts[s] = int(min(max(math.ceil(n), min_events), max_events))
    rule = (
        f"backgrounds: n_i = {n_background} × σ_i √ε_i / Σ σ_j √ε_j (ε from the training "
        f"sample; {unseen_events} events where no event was selected); signal: "
        f"{signal_selected} / ε selected-event target; every sample in "
        f"[{min_events}, {max_events}]"
    )
    return EvalSamplePlan(counts, {s: float(efficiency[s]) for s in efficiency}, rule)


def _generate(job: tuple) -> dict:
    from ..toymc import generate_sample

    name, k, path, seed, cfg = job
    return generate_sample(name, k, path, seed=seed, cfg=cfg)


def generate_and_skim(
    plan: EvalSamplePlan,
    outdir: Path,
    cfg: AnalysisConfig,
    *,
    seed: int,
    workers: int = 1,
    chunksize: int = 200_000,
    part_events: int = 2_000_000,
) -> dict:
    """Generate every sample of ``plan`` (in parts of at most ``part_events`` events, with
    ``workers`` processes), skim them in one coffea run, then delete the ROOT files.

    Returns ``{sample: {"metadata": {..., "sumw"}, "parts": n, "selected": n_sel}}`` and
    leaves the skim under ``outdir/skim``.
    """
    from concurrent.futures import ProcessPoolExecutor

    from .samples import run_skim

    jobs = []
    for name, n in plan.counts.items():
        for p in range(-(-n // part_events)):
            k = min(part_events, n - p * part_events)
            jobs.append((name, k, outdir / "root" / f"{name}_{p}.root", seed + 1000 * p, cfg))
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            metas = list(pool.map(_generate, jobs))
    else:
        metas = [_generate(j) for j in jobs]
    fileset: dict[str, dict] = {}
    for (name, _, path, _, _), meta in zip(jobs, metas, strict=True):
        entry = fileset.setdefault(name, {"files": {}, "metadata": {**meta, "sumw": 0.0}})
        entry["files"][str(path.resolve())] = "Events"
        entry["metadata"]["sumw"] += meta["sumw"]
        entry["metadata"]["user"] = {**meta.get("user", {}), "n_events": plan.counts[name]}
    acc = run_skim(fileset, cfg, outdir / "skim", workers, chunksize)
    shutil.rmtree(outdir / "root", ignore_errors=True)
    return {
        name: {"metadata": spec["metadata"], "parts": len(spec["files"]),
               "selected": int(acc["n_selected"].get(name, 0))}
        for name, spec in fileset.items()
    }  # fmt: skip
