"""``nnkernels example``: both backends compute the same gradient of a small ReLU layer."""

from __future__ import annotations

import argparse
import time

import numpy as np

import nnkernels


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    """Register the sub-command."""
    p = sub.add_parser(name, help=__doc__.split(":", 1)[1].strip())
    p.add_argument("--records", type=int, default=700, help="number of records N (default 700)")
    p.add_argument("--hidden", type=int, default=10, help="hidden units H (default 10)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Forward and backward of relu(x @ w + b) with a squared loss, on every backend."""
    from . import CommandError

    if args.records < 0 or args.hidden < 1:
        raise CommandError("--records must be >= 0 and --hidden >= 1")
    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, 5.0, size=(args.records, 1))
    target = x**3 + 4.0
    w = rng.standard_normal((1, args.hidden))
    b = rng.standard_normal(args.hidden)
    print(nnkernels.runtime_info()["threadpools"][0]["internal_api"], "BLAS;",
          "backends:", ", ".join(nnkernels.available_backends()))
    results = {}
    for name in nnkernels.available_backends():
        be = nnkernels.get_backend(name)
        be.warmup()
        t0 = time.perf_counter()
        h = be.linear_relu_forward(x, w, b)
        loss, dh = be.mse_loss(h.sum(axis=1, keepdims=True), target)
        _, dw, db = be.linear_backward(x, w, be.relu_backward(np.repeat(dh, args.hidden, 1), h))
        dt = time.perf_counter() - t0
        results[name] = (loss, dw, db)
        print(f"{name:>6}: loss={loss:.6g}  |dw|={np.linalg.norm(dw):.6g}  "
              f"|db|={np.linalg.norm(db):.6g}  ({dt * 1e6:.0f} us)")
    ref = results["numpy"]
    for name, (loss, dw, db) in results.items():
        ok = np.isclose(loss, ref[0]) and np.allclose(dw, ref[1]) and np.allclose(db, ref[2])
        print(f"{name} matches numpy: {ok}")
    return 0
