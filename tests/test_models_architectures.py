"""Architectures: shapes, parameter counts, input conventions, batched hypotheses, MC dropout."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from hnl_coffea.models import (
    MassRegressor,
    ParametricClassifier,
    RegressionBackbone,
    TransferClassifier,
    build_model,
    mc_dropout_predict,
)

MASSES = [85, 100, 125, 150, 200, 250, 300, 350, 400, 450, 500, 600, 700, 800, 900, 1000]


def _inputs(n: int, n_feat: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, n_feat, generator=g)
    ch = torch.randint(0, 5, (n,), generator=g)
    q = torch.randint(0, 2, (n, 3), generator=g).float() * 2 - 1
    return x, ch, q


def test_backbone_parameter_count_seed_size():
    """Width 1024, depth 25, drop-ins every 3 layers: counted from the layer shapes by hand."""
    n_raw, width, depth, n_out = 14, 1024, 25, 112
    expected = n_raw * width + width  # first layer
    for k in range(1, depth):
        n_in = width + (n_raw if k % 3 == 0 else 0)  # drop-in layers 3, 6, ..., 24
        expected += n_in * width + width
    expected += width * n_out + n_out  # output layer
    model = RegressionBackbone(n_raw=n_raw, n_outputs=n_out, width=width, depth=depth)
    assert sum(p.numel() for p in model.parameters()) == expected
    assert 24e6 < expected < 26e6  # "≈ 25M parameters" of the seed


def test_backbone_dropin_reinjects_raw_inputs():
    model = RegressionBackbone(n_raw=4, n_outputs=3, width=8, depth=7, dropin_every=3)
    widths = [layer.in_features for layer in model.layers]
    assert widths == [4, 8, 8, 12, 8, 8, 12]
    raw = torch.randn(5, 4)
    assert model.hidden(raw).shape == (5, 8)
    assert model(raw).shape == (5, 3)
    # the hidden representation is the input of the output layer
    torch.testing.assert_close(model.out(model.hidden(raw)), model(raw))


def _numpy_parametric(model: ParametricClassifier, x, ch, q, mass):
    """Independent forward pass from the weights: [x, one-hot, m/1000, q] → ReLU MLP → sigmoid."""
    sd = {k: v.detach().numpy().astype(np.float64) for k, v in model.state_dict().items()}
    n = len(x)
    onehot = np.zeros((n, 5))
    onehot[np.arange(n), ch] = 1.0
    h = np.concatenate([x, onehot, (np.asarray(mass, float) / 1000.0)[:, None], q], axis=1)
    h = np.maximum(h @ sd["head.first.weight"].T + sd["head.first.bias"], 0.0)
    h = np.maximum(h @ sd["head.body.0.weight"].T + sd["head.body.0.bias"], 0.0)
    z = h @ sd["head.out.weight"].T + sd["head.out.bias"]
    return 1.0 / (1.0 + np.exp(-z[:, 0]))


def test_parametric_classifier_input_convention():
    torch.manual_seed(1)
    model = ParametricClassifier(6, hidden=(9, 4)).eval()
    x, ch, q = _inputs(11, 6)
    mass = torch.full((11,), 300.0)
    ref = _numpy_parametric(model, x.numpy(), ch.numpy(), q.numpy(), mass.numpy())
    with torch.no_grad():
        got = model(x, ch, q, mass).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-6)


@pytest.mark.parametrize("kind", ["parametric", "transfer"])
def test_hypothesis_batch_equals_per_hypothesis_loop(kind):
    torch.manual_seed(2)
    if kind == "parametric":
        model, n_feat = ParametricClassifier(12, dropout=0.3), 12
    else:
        backbone = RegressionBackbone(n_outputs=5, width=16, depth=6, dropout=0.5)
        model, n_feat = TransferClassifier(backbone, hidden=(8, 8)), 14
    model.eval()
    x, ch, q = _inputs(9, n_feat)
    masses = torch.tensor(MASSES, dtype=torch.float32)
    with torch.no_grad():
        batched = torch.sigmoid(model.hypothesis_logits(x, ch, q, masses))
        loop = torch.stack([model(x, ch, q, m.expand(9)) for m in masses], dim=1)
    assert batched.shape == (9, 16)
    torch.testing.assert_close(batched, loop, atol=1e-6, rtol=0)


def test_transfer_classifier_freeze_and_dropout():
    backbone = RegressionBackbone(n_outputs=5, width=16, depth=4)
    model = TransferClassifier(backbone, hidden=(8, 8), freeze=True)
    assert all(not p.requires_grad for p in model.backbone.parameters())
    assert all(p.requires_grad for p in model.head.parameters())
    model.unfreeze()
    assert all(p.requires_grad for p in model.parameters())
    model.set_backbone_dropout(0.5)
    assert {m.p for m in model.backbone.modules() if isinstance(m, nn.Dropout)} == {0.5}
    rebuilt = build_model("TransferClassifier", model.config())
    assert rebuilt.config() == model.config()
    assert rebuilt.backbone.config()["dropout"] == 0.5 and not rebuilt.frozen


def test_mass_regressor_shape_and_activation():
    model = MassRegressor(7, hidden=(20, 20, 20))
    assert sum(isinstance(m, nn.Softplus) for m in model.modules()) == 3
    assert model(torch.randn(4, 7)).shape == (4,)
    with pytest.raises(ValueError, match="unknown activation"):
        MassRegressor(7, activation="sigmoidish")


def test_mc_dropout_zero_dropout_is_deterministic():
    torch.manual_seed(3)
    model = ParametricClassifier(5, dropout=0.0)
    model.train()  # the call must not depend on the incoming mode
    x, ch, q = _inputs(20, 5)
    m = torch.full((20,), 200.0)
    mean, std = mc_dropout_predict(model, x, ch, q, m, n_passes=7, max_rows=45)
    assert model.training  # the incoming mode is restored
    model.eval()
    with torch.no_grad():
        ref = model(x, ch, q, m)
    assert torch.all(std == 0)
    torch.testing.assert_close(mean, ref, atol=1e-6, rtol=0)


def test_mc_dropout_mean_converges_to_weight_scaled_output():
    """One hidden layer, linear output: E[dropout output] equals the deterministic logit."""
    torch.manual_seed(4)
    model = ParametricClassifier(5, hidden=(40,), dropout=0.3)
    x, ch, q = _inputs(6, 5)
    m = torch.full((6,), 500.0)
    n_passes = 4000
    mean, std = mc_dropout_predict(model, x, ch, q, m, n_passes=n_passes, forward=model.logits)
    with torch.no_grad():
        ref = model.eval().logits(x, ch, q, m)
    assert torch.all(std > 0)
    # 5 standard errors of the mean
    assert torch.all((mean - ref).abs() < 5 * std / math.sqrt(n_passes) + 1e-6)
    assert model.training is False
    assert all(not d.training for d in model.modules() if isinstance(d, nn.Dropout))
