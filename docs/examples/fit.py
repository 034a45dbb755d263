"""A stand-in for numeric work: matrix products with numpy's BLAS, as wide as its pool.

    python fit.py [ROUNDS]

It prints how many threads the BLAS pool had (threadpoolctl when installed, else the
OpenMP/BLAS variables), and how long the products took.
"""

import os
import sys
import time

import numpy as np

rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
try:
    from threadpoolctl import threadpool_info
except ImportError:
    pools = os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS") or "?"
else:
    pools = ",".join(str(pool["num_threads"]) for pool in threadpool_info()) or "?"

rng = np.random.default_rng(0)
a = rng.random((400, 400))
start = time.perf_counter()
for _ in range(rounds):
    a = a @ a
    a /= np.abs(a).max()
print(f"fitted: {rounds} products, BLAS threads {pools}, {time.perf_counter() - start:.2f} s")
