"""Classifier inference rates and the bf16 fast path's deviation from fp32.

The test sample is the signal-region events of the benchmark's toy fileset (skimmed with
:class:`SkimProcessor`): their 14 raw inputs, channel and charges. Two transfer models are
measured, all 16 mass hypotheses per event, one thread:

* the configured (trained) transfer model;
* a transfer model of the seed's size (backbone width 1024, depth 25, ~26 M parameters)
  with He-initialised weights, so that activations neither vanish nor explode through the
  25 layers, and an output layer scaled to a logit spread of 2 on the test sample: a stress
  test of bf16 rounding, not a trained network (those weights would be ~100 MB).

Rates are events per second per core in fp32 and on each reduced-precision path: "bf16"
(the backbone in bfloat16) and "bf16x3" (each backbone layer as three bfloat16 products,
see :class:`hnl_coffea.models.runtime.SplitBF16Linear`). Where the hardware has no native
bfloat16 the runner falls back to fp32 and the numbers are measured with emulated bfloat16
(labelled so). The deviation is |score − score(fp32)| over all events and hypotheses (max,
99.9 % quantile, mean).
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["BF16_GOAL", "PRECISIONS", "RATE_GOAL", "inference_section", "seed_size_transfer"]

#: Goals of the fast path for the seed-size model: events/s/core and max |Δscore|.
RATE_GOAL, BF16_GOAL = 20_000.0, 1e-3
#: The reduced-precision paths measured against fp32 (see ``models.precision``).
PRECISIONS = ("bf16", "bf16x3")


def _test_sample(fileset: dict, cfg: Any, outdir: Path) -> dict[str, np.ndarray]:
    from ..training.samples import read_region, run_skim
    from ..training.synthetic import RAW_INPUTS

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_skim(fileset, cfg, outdir / "skim")
    skim = read_region(outdir / "skim", cfg)
    return {
        "raw": skim.matrix(RAW_INPUTS),
        "channel": skim["channel"].astype(np.int64),
        "charges": skim.matrix(["l1_charge", "l2_charge", "l3_charge"]),
    }


def seed_size_transfer(path: Path, like: str, sample: dict, seed: int = 0) -> Path:
    """Write the He-initialised seed-size transfer model (see the module docstring) with
    the inputs, scaler and mass hypotheses of the trained model at ``like``."""
    import torch

    from ..models import RegressionBackbone, TransferClassifier, load_artifact, save_artifact

    side = load_artifact(like).sidecar
    torch.manual_seed(seed)
    backbone = RegressionBackbone(n_raw=14, n_outputs=69, width=1024, depth=25, dropout=0.1)
    for lin in backbone.layers:
        torch.nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")
        torch.nn.init.zeros_(lin.bias)
    model = TransferClassifier(backbone, hidden=(128, 128), dropout=0.1).eval()
    x = torch.as_tensor(side.scaler.transform(sample["raw"][:2000]))
    ch, q = torch.as_tensor(sample["channel"][:2000]), torch.as_tensor(sample["charges"][:2000])
    masses = torch.tensor(side.mass_hypotheses, dtype=torch.float32)
    with torch.no_grad():
        logits = model.hypothesis_logits(x, ch, q, masses)
        scale = 2.0 / float(logits.std())
        model.head.out.weight.mul_(scale)
        model.head.out.bias.mul_(scale).sub_(float(logits.mean()) * scale)
    save_artifact(model, path, kind="transfer", feature_names=side.feature_names,
                  scaler=side.scaler, mass_hypotheses=side.mass_hypotheses,
                  channels=side.channels)  # fmt: skip
    return path


def _rate(runner, inputs: tuple, repeats: int) -> float:
    runner.scores(*(a[:64] for a in inputs))  # load, allocate
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        runner.scores(*inputs)
        best = min(best, time.perf_counter() - t0)
    return len(inputs[0]) / best


def _measure(
    path: Path, sample: dict, n: int, repeats: int, device: str, precision: str
) -> dict[str, Any]:
    from ..models import ModelRunner
    from ..models.runtime import resolve_precision

    inputs = (sample["raw"][:n], sample["channel"][:n], sample["charges"][:n])
    fp32 = ModelRunner(path, device=device, threads=1, precision="fp32")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the fall-back warning: recorded as "native" below
        native = resolve_precision(precision, fp32.torch_device) == precision
    low = ModelRunner(path, device=device, threads=1, precision=precision, emulate_bf16=True)
    ref, got = fp32.scores(*inputs), low.scores(*inputs)
    dev = np.abs(got - ref)
    return {
        "events": n,
        "device": device,
        "precision": precision,
        "native": native,
        "fp32_rate": _rate(fp32, inputs, repeats),
        "rate": _rate(low, inputs, repeats),
        "rate_kind": "native" if native else "emulated (the runner falls back to fp32)",
        "deviation": {
            "max": float(dev.max()),
            "p999": float(np.quantile(dev, 0.999)),
            "mean": float(dev.mean()),
        },  # fmt: skip
    }


def inference_section(
    fileset: dict, cfg: Any, transfer_path: str, outdir: Path, *, repeats: int = 3,
    seed_events: int = 2000, log=print,
) -> dict[str, Any]:  # fmt: skip
    """Rates and bf16 deviations of the trained and the seed-size transfer model (on CUDA
    too when a GPU is visible)."""
    import torch

    sample = _test_sample(fileset, cfg, outdir)
    n = len(sample["raw"])
    if n == 0:
        raise ValueError("the benchmark fileset has no signal-region event to evaluate")
    tile = max(1, -(-4 * seed_events // n))  # enough events for a stable rate
    big = {k: np.concatenate([v] * tile) for k, v in sample.items()}
    seed = seed_size_transfer(outdir / "transfer_seed_size.pt", transfer_path, sample)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []
    for device in devices:
        for label, path, k in (
            ("trained transfer model", Path(transfer_path), min(len(big["raw"]), 20_000)),
            ("seed-size transfer (1024 × 25, He init)", seed, seed_events),
        ):
            for precision in PRECISIONS:
                row = {"model": label, "test_sample_events": n,
                       **_measure(path, big, k, repeats, device, precision)}  # fmt: skip
                rows.append(row)
                log(f"{label} [{device}, {precision}]: fp32 {row['fp32_rate']:,.0f}, "
                    f"{precision} {row['rate']:,.0f} events/s/core ({row['rate_kind']}); "
                    f"max |Δscore| {row['deviation']['max']:.2e}")  # fmt: skip
    seed.unlink()
    return {"rows": rows, "rate_goal": RATE_GOAL, "deviation_goal": BF16_GOAL}
