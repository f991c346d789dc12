"""``hnl-coffea bench``: throughput and memory benchmarks."""

from __future__ import annotations

import click


@click.command()
@click.option("--events", type=int, default=None,
              help="Events per fileset [default: 300000, or 50000 with --quick].")  # fmt: skip
@click.option(
    "--outdir", type=click.Path(file_okay=False), default="bench-output", show_default=True
)
@click.option("--quick", is_flag=True, help="One repetition on small files (a smoke run).")
@click.option("--repeats", type=int, default=None, help="Repetitions per figure [default: 3].")
@click.option("--heavy-events", type=int, default=None,
              help="Events for systematics, transfer model and scaling [default: ≤ 40000].")  # fmt: skip
@click.option("--models-dir", type=click.Path(file_okay=False, exists=True), default=None,
              help="Folder with parametric.pt and transfer.pt to benchmark.")  # fmt: skip
@click.option("--scale-datasets", type=int, default=None,
              help="Datasets per era (4 eras) of the synthetic analysis-scale memory run; 0: "
                   "not measured [default: 100, or 3 with --quick].")  # fmt: skip
@click.option("--demo-events", type=int, default=None,
              help="Events of the demo whose peak memory is measured; 0: not measured "
                   "[default: the demo's own, or 5000 with --quick].")  # fmt: skip
def bench(
    events, outdir, quick, repeats, heavy_events, models_dir, scale_datasets, demo_events
) -> None:
    """Measure events/s against the read limit and a plain coffea processor, and peak
    memory at analysis scale."""
    from ..bench import BenchOptions, run_benchmarks

    kw = {"heavy_events": heavy_events, "models_dir": models_dir}
    if scale_datasets is not None:
        kw["scale_datasets"] = scale_datasets
    if demo_events is not None:
        kw["demo_events"] = demo_events
    if repeats is not None:
        kw["repeats"] = repeats
    if quick:
        opts = BenchOptions.quick(
            events or 50_000, **{k: v for k, v in kw.items() if v is not None}
        )
    else:
        opts = BenchOptions(
            events=events or 300_000, **{k: v for k, v in kw.items() if v is not None}
        )
    click.echo(f"benchmarking {opts.events:,} events → {outdir}")
    run_benchmarks(outdir, opts)
    click.echo(f"written {outdir}/bench.json and {outdir}/bench.md")
