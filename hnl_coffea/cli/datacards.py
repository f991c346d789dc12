"""``hnl-coffea datacards``: shapes files and datacards for CMS combine."""

from __future__ import annotations

import click

from .common import config_options, not_implemented


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--outdir", type=click.Path(file_okay=False), required=True)
@click.option("--unblind", is_flag=True, help="Use observed data in the signal region.")
@config_options
def datacards(file, outdir, unblind, config_files, overrides) -> None:
    """Write combine shapes and datacards per channel and mass hypothesis from FILE."""
    not_implemented("datacards")
