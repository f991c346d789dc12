"""The benchmark suite: generate the files, run every measurement, write JSON and Markdown."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import measure
from .report import markdown

__all__ = ["BenchOptions", "run_benchmarks"]

MEMORY_SAMPLE = "WZTo3LNu"
#: Default size of the set for the slow rows (systematics, transfer model, scaling), so that
#: `hnl-coffea bench --events 1000000` stays within about 15 minutes on 2 cores.
HEAVY_EVENTS = 40_000
#: The 3-lepton-enriched ("skimmed") set: the samples a ≥ 3-lepton skim keeps most of.
SKIM_SAMPLES = ("WZTo3LNu", "ZZTo4L", "HNL_M100", "HNL_M300", "HNL_M600", "HNL_M1000")
#: Events the scaling rows want (the main ZSTD set is used when it has them).
SCALING_EVENTS = 200_000
#: LZMA level 1 writes fast; decompression speed hardly depends on the level.
_LEVEL = {"lzma": 1}
#: Monte-Carlo dropout passes of the MC-dropout rows (30: the usual order of magnitude).
MC_PASSES = 30


@dataclass
class BenchOptions:
    """What to measure and how often."""

    events: int = 300_000
    """Events of the main (ZSTD and LZMA) filesets."""
    heavy_events: int | None = None
    """Events for the slow configurations (systematics, transfer model, scaling); default
    ``min(events, 200k)``."""
    repeats: int = 3
    chunksize: int = 100_000
    memory_chunks: tuple[int, ...] = (50_000, 100_000, 200_000)
    workers: tuple[int, ...] = (1, 2)
    seed: int = 1
    samples: tuple[str, ...] | None = None
    """Restrict the toy filesets to these samples (default: every background and signal)."""
    seed_events: int = 2000
    """Events for the seed-size transfer model's inference rows (bf16 may be emulated)."""
    models_dir: str | None = None
    """Folder with parametric.pt / transfer.pt (+ sidecars); default: the configured models,
    or random-weight networks of the production sizes when those are absent."""
    scale_datasets: int = 100
    """Datasets per era of the synthetic analysis-scale fileset (0: not measured)."""
    scale_events: int = 400
    """Events per dataset of the synthetic fileset."""
    demo_events: int | None = None
    """Events of the demo whose peak memory is measured (None: the demo's default; 0: not
    measured)."""
    log: Callable[[str], None] = field(default=print, repr=False)

    @classmethod
    def quick(cls, events: int = 50_000, **kw: Any) -> BenchOptions:
        """One repetition, small files, two chunk sizes: a smoke run in about a minute."""
        kw.setdefault("repeats", 1)
        kw.setdefault("memory_chunks", (10_000, 20_000))
        kw.setdefault("heavy_events", min(events, 20_000))
        kw.setdefault("seed_events", 300)
        kw.setdefault("scale_datasets", 3)
        kw.setdefault("scale_events", 200)
        kw.setdefault("demo_events", 5_000)
        return cls(events=events, **kw)


def _fileset(
    folder: Path, n: int, opts: BenchOptions, compression: str, samples: Any = None
) -> dict:
    from ..toymc import generate_fileset

    marker = folder / "bench-source.json"
    samples = list(samples or opts.samples or []) or None
    want = {"events": n, "seed": opts.seed, "compression": compression, "samples": samples}
    if not (marker.exists() and json.loads(marker.read_text()) == want):
        t0 = time.perf_counter()
        generate_fileset(
            folder, n, seed=opts.seed, layout="modern", compression=compression,
            compression_level=_LEVEL.get(compression), samples=samples,
        )  # fmt: skip
        marker.write_text(json.dumps(want))
        opts.log(f"generated {n} events ({compression}) in {time.perf_counter() - t0:.0f} s")
    return json.loads((folder / "fileset.json").read_text())


def _skim_samples(opts: BenchOptions) -> list[str]:
    """The skimmed set's samples (those of ``opts.samples`` when it restricts them)."""
    if not opts.samples:
        return list(SKIM_SAMPLES)
    return [s for s in opts.samples if s in SKIM_SAMPLES] or list(opts.samples)


def _models(cfg: Any, opts: BenchOptions, outdir: Path) -> dict[str, str]:
    """Absolute paths of the parametric and transfer artifacts to benchmark."""
    from ..paths import data_path

    if opts.models_dir:
        folder = Path(opts.models_dir)
        return {k: str((folder / f"{k}.pt").resolve()) for k in ("parametric", "transfer")}
    try:
        paths = {k: data_path(getattr(cfg.models, k)) for k in ("parametric", "transfer")}
    except Exception:  # noqa: BLE001
        paths = {}
    if paths and all(Path(f"{p}.json").is_file() for p in paths.values()):
        return {k: str(p) for k, p in paths.items()}
    return _random_models(cfg, outdir / "models")  # not trained yet: random weights, same size


def _random_models(cfg: Any, folder: Path) -> dict[str, str]:
    import torch

    from ..features import FEATURE_NAMES
    from ..models import ParametricClassifier, RegressionBackbone, TransferClassifier, save_artifact

    torch.manual_seed(0)
    masses = [float(m) for m in cfg.mass_hypotheses]
    raw = [f"l{i}_{v}" for i in (1, 2, 3) for v in ("pt", "eta", "phi", "mass")]
    feats = [f for f in FEATURE_NAMES if not f.endswith("_charge")]
    common = {"mass_hypotheses": masses, "channels": list(cfg.channel_names)}
    paths = {"parametric": folder / "parametric.pt", "transfer": folder / "transfer.pt"}
    save_artifact(ParametricClassifier(len(feats)), paths["parametric"], kind="parametric",
                  feature_names=feats, **common)  # fmt: skip
    backbone = RegressionBackbone(n_outputs=112, width=192, depth=7)
    transfer = TransferClassifier(backbone, dropout=0.1, backbone_dropout=0.1)
    save_artifact(transfer, paths["transfer"], kind="transfer",
                  feature_names=[*raw, "met_pt", "met_phi"], **common)  # fmt: skip
    return {k: str(p.resolve()) for k, p in paths.items()}


def run_benchmarks(outdir: str | Path, opts: BenchOptions | None = None) -> dict[str, Any]:
    """Run the whole suite; writes ``outdir/bench.json`` and ``outdir/bench.md``."""
    from ..config import load_config
    from ..processors import HNLProcessor
    from ..toymc import generate_sample
    from .plain import PlainProcessor

    opts = opts or BenchOptions()
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    heavy_n = opts.heavy_events or min(opts.events, HEAVY_EVENTS)
    sets = {
        "zstd": _fileset(out / "data" / "zstd", opts.events, opts, "zstd"),
        "lzma": _fileset(out / "data" / "lzma", opts.events, opts, "lzma"),
        "heavy": _fileset(out / "data" / "heavy", heavy_n, opts, "zstd"),
        "skimmed": _fileset(out / "data" / "skimmed", max(heavy_n // 4, 1), opts, "zstd",
                            samples=_skim_samples(opts)),
    }  # fmt: skip
    sizes = {k: measure.n_events(v) for k, v in sets.items()}
    base = load_config()
    paths = _models(base, opts, out)
    none = {"models.parametric": None, "models.transfer": None, "models.mass_regression": None}
    cfgs = {
        "none": base.with_overrides(none),
        "parametric": base.with_overrides({**none, "models.parametric": paths["parametric"]}),
        "transfer": base.with_overrides({**none, "models.transfer": paths["transfer"]}),
    }
    # the default configuration: every model (parametric, transfer, mass regression)
    cfgs["default"] = base.with_overrides({f"models.{k}": v for k, v in paths.items()})
    for name in ("parametric", "transfer"):
        mc = {"models.mc_dropout_passes": MC_PASSES, "models.mc_dropout_models": [name]}
        cfgs[f"{name}_mc"] = cfgs[name].with_overrides(mc)
    ds, spec = next((d, s) for d, s in sets["heavy"].items() if d == MEMORY_SAMPLE)
    probe_file = next(iter(spec["files"]))
    branches = measure.processor_branches(
        HNLProcessor(cfgs["parametric"], systematics=True), probe_file, ds, spec["metadata"]
    )
    opts.log(f"the processor reads {len(branches)} branches")

    rows: list[dict[str, Any]] = []

    def record(key: str, label: str, files: str, seconds: list[float], cores: int = 1) -> None:
        timing = measure.Timing.from_seconds(sizes[files], seconds, cores)
        rows.append({"key": key, "label": label, "fileset": files, **timing})
        r = timing["rate"]
        opts.log(f"{label} [{files}]: {r['median']:,.0f} events/s/core "
                 f"(min {r['min']:,.0f}, max {r['max']:,.0f})")  # fmt: skip

    for files in ("zstd", "lzma", "heavy", "skimmed"):
        fs = sets[files]
        measure.read_limit(fs, branches, opts.chunksize)  # warm the page cache
        secs = measure.repeat(lambda fs=fs: measure.read_limit(fs, branches, opts.chunksize),
                              opts.repeats)  # fmt: skip
        record("read_limit", "read limit (uproot, processor branches)", files, secs)

    def hnl(cfg_key: str, syst: bool) -> Callable[[], Any]:
        return lambda: HNLProcessor(cfgs[cfg_key], models=cfg_key != "none", systematics=syst)

    def proc(key, label, files, make) -> None:
        secs = measure.time_processor(make, sets[files], opts.chunksize, opts.repeats)
        record(key, label, files, secs)

    proc("plain", "plain reference processor", "zstd", lambda: PlainProcessor(base))
    proc("hnl_none_nominal", "HNLProcessor, no model, nominal", "zstd", hnl("none", False))
    full = "HNLProcessor, parametric (16 hyp.), nominal"
    proc("hnl_parametric_nominal", full, "zstd", hnl("parametric", False))
    proc("hnl_parametric_nominal", full, "lzma", hnl("parametric", False))
    # the same rows on the realistic mix (heavy) and the 3-lepton-enriched set (skimmed):
    # every cost below is a ratio on the same events
    for files in ("heavy", "skimmed"):
        proc("plain", "plain reference processor", files, lambda: PlainProcessor(base))
        proc("hnl_none_nominal", "HNLProcessor, no model, nominal", files, hnl("none", False))
        proc("hnl_none_syst", "HNLProcessor, no model, all systematics", files,
             hnl("none", True))  # fmt: skip
        proc("hnl_parametric_nominal", full, files, hnl("parametric", False))
        proc("hnl_parametric_syst", "HNLProcessor, parametric, all systematics", files,
             hnl("parametric", True))  # fmt: skip
        proc("hnl_default_nominal", "HNLProcessor, default (3 models), nominal", files,
             hnl("default", False))  # fmt: skip
        proc("hnl_default_syst", "HNLProcessor, default (3 models), all systematics", files,
             hnl("default", True))  # fmt: skip
    proc("hnl_transfer_nominal", "HNLProcessor, transfer model, nominal", "heavy",
         hnl("transfer", False))  # fmt: skip
    for name, label in (("parametric", "parametric"), ("transfer", "transfer model")):
        proc(f"hnl_{name}_mc", f"HNLProcessor, {label} + MC dropout ({MC_PASSES} passes), "
             "nominal", "heavy", hnl(f"{name}_mc", False))  # fmt: skip

    scaling = []
    # on ≥ 200k events where the main set has them: a small set is too few chunks to share
    scale_set = "zstd" if sizes["zstd"] >= SCALING_EVENTS else "heavy"
    for n in opts.workers:
        with measure.dask_backend(n) as backend:
            secs = measure.time_processor(hnl("parametric", False), sets[scale_set],
                                          opts.chunksize, opts.repeats, backend)  # fmt: skip
        t = measure.Timing.from_seconds(sizes[scale_set], secs, n)
        scaling.append({"workers": n, "fileset": scale_set, **t,
                        "events_per_s": t["rate"]["median"] * n})  # fmt: skip
        opts.log(f"dask {n} worker(s): {t['rate']['median'] * n:,.0f} events/s")
    one = scaling[0]["events_per_s"]
    for s in scaling:
        s["speedup"] = s["events_per_s"] / one

    mem_file = out / "data" / "memory" / f"{MEMORY_SAMPLE}.root"
    n_mem = max(opts.memory_chunks)
    if not mem_file.exists() or measure.n_events({"m": {"files": [str(mem_file)]}}) != n_mem:
        generate_sample(MEMORY_SAMPLE, n_mem, mem_file, seed=opts.seed, layout="modern")
    memory = []
    overrides = {**none, "models.parametric": paths["parametric"]}
    for chunk in opts.memory_chunks:
        m = measure.peak_memory(str(mem_file), MEMORY_SAMPLE, spec["metadata"], chunk, overrides,
                                True)  # fmt: skip
        memory.append({"chunksize": chunk, **m})
        opts.log(f"chunk {chunk}: peak RSS {m['peak_mb']:.0f} MB")

    from .inference import inference_section

    inference = inference_section(sets["heavy"], base, paths["transfer"], out / "inference",
                                  repeats=opts.repeats, seed_events=opts.seed_events,
                                  log=opts.log)  # fmt: skip

    from .profile import profile_chunk

    wz_zstd = sets["zstd"][MEMORY_SAMPLE]
    profiles = {
        "parametric, nominal": profile_chunk(
            hnl("parametric", False), next(iter(wz_zstd["files"])), MEMORY_SAMPLE,
            wz_zstd["metadata"], min(opts.chunksize, sizes["zstd"]),
        ),
        "no model, all systematics": profile_chunk(
            hnl("none", True), probe_file, MEMORY_SAMPLE, spec["metadata"], 10_000
        ),
    }  # fmt: skip
    result_scale: dict[str, Any] = {}
    if opts.demo_events != 0:
        from .scale import demo_memory

        result_scale["demo"] = demo_memory(out / "scale", opts.demo_events)
        opts.log(f"demo: driver peak {result_scale['demo']['driver_mb']:,.0f} MB, "
                 f"largest worker {result_scale['demo']['worker_mb'] or 0:,.0f} MB")  # fmt: skip
    if opts.scale_datasets:
        from .scale import analysis_scale_memory

        sc = analysis_scale_memory(out / "scale" / "synthetic", datasets=opts.scale_datasets,
                                   events=opts.scale_events)  # fmt: skip
        result_scale["synthetic"] = sc
        opts.log(f"{sc['datasets']} datasets × {sc['variations']} variations: run driver "
                 f"{sc['run']['driver_mb']:,.0f} MB, worker {sc['run']['worker_mb'] or 0:,.0f} "
                 f"MB, postprocessing {sc['postprocess']['driver_mb']:,.0f} MB")  # fmt: skip
    result = {
        "machine": measure.machine_info(),
        "profiles": profiles,
        "options": {k: v for k, v in asdict(opts).items() if k != "log"},
        "events": sizes,
        "branches": branches,
        "models": paths,
        "throughput": _with_ratios(rows),
        "scaling": scaling,
        "cost_model": cost_model(scaling),
        "memory": memory,
        "memory_at_scale": result_scale,
        "inference": inference,
        "wall_s": round(time.perf_counter() - t_start, 1),
    }
    result["targets"] = targets(result)
    (out / "bench.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "bench.md").write_text(markdown(result))
    return result


def _with_ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add ``vs_read_limit`` and ``vs_plain`` (median rates on the same fileset)."""
    ref = {(r["key"], r["fileset"]): r["rate"]["median"] for r in rows}
    for r in rows:
        rate = r["rate"]["median"]
        read = ref.get(("read_limit", r["fileset"]))
        plain = ref.get(("plain", r["fileset"]))
        r["vs_read_limit"] = rate / read if read else None
        r["vs_plain"] = rate / plain if plain and r["key"] != "read_limit" else None
        nominal = ref.get((r["key"].removesuffix("_syst") + "_nominal", r["fileset"]))
        r["cost_vs_nominal"] = (
            nominal / rate if r["key"].endswith("_syst") and nominal and rate else None
        )
    return rows


def cost_model(scaling: list[dict[str, Any]]) -> dict[str, Any]:
    """Events/s per core with the most workers, and workers needed per dataset and deadline."""
    best = scaling[-1]
    per_core = best["events_per_s"] / best["workers"]
    table = []
    for n in (1e8, 1e9, 1e10):
        for hours in (1, 8, 24):
            table.append({"events": n, "hours": hours,
                          "workers": math.ceil(n / (per_core * 3600 * hours))})  # fmt: skip
    return {
        "events_per_s_per_core": per_core,
        "core_hours_per_1e9_events": 1e9 / per_core / 3600,
        "formula": "workers = ceil(N / (rate_per_core × 3600 × T[h]))",
        "examples": table,
    }


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The three targets of the benchmark, with the measured value and the shortfall."""
    rows = {(r["key"], r["fileset"]): r for r in result["throughput"]}
    full = rows[("hnl_parametric_nominal", "zstd")]
    speedup = result["scaling"][-1]["speedup"] if len(result["scaling"]) > 1 else None
    mem = {m["chunksize"]: m["peak_mb"] for m in result["memory"]}
    mem100 = mem.get(100_000, max(mem.values()))
    out = [
        ("full processor / read limit", full["vs_read_limit"], 0.5),
        ("full processor / plain reference", full["vs_plain"], 1.0),
        ("2 workers / 1 worker", speedup, 1.7),
    ]
    none = rows.get(("hnl_none_nominal", "zstd"))
    if none is not None:
        out.append(("no model, nominal / plain reference", none["vs_plain"], 1.1))
    res = [{"target": t, "value": v, "goal": g, "met": v is not None and v >= g,
            "shortfall": None if v is None or v >= g else f"{(1 - v / g):.0%} below"}
           for t, v, g in out]  # fmt: skip
    for files in ("heavy", "skimmed"):
        syst = rows.get(("hnl_default_syst", files))
        if syst is not None and syst["cost_vs_nominal"] is not None:
            c = syst["cost_vs_nominal"]
            res.append({"target": f"default, all systematics: cost / nominal ({files})",
                        "value": c, "goal": 3.0, "met": c <= 3.0,
                        "shortfall": None if c <= 3.0 else f"{c / 3.0 - 1:.0%} above"})  # fmt: skip
    res.append({"target": "peak RSS at chunk 100k [MB]", "value": mem100, "goal": 2048,
                "met": mem100 < 2048,
                "shortfall": None if mem100 < 2048 else f"{mem100 / 2048 - 1:.0%} above"})  # fmt: skip
    for key, label in (("demo", "demo"), ("synthetic", "synthetic analysis-scale run")):
        sc = (result.get("memory_at_scale") or {}).get(key)
        if not sc:
            continue
        run = sc.get("run", sc)
        worker = max([run["worker_mb"] or 0.0, *(sc.get("worker_high_water_mb") or [])])
        peaks = [("driver", run["driver_mb"]), ("worker", worker or None)]
        if "postprocess" in sc:
            peaks.append(("postprocessing", sc["postprocess"]["driver_mb"]))
        for who, mb in peaks:
            if mb is None:
                continue
            res.append({"target": f"{label}: {who} peak RSS [MB]", "value": mb, "goal": 2048,
                        "met": mb < 2048,
                        "shortfall": None if mb < 2048 else f"{mb / 2048 - 1:.0%} above"})  # fmt: skip
    inference = result.get("inference", {})
    for seed in inference.get("rows", []):
        if not seed["model"].startswith("seed-size") or seed["device"] != "cpu":
            continue
        prec = seed["precision"]
        rate = seed["rate"] if seed["native"] else seed["fp32_rate"]
        goal, dev_goal = inference["rate_goal"], inference["deviation_goal"]
        res.append({"target": f"seed-size transfer, {prec} path [events/s/core]", "value": rate,
                    "goal": goal, "met": rate >= goal,
                    "shortfall": None if rate >= goal else
                    f"{1 - rate / goal:.0%} below" + ("" if seed["native"] else
                                                       " (no native bf16: fp32 fall-back)")})  # fmt: skip
        d = seed["deviation"]["max"]
        res.append({"target": f"seed-size transfer, {prec} max Δscore", "value": d,
                    "goal": dev_goal, "met": d <= dev_goal,
                    "shortfall": None if d <= dev_goal else f"{d / dev_goal:.0f}× the goal"})  # fmt: skip
    return res
