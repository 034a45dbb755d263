"""What an environment's programs used: the usage log, and limits suggested from it.

Conda-free. ``conda run-limited`` and the Jupyter kernel launcher add one :class:`Run` per
command or kernel session to the environment's log (:mod:`.log`); ``conda limits usage``
shows it (:mod:`.chart`) and ``conda limits suggest`` proposes limits from it
(:mod:`.suggest`). Measures come from :mod:`conda_limits.system.sample` (a process tree's
peaks, read from ``/proc``); a kernel is observed by the small process of
:mod:`conda_limits.jupyter.watch`. :mod:`.optout` says whether a run is recorded at all.
"""
