"""``hnl-coffea postprocess``: adaptive binning, significance and plots."""

from __future__ import annotations

import click

from .common import config_options, not_implemented


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--outdir", type=click.Path(file_okay=False), required=True)
@config_options
def postprocess(file, outdir, config_files, overrides) -> None:
    """Rebin FILE's histograms adaptively, compute significances and draw plots."""
    not_implemented("postprocess")
