"""Reproducibility: the same seed and data give bit-identical artifacts, wherever the
training folder is."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from hnl_coffea.models import load_artifact
from hnl_coffea.paths import data_path

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ("parametric.pt", "transfer.pt", "backbone.pt", "mass_regression.pt")


def _digest(folder: Path) -> dict[str, str]:
    files = [*ARTIFACTS, *(f"{a}.json" for a in ARTIFACTS), "comparison.json"]
    return {f: hashlib.sha256((folder / f).read_bytes()).hexdigest() for f in files}


@pytest.mark.slow  # two trainings, ~90 s: pytest -m slow
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


def _readme_command() -> dict[str, str]:
    text = (ROOT / "data" / "models" / "README.md").read_text()
    block = re.search(r"```bash\n(hnl-coffea train[^`]*)```", text)
    assert block, "data/models/README.md has no hnl-coffea train command"
    words = block.group(1).replace("\\\n", " ").split()
    return {
        w: words[i + 1] for i, w in enumerate(words) if w.startswith("--") and i + 1 < len(words)
    }


def test_readme_command_is_the_one_that_made_the_shipped_models(cfg):
    args = _readme_command()
    assert args["--models-dir"] == "data/models"
    for kind in ("parametric", "transfer", "mass_regression"):
        side = load_artifact(data_path(getattr(cfg.models, kind))).sidecar
        sample = side.provenance["sample"]
        assert int(args["--events"]) == sample["n_events"], kind
        assert int(args["--regressor-events"]) == sample["regressor_sample"]["n_events"], kind
        assert int(args.get("--chunksize", 50_000)) == sample["chunksize"], kind
        assert int(args["--eval-events"]) > 0
        assert sample["evaluation_sample"]["rule"].startswith(
            f"backgrounds: n_i = {args['--eval-events']} "
        )
        assert int(args.get("--seed", 20230904)) == side.provenance["training_options"]["seed"]
    readme = (ROOT / "README.md").read_text()
    assert block_in(readme, args), "README.md and data/models/README.md commands differ"


def block_in(text: str, args: dict[str, str]) -> bool:
    m = re.search(r"hnl-coffea train [^\n]*--models-dir data/models[^\n]*(?:\\\n[^\n]*)*", text)
    if not m:
        return False
    words = m.group(0).replace("\\\n", " ").split()
    got = {
        w: words[i + 1] for i, w in enumerate(words) if w.startswith("--") and i + 1 < len(words)
    }
    keys = ("--events", "--regressor-events", "--eval-events", "--models-dir")
    return all(got.get(k) == args.get(k) for k in keys)
