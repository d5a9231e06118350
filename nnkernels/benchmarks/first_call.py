"""Time the first call of every numba kernel in a fresh process (the compile, or the cache load).

``python -m nnkernels.benchmarks.first_call [--dtypes float64 float32]`` prints one JSON object:
``import_s`` (importing nnkernels and the numba backend), and per ``kernel[dtype]`` the first
call (``first_call_s``) and the second, steady-state call (``steady_s``), at the seed's size
(N = 700, H = 10; conv at a small shape). Run it with a fresh ``NUMBA_CACHE_DIR`` for the cold
compile, then again with the same directory for the cached first call.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from typing import Any


def _calls(be: Any, dtype: str) -> list[tuple[str, Callable[[], Any]]]:
    """(kernel, zero-argument call) for every kernel the backend has, at small sizes."""
    from .cases import MLP_LR, ConvData, ConvShape, DenseCell, DenseData, MlpData

    d = DenseData(DenseCell("seed", 700, 10, 1, 1, dtype))
    calls: list[tuple[str, Callable[[], Any]]] = [
        ("linear_forward", lambda: be.linear_forward(d.x, d.w, d.b, out=d.out)),
        ("linear_relu_forward", lambda: be.linear_relu_forward(d.x, d.w, d.b, out=d.out)),
        ("linear_backward",
         lambda: be.linear_backward(d.x, d.w, d.a, dx_out=d.dx, dw_out=d.dw, db_out=d.db)),
        ("relu_forward", lambda: be.relu_forward(d.a, out=d.out)),
        ("relu_backward", lambda: be.relu_backward(d.a, d.c, out=d.out)),
        ("mse_loss", lambda: be.mse_loss(d.a, d.c, out=d.out)),
        ("sgd_update", lambda: be.sgd_update(d.out, d.a, 1e-3)),
    ]
    if hasattr(be, "mlp_train"):
        m = MlpData(d.cell)
        params = m.params()
        calls.append(("mlp_train", lambda: be.mlp_train(m.x, m.y, params, MLP_LR, 1)))
    if hasattr(be, "conv2d_forward") and hasattr(be, "conv2d_backward"):
        c = ConvData(ConvShape(8, 3, 16, 16, 4, 3, 1, 1, dtype))
        calls.append(("conv2d_forward", lambda: be.conv2d_forward(c.x, c.w, c.b, 1, 1)))
        calls.append(("conv2d_backward", lambda: be.conv2d_backward(c.x, c.w, c.dy, 1, 1)))
    return calls


def measure(dtypes: Sequence[str], backend: str = "numba") -> dict[str, Any]:
    """Import the library, then time each kernel's first and second call per dtype."""
    t0 = time.perf_counter()
    from nnkernels.kernels import get_backend

    be = get_backend(backend)
    result: dict[str, Any] = {"backend": backend, "import_s": time.perf_counter() - t0,
                              "first_call_s": {}, "steady_s": {}}
    for dtype in dtypes:
        for kernel, call in _calls(be, dtype):
            key = f"{kernel}[{dtype}]"
            t = time.perf_counter()
            call()
            result["first_call_s"][key] = time.perf_counter() - t
            t = time.perf_counter()
            call()
            result["steady_s"][key] = time.perf_counter() - t
    result["total_first_call_s"] = sum(result["first_call_s"].values())
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry: print the measurement as one JSON line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dtypes", nargs="+", default=["float64", "float32"],
                   choices=["float32", "float64"])
    p.add_argument("--backend", default="numba")
    args = p.parse_args(argv)
    print(json.dumps(measure(args.dtypes, args.backend)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
