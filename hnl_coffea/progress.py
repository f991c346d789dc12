"""Progress display in the units of the run summary, and a switch for coffea's own bars.

coffea draws its bars whatever its executors' ``status`` says (the iterative and futures
executors ignore it) and counts Dask reduction tasks as chunks, so its numbers disagree with
the run summary. :func:`run_progress` hides them and shows one bar of files and events read,
advanced as rounds of files finish, that ends exactly at the summary's counts;
:func:`step` shows a spinner for one long step of a command, :class:`Steps` a bar over the
steps of one (postprocessing, datacards, limits, pseudo-experiments, report). All are silent
when disabled.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

__all__ = ["RunProgress", "Steps", "quiet_coffea", "run_progress", "step"]


@contextlib.contextmanager
def quiet_coffea() -> Iterator[None]:
    """Silence coffea's progress bars (its shared rich console) for the duration."""
    from coffea.util import coffea_console

    before = coffea_console.quiet
    coffea_console.quiet = True
    try:
        yield
    finally:
        coffea_console.quiet = before


class RunProgress:
    """Files and events processed so far (no-op when ``bar`` is None)."""

    def __init__(self, bar: Any = None, task: Any = None) -> None:
        self.bar = bar
        self.task = task

    def advance(self, files: int, events: int) -> None:
        if self.bar is not None:
            self.bar.update(self.task, advance=files, events=self.events + events)
            self.bar.refresh()

    @property
    def events(self) -> int:
        return int(self.bar.tasks[0].fields.get("events", 0)) if self.bar is not None else 0


@contextlib.contextmanager
def run_progress(enabled: bool, n_files: int, n_events: int) -> Iterator[RunProgress]:
    """A bar ``files done/total · events read/total`` while a run processes its files."""
    with quiet_coffea():
        if not enabled:
            yield RunProgress()
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        bar = Progress(
            TextColumn("[bold blue]processing"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("files · {task.fields[events]:,}/" + f"{n_events:,} events"),
            auto_refresh=False,
            transient=False,
        )
        with bar:
            task = bar.add_task("files", total=n_files, events=0)
            yield RunProgress(bar, task)


@contextlib.contextmanager
def step(enabled: bool, text: str) -> Iterator[None]:
    """A spinner with ``text`` while a long step of a command runs."""
    if not enabled:
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(text):
        yield


class Steps:
    """``total`` steps of one task, shown on stderr as a bar with the last step's name.

    Used by postprocessing, datacards, limits, pseudo-experiments and the report::

        with Steps("datacards", len(masses), enabled=progress) as step:
            for m in masses:
                ...
                step.advance(f"m = {m:g} GeV")
    """

    def __init__(self, description: str, total: int, *, enabled: bool = True) -> None:
        self.description = description
        self.total = max(int(total), 0)
        self.enabled = enabled and self.total > 0
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> Steps:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._bar = Progress(
                TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), TextColumn("{task.fields[what]}"),
                console=Console(stderr=True),
            )  # fmt: skip
            self._bar.__enter__()
            self._task = self._bar.add_task(self.description, total=self.total, what="")
        return self

    def advance(self, what: str = "", n: int = 1) -> None:
        """One (or ``n``) step(s) done; ``what`` names it."""
        if self._bar is not None:
            self._bar.update(self._task, advance=n, what=what)

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
            self._bar = None
