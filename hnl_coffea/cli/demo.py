"""``hnl-coffea demo``: the whole chain on an embedded toy sample."""

from __future__ import annotations

import click

from .common import not_implemented


@click.command()
@click.option("--outdir", type=click.Path(file_okay=False), default="hnl-output", show_default=True)
def demo(outdir) -> None:
    """Generate a toy fileset, process it on a local Dask cluster, and write outputs."""
    not_implemented("demo")
