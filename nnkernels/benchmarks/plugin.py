"""pytest plugin of the benchmark suite: options, thread setup, cell fixtures, recorded metadata.

Loaded by ``conftest.py`` (here and in the repository's ``benchmarks/`` wrapper). Options:

- ``--quick``: a small subset with short timing budgets (under two minutes);
- ``--bench-threads N`` (default 2): threads of numba, of every BLAS pool and of PyTorch;
- ``--bench-mem-gib G`` (default 4): cells whose arrays exceed G GiB are skipped (see ``cases``);
- ``--bench-backends numpy,numba,torch,jax``: the rows to run (torch and jax, the comparators,
  skip themselves when not installed);
- ``--bench-keep-data``: keep every round's timing in the JSON (dropped by default);
- ``--bench-no-machine``: do not measure the machine's peaks (``nnkernels.machine``) at the end.

Every benchmark stores its parameters in ``extra_info`` (kernel, backend, case, N, H, D_in,
D_out, dtype, threads, ops_per_call), and the JSON's ``machine_info["nnkernels"]`` holds the
thread count, the memory budget, ``nnkernels.runtime_info()`` and, under ``"machine"``, the
machine's peak FMA throughput and triad bandwidth measured after the timings (the roofline of
``nnkernels report``), so that reports never parse test names.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

import nnkernels
from nnkernels.kernels import available_backends, get_backend

from .cases import (
    BACKENDS,
    BUSY_PROCESS_MAX_S,
    DEFAULT_MEM_GIB,
    MIXED,
    POOL_IDLE_S,
    QUICK_MAX_TIME_S,
    QUICK_MIN_ROUNDS,
    SCENARIO_ROUNDS,
    SCENARIOS,
    SLOW_CALL_ROUNDS,
    SLOW_CALL_S,
    ConvData,
    ConvShape,
    DenseCell,
    DenseData,
    MlpData,
    conv_shapes,
    dense_cells,
)

_TORCH_INFO = pytest.StashKey[dict]()
_TORCH_BACKEND = pytest.StashKey[Any]()
_JAX_INFO = pytest.StashKey[dict]()
_JAX_BACKEND = pytest.StashKey[Any]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """The suite's command-line options."""
    g = parser.getgroup("nnkernels", "nnkernels benchmark suite")
    g.addoption("--quick", action="store_true", default=False,
                help="run a small subset with short timing budgets (under two minutes)")
    g.addoption("--bench-threads", type=int, default=2, metavar="N",
                help="threads for numba, the BLAS pools, PyTorch and (where it can) JAX "
                "(default 2)")
    g.addoption("--bench-mem-gib", type=float, default=DEFAULT_MEM_GIB, metavar="G",
                help=f"skip cells whose arrays exceed G GiB (default {DEFAULT_MEM_GIB:g})")
    g.addoption("--bench-backends", default=",".join(BACKENDS), metavar="LIST",
                help="comma-separated rows to run (default: numpy,numba,torch,jax)")
    g.addoption("--bench-scenario", default="idle", metavar="NAME",
                help="how kernels are timed: idle (default), serial, after-blas, busy-core, "
                "threads, a comma-separated list, or mixed (all): README, Sharing the machine")
    g.addoption("--bench-keep-data", action="store_true", default=False,
                help="keep every round's timing in the JSON (by default only the statistics: "
                "the full suite's raw timings run to hundreds of MB)")
    g.addoption("--bench-no-machine", action="store_true", default=False,
                help="skip the machine-peak probes (peak GFLOP/s, triad GB/s) after the timings")


def _backends(config: pytest.Config) -> list[str]:
    names = [s.strip() for s in config.getoption("bench_backends").split(",") if s.strip()]
    unknown = [n for n in names if n not in BACKENDS]
    if unknown or not names:
        raise pytest.UsageError(
            f"--bench-backends: unknown {unknown or 'empty list'}; "
            f"choose from {', '.join(BACKENDS)}")
    return names


def _scenarios(config: pytest.Config) -> tuple[str, ...]:
    text = config.getoption("bench_scenario")
    names = MIXED if text == "mixed" else tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown or not names:
        raise pytest.UsageError(f"--bench-scenario: unknown {unknown or 'empty list'}; choose "
                                f"from {', '.join(SCENARIOS)}, a list of them, or mixed")
    return names


def pytest_configure(config: pytest.Config) -> None:
    """Check the options, register the markers and set every thread pool before any timing."""
    config.addinivalue_line("markers", "seed_only: runs on the seed grid only (no wide case)")
    # A comparator row skipped for want of its package never reaches its benchmark fixture;
    # that is expected.
    config.addinivalue_line("filterwarnings",
                            "ignore:Benchmark fixture was not used at all:Warning")
    threads = config.getoption("bench_threads")
    if threads is None or threads < 1:
        raise pytest.UsageError(f"--bench-threads must be >= 1, got {threads}")
    _THREADS[0] = threads
    if not config.getoption("bench_mem_gib") > 0:
        raise pytest.UsageError("--bench-mem-gib must be > 0")
    _backends(config)
    _scenarios(config)
    nnkernels.set_num_threads(threads)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """--quick: bound each benchmark's timing (the full run keeps pytest-benchmark's defaults)."""
    if config.getoption("quick"):
        for item in items:
            item.add_marker(pytest.mark.benchmark(max_time=QUICK_MAX_TIME_S,
                                                  min_rounds=QUICK_MIN_ROUNDS))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize the cells (module scope, so their arrays are shared) and the backend rows."""
    quick = metafunc.config.getoption("quick")
    names = metafunc.fixturenames
    seed_only = metafunc.definition.get_closest_marker("seed_only") is not None
    # Module scope: pytest runs every kernel and backend of one cell before building the next.
    if "dense_cell" in names:
        cells = dense_cells(quick, seed_only)
        metafunc.parametrize("dense_cell", cells, ids=[c.id for c in cells], scope="module")
    if "mlp_cell" in names:
        cells = dense_cells(quick, seed_only)
        metafunc.parametrize("mlp_cell", cells, ids=[c.id for c in cells], scope="module")
    if "conv_shape" in names:
        shapes = conv_shapes(quick)
        metafunc.parametrize("conv_shape", shapes, ids=[s.id for s in shapes], scope="module")
    if "backend_name" in names:
        metafunc.parametrize("backend_name", _backends(metafunc.config))
    if "bench_scenario" in names:
        metafunc.parametrize("bench_scenario", _scenarios(metafunc.config))


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    """Record threads, memory budget, versions and thread pools with the results."""
    machine_info["nnkernels"] = {
        "version": nnkernels.__version__,
        "backends": list(available_backends()),
        "threads": config.getoption("bench_threads"),
        "quick": config.getoption("quick"),
        "scenario": config.getoption("bench_scenario"),
        "mem_budget_gib": config.getoption("bench_mem_gib"),
        "slow_call_rounds": {"above_s": SLOW_CALL_S, "rounds": SLOW_CALL_ROUNDS},
        "cpu_count": os.cpu_count(),
        "load_avg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "runtime": nnkernels.runtime_info(),
        "torch": config.stash.get(_TORCH_INFO, None),
        "jax": config.stash.get(_JAX_INFO, None),
        "machine": _machine_peak(config),
    }


def _machine_peak(config: pytest.Config) -> dict[str, Any] | None:
    """The machine's peaks (a few seconds, after every timing), or None when not measured."""
    if (config.getoption("bench_no_machine") or config.getoption("benchmark_disable", False)
            or "numba" not in available_backends()):
        return None
    from nnkernels import machine

    return machine.measure(quick=config.getoption("quick"))


def pytest_benchmark_update_json(config: pytest.Config, benchmarks: list,
                                  output_json: dict) -> None:
    """Drop the per-round timings from the JSON unless --bench-keep-data (stats stay)."""
    if not config.getoption("bench_keep_data"):
        for bench in output_json.get("benchmarks", []):
            bench.get("stats", {}).pop("data", None)


# -- fixtures ----------------------------------------------------------------------------


def _budget_bytes(config: pytest.Config) -> int:
    return int(config.getoption("bench_mem_gib") * 2**30)


def _skip_over_budget(config: pytest.Config, need: int, what: str) -> None:
    budget = _budget_bytes(config)
    if need > budget:
        pytest.skip(f"{what} needs {need / 2**30:.1f} GiB > --bench-mem-gib "
                    f"{budget / 2**30:.1f}")


def _forget_comparator_arrays(config: pytest.Config) -> None:
    """The cell is done: the comparators drop the tensors and device arrays they memoised."""
    for key in (_TORCH_BACKEND, _JAX_BACKEND):
        comparator = config.stash.get(key, None)
        if comparator is not None:
            comparator.forget()


def _comparator(request: pytest.FixtureRequest, package: str, cls: str, info_key: Any,
                backend_key: Any) -> Any:
    """The comparator row of ``package`` (torch or jax; skipped cleanly where it is not
    installed): its threads set to the suite's, its backend memoised for the session."""
    pytest.importorskip(package)
    ref = importlib.import_module(f".{package}_ref", __package__)
    request.config.stash[info_key] = ref.set_threads(request.config.getoption("bench_threads"))
    backend = request.config.stash[backend_key] = getattr(ref, cls)()
    return backend


@pytest.fixture(scope="session")
def torch_backend(request: pytest.FixtureRequest) -> Any:
    """PyTorch's comparator row."""
    return _comparator(request, "torch", "TorchBackend", _TORCH_INFO, _TORCH_BACKEND)


@pytest.fixture(scope="session")
def jax_backend(request: pytest.FixtureRequest) -> Any:
    """JAX's comparator row (``jax.jit``)."""
    return _comparator(request, "jax", "JaxBackend", _JAX_INFO, _JAX_BACKEND)


def _skip_jax_over_budget(request: pytest.FixtureRequest) -> None:
    """The jax row holds device copies of a cell's inputs (XLA on CPU does not alias numpy
    memory; checked with jax 0.10) and returns new outputs instead of filling the cell's: its
    dense and conv cells are charged twice their bytes. (An MLP cell's copies are x and y only,
    (N, D_in + D_out): the charge of five (N, H) arrays covers them.)"""
    sizes = (("dense_cell", DenseCell.dense_bytes), ("conv_shape", ConvShape.conv_bytes))
    for name, size in sizes:
        if name in request.fixturenames:
            cell = request.getfixturevalue(name)
            _skip_over_budget(request.config, 2 * size(cell), f"{cell.id} with jax's copies")


@pytest.fixture
def backend(backend_name: str, request: pytest.FixtureRequest) -> Any:
    """The backend of this row: an ``nnkernels.Backend``, or the PyTorch or JAX comparator."""
    if backend_name == "jax":
        _skip_jax_over_budget(request)
    if backend_name in ("torch", "jax"):
        return request.getfixturevalue(f"{backend_name}_backend")
    if backend_name not in available_backends():
        pytest.skip(f"backend {backend_name!r} is not available here")
    return get_backend(backend_name)


@pytest.fixture(scope="module")
def dense_data(dense_cell: DenseCell, request: pytest.FixtureRequest) -> Iterator[DenseData]:
    """The arrays of one dense cell, shared by its kernels and backends, freed afterwards."""
    _skip_over_budget(request.config, dense_cell.dense_bytes(), dense_cell.id)
    yield DenseData(dense_cell)
    _forget_comparator_arrays(request.config)


@pytest.fixture(scope="module")
def mlp_data(mlp_cell: DenseCell, request: pytest.FixtureRequest) -> Iterator[MlpData]:
    """x and y of one MLP cell (parameters are fresh per backend)."""
    _skip_over_budget(request.config, mlp_cell.mlp_bytes(), mlp_cell.id)
    yield MlpData(mlp_cell)
    _forget_comparator_arrays(request.config)


@pytest.fixture(scope="module")
def conv_data(conv_shape: Any, request: pytest.FixtureRequest) -> Iterator[ConvData]:
    """The arrays of one conv shape, shared by its kernels and backends."""
    _skip_over_budget(request.config, conv_shape.conv_bytes(), conv_shape.id)
    yield ConvData(conv_shape)
    _forget_comparator_arrays(request.config)


@pytest.fixture
def timed(benchmark: Any, backend: Any, bench_scenario: str,
          request: pytest.FixtureRequest) -> Callable[..., Any]:
    """``timed(fn, kernel=..., info=..., group=...)``: warm up ``fn`` once, then benchmark it
    in this run's scenario (``--bench-scenario``).

    The untimed first call compiles the numba kernel (or loads it from the on-disk cache) and
    faults in the output pages, so pytest-benchmark calibrates on steady-state calls. When the
    second (untimed) call is slower than ``SLOW_CALL_S``, ``SLOW_CALL_ROUNDS`` rounds are timed.
    """
    threads = request.config.getoption("bench_threads")

    def run(fn: Callable[[], Any], *, kernel: str, info: dict[str, Any], group: str,
            ops_per_call: int = 1) -> Any:
        benchmark.group = group if bench_scenario == "idle" else f"{group} [{bench_scenario}]"
        benchmark.extra_info.update(kernel=kernel, backend=backend.name, threads=threads,
                                    ops_per_call=ops_per_call, scenario=bench_scenario, **info)
        if benchmark.disabled:
            return benchmark(fn)
        # The previous benchmark's thread pools keep spinning after their last call (OpenBLAS
        # workers for about 0.1 s): let them go idle, so that each backend is timed on cores
        # of its own instead of paying for the one before it (seen as 8-16 ms stalls here).
        time.sleep(POOL_IDLE_S)
        fn()  # compiles (numba) or loads from the cache; never timed
        t0 = time.perf_counter()
        fn()
        slow = time.perf_counter() - t0 > SLOW_CALL_S
        if bench_scenario != "idle":
            rounds = SLOW_CALL_ROUNDS if slow else SCENARIO_ROUNDS
            with _scenario(bench_scenario, fn) as (target, setup):
                return benchmark.pedantic(target, setup=setup, rounds=rounds, iterations=1)
        if slow:
            # A call this slow needs no calibration; a few rounds bound the full run's time.
            benchmark.extra_info["rounds_bounded"] = True
            return benchmark.pedantic(fn, rounds=SLOW_CALL_ROUNDS, iterations=1)
        return benchmark(fn)

    return run


_THREADS = [2]  # --bench-threads, for the serial scenario to restore
_BUSY_LOOP = "import time\nend = time.monotonic() + {s}\nwhile time.monotonic() < end:\n    pass\n"


@contextmanager
def _scenario(name: str, fn: Callable[[], Any]
              ) -> Iterator[tuple[Callable[[], Any], Callable[[], Any] | None]]:
    """(the function to time, an untimed setup before each round) for a non-idle scenario."""
    if name == "serial":
        nnkernels.set_num_threads(1)
        try:
            yield fn, None
        finally:
            nnkernels.set_num_threads(_THREADS[0])
    elif name == "after-blas":
        a = np.random.default_rng(0).standard_normal((200, 200))

        def blas_call() -> None:  # pytest-benchmark reads a setup's result as (args, kwargs)
            a @ a

        yield fn, blas_call
    elif name == "busy-core":
        busy = subprocess.Popen([sys.executable, "-c", _BUSY_LOOP.format(s=BUSY_PROCESS_MAX_S)])
        try:
            time.sleep(0.05)  # let it start spinning
            yield fn, None
        finally:
            busy.kill()
            busy.wait()
    else:  # threads: a second Python thread makes the same call at the same time
        gate = threading.Barrier(2)
        stop = threading.Event()

        def partner() -> None:
            while True:
                gate.wait()
                if stop.is_set():
                    return
                fn()
                gate.wait()

        helper = threading.Thread(target=partner, daemon=True)
        helper.start()

        def pair() -> None:
            gate.wait()
            fn()
            gate.wait()

        try:
            yield pair, None
        finally:
            stop.set()
            gate.wait()
            helper.join()
