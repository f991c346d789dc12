"""``hnl-coffea run``: process a fileset with HNLProcessor."""

from __future__ import annotations

import click

from .common import config_options, not_implemented


@click.command()
@click.argument("fileset", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--executor",
    type=click.Choice(["iterative", "futures", "dask"]),
    default="dask",
    show_default=True,
    help="How chunks are processed.",
)
@click.option("--workers", type=int, default=None, help="Worker processes (default: one per core).")
@click.option("--scheduler", default=None, help="Join an existing Dask scheduler at ADDRESS.")
@click.option(
    "--cluster",
    type=click.Choice(["slurm", "htcondor", "pbs", "lsf"]),
    default=None,
    help="Start a dask-jobqueue cluster on a batch system.",
)
@click.option("--chunksize", type=int, default=100_000, show_default=True)
@click.option(
    "--maxchunks",
    type=int,
    default=None,
    help="Process at most this many chunks per file (quick tests).",
)
@click.option(
    "--skip-bad-files",
    is_flag=True,
    help="Skip files that cannot be read (listed in the summary) instead of failing.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False),
    required=True,
    help="Output file with all accumulators.",
)
@config_options
def run(
    fileset,
    executor,
    workers,
    scheduler,
    cluster,
    chunksize,
    maxchunks,
    skip_bad_files,
    output,
    config_files,
    overrides,
) -> None:
    """Run HNLProcessor over FILESET (coffea fileset JSON) and save histograms."""
    not_implemented("run")
