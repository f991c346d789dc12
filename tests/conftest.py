"""Shared test fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_NANOAOD = Path(__file__).resolve().parents[1].parent / "shared" / "nanoaod"


@pytest.fixture(scope="session")
def shared_nanoaod() -> list[Path]:
    """The small real CMS NanoAOD files next to the checkout, when present."""
    files = sorted(SHARED_NANOAOD.glob("*.root")) if SHARED_NANOAOD.is_dir() else []
    if not files:
        pytest.skip(f"real NanoAOD samples not present at {SHARED_NANOAOD}")
    return files


#: The shipped illustrative correction files (the default ``auto`` would take the CMS tree
#: on /cvmfs where it is mounted; the tests' hand-computed values are the illustrative ones).
ILLUSTRATIVE = {"corrections.pog_root": "corrections/POG"}


@pytest.fixture(scope="session")
def cfg():
    from hnl_coffea import load_config

    return load_config(overrides=ILLUSTRATIVE)


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


@pytest.fixture(scope="session")
def postprocessed(tmp_path_factory, cfg):
    """The fake processor output postprocessed with the default plot set (PNG only) and its
    HTML report: ``(output, cfg, postprocess folder, report path)``."""
    from test_postprocessing_fake_output import make_output

    from hnl_coffea.postprocessing.htmlreport import build_report
    from hnl_coffea.postprocessing.report import postprocess_output

    pcfg = cfg.with_overrides({"postprocessing.plot_formats": ["png"]})
    out = make_output(pcfg, n=150)
    base = tmp_path_factory.mktemp("postprocessed")
    postprocess_output(out, base / "postprocess", pcfg, plots="default")
    page = build_report(out, base / "report", pcfg, postprocess_dir=base / "postprocess")
    return out, pcfg, base / "postprocess", page
