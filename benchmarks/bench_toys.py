"""Time the look-elsewhere pseudo-experiments on a realistic-size scan, on one core.

The scan: 5 channels × 16 mass hypotheses, each score histogram rebinned to ``--bins`` bins
(5·16·10 = 800 global bins), scanned at every channel alone and all channels together
(6 combinations × 16 masses = 96 points), with ``--shape`` shape nuisances and one
log-normal nuisance, all acting on every bin (11 profiled nuisances per point). Reports
toys per second for background-only toys: Poisson only, nuisances thrown but the fit at
fixed background (``profile=False``), and nuisances thrown and profiled in both fits (the
default), with the fraction of fits that needed the scalar fallback; then the fits alone.

Usage::

    python benchmarks/bench_toys.py --ntoys 10000
    python benchmarks/bench_toys.py --ntoys 2000 --all-combinations   # 31 combinations
"""

from __future__ import annotations

import argparse
import itertools
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core: no BLAS threads in the matmuls

import numpy as np  # noqa: E402

from hnl_coffea.postprocessing import pseudoexperiments as pe  # noqa: E402

CHANNELS = ("tautaumu", "tautaue", "taumumu", "taumue", "tauee")
MASSES = (85, 100, 125, 150, 200, 250, 300, 350, 400, 450, 500, 600, 700, 800, 900, 1000)


def realistic_templates(n_bins: int, n_shape: int, all_combinations: bool) -> pe.Templates:
    """Falling background, signal peaked at high score of its own m_hyp, leaking to neighbours."""
    rng = np.random.default_rng(0)
    nc, nm = len(CHANNELS), len(MASSES)
    nb = nc * nm * n_bins
    bin_ch = np.repeat(CHANNELS, nm * n_bins)
    bin_m = np.tile(np.repeat(np.arange(nm), n_bins), nc)
    pos = np.tile(np.arange(n_bins), nc * nm)
    bkg = 200.0 * np.exp(-0.5 * pos) * rng.uniform(0.5, 2.0, nb) + 0.5
    sig = np.zeros((nm, nb))
    for m in range(nm):
        sig[m] = 0.05 * np.exp(0.4 * pos) * np.exp(-np.abs(bin_m - m))
    up = bkg * (1 + 0.05 * rng.uniform(0.5, 1.5, (n_shape, nb)))
    down = bkg * (1 - 0.05 * rng.uniform(0.5, 1.5, (n_shape, nb)))
    combos = None
    if all_combinations:
        combos = [c for r in range(1, nc + 1) for c in itertools.combinations(CHANNELS, r)]
    return pe.Templates(
        bkg, sig, np.array(MASSES, float), bin_ch, bin_m,
        shape_names=tuple(f"s{i}" for i in range(n_shape)), shape_up=up, shape_down=down,
        lnn_names=("lumi",), lnn_up=np.full((1, nb), 1.025), lnn_down=np.full((1, nb), 1 / 1.025),
        combinations=combos,
    )  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ntoys", type=int, default=10_000)
    ap.add_argument("--bins", type=int, default=10)
    ap.add_argument("--shape", type=int, default=10)
    ap.add_argument("--all-combinations", action="store_true")
    args = ap.parse_args()
    t = realistic_templates(args.bins, args.shape, args.all_combinations)
    print(f"{t.n_bins} bins, {len(t.point_labels)} scan points, {args.shape} shape nuisances")
    for nuis, prof in ((False, False), (True, False), (True, True)):
        t0 = time.perf_counter()
        res = pe.run_toys(t, args.ntoys, seed=1, nuisances=nuis, profile=prof)
        dt = time.perf_counter() - t0
        fits = res.fit_summary()
        q50, q95 = np.quantile(res.max_z, [0.5, 0.95])
        print(
            f"thrown={nuis!s:5} profiled={prof!s:5}: {args.ntoys} toys in {dt:7.2f} s "
            f"({args.ntoys / dt:7.1f} toys/s), max Z median {q50:.2f} 95% {q95:.2f}, "
            f"fallback {100 * fits['fraction_rescued']:.3f}%, failed {fits['n_failed']}"
        )
    counts = pe.throw_toys(t, 200, np.random.default_rng(2))
    for prof in (False, True):
        t0 = time.perf_counter()
        pe.local_significance(counts, t, profile=prof)
        dt = time.perf_counter() - t0
        print(
            f"fits alone, profiled={prof!s:5}: 200 toys × {len(t.point_labels)} points in {dt:.2f} s"
        )


if __name__ == "__main__":
    main()
