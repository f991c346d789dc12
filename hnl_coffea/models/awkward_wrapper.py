"""Model scores on awkward and dask-awkward arrays through coffea's ``ml_tools`` machinery.

:class:`ScoreWrapper` is a ``coffea.ml_tools.helper.numpy_call_wrapper``: called on eager
awkward arrays it evaluates immediately; called on dask-awkward arrays (e.g. inside
``coffea.dataset_tools.apply_to_fileset``) it adds one ``map_partitions`` node per call whose
task holds the pickled :class:`~hnl_coffea.models.inference.ModelRunner` (weights excluded;
each worker loads the network once). coffea's own ``torch_wrapper`` expects a bare TorchScript
file and always picks a GPU when present, so the wrapper uses the generic base class instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from coffea.ml_tools.helper import numpy_call_wrapper

from .inference import ModelRunner

__all__ = ["ScoreWrapper"]


class ScoreWrapper(numpy_call_wrapper):
    """``wrapper(features, channel, charges)`` → (n, n_hypotheses) scores as an awkward array.

    ``features`` is an awkward / dask-awkward record array holding (at least) the model's
    input features, ``channel`` the channel indices and ``charges`` the three lepton charges
    per event (a (n, 3) regular or jagged array with exactly three entries per event).
    """

    def __init__(self, runner: ModelRunner, mass_hypotheses: Sequence[float] | None = None):
        super().__init__()
        self.runner = runner
        self.mass_hypotheses = (
            tuple(runner.mass_hypotheses) if mass_hypotheses is None else tuple(mass_hypotheses)
        )

    def prepare_awkward(self, features, channel, charges):
        missing = next((n for n in self.runner.feature_names if n not in features.fields), None)
        if missing is not None:
            raise KeyError(f"model input feature {missing!r} is missing from the inputs")
        cols = [features[name] for name in self.runner.feature_names]
        q = [charges[:, i] for i in range(self.runner.sidecar.n_charges)]
        return (*cols, channel, *q), {}

    def validate_numpy_input(self, *arrays: np.ndarray) -> None:
        expected = len(self.runner.feature_names) + 1 + self.runner.sidecar.n_charges
        if len(arrays) != expected:
            raise ValueError(f"expected {expected} input columns, got {len(arrays)}")

    def numpy_call(self, *arrays: np.ndarray) -> np.ndarray:
        n_feat = len(self.runner.feature_names)
        if len(arrays[0]) == 0:
            return np.zeros((0, len(self.mass_hypotheses)), np.float32)
        x = np.stack(arrays[:n_feat], axis=1)
        channel = arrays[n_feat]
        charges = np.stack(arrays[n_feat + 1 :], axis=1)
        return self.runner.scores(x, channel, charges, self.mass_hypotheses)
