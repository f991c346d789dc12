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
``user``           {}       your own keys (any JSON), carried into the output untouched
=================  =======  ==========================================================

Metadata are checked strictly, because a wrong value silently changes the physics: an unknown
key is an error with the closest allowed one ("did you mean"), booleans must be JSON booleans
(``"false"`` is not false), ``xsec`` must be a finite number > 0 for simulation (absent for
data), a signal needs ``m_hnl``, and with a configuration ``era`` must be one of its eras.
Local paths are resolved (``..``, symlinks) before duplicates are removed: a file listed twice
in one dataset is read once, a file in two datasets is a warning naming both.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import posixpath
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import AnalysisConfig

__all__ = [
    "DatasetInfo",
    "DatasetMeta",
    "FilesetError",
    "FilesetWarning",
    "METADATA_KEYS",
    "load_fileset",
    "dataset_metadata",
    "apply_redirector",
    "normalise_path",
]

#: The documented metadata keys of a dataset (``user`` holds anything else).
METADATA_KEYS = (
    "process", "xsec", "is_data", "is_signal", "m_hnl", "era", "sumw", "primary_dataset", "user",
)  # fmt: skip
#: Keys coffea (and this module) add to ``events.metadata`` next to the fileset's.
_FRAMEWORK_KEYS = {"dataset", "filename", "treename", "entrystart", "entrystop", "fileuuid",
                   "uuid", "name", "version"}  # fmt: skip
#: Keys of one dataset entry (coffea Runner and coffea.dataset_tools layouts).
_SPEC_KEYS = ("files", "metadata", "treename", "form")


class FilesetError(ValueError):
    """A malformed fileset, with a one-line message naming the dataset and key."""


class FilesetWarning(UserWarning):
    """A fileset that is valid but probably not what was meant (a file in two datasets)."""


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
    user: dict[str, Any] = field(default_factory=dict)

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


def _suggest(key: str, allowed: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _number(name: str, key: str, value: Any, *, positive: bool = True) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FilesetError(
            f"dataset {name!r}: metadata {key!r} must be a number, got {value!r} "
            f"({type(value).__name__})"
        )
    value = float(value)
    if not math.isfinite(value) or (positive and value <= 0):
        raise FilesetError(
            f"dataset {name!r}: metadata {key!r} must be finite and > 0, got {value}"
        )
    return value


def _flag(name: str, key: str, value: Any) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise FilesetError(
            f"dataset {name!r}: metadata {key!r} must be true or false (a JSON boolean), "
            f"got {value!r} ({type(value).__name__})"
        )
    return value


def _text(name: str, key: str, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and key == "era":
        return str(value)  # era: 2018
    if not isinstance(value, str) or not value:
        raise FilesetError(
            f"dataset {name!r}: metadata {key!r} must be a non-empty string, got {value!r}"
        )
    return value


def dataset_metadata(
    name: str,
    metadata: Mapping[str, Any] | None,
    default_era: str | None = None,
    *,
    eras: Mapping[str, Any] | None = None,
) -> DatasetMeta:
    """Check one dataset's metadata and fill the documented defaults.

    Keys coffea adds at run time (``dataset``, ``filename``, …) are accepted; any other key
    outside :data:`METADATA_KEYS` is an error. With ``eras`` (the configuration's), the
    dataset's era must be one of them.
    """
    md = dict(metadata or {})
    for key in md:
        if key not in METADATA_KEYS and key not in _FRAMEWORK_KEYS:
            raise FilesetError(
                f"dataset {name!r}: unknown metadata key {key!r}{_suggest(str(key), METADATA_KEYS)}; "
                f'allowed: {", ".join(METADATA_KEYS)} (put your own keys under "user")'
            )
    is_data = _flag(name, "is_data", md.get("is_data"))
    is_signal = _flag(name, "is_signal", md.get("is_signal"))
    if is_data and is_signal:
        raise FilesetError(f"dataset {name!r}: is_data and is_signal cannot both be true")
    xsec = _number(name, "xsec", md.get("xsec"))
    if is_data and xsec is not None:
        raise FilesetError(f"dataset {name!r}: collision data (is_data: true) take no xsec")
    m_hnl = _number(name, "m_hnl", md.get("m_hnl"))
    if is_signal and m_hnl is None:
        raise FilesetError(
            f"dataset {name!r}: a signal dataset (is_signal: true) needs m_hnl in GeV"
        )
    era = _text(name, "era", md.get("era")) or default_era
    if eras is not None and era is not None and era not in eras:
        raise FilesetError(
            f"dataset {name!r}: era {era!r} is not in the configuration; eras: {', '.join(eras)}"
        )
    user = md.get("user") or {}
    if not isinstance(user, Mapping):
        raise FilesetError(f"dataset {name!r}: metadata 'user' must be a mapping of your own keys")
    return DatasetMeta(
        name=name,
        process=_text(name, "process", md.get("process")) or name,
        xsec=xsec,
        is_data=is_data,
        is_signal=is_signal,
        m_hnl=m_hnl,
        era=era,
        sumw=_number(name, "sumw", md.get("sumw")),
        primary_dataset=_text(name, "primary_dataset", md.get("primary_dataset")),
        user=dict(user),
    )


def apply_redirector(path: str, redirector: str | None) -> str:
    """Join an XRootD redirector to a CMS logical file name (``/store/...``) once."""
    if redirector and path.startswith("/store/"):
        return redirector.rstrip("/") + "//" + path.lstrip("/")
    return path


def normalise_path(path: str, base: Path | None = None) -> str:
    """One spelling per file: local paths absolute with ``..`` and symlinks resolved
    (relative ones against ``base``), XRootD URLs with a normalised path part."""
    scheme, sep, rest = path.partition("://")
    if sep:
        if scheme.lower() not in ("root", "xroot", "roots"):
            return path
        host, slash, file_path = rest.partition("/")
        if not slash:
            return path
        return f"{scheme}://{host}//{posixpath.normpath('/' + file_path.lstrip('/')).lstrip('/')}"
    p = Path(path).expanduser()
    if not p.is_absolute() and base is not None:
        p = base / p
    return os.path.realpath(p)


def load_fileset(
    path: str | Path, redirector: str | None = None, cfg: AnalysisConfig | None = None
) -> dict[str, dict[str, Any]]:
    """Read and validate a fileset JSON; returns coffea's dict with metadata defaults filled.

    With ``cfg``, datasets without ``era`` get the configuration's and every era must be one
    of ``cfg.eras``. Duplicate files are reported as :class:`FilesetWarning` warnings.
    """
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
    owner: dict[str, str] = {}
    for name, spec in raw.items():
        if not isinstance(spec, dict) or "files" not in spec:
            raise FilesetError(f"fileset {p}: dataset {name!r} needs a 'files' entry")
        for key in spec:
            if key not in _SPEC_KEYS:
                raise FilesetError(
                    f"fileset {p}: dataset {name!r} has unknown key {key!r}"
                    f"{_suggest(key, _SPEC_KEYS)}; allowed: {', '.join(_SPEC_KEYS)}"
                )
        files = spec["files"]
        if isinstance(files, list):
            files = {f: "Events" for f in files}
        if not isinstance(files, dict) or not files:
            raise FilesetError(f"fileset {p}: dataset {name!r} has no files")
        resolved: dict[str, str] = {}
        for f, tree in files.items():
            f = normalise_path(apply_redirector(str(f), redirector), p.parent)
            if f in resolved:
                warnings.warn(
                    f"dataset {name!r} lists {f} more than once (different spellings): read once",
                    FilesetWarning,
                    stacklevel=2,
                )
                continue
            if f in owner:
                warnings.warn(
                    f"{f} is in datasets {owner[f]!r} and {name!r}: its events are read for both",
                    FilesetWarning,
                    stacklevel=2,
                )
            owner.setdefault(f, name)
            resolved[f] = tree if isinstance(tree, str) else spec.get("treename", "Events")
        try:
            meta = dataset_metadata(
                name,
                spec.get("metadata"),
                cfg.era if cfg is not None else None,
                eras=cfg.eras if cfg is not None else None,
            )
        except FilesetError as err:
            raise FilesetError(f"fileset {p}: {err}") from None
        out[name] = {"files": resolved, "metadata": dict(meta.to_dict())}
    return out
