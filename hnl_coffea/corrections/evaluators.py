"""Lazy, picklable access to correctionlib files.

:class:`CorrectionProvider` holds only the configuration; the ``CorrectionSet`` objects are
built on first use in each worker process (and cached per process by file path and
modification time), so a provider can travel inside a processor or a task graph.

Out-of-domain inputs (a real-valued input outside the edges of a binning whose ``flow`` is
``"error"``) follow ``corrections.out_of_domain``:

* ``clamp`` (default): the value is moved to the nearest edge inside the domain, a
  :class:`CorrectionDomainWarning` says how many values of which input were clamped, and
  :attr:`CorrectionProvider.clamped` counts them per ``(correction, input)``;
* ``error``: a :class:`CorrectionError` names the file, correction, input and value.

Binnings whose ``flow`` is ``"clamp"`` or a default value decide for themselves (as the
file's authors intended) and never warn.
"""

from __future__ import annotations

import functools
import gzip
import json
import re
import warnings
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import awkward as ak
import correctionlib
import numpy as np

from ..config import CVMFS_POG_ROOT, ILLUSTRATIVE_POG_ROOT, POG_FILES, AnalysisConfig
from ..paths import data_path

__all__ = [
    "CorrectionError",
    "CorrectionDomainWarning",
    "CorrectionProvider",
    "binned_domains",
    "correction_file",
    "pog_root",
]

FILE_KINDS = tuple(POG_FILES)


class CorrectionError(ValueError):
    """A correction file, correction name or input problem, in one line."""


class CorrectionDomainWarning(UserWarning):
    """Inputs were clamped into a correction's domain (see ``corrections.out_of_domain``)."""


Domain = dict[str, tuple[float, float]]


def _edges(edges: Any) -> list[float]:
    if isinstance(edges, Mapping):  # UniformBinning
        return [float(edges["low"]), float(edges["high"])]
    return [float(e) for e in edges]


def binned_domains(node: Any, out: Domain | None = None, transformed: frozenset = frozenset()):
    """``{input: (low, high)}`` over all ``flow="error"`` binnings below a correction node."""
    out = {} if out is None else out
    if not isinstance(node, Mapping):
        return out
    kind = node.get("nodetype")

    def merge(name: str, edges: list[float]) -> None:
        if name in transformed:
            return
        lo, hi = out.get(name, (np.inf, -np.inf))
        out[name] = (min(lo, edges[0]), max(hi, edges[-1]))

    if kind == "binning":
        if node.get("flow") == "error":
            merge(node["input"], _edges(node["edges"]))
        for child in node["content"]:
            binned_domains(child, out, transformed)
    elif kind == "multibinning":
        if node.get("flow") == "error":
            for name, edges in zip(node["inputs"], node["edges"]):
                merge(name, _edges(edges))
        for child in node["content"]:
            binned_domains(child, out, transformed)
    elif kind == "category":
        for item in node["content"]:
            binned_domains(item["value"], out, transformed)
        binned_domains(node.get("default"), out, transformed)
    elif kind == "transform":
        binned_domains(node["content"], out, transformed | {node["input"]})
    return out


def category_keys(node: Any, input_name: str, fixed: Mapping[str, Any], out: set) -> set:
    """Keys of every category on ``input_name`` below ``node``, following only the branches
    of categories on ``fixed`` inputs that match their value (and their defaults)."""
    if not isinstance(node, Mapping):
        return out
    kind = node.get("nodetype")
    if kind == "category":
        items = node["content"]
        if node["input"] == input_name:
            out.update(str(i["key"]) for i in items)
        elif node["input"] in fixed:
            want = str(fixed[node["input"]])
            items = [i for i in items if str(i["key"]) == want]
        for item in items:
            category_keys(item["value"], input_name, fixed, out)
        category_keys(node.get("default"), input_name, fixed, out)
    elif kind in ("binning", "multibinning"):
        for child in node["content"]:
            category_keys(child, input_name, fixed, out)
    elif kind == "transform":
        category_keys(node["content"], input_name, fixed, out)
    return out


@functools.lru_cache(maxsize=16)
def _load(path: str, mtime_ns: int) -> tuple[Any, dict[str, Domain], dict[str, Any]]:
    """The evaluator, binned domains and raw correction data of one file (cached per
    process)."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rt") as f:
            raw = json.load(f)
        cset = correctionlib.CorrectionSet.from_string(json.dumps(raw))
    except (OSError, ValueError, RuntimeError) as err:
        msg = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise CorrectionError(f"correction file {path}: cannot be read ({msg})") from None
    domains = {c["name"]: binned_domains(c["data"]) for c in raw.get("corrections", [])}
    data = {c["name"]: c["data"] for c in raw.get("corrections", [])}
    return cset, domains, data


def pog_root(cfg: AnalysisConfig) -> Path:
    """The root of the POG tree: ``corrections.pog_root``; ``auto`` is the CMS tree on /cvmfs
    when it is mounted, else the illustrative files shipped with hnl-coffea."""
    root = cfg.corrections.pog_root
    if root == "auto":
        cvmfs = Path(CVMFS_POG_ROOT)
        return cvmfs if cvmfs.is_dir() else data_path(ILLUSTRATIVE_POG_ROOT)
    return data_path(root)


def pog_of(kind: str) -> str:
    """The POG that publishes file ``kind`` (``TAU``, ``MUO``, ``EGM``, ``LUM``, ``BTV``)."""
    return POG_FILES[kind].split("/", 1)[0]


def correction_file(cfg: AnalysisConfig, kind: str) -> Path | None:
    """The file of ``kind`` for ``cfg``'s era (None when switched off), by the standard layout
    ``<pog_root>/<POG>/<pog_tag>/<file>`` or the era's ``pog_files`` override."""
    if kind not in FILE_KINDS:
        raise CorrectionError(f"unknown correction file {kind!r}; allowed: {', '.join(FILE_KINDS)}")
    era = cfg.era_config
    template = era.pog_files[kind] if kind in era.pog_files else cfg.corrections.files[kind]
    if template is None:
        return None
    if "{tag}" in template and not era.pog_tag:
        raise CorrectionError(
            f"era {era.name!r}: no pog_tag configured, needed for the {pog_of(kind)} file {template}"
        )
    path = Path(template.replace("{tag}", era.pog_tag or ""))
    return path if path.is_absolute() else pog_root(cfg) / path


class CorrectionProvider:
    """Correction files of one configuration (resolved for one era, see
    :meth:`~hnl_coffea.config.AnalysisConfig.for_era`), loaded lazily once per process."""

    def __init__(self, cfg: AnalysisConfig) -> None:
        self.cfg = cfg
        self.clamped: Counter[tuple[str, str]] = Counter()
        self._sets: dict[str, tuple[Any, dict[str, Domain], dict[str, Any]]] = {}
        self._derived: dict[Any, Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"cfg": self.cfg, "clamped": Counter()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.cfg = state["cfg"]
        self.clamped = state["clamped"]
        self._sets = {}
        self._derived = {}

    def derived(self, key: Any, build: Any) -> Any:
        """An object built from the files (e.g. coffea's jet correctors), once per process
        and key; never pickled."""
        if key not in self._derived:
            self._derived[key] = build()
        return self._derived[key]

    # ------------------------------------------------------------------ files
    def enabled(self, kind: str) -> bool:
        """Whether the era has a file of ``kind`` (``null`` in the config switches it off)."""
        return correction_file(self.cfg, kind) is not None

    def path(self, kind: str) -> Path:
        """The resolved path of the file of ``kind`` for this era."""
        path = correction_file(self.cfg, kind)
        if path is None:
            raise CorrectionError(
                f"era {self.cfg.era!r}: the {pog_of(kind)} file ({kind}) is switched off (null) "
                "but its corrections are needed"
            )
        return path

    def _file(self, kind: str) -> tuple[Any, dict[str, Domain], dict[str, Any]]:
        if kind not in self._sets:
            path = self.path(kind)
            if not path.is_file():
                raise CorrectionError(
                    f"era {self.cfg.era!r}: {pog_of(kind)} correction file not found: {path} "
                    f"(pog_root {pog_root(self.cfg)}, pog_tag {self.cfg.era_config.pog_tag})"
                )
            self._sets[kind] = _load(str(path), path.stat().st_mtime_ns)
        return self._sets[kind]

    def correction(self, kind: str, name: str) -> Any:
        """The ``correctionlib`` correction ``name`` from file ``kind``."""
        cset = self._file(kind)[0]
        available = list(cset)
        if name not in available:
            raise CorrectionError(
                f"era {self.cfg.era!r}: correction {name!r} not in the {pog_of(kind)} file "
                f"{self.path(kind)}; it has: {', '.join(sorted(available))}"
            )
        return cset[name]

    def compound(self, kind: str, name: str) -> Any:
        """The ``correctionlib`` compound correction ``name`` (e.g. the JME
        ``…_L1L2L3Res_AK4PFchs`` stack) from file ``kind``."""
        cset = self._file(kind)[0]
        available = list(cset.compound)
        if name not in available:
            raise CorrectionError(
                f"era {self.cfg.era!r}: compound correction {name!r} not in the {pog_of(kind)} "
                f"file {self.path(kind)}; it has: {', '.join(sorted(available)) or 'none'}"
            )
        return cset.compound[name]

    def variation_keys(
        self, kind: str, name: str, input_name: str, fixed: Mapping[str, Any]
    ) -> frozenset[str]:
        """The values a correction offers for its variation input ``input_name`` where its
        other string inputs take the values ``fixed`` (e.g. the ``syst`` keys of the τ ID
        scale factor for ``flag=dm``, ``wp=Medium``)."""
        self.correction(kind, name)  # one-line error when the name is missing
        data = self._file(kind)[2][name]
        return frozenset(category_keys(data, input_name, fixed, set()))

    def input_names(self, kind: str, name: str) -> list[str]:
        """The declared input names of a correction, in order."""
        return [v.name for v in self.correction(kind, name).inputs]

    # ------------------------------------------------------------------ evaluation
    def evaluate_named(self, kind: str, name: str, values: Mapping[str, Any]) -> Any:
        """Evaluate with inputs picked by the correction's declared input names."""
        inputs = []
        for inp in self.input_names(kind, name):
            if inp not in values:
                raise CorrectionError(
                    f"correction {name!r} ({self.path(kind)}) needs input {inp!r}, "
                    f"not provided (have: {', '.join(values)})"
                )
            inputs.append(values[inp])
        return self.evaluate(kind, name, *inputs)

    def evaluate(self, kind: str, name: str, *inputs: Any) -> Any:
        """Evaluate correction ``name`` of file ``kind``; arrays may be numpy or awkward
        (jagged awkward inputs of equal structure give a jagged result)."""
        corr = self.correction(kind, name)
        declared = corr.inputs
        if len(inputs) != len(declared):
            raise CorrectionError(
                f"correction {name!r} ({self.path(kind)}) takes {len(declared)} inputs "
                f"({', '.join(v.name for v in declared)}), got {len(inputs)}"
            )
        counts = None
        args = []
        for var, value in zip(declared, inputs):
            if isinstance(value, ak.Array) and value.ndim > 1:
                counts = ak.num(value, axis=1)
                value = ak.flatten(value, axis=1)
            if var.type != "string":
                value = np.asarray(value, dtype=np.float64 if var.type == "real" else np.int64)
                if var.type == "real":
                    value = self._domain(kind, name, var.name, value)
            args.append(value)
        try:
            out = corr.evaluate(*args)
        except (RuntimeError, IndexError, ValueError) as err:
            raise CorrectionError(self._describe(kind, name, err, args)) from None
        return ak.unflatten(out, counts) if counts is not None else out

    def _domain(self, kind: str, name: str, inp: str, value: np.ndarray) -> np.ndarray:
        lo, hi = self._file(kind)[1].get(name, {}).get(inp, (-np.inf, np.inf))
        outside = (value < lo) | (value >= hi)
        n = int(np.count_nonzero(outside))
        if n == 0:
            return value
        example = float(np.atleast_1d(value)[np.atleast_1d(outside)][0])
        where = f"correction {name!r} ({self.path(kind)})"
        if self.cfg.corrections.out_of_domain == "error":
            raise CorrectionError(
                f"{where}: input {inp!r} has {n} value(s) outside its domain [{lo:g}, {hi:g}) "
                f"(e.g. {example:g}); set corrections.out_of_domain=clamp to clamp them"
            )
        self.clamped[(name, inp)] += n
        warnings.warn(
            f"{where}: clamped {n} value(s) of input {inp!r} into its domain [{lo:g}, {hi:g}) "
            f"(e.g. {example:g})",
            CorrectionDomainWarning,
            stacklevel=3,
        )
        return np.clip(value, lo, np.nextafter(hi, -np.inf))

    def _describe(self, kind: str, name: str, err: Exception, args: list) -> str:
        names = self.input_names(kind, name)
        msg = str(err).splitlines()[0] if str(err) else type(err).__name__
        m = re.search(r"argument (\d+)", msg)
        if m and int(m.group(1)) < len(names):
            msg += f" (input {names[int(m.group(1))]!r})"
        return f"correction {name!r} ({self.path(kind)}): {msg}"
