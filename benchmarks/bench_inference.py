"""Inference throughput of the hnl-coffea networks: events × mass hypotheses per second per core.

Measures :class:`hnl_coffea.models.ModelRunner.scores` (all hypotheses batched, one intra-op
thread) for the parametric classifier, the transfer-learning classifier at the seed's size
(backbone 1024 × 25) and at a small size, in fp32 and bf16 (autocast), plus the parametric
classifier evaluated hypothesis by hypothesis for comparison. Networks have random weights
(throughput does not depend on them). Prints a Markdown table and writes JSON.

    python benchmarks/bench_inference.py [--events 20000] [--threads 1] [--out bench.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from hnl_coffea.models import (
    ModelRunner,
    ParametricClassifier,
    RegressionBackbone,
    TransferClassifier,
    cpu_supports_bf16,
    save_artifact,
)

MASSES = [85, 100, 125, 150, 200, 250, 300, 350, 400, 450, 500, 600, 700, 800, 900, 1000]
CHANNELS = ["tautaumu", "tautaue", "taumumu", "taumue", "tauee"]


def _artifact(folder: Path, name: str, model, kind: str, n_features: int) -> Path:
    path = folder / f"{name}.pt"
    save_artifact(
        model,
        path,
        kind=kind,
        feature_names=[f"x{i}" for i in range(n_features)],
        mass_hypotheses=MASSES,
        channels=CHANNELS,
    )
    return path


def _inputs(n: int, n_features: int):
    rng = np.random.default_rng(0)
    return (
        rng.normal(size=(n, n_features)),
        rng.integers(0, 5, size=n),
        np.where(rng.random((n, 3)) > 0.5, 1.0, -1.0),
    )


def _time(fn, repeats: int) -> float:
    fn()  # warm-up (loads the model, allocates)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def run(events: int, threads: int, repeats: int) -> list[dict]:
    torch.manual_seed(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cases = [
            ("parametric [83, 30]", _artifact(folder, "p", ParametricClassifier(85), "parametric", 85), 85, events),
            (
                "transfer small (128 × 7)",
                _artifact(folder, "ts", TransferClassifier(RegressionBackbone(n_outputs=112, width=128, depth=7)), "transfer", 14),
                14,
                events,
            ),
            (
                "transfer seed size (1024 × 25)",
                _artifact(folder, "tb", TransferClassifier(RegressionBackbone()), "transfer", 14),
                14,
                max(events // 10, 200),
            ),
        ]  # fmt: skip
        for label, path, n_feat, n in cases:
            x, ch, q = _inputs(n, n_feat)
            for precision in ("fp32", "bf16"):
                runner = ModelRunner(path, threads=threads, precision=precision)
                seconds = _time(lambda r=runner, a=(x, ch, q): r.scores(*a), repeats)
                rows.append(_row(label, precision, "batched", n, seconds, threads))
            if label.startswith("parametric"):
                runner = ModelRunner(path, threads=threads)
                seconds = _time(
                    lambda r=runner, a=(x, ch, q): [r.scores(*a, [m]) for m in MASSES], repeats
                )
                rows.append(_row(label, "fp32", "one hypothesis at a time", n, seconds, threads))
    return rows


def _row(label, precision, mode, n, seconds, threads) -> dict:
    rate = n * len(MASSES) / seconds
    return {
        "model": label,
        "precision": precision,
        "mode": mode,
        "events": n,
        "hypotheses": len(MASSES),
        "seconds": seconds,
        "event_hypotheses_per_s_per_core": rate / threads,
        "events_per_s_per_core": n / seconds / threads,
    }


def markdown(rows: list[dict]) -> str:
    lines = [
        "| model | precision | mode | events | events × hyp / s / core | events / s / core |",
        "|---|---|---|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['precision']} | {r['mode']} | {r['events']} | "
            f"{r['event_hypotheses_per_s_per_core']:,.0f} | {r['events_per_s_per_core']:,.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench_inference.json"))
    args = parser.parse_args()
    rows = run(args.events, args.threads, args.repeats)
    print(markdown(rows))
    meta = {
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cpu_native_bf16": cpu_supports_bf16(),
        "threads": args.threads,
    }
    args.out.write_text(json.dumps({"meta": meta, "results": rows}, indent=2) + "\n")
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
