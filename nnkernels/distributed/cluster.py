"""Which cluster to use, and getting its workers ready for the kernels.

``client=None`` means the current ``distributed`` client (``distributed.get_client()``), else a
``LocalCluster`` on 127.0.0.1 (worker processes, one thread each) started for the call and
closed after it. Worker processes import nnkernels from their own ``sys.path``: a
``LocalCluster`` started here puts the source checkout the client runs (if it runs one) first
on the workers' ``PYTHONPATH``, so that both run the same code; on a real cluster
nnkernels (with numba) must be installed on every worker, which
:func:`check_workers` verifies.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import distributed

from ._deps import INSTALL_HINT

# Environment of the workers of a LocalCluster started here: one thread in every pool (the
# kernels' parallelism is the workers).
WORKER_ENV = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
              "MKL_NUM_THREADS": "1"}
DEFAULT_WORKERS = 2


def _worker_path() -> str:
    """PYTHONPATH for local workers: a source checkout of the nnkernels this process runs comes
    first, so that the workers run the same code as the client (an installed copy needs
    nothing)."""
    import nnkernels

    root = Path(nnkernels.__file__).resolve().parents[1]
    parts = [str(root)] if (root / "pyproject.toml").exists() else []
    if os.environ.get("PYTHONPATH"):
        parts.append(os.environ["PYTHONPATH"])
    return os.pathsep.join(parts)


def local_cluster(n_workers: int = DEFAULT_WORKERS, **kwargs: Any) -> distributed.LocalCluster:
    """A LocalCluster of ``n_workers`` worker processes with one thread each, on 127.0.0.1 only,
    the dashboard on a free port; ``kwargs`` (memory_limit=, env=, ...) go to LocalCluster."""
    env = {**WORKER_ENV, **kwargs.pop("env", {})}
    env.setdefault("PYTHONPATH", _worker_path())
    options = dict(n_workers=n_workers, threads_per_worker=1, processes=True,
                   host="127.0.0.1", dashboard_address=":0", env=env)
    options.update(kwargs)
    return distributed.LocalCluster(**options)


@contextlib.contextmanager
def cluster(client: distributed.Client | None = None, **cluster_kwargs: Any
            ) -> Iterator[distributed.Client]:
    """The given client, else the current one, else a new LocalCluster's (closed on exit)."""
    if client is not None:
        yield client
        return
    try:
        yield distributed.get_client()
        return
    except ValueError:  # no client: start one
        pass
    with local_cluster(**cluster_kwargs) as lc, distributed.Client(
            lc, set_as_default=False) as own:
        yield own


def _probe(modules: Sequence[str]) -> dict[str, str]:
    """On a worker: import ``modules``; their versions (ImportError propagates)."""
    found = {}
    for name in modules:
        mod = importlib.import_module(name)
        found[name] = str(getattr(mod, "__version__", "?"))
    return found


def check_workers(client: distributed.Client,
                  modules: Sequence[str] = ("nnkernels", "numba")) -> dict[str, dict[str, str]]:
    """Every worker can import ``modules``: their versions per worker, else RuntimeError naming
    the workers that cannot (and why)."""
    results = client.run(_probe, tuple(modules), on_error="return")
    if not results:
        raise RuntimeError(f"the cluster at {client.scheduler.address} has no workers")
    bad = {addr: r for addr, r in results.items() if isinstance(r, BaseException)}
    if bad:
        lines = "; ".join(f"worker {addr}: {type(e).__name__}: {e}" for addr, e in bad.items())
        raise RuntimeError(f"{len(bad)} of {len(results)} workers cannot run the nnkernels "
                           f"kernels ({lines}); install nnkernels with numba on every worker: "
                           f"{INSTALL_HINT}")
    return results


def _prepare_worker() -> None:
    """On a worker: one thread in every pool of the process, the training kernels loaded (from
    numba's on-disk cache: compiled once per machine, loaded once per process)."""
    import nnkernels
    from nnkernels.kernels.numba_backend import training

    nnkernels.set_num_threads(1)
    training.warmup_grad()


def prepare_workers(client: distributed.Client) -> dict[str, dict[str, str]]:
    """check_workers, then _prepare_worker on each; returns check_workers' versions."""
    versions = check_workers(client)
    client.run(_prepare_worker)
    return versions


_thread = threading.local()


def one_numba_thread() -> None:
    """In a task: this worker thread starts numba regions of one thread (numba's thread count
    is per calling thread): workers x threads, never more, run on the cores."""
    if not getattr(_thread, "ready", False):
        import numba

        numba.set_num_threads(1)
        _thread.ready = True


def workers_info(client: distributed.Client) -> dict[str, dict[str, Any]]:
    """The scheduler's record of every worker (address -> info with ``memory_limit``)."""
    try:
        info = client.scheduler_info(n_workers=-1)  # newer distributed lists 5 by default
    except TypeError:
        info = client.scheduler_info()
    return info["workers"]


def connect(address: str | None = None, n_workers: int = DEFAULT_WORKERS,
            **cluster_kwargs: Any) -> tuple[distributed.Client, Any]:
    """(client, cluster): a client of the scheduler at ``address`` (cluster None), else of a
    new local_cluster(n_workers, **cluster_kwargs); close both when done."""
    if address:
        return distributed.Client(address, timeout="30s"), None
    lc = local_cluster(n_workers, **cluster_kwargs)
    return distributed.Client(lc, set_as_default=False), lc
