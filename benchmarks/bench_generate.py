"""Throughput of the toy NanoAOD generator (events written per second on one core).

    python benchmarks/bench_generate.py --events 500000 --compression zstd

Reports, per sample, the events/s of simulation + writing (the per-file uproot tree
set-up is timed separately) and the bytes per event on disk, plus the peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from hnl_coffea import load_config
from hnl_coffea.toymc import generate_fileset, generate_sample


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=300_000, help="events per sample")
    ap.add_argument("--samples", nargs="+", default=["WZTo3LNu", "TTTo2L2Nu", "HNL_M300"])
    ap.add_argument("--compression", default="zstd")
    ap.add_argument("--level", type=int, default=None)
    ap.add_argument("--layout", default="modern")
    ap.add_argument("--mixed", type=int, default=0, help="also time a mixed fileset of N events")
    args = ap.parse_args()
    cfg = load_config()
    with tempfile.TemporaryDirectory() as tmp:
        # the fixed cost of declaring ~200 branches, measured on a tiny file
        t0 = time.perf_counter()
        generate_sample("WZTo3LNu", 10, Path(tmp) / "setup.root", cfg=cfg)
        setup = time.perf_counter() - t0
        print(f"per-file set-up (10 events): {setup:.2f} s")
        for name in args.samples:
            path = Path(tmp) / f"{name}.root"
            t0 = time.perf_counter()
            generate_sample(
                name,
                args.events,
                path,
                cfg=cfg,
                layout=args.layout,
                compression=args.compression,
                compression_level=args.level,
            )
            dt = time.perf_counter() - t0
            size = path.stat().st_size / args.events
            print(
                f"{name:<12} {args.events / dt:>9.0f} ev/s total, "
                f"{args.events / max(dt - setup, 1e-9):>9.0f} ev/s without set-up, {size:.0f} B/ev"
            )
        if args.mixed:
            t0 = time.perf_counter()
            generate_fileset(Path(tmp) / "mixed", args.mixed, cfg=cfg, compression=args.compression)
            dt = time.perf_counter() - t0
            print(f"mixed fileset: {args.mixed} events in {dt:.1f} s ({args.mixed / dt:.0f} ev/s)")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
