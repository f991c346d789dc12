"""Fileset JSON (coffea's layout) with hnl-coffea's documented dataset metadata.

``{dataset: {"files": {path_or_url: "Events"}, "metadata": {...}}}`` where metadata keys are

=================  =======  ==========================================================
key                default  meaning
=================  =======  ==========================================================
``process``        dataset  physics process name (datacard column), e.g. ``WZ``
``xsec``           None     cross section in pb (MC); None → reported unnormalised
``is_data``        False    collision data: no generator weights, SFs or variations
``is_signal``      False    HNL signal sample
``m_hnl``          None     generated HNL mass in GeV (signal)
``era``            config   data-taking era, e.g. ``2018``
``sumw``           None     Σ genWeight known in advance (else accumulated in the run)
``primary_dataset`` None    primary dataset of a data sample (``SingleMuon``, ``EGamma``…)
=================  =======  ==========================================================
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "DatasetInfo",
    "DatasetMeta",
    "FilesetError",
    "load_fileset",
    "dataset_metadata",
    "apply_redirector",
]

_KNOWN = {"process", "xsec", "is_data", "is_signal", "m_hnl", "era", "sumw", "primary_dataset"}


class FilesetError(ValueError):
    """A malformed fileset, with a one-line message naming the dataset and key."""


@dataclass(frozen=True)
class DatasetMeta:
    """Per-dataset metadata with hnl-coffea's defaults filled in."""

    name: str
    process: str
    xsec: float | None = None
    is_data: bool = False
    is_signal: bool = False
    m_hnl: float | None = None
    era: str | None = None
    sumw: float | None = None
    primary_dataset: str | None = None

    def to_dict(self) -> DatasetInfo:
        """The metadata as a :class:`DatasetInfo` (a dict that accumulates idempotently)."""
        return DatasetInfo(asdict(self))


class DatasetInfo(dict):
    """Dataset metadata inside a processor output (a plain dict for every reader).

    Every chunk of a dataset carries the same metadata; adding two copies, as coffea's
    ``accumulate`` does when it merges chunks, gives it back unchanged instead of summing
    cross sections or joining names. Different metadata for one dataset is an error.
    """

    def __add__(self, other: dict) -> DatasetInfo:
        if dict(self) != dict(other):
            diff = sorted(k for k in set(self) | set(other) if self.get(k) != other.get(k))
            raise ValueError(
                f"dataset {self.get('name')!r}: chunks disagree on metadata {', '.join(diff)}"
            )
        return DatasetInfo(self)

    def __iadd__(self, other: dict) -> DatasetInfo:
        self.__add__(other)
        return self


def dataset_metadata(
    name: str, metadata: dict[str, Any] | None, default_era: str | None = None
) -> DatasetMeta:
    """Fill documented defaults into one dataset's metadata, validating types."""
    md = dict(metadata or {})
    unknown = set(md) - _KNOWN
    extra = {k: md.pop(k) for k in unknown}  # unknown keys are kept by coffea but ignored here
    del extra
    try:
        return DatasetMeta(
            name=name,
            process=str(md.get("process", name)),
            xsec=None if md.get("xsec") is None else float(md["xsec"]),
            is_data=bool(md.get("is_data", False)),
            is_signal=bool(md.get("is_signal", False)),
            m_hnl=None if md.get("m_hnl") is None else float(md["m_hnl"]),
            era=str(md["era"]) if md.get("era") is not None else default_era,
            sumw=None if md.get("sumw") is None else float(md["sumw"]),
            primary_dataset=md.get("primary_dataset"),
        )
    except (TypeError, ValueError) as err:
        raise FilesetError(f"dataset {name!r}: bad metadata value ({err})") from None


def apply_redirector(path: str, redirector: str | None) -> str:
    """Join an XRootD redirector to a CMS logical file name (``/store/...``) once."""
    if redirector and path.startswith("/store/"):
        return redirector.rstrip("/") + "//" + path.lstrip("/")
    return path


def load_fileset(path: str | Path, redirector: str | None = None) -> dict[str, dict[str, Any]]:
    """Read and validate a fileset JSON; returns coffea's dict with metadata defaults filled."""
    p = Path(path)
    try:
        raw = json.loads(p.read_text())
    except OSError as err:
        raise FilesetError(f"fileset {p}: {err.strerror or err}") from None
    except json.JSONDecodeError as err:
        raise FilesetError(f"fileset {p}: invalid JSON ({err})") from None
    if not isinstance(raw, dict) or not raw:
        raise FilesetError(f"fileset {p}: must be a non-empty mapping of dataset name → files")
    out: dict[str, dict[str, Any]] = {}
    for name, spec in raw.items():
        if not isinstance(spec, dict) or "files" not in spec:
            raise FilesetError(f"fileset {p}: dataset {name!r} needs a 'files' entry")
        files = spec["files"]
        if isinstance(files, list):
            files = {f: "Events" for f in files}
        if not isinstance(files, dict) or not files:
            raise FilesetError(f"fileset {p}: dataset {name!r} has no files")
        resolved = {}
        for f, tree in files.items():
            f = apply_redirector(str(f), redirector)
            if "://" not in f and not Path(f).is_absolute():
                f = str((p.parent / f).resolve())
            resolved[f] = tree if isinstance(tree, str) else "Events"
        meta = dataset_metadata(name, spec.get("metadata"))
        out[name] = {"files": resolved, "metadata": {**spec.get("metadata", {}), **meta.to_dict()}}
    return out
