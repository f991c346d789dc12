"""The bf16 fast path of the classifiers (bf16 backbone copy, fp32 head) and its clean
fall-back to fp32 on hardware without native bfloat16 — both forced by faking the CPU flags,
so the test runs the same on every machine."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch

from hnl_coffea.models import (
    ModelRunner,
    RegressionBackbone,
    TransferClassifier,
    runtime,
    save_artifact,
)
from hnl_coffea.models.runtime import BF16FallbackWarning, resolve_precision

MASSES = [85.0, 300.0, 1000.0]
RAW = [f"l{i}_{v}" for i in (1, 2, 3) for v in ("pt", "eta", "phi", "mass")] + ["met_pt", "met_phi"]


@pytest.fixture()
def transfer(tmp_path):
    torch.manual_seed(3)
    model = TransferClassifier(RegressionBackbone(n_outputs=4, width=64, depth=7), hidden=(16, 16))
    path = tmp_path / "transfer.pt"
    save_artifact(model, path, kind="transfer", feature_names=RAW, mass_hypotheses=MASSES,
                  channels=["a", "b", "c", "d", "e"])  # fmt: skip
    rng = np.random.default_rng(0)
    inputs = (rng.normal(size=(300, 14)), rng.integers(0, 5, 300), np.ones((300, 3)))
    return model.eval(), path, inputs


def _cpu(monkeypatch, native: bool) -> None:
    monkeypatch.setattr(runtime, "_host_supports_bf16", lambda: native)
    runtime._warn_fallback.cache_clear()


@pytest.mark.parametrize("precision", ["bf16", "bf16x3"])
def test_forced_fallback_without_native_bf16(monkeypatch, transfer, precision):
    _, path, inputs = transfer
    _cpu(monkeypatch, native=False)
    fp32 = ModelRunner(path, precision="fp32").scores(*inputs)
    runner = ModelRunner(path, precision=precision)
    with pytest.warns(BF16FallbackWarning, match=f"{precision} requested.*no native bfloat16"):
        got = runner.scores(*inputs)
    assert runner.effective_precision == "fp32"
    np.testing.assert_array_equal(got, fp32)  # exactly the fp32 evaluation
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # auto falls back silently
        assert resolve_precision("auto", torch.device("cpu")) == "fp32"
        np.testing.assert_array_equal(ModelRunner(path, precision="auto").scores(*inputs), fp32)


def test_fast_path_with_native_bf16(monkeypatch, transfer):
    """bf16 numerics (emulated where the CPU lacks them): equal to a hand-built bf16
    backbone + fp32 head, and close to fp32."""
    model, path, (x, ch, q) = transfer
    _cpu(monkeypatch, native=True)
    runner = ModelRunner(path, precision="bf16")
    assert runner.effective_precision == "bf16"
    got = runner.scores(x, ch, q)
    body = copy.deepcopy(model.backbone).to(torch.bfloat16)
    with torch.no_grad():
        rep = body.hidden(torch.as_tensor(x, dtype=torch.float32).to(torch.bfloat16)).float()
        ref = torch.sigmoid(model.head.hypothesis_logits(
            rep, torch.as_tensor(ch), torch.as_tensor(q, dtype=torch.float32),
            torch.tensor(MASSES)))  # fmt: skip
    np.testing.assert_allclose(got, ref.numpy(), atol=1e-6)
    fp32 = ModelRunner(path, precision="fp32").scores(x, ch, q)
    dev = np.abs(got - fp32)
    assert 0 < dev.max() < runtime.BF16_TOLERANCE


def test_emulated_bf16_keeps_bf16_numerics(monkeypatch, transfer):
    _, path, inputs = transfer
    _cpu(monkeypatch, native=False)
    runner = ModelRunner(path, precision="bf16", emulate_bf16=True)
    assert runner.effective_precision == "bf16"
    fp32 = ModelRunner(path, precision="fp32").scores(*inputs)
    assert np.abs(runner.scores(*inputs) - fp32).max() > 0


def test_cuda_device_is_a_clean_error_without_gpu(transfer):
    _, path, inputs = transfer
    if torch.cuda.is_available():
        got = ModelRunner(path, device="cuda", precision="auto").scores(*inputs)
        fp32 = ModelRunner(path).scores(*inputs)
        assert np.abs(got - fp32).max() < runtime.BF16_TOLERANCE
        return
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        ModelRunner(path, device="cuda").scores(*inputs)


def _split_reference(model, x: np.ndarray) -> torch.Tensor:
    """The backbone's last hidden layer with every product split into bfloat16 parts,
    x·W ≈ x_hi·W_hi + x_hi·W_lo + x_lo·W_hi, summed in float64 (written out per layer)."""

    def parts(t):
        hi = t.float().to(torch.bfloat16).double()
        return hi, (t - hi).float().to(torch.bfloat16).double()

    bb, raw = model.backbone, torch.as_tensor(x, dtype=torch.float32).double()
    h = raw
    for k, lin in enumerate(bb.layers):
        if bb.dropin[k]:
            h = torch.cat([h, raw], dim=1)
        (h_hi, h_lo), (w_hi, w_lo) = parts(h), parts(lin.weight.double())
        h = torch.relu(h_hi @ w_hi.T + h_hi @ w_lo.T + h_lo @ w_hi.T + lin.bias.double())
    return h


def test_split_bf16_path_is_within_1e3_of_fp32(monkeypatch, transfer):
    """bf16x3: three bfloat16 products per backbone layer; equal to a float64 evaluation of
    the same split, within 1e-3 of fp32 where plain bf16 is not, at least 10× closer."""
    model, path, (x, ch, q) = transfer
    _cpu(monkeypatch, native=True)
    runner = ModelRunner(path, precision="bf16x3")
    assert runner.effective_precision == "bf16x3"
    got = runner.scores(x, ch, q)
    with torch.no_grad():
        ref = torch.sigmoid(model.head.hypothesis_logits(
            _split_reference(model, x).float(), torch.as_tensor(ch),
            torch.as_tensor(q, dtype=torch.float32), torch.tensor(MASSES)))  # fmt: skip
    np.testing.assert_allclose(got, ref.numpy(), atol=2e-6)
    fp32 = ModelRunner(path, precision="fp32").scores(x, ch, q)
    split_dev = np.abs(got - fp32).max()
    bf16_dev = np.abs(ModelRunner(path, precision="bf16").scores(x, ch, q) - fp32).max()
    assert split_dev < runtime.BF16X3_TOLERANCE and split_dev < bf16_dev / 10


def test_split_bf16_is_a_cpu_path(monkeypatch):
    """On a GPU with bfloat16 the split path (oneDNN, CPU) falls back to fp32 too."""
    runtime._warn_fallback.cache_clear()
    monkeypatch.setattr(runtime, "native_bf16", lambda device: True)
    with pytest.warns(BF16FallbackWarning, match="bf16x3 requested, but cuda is a CPU path"):
        assert resolve_precision("bf16x3", torch.device("cuda")) == "fp32"
    assert resolve_precision("bf16x3", torch.device("cpu")) == "bf16x3"


def test_bf16_matmuls_restores_the_setting():
    matmul = torch.backends.mkldnn.matmul
    before = matmul.fp32_precision
    with pytest.raises(KeyError), runtime.bf16_matmuls():
        assert matmul.fp32_precision == "bf16"
        raise KeyError("inside")
    assert matmul.fp32_precision == before
