"""``hnl-coffea toys``: pseudo-experiments for the look-elsewhere effect."""

from __future__ import annotations

import click

from .common import not_implemented


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--outdir", type=click.Path(file_okay=False), required=True)
@click.option("--ntoys", type=int, default=10_000, show_default=True)
def toys(file, outdir, ntoys) -> None:
    """Background-only pseudo-experiments over the mass scan: global significance."""
    not_implemented("toys")
