"""numba's on-disk cache: a second process loads the compiled kernels instead of compiling."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import nnkernels

pytestmark = pytest.mark.skipif("numba" not in nnkernels.available_backends(),
                                reason="numba is not installed")

# The first call of every dense kernel for float64, timed, and the dispatchers' cache statistics.
SCRIPT = """
import json, time
import numpy as np
from numba.core.registry import CPUDispatcher
from nnkernels.kernels.numba_backend import dense
t0 = time.perf_counter()
dense.warmup(np.float64)
seconds = time.perf_counter() - t0
jitted = [f for f in vars(dense).values() if isinstance(f, CPUDispatcher)]
print(json.dumps({"seconds": seconds,
                  "hits": sum(sum(f.stats.cache_hits.values()) for f in jitted),
                  "misses": sum(sum(f.stats.cache_misses.values()) for f in jitted)}))
"""


def _first_call(cache_dir: str) -> dict:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    env.pop("NUMBA_DISABLE_JIT", None)
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                          text=True, timeout=300, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_second_process_reuses_the_cache(tmp_path) -> None:
    cold = _first_call(str(tmp_path))
    warm = _first_call(str(tmp_path))
    assert cold["misses"] >= 1 and cold["hits"] == 0, cold
    assert warm["hits"] >= 1 and warm["misses"] == 0, warm
    assert any(p.suffix == ".nbi" for p in tmp_path.rglob("*")), "no index file written"
    # Loading machine code from disk is far cheaper than compiling it.
    assert warm["seconds"] < cold["seconds"] / 2, (cold, warm)
