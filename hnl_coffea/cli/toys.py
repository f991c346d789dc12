"""``hnl-coffea toys``: pseudo-experiments for the look-elsewhere effect."""

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
@click.option("--ntoys", type=int, default=10_000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--inject-mu", type=float, default=None, help="Inject a signal of this strength…")
@click.option("--inject-mhyp", type=float, default=None, help="…at this mass hypothesis (GeV).")
@click.option("--injection-toys", type=int, default=200, show_default=True)
@click.option("--hist", "hist_name", default="score_parametric", show_default=True)
@click.option("--bins", "n_bins", type=int, default=10, show_default=True)
@click.option("--no-nuisances", is_flag=True, help="Poisson fluctuations only.")
@click.option(
    "--no-profile",
    is_flag=True,
    help="Keep the background at its nominal template in the fits (faster; nuisances not profiled).",
)
@click.option("--unblind", is_flag=True, help="Use the data of a blinded signal region.")
@click.option("--scheduler", default=None, help="Dask scheduler address for the toys.")
@no_progress_option
@allow_pickle_option
@config_options
@user_errors
def toys(
    file, outdir, ntoys, seed, inject_mu, inject_mhyp, injection_toys, hist_name, n_bins,
    no_nuisances, no_profile, unblind, scheduler, no_progress, allow_pickle, config_files,
    overrides,
) -> None:  # fmt: skip
    """Background-only pseudo-experiments over the mass scan: global significance."""
    from ..config import AnalysisConfig
    from ..postprocessing.pseudoexperiments_io import run_pseudoexperiments

    if (inject_mu is None) != (inject_mhyp is None):
        raise click.UsageError("--inject-mu and --inject-mhyp go together")
    output = read_output(file, allow_pickle)
    if not isinstance(output, dict) or "hists" not in output:
        raise click.ClickException(f"{file}: not an hnl-coffea processor output (no 'hists')")
    if config_files or overrides or "config" not in output:
        cfg = load_cli_config(config_files, overrides)
    else:
        cfg = AnalysisConfig.model_validate(output["config"])
    client = None
    if scheduler:
        from distributed import Client

        client = Client(scheduler)
    try:
        rep = run_pseudoexperiments(
            output, outdir, cfg, n_toys=ntoys, seed=seed,
            inject=None if inject_mu is None else (inject_mu, inject_mhyp),
            n_injection_toys=injection_toys, nuisances=not no_nuisances, profile=not no_profile,
            client=client, progress=not no_progress,
            hist_name=hist_name, n_bins=n_bins, unblind=unblind,
        )  # fmt: skip
    finally:
        if client is not None:
            client.close()
    q = rep["max_z"]["quantiles"]
    fits = rep["fits"]
    click.echo(
        f"{ntoys} toys over {rep['n_points']} scan points "
        f"(nuisances {'profiled' if rep['nuisances_profiled'] else 'fixed'} in the fits): "
        f"max local Z median {q['0.5']:.2f}, 95% {q['0.95']:.2f}"
    )
    if fits["fraction_rescued"] or fits["n_failed"]:
        click.echo(
            f"  fits: {100 * fits['fraction_rescued']:.3g}% needed the scalar fallback, "
            f"{fits['n_failed']} failed (left out of the maximum)"
        )
    entries = [("reference", e) for e in rep["reference"].values()]
    for label, entry in [*entries, ("observed", rep.get("observed"))]:
        if entry:
            tf = entry["trials_factor"]
            click.echo(
                f"  local Z {entry['z_local']:.2f} ({label}): global p-value {entry['p_global']:.3g}"
                f" (Z_global {entry['z_global']:.2f}), trials factor {'n/a' if tf is None else f'{tf:.3g}'}"
            )
    if "injected" in rep:
        i = rep["injected"]
        click.echo(
            f"  injected mu={i['mu']:g} at m_hyp={i['mhyp']:g}: recovered at m_hyp "
            f"{i['most_common_best_mhyp']:g} ({100 * i['fraction_at_injected_mhyp']:.0f}% of toys), "
            f"median local Z {i['median_z_local']:.2f}, global p-value {i['median_p_global']:.3g}"
        )
    click.echo(f"report: {outdir}/toys.json")
