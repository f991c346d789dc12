"""Per-chunk accounting of :func:`hnl_coffea.runner.run_fileset`: events seen per file,
and each failed chunk with its cause (kept on remote workers too: it travels in the output).

A transient error (I/O, timeouts, a dropped XRootD connection) is retried in place; a
deterministic one (a missing branch, a schema or type error) is recorded at once.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from coffea import processor

__all__ = ["CountingProcessor", "failed_chunks_message", "file_cause", "is_transient", "reason"]


def reason(err: BaseException) -> str:
    text = " ".join(str(err).split()) or repr(err)
    return f"{type(err).__name__}: {text[:300]}"


def is_transient(err: BaseException) -> bool:
    """True for errors that may go away on a retry: I/O (not a missing file), timeouts,
    lost connections; False for deterministic ones (missing branches, bad types, schema)."""
    seen: set[int] = set()
    e: BaseException | None = err
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, FileNotFoundError | PermissionError | IsADirectoryError):
            return False
        if isinstance(e, OSError | TimeoutError | ConnectionError):
            return True
        e = e.__cause__ or e.__context__
    return False


class CountingProcessor(processor.ProcessorABC):
    """Wraps a processor; adds the events seen per (dataset, file) next to its output.

    A chunk that fails is returned as ``{"failed": {dataset: {file: [[start, stop, cause]]}}}``
    instead of raising, after ``retries`` retries for transient errors and none for
    deterministic ones, so its cause reaches the summary from any worker.
    """

    def __init__(self, inner: processor.ProcessorABC, retries: int = 0) -> None:
        self.inner = inner
        self.retries = retries

    def process(self, events):
        md = events.metadata
        attempt = 0
        while True:
            try:
                out = self.inner.process(events)
                break
            except Exception as err:  # noqa: BLE001 - every failure is recorded with its cause
                if is_transient(err) and attempt < self.retries:
                    attempt += 1
                    time.sleep(min(0.2 * 2**attempt, 5.0))
                    continue
                start = int(md.get("entrystart", 0))
                stop = int(md.get("entrystop", start + len(events)))
                tries = f" after {attempt} retries" if attempt else " (not retried)"
                cause = reason(err) + ("" if is_transient(err) else tries)
                return {"failed": {md["dataset"]: {md["filename"]: [[start, stop, cause]]}}}
        return {"out": out, "counts": {md["dataset"]: {md["filename"]: len(events)}}}

    def postprocess(self, accumulator):
        if "out" not in accumulator:  # every chunk failed
            return accumulator
        post = self.inner.postprocess(accumulator["out"])
        if post is not None:
            accumulator["out"] = post
        return accumulator


def failed_chunks_message(failed: Mapping[str, Mapping[str, list]]) -> str:
    """One line naming every failed chunk (the first five in full) and its cause."""
    items = [
        f"chunk [{a}, {b}) of {path} [{ds}]: {cause}"
        for ds, files in failed.items()
        for path, chunks in files.items()
        for a, b, cause in sorted(chunks)
    ]
    more = f"; … and {len(items) - 5} more" if len(items) > 5 else ""
    return (
        f"{len(items)} chunk(s) failed (use --skip-bad-files to continue without them): "
        + "; ".join(items[:5])
        + more
    )


def file_cause(chunks: list) -> str:
    """The skipped file's reason: its first failed chunk's cause (and how many more)."""
    if not chunks:
        return "chunk(s) failed while reading (the executor reported no cause)"
    a, b, cause = sorted(chunks)[0]
    more = f" (+{len(chunks) - 1} more chunk(s))" if len(chunks) > 1 else ""
    return f"chunk [{a}, {b}): {cause}{more}"
