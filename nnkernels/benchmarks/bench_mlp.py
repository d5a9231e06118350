"""The MLP training step ``mlp_train``: backend x N x H x dtype (seed and wide grids).

Each timed call runs ``cell.mlp_steps_per_call()`` full-batch SGD steps (ten, or one in the big
cells and the per-call overhead cells); ``ops_per_call`` in the results lets the report quote the
time per step. PyTorch's row is the autograd loop a user would write, JAX's the jitted step
(value_and_grad + SGD, parameters donated). Skipped cleanly while the library has no
``mlp_train``.
"""

from __future__ import annotations

from typing import Any

from .cases import MlpData


def test_mlp_train(timed: Any, backend: Any, mlp_data: MlpData) -> None:
    d = mlp_data
    params = d.params()
    steps = d.cell.mlp_steps_per_call()
    timed(lambda: backend.mlp_train(d.x, d.y, params, d.lr, steps), kernel="mlp_train",
          info=d.cell.info(), group=d.cell.group("mlp_train"), ops_per_call=steps)
