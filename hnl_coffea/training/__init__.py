"""Training of hnl-coffea's networks (the methods of the seed analyses).

- :mod:`.skim` — reading the Parquet training skim written by ``SkimProcessor``.
- :mod:`.datasets` — splits by event number, mass-hypothesis assignment, class weights.
- :mod:`.synthetic` — "infinite" synthetic kinematics for backbone pre-training.
- :mod:`.losses` — weighted BCE, MAPE/√y with mirrored boundaries, kinematic regression loss.
- :mod:`.loops` — generic training loop (early stopping, schedules, progress bars, seeds).
- :mod:`.stages` — the four training stages (parametric, backbone, transfer, mass regression).
- :mod:`.metrics`, :mod:`.report` — AUCs, significances, residuals, the quality report.
- :mod:`.pipeline` — everything above from a toy sample or fileset: ``hnl-coffea train``.
"""

from __future__ import annotations

import importlib

__all__ = ["TrainingOptions", "run_training"]

_WHERE = {"TrainingOptions": ".stages", "run_training": ".pipeline"}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
