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
