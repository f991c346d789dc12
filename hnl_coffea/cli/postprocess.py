"""``hnl-coffea postprocess``: adaptive binning, significance and plots."""

from __future__ import annotations

from pathlib import Path

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
@click.option(
    "--scheme",
    type=click.Choice(["increasing", "constant"]),
    default=None,
    help="Adaptive binning scheme (default: postprocessing.binning_scheme of the config).",
)
@click.option(
    "--max-rel-unc",
    type=float,
    default=None,
    help="Largest relative background uncertainty per bin (default from the config: 0.15).",
)
@click.option("--unblind", is_flag=True, help="Show signal-region data in the plots.")
@click.option("--plots/--no-plots", default=True, show_default=True, help="Draw plots.")
@click.option("--all-plots", is_flag=True, help="Every discriminant, mass, channel and feature.")
@allow_pickle_option
@no_progress_option
@config_options
@user_errors
def postprocess(
    file, outdir, scheme, max_rel_unc, unblind, plots, all_plots, no_progress, allow_pickle,
    config_files, overrides,
) -> None:  # fmt: skip
    """Rebin FILE's histograms adaptively, compute significances and expected limits (also
    at the configured projections), and draw plots."""
    from rich.console import Console

    from ..postprocessing.report import postprocess_output

    cfg = load_cli_config(config_files, overrides)
    output = read_output(file, allow_pickle)
    mode = "all" if all_plots else ("default" if plots else "none")
    summary = postprocess_output(
        output, outdir, cfg, scheme=scheme, max_rel_unc=max_rel_unc, unblind=unblind, plots=mode,
        progress=not no_progress,
    )  # fmt: skip
    if not summary.rows:
        signals = [d for d, md in output.get("datasets", {}).items() if md.get("is_signal")]
        why = "no signal dataset (is_signal: true)" if not signals else "no discriminant filled"
        raise click.ClickException(f"nothing to postprocess in {file}: {why}")
    console = Console()
    console.print(summary.markdown())
    for w in summary.warnings:
        console.print(f"[yellow]warning:[/yellow] {w}")
    console.print(f"tables and rebinned histograms: {', '.join(str(p) for p in summary.files)}")
    if summary.plots:
        console.print(f"{len(summary.plots)} plot files under {Path(outdir) / 'plots'}")
