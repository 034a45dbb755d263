"""What the kernel enforces, without policy: rlimits of processes, cgroups (the memory
cap and the CPU quota), and sampling a process tree from ``/proc``. Conda-free."""
