"""The benchmark machinery (``hnl-coffea bench``): result structure, cost model, Markdown.

No timing is asserted; these tests check that the suite runs end to end on a tiny sample
and that its derived numbers (ratios, cost model, targets) follow from the measured ones.
"""

from __future__ import annotations

import json
import math
import os

import pytest
from coffea import processor

from hnl_coffea.bench.report import markdown
from hnl_coffea.bench.suite import BenchOptions, _with_ratios, cost_model, run_benchmarks


def _row(key, fileset, median):
    return {"key": key, "label": key, "fileset": fileset, "events": 1000, "cores": 1,
            "seconds": [1.0], "rate": {"min": median, "median": median, "max": median}}  # fmt: skip


def test_ratios_use_the_same_fileset():
    rows = _with_ratios([
        _row("read_limit", "zstd", 40_000.0),
        _row("read_limit", "lzma", 10_000.0),
        _row("plain", "zstd", 16_000.0),
        _row("hnl_parametric_nominal", "zstd", 20_000.0),
        _row("hnl_parametric_nominal", "lzma", 8_000.0),
        _row("hnl_default_nominal", "heavy", 2_000.0),
        _row("hnl_default_syst", "heavy", 500.0),
        _row("hnl_default_syst", "skimmed", 100.0),  # no nominal row on that set
    ])  # fmt: skip
    by = {(r["key"], r["fileset"]): r for r in rows}
    assert by[("hnl_parametric_nominal", "zstd")]["vs_read_limit"] == pytest.approx(0.5)
    assert by[("hnl_parametric_nominal", "zstd")]["vs_plain"] == pytest.approx(1.25)
    assert by[("hnl_parametric_nominal", "lzma")]["vs_read_limit"] == pytest.approx(0.8)
    assert by[("hnl_parametric_nominal", "lzma")]["vs_plain"] is None  # no plain run on lzma
    assert by[("read_limit", "zstd")]["vs_plain"] is None
    assert by[("hnl_default_syst", "heavy")]["cost_vs_nominal"] == pytest.approx(4.0)
    assert by[("hnl_default_syst", "skimmed")]["cost_vs_nominal"] is None
    assert by[("hnl_default_nominal", "heavy")]["cost_vs_nominal"] is None


def test_cost_model_workers_by_hand():
    scaling = [{"workers": 1, "events_per_s": 5_000.0}, {"workers": 2, "events_per_s": 9_000.0}]
    c = cost_model(scaling)
    assert c["events_per_s_per_core"] == pytest.approx(4_500.0)
    assert c["core_hours_per_1e9_events"] == pytest.approx(1e9 / 4_500 / 3600)
    ex = {(e["events"], e["hours"]): e["workers"] for e in c["examples"]}
    # 1e9 events in 8 h at 4500 events/s/core: 1e9 / (4500 * 28800) = 7.7 → 8 workers
    assert ex[(1e9, 8)] == 8
    assert ex[(1e8, 24)] == math.ceil(1e8 / (4500 * 3600 * 24))


def _hnl_without_models():
    from hnl_coffea.config import load_config
    from hnl_coffea.processors import HNLProcessor

    none = {f"models.{k}": None for k in ("parametric", "transfer", "mass_regression")}
    return HNLProcessor(load_config().with_overrides(none), systematics=False)


def test_scaling_rows_start_from_warm_workers(tmp_path):
    """Every worker has run the processor on every dataset before the timed runs (a warm-up
    run through the scheduler may leave a worker cold: the two-worker row then pays its
    imports and model loading)."""
    from hnl_coffea.bench import measure
    from hnl_coffea.toymc import generate_fileset

    generate_fileset(tmp_path, 600, samples=["WZTo3LNu", "HNL_M100", "TTTo2L2Nu"])
    fileset = json.loads((tmp_path / "fileset.json").read_text())
    with measure.dask_backend(2) as backend:
        warmed = measure.warm_workers(backend, _hnl_without_models, fileset, chunksize=200)
        pids = sorted(backend.client.run(os.getpid).values())
    assert sorted(warmed) == pids
    assert all(datasets == sorted(fileset) for datasets in warmed.values())


class _ChunkLog(processor.ProcessorABC):
    """Writes each chunk's dataset and size to a file (the processor may be pickled)."""

    def __init__(self, path):
        self.path = str(path)

    def process(self, events):
        with open(self.path, "a") as f:
            f.write(f"{events.metadata['dataset']} {len(events)}\n")
        return {}

    def postprocess(self, accumulator):
        return accumulator


def test_timed_runs_start_warm(tmp_path):
    """Before the timed runs the processor has run on the first events of every dataset, so
    the first timed run does not also time model and correction loading."""
    from hnl_coffea.bench import measure
    from hnl_coffea.toymc import generate_fileset

    generate_fileset(tmp_path, 6_000, samples=["WZTo3LNu", "HNL_M100"])
    fileset = json.loads((tmp_path / "fileset.json").read_text())
    log = tmp_path / "chunks.txt"
    measure.time_processor(lambda: _ChunkLog(log), fileset, 100_000, 1)
    chunks = [(d, int(n)) for d, n in (line.split() for line in log.read_text().splitlines())]
    warm, timed = chunks[: len(fileset)], chunks[len(fileset) :]
    entries = {d: sum(n for dd, n in timed if dd == d) for d in fileset}  # the timed run
    assert all(entries.values()) and max(entries.values()) > 2_000
    assert sorted(d for d, _ in warm) == sorted(fileset)
    for d, n in warm:  # one chunk of ~2,000 events (coffea evens out the chunks of a file)
        assert n == entries[d] if entries[d] <= 2_000 else n < entries[d]


@pytest.mark.slow
def test_suite_smoke(tmp_path):
    """The whole suite on 4k events of two samples, one repetition, one Dask worker."""
    opts = BenchOptions(
        events=4_000, heavy_events=2_000, repeats=1, chunksize=5_000, memory_chunks=(1_000,),
        workers=(1,), samples=("WZTo3LNu", "HNL_M100"), log=lambda _: None, seed_events=100,
        scale_datasets=1, scale_events=100, demo_events=2_000,
    )  # fmt: skip
    result = run_benchmarks(tmp_path, opts)
    saved = json.loads((tmp_path / "bench.json").read_text())
    assert saved["events"] == result["events"]
    assert set(saved) >= {"machine", "throughput", "scaling", "cost_model", "memory", "targets"}
    assert saved["events"]["zstd"] == 4_000 and saved["events"]["heavy"] == 2_000
    keys = {(r["key"], r["fileset"]) for r in saved["throughput"]}
    for key in ("read_limit", "plain", "hnl_none_nominal", "hnl_parametric_nominal"):
        assert (key, "zstd") in keys
    assert ("hnl_parametric_syst", "heavy") in keys and ("read_limit", "lzma") in keys
    assert ("hnl_parametric_mc", "heavy") in keys and ("hnl_transfer_mc", "heavy") in keys
    for files in ("heavy", "skimmed"):  # nominal, systematics and models on the same files
        for key in ("plain", "hnl_none_nominal", "hnl_none_syst", "hnl_default_nominal",
                    "hnl_default_syst"):  # fmt: skip
            assert (key, files) in keys
    scale = saved["memory_at_scale"]
    assert scale["demo"]["driver_mb"] > 0 and scale["demo"]["events"] == 2_000
    synthetic = scale["synthetic"]
    assert synthetic["datasets"] == 4 and len(synthetic["eras"]) == 4  # one per era
    assert synthetic["variations"] >= 40 and synthetic["run"]["driver_mb"] > 0
    for r in saved["throughput"]:
        rate = r["rate"]
        assert 0 < rate["min"] <= rate["median"] <= rate["max"]
        assert len(r["seconds"]) == 1
    # the processor reads muon, tau, jet and trigger branches, and nothing it does not need
    assert "Muon_pt" in saved["branches"] and "Tau_decayMode" in saved["branches"]
    assert not any(b.startswith("GenPart_") for b in saved["branches"])
    assert saved["scaling"][0]["speedup"] == pytest.approx(1.0)
    mem = saved["memory"][0]
    assert mem["chunksize"] == 1_000 and mem["peak_mb"] >= mem["baseline_mb"] > 0
    rows = {(r["model"].split(" (")[0], r["precision"]): r for r in saved["inference"]["rows"]}
    for prec in ("bf16", "bf16x3"):
        seed = rows[("seed-size transfer", prec)]
        assert seed["events"] == 100 and seed["fp32_rate"] > 0 and seed["rate"] > 0
        d = seed["deviation"]
        assert 0 < d["max"] < 0.5  # bfloat16 numerics differ from fp32, but not wildly
        assert d["mean"] <= d["p999"] <= d["max"]
    # the split path is far closer to fp32 than plain bfloat16
    assert (rows[("seed-size transfer", "bf16x3")]["deviation"]["max"]
            < rows[("seed-size transfer", "bf16")]["deviation"]["max"] / 10)  # fmt: skip
    assert {t["target"] for t in saved["targets"]} >= {
        f"seed-size transfer, {p} {what}"
        for p in ("bf16", "bf16x3") for what in ("path [events/s/core]", "max Δscore")
    }  # fmt: skip
    md = (tmp_path / "bench.md").read_text()
    assert "## Classifier inference" in md and "seed-size transfer" in md
    assert md.count("| read limit") == 4 and "## Targets" in md
    assert "## Peak memory at analysis scale" in md
    assert markdown(saved) == md
