"""First-call times of the numba backend in fresh processes: cold (empty ``NUMBA_CACHE_DIR``,
every kernel compiles) and cached (a second process reusing that cache directory).

Each is one round: the timed figure is the whole subprocess (interpreter start, import, first
and second call of every kernel); the per-kernel first-call and steady-state times are in
``extra_info`` (``first_call_s``, ``steady_s``, ``import_s``). All other benchmarks warm up
before timing, so compile time never leaks into them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import nnkernels
from nnkernels.kernels import available_backends


@pytest.fixture(scope="session")
def numba_cache(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A private numba cache directory for the first-call processes."""
    return {"dir": tmp_path_factory.mktemp("numba-cache"), "filled": False}


def _first_call_process(cache_dir: Path, dtypes: list[str]) -> dict[str, Any]:
    """Run ``nnkernels.benchmarks.first_call`` in a fresh interpreter; its JSON result."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    # The child imports the same nnkernels as this process (a checkout or an install).
    root = str(Path(nnkernels.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    proc = subprocess.run(
        [sys.executable, "-m", "nnkernels.benchmarks.first_call", "--dtypes", *dtypes],
        env=env, capture_output=True, text=True, timeout=900, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"first-call process failed ({proc.returncode}):\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("mode", ["cold", "cached"])
def test_first_call(benchmark: Any, mode: str, numba_cache: dict[str, Any],
                    request: pytest.FixtureRequest) -> None:
    if "numba" not in available_backends():
        pytest.skip("the numba backend is not available here")
    quick = request.config.getoption("quick")
    dtypes = ["float64"] if quick else ["float64", "float32"]
    cache_dir: Path = numba_cache["dir"]
    if mode == "cold":
        shutil.rmtree(cache_dir, ignore_errors=True)
        cache_dir.mkdir(parents=True)
    elif not numba_cache["filled"]:
        _first_call_process(cache_dir, dtypes)  # fill the cache when "cold" was deselected
    benchmark.group = "first call in a fresh process (numba)"
    benchmark.extra_info.update(kernel="first_call", backend="numba", mode=mode,
                                dtypes=dtypes, threads=request.config.getoption("bench_threads"))
    result = benchmark.pedantic(_first_call_process, args=(cache_dir, dtypes), rounds=1,
                                iterations=1)
    numba_cache["filled"] = True
    benchmark.extra_info.update(result)
