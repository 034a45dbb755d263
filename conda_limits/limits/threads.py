"""The environment variables that size compute thread pools, and who reads each.

Most numeric libraries start a pool as wide as the machine (``os.cpu_count()``), whatever
share of it the process has: a CPU quota or a shared server does not change that. Each reads
its own variable once, when it loads, so the variables must be in the environment before the
program starts: activation exports them, ``conda run-limited`` and the kernel launcher put
them in the command's environment. ``threads: N`` sets every one of :data:`VARIABLES` to N.

The table is data: the docs' CPU page and ``conda limits show`` are made from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Variable:
    """One variable that sizes a thread pool."""

    name: str
    readers: str  # who reads it
    note: str = ""  # precedence, defaults, caveats


VARIABLES: Final = (
    Variable("OMP_NUM_THREADS", "every OpenMP runtime (GNU libgomp, LLVM libomp, Intel "
             "libiomp5): OpenBLAS and BLIS OpenMP builds, PyTorch's intra-op pool, "
             "scikit-learn, XGBoost, LightGBM, faiss",
             "a list such as 4,2 sets nested levels; a single number sets the outer one"),
    Variable("MKL_NUM_THREADS", "Intel oneMKL (numpy/scipy of the defaults channel, "
             "PyTorch on x86)", "wins over OMP_NUM_THREADS inside MKL"),
    Variable("OPENBLAS_NUM_THREADS", "OpenBLAS built with pthreads (numpy/scipy wheels from "
             "PyPI, conda-forge's default BLAS)",
             "wins over GOTO_NUM_THREADS and OMP_NUM_THREADS; OpenMP builds of OpenBLAS "
             "read only OMP_NUM_THREADS"),
    Variable("BLIS_NUM_THREADS", "BLIS and AMD AOCL-BLAS (conda-forge's blis BLAS variant)",
             "wins over OMP_NUM_THREADS; BLIS_*_NT (per-loop ways) win over both"),
    Variable("VECLIB_MAXIMUM_THREADS", "Apple Accelerate/vecLib (numpy wheels on macOS 14+)",
             "macOS only; harmless elsewhere"),
    Variable("NUMEXPR_NUM_THREADS", "numexpr (pandas.eval, PyTables)",
             "wins over OMP_NUM_THREADS in numexpr"),
    Variable("NUMEXPR_MAX_THREADS", "numexpr: the size of its pool",
             "without it numexpr caps itself at a built-in safe limit and says so; "
             "numexpr.set_num_threads() cannot go above it"),
    Variable("NUMBA_NUM_THREADS", "Numba's parallel=True/prange pool",
             "numba.set_num_threads() cannot go above it"),
    Variable("RAYON_NUM_THREADS", "Rust's rayon global pool (Hugging Face tokenizers, "
             "other Rust extensions)"),
    Variable("POLARS_MAX_THREADS", "Polars", "read once, when polars is imported"),
    Variable("LOKY_MAX_CPU_COUNT", "joblib/loky's cpu_count() (scikit-learn's n_jobs=-1 "
             "process pools)", "loky takes the smallest of this, the affinity and the "
             "cgroup quota"),
    Variable("PYTHON_CPU_COUNT", "CPython 3.13+: os.cpu_count(), os.process_cpu_count(), "
             "multiprocessing.cpu_count(), so the default size of ProcessPoolExecutor, "
             "ThreadPoolExecutor and multiprocessing.Pool", "ignored by Python before 3.13"),
    Variable("TF_NUM_INTRAOP_THREADS", "TensorFlow's pool inside one operation"),
    Variable("TF_NUM_INTEROP_THREADS", "TensorFlow's pool for independent operations"),
)

NAMES: Final = tuple(v.name for v in VARIABLES)

#: Variables that look related and are left alone, with the reason (for the docs).
NOT_SET: Final = (
    Variable("GOTO_NUM_THREADS", "OpenBLAS (fallback) and GotoBLAS2",
             "OpenBLAS reads it only when OPENBLAS_NUM_THREADS is unset, and GotoBLAS2 has "
             "not been released since 2010"),
    Variable("OMP_THREAD_LIMIT", "OpenMP runtimes",
             "a hard cap on all OpenMP threads, nested ones included; programs that ask for "
             "more get fewer silently, and nested parallelism is off by default"),
    Variable("JULIA_NUM_THREADS", "Julia",
             "Julia starts with 1 thread unless told otherwise: setting it would add "
             "threads, not cap them"),
    Variable("GOMAXPROCS", "Go programs",
             "Go 1.25+ reads the cgroup quota itself; Go tools are not compute pools"),
    Variable("MKL_DYNAMIC, MKL_DOMAIN_NUM_THREADS", "Intel oneMKL",
             "MKL_NUM_THREADS already sizes every MKL domain"),
)


def environment(size: int) -> dict[str, str]:
    """Every variable of :data:`VARIABLES` set to ``size`` (a validated positive int)."""
    text = str(int(size))
    if int(size) < 1:
        raise ValueError(f"a thread pool of {size} threads")
    return {name: text for name in NAMES}


def overridden(variables: Mapping[str, str]) -> list[str]:
    """The pool variables among ``variables`` (e.g. an environment's ``conda env config
    vars``), which win over the ones ``threads`` would set."""
    return [name for name in NAMES if name in variables]
