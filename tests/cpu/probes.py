"""What the tests' child processes print about the CPU settings they run under."""

POOLS = """\
import json, os
pools = {}
try:
    import numpy, threadpoolctl
    pools = {i["internal_api"]: i["num_threads"] for i in threadpoolctl.threadpool_info()}
except ImportError:
    pass
"""


def probe(fields: str) -> str:
    """Python code printing one JSON object: ``pools`` (threadpoolctl's pool sizes) and
    ``fields`` (a dict display's items, e.g. ``'cpus': sorted(os.sched_getaffinity(0))``)."""
    return POOLS + f"print(json.dumps({{'pools': pools, {fields}}}))\n"
