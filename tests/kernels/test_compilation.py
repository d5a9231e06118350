"""Compilation of the numba kernels: the on-disk cache (a second process loads the compiled
kernels instead of compiling) and warm-up (after nnkernels.warmup(), no call of any numba kernel
compiles again)."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nnkernels

pytestmark = pytest.mark.skipif("numba" not in nnkernels.available_backends(),
                                reason="numba is not installed")

# -- the on-disk cache ---------------------------------------------------------------------------

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


# -- warm-up -------------------------------------------------------------------------------------

def _signature_counts() -> dict[str, int]:
    from numba.core.registry import CPUDispatcher

    counts = {}
    for name in ("dense", "elementwise", "rowwise", "optim", "conv", "pool", "training"):
        module = importlib.import_module(f"nnkernels.kernels.numba_backend.{name}")
        for attr, f in vars(module).items():
            if isinstance(f, CPUDispatcher):
                counts[f"{name}.{attr}"] = len(f.signatures)
    return counts


def test_warmup_compiles_every_path(dtype) -> None:
    """In a fresh process, so that no earlier test has compiled a specialisation already."""
    root = Path(__file__).resolve().parents[2]
    code = f"from tests.kernels.test_compilation import check; check({np.dtype(dtype).name!r})"
    path = os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, PYTHONPATH=path)
    done = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def check(dtype_name: str) -> None:
    """Warm up, call every kernel on every path, and fail on any new compiled signature."""
    dtype = np.dtype(dtype_name).type
    nnkernels.warmup()
    before = _signature_counts()
    be = nnkernels.get_backend("numba")
    rng = np.random.default_rng(0)
    # Shapes on both sides of every size threshold: serial and parallel, row loops and BLAS.
    for n, d, h in [(5, 1, 3), (30_000, 1, 10), (3_000, 8, 40), (3_000, 64, 128), (300, 64, 5)]:
        x, w = rng.standard_normal((n, d)).astype(dtype), rng.standard_normal((d, h)).astype(dtype)
        b, dy = rng.standard_normal(h).astype(dtype), rng.standard_normal((n, h)).astype(dtype)
        be.linear_forward(x, w, b)
        be.linear_forward(x, w)
        be.linear_relu_forward(x, w, b)
        be.linear_backward(x, w, dy)
        be.linear_backward(x, w, dy, need_dx=False)
        be.relu_forward(dy)
        be.relu_backward(dy, dy)
        be.mse_loss(dy, dy, "sum")
        be.sgd_update(dy.copy(), dy, 0.1)
        be.adam_update([dy.copy(), b.copy()], [dy, b], [np.zeros_like(dy), np.zeros_like(b)],
                       [np.zeros_like(dy), np.zeros_like(b)], 0.01, step=3)
        params = [w.copy(), np.zeros(h, dtype), rng.standard_normal((h, 2)).astype(dtype),
                  np.zeros(2, dtype)]
        be.mlp_train(x, rng.standard_normal((n, 2)).astype(dtype), params, 1e-4, 2)
        be.mlp_grad(x, rng.standard_normal((n, 2)).astype(dtype), params)
        be.mlp_grad(x, rng.standard_normal((n, 1)).astype(dtype), [params[0], params[1],
                    params[2][:, :1].copy(), params[3][:1].copy()])
        be.mlp_train(x[:, :1], rng.standard_normal((n, 1)).astype(dtype),
                     [w[:1].copy(), np.zeros(h, dtype), np.zeros((h, 1), dtype),
                      np.zeros(1, dtype)], 1e-4, 2)
        order = rng.permutation(n)
        for batch, momentum in [(1, 0.0), (64, 0.9), (n, 0.0), (n, 0.5)]:
            be.mlp_train_minibatch(x, rng.standard_normal((n, 2)).astype(dtype), params, 1e-4,
                                   order, batch, momentum=momentum)
    for shape, stride, pad in [((64, 3, 16, 16), 1, 1), ((8, 2, 9, 7), 2, 0)]:
        xx = rng.standard_normal(shape).astype(dtype)
        ww = rng.standard_normal((4, shape[1], 3, 3)).astype(dtype)
        y = be.conv2d_forward(xx, ww, np.zeros(4, dtype), stride=stride, padding=pad)
        be.conv2d_backward(xx, ww, y, stride=stride, padding=pad)
        yp, argmax = be.maxpool2d_forward(y)
        be.maxpool2d_backward(yp, argmax, y.shape)
    logits = rng.standard_normal((50, 10)).astype(dtype)
    be.softmax_cross_entropy(logits, rng.integers(0, 10, 50))
    be.softmax(logits)
    be.sgd_momentum_update(logits.copy(), logits, np.zeros_like(logits), 0.1, 0.9)
    after = _signature_counts()
    assert {k: (before[k], v) for k, v in after.items() if v != before[k]} == {}
