"""Fake-signal-from-training study: Li–Ma significance, sampling, null and sculpting cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hnl_coffea.postprocessing.fakesignal import (
    fake_signal_study,
    li_ma_significance,
    sample_events,
)

FAST = {"n_train": 2000, "n_test": 10000, "epochs": 3}


def _background(rng: np.random.Generator, n: int = 3000, sculpting: bool = False) -> np.ndarray:
    mass = rng.exponential(100.0, n) + 50.0
    other = rng.normal(size=n)
    if sculpting:  # a feature that knows the mass: the classifier can carve out the window
        other = np.log(mass) + 0.05 * rng.normal(size=n)
    return np.column_stack([mass, other, rng.normal(size=n), rng.gamma(2.0, size=n)])


def test_li_ma_reference_values():
    def ref(n_on, n_off, a):  # Li & Ma (1983) eq. 17, written out
        t = n_on * math.log((1 + a) / a * n_on / (n_on + n_off))
        t += n_off * math.log((1 + a) * n_off / (n_on + n_off))
        return math.copysign(math.sqrt(2 * t), n_on - a * n_off)

    for n_on, n_off, a in [(30, 100, 0.2), (10, 100, 0.2), (500, 1000, 0.45)]:
        assert li_ma_significance(n_on, n_off, a) == pytest.approx(ref(n_on, n_off, a), rel=1e-12)
    assert li_ma_significance(20, 100, 0.2) == pytest.approx(0.0, abs=1e-12)
    assert li_ma_significance(0, 0, 0.3) == 0.0


def test_sampling_respects_weights():
    rng = np.random.default_rng(1)
    x = np.column_stack([np.arange(10.0), np.arange(10.0) ** 2])
    w = np.zeros(10)
    w[[2, 7]] = [1.0, 3.0]
    draw = sample_events(x, w, 20000, rng, "bootstrap")
    assert set(draw[:, 0]) == {2.0, 7.0}
    assert np.mean(draw[:, 0] == 7.0) == pytest.approx(0.75, abs=0.02)
    big = rng.normal(size=(4000, 2)) * [1.0, 3.0] + [5.0, -2.0]
    kde_draw = sample_events(big, None, 40000, rng, "kde")
    assert kde_draw.mean(axis=0) == pytest.approx([5.0, -2.0], abs=0.1)
    with pytest.raises(ValueError, match="sampling method 'vae' unknown"):
        sample_events(big, None, 3, rng, "vae")


def test_no_fake_signal_when_features_ignore_the_mass():
    rng = np.random.default_rng(2)
    res = fake_signal_study(_background(rng), n_experiments=10, rng=rng, **FAST)
    s = res.summary()
    assert res.z_local.shape == (10, 3)
    assert abs(s["mean"]) < 0.8
    assert 0.5 < s["std"] < 1.6
    assert s["ks_pvalue_vs_normal"] > 1e-3


def test_sculpting_feature_produces_fake_signal():
    rng = np.random.default_rng(3)
    opts = {**FAST, "n_train": 4000, "epochs": 8}
    res = fake_signal_study(_background(rng, sculpting=True), n_experiments=3, rng=rng, **opts)
    assert res.summary()["mean"] > 3.0
    assert np.all(res.z_max > 3.0)


def test_bad_inputs_are_named():
    rng = np.random.default_rng(0)
    x = _background(rng, 100)
    with pytest.raises(ValueError, match="mass_column 7"):
        fake_signal_study(x, rng=rng, mass_column=7)
    with pytest.raises(ValueError, match="weights"):
        fake_signal_study(x, np.ones(3), rng=rng)
    with pytest.raises(ValueError, match="background_features"):
        fake_signal_study(x[:, :1], rng=rng)
