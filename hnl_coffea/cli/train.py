"""``hnl-coffea train``: train the shipped networks on a skim."""

from __future__ import annotations

import click

from .common import config_options, not_implemented


@click.command()
@click.option("--outdir", type=click.Path(file_okay=False), required=True)
@config_options
def train(outdir, config_files, overrides) -> None:
    """Train the parametric, transfer-learning and mass-regression networks."""
    not_implemented("train")
