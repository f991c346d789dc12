"""``hnl-coffea run``: process a fileset with HNLProcessor (or any coffea processor)."""

from __future__ import annotations

import importlib

import click

from .common import config_options, load_cli_config, load_fileset_cli, user_errors


def _load_processor_class(spec: str):
    module, sep, name = spec.partition(":")
    if not sep or not module or not name:
        raise click.BadParameter(f"expected module:Class, got {spec!r}", param_hint="--processor")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as err:
        raise click.ClickException(f"--processor {spec}: {err}") from None


@click.command()
@click.argument("fileset", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--executor",
    type=click.Choice(["iterative", "futures", "dask"]),
    default="dask",
    show_default=True,
    help="How chunks are processed.",
)
@click.option(
    "--workers",
    type=int,
    default=None,
    help="Worker processes (default: one per core), or batch jobs with --cluster.",
)
@click.option("--scheduler", default=None, help="Join an existing Dask scheduler at ADDRESS.")
@click.option(
    "--cluster",
    type=click.Choice(["slurm", "htcondor", "pbs", "lsf"]),
    default=None,
    help="Start a dask-jobqueue cluster on a batch system.",
)
@click.option("--site", type=click.Path(exists=True, dir_okay=False), help="Site YAML file.")
@click.option("--cores", type=int, default=None, help="Cores per batch job.")
@click.option("--memory", default=None, help="Memory per batch job, e.g. 4GB.")
@click.option("--walltime", default=None, help="Wall time per batch job, HH:MM:SS.")
@click.option("--queue", "--partition", "queue", default=None, help="Queue / SLURM partition.")
@click.option("--account", default=None, help="Batch account to charge.")
@click.option("--job-extra", multiple=True, help="Extra batch directive (repeatable).")
@click.option("--pass-env", multiple=True, help="Export this variable into jobs (repeatable).")
@click.option("--interface", default=None, help="Network interface for Dask, e.g. lo.")
@click.option("--scheduler-host", "host", default=None, help="Scheduler host address.")
@click.option("--min-workers", type=int, default=None, help="Adaptive scaling: fewest jobs.")
@click.option("--max-workers", type=int, default=None, help="Adaptive scaling: most jobs.")
@click.option(
    "--worker-profile",
    is_flag=True,
    default=None,
    help="Keep Dask's statistical profiler on in the workers (~12 % of their CPU).",
)
@click.option(
    "--worker-timeout",
    type=float,
    default=None,
    help="Seconds to wait for the first worker before failing [default: 300].",
)
@click.option(
    "--lost-worker-timeout",
    type=float,
    default=None,
    help="Seconds with every worker gone before the jobs are resubmitted (or the run stops) "
    "[default: 300].",
)
@click.option(
    "--resubmit",
    type=int,
    default=None,
    help="How often batch jobs are resubmitted after all workers were lost [default: 2].",
)
@click.option("--chunksize", type=int, default=100_000, show_default=True)
@click.option(
    "--maxchunks",
    type=int,
    default=None,
    help="Process at most this many chunks per dataset (quick tests; skips the count check).",
)
@click.option("--retries", type=int, default=3, show_default=True, help="Retries per file/chunk.")
@click.option(
    "--memory-mb",
    type=float,
    default=300.0,
    show_default=True,
    help="Histogram storage one round of datasets may hold; finished datasets' histograms "
    "beyond it are written to files (--spill-dir) and read back one at a time.",
)
@click.option(
    "--spill-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder for spilled histograms [default: a temporary folder].",
)
@click.option(
    "--skip-bad-files",
    is_flag=True,
    help="Skip files that cannot be read (listed in the summary) instead of failing.",
)
@click.option(
    "--redirector",
    default=None,
    help="XRootD prefix joined to /store/... names, e.g. root://cms-xrd-global.cern.ch//",
)
@click.option(
    "--processor",
    "processor_spec",
    default="processors:HNLProcessor",
    show_default=True,
    help="Processor class as module:Class; constructed with the analysis config.",
)
@click.option("--no-progress", is_flag=True, help="Hide progress bars.")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False),
    required=True,
    help="Output file with all accumulators (hnl-coffea's zip format, read without pickle).",
)
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
@click.option(
    "--resume",
    is_flag=True,
    help="Continue a run that stopped early from OUTPUT.partial (its finished files are kept).",
)
@config_options
@user_errors
def run(fileset, output, overwrite, resume, config_files, overrides, **kw) -> None:
    """Run HNLProcessor over FILESET (coffea fileset JSON) and save histograms."""
    from ..executors import ClusterError, ExecutorOptions
    from ..outputs import check_output_path, save_output
    from ..partial import default_partial_path
    from ..runner import RunError, RunOptions, run_fileset

    check_output_path(output, overwrite)  # before hours of processing, not after
    cfg = load_cli_config(config_files, overrides)
    redirector = kw.pop("redirector") or getattr(cfg, "redirector", None)
    proc_cls = _load_processor_class(kw.pop("processor_spec"))
    run_opts = RunOptions(
        chunksize=kw.pop("chunksize"),
        maxchunks=kw.pop("maxchunks"),
        retries=kw.pop("retries"),
        memory_mb=kw.pop("memory_mb"),
        spill_dir=kw.pop("spill_dir"),
        skip_bad_files=kw.pop("skip_bad_files"),
        status=not kw.pop("no_progress"),
        partial=str(default_partial_path(output)),
        resume=resume,
    )
    if resume and not default_partial_path(output).exists():
        raise click.ClickException(f"--resume: no partial result {run_opts.partial} to resume")
    site = kw.pop("site")
    for key in ("job_extra", "pass_env"):
        kw[key] = list(kw[key]) or None
    exe_opts = ExecutorOptions.from_site(site, **kw)
    files = load_fileset_cli(fileset, redirector=redirector, cfg=cfg)
    try:
        out, summary = run_fileset(proc_cls(cfg), files, run_opts, exe_opts)
    except (RunError, ClusterError) as err:
        raise click.ClickException(str(err)) from None
    save_output(out, output, overwrite=overwrite)
    default_partial_path(output).unlink(missing_ok=True)  # the run is complete
    click.echo(summary.format())
    if isinstance(out, dict) and out.get("cutflow"):
        from ..cutflow import format_cutflow, merged_cutflow

        for is_data, label in ((False, "simulation, Σ genWeight"), (True, "data, events")):
            flow = merged_cutflow(out, is_data=is_data)
            if flow:
                click.echo(f"\ncutflow ({label}):\n{format_cutflow(flow, weighted=not is_data)}")
    if isinstance(out, dict) and out.get("lumi"):
        from pathlib import Path

        from ..data import write_lumi_json

        pairs = set().union(*out["lumi"].values())
        lumi_json = write_lumi_json(pairs, Path(output).with_suffix(".lumi.json"))
        click.echo(f"processed luminosity sections (CMS JSON): {lumi_json}")
    click.echo(f"saved {output}")
