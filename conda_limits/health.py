"""Health of an environment's limits, for ``conda doctor``: what is wrong and how to fix it.

Conda-free: :func:`diagnose` returns findings, :func:`fix_scripts` rewrites the scripts from
the record; ``conda_limits.hooks.health_checks`` prints them the way ``conda doctor`` does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from .limits.model import LimitSet
from .limits.resources import MEM, get
from .limits.values import UNLIMITED, human, pretty
from .printable import escape, prefix_option
from .state import prefix_files
from .system.rlimits import above_ceiling

#: Packages that reserve large amounts of address space (CUDA maps about twice the GPU's
#: memory up front), so that an address-space limit (vmem) breaks them.
GPU_PACKAGES = frozenset({
    "pytorch", "torch", "libtorch", "pytorch-gpu", "torchvision", "torchaudio",
    "jax", "jaxlib", "tensorflow", "tensorflow-base", "tensorflow-gpu", "tf-nightly",
    "cudatoolkit", "cudnn", "nccl", "cupy", "cuda",
})
GPU_PREFIXES = ("cuda-", "nvidia-", "pytorch-", "tensorflow-", "jax-cuda", "libcublas",
                "libcudnn", "libnccl")


class Kind(str, Enum):
    """What a finding is about."""

    RECORD = "record"  # the record cannot be read
    STALE = "stale"  # a script is missing or differs from what the record calls for
    ORPHAN = "orphan"  # a script exists without a record
    LEFTOVER = "leftover"  # temporary files of an interrupted write
    UNSAFE_PATH = "unsafe-path"  # a prefix path that conda's activators would expand
    CEILING = "ceiling"  # a value is above this machine's hard limit
    VMEM_GPU = "vmem-gpu"  # vmem set in an environment with CUDA/ML packages
    HIT = "hit"  # recorded runs keep being stopped by a limit
    LOOSE = "loose"  # a limit far above anything recorded runs used
    CPU = "cpu"  # a CPU setting that does not fit this machine (conda_limits.limits.cpu_checks)
    MEM = "mem"  # a mem cap nothing enforces here, or above this machine's memory


@dataclass(frozen=True)
class Finding:
    """One problem with an environment's limits."""

    kind: Kind
    message: str  # one line: what is wrong
    hint: str = ""  # what to do about it
    paths: tuple[Path, ...] = field(default=())

    @property
    def fixable(self) -> bool:
        """Whether :func:`fix_scripts` repairs it."""
        return self.kind in (Kind.STALE, Kind.ORPHAN, Kind.LEFTOVER)


@dataclass(frozen=True)
class Report:
    """The limits of an environment and what is wrong with them."""

    prefix: Path
    limits: LimitSet
    findings: tuple[Finding, ...]

    @property
    def fixable(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.fixable)


def diagnose(prefix: str | os.PathLike[str], target: str | None = None) -> Report:
    """Check the record, the scripts, leftovers of interrupted writes, the prefix path, the
    hard ceilings, vmem against GPU packages, and the limits against the recorded runs.
    ``target`` names the environment in the hints' commands (default ``-p PATH``)."""
    prefix = Path(prefix)
    target = target or prefix_option(prefix)
    state = prefix_files.check(prefix)
    findings = script_findings(state)  # the fixable ones first: they share one hint
    if state.error is not None:
        error = state.error
        findings.append(Finding(
            Kind.RECORD, f"the limits record is broken: {error.problem}",
            f"fix or remove {escape(str(error.path))}, or run `conda limits unset {target} --all` "
            "(it removes the record and the scripts, whatever they hold)", (error.path,)))
    findings += path_findings(prefix, state, target)
    if state.error is not None:
        return Report(prefix, LimitSet(), tuple(findings))
    findings += ceiling_findings(state.limits, target)
    findings += mem_findings(state.limits, target)
    findings += cpu_findings(state.limits, target)
    findings += vmem_gpu_findings(state.limits, gpu_packages(prefix), target)
    findings += usage_findings(prefix, state.limits, target)
    return Report(prefix, state.limits, tuple(findings))


def usage_findings(prefix: Path, limits: LimitSet, target: str) -> list[Finding]:
    """Limits the recorded runs keep hitting, or are far below (:mod:`conda_limits.usage`)."""
    from .usage import log
    from .usage.suggest import checks

    current = {key: limit.effective for key, limit in limits.items()}
    if not current:
        return []
    runs = log.read(prefix).runs
    return [Finding(Kind.HIT if check.kind == "hit" else Kind.LOOSE, check.message, check.hint)
            for check in checks(runs, current, target)]


def path_findings(prefix: Path, state: prefix_files.State, target: str) -> list[Finding]:
    """A prefix path that conda's activators expand, in an environment with scripts."""
    problem = prefix_files.unsafe_scripts(prefix, state)
    return ([Finding(Kind.UNSAFE_PATH, problem,
                    "move the environment to a path without these characters, or remove "
                    f"its limits and scripts with `conda limits unset {target} --all`")]
            if problem else [])


def script_findings(state: prefix_files.State) -> list[Finding]:
    """Scripts missing or out of date for the record, scripts left without a record, and
    temporary files of interrupted writes."""
    out_of_date, orphans = state.out_of_date, state.orphans
    findings = []
    missing = tuple(p for p in out_of_date if not os.path.lexists(p))
    stale = tuple(p for p in out_of_date if os.path.lexists(p))
    if missing:
        findings.append(Finding(Kind.STALE, f"{_count(missing, 'activation script')} missing "
                                "for the recorded limits: they are not applied on activation",
                                "", missing))
    if stale:
        findings.append(Finding(Kind.STALE, f"{_count(stale, 'activation script')} out of "
                                "date with the recorded limits (edited, or a change was "
                                "interrupted)", "", stale))
    if orphans:
        findings.append(Finding(Kind.ORPHAN, f"{_count(orphans, 'activation script')} of "
                                "conda-limits present, but no limits are recorded", "",
                                tuple(orphans)))
    if state.leftovers:
        findings.append(Finding(Kind.LEFTOVER, f"{_count(state.leftovers, 'temporary file')} "
                                "left by an interrupted change of the limits", "",
                                tuple(state.leftovers)))
    return findings


def _count(paths: tuple[Path, ...] | list[Path], noun: str) -> str:
    return f"1 {noun} is" if len(paths) == 1 else f"{len(paths)} {noun}s are"


def ceiling_findings(limits: LimitSet, target: str) -> list[Finding]:
    """Values above this process's hard limit: activation applies the ceiling instead."""
    return [Finding(Kind.CEILING,
                    f"{resource.key} {which} value {pretty(resource, value)} is above the "
                    f"current hard limit ({pretty(resource, ceiling)}); activation uses "
                    f"{pretty(resource, ceiling)} here",
                    f"lower it with `conda limits set {target} --{resource.key} VALUE`, or ask "
                    "the "
                    "administrator to raise the hard limit")
            for resource, which, value, ceiling in above_ceiling(limits)]


def mem_findings(limits: LimitSet, target: str) -> list[Finding]:
    """A ``mem`` cap above this machine's memory, or that no backend can enforce here for
    this user (``conda run-limited`` and kernels then refuse to start under it)."""
    from .limits.mem import above_machine, cap

    limit = cap(limits.mem)
    if limit is None:
        return []
    findings = []
    above = above_machine(limit)
    if above:
        findings.append(Finding(Kind.MEM, above,
                                f"lower it with `conda limits set {target} --mem SIZE`, "
                                "unless the environment runs on a bigger machine"))
    from .system import memory_cap

    try:
        memory_cap.choose(limit, memory_cap.wanted()).close()
    except memory_cap.MemoryCapUnavailable as error:
        findings.append(Finding(
            Kind.MEM, f"mem {pretty(MEM, limit)} cannot be enforced here for this user "
            f"({'; '.join(error.reasons)}): `conda run-limited` and kernels of this "
            "environment refuse to start",
            "run them where a cgroup is writable or systemd delegates the memory controller, "
            f"pass `--mem unlimited` to `conda run-limited {target}` for one run, or "
            f"`conda limits unset {target} --mem`"))
    except (memory_cap.MemoryCapError, OSError) as error:
        findings.append(Finding(Kind.MEM, f"mem {pretty(MEM, limit)}: the memory cap could "
                                f"not be tried here: {error}"))
    return findings


def cpu_findings(limits: LimitSet, target: str) -> list[Finding]:
    """CPU settings this machine cannot honour as recorded (CPUs it lacks, more cores or
    threads than it has)."""
    if not limits.cpu:
        return []
    from .limits.cpu_checks import problems

    return [Finding(Kind.CPU, message, hint) for message, hint in problems(limits.cpu, target)]


def vmem_gpu_findings(limits: LimitSet, packages: list[str], target: str) -> list[Finding]:
    """An address-space limit in an environment with CUDA, PyTorch, JAX or TensorFlow."""
    vmem = limits.get("vmem")
    if vmem is None or vmem.effective == UNLIMITED or not packages:
        return []
    size, figure = pretty(get("vmem"), vmem.effective), human(get("vmem"), vmem.effective)
    shown = ", ".join(packages[:4]) + (", ..." if len(packages) > 4 else "")
    return [Finding(
        Kind.VMEM_GPU,
        f"vmem ({size}) limits address space, and this environment has CUDA/ML packages "
        f"({shown}): CUDA reserves address space of about twice the GPU's memory, so "
        "importing them can fail with 'failed to map segment'",
        f"cap memory with `data` instead (`conda limits set {target} --data {figure}` "
        f"and `conda limits unset {target} --vmem`), or cap resident memory with "
        f"`conda run-limited {target} --mem {figure}`")]


def gpu_packages(prefix: str | os.PathLike[str]) -> list[str]:
    """Names of the CUDA/ML packages installed in ``prefix`` (conda and pip), sorted."""
    return sorted(name for name in installed_names(prefix) if is_gpu_package(name))


def is_gpu_package(name: str) -> bool:
    return name in GPU_PACKAGES or name.startswith(GPU_PREFIXES)


def installed_names(prefix: str | os.PathLike[str]) -> set[str]:
    """Package names from ``conda-meta/*.json`` and ``site-packages/*.dist-info``.

    Read from the file names (``NAME-VERSION-BUILD.json``, ``NAME-VERSION.dist-info``), which
    neither conda nor pip lets contain a dash in the version or build: no file is parsed.
    """
    prefix = Path(prefix)
    names = set()
    for path in (prefix / "conda-meta").glob("*.json"):
        parts = path.stem.rsplit("-", 2)
        if len(parts) == 3:
            names.add(parts[0].lower())
    for path in prefix.glob("lib/python3*/site-packages/*.dist-info"):
        names.add(path.name.split("-", 1)[0].lower().replace("_", "-"))
    return names


def fix_scripts(prefix: str | os.PathLike[str]) -> list[Path]:
    """Rewrite the activation scripts from the record (remove them if nothing is recorded),
    and remove the temporary files of interrupted writes; returns the paths changed.

    Raises :class:`conda_limits.state.record.RecordError` for a broken record,
    :class:`conda_limits.state.prefix_files.PrefixNotWritable` when nothing could be written and
    :class:`conda_limits.state.prefix_files.UnsafePrefix` for a prefix path that conda's
    activators expand.
    """
    done = prefix_files.change(prefix, lambda state: (state.limits, state.sources))
    return done.cleaned + done.written
