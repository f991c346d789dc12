"""Cutflow tables from the processor output's ``cutflow`` entry, grouped by process.

Each row of ``output["cutflow"][dataset][group][step]`` counts the events passing that step
and every step before it (``group``: ``all`` or a channel), as ``events`` (unweighted),
``sumw`` (Σ of the event weights: generator weight × scale factors, before normalisation)
and ``sumw2``. :func:`cutflow_yields` groups them into backgrounds (by ``process``),
signals (by mass) and data, for one of three quantities:

* ``yield`` — expected events: ``sumw × σ·L/Σw_gen`` for simulation; data: events;
* ``events`` — unweighted events;
* ``sumw`` — Σ weights before normalisation (data: events).

:func:`cutflow_markdown` writes them as labelled tables.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["CutflowTable", "QUANTITIES", "cutflow_markdown", "cutflow_yields"]

Quantity = Literal["yield", "events", "sumw"]

#: What each quantity counts (the tables' captions).
QUANTITIES: dict[str, str] = {
    "yield": "expected events (simulation: Σ weights × σ·L / Σ genWeight; data: events)",
    "events": "unweighted events",
    "sumw": "Σ event weights (genWeight × scale factors) before normalisation; data: events",
}


@dataclass
class CutflowTable:
    """One cutflow group: steps, and per process the value after each step."""

    group: str
    quantity: str
    steps: list[str] = field(default_factory=list)
    backgrounds: dict[str, dict[str, float]] = field(default_factory=dict)
    signals: dict[float, dict[str, float]] = field(default_factory=dict)
    signal_names: dict[float, str] = field(default_factory=dict)
    data: dict[str, float] | None = None
    blinded: tuple[str, ...] = ()

    def total_background(self) -> dict[str, float]:
        """Σ over backgrounds after each step, a process's negative value (negative
        generator weights) counted as 0 — as in the templates of plots and datacards."""
        return {
            s: sum(max(p.get(s, 0.0), 0.0) for p in self.backgrounds.values()) for s in self.steps
        }


def _row_values(row: Any) -> tuple[float, float]:
    # hnl_coffea.cutflow rows: {"events", "sumw", "sumw2"} (older outputs: [n, sumw])
    if isinstance(row, Mapping):
        return float(row["events"]), float(row["sumw"])
    return float(row[0]), float(row[1])


def cutflow_yields(
    output: Mapping[str, Any],
    scales: Mapping[str, float],
    group: str = "all",
    quantity: Quantity = "yield",
    *,
    datasets: Collection[str] | None = None,
    blind_steps: Sequence[str] = (),
) -> CutflowTable:
    """The cutflow of ``group`` summed per process (only ``datasets`` when given); data
    after any of ``blind_steps`` are left out (blinded)."""
    table = CutflowTable(group=group, quantity=quantity, blinded=tuple(blind_steps))
    sim_steps: list[str] = []
    for ds, per_group in (output.get("cutflow") or {}).items():
        if datasets is not None and ds not in datasets:
            continue
        meta = output["datasets"].get(ds, {})
        rows = per_group.get(group) or {}
        if meta.get("is_data"):
            target = table.data = table.data if table.data is not None else {}
        elif meta.get("is_signal") and meta.get("m_hnl") is not None:
            m = float(meta["m_hnl"])
            target = table.signals.setdefault(m, {})
            table.signal_names.setdefault(m, str(meta.get("process") or ds))
        else:
            target = table.backgrounds.setdefault(str(meta.get("process") or ds), {})
        for step, row in rows.items():
            n, sumw = _row_values(row)
            if meta.get("is_data"):
                if step in blind_steps:
                    continue
                val = n
            else:
                val = {"yield": sumw * scales.get(ds, 1.0), "events": n, "sumw": sumw}[quantity]
                if step not in sim_steps:
                    sim_steps.append(step)
            target[step] = target.get(step, 0.0) + val
    table.steps = sim_steps or list(table.data or {})
    table.signals = dict(sorted(table.signals.items()))
    return table


def _fmt(v: float | None, quantity: str) -> str:
    if v is None:
        return "–"
    return f"{v:.0f}" if quantity == "events" else f"{v:.4g}"


def cutflow_markdown(
    tables: Sequence[CutflowTable], *, labels: Mapping[str, str], signal_masses: Sequence[float],
    backgrounds: Sequence[str], header: str = "",
) -> str:  # fmt: skip
    """Markdown tables, one per (group, quantity), each captioned with what it counts;
    the total-background and signal columns add the efficiency relative to the first step."""
    out = [header] if header else []
    for t in tables:
        out += [f"### {labels.get(t.group, t.group)}: {t.quantity} — {QUANTITIES[t.quantity]}", ""]
        bkgs = [b for b in backgrounds if b in t.backgrounds]
        sigs = [m for m in signal_masses if m in t.signals]
        cols = [*bkgs, "Total bkg. (eff.)", *(f"{t.signal_names[m]} (eff.)" for m in sigs)]
        if t.data is not None:
            cols.append("Data")
        out.append("| step | " + " | ".join(cols) + " |")
        out.append("|---|" + "---:|" * len(cols))
        total = t.total_background()
        first = t.steps[0] if t.steps else None
        for step in t.steps:
            cells = [_fmt(t.backgrounds[b].get(step), t.quantity) for b in bkgs]
            for series in (total, *(t.signals[m] for m in sigs)):
                v, v0 = series.get(step), series.get(first)
                eff = f" ({v / v0:.3g})" if v is not None and v0 else ""
                cells.append(_fmt(v, t.quantity) + eff)
            if t.data is not None:
                blind = "blinded" if step in t.blinded else "–"
                cells.append(_fmt(t.data[step], "events") if step in t.data else blind)
            out.append(f"| {step} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)
