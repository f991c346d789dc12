"""Which discriminant the model comparison found best: read from the ``comparison.json``
that ``hnl-coffea train`` writes next to the model artifacts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..paths import data_path

__all__ = ["FALLBACK_ORDER", "discriminant_ranking", "preferred_discriminant"]

#: Order used when no comparison is available.
FALLBACK_ORDER = ("score_transfer", "score_parametric", "mt_total")


def discriminant_ranking(models_config: Any, mass: float | None = None) -> list[str]:
    """Histogram names, best first: the comparison's best (at ``mass`` when given, else
    overall), then the others by their channel-combined Z summed in quadrature over the mass
    hypotheses. Without a comparison file (``models.comparison`` null or absent), the
    fallback order transfer, parametric, MT_total."""
    rel = getattr(models_config, "comparison", None)
    path = Path(data_path(rel)) if rel else None
    if path is None or not path.is_file():
        return list(FALLBACK_ORDER)
    try:
        summary = json.loads(path.read_text())
        best = summary["best"]
        z = summary["z_combined_and_error"]
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(f"model comparison {path} cannot be read: {err}") from None
    names = {"mt_total": "mt_total", "parametric": "score_parametric",
             "transfer": "score_transfer"}  # fmt: skip
    total = {names.get(n, n): sum(v[0] ** 2 for v in t.values()) for n, t in z.items()}
    order = sorted(total, key=total.get, reverse=True)
    first = best["overall"] if mass is None else best["by_mass"].get(f"{mass:g}", best["overall"])
    return [first, *(n for n in order if n != first)]


def preferred_discriminant(available: Sequence[str], wanted: str, models_config: Any) -> str:
    """``wanted`` if it is among ``available``, else the first available one of
    :func:`discriminant_ranking` (else the first available)."""
    if wanted in available:
        return wanted
    ranking = discriminant_ranking(models_config)
    return next((d for d in ranking if d in available), available[0])
