"""Per-chunk inference: a picklable runner that loads its network lazily on each worker.

A :class:`ModelRunner` holds only the artifact path, its sidecar and the runtime options.
The torch network is a non-serialisable attribute (coffea's ``ml_tools`` pattern): it is never
pickled into a task graph, it is loaded on first use in each process and cached per process
(keyed by path, modification time and device), so the many tasks a Dask worker runs share one
copy. Evaluation runs under ``torch.inference_mode`` with the thread count set for the process.

``runner.scores`` evaluates every mass hypothesis for every event in batched forward passes
(events × hypotheses rows); inputs may be NumPy arrays or eager awkward arrays. For
dask-awkward graphs wrap the runner in :class:`hnl_coffea.models.awkward_wrapper.ScoreWrapper`.
"""

from __future__ import annotations

import contextlib
import copy
import zlib
from collections.abc import Iterator, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import torch
from coffea.ml_tools.helper import nonserializable_attribute

from ..flat import column
from .artifacts import LoadedModel, ModelMismatchError, Sidecar, load_artifact, read_sidecar
from .runtime import (
    PRECISIONS,
    bf16_matmuls,
    configure_threads,
    mc_dropout_predict,
    precision_context,
    resolve_device,
    resolve_precision,
    split_bf16_copy,
)

__all__ = ["ModelRunner", "feature_matrix"]

_CLASSIFIER_KINDS = ("parametric", "transfer")


@lru_cache(maxsize=8)
def _load_cached(path: str, mtime_ns: int, size: int, device: str) -> LoadedModel:
    """One loaded network per (file version, device) and process."""
    loaded = load_artifact(path, map_location=device)
    loaded.model.to(device)
    return loaded


def feature_matrix(features: Any, names: Sequence[str]) -> np.ndarray:
    """(n, F) float64 matrix of ``features`` in the order ``names``.

    ``features`` is an awkward record array or a mapping (columns picked by name), or a 2-D
    NumPy / awkward array whose columns are already in that order.
    """
    if isinstance(features, ak.Array) and features.fields:
        missing = next((n for n in names if n not in features.fields), None)
        if missing is not None:
            raise ModelMismatchError(f"model input feature {missing!r} is missing from the inputs")
        cols = [column(features, n) for n in names]  # straight from the field's buffer
    elif isinstance(features, Mapping):
        missing = next((n for n in names if n not in features), None)
        if missing is not None:
            raise ModelMismatchError(f"model input feature {missing!r} is missing from the inputs")
        cols = [np.asarray(features[n]) for n in names]
    else:
        x = ak.to_numpy(features) if isinstance(features, ak.Array) else np.asarray(features)
        if x.ndim != 2 or x.shape[1] != len(names):
            raise ModelMismatchError(
                f"features have shape {x.shape}; the model expects (n, {len(names)}) "
                "columns in its sidecar's feature order"
            )
        return x.astype(np.float64, copy=False)
    if not cols:
        return np.zeros((0, 0))
    return np.stack([np.asarray(c, dtype=np.float64) for c in cols], axis=1)


def _as_numpy(a: Any, what: str) -> np.ndarray:
    if isinstance(a, ak.Array):
        if a.ndim > 1:
            a = ak.to_regular(a, axis=1)
        return ak.to_numpy(a, allow_missing=False)
    if a is None:
        raise ValueError(f"{what} is required")
    return np.asarray(a)


class ModelRunner(nonserializable_attribute):
    """Evaluate a model artifact on chunks of events; safe to pickle into Dask task graphs.

    Parameters
    ----------
    artifact_path : weights file of the artifact (its sidecar is ``<path>.json``).
    device : "cpu" (default) or "cuda[:N]"; CUDA only when asked for, with a clear error
        when no GPU is visible to the process evaluating the chunk.
    threads : torch intra-op threads for the process (1 per Dask worker by default;
        ``None`` leaves torch's setting alone).
    precision : "fp32", "bf16" (autocast to bfloat16), "bf16x3" (split bfloat16: three
        bfloat16 products per layer, close to fp32; CPU) or "auto" (bf16 only where the
        hardware computes it natively: AMX / AVX512-BF16 CPUs, bf16-capable GPUs).
    batch_rows : rows (events × hypotheses) per forward pass, bounding memory.
    emulate_bf16 : keep bf16 / bf16x3 even where it is not native (slow; for accuracy checks).

    The bf16 paths of a classifier evaluate its event representation (the transfer
    model's backbone, where the time goes) with a copy of those weights made once per
    process — in bfloat16 ("bf16"), or split into two bfloat16 parts ("bf16x3",
    :class:`~hnl_coffea.models.runtime.SplitBF16Linear`) — and the classifier head in fp32.
    A classifier without a backbone (the parametric DNN) is evaluated in fp32.
    """

    def __init__(
        self,
        artifact_path: str | Path,
        *,
        device: str = "cpu",
        threads: int | None = 1,
        precision: str = "fp32",
        batch_rows: int = 1 << 16,
        emulate_bf16: bool = False,
    ) -> None:
        nonserializable_attribute.__init__(self, ["model", "bf16_body"])
        if precision not in PRECISIONS:
            raise ValueError(
                f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}"
            )
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        if batch_rows < 1:
            raise ValueError(f"batch_rows must be at least 1, got {batch_rows}")
        self.artifact_path = str(Path(artifact_path).resolve())
        self.sidecar: Sidecar = read_sidecar(self.artifact_path)
        self.device = device
        self.threads = threads
        self.precision = precision
        self.batch_rows = batch_rows
        self.emulate_bf16 = emulate_bf16

    @classmethod
    def from_config(cls, models_config: Any, name: str) -> ModelRunner:
        """Runner for model ``name`` ("parametric", "transfer", "mass_regression") of the
        analysis config's ``models`` section (paths relative to the shipped data folder)."""
        from ..paths import data_path

        rel = getattr(models_config, name)
        if rel is None:
            raise ValueError(f"no {name} model is configured (models.{name} is null)")
        return cls(
            data_path(rel),
            device=models_config.device,
            threads=models_config.threads,
            precision=models_config.precision,
        )

    def __repr__(self) -> str:
        return (
            f"ModelRunner({self.artifact_path!r}, kind={self.sidecar.kind!r}, "
            f"device={self.device!r}, threads={self.threads}, precision={self.precision!r})"
        )

    # -- lazily created, per process ---------------------------------------------------------
    def _create_model(self) -> torch.nn.Module:
        configure_threads(self.threads)
        dev = resolve_device(self.device)
        stat = Path(self.artifact_path).stat()
        with torch.random.fork_rng(devices=[]):  # building the network draws random numbers
            loaded = _load_cached(self.artifact_path, stat.st_mtime_ns, stat.st_size, str(dev))
        if loaded.sidecar != self.sidecar:
            raise ModelMismatchError(
                f"model artifact {self.artifact_path} changed since this runner was created"
            )
        return loaded.model

    def _create_bf16_body(self) -> torch.nn.Module | None:
        """The classifier's event representation (the backbone) for the effective precision:
        a bfloat16 copy ("bf16") or a split-bfloat16 copy ("bf16x3"); None in fp32."""
        body = getattr(self.model, "backbone", None)
        precision = self.effective_precision
        if body is None or precision == "fp32":
            return None
        if precision == "bf16x3":
            return split_bf16_copy(body)
        return copy.deepcopy(body).to(torch.bfloat16).eval()

    @property
    def torch_device(self) -> torch.device:
        return resolve_device(self.device)

    @property
    def effective_precision(self) -> str:
        """ "fp32", "bf16" or "bf16x3": what ``precision`` means on the machine running this
        process."""
        return resolve_precision(self.precision, self.torch_device, self.emulate_bf16)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self.sidecar.feature_names

    @property
    def mass_hypotheses(self) -> tuple[float, ...]:
        return self.sidecar.mass_hypotheses

    # -- input preparation -------------------------------------------------------------------
    def _features(self, features: Any) -> torch.Tensor:
        x = self.sidecar.scaler.transform(feature_matrix(features, self.feature_names))
        return torch.from_numpy(x).to(self.torch_device)

    def _classifier_inputs(self, features, channel, charges, mass_hypotheses):
        if self.sidecar.kind not in _CLASSIFIER_KINDS:
            raise TypeError(
                f"scores() needs a classifier; {self.artifact_path} is a {self.sidecar.kind} model"
            )
        masses = self.mass_hypotheses if mass_hypotheses is None else tuple(mass_hypotheses)
        if not masses:
            raise ValueError("no mass hypotheses given and none stored in the model sidecar")
        x = self._features(features)
        ch = np.array(_as_numpy(channel, "channel"), dtype=np.int64).reshape(-1)
        q = np.array(_as_numpy(charges, "charges"), dtype=np.float32)
        n_ch = self.sidecar.architecture_kwargs.get("n_channels", len(self.sidecar.channels))
        if len(ch) != len(x) or q.shape != (len(x), self.sidecar.n_charges):
            raise ValueError(
                f"inputs disagree: {len(x)} feature rows, {len(ch)} channel indices, "
                f"charges of shape {q.shape} (expected ({len(x)}, {self.sidecar.n_charges}))"
            )
        if len(ch) and (ch.min() < 0 or ch.max() >= n_ch):
            raise ValueError(f"channel index outside 0..{n_ch - 1}: {ch.min()}..{ch.max()}")
        dev = self.torch_device
        return (
            x,
            torch.from_numpy(ch).to(dev),
            torch.from_numpy(q).to(dev),
            torch.tensor(masses, dtype=torch.float32, device=dev),
        )

    # -- evaluation --------------------------------------------------------------------------
    def _hypothesis_scores(self, x, ch, q, masses, precision: str = "fp32") -> torch.Tensor:
        body = self.bf16_body if precision != "fp32" else None
        if body is None:
            return torch.sigmoid(self.model.hypothesis_logits(x, ch, q, masses).float())
        if precision == "bf16":  # fast path: backbone bf16, head fp32
            rep = body.hidden(x.to(torch.bfloat16)).float()
        else:  # bf16x3: backbone as three bfloat16 products per layer, head fp32
            with bf16_matmuls():
                rep = body.hidden(x)
        return torch.sigmoid(self.model.head.hypothesis_logits(rep, ch, q, masses))

    def _batched(self, n: int, n_cols: int, fn, n_out: int = 1, autocast: bool = True):
        outs = [np.empty((n, n_cols), np.float32) for _ in range(n_out)]
        step = max(1, self.batch_rows // max(n_cols, 1))
        dev = self.torch_device
        precision = self.effective_precision if autocast else "fp32"
        with torch.inference_mode(), precision_context(precision, dev):
            for start in range(0, n, step):
                res = fn(slice(start, start + step))
                res = res if isinstance(res, tuple) else (res,)
                for out, r in zip(outs, res, strict=True):
                    out[start : start + step] = r.float().reshape(-1, n_cols).cpu().numpy()
        return outs

    def scores(
        self,
        features: Any,
        channel: Any,
        charges: Any,
        mass_hypotheses: Sequence[float] | None = None,
    ) -> np.ndarray:
        """Classifier scores, shape (n_events, n_hypotheses), float32.

        ``features``: awkward record / mapping (picked by name) or (n, F) array in sidecar order,
        unstandardised; ``channel``: (n,) channel indices; ``charges``: (n, 3) lepton charges;
        ``mass_hypotheses``: GeV (default: the sidecar's list).
        """
        x, ch, q, m = self._classifier_inputs(features, channel, charges, mass_hypotheses)
        prec = self.effective_precision
        (out,) = self._batched(
            len(x), len(m), lambda s: self._hypothesis_scores(x[s], ch[s], q[s], m, prec),
            autocast=False,
        )  # fmt: skip
        return out

    def _check_mc(self) -> None:
        if self.sidecar.max_dropout <= 0:
            raise ValueError(
                f"model {self.artifact_path} has no dropout (p = 0 everywhere): "
                "Monte-Carlo dropout passes would all agree (σ = 0); use a model trained "
                "with dropout > 0"
            )

    @contextlib.contextmanager
    def _mc_seed(self, x: torch.Tensor, seed: int | None) -> Iterator[None]:
        """Dropout masks from a torch RNG seeded by ``seed`` (default: a CRC-32 of the
        standardised inputs), so the same events give the same MC-dropout result in every
        run and process; the global torch RNG is left as it was."""
        if seed is None:
            seed = zlib.crc32(x.detach().cpu().numpy().tobytes())
        devices = [x.device] if x.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            yield

    def scores_mc(
        self,
        features: Any,
        channel: Any,
        charges: Any,
        mass_hypotheses: Sequence[float] | None = None,
        *,
        n_passes: int,
        seed: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Monte-Carlo-dropout mean score and its standard deviation, each (n, n_hypotheses).

        Refuses models without dropout. ``seed`` fixes the dropout masks (default: derived
        from the inputs, see :meth:`_mc_seed`)."""
        self._check_mc()
        x, ch, q, m = self._classifier_inputs(features, channel, charges, mass_hypotheses)
        prec = self.effective_precision
        # dropout active in the network and, on the bf16 paths, in its backbone copy
        body = self.bf16_body if prec != "fp32" else None
        nets = [self.model] + ([body] if body is not None else [])

        def fn(s):
            return mc_dropout_predict(
                torch.nn.ModuleList(nets),
                x[s],
                ch[s],
                q[s],
                n_passes=n_passes,
                forward=lambda *a: self._hypothesis_scores(*a, m, prec),
                max_rows=max(1, self.batch_rows // len(m)),
            )

        with self._mc_seed(x, seed):
            mean, std = self._batched(len(x), len(m), fn, n_out=2, autocast=False)
        return mean, std

    def _regression_width(self) -> int:
        return int(self.sidecar.architecture_kwargs.get("n_outputs", 1))

    def regress(self, features: Any) -> np.ndarray:
        """Regression output: (n,) for the mass regressor (GeV), (n, n_outputs) for a backbone."""
        x = self._features(features)
        width = self._regression_width()
        (out,) = self._batched(len(x), width, lambda s: self.model(x[s]))
        return out[:, 0] if self.sidecar.kind == "mass_regression" else out

    def regress_mc(
        self, features: Any, *, n_passes: int, seed: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Monte-Carlo-dropout mean and standard deviation of the regression output
        (refuses models without dropout)."""
        self._check_mc()
        x = self._features(features)
        width = self._regression_width()
        with self._mc_seed(x, seed):
            mean, std = self._batched(
                len(x),
                width,
                lambda s: mc_dropout_predict(
                    self.model, x[s], n_passes=n_passes, max_rows=self.batch_rows
                ),
                n_out=2,
            )
        if self.sidecar.kind == "mass_regression":
            return mean[:, 0], std[:, 0]
        return mean, std
