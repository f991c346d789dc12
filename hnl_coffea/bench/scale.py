"""Peak memory at analysis scale: the demo, and a synthetic fileset of many datasets and eras.

Each measurement runs in a fresh process; a sampler polls the resident set size (RSS) of
that process (the driver) and of its descendants (the Dask workers) every 0.2 s and keeps
the peaks. The synthetic fileset has ``datasets`` datasets in each of ``eras``, each one
file of ``events`` toy events (hard links of a few generated samples per era, so that every
dataset is a separate file) processed with the default models and every systematic
variation, with the JES split into three sources (40 variations).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["SCALE_ERAS", "analysis_scale_memory", "demo_memory", "watch_rss"]

#: Eras of the synthetic fileset: three Run 2 (NanoAOD v9 layout) and one Run 3 (v12).
SCALE_ERAS = {"2016postVFP": "legacy", "2017": "legacy", "2018": "legacy", "2022EE": "modern"}
#: Samples each era's datasets are hard links of (backgrounds and two signal masses).
SCALE_SAMPLES = ("WZTo3LNu", "ZZTo4L", "TTTo2L2Nu", "DYJetsToLL", "HNL_M100", "HNL_M500")
#: JES sources of the synthetic run (in every era's illustrative and real jet_jerc files).
SCALE_JES = ("Total", "FlavorQCD", "RelativeBal")


def watch_rss(cmd: Sequence[str], log_path: Path, interval: float = 0.2) -> dict[str, Any]:
    """Run ``cmd``; peak RSS (MB) of it and of its largest descendant, and the wall time.

    Its output goes to ``log_path``; a non-zero exit raises ``RuntimeError`` with the last
    line of that log."""
    import psutil

    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(list(cmd), stdout=log, stderr=subprocess.STDOUT)
        me = psutil.Process(proc.pid)
        driver = worker = 0
        while proc.poll() is None:
            with contextlib.suppress(psutil.Error):
                driver = max(driver, me.memory_info().rss)
                for child in me.children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        worker = max(worker, child.memory_info().rss)
            time.sleep(interval)
    if proc.returncode != 0:
        lines = Path(log_path).read_text(errors="replace").strip().splitlines()
        raise RuntimeError(f"{' '.join(cmd[:4])}… failed: {lines[-1:] or ['no output']}")
    return {
        "driver_mb": round(driver / 2**20, 1),
        "worker_mb": round(worker / 2**20, 1) if worker else None,
        "wall_s": round(time.perf_counter() - t0, 1),
    }


def demo_memory(outdir: Path, events: int | None = None, workers: int = 2) -> dict[str, Any]:
    """Peak RSS of ``hnl-coffea demo`` (default size unless ``events``) on ``workers``."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "hnl_coffea.cli", "demo", "--outdir", str(outdir / "demo"),
           "--no-progress", "--workers", str(workers)]  # fmt: skip
    if events:
        cmd += ["--events", str(events)]
    return {"events": events, "workers": workers, **watch_rss(cmd, outdir / "demo.log")}


def analysis_scale_memory(
    outdir: Path,
    *,
    datasets: int = 100,
    eras: Sequence[str] = tuple(SCALE_ERAS),
    events: int = 400,
    workers: int = 2,
    memory_mb: float | None = None,
) -> dict[str, Any]:
    """Peak RSS of processing (then postprocessing, in a second process) the synthetic
    fileset of ``datasets`` × ``eras`` datasets with models and all systematics."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    spec = {"outdir": str(outdir), "datasets": datasets, "eras": list(eras), "events": events,
            "workers": workers, "memory_mb": memory_mb}  # fmt: skip
    run = watch_rss([sys.executable, "-m", __name__, "run", json.dumps(spec)], outdir / "run.log")
    info = json.loads((outdir / "run.json").read_text())
    post = watch_rss([sys.executable, "-m", __name__, "post", json.dumps(spec)],
                     outdir / "post.log")  # fmt: skip
    return {**info, "run": run, "postprocess": post}


def _config(eras: Sequence[str]):
    from ..config import load_config

    cfg = load_config()
    return cfg.with_overrides({f"eras.{e}.jets.jes_sources": list(SCALE_JES) for e in eras})


def _fileset(folder: Path, spec: dict[str, Any], cfg) -> dict[str, Any]:
    """``datasets`` hard links per era of the generated samples, with their metadata."""
    from ..toymc import generate_sample

    fileset: dict[str, Any] = {}
    for era in spec["eras"]:
        base = folder / "samples" / era
        base.mkdir(parents=True, exist_ok=True)
        metas = {}
        for sample in SCALE_SAMPLES:
            path = base / f"{sample}.root"
            meta_path = path.with_suffix(".json")
            if not meta_path.exists():
                meta = generate_sample(sample, spec["events"], path, seed=1,
                                       layout=SCALE_ERAS.get(era, "modern"),
                                       cfg=cfg.for_era(era))  # fmt: skip
                meta_path.write_text(json.dumps(meta))
            metas[sample] = (path, json.loads(meta_path.read_text()))
        links = folder / "datasets" / era
        links.mkdir(parents=True, exist_ok=True)
        for i in range(spec["datasets"]):
            sample = SCALE_SAMPLES[i % len(SCALE_SAMPLES)]
            src, meta = metas[sample]
            name = f"{sample}_{i:03d}_{era}"
            dst = links / f"{name}.root"
            if not dst.exists():
                os.link(src, dst)
            fileset[name] = {"files": {str(dst): "Events"}, "metadata": {**meta, "era": era}}
    return fileset


def _run(spec: dict[str, Any]) -> None:
    from ..executors import ExecutorOptions, open_backend
    from ..outputs import save_output
    from ..processors import HNLProcessor
    from ..runner import RunOptions, run_fileset
    from .measure import _high_water_mb

    folder = Path(spec["outdir"])
    cfg = _config(spec["eras"])
    fileset = _fileset(folder, spec, cfg)
    opts = RunOptions(chunksize=100_000, status=False)
    if spec.get("memory_mb"):
        opts.memory_mb = float(spec["memory_mb"])
    exe = ExecutorOptions(executor="dask", workers=spec["workers"], host="127.0.0.1")
    t0 = time.perf_counter()
    with open_backend(exe, retries=1, status=False) as backend:
        out, summary = run_fileset(HNLProcessor(cfg, systematics=True), fileset, opts,
                                   backend=backend)  # fmt: skip
        workers = backend.client.run(_high_water_mb) if backend.client is not None else {}
    seconds = time.perf_counter() - t0
    save_output(out, folder / "output.zip", overwrite=True)
    h = next(iter(out["hists"].parts("score_parametric")))
    info = {
        "datasets": len(fileset),
        "eras": spec["eras"],
        "events": sum(summary.events_read.values()),
        "variations": len(h.axes["systematic"]) - 1,
        "histogram_mb_per_dataset": round(_dataset_mb(out["hists"]), 1),
        "memory_budget_mb": opts.memory_mb,
        "processing_s": round(seconds, 1),
        "worker_high_water_mb": sorted(round(v, 1) for v in workers.values()),
        "output_mb": round((folder / "output.zip").stat().st_size / 2**20, 1),
    }
    (folder / "run.json").write_text(json.dumps(info, indent=2) + "\n")


def _dataset_mb(hists) -> float:
    first = {}
    for name in hists:
        part = next(iter(hists.parts(name)))
        first[name] = part.view(flow=True).nbytes / max(len(part.axes["dataset"]), 1)
    return sum(first.values()) / 2**20


def _post(spec: dict[str, Any]) -> None:
    from ..outputs import load_output
    from ..postprocessing.report import postprocess_output

    folder = Path(spec["outdir"])
    output = load_output(folder / "output.zip")
    postprocess_output(output, folder / "postprocess", _config(spec["eras"]), plots="none",
                       progress=False)  # fmt: skip


if __name__ == "__main__":
    {"run": _run, "post": _post}[sys.argv[1]](json.loads(sys.argv[2]))
