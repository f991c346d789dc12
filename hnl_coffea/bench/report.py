"""The Markdown rendering of a benchmark result (``bench.md``)."""

from __future__ import annotations

from typing import Any

__all__ = ["markdown"]


def _k(x: float | None) -> str:
    return "–" if x is None else f"{x:,.0f}"


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


def markdown(result: dict[str, Any]) -> str:
    """Throughput, scaling, cost model, memory and targets as Markdown tables."""
    m = result["machine"]
    v = m["versions"]
    ev = result["events"]
    lines = [
        "# hnl-coffea benchmark",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB; load average at the "
        f"end {m['load_average']}. Python {m['python']}, coffea {v['coffea']}, awkward "
        f"{v['awkward']}, uproot {v['uproot']}, numpy {v['numpy']}, torch {v['torch']}, "
        f"dask {v['dask']}.",
        "",
        f"Toy NanoAOD (modern layout): `zstd` {ev['zstd']:,} events, `lzma` {ev['lzma']:,} "
        f"events, `heavy` (ZSTD, the realistic mix again, for the slow configurations) "
        f"{ev['heavy']:,} events, `skimmed` (ZSTD, 3-lepton enriched: WZ, ZZ and signal "
        f"only) {ev.get('skimmed', 0):,} events; chunk "
        f"size {result['options']['chunksize']:,}; {result['options']['repeats']} "
        f"repetition(s); one core (iterative executor) unless stated. The processor reads "
        f"{len(result['branches'])} branches.",
        "",
        "## Throughput (events / s / core)",
        "",
        "Each `heavy` and `skimmed` row runs on the same events, so its cost is a ratio on "
        "them; × nominal: the time of an all-systematics row over its nominal row.",
        "",
        "| configuration | files | median | min | max | / read limit | / plain | × nominal |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["throughput"]:
        rate = r["rate"]
        cost = r.get("cost_vs_nominal")
        lines.append(
            f"| {r['label']} | {r['fileset']} | {_k(rate['median'])} | {_k(rate['min'])} | "
            f"{_k(rate['max'])} | {_pct(r['vs_read_limit'])} | {_pct(r['vs_plain'])} | "
            f"{'–' if cost is None else f'{cost:.2f}'} |"
        )
    lines += [
        "",
        "## Scaling (Dask LocalCluster, processes, 1 thread each; parametric, nominal, "
        f"`{result['scaling'][0].get('fileset', 'heavy')}`)",
        "",
        "| workers | events / s (median) | events / s / core | speed-up |",
        "|---:|---:|---:|---:|",
    ]
    for s in result["scaling"]:
        lines.append(
            f"| {s['workers']} | {_k(s['events_per_s'])} | {_k(s['rate']['median'])} | "
            f"{s['speedup']:.2f}× |"
        )
    c = result["cost_model"]
    lines += [
        "",
        f"Cost model: {c['events_per_s_per_core']:,.0f} events/s/core → "
        f"{c['core_hours_per_1e9_events']:,.0f} core-hours per 10⁹ events; {c['formula']}.",
        "",
        "| events | deadline | workers |",
        "|---:|---:|---:|",
    ]
    for e in c["examples"]:
        lines.append(f"| {e['events']:.0e} | {e['hours']} h | {e['workers']} |")
    lines += [
        "",
        "## Peak memory per worker (parametric, nominal; fresh process, one chunk)",
        "",
        "| chunk size | events | RSS after imports + model [MB] | peak RSS [MB] |",
        "|---:|---:|---:|---:|",
    ]
    for mm in result["memory"]:
        lines.append(
            f"| {mm['chunksize']:,} | {mm['events']:,} | {mm['baseline_mb']:,.0f} | "
            f"{mm['peak_mb']:,.0f} |"
        )
    lines += _scale_lines(result.get("memory_at_scale") or {})
    inf = result.get("inference")
    if inf:
        lines += [
            "",
            "## Classifier inference: transfer models, 16 mass hypotheses, one thread",
            "",
            f"Test sample: the signal-region events of the `heavy` files "
            f"({inf['rows'][0]['test_sample_events']:,}). |Δscore| = |score − fp32 score| over "
            "all events and hypotheses (Δ below). bf16: the backbone in bfloat16; bf16x3: each "
            "backbone layer as three bfloat16 products (split bfloat16, close to fp32). Without "
            "native bf16 the runner falls back to fp32 and these figures are emulated.",
            "",
            "| model | device | precision | events | fp32 events/s | events/s | kind | max Δ | "
            "99.9 % Δ | mean Δ |",
            "|---|---|---|---:|---:|---:|---|---:|---:|---:|",
        ]
        for r in inf["rows"]:
            d = r["deviation"]
            lines.append(
                f"| {r['model']} | {r['device']} | {r['precision']} | {r['events']:,} | "
                f"{_k(r['fp32_rate'])} | {_k(r['rate'])} | {r['rate_kind']} | {d['max']:.1e} | "
                f"{d['p999']:.1e} | {d['mean']:.1e} |"
            )
    lines += ["", "## Targets", "", "| target | measured | goal | met |", "|---|---:|---:|---|"]
    for t in result["targets"]:
        v = t["value"]
        val = "–" if v is None else f"{v:.2e}" if abs(v) < 0.01 else f"{v:,.2f}"
        met = "yes" if t["met"] else f"no ({t['shortfall']})"
        lines.append(f"| {t['target']} | {val} | {t['goal']} | {met} |")
    for name, prof in (result.get("profiles") or {}).items():
        lines += [
            "",
            f"## Where the time goes: {name} (one chunk of {prof['events']:,} WZ events, "
            f"{prof['total_s']:.2f} s, cProfile)",
            "",
            "| function | cumulative s |",
            "|---|---:|",
        ]
        lines += [f"| `{f['function']}` | {f['cumulative_s']:.3f} |" for f in prof["functions"]]
    lines += ["", f"Whole benchmark: {result['wall_s']:.0f} s wall clock.", ""]
    return "\n".join(lines)


def _scale_lines(scale: dict[str, Any]) -> list[str]:
    """The demo's and the synthetic analysis-scale run's peak memory."""
    if not scale:
        return []
    lines = [
        "",
        "## Peak memory at analysis scale (fresh processes, RSS polled every 0.2 s; "
        "workers of the synthetic run: their own high-water mark)",
        "",
        "| run | driver peak [MB] | largest worker peak [MB] | wall [s] |",
        "|---|---:|---:|---:|",
    ]
    demo = scale.get("demo")
    if demo:
        size = f"{demo['events']:,} events" if demo["events"] else "default size"
        lines.append(f"| `hnl-coffea demo` ({size}, {demo['workers']} workers) | "
                     f"{demo['driver_mb']:,.0f} | {_mb(demo['worker_mb'])} | "
                     f"{demo['wall_s']:,.0f} |")  # fmt: skip
    sc = scale.get("synthetic")
    if sc:
        what = (f"{sc['datasets']} datasets ({len(sc['eras'])} eras), {sc['variations']} "
                f"variations, {sc['events']:,} events")  # fmt: skip
        hwm = max(sc.get("worker_high_water_mb") or [0.0])
        worker = max(hwm, sc["run"]["worker_mb"] or 0.0) or None
        lines.append(f"| processing: {what} | {sc['run']['driver_mb']:,.0f} | "
                     f"{_mb(worker)} | {sc['run']['wall_s']:,.0f} |")  # fmt: skip
        lines.append(f"| postprocessing of that output (no plots) | "
                     f"{sc['postprocess']['driver_mb']:,.0f} | – | "
                     f"{sc['postprocess']['wall_s']:,.0f} |")  # fmt: skip
        lines += [
            "",
            f"Histograms of one dataset: {sc['histogram_mb_per_dataset']:,.0f} MB "
            f"({sc['datasets'] * sc['histogram_mb_per_dataset'] / 1024:,.1f} GB for all); "
            f"rounds of datasets under a {sc['memory_budget_mb']:,.0f} MB budget, finished "
            f"ones spilled to files; output file {sc['output_mb']:,.0f} MB.",
        ]
    return lines


def _mb(x: float | None) -> str:
    return "–" if x is None else f"{x:,.0f}"
