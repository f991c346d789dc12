"""Generic torch training loop: mini-batches, early stopping on the validation loss,
learning-rate schedules, epoch hooks (e.g. unfreezing a backbone) and progress bars."""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["set_seed", "resolve_device", "batches", "FitResult", "fit", "predict"]

Batch = Sequence[torch.Tensor]


def set_seed(seed: int) -> np.random.Generator:
    """Seed Python, numpy's legacy RNG and torch (CPU and CUDA); returns a numpy Generator."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def resolve_device(name: str) -> torch.device:
    """``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (cuda when available) → a torch device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but torch sees no CUDA GPU")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown torch device {name!r}; use cpu, cuda or auto") from None


def batches(
    tensors: Sequence[torch.Tensor],
    batch_size: int,
    shuffle: bool = False,
    generator: torch.Generator | None = None,
) -> Iterator[tuple[torch.Tensor, ...]]:
    """Mini-batches of aligned tensors (first dimension), optionally shuffled."""
    n = len(tensors[0])
    if any(len(t) != n for t in tensors):
        raise ValueError("tensors for batching have different lengths")
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        yield tuple(t[idx] for t in tensors)


@dataclass
class FitResult:
    """What a :func:`fit` call did: per-epoch losses, the best epoch and its validation loss."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1
    best_val_loss: float = float("inf")
    stopped_early: bool = False

    def to_dict(self) -> dict:
        return {
            "epochs_run": len(self.history),
            "best_epoch": self.best_epoch,
            "best_val_loss": self.best_val_loss,
            "stopped_early": self.stopped_early,
            "history": self.history,
        }


def _mean_loss(
    model: torch.nn.Module,
    loss_fn: Callable[[torch.nn.Module, Batch], torch.Tensor],
    data: Iterable,
) -> float:
    model.eval()
    total, n = 0.0, 0
    with torch.no_grad():
        for batch in data:
            k = len(batch[0])
            total += float(loss_fn(model, batch)) * k
            n += k
    if n == 0:
        raise ValueError("validation sample is empty")
    return total / n


def fit(
    model: torch.nn.Module,
    loss_fn: Callable[[torch.nn.Module, Batch], torch.Tensor],
    train_data: Callable[[int], Iterable[Batch]],
    val_data: Callable[[], Iterable[Batch]],
    optimizer: torch.optim.Optimizer,
    epochs: int,
    patience: int = 5,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    on_epoch_start: Callable[[int], None] | None = None,
    description: str = "training",
    progress: bool = True,
    val_loss_fn: Callable[[torch.nn.Module, Batch], torch.Tensor] | None = None,
    batch_scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
) -> FitResult:
    """Train ``model`` for up to ``epochs`` epochs with early stopping on the validation loss.

    ``train_data(epoch)`` yields the batches of one epoch (fresh synthetic data is fine),
    ``val_data()`` the validation batches. The weights of the best validation epoch are
    restored at the end. ``on_epoch_start(epoch)`` runs before each epoch (e.g. to unfreeze
    a pre-trained backbone); ``scheduler`` steps once per epoch, ``batch_scheduler`` after
    every optimiser step (warm-up). ``val_loss_fn`` (default: ``loss_fn``) is the metric for
    early stopping, for losses that can vanish for wrong predictions (the mirrored-boundary
    regression loss). The history records the learning rate of every parameter group.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be ≥ 1, got {epochs}")
    result = FitResult()
    best_state = copy.deepcopy(model.state_dict())
    bad_epochs = 0
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, disable=not progress, transient=False) as bar:
        task = bar.add_task(description, total=epochs, status="")
        for epoch in range(epochs):
            if on_epoch_start is not None:
                on_epoch_start(epoch)
            model.train()
            total, n = 0.0, 0
            for batch in train_data(epoch):
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(model, batch)
                if not torch.isfinite(loss):
                    raise FloatingPointError(
                        f"{description}: loss became {float(loss)} at epoch {epoch}"
                    )
                loss.backward()
                optimizer.step()
                if batch_scheduler is not None:
                    batch_scheduler.step()
                total += float(loss.detach()) * len(batch[0])
                n += len(batch[0])
            val = _mean_loss(model, val_loss_fn or loss_fn, val_data())
            lrs = [g["lr"] for g in optimizer.param_groups]
            entry = {"epoch": epoch, "train_loss": total / max(n, 1), "val_loss": val, "lr": lrs[0]}
            if len(lrs) > 1:
                entry["lr_groups"] = lrs
            result.history.append(entry)
            if scheduler is not None:
                scheduler.step()
            if val < result.best_val_loss:
                result.best_val_loss, result.best_epoch, bad_epochs = val, epoch, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                bad_epochs += 1
            bar.update(task, advance=1, status=f"train {total / max(n, 1):.4g} val {val:.4g}")
            if bad_epochs >= patience:
                result.stopped_early = True
                break
    model.load_state_dict(best_state)
    model.eval()
    return result


def predict(
    fn: Callable[..., torch.Tensor],
    inputs: Sequence[np.ndarray | torch.Tensor],
    device: torch.device,
    batch_size: int = 65536,
) -> np.ndarray:
    """Evaluate ``fn(*batch)`` in inference mode over aligned inputs; returns numpy."""
    tensors = [torch.as_tensor(np.asarray(x)) for x in inputs]
    outs = []
    with torch.inference_mode():
        for batch in batches(tensors, batch_size):
            outs.append(fn(*(t.to(device) for t in batch)).float().cpu())
    if not outs:
        return np.zeros((0,), dtype=np.float32)
    return torch.cat(outs).numpy()
