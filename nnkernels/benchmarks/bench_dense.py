"""Dense-layer, ReLU, squared-loss and SGD kernels: backend x N x H x dtype (seed and wide grids).

Elementwise kernels (relu_forward, relu_backward, mse_loss, sgd_update) run on an (N, H) array,
the size of the hidden activation, and on the seed grid only (the wide grid adds GEMMs, not new
elementwise sizes). Every call writes into preallocated outputs (``out=``, ``*_out``), as a
training loop that reuses its buffers does; linear_backward accumulates into dw/db.
"""

from __future__ import annotations

from typing import Any

import pytest

from .cases import DenseData


def test_linear_forward(timed: Any, backend: Any, dense_data: DenseData) -> None:
    d = dense_data
    timed(lambda: backend.linear_forward(d.x, d.w, d.b, out=d.out), kernel="linear_forward",
          info=d.cell.info(), group=d.cell.group("linear_forward"))


def test_linear_relu_forward(timed: Any, backend: Any, dense_data: DenseData) -> None:
    d = dense_data
    timed(lambda: backend.linear_relu_forward(d.x, d.w, d.b, out=d.out),
          kernel="linear_relu_forward", info=d.cell.info(),
          group=d.cell.group("linear_relu_forward"))


def test_linear_backward(timed: Any, backend: Any, dense_data: DenseData) -> None:
    d = dense_data
    timed(lambda: backend.linear_backward(d.x, d.w, d.a, dx_out=d.dx, dw_out=d.dw, db_out=d.db),
          kernel="linear_backward", info=d.cell.info(), group=d.cell.group("linear_backward"))


@pytest.mark.seed_only
def test_relu_forward(timed: Any, backend: Any, dense_data: DenseData) -> None:
    d = dense_data
    timed(lambda: backend.relu_forward(d.a, out=d.out), kernel="relu_forward",
          info=d.cell.info(), group=d.cell.group("relu_forward"))


@pytest.mark.seed_only
def test_relu_backward(timed: Any, backend: Any, dense_data: DenseData) -> None:
    d = dense_data
    timed(lambda: backend.relu_backward(d.a, d.c, out=d.out), kernel="relu_backward",
          info=d.cell.info(), group=d.cell.group("relu_backward"))


@pytest.mark.seed_only
def test_mse_loss(timed: Any, backend: Any, dense_data: DenseData) -> None:
    d = dense_data
    timed(lambda: backend.mse_loss(d.a, d.c, out=d.out), kernel="mse_loss",
          info=d.cell.info(), group=d.cell.group("mse_loss"))


@pytest.mark.seed_only
def test_sgd_update(timed: Any, backend: Any, dense_data: DenseData) -> None:
    d = dense_data
    # The parameter is the output buffer: any finite values do, and the inputs stay untouched.
    timed(lambda: backend.sgd_update(d.out, d.a, 1e-3), kernel="sgd_update",
          info=d.cell.info(), group=d.cell.group("sgd_update"))
