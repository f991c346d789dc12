"""The four training stages of the seed analyses, on prepared numpy arrays.

1. :func:`train_parametric` — parametric DNN, weighted BCE, Adam, early stopping.
2. :func:`pretrain_backbone` — regression backbone on fresh synthetic kinematics every epoch,
   MSE + relative MSE(E_tot), Adam with exponentially decaying learning rate.
3. :func:`~hnl_coffea.training.transfer.train_transfer` — classifier head on the frozen
   backbone, then fine tuning of the unfrozen backbone (its own module).
4. :func:`train_mass_regressor` — m_N regression, MAPE/√y loss with mirrored boundaries,
   flat-in-mass weights.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from ..models import MassRegressor, ParametricClassifier, RegressionBackbone
from .datasets import TRAIN, VALIDATION
from .loops import FitResult, batches, fit
from .losses import kinematic_regression_loss, mape_sqrt_loss, weighted_bce_logits
from .synthetic import SyntheticKinematics

__all__ = [
    "TrainingOptions",
    "ClassifierArrays",
    "train_parametric",
    "pretrain_backbone",
    "train_mass_regressor",
]


@dataclass(frozen=True)
class TrainingOptions:
    """Every knob of the training (written to the artifact sidecars)."""

    seed: int = 20230904
    device: str = "cpu"
    threads: int = 1  # torch intra-op threads (more only helps on an otherwise idle machine)
    batch_size: int = 256
    patience: int = 8
    background_weight_cap: float = 50.0
    parametric_hidden: tuple[int, ...] = (83, 30)
    parametric_dropout: float = 0.1
    parametric_epochs: int = 40
    parametric_lr: float = 1e-3
    backbone_width: int = 128
    backbone_depth: int = 6
    backbone_epochs: int = 20
    backbone_events_per_epoch: int = 40_000
    backbone_lr: float = 2e-3
    backbone_lr_decay: float = 0.9
    transfer_hidden: tuple[int, ...] = (128, 128)
    transfer_dropout: float = 0.1  # head dropout (MC dropout needs p > 0)
    transfer_epochs: int = 30  # stage 1: head on the frozen backbone
    transfer_lr: float = 1e-3
    transfer_weight_decay: float = 1e-2
    transfer_finetune_epochs: int = 60  # stage 2: unfrozen backbone (0: no fine tuning)
    transfer_finetune_lr: float = 1e-3  # peak, head; the backbone's × the factor below
    transfer_backbone_lr_factor: float = 1.0
    transfer_backbone_dropout: float = 0.2
    transfer_warmup_epochs: int = 2
    regressor_hidden: tuple[int, ...] = (256, 256, 256)
    regressor_dropout: float = 0.1  # after every hidden layer (MC dropout needs p > 0)
    regressor_epochs: int = 30
    regressor_lr: float = 1e-3
    regressor_batch_size: int = 256
    regressor_patience: int = 10
    regressor_events: int = 300_000  # extra signal-only toy sample for the regressor (0: none)
    regressor_low_factor: float = 0.1
    comparison_bootstrap: int = 40  # bootstrap replicas for the errors of the comparison
    eval_signal_selected: int = 6000  # evaluation sample: selected events per signal mass
    eval_unseen_events: int = 2_000_000  # ... per process without selected training events
    progress: bool = True

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass
class ClassifierArrays:
    """Aligned per-event arrays for the classifiers (standardised inputs)."""

    x: np.ndarray  # (n, F) standardised features (parametric DNN)
    raw: np.ndarray  # (n, 14) standardised raw kinematics (transfer classifier)
    channel: np.ndarray  # (n,) int64
    charges: np.ndarray  # (n, 3) float32
    mhyp: np.ndarray  # (n,) float32, GeV
    label: np.ndarray  # (n,) float32
    weight: np.ndarray  # (n,) float32 loss weight (class balance × physics)
    split: np.ndarray  # (n,) int8
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def tensors(self, which: str, split: int, device: torch.device) -> list[torch.Tensor]:
        m = self.split == split
        cols = (
            getattr(self, which),
            self.channel,
            self.charges,
            self.mhyp,
            self.label,
            self.weight,
        )
        return [torch.as_tensor(np.ascontiguousarray(c[m])).to(device) for c in cols]


def _classifier_loss(model, batch) -> torch.Tensor:  # noqa: ANN001
    x, ch, q, m, y, w = batch
    return weighted_bce_logits(model.logits(x, ch, q, m), y, w)


def _generator(seed: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def train_parametric(
    data: ClassifierArrays, n_channels: int, opts: TrainingOptions, device: torch.device
) -> tuple[ParametricClassifier, FitResult]:
    """Parametric DNN (weighted BCE, Adam, early stopping on the validation loss)."""
    model = ParametricClassifier(
        n_features=data.x.shape[1],
        n_channels=n_channels,
        hidden=opts.parametric_hidden,
        dropout=opts.parametric_dropout,
    ).to(device)
    train = data.tensors("x", TRAIN, device)
    val = data.tensors("x", VALIDATION, device)
    g = _generator(opts.seed)
    result = fit(
        model,
        _classifier_loss,
        lambda epoch: batches(train, opts.batch_size, shuffle=True, generator=g),
        lambda: batches(val, 8192),
        torch.optim.Adam(model.parameters(), lr=opts.parametric_lr),
        epochs=opts.parametric_epochs,
        patience=opts.patience,
        description="parametric DNN",
        progress=opts.progress,
    )
    return model, result


def pretrain_backbone(
    gen: SyntheticKinematics,
    raw_mean: np.ndarray,
    raw_std: np.ndarray,
    opts: TrainingOptions,
    device: torch.device,
) -> tuple[RegressionBackbone, FitResult, float]:
    """Pre-train the backbone on fresh synthetic events each epoch.

    Returns the backbone (its E_tot output already in GeV), the fit result and the fixed
    E_tot scale used during training.
    """
    rng = np.random.default_rng(opts.seed + 1)
    n_out = len(gen.target_names)
    etot = gen.etot_index
    if etot != n_out - 1:
        raise ValueError("E_tot must be the last backbone target")
    model = RegressionBackbone(
        n_raw=raw_mean.size,
        n_outputs=n_out,
        width=opts.backbone_width,
        depth=opts.backbone_depth,
        dropin_every=3,
        dropout=0.0,
    ).to(device)
    mean = torch.as_tensor(raw_mean, dtype=torch.float32)
    std = torch.as_tensor(raw_std, dtype=torch.float32)
    x_val, y_val = gen.sample(max(opts.backbone_events_per_epoch // 5, 2000), rng)
    etot_scale = float(np.mean(y_val[:, etot]))

    def prep(x: np.ndarray, y: np.ndarray) -> list[torch.Tensor]:
        y = y.copy()
        y[:, etot] /= etot_scale
        xt = (torch.as_tensor(x) - mean) / std
        return [xt.to(device), torch.as_tensor(y).to(device)]

    val = prep(x_val, y_val)
    g = _generator(opts.seed + 2)

    def train_data(epoch: int):
        return batches(
            prep(*gen.sample(opts.backbone_events_per_epoch, rng)), opts.batch_size, True, g
        )

    optimizer = torch.optim.Adam(model.parameters(), lr=opts.backbone_lr)
    result = fit(
        model,
        lambda mdl, b: kinematic_regression_loss(mdl(b[0]), b[1], etot),
        train_data,
        lambda: batches(val, 8192),
        optimizer,
        epochs=opts.backbone_epochs,
        patience=opts.patience,
        scheduler=torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=opts.backbone_lr_decay),
        description="backbone pre-training",
        progress=opts.progress,
    )
    with torch.no_grad():  # E_tot output back in GeV
        model.out.weight[etot] *= etot_scale
        model.out.bias[etot] *= etot_scale
    return model, result, etot_scale


def train_mass_regressor(
    x: np.ndarray,
    m_true: np.ndarray,
    weight: np.ndarray,
    split: np.ndarray,
    mass_range: tuple[float, float],
    opts: TrainingOptions,
    device: torch.device,
) -> tuple[MassRegressor, FitResult]:
    """m_N regression with the MAPE/√y mirrored-boundary loss (output in GeV).

    The network's output is trained as ``(m − centre) / half-width`` of the mass range and the
    scaling is folded into its last layer afterwards. Early stopping uses the plain weighted
    MAPE/√y on the validation split: the mirrored-boundary loss vanishes for predictions far
    from the truth (e.g. ≈ 600 GeV for an 85 GeV event), so it cannot rank epochs. The
    learning rate follows a cosine decay over ``regressor_epochs``. ``regressor_dropout``
    after every hidden layer lets the analysis run Monte-Carlo dropout on the regressed mass
    (``models.mc_dropout_models``); validation runs with dropout off.
    """
    model = MassRegressor(
        n_inputs=x.shape[1], hidden=opts.regressor_hidden, dropout=opts.regressor_dropout
    ).to(device)
    low, high = mass_range
    center, scale = 0.5 * (low + high), 0.5 * (high - low)

    def loss_fn(mdl, b):  # noqa: ANN001, ANN202
        pred = mdl(b[0]) * scale + center
        return mape_sqrt_loss(pred, b[1], low, high, b[2], opts.regressor_low_factor)

    def val_fn(mdl, b):  # noqa: ANN001, ANN202
        pred = mdl(b[0]) * scale + center
        return (torch.abs(pred - b[1]) / torch.sqrt(b[1]) * b[2]).sum() / b[2].sum()

    def tensors(s: int) -> list[torch.Tensor]:
        m = split == s
        return [torch.as_tensor(np.ascontiguousarray(a[m])).to(device) for a in (x, m_true, weight)]

    train, val = tensors(TRAIN), tensors(VALIDATION)
    if len(train[0]) == 0 or len(val[0]) == 0:
        raise ValueError("mass regression needs signal events in the train and validation splits")
    g = _generator(opts.seed + 4)
    optimizer = torch.optim.Adam(model.parameters(), lr=opts.regressor_lr)
    result = fit(
        model,
        loss_fn,
        lambda epoch: batches(train, opts.regressor_batch_size, shuffle=True, generator=g),
        lambda: [val],  # one batch: the validation metric is a ratio of weighted sums
        optimizer,
        epochs=opts.regressor_epochs,
        patience=opts.regressor_patience,
        scheduler=torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, opts.regressor_epochs),
        description="mass regression",
        progress=opts.progress,
        val_loss_fn=val_fn,
    )
    with torch.no_grad():  # fold the output scaling into the last layer: GeV out
        model.out.weight *= scale
        model.out.bias.mul_(scale).add_(center)
    return model, result
