"""The end-of-run summary of :func:`hnl_coffea.runner.run_fileset`: what was read, what was not."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["LostWorker", "RunSummary", "SkippedFile"]


@dataclass(frozen=True)
class SkippedFile:
    """A file left out (whole or in part); ``events_lost`` None means unknown."""

    dataset: str
    path: str
    reason: str
    events_lost: int | None

    @property
    def lost_text(self) -> str:
        return "unknown" if self.events_lost is None else str(self.events_lost)


@dataclass(frozen=True)
class LostWorker:
    """A Dask worker that disappeared during the run; its tasks were rescheduled."""

    address: str
    tasks_rescheduled: int


@dataclass
class RunSummary:
    """Files, chunks, events read/selected per dataset, wall time, skipped files, lost workers."""

    executor: str
    n_files: int
    n_chunks: int
    events_read: dict[str, int]
    events_selected: dict[str, int]
    wall_s: float
    skipped: list[SkippedFile] = field(default_factory=list)
    lost_workers: list[LostWorker] = field(default_factory=list)
    #: Collision data: events removed by the golden JSON, per dataset.
    lost_to_mask: dict[str, int] = field(default_factory=dict)
    #: One-line remarks on the inputs (runs outside the golden JSON, Σw mismatches).
    notes: list[str] = field(default_factory=list)

    @classmethod
    def build(
        cls,
        executor: str,
        counts: dict[str, dict[str, int]],
        entries: dict[tuple[str, str], int],
        n_chunks: int,
        wall_s: float,
        selected: dict[str, int],
        skipped: list[SkippedFile],
        lost_workers: list[LostWorker],
    ) -> RunSummary:
        read = {ds: int(sum(files.values())) for ds, files in counts.items()}
        return cls(executor, len(entries), n_chunks, read, selected, wall_s, skipped, lost_workers)

    @property
    def total_events(self) -> int:
        return sum(self.events_read.values())

    @property
    def events_per_s(self) -> float:
        return self.total_events / self.wall_s if self.wall_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["events_per_s"] = self.events_per_s
        return d

    def format(self) -> str:
        """Plain-text table for the terminal."""
        lines = [
            f"executor: {self.executor}",
            f"files: {self.n_files}  chunks: {self.n_chunks}  events: {self.total_events}  "
            f"wall time: {self.wall_s:.1f} s  ({self.events_per_s:,.0f} events/s)",
            f"{'dataset':<32} {'read':>12} {'selected':>12}"
            + (f" {'not certified':>14}" if self.lost_to_mask else ""),
        ]
        for ds in sorted(self.events_read):
            sel = self.events_selected.get(ds)
            line = f"{ds:<32} {self.events_read[ds]:>12} {'-' if sel is None else sel:>12}"
            if self.lost_to_mask:
                lost = self.lost_to_mask.get(ds)
                line += f" {'-' if lost is None else lost:>14}"
            lines.append(line)
        if self.skipped:
            lines.append(f"SKIPPED {len(self.skipped)} file(s):")
            lines += [
                f"  {s.path} [{s.dataset}]: events lost {s.lost_text} ({s.reason})"
                for s in self.skipped
            ]
        if self.notes:
            lines.append("NOTE:")
            lines += [f"  {n}" for n in self.notes]
        if self.lost_workers:
            lines.append(
                f"LOST {len(self.lost_workers)} worker(s) during the run (work rescheduled):"
            )
            lines += [
                f"  {w.address}: {w.tasks_rescheduled} task(s) rescheduled"
                for w in self.lost_workers
            ]
        return "\n".join(lines)
