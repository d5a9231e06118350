"""Shared by the kernel tests: hypothesis strategies and cases for the dense-shaped kernels, the
MLP problem of mlp_train, and the check that bad input raises the same error from every
backend."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np
import pytest
from hypothesis import strategies as st

import nnkernels
from nnkernels.testing import LAYOUTS, with_layout
from tests.conftest import BACKENDS


@st.composite
def dense_case(draw: st.DrawFn, max_n: int = 300) -> dict:
    """x (N, D), w (D, H), b (H,) or None, dy (N, H), each in a drawn layout and dtype."""
    n = draw(st.one_of(st.sampled_from([0, 1]), st.integers(0, max_n)))
    d = draw(st.one_of(st.just(1), st.integers(1, 24)))  # 24 crosses the BLAS threshold
    h = draw(st.one_of(st.just(1), st.integers(1, 40)))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))

    def arr(*shape: int) -> np.ndarray:
        return with_layout(rng.standard_normal(shape).astype(dtype), draw(st.sampled_from(LAYOUTS)))

    b = arr(h) if draw(st.booleans()) else None
    return dict(x=arr(n, d), w=arr(d, h), b=b, dy=arr(n, h))


# Shapes above the parallel and BLAS thresholds, so every jitted path is compared too.
LARGE = [(20_000, 1, 10), (4_000, 3, 64), (6_000, 8, 40), (3_000, 20, 50), (1_000, 64, 300)]


def large_case(n: int, d: int, h: int, dtype: type) -> dict:
    """x, w, b, dy as ``dense_case`` draws them, C-contiguous, of the given (large) shape."""
    rng = np.random.default_rng(n + d + h)
    return dict(x=rng.standard_normal((n, d)).astype(dtype),
                w=rng.standard_normal((d, h)).astype(dtype),
                b=rng.standard_normal(h).astype(dtype),
                dy=rng.standard_normal((n, h)).astype(dtype))


def mlp_problem(n: int, d: int, h: int, o: int, dtype, seed: int = 0):
    """x (n, d), y (n, o) and params [w1, b1, w2, b2] of a small MLP, in ``dtype``."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(dtype)
    y = rng.standard_normal((n, o)).astype(dtype)
    params = [(rng.standard_normal((d, h)) / np.sqrt(d)).astype(dtype),
              rng.uniform(-0.5, 0.5, h).astype(dtype),
              (rng.standard_normal((h, o)) / np.sqrt(h)).astype(dtype),
              rng.standard_normal(o).astype(dtype)]
    return x, y, params


def conv_case(shape, dtype, seed=0):
    """x, w, b, stride, padding of a conv2d for shape (N, C, H, W, F, KH, KW, stride, padding)."""
    n, c, h, wd, f, kh, kw, stride, padding = shape
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, wd)).astype(dtype)
    w = rng.standard_normal((f, c, kh, kw)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    return x, w, b, stride, padding


Words = Sequence["str | re.Pattern[str]"]


def assert_same_error(call: Callable[[nnkernels.Backend], object], exc: type[Exception],
                      words: Words) -> None:
    """``call(backend)`` raises ``exc`` on every backend, with the same message, containing each
    of ``words`` (a literal substring, or a compiled pattern to search for)."""
    messages = set()
    for name in BACKENDS:
        with pytest.raises(exc) as info:
            call(nnkernels.get_backend(name))
        message = str(info.value)
        for word in words:
            if isinstance(word, re.Pattern):
                assert word.search(message), (word.pattern, message)
            else:
                assert word in message, (word, message)
        messages.add(message)
    assert len(messages) == 1, messages
