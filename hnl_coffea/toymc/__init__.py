"""Toy NanoAOD generator: HNL signal and the main backgrounds in real NanoAOD layout.

Columnar (numpy) event generation with ``vector`` kinematics, a toy CMS detector and
chunked uproot writing; see :mod:`hnl_coffea.toymc.samples` for the processes, cross
sections and the default event split.

>>> from hnl_coffea.toymc import generate_fileset
>>> generate_fileset("toy", 200_000, seed=1, layout="modern")  # doctest: +SKIP
"""

from __future__ import annotations

from .fileset import generate_fileset, generate_sample
from .layout import LAYOUTS, wp_bitmask, wp_integer
from .samples import all_samples, split_events
from .writer import COMPRESSION, read_metadata

__all__ = [
    "COMPRESSION",
    "LAYOUTS",
    "all_samples",
    "generate_fileset",
    "generate_sample",
    "read_metadata",
    "split_events",
    "wp_bitmask",
    "wp_integer",
]
