"""The whole hnl-coffea benchmark table (same as ``hnl-coffea bench``).

    python benchmarks/run_all.py --events 1000000 --outdir bench-output
    python benchmarks/run_all.py --quick

Writes ``OUTDIR/bench.json`` and ``OUTDIR/bench.md``; see :mod:`hnl_coffea.bench`.
"""

from __future__ import annotations

from hnl_coffea.cli.bench import bench

if __name__ == "__main__":
    bench()
