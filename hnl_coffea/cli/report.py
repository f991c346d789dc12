"""``hnl-coffea report``: one self-contained HTML page of the whole analysis."""

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

#: Names of the processor output inside a results folder (as the demo writes it).
OUTPUT_NAMES = ("hnl_output.zip", "hnl_output.coffea")
#: The configuration a results folder was made with (written by the demo).
RUN_CONFIG = "config.yaml"


def _resolve(out: Path) -> Path:
    if out.is_file():
        return out
    for name in OUTPUT_NAMES:
        if (out / name).is_file():
            return out / name
    raise FileNotFoundError(f"{out} holds no processor output ({', '.join(OUTPUT_NAMES)})")


@click.command()
@click.argument("out", type=click.Path(exists=True))
@click.option("--outdir", type=click.Path(file_okay=False), required=True)
@click.option(
    "--postprocess",
    "postprocess_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Tables and plots of `hnl-coffea postprocess` to use (default: OUT's postprocess/ "
    "folder when OUT is a results folder; otherwise postprocessing runs into OUTDIR).",
)
@click.option(
    "--toys",
    type=click.Path(dir_okay=False),
    default=None,
    help="toys.json of `hnl-coffea toys` (default: OUT's toys/toys.json when present).",
)
@click.option("--unblind", is_flag=True, help="Show signal-region data (when postprocessing).")
@no_progress_option
@allow_pickle_option
@config_options
@user_errors
def report(
    out, outdir, postprocess_dir, toys, unblind, no_progress, allow_pickle, config_files,
    overrides,
) -> None:  # fmt: skip
    """Write OUTDIR/index.html: provenance, cutflows, every plot, significance and limits vs
    m_hyp, the model comparison and the toys' global p-value, from OUT (a processor output
    file, or a results folder such as the demo's, whose config.yaml is then the
    configuration unless --config is given)."""
    from ..postprocessing.htmlreport import build_report

    out = Path(out)
    file = _resolve(out)
    if out.is_dir():
        postprocess_dir = postprocess_dir or out / "postprocess"
        toys = toys or out / "toys" / "toys.json"
        if not config_files and (out / RUN_CONFIG).is_file():
            config_files = (str(out / RUN_CONFIG),)  # the configuration the folder was made with
    cfg = load_cli_config(config_files, overrides)
    path = build_report(
        read_output(str(file), allow_pickle), outdir, cfg, postprocess_dir=postprocess_dir, toys=toys,
        unblind=unblind, progress=not no_progress,
    )  # fmt: skip
    click.echo(f"report: {path}")
