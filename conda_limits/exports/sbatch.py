"""``#SBATCH`` lines for an environment, to paste below a batch script's ``#!`` line.

What maps: ``mem`` -> ``--mem`` (whole MiB); ``cores`` (rounded up), else the size of
``cpuset``, else ``threads`` -> ``--cpus-per-task``. What does not: every rlimit (Slurm has no
per-process address space, open files, stack, CPU-seconds ... option; ``--time`` is the job's
wall-clock time, not RLIMIT_CPU) and ``cpuset`` (Slurm chooses the CPUs): one comment line
each, saying that the job gets it from ``conda activate`` in the script. An unset ``mem`` is
stated too: the job then gets the partition's default memory.
"""

from __future__ import annotations

from ..slurm.options import cpus_for, slurm_size
from . import Export, Settings, described


def render(settings: Settings) -> Export:
    activate = f"`conda activate {settings.name}`"
    lines = [f"# Slurm options for the conda environment {settings.name}, from its limits "
             "(conda limits export --format sbatch)"]
    if settings.mem is not None:
        lines.append(f"#SBATCH --mem={slurm_size(settings.mem)}")
    else:
        lines.append("# mem: not set for this environment: the job gets the partition's "
                     "default memory (add --mem=SIZE to ask for more)")
    cpus = cpus_for(settings.limits.cpu)
    if cpus is not None:
        lines.append(f"#SBATCH --cpus-per-task={cpus}")
        if settings.cores is not None and settings.cores.hundredths != cpus * 100:
            lines.append(f"# cores {settings.cores}: Slurm allocates whole CPUs, hence "
                         f"{cpus}; the quota itself is not applied in the job")
    if settings.threads is not None:
        lines.append(f"# threads {settings.threads}: the thread pool variables "
                     f"(OMP_NUM_THREADS, ...) come from {activate} in the script")
    if settings.cpuset:
        lines.append(f"# cpuset {settings.cpuset}: no Slurm option (Slurm chooses the job's "
                     "CPUs, as many as asked for); not applied in the job")
    for resource, limit in settings.limits.items_with_resource():
        what = ("no Slurm option (--time is the job's wall-clock time)" if resource.key == "cpu"
                else "no Slurm option")
        lines.append(f"# {described(resource, limit)} (ulimit -{resource.ulimit}): {what}; "
                     f"the job gets it from {activate} in the script")
    return Export("\n".join(lines) + "\n")
