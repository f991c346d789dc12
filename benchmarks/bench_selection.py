"""Time split of the event selection on one core: read / select / features.

Generates a toy NanoAOD file (``hnl_coffea.toymc``; not timed), opens it as virtual
NanoEvents and times

- ``read``: the branch reads triggered by the selection (cold pass minus warm pass),
- ``select``: objects, channels, regions (warm pass: branches already in memory),
- ``features``: :func:`hnl_coffea.features.compute_features` on the selected events.

Usage::

    python benchmarks/bench_selection.py --events 1000000 --layout modern
    python benchmarks/bench_selection.py --file my_nanoaod.root
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path


def _open(path: Path):
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

    return NanoEventsFactory.from_root(
        {str(path): "Events"}, schemaclass=NanoAODSchema, mode="virtual"
    ).events()


def run(path: Path) -> dict[str, float]:
    import awkward as ak

    from hnl_coffea import load_config
    from hnl_coffea.channels import select
    from hnl_coffea.features import compute_features

    cfg = load_config()
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    events = _open(path)
    t0 = time.perf_counter()
    sel = select(events, cfg)
    ak.sum(sel.selected)  # materialise
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    sel = select(events, cfg)
    ak.sum(sel.selected)
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    feats = compute_features(sel)
    ak.materialize(feats) if hasattr(ak, "materialize") else ak.to_packed(feats)
    feat = time.perf_counter() - t0
    return {
        "events": float(len(events)),
        "selected": float(len(feats)),
        "read": max(cold - warm, 0.0),
        "select": warm,
        "features": feat,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--layout", choices=("modern", "legacy"), default="modern")
    parser.add_argument("--file", type=Path, help="an existing NanoAOD file instead of a toy")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sample", default="WZTo3LNu", help="toy sample name (hnl_coffea.toymc)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = args.file
        if path is None:
            from hnl_coffea.toymc import generate_sample

            path = Path(tmp) / "toy.root"
            t0 = time.perf_counter()
            generate_sample(args.sample, args.events, path, seed=args.seed, layout=args.layout)
            print(f"generated {args.events} toy events in {time.perf_counter() - t0:.1f} s")
        r = run(path)
    total = r["read"] + r["select"] + r["features"]
    print(f"{int(r['events'])} events, {int(r['selected'])} selected")
    print(f"{'step':<10}{'seconds':>10}{'share':>8}{'kHz':>10}")
    for step in ("read", "select", "features"):
        rate = r["events"] / r[step] / 1e3 if r[step] > 0 else float("inf")
        print(f"{step:<10}{r[step]:>10.3f}{r[step] / total:>8.0%}{rate:>10.1f}")
    print(f"{'total':<10}{total:>10.3f}{'':>8}{r['events'] / total / 1e3:>10.1f}")


if __name__ == "__main__":
    main()
