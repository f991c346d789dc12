"""``hnl-coffea btag-efficiency``: b-tagging efficiency maps of simulated jets, per era."""

from __future__ import annotations

import click

from .common import config_options, load_cli_config, load_fileset_cli, user_errors


@click.command("btag-efficiency")
@click.argument("fileset", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--outdir",
    "-o",
    type=click.Path(file_okay=False),
    required=True,
    help="Folder for one <era>.json.gz per era of the simulated datasets.",
)
@click.option(
    "--executor",
    type=click.Choice(["iterative", "futures", "dask"]),
    default="futures",
    show_default=True,
)
@click.option("--workers", type=int, default=None, help="Worker processes (default: one per core).")
@click.option("--chunksize", type=int, default=100_000, show_default=True)
@click.option("--redirector", default=None, help="XRootD prefix joined to /store/... names.")
@click.option("--no-progress", is_flag=True, help="Hide progress bars.")
@config_options
@user_errors
def btag_efficiency(fileset, outdir, config_files, overrides, **kw) -> None:
    """Measure the b-tagging efficiency of the selected jets of FILESET's simulated datasets
    by era, working point, hadron flavour, pT and |η|; point eras.<era>.btag_efficiency at
    the files written."""
    from ..corrections.btag_efficiency import write_efficiency
    from ..executors import ClusterError, ExecutorOptions
    from ..processors import BtagEfficiencyProcessor
    from ..runner import RunError, RunOptions, run_fileset

    cfg = load_cli_config(config_files, overrides)
    files = load_fileset_cli(fileset, redirector=kw["redirector"] or cfg.redirector, cfg=cfg)
    options = RunOptions(chunksize=kw["chunksize"], status=not kw["no_progress"])
    executor = ExecutorOptions(executor=kw["executor"], workers=kw["workers"])
    try:
        out, _ = run_fileset(BtagEfficiencyProcessor(cfg), files, options, executor)
    except (RunError, ClusterError) as err:
        raise click.ClickException(str(err)) from None
    h = out["btag_efficiency"]
    if not list(h.axes["era"]):
        raise click.ClickException(f"{fileset}: no simulated dataset (b-tag efficiency needs MC)")
    for path in write_efficiency(h, outdir):
        era = path.name.removesuffix(".json.gz")
        click.echo(f"wrote {path}  (--set eras.{era}.btag_efficiency={path.resolve()})")
