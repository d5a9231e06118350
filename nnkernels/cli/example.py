"""``nnkernels example``: both backends compute the same gradient of a small ReLU layer."""

from __future__ import annotations

import argparse
import time

import numpy as np

import nnkernels


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    """Register the sub-command."""
    p = sub.add_parser(name, help="both backends compute the same gradient of one ReLU layer",
                       description="Forward and backward of relu(x @ w + b) with a squared "
                       "loss on every backend, the result of each against numpy's, and the "
                       "thread pools in use by role (numpy's BLAS, numba's BLAS, numba's "
                       "threading layer). Writes no files.")
    p.add_argument("--records", type=int, default=700, help="number of records N (default 700)")
    p.add_argument("--hidden", type=int, default=10, help="hidden units H (default 10)")
    p.add_argument("--quiet", action="store_true",
                   help="only the comparison lines (no thread pools, no timings)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Forward and backward of relu(x @ w + b) with a squared loss, on every backend."""
    from . import CommandError
    from ._common import thread_pools_by_role

    if args.records < 0 or args.hidden < 1:
        raise CommandError("--records must be >= 0 and --hidden >= 1")
    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, 5.0, size=(args.records, 1))
    target = x**3 + 4.0
    w = rng.standard_normal((1, args.hidden))
    b = rng.standard_normal(args.hidden)
    if not args.quiet:
        print("backends:", ", ".join(nnkernels.available_backends()))
        for line in thread_pools_by_role():
            print(f"  {line}")
    results = {}
    for name in nnkernels.available_backends():
        be = nnkernels.get_backend(name)

        def step(be: nnkernels.Backend = be) -> tuple:
            h = be.linear_relu_forward(x, w, b)
            loss, dh = be.mse_loss(h.sum(axis=1, keepdims=True), target)
            _, dw, db = be.linear_backward(x, w, be.relu_backward(np.repeat(dh, args.hidden, 1),
                                                                  h))
            return loss, dw, db

        step()  # compiles (numba) the kernels used here only; not timed
        t0 = time.perf_counter()
        loss, dw, db = step()
        dt = time.perf_counter() - t0
        results[name] = (loss, dw, db)
        if not args.quiet:
            print(f"{name:>6}: loss={loss:.6g}  |dw|={np.linalg.norm(dw):.6g}  "
                  f"|db|={np.linalg.norm(db):.6g}  ({dt * 1e6:.0f} us)")
    ref = results["numpy"]
    for name, (loss, dw, db) in results.items():
        ok = np.isclose(loss, ref[0]) and np.allclose(dw, ref[1]) and np.allclose(db, ref[2])
        print(f"{name} matches numpy: {ok}")
    return 0
