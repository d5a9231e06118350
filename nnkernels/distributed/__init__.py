"""Data-parallel training on a dask cluster: chunked arrays, the numba kernels on the workers.

Needs the ``dask`` extra (``pip install "nnkernels[dask]"``); ``import nnkernels`` never
imports this package, and importing it loads dask only when one of its functions is used.

- :func:`linear_backward` for ``dask.array`` inputs: ``dx`` a dask array; ``dw`` / ``db``
  summed over row blocks by a fixed-order pairwise tree.
- :func:`mlp_grad`: the loss and gradient sums of the one-hidden-layer MLP over a chunked
  dataset, each block's partial computed where it lives by the ``mlp_grad`` kernel.
- :func:`fit_mlp`: full-batch SGD over a chunked dataset (data persisted once on the workers,
  parameters broadcast each step, the update applied once on the client).
- :func:`fit_estimator` / :func:`predict_estimator`: ``MLPRegressor`` and ``MLPClassifier`` on
  dask arrays (full batch, any depth, the estimators' solvers: SGD, momentum, Adam).

Every sum over blocks runs in chunk order along one pairwise tree that depends on the number
of blocks only: results are bitwise the same for any number of workers and any scheduling.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "linear_backward": "nnkernels.distributed.arrays",
    "tree_sum": "nnkernels.distributed.arrays",
    "mlp_grad": "nnkernels.distributed.training",
    "fit_mlp": "nnkernels.distributed.training",
    "Step": "nnkernels.distributed.training",
    "cluster": "nnkernels.distributed.cluster",
    "check_workers": "nnkernels.distributed.cluster",
    "make_cubic_blocks": "nnkernels.distributed.data",
    "fit_estimator": "nnkernels.distributed.estimators",
    "predict_estimator": "nnkernels.distributed.estimators",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import the submodule of ``name`` (and with it dask) on first use."""
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from ._deps import require

    require()
    return getattr(importlib.import_module(_EXPORTS[name]), name)
