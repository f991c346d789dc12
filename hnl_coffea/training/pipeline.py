"""``hnl-coffea train`` end to end: toy sample (or a fileset) → skim → four training stages →
artifacts with sidecars → the model comparison on an independent evaluation sample → quality
report."""

from __future__ import annotations

import os
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
from .comparison import compare, orientations
from .datasets import SPLIT_NAMES, TEST, TRAIN, VALIDATION
from .evalsample import generate_and_skim, plan_counts
from .evaluation import auc_metrics, skim_events, split_events, test_split_auc
from .loops import predict, resolve_device, set_seed
from .prepare import (
    REGRESSOR_INPUTS,
    RegressionArrays,
    make_synthetic,
    prepare,
    prepare_regression,
)
from .samples import generate_sample, read_region, run_skim, skim_weights
from .skim import SkimTable
from .stages import (
    TrainingOptions,
    pretrain_backbone,
    train_mass_regressor,
    train_parametric,
)
from .synthetic import RAW_INPUTS
from .transfer import train_transfer

__all__ = ["QUICK", "generate_sample", "run_skim", "run_training", "train_on_skim"]

#: Option overrides of ``--quick`` (a smoke test, not a usable model).
QUICK = {
    "parametric_epochs": 2,
    "backbone_epochs": 2,
    "backbone_events_per_epoch": 4000,
    "backbone_width": 32,
    "backbone_depth": 3,
    "transfer_epochs": 2,
    "transfer_finetune_epochs": 2,
    "regressor_epochs": 2,
    "regressor_hidden": (32, 32),
    "regressor_events": 0,
    "parametric_hidden": (16, 8),
    "transfer_hidden": (16, 16),
}


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
    eval_events: int = 0,
) -> dict:
    """Train every network and write ``models/*.pt`` (+ sidecars) and ``report/`` in ``outdir``
    (the artifacts go to ``models_dir`` instead when given).

    ``eval_events`` > 0 (toy samples only) generates an independent evaluation sample with
    that background budget for the model comparison (:mod:`.evalsample`); otherwise the
    comparison uses the test split of the training sample."""
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
    sample["chunksize"] = chunksize  # chunking sets the skim's row order, hence the training
    fs = load_fileset(fileset_path, redirector=cfg.redirector)
    timings["sample_s"] = time.perf_counter() - t0
    acc = run_skim(fs, cfg, out / "skim", workers, chunksize, opts.progress)
    timings["skim_s"] = time.perf_counter() - t0 - timings["sample_s"]

    skim = read_region(out / "skim", cfg)
    phys = skim_weights(skim, fs, acc, cfg)
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
        reg_skim = read_region(out / "regressor_skim", cfg)
        regression = prepare_regression(reg_skim, skim_weights(reg_skim, reg_fs, reg_acc, cfg))
        sample["regressor_sample"] = {
            "n_events": opts.regressor_events,
            "seed": reg_seed,
            "signal_fraction": 1.0,
            "selected_signal_events": int(len(regression.m_true)),
        }
        timings["regressor_sample_s"] = time.perf_counter() - tick
    evaluation = None
    if fileset is None and eval_events > 0:
        tick = time.perf_counter()
        evaluation = _evaluation_sample(skim, fs, acc, cfg, out, opts, eval_events, workers)
        sample["evaluation_sample"] = evaluation[2]
        timings["evaluation_sample_s"] = time.perf_counter() - tick
    provenance = {
        "fileset": _portable(fileset_path, out),
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
        cfg, skim, phys, out, opts, provenance, timings, t0, models_dir, regression, evaluation
    )


def _portable(path: Path, outdir: Path) -> str:
    """``path`` relative to the training folder when inside it (the artifacts then do not
    depend on where that folder is), else as given."""
    try:
        return Path(os.path.relpath(path.resolve(), outdir.resolve())).as_posix()
    except ValueError:
        return str(path)


def _evaluation_sample(skim, fs, acc, cfg, out: Path, opts, eval_events: int, workers: int):
    """Plan, generate and skim the evaluation sample; its SR skim, weights per fb⁻¹, summary."""
    ds = skim["dataset"]
    eff = {d: float(np.sum(ds == d)) / max(int(acc["n_events"].get(d, 0)), 1) for d in fs}
    xsec = {d: fs[d]["metadata"]["xsec"] for d in fs}
    signals = [d for d in fs if fs[d]["metadata"].get("is_signal")]
    plan = plan_counts(
        eff, xsec, signals, n_background=eval_events, signal_selected=opts.eval_signal_selected,
        unseen_events=min(opts.eval_unseen_events, eval_events // 6), max_events=eval_events,
    )  # fmt: skip
    seed = opts.seed + 2
    info = generate_and_skim(plan, out / "evaluation", cfg, seed=seed, workers=workers)
    ev_skim = read_region(out / "evaluation" / "skim", cfg)
    meta = {d: {"metadata": v["metadata"]} for d, v in info.items()}
    weight = skim_weights(ev_skim, meta, {"sumw": {}}, cfg, lumi_fb=1.0)
    summary = {
        **plan.to_dict(), "seed": seed, "signal_region_events": len(ev_skim),
        "selected": {d: v["selected"] for d, v in info.items()},
        "signal_region": {d: int(np.sum(ev_skim["dataset"] == d)) for d in info},
    }  # fmt: skip
    return ev_skim, weight, summary


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
    evaluation: tuple[SkimTable, np.ndarray, dict] | None = None,
) -> dict:
    """The four training stages, artifacts, comparison and report for an already-read skim.

    ``regression`` holds the mass regressor's events (e.g. a separate signal-only sample); by
    default it trains on the signal events of ``skim``. ``evaluation`` is an independent
    (skim, weight per fb⁻¹, description) for the model comparison; by default the
    comparison uses the test split."""
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
    timings["backbone_s"], tick = time.perf_counter() - tick, time.perf_counter()
    # 3. transfer classifier: head on the frozen backbone, then fine tuning (on a copy)
    transfer, staged = train_transfer(backbone, a, n_ch, opts, device)
    staged.stages.insert(0, _pretraining_record(bb_fit, opts))
    timings["transfer_s"], tick = time.perf_counter() - tick, time.perf_counter()
    # 4. mass regressor
    reg = regression if regression is not None else prepare_regression(skim, phys)
    mass_range = (min(cfg.mass_hypotheses), max(cfg.mass_hypotheses))
    regressor, reg_fit = train_mass_regressor(
        reg.x, reg.m_true, reg.weight, reg.split, mass_range, opts, device
    )
    timings["mass_regression_s"] = time.perf_counter() - tick
    timings["training_s"] = time.perf_counter() - t_train

    # evaluation: test-split AUCs (sidecars), the comparison (report), regression residuals
    tick = time.perf_counter()
    masses = list(cfg.mass_hypotheses)
    models = (param, transfer)
    test_auc = test_split_auc(prep, models, masses, cfg, device)
    lumi_era = cfg.era_config.luminosity_fb
    signs = orientations(split_events(prep, VALIDATION, models, masses, lumi_era, device), masses)
    if evaluation is not None:
        ev_skim, ev_weight, ev_info = evaluation
        scalers = (prep.feature_scaler, raw_scaler)
        events = skim_events(ev_skim, ev_weight, models, scalers, masses, device)
        source = "independent evaluation sample"
    else:
        events = split_events(prep, TEST, models, masses, lumi_era, device)
        source, ev_info = "test split of the training sample", None
    comparison = compare(events, signs, masses, cfg, n_boot=opts.comparison_bootstrap,
                         seed=opts.seed)  # fmt: skip
    comparison["events"] = {"source": source, "n": len(events.weight), "sample": ev_info}
    timings["comparison_s"] = time.perf_counter() - tick
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
        metrics=auc_metrics(test_auc, "parametric"),
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
            "fit": staged.to_dict(),
            "backbone_max_abs_change": _max_abs_change(transfer.backbone, backbone),
            "synthetic": gen.to_dict(),
            "synthetic_acceptance": gen.acceptance(np.random.default_rng(opts.seed + 7)),
        },
        metrics=auc_metrics(test_auc, "transfer"),
        **common,
    )
    save_artifact(
        backbone,
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
    rep.write_comparison_summary(comparison, models_dir / "comparison.json")
    timings["total_s"] = time.perf_counter() - t0
    report = {
        "provenance": provenance,
        "timings": timings,
        "comparison": comparison,
        "test_split_auc": test_auc,
        "regression": {
            "mass_regressor": reg_summary,
            "mass_regressor_summary": reg_metrics,
            "backbone": bb_summary,
        },
        "fits": {
            "parametric": param_fit.to_dict(),
            "backbone": bb_fit.to_dict(),
            "transfer": staged.to_dict(),
            "mass_regression": reg_fit.to_dict(),
        },
    }
    rep.write_report(report, out / "report", masses)
    return report


def _pretraining_record(fit, opts: TrainingOptions) -> dict:
    """The backbone pre-training as the first stage of the transfer model's record."""
    return {
        "stage": "backbone_pretraining",
        "frozen": [],
        "trainable": ["backbone"],
        "data": f"synthetic kinematics, {opts.backbone_events_per_epoch} fresh events per epoch",
        "optimizer": "Adam",
        "lr": {"backbone": opts.backbone_lr},
        "schedule": f"exponential decay, gamma {opts.backbone_lr_decay}",
        "fit": fit.to_dict(),
    }


def _max_abs_change(tuned: torch.nn.Module, pretrained: torch.nn.Module) -> float:
    """Largest |Δw| between the fine-tuned and the pre-trained backbone (0: not fine-tuned)."""
    return max(
        float((a.detach() - b.detach()).abs().max())
        for a, b in zip(tuned.parameters(), pretrained.parameters(), strict=True)
    )


def _regression_metrics(summary: dict) -> dict[str, float]:
    bias = [abs(v["bias"]) for v in summary.values() if np.isfinite(v["bias"])]
    res = [v["resolution"] for v in summary.values() if np.isfinite(v["resolution"])]
    return {
        "test_mean_abs_bias": float(np.mean(bias)) if bias else float("nan"),
        "test_mean_resolution": float(np.mean(res)) if res else float("nan"),
    }
