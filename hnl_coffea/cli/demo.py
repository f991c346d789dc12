"""``hnl-coffea demo``: the whole chain on an embedded toy sample.

generate (cached) → process on a local Dask cluster → postprocess (adaptive binning,
significance, plots) → combine datacards [→ pseudo-experiments with ``--toys``].
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from .common import config_options, load_cli_config, no_progress_option, user_errors

DEMO_EVENTS = 200_000
DEMO_SEED = 2018


@click.command()
@click.option("--outdir", type=click.Path(file_okay=False), default="hnl-output", show_default=True)
@click.option(
    "--events",
    type=int,
    default=DEMO_EVENTS,
    show_default=True,
    help="Toy events to generate (all samples).",
)
@click.option(
    "--workers", type=int, default=None, help="Local Dask workers (default: one per core)."
)
@click.option(
    "--executor",
    type=click.Choice(["iterative", "futures", "dask"]),
    default="dask",
    show_default=True,
)
@click.option(
    "--toys",
    "ntoys",
    type=int,
    default=0,
    help="Also run this many pseudo-experiments (look-elsewhere effect).",
)
@click.option(
    "--unblind", is_flag=True, help="Show signal-region pseudo-data in plots and datacards."
)
@click.option("--no-data", is_flag=True, help="Do not generate toy pseudo-data.")
@no_progress_option
@config_options
@user_errors
def demo(
    outdir, events, workers, executor, ntoys, unblind, no_data, no_progress, config_files,
    overrides,
) -> None:  # fmt: skip
    """Generate a toy fileset, process it on a local Dask cluster, and write histograms,
    plots, the significance table and combine datacards into OUTDIR."""
    from ..demo import run_demo

    cfg = load_cli_config(config_files, overrides)
    t0 = time.perf_counter()
    outputs = run_demo(
        cfg,
        Path(outdir),
        n_events=events,
        seed=DEMO_SEED,
        executor=executor,
        workers=workers,
        n_toys=ntoys,
        unblind=unblind,
        with_data=not no_data,
        progress=not no_progress,
    )
    click.echo(f"\nhnl-coffea demo finished in {time.perf_counter() - t0:.0f} s. Outputs:")
    for label, path in outputs.items():
        click.echo(f"  {label:<22} {path}")
