"""The plain reference processor of the benchmark, runnable on its own.

    python benchmarks/plain_processor.py fileset.json

The class lives in :mod:`hnl_coffea.bench.plain` so that ``hnl-coffea bench`` can import it
from an installed package.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from hnl_coffea.bench.plain import PlainProcessor
from hnl_coffea.runner import RunOptions, run_fileset

__all__ = ["PlainProcessor"]

if __name__ == "__main__":
    fileset = json.loads(Path(sys.argv[1]).read_text())
    t0 = time.perf_counter()
    out, summary = run_fileset(PlainProcessor(), fileset, RunOptions())
    print(f"selected {out['selected']} in {time.perf_counter() - t0:.1f} s")
