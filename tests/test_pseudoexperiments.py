"""Pseudo-experiments: local significance, toys with nuisances, look-elsewhere effect.

References are independent: scipy's Poisson/normal distributions, closed-form moments of the
log-normal and of the linear interpolation, numerical integration, and per-bin Python loops.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from hnl_coffea.postprocessing import pseudoexperiments as pe


def _flat_scan(n_channels=2, n_masses=8, n_bins=5, b=40.0) -> pe.Templates:
    """Flat background; the signal of mass m sits in its own score histogram, peaked high."""
    chans = [f"ch{i}" for i in range(n_channels)]
    nb = n_channels * n_masses * n_bins
    bin_ch = np.repeat(chans, n_masses * n_bins)
    bin_m = np.tile(np.repeat(np.arange(n_masses), n_bins), n_channels)
    sig = np.zeros((n_masses, nb))
    shape = np.linspace(0.2, 3.0, n_bins)
    for m in range(n_masses):
        sig[m, bin_m == m] = np.tile(shape, n_channels)
        sig[m, np.abs(bin_m - m) == 1] = (
            0.2 * np.tile(shape, 2 * n_channels)[: np.sum(np.abs(bin_m - m) == 1)]
        )
    return pe.Templates(
        background=np.full(nb, b),
        signal=sig,
        masses=100.0 + 50.0 * np.arange(n_masses),
        bin_channel=bin_ch,
        bin_mass=bin_m,
    )


def _q0_loop(n: list[float], b: list[float], s: list[float]) -> float:
    """Reference q0: maximise the Poisson log-likelihood in μ ≥ 0 by bisection on the score."""

    def score(mu):
        return sum(ni * si / (bi + mu * si) for ni, bi, si in zip(n, b, s)) - sum(s)

    if score(0.0) <= 0:
        return 0.0
    lo, hi = 0.0, 1.0
    while score(hi) > 0:
        hi *= 2
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if score(mid) > 0 else (lo, mid)
    mu = 0.5 * (lo + hi)
    return 2 * sum(ni * math.log(1 + mu * si / bi) - mu * si for ni, bi, si in zip(n, b, s))


def test_single_bin_q0_matches_closed_form():
    t = pe.Templates(
        background=[3.0], signal=[[1.0]], masses=[100], bin_channel=["c"], bin_mass=[0]
    )
    counts = np.array([[0.0], [2.0], [3.0], [8.0], [30.0]])
    z, mu = pe.local_significance(counts, t)
    for n, zi, mui in zip(counts[:, 0], z[:, 0], mu[:, 0]):
        expected = math.sqrt(2 * (n * math.log(n / 3.0) - (n - 3.0))) if n > 3 else 0.0
        assert zi == pytest.approx(expected, rel=1e-9, abs=1e-12)
        assert mui == pytest.approx(max(n - 3.0, 0.0), rel=1e-9, abs=1e-12)


def test_single_bin_toy_pvalue_reproduces_poisson():
    """P(Z ≥ Z(n_obs)) over background-only toys equals the exact Poisson tail P(N ≥ n_obs)."""
    b = 4.0
    t = pe.Templates(background=[b], signal=[[1.0]], masses=[100], bin_channel=["c"], bin_mass=[0])
    toys = pe.run_toys(t, 200_000, seed=3, nuisances=False)
    for n_obs in (6, 9, 12):
        z_obs = pe.local_significance(np.array([[float(n_obs)]]), t)[0][0, 0]
        p_toys = pe.global_pvalue(z_obs, toys.max_z)
        p_exact = stats.poisson.sf(n_obs - 1, b)
        assert p_toys == pytest.approx(p_exact, rel=5 * math.sqrt((1 - p_exact) / (p_exact * 2e5)))
    # and asymptotically (large b) the local p-value 1 - Φ(Z) approaches the Poisson tail
    b_big, n_big = 400.0, 460
    t_big = pe.Templates([b_big], [[1.0]], [100], ["c"], [0])
    z_big = pe.local_significance(np.array([[float(n_big)]]), t_big)[0][0, 0]
    assert pe.local_pvalue(z_big) == pytest.approx(stats.poisson.sf(n_big - 1, b_big), rel=0.15)


def test_multibin_combination_matches_python_loop():
    rng = np.random.default_rng(7)
    t = _flat_scan(n_channels=3, n_masses=3, n_bins=4, b=10.0)
    counts = pe.throw_toys(t, 5, rng, nuisances=False, injected=(2.0, 150.0))
    z, _ = pe.local_significance(counts, t)
    for p, (combo, mass) in enumerate(t.point_labels):
        m = int(np.flatnonzero(t.masses == mass)[0])
        sel = [
            i
            for i in range(t.n_bins)
            if t.bin_channel[i] in combo.split("+") and t.bin_mass[i] == m and t.signal[m, i] > 0
        ]
        for k in range(counts.shape[0]):
            q0 = _q0_loop(
                [counts[k, i] for i in sel],
                [t.background[i] for i in sel],
                [t.signal[m, i] for i in sel],
            )
            assert z[k, p] == pytest.approx(math.sqrt(q0), rel=1e-7, abs=1e-9)
    # every channel alone plus all together, at each mass
    assert len(t.point_labels) == 4 * 3


def test_global_pvalue_uniform_for_flat_background():
    t = _flat_scan()
    reference = pe.run_toys(t, 5000, seed=11, nuisances=False)
    tested = pe.run_toys(t, 3000, seed=12, nuisances=False)
    p_glob = pe.global_pvalue(tested.max_z, reference.max_z)
    assert stats.kstest(p_glob, "uniform").pvalue > 0.01
    # the naive local p-value of the maximum is far from uniform: the look-elsewhere effect
    assert stats.kstest(pe.local_pvalue(tested.max_z), "uniform").pvalue < 1e-6
    assert pe.trials_factor(3.0, reference.max_z) > 3.0


def test_injected_signal_recovered_at_right_mass():
    t = _flat_scan()
    bkg_only = pe.run_toys(t, 2000, seed=5, nuisances=False)
    for mhyp in (150.0, 400.0):
        inj = pe.inject_and_recover(t, 8.0, mhyp, bkg_only, n_toys=100, seed=6, nuisances=False)
        summary = inj.summary()
        assert summary["fraction_at_injected_mhyp"] > 0.95
        assert summary["most_common_best_mhyp"] == mhyp
        assert summary["median_best_mu"] == pytest.approx(8.0, rel=0.2)
        assert summary["median_z_local"] > 5.0
        assert summary["median_p_global"] < 1e-3


def test_lognormal_nuisance_variance():
    b, kappa = 100.0, 1.2
    t = pe.Templates(
        [b],
        [[1.0]],
        [100],
        ["c"],
        [0],
        lnn_names=("lumi",),
        lnn_up=[[kappa]],
        lnn_down=[[1 / kappa]],
    )
    n = pe.throw_toys(t, 400_000, np.random.default_rng(2))[:, 0]
    s2 = math.log(kappa) ** 2
    mean = b * math.exp(s2 / 2)
    var = mean + b * b * (math.exp(s2) - 1) * math.exp(s2)
    assert n.mean() == pytest.approx(mean, rel=2e-3)
    assert n.var() == pytest.approx(var, rel=0.02)


def test_shape_nuisance_variance_and_asymmetric_mean():
    b, up, down = 50.0, 58.0, 46.0
    t = pe.Templates(
        [b], [[1.0]], [100], ["c"], [0], shape_names=("tes",), shape_up=[[up]], shape_down=[[down]]
    )
    lam = pe.expected_background(t, 400_000, np.random.default_rng(4))[:, 0]

    def delta(x):  # combine's vertical interpolation, written out for one bin
        if abs(x) >= 1:
            return (up - b) * x if x > 0 else (b - down) * x
        smooth = x * (3 * x**4 - 10 * x**2 + 15) / 8
        return 0.5 * x * ((up - down) + smooth * (up + down - 2 * b))

    m1 = integrate.quad(lambda x: delta(x) * stats.norm.pdf(x), -10, 10)[0]
    m2 = integrate.quad(lambda x: delta(x) ** 2 * stats.norm.pdf(x), -10, 10)[0]
    assert lam.mean() - b == pytest.approx(m1, abs=0.03)
    assert lam.var() == pytest.approx(m2 - m1 * m1, rel=0.02)
    # symmetric variation: Var(n) = b + δ² exactly
    ts = pe.Templates([b], [[1.0]], [100], ["c"], [0], ("x",), [[b + 5]], [[b - 5]])
    n = pe.throw_toys(ts, 400_000, np.random.default_rng(5))[:, 0]
    assert n.var() == pytest.approx(b + 25.0, rel=0.02)


def test_nuisances_shared_between_points_of_one_channel():
    """A nuisance acting on one channel moves all its bins together, and no other channel's."""
    t = _flat_scan(n_channels=2, n_masses=2, n_bins=2, b=1e6)
    nb = t.n_bins
    up = t.background * np.where(t.bin_channel == "ch0", 1.1, 1.0)
    t = pe.Templates(
        t.background,
        t.signal,
        t.masses,
        t.bin_channel,
        t.bin_mass,
        ("eff",),
        [up],
        [2 * t.background - up],
    )
    lam = pe.expected_background(t, 2000, np.random.default_rng(0))
    ch0 = lam[:, t.bin_channel == "ch0"]
    assert np.allclose(np.corrcoef(ch0.T), 1.0)
    assert ch0.std(axis=0) == pytest.approx(np.full(ch0.shape[1], 1e5), rel=0.1)
    assert np.allclose(lam[:, t.bin_channel == "ch1"], 1e6)
    assert nb == 8


def test_blocks_reproducible_and_chunking_invariant():
    t = _flat_scan(n_masses=3)
    a = pe.run_toys(t, 700, seed=9, block_size=300)
    b = pe.run_toys(t, 700, seed=9, block_size=300, chunk=37)
    assert np.array_equal(a.max_z, b.max_z) and a.max_z.size == 700


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"background": [0.0, 1.0]}, "background"),
        ({"signal": [[1.0]]}, "signal must have shape"),
        ({"bin_mass": [0, 3]}, "bin_mass"),
    ],
)
def test_bad_templates_raise(kwargs, match):
    base = {
        "background": [1.0, 2.0],
        "signal": [[1.0, 1.0]],
        "masses": [100.0],
        "bin_channel": ["a", "a"],
        "bin_mass": [0, 0],
    }
    with pytest.raises(ValueError, match=match):
        pe.Templates(**{**base, **kwargs})


def test_unknown_injection_mass_is_named():
    t = _flat_scan(n_masses=2)
    with pytest.raises(ValueError, match="m_hyp 999"):
        pe.throw_toys(t, 2, np.random.default_rng(0), injected=(1.0, 999.0))
