"""The progress display of a pipeline run (rich, on standard error)."""

from __future__ import annotations

from typing import Any

__all__ = ["Display"]

_MARKS = {
    "executed": "[green]done[/]",
    "cached": "[cyan]cached[/]",
    "cache_refused": "[yellow]not reused[/]",
    "retrying": "[yellow]retrying[/]",
    "failed": "[red]failed[/]",
    "skipped": "[dim]skipped[/]",
}


class Display:
    """A bar of finished steps, the steps running now, and one line per finished step.

    ``enabled``: None shows it only when standard error is a terminal; False never; True
    always (plain lines, no live bar, when not a terminal).
    """

    def __init__(self, enabled: bool | None, pipeline: str, total: int) -> None:
        self._progress: Any = None
        if enabled is False:
            return
        from rich.console import Console

        console = Console(stderr=True)
        if enabled is None and not console.is_terminal:
            return
        from rich.markup import escape
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self._escape = escape
        self._console = console
        self._pipeline = escape(pipeline)
        self._running: dict[str, None] = {}
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        self._task = self._progress.add_task(self._describe(), total=total)

    def _describe(self) -> str:
        running = ", ".join(self._escape(n) for n in self._running)
        return f"pipeline {self._pipeline}" + (f": {running}" if running else "")

    def __enter__(self) -> Display:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def event(self, step: str, event: str, detail: str = "") -> None:
        if self._progress is None:
            return
        if event == "started":
            self._running[step] = None
        else:
            self._running.pop(step, None)
        mark = _MARKS.get(event)
        if mark is not None:
            text = f"{mark} {self._escape(step)}"
            if detail:
                text += f" [dim]{self._escape(detail)}[/]"
            self._progress.console.print(text)
        advance = 1 if event in ("executed", "cached", "failed", "skipped") else 0
        self._progress.update(self._task, advance=advance, description=self._describe())
