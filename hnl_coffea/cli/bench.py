"""``hnl-coffea bench``: throughput and memory benchmarks."""

from __future__ import annotations

import click

from .common import not_implemented


@click.command()
@click.option("--events", type=int, default=1_000_000, show_default=True)
@click.option(
    "--outdir", type=click.Path(file_okay=False), default="bench-output", show_default=True
)
def bench(events, outdir) -> None:
    """Measure events/s against the read limit and a plain coffea processor."""
    not_implemented("bench")
