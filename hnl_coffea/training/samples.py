"""Toy samples and skims for training: generation, the coffea Runner over
:class:`SkimProcessor`, the signal region of a skim and its physics weights."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from ..config import AnalysisConfig
from .skim import SkimTable, physics_weights, read_skim

__all__ = ["generate_sample", "read_region", "run_skim", "skim_weights"]


def generate_sample(
    outdir: Path, n_events: int, seed: int, cfg: AnalysisConfig, signal_only: bool = False
) -> Path:
    """Generate the toy NanoAOD sample (signal at every mass hypothesis + backgrounds, or
    signal alone); returns its fileset JSON."""
    from ..toymc import generate_fileset

    if not signal_only:
        return Path(generate_fileset(outdir, n_events, seed=seed, layout="modern", cfg=cfg))
    names = [f"HNL_M{int(round(m))}" for m in cfg.mass_hypotheses]
    return Path(
        generate_fileset(
            outdir,
            n_events,
            seed=seed,
            layout="modern",
            cfg=cfg,
            samples=names,
            signal_fraction=1.0,
        )
    )


def read_region(skim_dir: Path, cfg: AnalysisConfig) -> SkimTable:
    skim = read_skim(skim_dir)
    region = f"region_{cfg.postprocessing.signal_region}"
    return skim.subset(skim[region].astype(bool)) if region in skim else skim


def skim_weights(
    skim: SkimTable, fs: dict, acc: dict, cfg: AnalysisConfig, lumi_fb: float | None = None
) -> np.ndarray:
    """Physics weight per event at ``lumi_fb`` (default: the config era's luminosity);
    Σ genWeight from the fileset metadata, else from the skim's accumulator."""
    sumw = {d: (fs[d]["metadata"].get("sumw") or acc["sumw"].get(d, 0.0)) for d in fs}
    xsec = {d: fs[d]["metadata"].get("xsec") for d in fs}
    lumi = cfg.era_config.luminosity_fb if lumi_fb is None else lumi_fb
    return physics_weights(skim, xsec, sumw, lumi)


def run_skim(
    fileset: dict,
    cfg: AnalysisConfig,
    skim_dir: Path,
    workers: int = 1,
    chunksize: int = 50_000,
    progress: bool = False,
) -> dict:
    """Run :class:`SkimProcessor` with coffea's Runner (futures executor for workers > 1)."""
    from coffea import processor
    from coffea.nanoevents import NanoAODSchema

    from ..processors import SkimProcessor

    if skim_dir.exists():
        shutil.rmtree(skim_dir)
    executor = (
        processor.FuturesExecutor(workers=workers, status=progress)
        if workers > 1
        else processor.IterativeExecutor(status=progress)
    )
    runner = processor.Runner(
        executor=executor,
        pre_executor=processor.IterativeExecutor(status=progress),
        schema=NanoAODSchema,
        chunksize=chunksize,
    )
    return runner(fileset, processor_instance=SkimProcessor(cfg, skim_dir), treename="Events")
