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
"""

from .architectures import (
    ARCHITECTURES,
    MassRegressor,
    ParametricClassifier,
    RegressionBackbone,
    TransferClassifier,
    build_model,
    set_dropout,
)
from .artifacts import (
    FORMAT_VERSION,
    LoadedModel,
    ModelMismatchError,
    Scaler,
    Sidecar,
    check_compatible,
    load_artifact,
    read_sidecar,
    save_artifact,
    sidecar_path,
)
from .inference import ModelRunner, feature_matrix
from .runtime import BF16_TOLERANCE, cpu_supports_bf16, mc_dropout_predict

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
