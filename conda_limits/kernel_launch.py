"""Kept for kernels installed before the launcher moved to :mod:`conda_limits.jupyter.launch`.

Their ``kernel.json`` runs ``python -m conda_limits.kernel_launch``; this module runs the
current launcher with the same arguments. ``conda limits kernel install --force`` writes the
new module name.
"""

from __future__ import annotations

if __name__ == "__main__":
    import sys

    from conda_limits.jupyter.launch import main

    sys.exit(main())
