"""Adaptive binning and rebinning against hand-computed edges and yields."""

from __future__ import annotations

import math
import warnings

import hist
import numpy as np
import pytest

from hnl_coffea.postprocessing.binning import (
    BinningWarning,
    constant_signal_edges,
    increasing_signal_edges,
    rebin,
)

EDGES8 = np.arange(9.0)  # eight unit-width fine bins [0, 8]


def _rel(values, variances):
    return math.sqrt(sum(variances)) / sum(values)


def test_constant_signal_hand_computed():
    # Signal 1 per fine bin; background 100 per bin with variance 100 → rel unc 1/sqrt(B).
    # One fine bin: 0.1 < 0.15 passes everywhere, except bin 7 with variance 400 (rel 0.2).
    sig = [1.0] * 8
    bkg = [100.0] * 8
    bvar = [100.0] * 7 + [400.0]
    # n = 8 fails (bin 7). n = 7: targets k*8/7 → smallest j with S_j >= 8k/7 → j = 2,3,4,5,6,7
    # edges 0,2,...,7,8 → last bin [7,8] still alone and fails. n = 6: targets 4/3·k →
    # j = 2,3,4,6,7 → last bin [7,8] fails. n = 5: 1.6k → j = 2,4,5,7 → last [7,8] fails.
    # n = 4: 2k → j = 2,4,6 → bins of two: last [6,8] rel = sqrt(500)/200 = 0.112 passes.
    edges = constant_signal_edges(sig, sig, bkg, bvar, EDGES8)
    assert edges.tolist() == [0.0, 2.0, 4.0, 6.0, 8.0]


def test_constant_signal_uneven_signal():
    # Signal concentrated to the right: 0,0,0,0,1,1,2,4 (total 8); background passes anywhere.
    sig = [0, 0, 0, 0, 1, 1, 2, 4.0]
    bkg = [1e4] * 8
    edges = constant_signal_edges(sig, sig, bkg, bkg, EDGES8)
    # n = 8: targets 1..7 → S_j = 0,0,0,0,1,2,4,8 → j = 5,6,7,7,7,8,8 → unique edges
    # 0,5,6,7,8 → bins [0,5] (S=1), [5,6] (1), [6,7] (2), [7,8] (4): all pass.
    assert edges.tolist() == [0.0, 5.0, 6.0, 7.0, 8.0]


def test_increasing_signal_hand_computed():
    # Background 25 per fine bin with variance 25 (one fine bin: rel 0.2 fails, two: 0.141
    # passes). Signal 1 per bin.
    sig = [1.0] * 8
    bkg = [25.0] * 8
    # Right to left: [6,8] passes with S=2; next bin needs S>2 → [3,6] (S=3, rel 0.115);
    # next needs S>3 → [0,3] would have S=3 only → leftover [0,3] passes alone → kept.
    edges = increasing_signal_edges(sig, sig, bkg, bkg, EDGES8)
    assert edges.tolist() == [0.0, 3.0, 6.0, 8.0]


def test_increasing_signal_leftover_merged_when_failing():
    # Ten fine bins; left-over fine bin 0 has no background → cannot stand alone → merged.
    edges10 = np.arange(11.0)
    sig = [1.0] * 10
    bkg = [0.0] + [25.0] * 9
    # [8,10] S=2; [5,8] S=3; [1,5] S=4; leftover [0,1] has B=0 → merged → [0,5].
    edges = increasing_signal_edges(sig, sig, bkg, bkg, edges10)
    assert edges.tolist() == [0.0, 5.0, 8.0, 10.0]


def test_require_signal_changes_edges():
    sig = [1.0] * 8
    bkg = [1e6] * 8
    # Signal rel unc with variance 1 per bin: needs S > 44.4 → never for 8 → single bin warns.
    with pytest.warns(BinningWarning):
        edges = increasing_signal_edges(sig, sig, bkg, bkg, EDGES8, require_signal=True)
    assert edges.tolist() == [0.0, 8.0]
    # Without it every fine bin passes: [7,8] S=1; [5,7] S=2; [2,5] S=3; leftover [0,2]
    # (S=2, not more than 3) passes the statistics on its own and is kept.
    edges = increasing_signal_edges(sig, sig, bkg, bkg, EDGES8)
    assert edges.tolist() == [0.0, 2.0, 5.0, 7.0, 8.0]


def test_no_positive_background_gives_single_bin_with_warning():
    with pytest.warns(BinningWarning):
        edges = constant_signal_edges([1.0] * 8, [1.0] * 8, [0.0] * 8, [0.0] * 8, EDGES8)
    assert edges.tolist() == [0.0, 8.0]


def test_bad_input_is_reported():
    with pytest.raises(ValueError, match="one per fine bin"):
        constant_signal_edges([1.0], [1.0], [1.0, 2.0], [1.0, 2.0], [0, 1, 2])


@pytest.mark.parametrize("scheme", [constant_signal_edges, increasing_signal_edges])
@pytest.mark.parametrize("seed", range(12))
def test_every_bin_passes_on_random_histograms(scheme, seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 60))
    fine = np.sort(rng.choice(np.linspace(0, 1, 200), n + 1, replace=False))
    # weighted background: Poisson counts with per-bin weights; some empty bins
    counts = rng.poisson(rng.uniform(0, 40), n)
    w = rng.uniform(0.2, 3.0, n)
    bkg, bvar = counts * w, counts * w**2
    sig = rng.exponential(1.0, n) * (rng.random(n) < 0.8)
    thr = float(rng.uniform(0.08, 0.4))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        edges = scheme(sig, sig * 0.1, bkg, bvar, fine, max_rel_unc=thr)
    assert set(edges.tolist()) <= set(fine.tolist())
    assert edges[0] == fine[0] and edges[-1] == fine[-1]
    idx = [int(np.flatnonzero(fine == e)[0]) for e in edges]
    one_bin_ok = bkg.sum() > 0 and _rel(bkg, bvar) < thr
    if len(edges) == 2 and not one_bin_ok:
        assert any(issubclass(c.category, BinningWarning) for c in caught)
        return
    for lo, hi in zip(idx[:-1], idx[1:]):
        b = float(sum(bkg[lo:hi]))
        assert b > 0
        assert math.sqrt(sum(bvar[lo:hi])) / b < thr
    if scheme is increasing_signal_edges:  # growing signal right to left (leftmost waived)
        s = [float(sum(sig[lo:hi])) for lo, hi in zip(idx[:-1], idx[1:])]
        for i in range(1, len(s) - 1):
            assert s[i] > s[i + 1]


def _filled_hist():
    h = hist.Hist(
        hist.axis.StrCategory(["nominal", "tesUp"], name="systematic"),
        hist.axis.Regular(6, 0.0, 6.0, name="x"),
        storage=hist.storage.Weight(),
    )
    # hand-chosen entries: (systematic, x, weight)
    entries = [
        ("nominal", -1.0, 2.0), ("nominal", 0.5, 1.0), ("nominal", 1.5, 3.0),
        ("nominal", 2.5, 0.5), ("nominal", 4.5, 2.0), ("nominal", 5.5, 4.0),
        ("nominal", 7.0, 1.5), ("tesUp", 1.2, 2.0), ("tesUp", 3.3, 5.0),
    ]  # fmt: skip
    for syst, x, w in entries:
        h.fill(systematic=syst, x=x, weight=w)
    return h, entries


def test_rebin_sums_values_and_variances_per_variation():
    h, entries = _filled_hist()
    r = rebin(h, [0.0, 2.0, 5.0, 6.0])
    assert r.axes["x"].edges.tolist() == [0.0, 2.0, 5.0, 6.0]
    for syst in ("nominal", "tesUp"):
        bins = [(0, 2), (2, 5), (5, 6)]
        exp_v = [sum(w for s, x, w in entries if s == syst and lo <= x < hi) for lo, hi in bins]
        exp_var = [
            sum(w * w for s, x, w in entries if s == syst and lo <= x < hi) for lo, hi in bins
        ]
        got = r[{"systematic": syst}]
        assert got.values().tolist() == pytest.approx(exp_v)
        assert got.variances().tolist() == pytest.approx(exp_var)
    nom = r[{"systematic": "nominal"}]
    assert nom.values(flow=True)[0] == 2.0 and nom.values(flow=True)[-1] == 1.5


def test_rebin_subrange_moves_content_to_flow_and_rejects_foreign_edges():
    h, _ = _filled_hist()
    r = rebin(h, [1.0, 5.0])[{"systematic": "nominal"}]
    # underflow: -1 (2.0) + [0,1) (1.0); in range [1,5): 3.0 + 0.5 + 2.0; overflow 4.0 + 1.5
    assert r.values(flow=True).tolist() == pytest.approx([3.0, 5.5, 5.5])
    with pytest.raises(ValueError, match="not an edge"):
        rebin(h, [0.0, 2.5, 6.0])
