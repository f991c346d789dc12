"""ONNX export of model artifacts, for serving with ONNX Runtime or Triton.

The exported graph includes the sidecar's standardisation, so it takes the same unscaled
feature columns (in sidecar order) as :class:`~hnl_coffea.models.inference.ModelRunner`:

- classifiers: inputs ``features`` (n, F) float32, ``channel`` (n,) int64, ``charges`` (n, 3)
  float32, ``mass`` (n,) float32 in GeV; output ``score`` (n,) — one row per
  (event, hypothesis) pair;
- mass regressor: input ``features``; output ``mass`` (n,) in GeV;
- regression backbone: input ``features``; output ``outputs`` (n, n_outputs).

The batch axis is dynamic. The sidecar is copied next to the ONNX file (``<out>.json``).
Needs the ``onnx`` package (``pip install hnl-coffea[onnx]``).
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import torch
from torch import nn

from .artifacts import load_artifact, sidecar_path

__all__ = ["export_onnx", "onnx_available"]


def onnx_available() -> bool:
    """True when the ``onnx`` package can be imported."""
    try:
        import onnx  # noqa: F401
    except ImportError:
        return False
    return True


class _Standardised(nn.Module):
    def __init__(self, model: nn.Module, mean, std) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32))

    def forward(self, features, *rest):
        return self.model((features - self.mean) / self.std, *rest)


def export_onnx(artifact_path: str | Path, out_path: str | Path, *, opset: int = 17) -> Path:
    """Export the artifact at ``artifact_path`` to ONNX file ``out_path``; returns ``out_path``."""
    if not onnx_available():
        raise RuntimeError("ONNX export needs the onnx package: pip install 'hnl-coffea[onnx]'")
    loaded = load_artifact(artifact_path)
    side = loaded.sidecar
    module = _Standardised(loaded.model, side.feature_mean, side.feature_std).eval()
    n = 4
    features = torch.zeros(n, len(side.feature_names))
    if side.kind in ("parametric", "transfer"):
        args = (
            features,
            torch.zeros(n, dtype=torch.int64),
            torch.zeros(n, side.n_charges),
            torch.full((n,), 100.0),
        )
        names, output = ["features", "channel", "charges", "mass"], "score"
    else:
        args = (features,)
        names = ["features"]
        output = "mass" if side.kind == "mass_regression" else "outputs"
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            args,
            str(out_path),
            input_names=names,
            output_names=[output],
            dynamic_axes={name: {0: "batch"} for name in [*names, output]},
            opset_version=opset,
            dynamo=False,
        )
    shutil.copyfile(sidecar_path(artifact_path), sidecar_path(out_path))
    return out_path
