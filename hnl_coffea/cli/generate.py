"""``hnl-coffea generate``: toy NanoAOD samples and their fileset JSON."""

from __future__ import annotations

import click

from .common import config_options, not_implemented


@click.command()
@click.option(
    "--events",
    "-n",
    type=int,
    default=100_000,
    show_default=True,
    help="Events per background sample scale (see docs).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(file_okay=False),
    required=True,
    help="Output folder for ROOT files and fileset.json.",
)
@click.option(
    "--seed",
    type=int,
    default=1,
    show_default=True,
    help="Random seed (same seed → identical files).",
)
@click.option(
    "--layout",
    type=click.Choice(["modern", "legacy"]),
    default="modern",
    show_default=True,
    help="NanoAOD layout: modern (v12+, DeepTau2018v2p5) or legacy (v9, DeepTau2017v2p1).",
)
@click.option(
    "--compression",
    type=click.Choice(["zstd", "lzma", "lz4", "zlib"]),
    default="zstd",
    show_default=True,
    help="ROOT compression algorithm.",
)
@config_options
def generate(events, output, seed, layout, compression, config_files, overrides) -> None:
    """Generate toy NanoAOD signal and background samples and DIR/fileset.json."""
    not_implemented("generate")
