"""Progress display for long work (training, encoding): a rate (words/s, docs/s), the loss and an ETA;
can be silenced."""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column


def _fixed(width: int) -> Column:
    return Column(no_wrap=True, min_width=width)


def _columns(console: Console) -> list[ProgressColumn]:
    """Description, bar, percentage, rate, loss, elapsed time and ETA. On a terminal the description is cut
    (with an ellipsis) to what leaves room for the figures, and the bar takes what is left, so an
    80-column terminal still shows the rate and the ETA whole; elsewhere (a log, a pipe: drawn once, at
    the end) the description stays whole."""
    if not console.is_terminal:
        return [TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.percentage:>5.1f}%"),
                TextColumn("{task.fields[rate]}"), TextColumn("{task.fields[loss]}"),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn()]
    room = max(16, console.width - 50)  # 50: percentage, rate, elapsed, ETA, separators and a short bar
    return [TextColumn("[bold]{task.description}", table_column=Column(no_wrap=True, overflow="ellipsis",
                                                                       max_width=room)),
            BarColumn(bar_width=None, table_column=Column(ratio=1, max_width=40)),
            TextColumn("{task.percentage:>5.1f}%", table_column=_fixed(6)),
            TextColumn("{task.fields[rate]}", table_column=Column(no_wrap=True)),
            TextColumn("{task.fields[loss]}", table_column=Column(no_wrap=True)),
            TimeElapsedColumn(table_column=_fixed(7)), TextColumn("ETA", table_column=_fixed(3)),
            TimeRemainingColumn(table_column=_fixed(7))]


def format_rate(rate: float, unit: str) -> str:
    """``"1,234k words/s"`` for large rates, ``"23.4 docs/s"`` for small ones."""
    if rate >= 100_000:
        return f"{rate / 1000:,.0f}k {unit}/s"
    return f"{rate:,.1f} {unit}/s" if rate < 100 else f"{rate:,.0f} {unit}/s"


class TrainingProgress:
    """``with TrainingProgress(total, "word2vec", unit="words") as p: p.advance(n, loss=...)``."""

    def __init__(self, total: int, description: str, *, unit: str = "words", enabled: bool = True) -> None:
        self.total = total
        self.unit = unit
        self.enabled = enabled
        self.done = 0
        self.loss: float | None = None
        self._start = time.perf_counter()
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self.description = description

    def __enter__(self) -> TrainingProgress:
        self._start = time.perf_counter()
        if self.enabled:
            console = Console(stderr=True)
            self._progress = Progress(*_columns(console), console=console, transient=False)
            self._progress.__enter__()
            self._task = self._progress.add_task(self.description, total=self.total, rate="", loss="")
        return self

    @property
    def rate(self) -> float:
        return self.done / max(time.perf_counter() - self._start, 1e-9)

    def advance(self, n: int, *, loss: float | None = None, description: str | None = None) -> None:
        self.done += n
        if loss is not None:
            self.loss = loss
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, advance=n, description=description or self.description,
                                  rate=format_rate(self.rate, self.unit),
                                  loss="" if self.loss is None else f"loss {self.loss:.4f}")

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.__exit__(exc_type, exc, tb)
