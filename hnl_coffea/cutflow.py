"""Weighted and unweighted cutflows of a :class:`~hnl_coffea.channels.Selection`.

:func:`cutflow` returns nested plain dicts, ``{"all" | channel: {step: {"events", "sumw",
"sumw2"}}}``, which coffea's ``processor.accumulate`` adds key by key across chunks (and
``dict.update`` nests under a dataset name). Steps are cumulative: each row counts events
passing that step and every step before it; the first row, ``total``, counts all events
(``all``) or all events whose three leptons form the channel (per channel).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .channels import STEPS

__all__ = ["cutflow", "format_cutflow"]


def _row(mask: np.ndarray, weights: np.ndarray) -> dict[str, Any]:
    w = weights[mask]
    return {"events": int(mask.sum()), "sumw": float(w.sum()), "sumw2": float((w * w).sum())}


def cutflow(
    selection: Any, weights: Any = None, steps: tuple[str, ...] = STEPS
) -> dict[str, dict[str, dict[str, Any]]]:
    """Cumulative event counts and sums of weights per step, for all events and per channel.

    ``weights``: one weight per event (default 1).
    """
    channel = np.asarray(selection.channel)
    if weights is None:
        weights = np.ones(len(channel))
    weights = np.asarray(weights, dtype=np.float64)
    groups = {"all": channel > -2}
    for index, name in enumerate(selection.channel_names):
        groups[name] = channel == index
    cumulative = [np.asarray(selection.steps.all(*steps[: k + 1])) for k in range(len(steps))]
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for group, base in groups.items():
        rows = {"total": _row(base, weights)}
        for step, passed in zip(steps, cumulative):
            rows[step] = _row(base & passed, weights)
        out[group] = rows
    return out


def format_cutflow(flow: dict[str, dict[str, dict[str, Any]]], weighted: bool = True) -> str:
    """A plain-text table: one row per step, one column per channel (events and Σw)."""
    groups = list(flow)
    steps = list(flow[groups[0]])
    width = max(12, *(len(g) + 2 for g in groups))
    head = f"{'step':<18}" + "".join(f"{g:>{width}}" for g in groups)
    lines = [head, "-" * len(head)]
    for step in steps:
        cells = []
        for g in groups:
            row = flow[g].get(step)
            if row is None:  # e.g. data-only steps (golden JSON) exist for "all" only
                cells.append(f"{'-':>{width}}")
                continue
            n, sumw = (row["events"], row["sumw"]) if isinstance(row, dict) else tuple(row)[:2]
            value = float(sumw) if weighted else int(n)
            cells.append(f"{value:>{width}.4g}" if weighted else f"{value:>{width}d}")
        lines.append(f"{step:<18}" + "".join(cells))
    return "\n".join(lines)


def merged_cutflow(output: dict[str, Any], *, is_data: bool = False) -> dict[str, Any]:
    """The cutflow of a processor output summed over its simulated (or data) datasets."""
    from coffea.processor import accumulate

    datasets = output.get("datasets", {})
    flows = [
        f
        for ds, f in output.get("cutflow", {}).items()
        if bool(datasets.get(ds, {}).get("is_data", False)) == is_data
    ]
    return accumulate(flows) if flows else {}
