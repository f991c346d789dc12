"""Model artifacts: a weights file plus a JSON sidecar that describes it.

An artifact is ``<name>.pt`` (a ``torch.save`` state dict, loaded with ``weights_only=True``)
and ``<name>.pt.json``, the sidecar (:class:`Sidecar`): format version, model kind,
architecture name and constructor arguments, the ordered input feature names with their
standardisation constants, the mass hypotheses and channel order used in training, free-form
training provenance and metrics, the torch version and the SHA-256 of the weights file.

``load_artifact`` rebuilds the network and refuses weights that do not belong to the sidecar;
``check_compatible`` compares a sidecar with what the processor computes and raises a
one-line :class:`ModelMismatchError` naming the first difference.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from .architectures import build_model

__all__ = [
    "FORMAT_VERSION",
    "LoadedModel",
    "ModelMismatchError",
    "Scaler",
    "Sidecar",
    "check_compatible",
    "load_artifact",
    "read_sidecar",
    "save_artifact",
    "sidecar_path",
]

#: Version of the sidecar layout written by this hnl-coffea; loading any other version fails.
FORMAT_VERSION = 1

ModelKind = Literal["parametric", "transfer", "mass_regression", "backbone"]


class ModelMismatchError(ValueError):
    """A model artifact does not fit the inputs it is asked to run on (one-line message)."""


@dataclass(frozen=True)
class Scaler:
    """Per-feature standardisation ``(x - mean) / std`` (float64 constants)."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def fit(cls, x: np.ndarray, weights: np.ndarray | None = None) -> Scaler:
        """Mean and standard deviation per column of ``x`` (n, F); constant columns get std 1."""
        x = np.asarray(x, dtype=np.float64)
        mean = np.average(x, axis=0, weights=weights)
        std = np.sqrt(np.average((x - mean) ** 2, axis=0, weights=weights))
        std = np.where(std > 0, std, 1.0)
        return cls(tuple(mean.tolist()), tuple(std.tolist()))

    @classmethod
    def identity(cls, n: int) -> Scaler:
        return cls((0.0,) * n, (1.0,) * n)

    @classmethod
    def coerce(cls, scaler: Any, n: int) -> Scaler:
        """Accept a :class:`Scaler`, a ``{"mean", "std"}`` mapping, a fitted scikit-learn
        ``StandardScaler`` or ``None`` (identity)."""
        if scaler is None:
            return cls.identity(n)
        if isinstance(scaler, Scaler):
            return scaler
        if isinstance(scaler, dict):
            return cls(tuple(map(float, scaler["mean"])), tuple(map(float, scaler["std"])))
        if hasattr(scaler, "mean_") and hasattr(scaler, "scale_"):
            return cls(tuple(map(float, scaler.mean_)), tuple(map(float, scaler.scale_)))
        raise TypeError(f"cannot use {type(scaler).__name__} as a feature scaler")

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Standardised float32 copy of ``x``."""
        mean = np.asarray(self.mean, dtype=np.float64)
        std = np.asarray(self.std, dtype=np.float64)
        return ((np.asarray(x, dtype=np.float64) - mean) / std).astype(np.float32)


class Sidecar(BaseModel):
    """The JSON description of a model artifact."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["hnl-coffea-model"] = "hnl-coffea-model"
    format_version: int
    kind: ModelKind
    architecture: str
    architecture_kwargs: dict[str, Any]
    feature_names: tuple[str, ...]
    feature_mean: tuple[float, ...]
    feature_std: tuple[float, ...]
    mass_hypotheses: tuple[float, ...] = ()
    channels: tuple[str, ...] = ()
    n_charges: int = 3
    mass_unit: Literal["GeV"] = "GeV"
    provenance: dict[str, Any] = {}
    metrics: dict[str, Any] = {}
    torch_version: str
    weights_sha256: str

    @model_validator(mode="after")
    def _lengths(self) -> Sidecar:
        n = len(self.feature_names)
        if len(self.feature_mean) != n or len(self.feature_std) != n:
            raise ValueError(
                f"{n} feature names but {len(self.feature_mean)} means and "
                f"{len(self.feature_std)} standard deviations"
            )
        if any(not (math.isfinite(s) and s > 0) for s in self.feature_std):
            raise ValueError("feature_std must be finite and positive")
        if len(set(self.feature_names)) != n:
            raise ValueError("feature_names contains duplicates")
        return self

    @property
    def scaler(self) -> Scaler:
        return Scaler(self.feature_mean, self.feature_std)

    @property
    def max_dropout(self) -> float:
        """Largest dropout probability anywhere in the architecture (nested backbone
        included); 0 means Monte-Carlo dropout passes would all agree."""
        return _max_dropout(self.architecture_kwargs)


def _max_dropout(kwargs: Any) -> float:
    if not isinstance(kwargs, dict):
        return 0.0
    own = float(kwargs.get("dropout") or 0.0)
    return max([own, *(_max_dropout(v) for v in kwargs.values() if isinstance(v, dict))])


@dataclass
class LoadedModel:
    """A network rebuilt from an artifact, in eval mode, with its sidecar."""

    model: torch.nn.Module
    sidecar: Sidecar
    path: Path


def sidecar_path(path: str | Path) -> Path:
    """The sidecar of weights file ``path``: ``<path>.json``."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_artifact(
    model: torch.nn.Module,
    path: str | Path,
    *,
    kind: ModelKind,
    feature_names: Sequence[str],
    scaler: Any = None,
    mass_hypotheses: Sequence[float] = (),
    channels: Sequence[str] = (),
    provenance: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
) -> Sidecar:
    """Write ``model``'s weights to ``path`` and its sidecar to ``<path>.json``.

    ``scaler`` is a :class:`Scaler`, ``{"mean": [...], "std": [...]}``, a fitted scikit-learn
    ``StandardScaler`` or ``None`` (no standardisation). ``provenance`` and ``metrics`` are
    free-form JSON-compatible dictionaries (training configuration, data sets, AUCs, ...).
    """
    if not hasattr(model, "config"):
        raise TypeError(f"{type(model).__name__} is not an hnl-coffea architecture (no config())")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    scl = Scaler.coerce(scaler, len(feature_names))
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    torch.save(state, path)
    sidecar = Sidecar(
        format_version=FORMAT_VERSION,
        kind=kind,
        architecture=type(model).__name__,
        architecture_kwargs=model.config(),
        feature_names=tuple(feature_names),
        feature_mean=scl.mean,
        feature_std=scl.std,
        mass_hypotheses=tuple(float(m) for m in mass_hypotheses),
        channels=tuple(channels),
        provenance=provenance or {},
        metrics=metrics or {},
        torch_version=torch.__version__,
        weights_sha256=_sha256(path),
    )
    sidecar_path(path).write_text(json.dumps(sidecar.model_dump(mode="json"), indent=2) + "\n")
    return sidecar


def read_sidecar(path: str | Path) -> Sidecar:
    """Read and validate the sidecar of weights file ``path`` (or the sidecar itself)."""
    path = Path(path)
    side = path if path.name.endswith(".json") else sidecar_path(path)
    try:
        data = json.loads(side.read_text())
    except FileNotFoundError:
        raise ModelMismatchError(f"model sidecar {side} does not exist") from None
    except json.JSONDecodeError as err:
        raise ModelMismatchError(f"model sidecar {side} is not valid JSON: {err}") from None
    version = data.get("format_version") if isinstance(data, dict) else None
    if version != FORMAT_VERSION:
        raise ModelMismatchError(
            f"model sidecar {side} has format version {version!r}; "
            f"this hnl-coffea reads version {FORMAT_VERSION}"
        )
    try:
        return Sidecar.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "sidecar"
        raise ModelMismatchError(f"model sidecar {side}: {where}: {first['msg']}") from None


def load_artifact(path: str | Path, *, map_location: str | torch.device = "cpu") -> LoadedModel:
    """Rebuild the network stored at ``path`` from its sidecar and weights, in eval mode."""
    path = Path(path)
    sidecar = read_sidecar(path)
    if not path.exists():
        raise ModelMismatchError(f"model weights {path} do not exist")
    digest = _sha256(path)
    if digest != sidecar.weights_sha256:
        raise ModelMismatchError(
            f"model weights {path} do not match their sidecar (sha256 {digest[:12]}…, "
            f"sidecar says {sidecar.weights_sha256[:12]}…)"
        )
    try:
        model = build_model(sidecar.architecture, sidecar.architecture_kwargs)
    except (TypeError, ValueError) as err:
        raise ModelMismatchError(f"model sidecar {sidecar_path(path)}: {err}") from None
    state = torch.load(path, map_location=map_location, weights_only=True)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).splitlines()[1].strip() if "\n" in str(err) else str(err)
        raise ModelMismatchError(f"model weights {path} do not fit the sidecar: {first}") from None
    model.eval()
    return LoadedModel(model=model, sidecar=sidecar, path=path)


def check_compatible(
    sidecar: Sidecar,
    feature_names: Sequence[str],
    channels: Sequence[str] | None = None,
    mass_hypotheses: Sequence[float] | None = None,
) -> None:
    """Raise :class:`ModelMismatchError` unless the model can run on these inputs.

    ``feature_names`` are the columns, in order, that will be given to the model; ``channels``
    the channel order of the analysis; ``mass_hypotheses`` the hypotheses to evaluate (each must
    be one the model was trained on).
    """
    if sidecar.format_version != FORMAT_VERSION:
        raise ModelMismatchError(
            f"model has format version {sidecar.format_version}; "
            f"this hnl-coffea reads version {FORMAT_VERSION}"
        )
    given = list(feature_names)
    given_set = set(given)
    for name in sidecar.feature_names:
        if name not in given_set:
            raise ModelMismatchError(f"model input feature {name!r} is missing from the inputs")
    needed = set(sidecar.feature_names)
    for i, name in enumerate(given):
        if name not in needed:
            raise ModelMismatchError(f"input column {i} ({name!r}) is not a feature of the model")
    for i, (want, got) in enumerate(zip(sidecar.feature_names, given, strict=True)):
        if want != got:
            raise ModelMismatchError(
                f"feature order differs at column {i}: model expects {want!r}, got {got!r}"
            )
    if channels is not None and sidecar.channels and tuple(channels) != sidecar.channels:
        for i, (want, got) in enumerate(zip(sidecar.channels, channels)):
            if want != got:
                raise ModelMismatchError(
                    f"channel order differs at index {i}: model expects {want!r}, got {got!r}"
                )
        raise ModelMismatchError(
            f"model knows {len(sidecar.channels)} channels, analysis has {len(channels)}"
        )
    if mass_hypotheses is not None and sidecar.mass_hypotheses:
        trained = {round(m, 6) for m in sidecar.mass_hypotheses}
        for m in mass_hypotheses:
            if round(float(m), 6) not in trained:
                raise ModelMismatchError(
                    f"mass hypothesis {float(m):g} GeV was not among the model's training "
                    f"hypotheses ({', '.join(f'{t:g}' for t in sidecar.mass_hypotheses)})"
                )
