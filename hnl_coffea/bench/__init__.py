"""Throughput and memory benchmarks of hnl-coffea (``hnl-coffea bench``).

One run generates toy NanoAOD filesets (modern layout, ZSTD and LZMA) and measures, on the
same files so that ratios hold on a noisy machine:

1. the read limit: uproot reading exactly the branches the processor reads (from the
   NanoEvents access log), decompressed into arrays, no computation;
2. :class:`~hnl_coffea.bench.plain.PlainProcessor`, a tutorial-style coffea processor;
3. ``HNLProcessor`` without models, with the parametric classifier (all mass hypotheses),
   with the transfer model; nominal only and with every systematic variation;
4. scaling from one to two Dask LocalCluster workers, and a cost model;
5. peak resident memory of one worker at several chunk sizes.

Results: ``bench.json`` and ``bench.md`` in the output folder (:func:`run_benchmarks`).
"""

from .plain import PlainProcessor
from .suite import BenchOptions, run_benchmarks

__all__ = ["BenchOptions", "PlainProcessor", "run_benchmarks"]
