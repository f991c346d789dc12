"""Reproducibility: the same seed and data give bit-identical artifacts, wherever the
training folder is."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from hnl_coffea.models import load_artifact
from hnl_coffea.paths import data_path

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ("parametric.pt", "transfer.pt", "backbone.pt", "mass_regression.pt")


def _digest(folder: Path) -> dict[str, str]:
    files = [*ARTIFACTS, *(f"{a}.json" for a in ARTIFACTS), "comparison.json"]
    return {f: hashlib.sha256((folder / f).read_bytes()).hexdigest() for f in files}


def test_same_seed_and_data_give_identical_artifacts(tmp_path, cfg):
    """Two trainings in different folders: byte-identical weights, sidecars, comparison
    (a sidecar used to record the absolute path of the training folder)."""
    from hnl_coffea.training.pipeline import run_training
    from hnl_coffea.training.stages import TrainingOptions

    opts = TrainingOptions(progress=False, seed=11, comparison_bootstrap=3)
    digests = []
    for name in ("first", "second-elsewhere"):
        out = tmp_path / name
        run_training(cfg, out, n_events=6000, options=opts, quick=True, workers=1)
        for f in (out / "models").glob("*.json"):
            assert str(tmp_path) not in f.read_text(), f.name
        digests.append(_digest(out / "models"))
    assert digests[0] == digests[1]


@pytest.mark.parametrize("kind", ARTIFACTS)
def test_shipped_sidecar_hash_matches_weights(kind):
    path = data_path(f"models/{kind}")
    side = load_artifact(path).sidecar
    assert hashlib.sha256(path.read_bytes()).hexdigest() == side.weights_sha256
