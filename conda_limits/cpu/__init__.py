"""CPU share per environment: thread caps, a CPU set and a core quota (conda-free).

Three settings sit beside the rlimits in an environment's ``limits:`` block:

* ``threads: N`` -- the size of every common compute thread pool, through the variables the
  libraries read (:mod:`.threads`); set on activation, by ``conda run-limited`` and in kernels.
* ``cpuset: LIST`` -- CPU affinity, a Linux CPU list such as ``0-3,8`` (:mod:`.affinity`).
* ``cores: X`` -- a CPU-time quota of X cores (fractions allowed) through a cgroup
  (:mod:`.quota`); only where a cgroup can hold the process: ``conda run-limited`` and kernels.

:mod:`.settings` parses and checks them. Unlike ``cpu`` (RLIMIT_CPU, seconds of CPU time after
which the kernel stops a process), none of them stops anything: they share the CPU out.
"""
