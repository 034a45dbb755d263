"""What ``conda doctor`` says about an environment's CPU settings on this machine.

A record may come from another machine (a clone, an environment.yml): values that cannot
work here are findings, not errors. Activation, ``conda run-limited`` and kernels narrow them
to this machine in the same way, with a warning each time.
"""

from __future__ import annotations

import os

from . import affinity
from .cpu import CpuSettings


def problems(cpu: CpuSettings) -> list[tuple[str, str]]:
    """``(what is wrong, what to do)`` for each CPU setting that does not fit this machine."""
    out = []
    allowed = affinity.allowed_cpus()
    here = affinity.format_cpu_list(allowed)
    if cpu.cpuset:
        outside = cpu.cpuset - allowed
        wanted = affinity.format_cpu_list(cpu.cpuset)
        if outside == cpu.cpuset:
            out.append(((f"cpuset {wanted}: none of these CPUs is available here (allowed: "
                        f"{here}); the CPU affinity is left as it is"),
                        f"set CPUs of {here} with `conda limits set --cpuset LIST`"))
        elif outside:
            out.append(((f"cpuset {wanted}: CPU(s) {affinity.format_cpu_list(outside)} not "
                        f"available here (allowed: {here}); "
                        f"{affinity.format_cpu_list(cpu.cpuset & allowed)} are used"),
                        f"set CPUs of {here} with `conda limits set --cpuset LIST`"))
    count = os.cpu_count() or 1
    if cpu.cores is not None and cpu.cores.hundredths > count * 100:
        out.append(((f"cores {cpu.cores} is more than this machine's {count} CPU(s): the "
                    "quota holds nothing back here"),
                    f"set at most {count} with `conda limits set --cores X`"))
    if cpu.threads is not None and cpu.threads > len(allowed):
        out.append(((f"threads {cpu.threads} is more than the {len(allowed)} CPU(s) this "
                    f"process may use ({here}): the pools' threads will wait for each other"),
                    (f"set at most {len(allowed)} with `conda limits set --threads N`, unless "
                    "the environment runs on another machine")))
    return out
