"""``hnl-coffea train``: train the shipped networks on a toy sample or your own fileset."""

from __future__ import annotations

import json
from dataclasses import replace

import click

from .common import config_options, load_cli_config, user_errors


@click.command()
@click.option("--outdir", type=click.Path(file_okay=False), required=True)
@click.option(
    "--events",
    "n_events",
    type=click.IntRange(min=1000),
    default=300_000,
    show_default=True,
    help="Toy events to generate (ignored with --fileset).",
)
@click.option(
    "--regressor-events",
    type=click.IntRange(min=0),
    default=300_000,
    show_default=True,
    help="Signal-only toy events generated for the mass regressor (0: use the main sample's "
    "signal; ignored with --fileset).",
)
@click.option(
    "--eval-events",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Background budget of an independent toy evaluation sample for the model comparison, "
    "allocated per process (0: compare on the test split; ignored with --fileset).",
)
@click.option(
    "--eval-signal-events",
    type=click.IntRange(min=1),
    default=None,
    help="Selected events per signal mass point wanted in the evaluation sample (default: 6000).",
)
@click.option(
    "--fileset",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Train on this coffea fileset JSON instead of a generated toy sample.",
)
@click.option(
    "--epochs", type=click.IntRange(min=1), default=None, help="Max epochs of every stage."
)
@click.option(
    "--device",
    type=click.Choice(["cpu", "cuda", "auto"]),
    default="cpu",
    show_default=True,
    help="Torch device (auto: cuda when available).",
)
@click.option("--seed", type=int, default=None, help="Random seed (default: the documented one).")
@click.option(
    "--threads", type=click.IntRange(min=1), default=1, show_default=True, help="Torch CPU threads."
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Skim worker processes.",
)
@click.option("--chunksize", type=click.IntRange(min=1), default=50_000, show_default=True)
@click.option(
    "--quick", is_flag=True, help="Tiny networks and 2-3 epochs: a smoke test of the pipeline."
)
@click.option("--no-progress", is_flag=True, help="Hide the epoch progress bars.")
@click.option(
    "--models-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Write the model artifacts here instead of OUTDIR/models (e.g. data/models).",
)
@config_options
@user_errors
def train(
    outdir,
    n_events,
    regressor_events,
    eval_events,
    eval_signal_events,
    fileset,
    epochs,
    device,
    seed,
    threads,
    workers,
    chunksize,
    quick,
    no_progress,
    models_dir,
    config_files,
    overrides,
) -> None:
    """Train the parametric, transfer-learning and mass-regression networks.

    Writes OUTDIR/models/{parametric,transfer,backbone,mass_regression}.pt with their JSON
    sidecars and comparison.json (the model comparison's verdict), and OUTDIR/report/
    (report.json and plots).
    """
    from ..training.pipeline import run_training
    from ..training.stages import TrainingOptions

    cfg = load_cli_config(config_files, overrides)
    opts = TrainingOptions(
        device=device,
        threads=threads,
        progress=not no_progress,
        regressor_events=regressor_events,
    )
    if seed is not None:
        opts = replace(opts, seed=seed)
    if eval_signal_events is not None:
        opts = replace(opts, eval_signal_selected=eval_signal_events)
    if epochs is not None:
        opts = replace(
            opts,
            parametric_epochs=epochs,
            backbone_epochs=epochs,
            transfer_epochs=epochs,
            transfer_finetune_epochs=epochs,
            regressor_epochs=epochs,
        )
    report = run_training(
        cfg,
        outdir,
        fileset=fileset,
        n_events=n_events,
        options=opts,
        quick=quick,
        workers=workers,
        chunksize=chunksize,
        models_dir=models_dir,
        eval_events=eval_events,
    )
    where = models_dir or f"{outdir}/models"
    click.echo(f"models written to {where}, report to {outdir}/report/report.json")
    comp = report["comparison"]
    lumi = comp["luminosity_fb"][comp["reference_luminosity"]]
    click.echo(
        f"comparison on the {comp['events']['source']} ({comp['events']['n']} events, "
        f"{lumi:g} fb-1, largest relative error of a combined Z: "
        f"{comp['max_rel_error_combined']:.1%}):"
    )
    for claim in comp["claims"].values():
        click.echo(f"  {claim['summary']}")
    click.echo(f"  best discriminant overall: {comp['best']['overall']}")
    click.echo(json.dumps(report["timings"], indent=None))
