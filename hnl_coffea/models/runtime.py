"""Process-level settings for inference: threads, device, numerical precision, MC dropout."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator
from functools import cache, lru_cache
from pathlib import Path

import torch
from torch import nn

__all__ = [
    "PRECISIONS",
    "BF16_TOLERANCE",
    "BF16X3_TOLERANCE",
    "SplitBF16Linear",
    "bf16_matmuls",
    "split_bf16_copy",
    "BF16FallbackWarning",
    "native_bf16",
    "configure_threads",
    "cpu_supports_bf16",
    "mc_dropout_predict",
    "precision_context",
    "resolve_device",
    "resolve_precision",
]

PRECISIONS = ("fp32", "bf16", "bf16x3", "auto")

#: Largest |score(bf16) − score(fp32)| accepted for sigmoid scores (checked in the tests).
BF16_TOLERANCE = 1e-2
#: The same for the split-bfloat16 path ("bf16x3"): fp32 accuracy to ~2^-16 per product.
BF16X3_TOLERANCE = 1e-3

_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_supports_bf16(cpuinfo: str | None = None) -> bool:
    """True when the CPU computes bfloat16 natively (``amx_bf16`` or ``avx512_bf16`` flags).

    ``cpuinfo`` is the text of ``/proc/cpuinfo`` (read when ``None``; no file → ``False``).
    """
    if cpuinfo is None:
        return _host_supports_bf16()
    for line in cpuinfo.splitlines():
        if line.startswith("flags") and ":" in line:
            flags = set(line.split(":", 1)[1].split())
            return any(flag in flags for flag in _BF16_FLAGS)
    return False


@lru_cache(maxsize=1)
def _host_supports_bf16() -> bool:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return cpu_supports_bf16(text)


def resolve_device(device: str) -> torch.device:
    """``torch.device`` for ``device`` ("cpu", "cuda", "cuda:1"); clear error if unavailable."""
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ValueError(f"unknown torch device {device!r} (use 'cpu' or 'cuda[:N]')") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"device {device!r} was requested but torch sees no CUDA GPU on this machine"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise RuntimeError(
                f"device {device!r} was requested but only {torch.cuda.device_count()} "
                "CUDA GPU(s) are visible"
            )
    elif dev.type != "cpu":
        raise ValueError(f"unsupported torch device {device!r} (use 'cpu' or 'cuda[:N]')")
    return dev


class BF16FallbackWarning(RuntimeWarning):
    """bf16 was asked for on hardware without native bfloat16: evaluating in fp32."""


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 matrix products natively (AMX / AVX512-BF16 CPU,
    bf16-capable GPU); elsewhere bf16 is emulated and several times slower than fp32."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    return cpu_supports_bf16()


def resolve_precision(precision: str, device: torch.device, emulate: bool = False) -> str:
    """Effective precision: "fp32", "bf16" or "bf16x3".

    "auto" picks bf16 only where it is native. "bf16" and "bf16x3" on hardware without
    native bfloat16 fall back to fp32 with a :class:`BF16FallbackWarning` (once per process,
    device and precision): emulated bfloat16 would be slower than fp32. "bf16x3" is a CPU
    path (oneDNN); on a GPU it falls back to fp32 the same way. ``emulate=True`` keeps the
    requested precision anyway (its numerics, for accuracy checks on any machine).
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision == "fp32" or emulate and precision != "auto":
        return precision
    native = native_bf16(device) and (precision != "bf16x3" or device.type == "cpu")
    if native:
        return "bf16" if precision == "auto" else precision
    if precision != "auto":
        _warn_fallback(str(device), precision)
    return "fp32"


@cache
def _warn_fallback(device: str, precision: str = "bf16") -> None:
    import warnings

    why = (
        "is a CPU path"
        if precision == "bf16x3" and not device.startswith("cpu")
        else f"has no native bfloat16 (CPU flags {' / '.join(_BF16_FLAGS)} absent)"
    )
    warnings.warn(
        f"precision {precision} requested, but {device} {why}: evaluating in fp32",
        BF16FallbackWarning,
        stacklevel=4,
    )


def precision_context(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """Autocast context for bf16 (matrix products in bfloat16, reductions in fp32)."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@contextlib.contextmanager
def bf16_matmuls() -> Iterator[None]:
    """fp32 matrix products computed by oneDNN on bfloat16 hardware (inputs rounded to
    bfloat16, fp32 accumulation and result); exact for inputs that are bfloat16 numbers,
    as :class:`SplitBF16Linear` gives it. Restores the previous setting."""
    matmul = torch.backends.mkldnn.matmul
    before = matmul.fp32_precision
    matmul.fp32_precision = "bf16"
    try:
        yield
    finally:
        matmul.fp32_precision = before


def _split(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    hi = t.to(torch.bfloat16).float()
    return hi, (t - hi).to(torch.bfloat16).float()


class SplitBF16Linear(nn.Module):
    """A linear layer as three bfloat16 products: with x = x_hi + x_lo and W = W_hi + W_lo
        (each part a bfloat16 number), x·Wᵀ ≈ x_hi·W_hiᵀ + x_hi·W_loᵀ + x_lo·W_hiᵀ, accumulated
        in fp32 ("bf16x3": the algorithm behind torch's float32 matmul precision "high" where it
    uses bfloat16, and XLA's BF16_BF16_F32_X3). The dropped x_lo·W_lo term is ~2^-16 of
        the product, so the result is close to fp32 at three bfloat16 matrix products' cost.
        Run inside :func:`bf16_matmuls` to use bfloat16 hardware; elsewhere it is computed in
        fp32 with the same numerics.
    """

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        w_hi, w_lo = _split(linear.weight.detach().float())
        self.register_buffer("w_hi", w_hi)
        self.register_buffer("w_lo", w_lo)
        bias = linear.bias
        self.register_buffer("bias", None if bias is None else bias.detach().float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_hi, x_lo = _split(x.float())
        out = nn.functional.linear(x_hi, self.w_hi, self.bias)
        return out + nn.functional.linear(x_hi, self.w_lo) + nn.functional.linear(x_lo, self.w_hi)


def split_bf16_copy(module: nn.Module) -> nn.Module:
    """A copy of ``module`` whose ``nn.Linear`` layers are :class:`SplitBF16Linear`."""
    out = copy.deepcopy(module).float()
    for child in list(out.modules()):
        for attr, sub in list(child.named_children()):
            if isinstance(sub, nn.Linear):
                setattr(child, attr, SplitBF16Linear(sub))
    return out.eval()


def configure_threads(threads: int | None) -> None:
    """Set torch's intra-op thread count for this process (``None`` leaves it alone).

    One thread per Dask worker process keeps workers from oversubscribing the cores; the
    call is cheap and idempotent, so every runner makes it before its first evaluation.
    """
    if threads is None:
        return
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


@contextlib.contextmanager
def _dropout_active(model: nn.Module) -> Iterator[None]:
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.train()
    try:
        yield
    finally:
        for m, mode in modes:
            m.train(mode)


def mc_dropout_predict(
    model: nn.Module,
    *inputs: torch.Tensor,
    n_passes: int,
    forward: Callable[..., torch.Tensor] | None = None,
    max_rows: int = 1 << 16,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Monte-Carlo dropout: mean and standard deviation over ``n_passes`` stochastic passes.

    Dropout layers are active, everything else is in eval mode (the model's modes are restored
    afterwards). ``forward`` (default ``model``) is called on the inputs; several passes are
    evaluated in one call by repeating the inputs along the batch axis (dropout masks are
    drawn per row), at most ``max_rows`` rows at a time. The standard deviation is the
    population one (ddof = 0). Returns float32 tensors of the output's shape.
    """
    if n_passes < 1:
        raise ValueError(f"n_passes must be at least 1, got {n_passes}")
    fn = forward if forward is not None else model
    n = inputs[0].shape[0]
    per_call = max(1, max_rows // max(n, 1))
    mean = m2 = None
    done = 0
    with _dropout_active(model), torch.inference_mode():
        while done < n_passes:
            k = min(per_call, n_passes - done)
            tiled = [t.repeat(k, *([1] * (t.dim() - 1))) for t in inputs]
            out = fn(*tiled).double()
            out = out.reshape(k, n, *out.shape[1:])
            # Chan et al. parallel update of mean and sum of squared deviations
            mean_k = out.mean(0)
            m2_k = ((out - mean_k) ** 2).sum(0)
            if mean is None:
                mean, m2 = mean_k, m2_k
            else:
                delta = mean_k - mean
                mean = mean + delta * (k / (done + k))
                m2 = m2 + m2_k + delta * delta * (done * k / (done + k))
            done += k
    return mean.float(), (m2 / n_passes).sqrt().float()
