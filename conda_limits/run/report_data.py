"""``conda run-limited --report-json FILE``: the ``--report`` summary as JSON, for scripts.

The shape is documented in docs/json.md (``schema_version`` as in every JSON of
conda-limits); every limit and CPU setting has the shape ``show --json`` gives it, its
``source`` saying where the value came from (``flag``, ``environment``, ``inherited``).
Conda-free.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..limits import cpu as settings
from ..limits import resources
from ..limits.model import SCHEMA_VERSION, UNITS
from ..limits.values import UNLIMITED

if TYPE_CHECKING:
    from .explain import Stop
    from .process import Outcome


def report_data(outcome: Outcome, command: Sequence[str] = (),
                stop: Stop | None = None) -> dict[str, Any]:
    """What ``--report`` says, and the diagnosis line, as one JSON object."""
    from ..system.signals import signal_name

    limits: dict[str, Any] = {}
    for resource in resources.RESOURCES:
        soft, hard = outcome.limits.get(resource.key, (UNLIMITED, UNLIMITED))
        limits[resource.key] = {
            "kind": "rlimit", "value": soft, "soft": soft, "hard": hard,
            "unit": UNITS[resource.kind],
            "source": {"kind": outcome.sources.get(resource.key, "inherited")}}
    cpu = outcome.cpu
    if cpu is not None:
        for key, value in cpu.settings.items():
            limits[key] = {"kind": "cpu", "value": settings.to_json(key, value), "soft": None,
                           "hard": None, "unit": settings.UNITS[key],
                           "source": {"kind": cpu.sources.get(key, "environment")}}
    memory = outcome.memory
    return {
        "schema_version": SCHEMA_VERSION,
        "command": list(command),
        "status": outcome.status,
        "signal": None if outcome.signal is None else signal_name(outcome.signal),
        "stopped_by": stop.limit if stop else None,
        "diagnosis": stop.line if stop else None,
        "wall_seconds": round(outcome.wall, 3),
        "user_seconds": round(outcome.user, 3),
        "system_seconds": round(outcome.system, 3),
        "peak_rss_bytes": outcome.peak_rss,
        "rss_floor_bytes": outcome.rss_floor,
        "mem": None if memory is None else {
            "kind": "memory", "value": memory.limit, "unit": "bytes",
            "backend": memory.backend, "peak_bytes": memory.peak,
            "oom_kills": memory.oom_kills},
        "cpus_used": None if cpu is None or cpu.cpus is None else sorted(cpu.cpus),
        "thread_pools": None if cpu is None or cpu.pool_size is None else {
            "size": cpu.pool_size, "variables": list(cpu.exported),
            "left_to_the_environment": list(cpu.skipped)},
        "limits": limits,
    }


def write(path: str | os.PathLike[str], data: dict[str, Any]) -> str | None:
    """Write ``data`` to ``path`` (replaced whole, never half-written); the problem, or
    None."""
    import json
    import tempfile

    folder = os.path.dirname(os.path.abspath(path))
    try:
        with tempfile.NamedTemporaryFile("w", dir=folder, prefix=".report-", suffix=".tmp",
                                         delete=False, encoding="utf-8") as handle:
            json.dump(data, handle, indent=2)
            handle.write("\n")
        os.replace(handle.name, path)
    except OSError as error:
        try:
            os.unlink(handle.name)
        except (OSError, UnboundLocalError):
            pass
        return f"{path}: {error.strerror or error}"
    return None
