"""The ``hnl-coffea`` command line: thin wrappers that parse options, call library
functions and print. Each subcommand lives in its own module of this package."""

from __future__ import annotations

import warnings

import click

from .. import __version__
from .bench import bench
from .btag import btag_efficiency
from .datacards import datacards
from .demo import demo
from .generate import generate
from .postprocess import postprocess
from .report import report
from .run import run
from .toys import toys
from .train import train

__all__ = ["main"]

# XRootD's exit handler calls isinstance() on every live object, which touches torch's
# deprecated ``torch.distributed.reduce_op`` and ends every root:// run with a FutureWarning
# that says nothing about the run.
warnings.filterwarnings(
    "ignore", message=r"`torch\.distributed\.reduce_op` is deprecated", category=FutureWarning
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hnl-coffea")
def main() -> None:
    """hnl-coffea: the CMS HNL → 3ℓ (with τh) columnar analysis.

    Typical chain: generate (toy NanoAOD) → run (processor → histograms) →
    postprocess (binning, significance, limits, plots) → datacards (combine inputs) →
    report (one HTML page).
    `hnl-coffea demo` does all of it on an embedded toy sample.
    """


for _cmd in (
    generate,
    run,
    postprocess,
    datacards,
    report,
    train,
    bench,
    demo,
    toys,
    btag_efficiency,
):
    main.add_command(_cmd)
