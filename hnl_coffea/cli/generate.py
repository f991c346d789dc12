"""``hnl-coffea generate``: toy NanoAOD samples and their fileset JSON."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import click

from .common import config_options, load_cli_config, user_errors


@click.command()
@click.option(
    "--events",
    "-n",
    type=int,
    default=100_000,
    show_default=True,
    help="Total events over all samples (signal share set by --signal-fraction).",
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
    type=click.Choice(["modern", "legacy", "v15"]),
    default="modern",
    show_default=True,
    help="NanoAOD layout: modern (v12-v14, DeepTau2018v2p5), legacy (v9, DeepTau2017v2p1) or v15.",
)
@click.option(
    "--compression",
    type=click.Choice(["zstd", "lzma", "lz4", "zlib"]),
    default="zstd",
    show_default=True,
    help="ROOT compression algorithm.",
)
@click.option("--compression-level", type=int, default=None, help="Compression level.")
@click.option(
    "--signal-fraction",
    type=click.FloatRange(0.0, 1.0),
    default=0.3,
    show_default=True,
    help="Share of --events given to the signal mass points.",
)
@click.option(
    "--sample",
    "samples",
    multiple=True,
    help="Generate only this sample (repeatable), e.g. WZTo3LNu or HNL_M300.",
)
@click.option(
    "--data/--no-data",
    "with_data",
    default=False,
    help="Also write toy collision data (background mixture, one file per primary dataset).",
)
@click.option(
    "--data-lumi",
    type=click.FloatRange(min=0.0, min_open=True),
    default=0.2,
    show_default=True,
    help="Integrated luminosity of the toy data in fb^-1 (≈1.24k generated events per pb^-1 "
    "after the generator-level filter of >= 2 charged leptons).",
)
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
@config_options
@user_errors
def generate(
    events,
    output,
    seed,
    layout,
    compression,
    compression_level,
    signal_fraction,
    samples,
    with_data,
    data_lumi,
    no_progress,
    config_files,
    overrides,
) -> None:
    """Generate toy NanoAOD signal and background samples and DIR/fileset.json."""
    import json
    import time

    from ..toymc import generate_fileset

    cfg = load_cli_config(config_files, overrides)
    t0 = time.perf_counter()
    from ..toymc.samples import all_samples

    n_samples = len(samples) or len(all_samples(cfg.mass_hypotheses))
    with _sample_bar(not no_progress, n_samples + (1 if with_data else 0)) as on_sample:
        path = generate_fileset(
            output,
            events,
            seed=seed,
            layout=layout,
            compression=compression,
            compression_level=compression_level,
            cfg=cfg,
            samples=list(samples) or None,
            signal_fraction=signal_fraction,
            with_data=with_data,
            luminosity_fb=data_lumi,
            on_sample=on_sample,
        )
    dt = time.perf_counter() - t0
    fileset = json.loads(path.read_text())
    total = sum(d["metadata"]["user"]["n_events"] for d in fileset.values())
    click.echo(f"{'dataset':<14} {'events':>9} {'xsec [pb]':>11} {'sumw':>10}")
    for name, d in fileset.items():
        md = d["metadata"]
        n = md["user"]["n_events"]
        if md.get("is_data"):
            click.echo(f"{name:<14} {n:>9} {'data':>11} {md['user']['luminosity_fb']:>7g}/fb")
            continue
        click.echo(f"{name:<14} {n:>9} {md['xsec']:>11.4g} {md['sumw']:>10.0f}")
    click.echo(
        f"{total} events in {len(fileset)} datasets ({layout} layout, {compression}) "
        f"in {dt:.1f} s → {path}"
    )


@contextlib.contextmanager
def _sample_bar(enabled: bool, total: int) -> Iterator[Callable[[str, int], None] | None]:
    """A bar over the samples being written (None when disabled)."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn("[bold blue]generating"), BarColumn(), MofNCompleteColumn(),
        TextColumn("samples {task.fields[last]}"), console=Console(stderr=True),
    ) as bar:  # fmt: skip
        task = bar.add_task("samples", total=total, last="")
        yield lambda name, n: bar.update(task, advance=1, last=f"(last: {name})")
