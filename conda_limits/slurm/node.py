"""On the node: put the environment's limits on the job's task, activate it, start the command.

srun runs this module in the job (with the Python that submitted it, at the same path, as the
environment itself must be) through :data:`BOOT`::

    python -I -c BOOT PACKAGE_DIR SPEC -- COMMAND [ARGS...]

``-I`` keeps the environment's ``PYTHON*`` variables away from this Python; ``PACKAGE_DIR`` is
where ``conda_limits`` was imported from on the submitting side. ``SPEC`` is JSON:
``{"prefix": ..., "recorded": {limits}, "overrides": {limits}}``, validated again here.

The limits are planned against the node's own limits (a node's hard limit may be lower than
the submitting machine's: the value is lowered to it, with the same warning as activation),
set on this process with setrlimit, and kept across the ``exec`` of the same launcher
``conda run-limited`` uses (:mod:`conda_limits.run.launcher`), which sources the
environment's ``activate.d`` scripts and ``exec``s the command, with the thread-pool variables
of the CPU settings exported (:func:`with_thread_variables`). So the task keeps its pid, and
its exit status and signals are the command's; Slurm's ``PropagateResourceLimits`` is not
relied on.

The environment's variables arrive with the job's environment (srun's ``--export=ALL``, which
conda-limits asks for). Where they did not arrive (``--export=NONE`` from the user or the
site), the environment is activated here from its files, as ``conda activate`` would.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ..errors import LimitsError
from ..limits.model import LimitSet, SchemaError, parse_limits
from ..run.activation import Activation, ActivationError, from_prefix, scripts_in
from ..state.env_vars import environment_variables

#: The ``-c`` program srun starts: import conda_limits from where the submitter had it.
BOOT = ("import sys; sys.path.insert(0, sys.argv.pop(1)); "
        "from conda_limits.slurm.node import main; sys.exit(main(sys.argv[1:]))")
SPEAKER = "conda-limits"
#: Exit status when nothing could be started (as ``conda run-limited`` uses for the launcher).
NOT_STARTED = 125


def package_dir() -> str:
    """The directory to put on ``sys.path`` on the node (the one holding ``conda_limits``)."""
    import conda_limits

    return str(Path(conda_limits.__file__).resolve().parent.parent)


def spec(prefix: str | os.PathLike[str], recorded: LimitSet, overrides: LimitSet) -> str:
    """The SPEC argument of :data:`BOOT`."""
    return json.dumps({"prefix": str(prefix), "recorded": recorded.to_yaml(),
                       "overrides": overrides.to_yaml()}, separators=(",", ":"))


def argv(python: str, prefix: str | os.PathLike[str], recorded: LimitSet,
         overrides: LimitSet, command: Sequence[str]) -> list[str]:
    """What srun runs on the node for ``command``."""
    return [python, "-I", "-c", BOOT, package_dir(), spec(prefix, recorded, overrides), "--",
            *command]


class NodeError(LimitsError):
    """The job's spec or environment cannot be used; nothing was started."""


def _parse(args: Sequence[str]) -> tuple[Path, LimitSet, LimitSet, list[str]]:
    if len(args) < 3 or args[1] != "--":
        raise NodeError("usage: SPEC -- COMMAND [ARGS...]")
    try:
        data = json.loads(args[0])
        prefix = Path(data["prefix"])
        recorded = parse_limits(data.get("recorded"))
        overrides = parse_limits(data.get("overrides"))
    except (ValueError, KeyError, TypeError, SchemaError) as error:
        raise NodeError(f"the job's limits cannot be read: {error}") from None
    return prefix, recorded, overrides, list(args[2:])


def activation_here(prefix: Path) -> tuple[Activation, str | None]:
    """The environment's activation on this node, and a note when it had to be rebuilt."""
    if not prefix.is_dir():
        raise NodeError(f"the environment {prefix} does not exist on this node "
                        f"({os.uname().nodename})")
    environ = dict(os.environ)
    if _same_path(environ.get("CONDA_PREFIX"), prefix):
        return Activation(environ, scripts_in(prefix)), None
    note = (f"the job did not get the activated environment from srun (--export?); "
            f"activating {prefix} here from its files")
    return from_prefix(prefix, environ), note


def _same_path(text: str | None, prefix: Path) -> bool:
    try:
        return bool(text) and os.path.samefile(text, prefix)  # type: ignore[arg-type]
    except OSError:
        return False


def with_thread_variables(activation: Activation, prefix: Path,
                          limits: LimitSet) -> Activation:
    """The thread-pool variables of the CPU settings (``threads``, else what ``cpuset`` and
    ``cores`` allow), except those the environment sets itself, which win. The CPU set and
    the quota are not applied on the node: Slurm allocates the job's CPUs
    (``--cpus-per-task``)."""
    from dataclasses import replace

    from ..limits import threads

    size = limits.cpu.pool_size()
    if size is None:
        return activation
    own = set(threads.overridden(environment_variables(prefix)))
    variables = {k: v for k, v in threads.environment(size).items() if k not in own}
    return replace(activation, environ={**activation.environ, **variables})


def main(args: Sequence[str]) -> int:
    from ..run import launcher
    from ..run.plan import plan_activation
    from ..run.process import RunnerError, open_gate
    from ..system import rlimits

    try:
        prefix, recorded, overrides, command = _parse(args)
        activation, note = activation_here(prefix)
        plan, activation = plan_activation(recorded, activation, overrides)
        activation = with_thread_variables(activation, prefix, recorded.merged(overrides))
        launch = launcher.launch(activation, command, *open_gate())  # the gate stands open
    except (NodeError, ActivationError, RunnerError) as error:
        print(f"{SPEAKER}: {error}", file=sys.stderr)
        return NOT_STARTED
    for line in ([note] if note else []) + list(plan.warnings):
        print(f"{SPEAKER}: {line}", file=sys.stderr)
    failed = rlimits.apply(plan.wanted(inherited=False))[1]
    if failed:
        # unlike a kernel, a batch job is not started under limits other than those asked for
        for limit in failed:
            print(f"{SPEAKER}: cannot set the {limit.key} limit on {os.uname().nodename}: "
                  f"{limit.reason}; the command was not started", file=sys.stderr)
        return NOT_STARTED
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(launch.executable, launch.argv, launch.environ)
