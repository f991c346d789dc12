"""Training building blocks against hand-computed values and plain-Python references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hnl_coffea.training.datasets import (
    TEST,
    TRAIN,
    VALIDATION,
    assign_mass_hypotheses,
    class_weights,
    flat_weights,
    split_index,
)
from hnl_coffea.training.losses import (
    kinematic_regression_loss,
    mape_sqrt_loss,
    mirrored_boundary_factor,
    weighted_bce,
    weighted_bce_logits,
)
from hnl_coffea.training.metrics import residual_summary, weighted_auc
from hnl_coffea.training.synthetic import RAW_INPUTS, SyntheticKinematics, fit_shifted_exponential


# ------------------------------------------------------------------------------ losses
def test_weighted_bce_hand_computed():
    logits = torch.tensor([0.0, 2.0])
    label = torch.tensor([1.0, 0.0])
    w = torch.tensor([1.0, 3.0])
    expected = (math.log(2.0) + 3 * math.log(1 + math.exp(2.0))) / 4
    assert float(weighted_bce_logits(logits, label, w)) == pytest.approx(expected, rel=1e-6)
    assert float(weighted_bce(torch.sigmoid(logits), label, w)) == pytest.approx(expected, rel=1e-5)


def test_weighted_bce_zero_weights_is_an_error():
    with pytest.raises(ValueError, match="sum of event weights"):
        weighted_bce_logits(torch.zeros(2), torch.ones(2), torch.zeros(2))


def test_mape_sqrt_mirrored_boundaries_hand_computed():
    low, high = 50.0, 800.0
    y_true = torch.tensor([100.0, 400.0, 200.0, 900.0])
    y_pred = torch.tensor([110.0, 700.0, 100.0, 780.0])
    # 1: inside → 10/√100; 2: 700−400 ≥ 800−700 → dropped (upper mirror);
    # 3: 200−100 ≥ 100−50 → × 0.1 (lower mirror); 4: |780−900|/√900, both tests fail → 1
    expected = [1.0, 0.0, 0.1 * 100 / math.sqrt(200), 120 / 30]
    factor = mirrored_boundary_factor(y_pred, y_true, low, high)
    assert factor.tolist() == pytest.approx([1.0, 0.0, 0.1, 1.0])
    assert float(mape_sqrt_loss(y_pred, y_true, low, high)) == pytest.approx(
        sum(expected) / 4, rel=1e-6
    )
    w = torch.tensor([1.0, 1.0, 2.0, 0.0])
    assert float(mape_sqrt_loss(y_pred, y_true, low, high, w)) == pytest.approx(
        (expected[0] + 2 * expected[2]) / 4, rel=1e-6
    )
    # outside the training range the prediction always counts (no zero-loss escape upwards)
    outside = mirrored_boundary_factor(
        torch.tensor([1200.0, 40.0]), torch.tensor([400.0, 100.0]), low, high
    )
    assert outside.tolist() == [1.0, 1.0]
    # exactly on the mirror: pred − true == high − pred counts as beyond (≥)
    assert (
        float(mirrored_boundary_factor(torch.tensor([600.0]), torch.tensor([400.0]), low, high))
        == 0.0
    )


def test_mape_sqrt_gradient_ignores_dropped_events():
    y_pred = torch.tensor([110.0, 700.0], requires_grad=True)
    mape_sqrt_loss(y_pred, torch.tensor([100.0, 400.0]), 50.0, 800.0).backward()
    assert y_pred.grad.tolist() == pytest.approx([0.5 / 10.0, 0.0])


def test_kinematic_regression_loss_hand_computed():
    pred = torch.tensor([[1.0, 2.0, 110.0], [0.5, 0.0, 90.0]])
    target = torch.tensor([[0.0, 2.0, 100.0], [0.0, 1.0, 100.0]])
    expected = (1.0 + 0.0 + 0.01 + 0.25 + 1.0 + 0.01) / 6
    assert float(kinematic_regression_loss(pred, target, 2)) == pytest.approx(expected, rel=1e-6)


# ------------------------------------------------------------------------------ datasets
def _splitmix64_reference(x: int) -> int:
    mask = (1 << 64) - 1
    z = (x + 0x9E3779B97F4A7C15) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return z ^ (z >> 31)


def test_split_matches_reference_and_is_disjoint_by_event_number():
    rng = np.random.default_rng(1)
    events = rng.integers(0, 2**63, size=3000, dtype=np.uint64)
    events = np.concatenate([events, events[:500]])  # the same events seen again (other chunk)
    split = split_index(events)
    lookup = {
        0: TRAIN,
        1: TRAIN,
        2: TRAIN,
        3: TRAIN,
        4: TRAIN,
        5: TRAIN,
        6: TRAIN,
        7: VALIDATION,
        8: VALIDATION,
        9: TEST,
    }
    for ev, s in zip(events[:300].tolist(), split[:300].tolist()):
        assert s == lookup[_splitmix64_reference(ev) % 10]
    groups = [set(events[split == s].tolist()) for s in (TRAIN, VALIDATION, TEST)]
    assert (
        not (groups[0] & groups[1]) and not (groups[0] & groups[2]) and not (groups[1] & groups[2])
    )
    frac = np.bincount(split[:3000], minlength=3) / 3000
    assert frac == pytest.approx([0.7, 0.2, 0.1], abs=0.03)


def test_split_rejects_bad_input():
    with pytest.raises(ValueError, match="integers"):
        split_index(np.array([1.5, 2.5]))
    with pytest.raises(ValueError, match="0..9"):
        split_index(np.arange(5), digits=((0, 1), (2,), (3,)))


def test_mass_assignment_and_class_weights():
    rng = np.random.default_rng(2)
    masses = (100.0, 200.0, 500.0)
    n = 6000
    is_sig = np.arange(n) < 1500
    m_true = np.where(is_sig, np.array(masses)[np.arange(n) % 3], np.nan)
    mhyp = assign_mass_hypotheses(is_sig, m_true, masses, rng)
    assert np.array_equal(mhyp[is_sig], m_true[is_sig].astype(np.float32))
    assert set(np.unique(mhyp[~is_sig]).tolist()) == set(masses)
    counts = [np.sum(mhyp[~is_sig] == m) for m in masses]
    assert min(counts) > 0.28 * (~is_sig).sum()
    phys = rng.uniform(0.5, 2.0, size=n)
    w = class_weights(is_sig, phys, mhyp)
    for m in masses:
        at = mhyp == m
        assert w[at & is_sig].sum() == pytest.approx(w[at & ~is_sig].sum(), rel=1e-5)
    # physics weights kept within a class at one mass hypothesis
    at = np.flatnonzero((mhyp == 200.0) & ~is_sig)[:2]
    assert w[at[0]] / w[at[1]] == pytest.approx(phys[at[0]] / phys[at[1]], rel=1e-5)
    assert w.mean() == pytest.approx(1.0, rel=1e-5)
    with pytest.raises(ValueError, match="positive true HNL mass"):
        assign_mass_hypotheses(np.array([True]), np.array([np.nan]), masses, rng)


def test_flat_weights_equalise_each_mass():
    m = np.array([100.0] * 10 + [500.0] * 30)
    w = flat_weights(m)
    assert w[m == 100].sum() == pytest.approx(w[m == 500].sum())


# ------------------------------------------------------------------------------ synthetic
def _toy_targets(pt, eta, phi, mass, met_pt, met_phi):
    """Plain-loop reference targets: E_tot, m_12, dphi_12 (independent of hnl_coffea.features)."""
    n = len(met_pt)
    out = {"m_12": np.zeros(n), "dphi_12": np.zeros(n), "e_tot": np.zeros(n)}
    for k in range(n):
        p4 = []
        for i in range(3):
            px = pt[k, i] * math.cos(phi[k, i])
            py = pt[k, i] * math.sin(phi[k, i])
            pz = pt[k, i] * math.sinh(eta[k, i])
            e = math.sqrt(px * px + py * py + pz * pz + mass[k, i] ** 2)
            p4.append((px, py, pz, e))
        e, px, py, pz = (
            p4[0][3] + p4[1][3],
            p4[0][0] + p4[1][0],
            p4[0][1] + p4[1][1],
            p4[0][2] + p4[1][2],
        )
        out["m_12"][k] = math.sqrt(max(e * e - px * px - py * py - pz * pz, 0.0))
        out["dphi_12"][k] = math.remainder(phi[k, 0] - phi[k, 1], 2 * math.pi)
        out["e_tot"][k] = sum(p[3] for p in p4) + met_pt[k]
    return out


def _fake_real_raw(n: int, rng: np.random.Generator) -> np.ndarray:
    raw = np.empty((n, len(RAW_INPUTS)))
    for i, (loc, scale, mass) in enumerate([(20, 40, 1.0), (20, 25, 0.8), (10, 20, 0.105)]):
        raw[:, 4 * i] = loc + rng.exponential(scale, n)
        raw[:, 4 * i + 1] = rng.normal(0, 1.0, n).clip(-2.4, 2.4)
        raw[:, 4 * i + 2] = rng.uniform(-np.pi, np.pi, n)
        raw[:, 4 * i + 3] = mass
    raw[:, 12] = rng.exponential(50, n)
    raw[:, 13] = rng.uniform(-np.pi, np.pi, n)
    return raw


def test_fit_shifted_exponential():
    rng = np.random.default_rng(3)
    x = 20 + rng.exponential(35.0, 200_000)
    loc, scale = fit_shifted_exponential(x)
    assert loc == pytest.approx(20.0, abs=0.01)
    assert scale == pytest.approx(35.0, rel=0.01)
    with pytest.raises(ValueError, match="at least 2"):
        fit_shifted_exponential(np.array([1.0]))


def test_synthetic_input_distributions():
    rng = np.random.default_rng(4)
    real = _fake_real_raw(5000, rng)
    gen = SyntheticKinematics.from_skim(real, target_fn=_toy_targets)
    assert gen.pt_loc[0] == pytest.approx(real[:, 0].min())
    assert gen.pt_scale[0] == pytest.approx(real[:, 0].mean() - real[:, 0].min())
    x = gen.draw_inputs(100_000, rng)
    for i in range(3):
        eta, phi = x[:, 4 * i + 1], x[:, 4 * i + 2]
        assert eta.min() >= -2.5 and eta.max() <= 2.5 and eta.min() < -2.45 and eta.max() > 2.45
        assert phi.min() >= -np.pi and phi.max() <= np.pi and phi.min() < -3.1 and phi.max() > 3.1
        assert abs(eta.mean()) < 0.03 and abs(phi.mean()) < 0.04
        # exponential: mean − loc = scale, std = scale
        pt = x[:, 4 * i]
        assert pt.min() >= gen.pt_loc[i]
        assert pt.mean() - gen.pt_loc[i] == pytest.approx(gen.pt_scale[i], rel=0.02)
        assert pt.std() == pytest.approx(gen.pt_scale[i], rel=0.03)
    assert set(np.unique(x[:, 11]).tolist()) == {0.105}
    assert x[:, 12].mean() - gen.pt_loc[3] == pytest.approx(gen.pt_scale[3], rel=0.02)


def test_synthetic_targets_cut_and_normalised():
    rng = np.random.default_rng(5)
    real = _fake_real_raw(4000, rng)
    gen = SyntheticKinematics.from_skim(real, target_fn=_toy_targets)
    assert gen.target_names[-1] == "e_tot" and gen.gev_mask.tolist() == [True, False, False]
    x, y = gen.sample(300, rng)
    assert x.shape == (300, 14) and y.shape == (300, 3)
    ref = _toy_targets(
        x[:, :12].reshape(-1, 3, 4)[..., 0].astype(float),
        x[:, :12].reshape(-1, 3, 4)[..., 1].astype(float),
        x[:, :12].reshape(-1, 3, 4)[..., 2].astype(float),
        x[:, :12].reshape(-1, 3, 4)[..., 3].astype(float),
        x[:, 12].astype(float),
        x[:, 13].astype(float),
    )
    real_ref = _toy_targets(
        *[real[:, :12].reshape(-1, 3, 4)[..., j] for j in range(4)], real[:, 12], real[:, 13]
    )
    for name in ("m_12", "dphi_12", "e_tot"):
        lo, hi = np.percentile(real_ref[name], [0.03, 99.7])
        assert np.all(ref[name] >= lo - 1e-3) and np.all(ref[name] <= hi + 1e-3)
    np.testing.assert_allclose(y[:, 0], ref["m_12"] / ref["e_tot"], rtol=1e-4)
    np.testing.assert_allclose(y[:, 1], ref["dphi_12"], atol=1e-5)
    np.testing.assert_allclose(y[:, 2], ref["e_tot"], rtol=1e-5)


# ------------------------------------------------------------------------------ metrics
def test_weighted_auc_against_pair_counting():
    rng = np.random.default_rng(6)
    s = np.round(rng.normal(size=60), 1)  # ties on purpose
    y = rng.random(60) < 0.4
    w = rng.uniform(0.1, 2.0, 60)
    num = den = 0.0
    for i in range(60):
        for j in range(60):
            if y[i] and not y[j]:
                den += w[i] * w[j]
                num += w[i] * w[j] * (1.0 if s[i] > s[j] else 0.5 if s[i] == s[j] else 0.0)
    assert weighted_auc(s, y, w) == pytest.approx(num / den, rel=1e-12)
    assert math.isnan(weighted_auc(s, np.zeros(60, bool), w))


def test_residual_summary():
    true = np.full(1001, 100.0)
    pred = 100.0 + np.linspace(-10, 10, 1001) + 5.0
    r = residual_summary(pred, true)
    assert r["bias"] == pytest.approx(0.05, abs=1e-9)
    assert r["resolution"] == pytest.approx(0.068, abs=1e-3)


def test_mass_regressor_learns_and_stops_on_the_plain_validation_metric():
    from hnl_coffea.training.stages import TrainingOptions, train_mass_regressor

    rng = np.random.default_rng(5)
    masses = np.array([85.0, 200.0, 400.0, 700.0, 1000.0])
    m_true = rng.choice(masses, 4000).astype(np.float32)
    # two noisy views of the mass and a nuisance input, standardised by hand
    x = np.stack(
        [
            (m_true * rng.normal(1, 0.05, 4000) - 450) / 300,
            (np.log(m_true) + rng.normal(0, 0.05, 4000) - 5.8) / 0.8,
            rng.normal(0, 1, 4000),
        ],
        axis=1,
    ).astype(np.float32)
    weight = np.ones(4000, np.float32)
    split = np.where(np.arange(4000) % 10 < 7, 0, np.where(np.arange(4000) % 10 < 9, 1, 2))
    opts = TrainingOptions(
        regressor_hidden=(32, 32), regressor_epochs=15, regressor_lr=3e-3, progress=False
    )
    model, result = train_mass_regressor(
        x, m_true, weight, split, (85.0, 1000.0), opts, torch.device("cpu")
    )
    with torch.no_grad():
        pred = model(torch.as_tensor(x)).numpy()  # GeV: the scaling is folded into the model
    # early stopping ranks epochs by Σ|pred − m|/√m over the validation split (no boundaries)
    val = [i for i in range(4000) if split[i] == 1]
    plain = sum(abs(float(pred[i]) - float(m_true[i])) / math.sqrt(m_true[i]) for i in val)
    assert result.best_val_loss == pytest.approx(plain / len(val), rel=1e-4)
    for m in masses:
        rel = [float(pred[i]) / m - 1 for i in range(4000) if split[i] == 2 and m_true[i] == m]
        assert abs(float(np.median(rel))) < 0.1, f"median bias at {m:g} GeV"


def test_mass_regressor_is_trained_with_dropout_for_mc_dropout(tmp_path):
    """The regressor is trained with dropout by default, so that Monte-Carlo dropout on the
    regressed mass gives a per-event σ > 0 (a dropout-free regressor gave σ = 0 for every
    event); ``regressor_dropout=0`` trains one that the runner refuses for MC dropout."""
    from hnl_coffea.models import ModelRunner, save_artifact
    from hnl_coffea.training.stages import TrainingOptions, train_mass_regressor

    rng = np.random.default_rng(6)
    m_true = rng.choice([100.0, 500.0], 1000).astype(np.float32)
    x = np.stack([(m_true - 300) / 200, rng.normal(0, 1, 1000)], axis=1).astype(np.float32)
    split = np.arange(1000) % 10 // 7  # 0: train, 1: validation
    args = (x, m_true, np.ones(1000, np.float32), split, (85.0, 1000.0))
    for p in (TrainingOptions().regressor_dropout, 0.0):
        opts = TrainingOptions(regressor_hidden=(16,), regressor_epochs=2, regressor_dropout=p,
                               progress=False)  # fmt: skip
        model, _ = train_mass_regressor(*args, opts, torch.device("cpu"))
        path = tmp_path / f"reg{p}.pt"
        save_artifact(model, path, kind="mass_regression", feature_names=["a", "b"])
        runner = ModelRunner(path)
        if p == 0:
            with pytest.raises(ValueError, match="has no dropout"):
                runner.regress_mc(x[:10], n_passes=5)
            continue
        assert p > 0 and runner.sidecar.max_dropout == p
        mean, std = runner.regress_mc(x[:200], n_passes=20)
        assert np.all(std > 0)
        # dropout off (the nominal output) is the network without dropout masks
        model.eval()
        with torch.no_grad():
            plain = model(torch.as_tensor(x[:200])).numpy().ravel()
        np.testing.assert_allclose(runner.regress(x[:200]), plain, rtol=1e-5, atol=1e-3)


def test_mirrored_loss_vanishes_for_a_wrong_prediction():
    # why the regressor's early stopping does not use it: 85 GeV predicted at 600 GeV costs 0
    f = mirrored_boundary_factor(torch.tensor([600.0]), torch.tensor([85.0]), 85.0, 1000.0)
    assert float(f[0]) == 0.0
