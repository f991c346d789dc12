"""Writing toy events as NanoAOD ROOT files with uproot, chunk by chunk.

Each chunk becomes one basket per branch (``chunk_size`` events, default 25 000), so
memory stays flat for any number of events. The file also holds the generator version
and seed (``hnl_coffea_toymc``, a JSON string) and, for simulation, a NanoAOD-style
``Runs`` tree with ``genEventCount``/``genEventSumw``/``genEventSumw2``.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import awkward as ak
import numpy as np
import uproot

from .. import __version__
from .event import Chunk
from .layout import scalar_names, to_layout
from .reco import Collection

__all__ = ["COMPRESSION", "compression_for", "sample_rng", "write_events", "chunk_sizes"]

#: Compression algorithms and their default levels.
COMPRESSION = {
    "zstd": (uproot.ZSTD, 1),
    "lzma": (uproot.LZMA, 9),
    "lz4": (uproot.LZ4, 1),
    "zlib": (uproot.ZLIB, 1),
}
METADATA_KEY = "hnl_coffea_toymc"


def compression_for(algorithm: str, level: int | None = None):
    """An uproot compression object; raises a one-line error for unknown algorithms."""
    if algorithm not in COMPRESSION:
        raise ValueError(f"unknown compression {algorithm!r}; allowed: {', '.join(COMPRESSION)}")
    cls, default = COMPRESSION[algorithm]
    return cls(default if level is None else level)


def sample_rng(seed: int, name: str, chunk: int) -> np.random.Generator:
    """The random stream of one chunk of one sample (independent of other samples)."""
    return np.random.default_rng([seed, zlib.crc32(name.encode()), chunk])


def chunk_sizes(n_events: int, chunk_size: int) -> Iterator[int]:
    """Sizes of the successive chunks (the last may be shorter)."""
    if n_events < 0 or chunk_size <= 0:
        raise ValueError(f"need n_events >= 0 and chunk_size > 0, got {n_events}, {chunk_size}")
    done = 0
    while done < n_events:
        k = min(chunk_size, n_events - done)
        yield k
        done += k


def _record(coll: Collection) -> ak.Array:
    contents = [ak.contents.NumpyArray(np.ascontiguousarray(v)) for v in coll.fields.values()]
    if coll.counts is None:  # one object per event (MET)
        length = len(next(iter(coll.fields.values())))
        return ak.Array(ak.contents.RecordArray(contents, list(coll.fields), length=length))
    offsets = ak.index.Index64(np.concatenate([[0], np.cumsum(coll.counts, dtype=np.int64)]))
    n_obj = int(offsets[-1])
    rec = ak.contents.RecordArray(contents, list(coll.fields), length=n_obj)
    return ak.Array(ak.contents.ListOffsetArray(offsets, rec))


def to_branches(chunk: Chunk, scalars: dict[str, np.ndarray], layout: str, is_data: bool) -> dict:
    """Everything of one chunk as a mapping uproot can write (collections as records)."""
    out: dict = scalar_names(dict(scalars), layout)
    for name, coll in to_layout(chunk.collections, layout, is_data).items():
        if coll.fields:
            out[name] = _record(coll)
    return out


def write_events(
    path: Path,
    chunks: Iterator[dict],
    *,
    compression: str = "zstd",
    compression_level: int | None = None,
    metadata: dict,
    runs: Callable[[], dict[str, np.ndarray]] | None = None,
    n_chunks: int = 10,
) -> None:
    """Write an ``Events`` tree from an iterator of per-chunk branch mappings.

    ``n_chunks`` (the expected number of baskets per branch) sizes the basket index up
    front, so uproot never rewrites the tree header of ~200 branches while filling.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    comp = compression_for(compression, compression_level)
    meta = {"generator": "hnl_coffea.toymc", "version": __version__, **metadata}
    with uproot.recreate(path, compression=comp) as f:
        tree = None
        for data in chunks:
            if tree is None:
                types = {k: v.type if isinstance(v, ak.Array) else v.dtype for k, v in data.items()}
                tree = f.mktree(
                    "Events", types, title="Events", initial_basket_capacity=max(n_chunks + 1, 10)
                )
            tree.extend(data)
        if tree is None:
            raise ValueError(f"{path}: no events to write (n_events must be > 0)")
        f[METADATA_KEY] = json.dumps(meta, sort_keys=True)
        if runs is not None:
            f["Runs"] = runs()


class EventsWriter:
    """An ``Events`` tree filled chunk by chunk; the file is created at the first chunk."""

    def __init__(self, path: Path, compression, metadata: dict):
        self.path = Path(path)
        self.compression = compression
        self.metadata = {"generator": "hnl_coffea.toymc", "version": __version__, **metadata}
        self.n_events = 0
        self._file = None
        self._tree = None

    def extend(self, data: dict) -> None:
        n = len(next(iter(data.values())))
        if n == 0:
            return
        if self._tree is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = uproot.recreate(self.path, compression=self.compression)
            types = {k: v.type if isinstance(v, ak.Array) else v.dtype for k, v in data.items()}
            self._tree = self._file.mktree("Events", types, title="Events")
        self._tree.extend(data)
        self.n_events += n

    def close(self) -> None:
        if self._file is not None:
            self._file[METADATA_KEY] = json.dumps(self.metadata, sort_keys=True)
            self._file.close()
            self._file = self._tree = None


def read_metadata(path: str | Path) -> dict:
    """The generator metadata (version, seed, sample, layout) stored in a toy file."""
    with uproot.open(path) as f:
        if METADATA_KEY not in f:
            raise ValueError(f"{path}: not written by hnl_coffea.toymc (no {METADATA_KEY!r})")
        return json.loads(str(f[METADATA_KEY]))
