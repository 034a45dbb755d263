"""The usage log as text: a table of runs and a sparkline of peak memory over time.

Names read from a log (which anyone who could write the environment may have written) are
printed with control characters escaped.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..limits import resources
from ..limits.values import approx
from ..printable import escape
from .entry import Run
from .suggest import when

BARS = "\u2581\u2582\u2583\u2584\u2585\u2586\u2587\u2588"
ASCII_BARS = "_.-=+*#@"
#: The sparkline has at most this many columns; older runs share a column (its highest).
WIDTH = 60
_SIZE = resources.get("vmem")
_HEADER = ("# Started", "Via", "Command", "Exit", "Wall", "CPU", "Resident", "Address space",
           "Files", "Stopped by")


def table(runs: Sequence[Run]) -> list[str]:
    """One row per run (oldest first) under a header, columns aligned."""
    rows = [_HEADER] + [_row(run) for run in runs]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADER))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
            for row in rows]


def _row(run: Run) -> tuple[str, ...]:
    used = run.used
    return (
        when(run.at), escape(run.via), escape(run.command), exit_text(run), _seconds(run.wall),
        _seconds(used.get("cpu")), _size(peak_memory(run)), _size(used.get("vmem")),
        _count(used.get("nofile")), escape(run.stopped_by or "-"),
    )


def exit_text(run: Run) -> str:
    """``0``, ``137 (SIGKILL)``, or ``?`` when not known."""
    signal = escape(run.signal) if run.signal else None
    if run.status is None:
        return signal or "?"
    return f"{run.status} ({signal})" if signal else str(run.status)


def peak_memory(run: Run) -> float | None:
    """The run's resident peak: the ``--mem`` cgroup's where it had one, else the largest
    process's."""
    if run.mem is not None and run.mem.peak is not None:
        return run.mem.peak
    return run.used.get("rss")


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 60:
        return f"{value:.2f} s" if value < 10 else f"{value:.1f} s"
    minutes, seconds = divmod(int(value), 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _size(value: float | None) -> str:
    return "-" if value is None else approx(_SIZE, value)


def _count(value: float | None) -> str:
    return "-" if value is None else str(int(value))


def sparkline(values: Sequence[float | None], *, width: int = WIDTH,
              ascii_only: bool = False) -> str:
    """One character per value (or per group of values, highest first), scaled from 0 to
    the highest; a value not measured is a blank."""
    bars = ASCII_BARS if ascii_only else BARS
    groups = _groups(list(values), width)
    known = [v for v in groups if v is not None]
    top = max(known, default=0)
    if not top:
        return "".join(" " if v is None else bars[0] for v in groups)
    return "".join(" " if v is None else bars[min(len(bars) - 1, int(v / top * len(bars)))]
                   for v in groups)


def _groups(values: list[float | None], width: int) -> list[float | None]:
    if len(values) <= width:
        return values
    out: list[float | None] = []
    for column in range(width):
        chunk = values[column * len(values) // width:(column + 1) * len(values) // width]
        known = [v for v in chunk if v is not None]
        out.append(max(known) if known else None)
    return out


def memory_trend(runs: Sequence[Run], *, ascii_only: bool = False) -> str:
    """The sparkline of peak resident memory, oldest to newest, with its range."""
    values = [peak_memory(run) for run in runs]
    known = [v for v in values if v is not None]
    if not known:
        return "Peak resident memory: not measured in these runs."
    line = sparkline(values, ascii_only=ascii_only)
    return (f"Peak resident memory, oldest to newest ({len(known)} runs, "
            f"{_size(min(known))} to {_size(max(known))}):\n  {line}")

