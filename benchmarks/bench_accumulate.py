"""Time the accumulation of chunk outputs against the processing of the same chunks.

A toy fileset (all toy samples, ``--events`` in total) is processed chunk by chunk with
``HNLProcessor`` (default configuration: models and every systematic); the chunk outputs are
then accumulated with ``coffea.processor.accumulate`` twice on the same outputs — as the
processor returns them (:class:`hnl_coffea.accumulate.HistogramSet`: one part per dataset,
category axes matched by label, joined once) and as plain dicts of ``hist.Hist`` (each
addition through boost-histogram's own ``+=``). Prints both times, their ratio and each as a
fraction of the processing time, and checks that the two totals agree.

Usage::

    python benchmarks/bench_accumulate.py --events 24000 --chunk 2000
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=24_000)
    ap.add_argument("--chunk", type=int, default=2_000)
    ap.add_argument("--outdir", default=None, help="toy fileset folder (default: a temporary one)")
    args = ap.parse_args()

    import numpy as np
    import uproot
    from coffea import processor
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

    from hnl_coffea.processors import HNLProcessor
    from hnl_coffea.toymc import generate_fileset

    folder = Path(args.outdir or tempfile.mkdtemp(prefix="hnl-bench-acc-"))
    path = folder / "fileset.json"
    if not path.exists():
        generate_fileset(folder, args.events, seed=3)
    fileset = json.loads(path.read_text())
    proc = HNLProcessor()
    outputs, t_process = [], 0.0
    for ds, spec in fileset.items():
        for f in spec["files"]:
            n = uproot.open(f)["Events"].num_entries
            for start in range(0, n, args.chunk):
                md = {"dataset": ds, "filename": f, **spec.get("metadata", {})}
                events = NanoEventsFactory.from_root(
                    {f: "Events"}, schemaclass=NanoAODSchema, entry_start=start,
                    entry_stop=min(n, start + args.chunk), metadata=md, mode="eager",
                ).events()  # fmt: skip
                t = time.perf_counter()
                outputs.append(proc.process(events))
                t_process += time.perf_counter() - t
    plain = [{**o, "hists": dict(o["hists"])} for o in copy.deepcopy(outputs)]
    t = time.perf_counter()
    new = processor.accumulate(outputs)
    merged = {name: new["hists"][name] for name in new["hists"]}  # joined once, here
    t_new = time.perf_counter() - t
    t = time.perf_counter()
    old = processor.accumulate(plain)
    t_old = time.perf_counter() - t
    for name, h in merged.items():
        a, b = h.sum(flow=True).value, old["hists"][name].sum(flow=True).value
        if not np.isclose(a, b, rtol=1e-9, atol=1e-12):
            raise SystemExit(f"{name}: totals differ ({a} vs {b})")
    print(f"{len(outputs)} chunks of {len(fileset)} datasets, processing {t_process:.1f} s")
    print(f"accumulate, label-matched per-dataset parts: {t_new:.2f} s "
          f"({t_new / t_process:.1%} of processing)")  # fmt: skip
    print(f"accumulate, boost-histogram +=:             {t_old:.2f} s "
          f"({t_old / t_process:.1%} of processing)")  # fmt: skip
    print(f"ratio: {t_old / t_new:.1f}x faster; totals agree")


if __name__ == "__main__":
    main()
