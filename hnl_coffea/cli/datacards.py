"""``hnl-coffea datacards``: shapes files and datacards for CMS combine."""

from __future__ import annotations

import click

from .common import (
    allow_pickle_option,
    config_options,
    load_cli_config,
    no_progress_option,
    read_output,
    user_errors,
)


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--outdir", type=click.Path(file_okay=False), required=True)
@click.option("--unblind", is_flag=True, help="Use observed data in the signal region.")
@click.option(
    "--discriminant",
    default=None,
    help="Histogram to fit (default: postprocessing.datacard_discriminant of the config).",
)
@click.option("--scheme", type=click.Choice(["increasing", "constant"]), default=None)
@allow_pickle_option
@no_progress_option
@config_options
@user_errors
def datacards(
    file, outdir, unblind, discriminant, scheme, no_progress, allow_pickle, config_files,
    overrides,
) -> None:  # fmt: skip
    """Write combine shapes and datacards per era × channel, per era and combined over eras,
    for every mass hypothesis of FILE."""
    from ..postprocessing.combine import write_datacards

    cfg = load_cli_config(config_files, overrides)
    paths = write_datacards(
        read_output(file, allow_pickle), outdir, cfg, unblind=unblind,
        discriminant=discriminant, scheme=scheme, progress=not no_progress,
    )  # fmt: skip
    cards = [p for p in paths if p.name == "combined.txt"]
    click.echo(f"wrote {len(paths)} files under {outdir}; combined cards:")
    for p in cards:
        click.echo(f"  {p}")
    if cards:
        observed = "# data_obs: observed data" in cards[0].read_text()
        click.echo("data_obs: " + ("observed data" if observed else "Asimov sum of backgrounds"))
