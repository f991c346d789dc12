"""Neural networks of the HNL search: architectures, artifacts and per-chunk inference.

- :mod:`~hnl_coffea.models.architectures`: parametric classifier, drop-in regression
  backbone, transfer-learning classifier, mass regressor.
- :mod:`~hnl_coffea.models.artifacts`: weights + JSON sidecar, loading and compatibility
  checks.
- :mod:`~hnl_coffea.models.inference`: :class:`ModelRunner`, lazy per-worker evaluation of all
  mass hypotheses in batched passes; :mod:`~hnl_coffea.models.awkward_wrapper` for
  dask-awkward graphs.
- :mod:`~hnl_coffea.models.runtime`: threads, device, bf16 precision, MC dropout.
- :mod:`~hnl_coffea.models.onnx_export`: ONNX export for ONNX Runtime / Triton serving.

Importing this package does not import torch: every name is loaded from its submodule on
first use, so that ``import processors`` stays fast on a worker that evaluates no model.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Public name → submodule that defines it.
_SUBMODULE = {
    "ARCHITECTURES": "architectures",
    "BF16_TOLERANCE": "runtime",
    "FORMAT_VERSION": "artifacts",
    "LoadedModel": "artifacts",
    "MassRegressor": "architectures",
    "ModelMismatchError": "artifacts",
    "ModelRunner": "inference",
    "ParametricClassifier": "architectures",
    "RegressionBackbone": "architectures",
    "Scaler": "artifacts",
    "Sidecar": "artifacts",
    "TransferClassifier": "architectures",
    "build_model": "architectures",
    "check_compatible": "artifacts",
    "cpu_supports_bf16": "runtime",
    "feature_matrix": "inference",
    "load_artifact": "artifacts",
    "mc_dropout_predict": "runtime",
    "read_sidecar": "artifacts",
    "save_artifact": "artifacts",
    "set_dropout": "architectures",
    "sidecar_path": "artifacts",
}

__all__ = [
    "ARCHITECTURES",
    "BF16_TOLERANCE",
    "FORMAT_VERSION",
    "LoadedModel",
    "MassRegressor",
    "ModelMismatchError",
    "ModelRunner",
    "ParametricClassifier",
    "RegressionBackbone",
    "Scaler",
    "Sidecar",
    "TransferClassifier",
    "build_model",
    "check_compatible",
    "cpu_supports_bf16",
    "feature_matrix",
    "load_artifact",
    "mc_dropout_predict",
    "read_sidecar",
    "save_artifact",
    "set_dropout",
    "sidecar_path",
]


def __getattr__(name: str) -> Any:
    module = _SUBMODULE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
