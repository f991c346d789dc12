"""``hnl-coffea train`` end to end: toy sample (or a fileset) → skim → four training stages →
artifacts with sidecars → quality report."""

from __future__ import annotations

import copy
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import __version__
from ..config import AnalysisConfig
from ..features import FEATURE_NAMES
from ..fileset import load_fileset
from ..models import Scaler, save_artifact
from . import report as rep
from .datasets import SPLIT_NAMES, TEST, TRAIN
from .evaluation import WEIGHTINGS, auc_metrics, evaluate_classifiers
from .loops import predict, resolve_device, set_seed
from .prepare import (
    REGRESSOR_INPUTS,
    RegressionArrays,
    make_synthetic,
    prepare,
    prepare_regression,
)
from .skim import SkimTable, physics_weights, read_skim
from .stages import (
    TrainingOptions,
    pretrain_backbone,
    train_mass_regressor,
    train_parametric,
    train_transfer,
)
from .synthetic import RAW_INPUTS

__all__ = ["QUICK", "generate_sample", "run_skim", "run_training", "train_on_skim"]

#: Option overrides of ``--quick`` (a smoke test, not a usable model).
QUICK = {
    "parametric_epochs": 2,
    "backbone_epochs": 2,
    "backbone_events_per_epoch": 4000,
    "backbone_width": 32,
    "backbone_depth": 3,
    "transfer_epochs": 3,
    "transfer_unfreeze_epoch": 1,
    "regressor_epochs": 2,
    "regressor_hidden": (32, 32),
    "regressor_events": 0,
    "parametric_hidden": (16, 8),
    "transfer_hidden": (16, 16),
}


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


def _read_region(skim_dir: Path, cfg: AnalysisConfig) -> SkimTable:
    skim = read_skim(skim_dir)
    region = f"region_{cfg.postprocessing.signal_region}"
    return skim.subset(skim[region].astype(bool)) if region in skim else skim


def _weights(skim: SkimTable, fs: dict, acc: dict, cfg: AnalysisConfig) -> np.ndarray:
    sumw = {d: (fs[d]["metadata"].get("sumw") or acc["sumw"].get(d, 0.0)) for d in fs}
    xsec = {d: fs[d]["metadata"].get("xsec") for d in fs}
    return physics_weights(skim, xsec, sumw, cfg.era_config.luminosity_fb)


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


def run_training(
    cfg: AnalysisConfig,
    outdir: str | Path,
    *,
    fileset: str | Path | None = None,
    n_events: int = 300_000,
    options: TrainingOptions | None = None,
    quick: bool = False,
    workers: int = 1,
    chunksize: int = 50_000,
    models_dir: str | Path | None = None,
) -> dict:
    """Train every network and write ``models/*.pt`` (+ sidecars) and ``report/`` in ``outdir``
    (the artifacts go to ``models_dir`` instead when given)."""
    opts = options or TrainingOptions()
    if quick:
        opts = replace(opts, **QUICK)
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    resolve_device(opts.device)  # fail before generating anything
    t0 = time.perf_counter()
    timings: dict[str, float] = {}

    if fileset is None:
        fileset_path = generate_sample(out / "sample", n_events, opts.seed, cfg)
        sample = {"generated": True, "n_events": n_events, "seed": opts.seed, "layout": "modern"}
    else:
        fileset_path = Path(fileset)
        sample = {"generated": False}
    fs = load_fileset(fileset_path, redirector=cfg.redirector)
    timings["sample_s"] = time.perf_counter() - t0
    acc = run_skim(fs, cfg, out / "skim", workers, chunksize, opts.progress)
    timings["skim_s"] = time.perf_counter() - t0 - timings["sample_s"]

    skim = _read_region(out / "skim", cfg)
    phys = _weights(skim, fs, acc, cfg)
    regression = None
    if fileset is None and opts.regressor_events > 0:
        # the regressor learns from signal alone: a signal-only toy sample, own seed and split
        tick = time.perf_counter()
        reg_seed = opts.seed + 1
        reg_path = generate_sample(
            out / "regressor_sample", opts.regressor_events, reg_seed, cfg, signal_only=True
        )
        reg_fs = load_fileset(reg_path, redirector=cfg.redirector)
        reg_acc = run_skim(reg_fs, cfg, out / "regressor_skim", workers, chunksize, opts.progress)
        reg_skim = _read_region(out / "regressor_skim", cfg)
        regression = prepare_regression(reg_skim, _weights(reg_skim, reg_fs, reg_acc, cfg))
        sample["regressor_sample"] = {
            "n_events": opts.regressor_events,
            "seed": reg_seed,
            "signal_fraction": 1.0,
            "selected_signal_events": int(len(regression.m_true)),
        }
        timings["regressor_sample_s"] = time.perf_counter() - tick
    provenance = {
        "fileset": str(fileset_path),
        "sample": sample,
        "datasets": {
            d: {
                "selected": int(acc["n_selected"].get(d, 0)),
                "processed": int(acc["n_events"].get(d, 0)),
            }
            for d in fs
        },
    }
    return train_on_skim(
        cfg, skim, phys, out, opts, provenance, timings, t0, models_dir, regression
    )


def train_on_skim(
    cfg: AnalysisConfig,
    skim: SkimTable,
    physics_weight: np.ndarray,
    outdir: str | Path,
    options: TrainingOptions,
    provenance: dict[str, Any] | None = None,
    timings: dict[str, float] | None = None,
    t0: float | None = None,
    models_dir: str | Path | None = None,
    regression: RegressionArrays | None = None,
) -> dict:
    """The four training stages, artifacts and report for an already-read skim.

    ``regression`` holds the mass regressor's events (e.g. a separate signal-only sample); by
    default it trains on the signal events of ``skim``."""
    opts = options
    out = Path(outdir)
    device = resolve_device(opts.device)
    set_seed(opts.seed)
    torch.set_num_threads(opts.threads)
    t0 = time.perf_counter() if t0 is None else t0
    timings = dict(timings or {})
    t_train = time.perf_counter()
    phys = physics_weight
    prep = prepare(skim, phys, cfg, opts.seed, opts.background_weight_cap)
    a = prep.arrays
    n_ch = len(cfg.channels)
    provenance = {
        **(provenance or {}),
        "hnl_coffea_version": __version__,
        "torch_version": torch.__version__,
        "region": cfg.postprocessing.signal_region,
        "era": cfg.era,
        "split": "splitmix64(event) mod 10: 0-6 train, 7-8 validation, 9 test",
        "events_per_split": {SPLIT_NAMES[s]: int(np.sum(a.split == s)) for s in range(3)},
        "signal_events": int(prep.is_signal.sum()),
        "background_events": int((~prep.is_signal).sum()),
        "background_weight_cap": prep.weight_cap,
        "background_events_capped": int(np.sum(prep.capped_weight != prep.physics_weight)),
        "training_options": opts.to_dict(),
        "device": str(device),
    }

    # 1. parametric DNN
    tick = time.perf_counter()
    param, param_fit = train_parametric(a, n_ch, opts, device)
    timings["parametric_s"], tick = time.perf_counter() - tick, time.perf_counter()
    # 2. backbone on synthetic kinematics
    gen = make_synthetic(prep.raw_real[a.split == TRAIN])
    raw_scaler = Scaler.fit(gen.sample(50_000, np.random.default_rng(opts.seed + 5))[0])
    a.raw = raw_scaler.transform(prep.raw_real)
    backbone, bb_fit, _ = pretrain_backbone(
        gen, np.asarray(raw_scaler.mean), np.asarray(raw_scaler.std), opts, device
    )
    x_bb, y_bb = gen.sample(20_000, np.random.default_rng(opts.seed + 6))
    y_pred = predict(backbone, [raw_scaler.transform(x_bb)], device)
    bb_summary = rep.backbone_summary(y_pred, y_bb, gen.target_names, gen.etot_index)
    pretrained = copy.deepcopy(backbone)  # the transfer stage fine-tunes in place
    timings["backbone_s"], tick = time.perf_counter() - tick, time.perf_counter()
    # 3. transfer classifier
    transfer, tr_fit = train_transfer(backbone, a, n_ch, opts, device)
    timings["transfer_s"], tick = time.perf_counter() - tick, time.perf_counter()
    # 4. mass regressor
    reg = regression if regression is not None else prepare_regression(skim, phys)
    mass_range = (min(cfg.mass_hypotheses), max(cfg.mass_hypotheses))
    regressor, reg_fit = train_mass_regressor(
        reg.x, reg.m_true, reg.weight, reg.split, mass_range, opts, device
    )
    timings["mass_regression_s"] = time.perf_counter() - tick
    timings["training_s"] = time.perf_counter() - t_train

    # evaluation on the test split
    masses = list(cfg.mass_hypotheses)
    evaluation = evaluate_classifiers(prep, param, transfer, masses, cfg, device)
    reg_test = reg.split == TEST
    m_pred = predict(regressor, [reg.x[reg_test]], device)
    reg_summary = rep.mass_regression_summary(m_pred, reg.m_true[reg_test], masses)
    reg_metrics = _regression_metrics(reg_summary)

    common = dict(mass_hypotheses=masses, channels=cfg.channel_names)
    models_dir = out / "models" if models_dir is None else Path(models_dir)
    save_artifact(
        param,
        models_dir / "parametric.pt",
        kind="parametric",
        feature_names=FEATURE_NAMES,
        scaler=prep.feature_scaler,
        provenance={**provenance, "fit": param_fit.to_dict()},
        metrics=auc_metrics(evaluation, "parametric"),
        **common,
    )
    save_artifact(
        transfer,
        models_dir / "transfer.pt",
        kind="transfer",
        feature_names=RAW_INPUTS,
        scaler=raw_scaler,
        provenance={
            **provenance,
            "fit": tr_fit.to_dict(),
            "backbone_fit": bb_fit.to_dict(),
            "synthetic": gen.to_dict(),
            "synthetic_acceptance": gen.acceptance(np.random.default_rng(opts.seed + 7)),
        },
        metrics=auc_metrics(evaluation, "transfer"),
        **common,
    )
    save_artifact(
        pretrained,
        models_dir / "backbone.pt",
        kind="backbone",
        feature_names=RAW_INPUTS,
        scaler=raw_scaler,
        provenance={**provenance, "fit": bb_fit.to_dict(), "synthetic": gen.to_dict()},
        metrics={"synthetic_residuals": bb_summary["e_tot_binned"]},
    )
    save_artifact(
        regressor,
        models_dir / "mass_regression.pt",
        kind="mass_regression",
        feature_names=REGRESSOR_INPUTS,
        scaler=reg.scaler,
        provenance={
            **provenance,
            "fit": reg_fit.to_dict(),
            "loss": "MAPE/sqrt(y) with mirrored boundaries",
            "mass_range": list(mass_range),
            "events_per_split": {SPLIT_NAMES[s]: int(np.sum(reg.split == s)) for s in range(3)},
            "early_stopping": "weighted MAPE/sqrt(y) on the validation split (no boundaries)",
        },
        metrics={**reg_metrics, "by_mass": reg_summary},
        **common,
    )
    timings["total_s"] = time.perf_counter() - t0
    report = {
        "provenance": provenance,
        "timings": timings,
        "classifiers": evaluation,
        "weightings": {
            "physics": "xsec × L × genWeight / Σw per event (test split scaled to the full sample)",
            "capped": (
                f"physics, background weights capped at {opts.background_weight_cap:g} × their "
                f"median (cap = {prep.weight_cap:.4g}) as in the training loss: a diagnostic "
                "for toy backgrounds represented by a few events with very large weights"
            ),
            "unweighted": "every event weight 1 (S and B in raw event counts)",
        },
        "significance_method": (
            f"binned S/sqrt(B) per channel on the test split, bins from "
            f"hnl_coffea.postprocessing.binning ({cfg.postprocessing.binning_scheme} scheme, "
            f"max_rel_unc={cfg.postprocessing.max_rel_unc}) on the config's fine histogram; "
            "channels combined in quadrature"
        ),
        "regression": {
            "mass_regressor": reg_summary,
            "mass_regressor_summary": reg_metrics,
            "backbone": bb_summary,
        },
        "fits": {
            "parametric": param_fit.to_dict(),
            "backbone": bb_fit.to_dict(),
            "transfer": tr_fit.to_dict(),
            "mass_regression": reg_fit.to_dict(),
        },
        "headline": {k: evaluation[k]["headline"] for k in WEIGHTINGS},
    }
    rep.write_report(report, out / "report", masses)
    return report


def _regression_metrics(summary: dict) -> dict[str, float]:
    bias = [abs(v["bias"]) for v in summary.values() if np.isfinite(v["bias"])]
    res = [v["resolution"] for v in summary.values() if np.isfinite(v["resolution"])]
    return {
        "test_mean_abs_bias": float(np.mean(bias)) if bias else float("nan"),
        "test_mean_resolution": float(np.mean(res)) if res else float("nan"),
    }
