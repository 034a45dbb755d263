"""Slurm: an environment's limits carried to a cluster job (``conda run-limited --slurm``).

``options`` what the job asks Slurm for (srun/sbatch options; the user's win), ``job`` builds
the srun command line and runs it, ``srun`` supervises srun (stdio, signals, its own lines),
``node`` runs on the node (limits, activation, exec), ``ending`` reads how the job ended from
sacct, scontrol or srun, ``diagnosis`` says what stopped it. None of them imports conda.
"""
