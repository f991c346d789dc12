"""Transfer learning on the pre-trained regression backbone, in two stages.

1. **Head on the frozen backbone**: the backbone's weights are fixed (no gradients, no
   dropout inside it) and only the classifier head learns, AdamW at ``transfer_lr``, early
   stopping on the validation loss; the best epoch is restored.
2. **Fine tuning**: starting from that optimum, the backbone is unfrozen with dropout
   ``transfer_backbone_dropout`` inside it, and head and backbone are trained together with
   their own, lower learning rates (``transfer_finetune_lr``; the backbone's scaled by
   ``transfer_backbone_lr_factor``), a linear warm-up from zero over
   ``transfer_warmup_epochs`` and a cosine decay, early stopping again.

The network kept is the fine-tuned one only if its best validation loss is below the frozen
optimum; otherwise the frozen optimum is restored (so the result is never worse than the
frozen stage on the validation split). :class:`StagedFit` records both stages — what was
frozen, learning rates, dropout, every epoch's losses — and which one was chosen.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import torch

from ..models import RegressionBackbone, TransferClassifier
from .datasets import TRAIN, VALIDATION
from .loops import FitResult, batches, fit
from .losses import weighted_bce_logits

__all__ = ["StagedFit", "train_transfer", "warmup_cosine"]

FROZEN, FINE_TUNE = "head_on_frozen_backbone", "fine_tune"


@dataclass
class StagedFit:
    """The stages of a transfer-learning fit and the one whose weights were kept."""

    stages: list[dict] = field(default_factory=list)
    chosen: str = FROZEN

    @property
    def best_val_loss(self) -> float:
        return next(s["fit"]["best_val_loss"] for s in self.stages if s["stage"] == self.chosen)

    def stage(self, name: str) -> dict:
        return next(s for s in self.stages if s["stage"] == name)

    def to_dict(self) -> dict:
        chosen = self.stage(self.chosen)["fit"]
        return {
            "stages": self.stages,
            "chosen_stage": self.chosen,
            "best_epoch": chosen["best_epoch"],
            "best_val_loss": chosen["best_val_loss"],
        }


def warmup_cosine(warmup_steps: int, total_steps: int):
    """Learning-rate factor per optimiser step: linear from 0 to 1 over ``warmup_steps``,
    then a cosine decay to 0 at ``total_steps``."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        span = max(total_steps - warmup_steps, 1)
        return 0.5 * (1.0 + math.cos(math.pi * min(step - warmup_steps, span) / span))

    return factor


def _loss(model, batch) -> torch.Tensor:  # noqa: ANN001
    x, ch, q, m, y, w = batch
    return weighted_bce_logits(model.logits(x, ch, q, m), y, w)


def _record(stage: str, model: TransferClassifier, optimizer, result: FitResult, **extra) -> dict:
    names = ("head", "backbone")
    return {
        "stage": stage,
        "frozen": ["backbone"] if model.frozen else [],
        "trainable": ["head"] if model.frozen else ["head", "backbone"],
        "optimizer": type(optimizer).__name__,
        "lr": {
            n: g["initial_lr"] if "initial_lr" in g else g["lr"]
            for n, g in zip(names, optimizer.param_groups)
        },  # fmt: skip
        "weight_decay": optimizer.param_groups[0]["weight_decay"],
        **extra,
        "fit": result.to_dict(),
    }


def train_transfer(
    backbone: RegressionBackbone,
    data,  # ClassifierArrays  # noqa: ANN001
    n_channels: int,
    opts,  # TrainingOptions  # noqa: ANN001
    device: torch.device,
) -> tuple[TransferClassifier, StagedFit]:
    """Head on the frozen ``backbone``, then fine tuning (see the module docstring).

    ``backbone`` is copied: the pre-trained network passed in is left unchanged.
    """
    model = TransferClassifier(
        copy.deepcopy(backbone),
        n_channels=n_channels,
        hidden=opts.transfer_hidden,
        freeze=True,
        dropout=opts.transfer_dropout,
        backbone_dropout=0.0,
    ).to(device)
    head = [p for n, p in model.named_parameters() if not n.startswith("backbone.")]
    train = data.tensors("raw", TRAIN, device)
    val = data.tensors("raw", VALIDATION, device)
    g = torch.Generator()
    g.manual_seed(opts.seed + 3)

    def train_batches(epoch: int):
        return batches(train, opts.batch_size, shuffle=True, generator=g)

    def val_batches():
        return batches(val, 8192)

    staged = StagedFit()
    # 1. head on the frozen backbone
    opt = torch.optim.AdamW(head, lr=opts.transfer_lr, weight_decay=opts.transfer_weight_decay)
    frozen_fit = fit(
        model, _loss, train_batches, val_batches, opt,
        epochs=opts.transfer_epochs, patience=opts.patience,
        description="transfer: head on frozen backbone", progress=opts.progress,
    )  # fmt: skip
    staged.stages.append(_record(FROZEN, model, opt, frozen_fit, backbone_dropout=0.0))
    frozen_state = copy.deepcopy(model.state_dict())
    if opts.transfer_finetune_epochs < 1:
        return model, staged

    # 2. fine tuning: unfrozen backbone with dropout, per-group learning rates, warm-up
    model.unfreeze()
    model.set_backbone_dropout(opts.transfer_backbone_dropout)
    lr = opts.transfer_finetune_lr
    opt = torch.optim.AdamW(
        [{"params": head, "lr": lr},
         {"params": list(model.backbone.parameters()), "lr": lr * opts.transfer_backbone_lr_factor}],
        weight_decay=opts.transfer_weight_decay,
    )  # fmt: skip
    steps = math.ceil(len(train[0]) / opts.batch_size)
    warmup = max(1, opts.transfer_warmup_epochs * steps)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        opt, warmup_cosine(warmup, opts.transfer_finetune_epochs * steps)
    )
    tune_fit = fit(
        model, _loss, train_batches, val_batches, opt,
        epochs=opts.transfer_finetune_epochs, patience=opts.patience,
        description="transfer: fine tuning", progress=opts.progress, batch_scheduler=schedule,
    )  # fmt: skip
    staged.stages.append(
        _record(FINE_TUNE, model, opt, tune_fit,
                backbone_dropout=opts.transfer_backbone_dropout,
                warmup_epochs=opts.transfer_warmup_epochs, schedule="linear warm-up, cosine decay")
    )  # fmt: skip
    if tune_fit.best_val_loss < frozen_fit.best_val_loss:
        staged.chosen = FINE_TUNE
    else:  # fine tuning did not improve on the frozen optimum: keep that one
        model.load_state_dict(frozen_state)
        model.freeze()
        model.set_backbone_dropout(0.0)
    model.eval()
    return model, staged
