"""Parameter grids of the benchmark suite, the memory rule for big cells, and their input arrays.

A *cell* is one point of a grid (records N, hidden units H, dtype, ...); every kernel and every
backend of a cell runs on the same arrays, created once per cell and freed before the next one.

Memory rule: a cell runs only when the arrays it holds fit in the memory budget
(``--bench-mem-gib``, default :data:`DEFAULT_MEM_GIB`). Dense cells hold three (N, H) arrays
(input, second input, output) plus (N, D_in) inputs and gradients; MLP cells are charged five
(N, H) arrays, what the numpy reference and PyTorch's autograd keep alive during one step. With
the default budget only N = 1,000,000 x H = 1000 is skipped (float32: 3 x 4 GB, float64: 3 x 8 GB).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

BACKENDS = ("numpy", "numba", "torch", "jax")
DTYPES = ("float32", "float64")
DEFAULT_MEM_GIB = 4.0

# The seed's network: one input, one output, N records, H hidden units.
SEED_N = (700, 10_000, 100_000, 1_000_000)
SEED_H = (10, 100, 1000)
# A wider network, where the GEMMs dominate.
WIDE_N = (10_000, 100_000)
WIDE_H = (256, 1024)
WIDE_D_IN, WIDE_D_OUT = 64, 10
# Per-call overhead: the seed's network at N = 64 (a mini-batch), where a call's arithmetic takes
# well under a microsecond, so its time is what the interface costs (issue 9, item 4). mlp_train
# runs one step per call here.
OVERHEAD_N, OVERHEAD_H = 64, 10
# --quick: enough cells to exercise every path (serial and parallel, row loops and BLAS).
QUICK_SEED_N = (700, 100_000)
QUICK_SEED_H = (10, 100)
QUICK_SEED_DTYPES = ("float64",)
QUICK_WIDE = ((10_000, 256, "float32"),)
# pytest-benchmark limits per benchmark in --quick mode (the full run keeps its defaults).
QUICK_MAX_TIME_S = 0.1
QUICK_MIN_ROUNDS = 3

# A warmed-up call slower than this is timed in a fixed number of rounds (no calibration),
# instead of pytest-benchmark's default (one calibration call and at least five rounds).
SLOW_CALL_S = 0.25
SLOW_CALL_ROUNDS = 3

# Pause before each benchmark so that the thread pools of the one before have gone idle.
POOL_IDLE_S = 0.15
# --bench-scenario: how each kernel is timed. "idle" (the default) after POOL_IDLE_S of quiet;
# the others are what a user's process looks like (README: Sharing the machine):
#   serial:     numba and the BLAS pools at one thread: the yardstick of the others;
#   after-blas: each round right after a numpy BLAS call (a 200 x 200 matmul, about 0.3 ms,
#               whose OpenBLAS workers then spin for tens of ms);
#   busy-core:  while a process started by the suite keeps one core busy;
#   threads:    two Python threads calling the kernel at once (time of the pair).
SCENARIOS = ("idle", "serial", "after-blas", "busy-core", "threads")
MIXED = SCENARIOS  # --bench-scenario mixed: every scenario, side by side in one report
SCENARIO_ROUNDS = 30
# The busy process ends itself after this long, whatever happens to the suite.
BUSY_PROCESS_MAX_S = 600

# Training steps per timed mlp_train call (the report divides by it: time per step); one step
# per call from MLP_SINGLE_STEP_WORK = N * H on, where a step alone takes milliseconds.
MLP_ITERS_PER_CALL = 10
MLP_SINGLE_STEP_WORK = 1_000_000
MLP_LR = 1e-3


@dataclass(frozen=True)
class DenseCell:
    """One (N, H, dtype) point of the dense grids; ``case`` is "seed" or "wide"."""

    case: str
    n: int
    h: int
    d_in: int
    d_out: int
    dtype: str

    @property
    def id(self) -> str:
        """Test id, e.g. ``seed-N700-H10-float64`` (``overhead-N64-H10-float64``)."""
        return f"{self.case}-N{self.n}-H{self.h}-{self.dtype}"

    def info(self) -> dict[str, Any]:
        """Structured parameters stored in each benchmark's ``extra_info``."""
        return {"case": self.case, "N": self.n, "H": self.h, "D_in": self.d_in,
                "D_out": self.d_out, "dtype": self.dtype}

    def group(self, kernel: str) -> str:
        """pytest-benchmark group: one (kernel, N, H, dtype) cell, one row per backend."""
        wide = f" D_in={self.d_in} D_out={self.d_out}" if self.case == "wide" else ""
        overhead = " per-call overhead" if self.case == "overhead" else ""
        return f"{kernel} N={self.n} H={self.h}{wide} {self.dtype}{overhead}"

    def dense_bytes(self) -> int:
        """Bytes a dense cell holds: three (N, H) arrays, x and dx (N, D_in), and the weights."""
        item = np.dtype(self.dtype).itemsize
        return item * (3 * self.n * self.h + 2 * self.n * self.d_in + 2 * self.d_in * self.h
                       + 2 * self.h)

    def mlp_steps_per_call(self) -> int:
        """Training steps per timed mlp_train call in this cell."""
        if self.case == "overhead" or self.n * self.h >= MLP_SINGLE_STEP_WORK:
            return 1
        return MLP_ITERS_PER_CALL

    def mlp_bytes(self) -> int:
        """Bytes charged to one MLP training step: five (N, H) arrays plus x and y."""
        item = np.dtype(self.dtype).itemsize
        return item * (5 * self.n * self.h + self.n * (self.d_in + self.d_out))


def dense_cells(quick: bool = False, seed_only: bool = False) -> list[DenseCell]:
    """The seed grid (N x H x dtype, D_in = D_out = 1), the per-call overhead cells (N = 64,
    the seed's network), then the wide grid unless ``seed_only``."""
    if quick:
        seed = [(n, h, dt) for dt in QUICK_SEED_DTYPES for n in QUICK_SEED_N for h in QUICK_SEED_H]
        wide = list(QUICK_WIDE)
    else:
        seed = [(n, h, dt) for dt in DTYPES for n in SEED_N for h in SEED_H]
        wide = [(n, h, dt) for dt in DTYPES for n in WIDE_N for h in WIDE_H]
    cells = [DenseCell("seed", n, h, 1, 1, dt) for n, h, dt in seed]
    cells += [DenseCell("overhead", OVERHEAD_N, OVERHEAD_H, 1, 1, dt)
              for dt in (QUICK_SEED_DTYPES if quick else DTYPES)]
    if not seed_only:
        cells += [DenseCell("wide", n, h, WIDE_D_IN, WIDE_D_OUT, dt) for n, h, dt in wide]
    return cells


@dataclass(frozen=True)
class ConvShape:
    """One conv2d benchmark shape: x (n, c, h, w), f filters of k x k, stride, padding."""

    n: int
    c: int
    h: int
    w: int
    f: int
    k: int
    stride: int
    pad: int
    dtype: str = "float32"

    @property
    def out_hw(self) -> tuple[int, int]:
        """Output height and width."""
        return ((self.h + 2 * self.pad - self.k) // self.stride + 1,
                (self.w + 2 * self.pad - self.k) // self.stride + 1)

    @property
    def label(self) -> str:
        """The shape without the dtype, e.g. ``N64-C3-32x32-F16-k3-s1-p1``."""
        return (f"N{self.n}-C{self.c}-{self.h}x{self.w}-F{self.f}-k{self.k}-s{self.stride}"
                f"-p{self.pad}")

    @property
    def id(self) -> str:
        """Test id, e.g. ``N64-C3-32x32-F16-k3-s1-p1-float32``."""
        return f"{self.label}-{self.dtype}"

    def info(self) -> dict[str, Any]:
        """Structured parameters stored in each benchmark's ``extra_info``."""
        return {"case": "conv", "N": self.n, "C": self.c, "H": self.h, "W": self.w,
                "F": self.f, "k": self.k, "stride": self.stride, "pad": self.pad,
                "dtype": self.dtype, "shape": self.label}

    def group(self, kernel: str) -> str:
        """pytest-benchmark group: one (kernel, shape, dtype) cell, one row per backend."""
        return f"{kernel} {self.label} {self.dtype}"

    def conv_bytes(self) -> int:
        """Bytes a conv cell holds: x, dx, y, dy and one im2col matrix."""
        oh, ow = self.out_hw
        cols = self.n * oh * ow * self.c * self.k * self.k
        return np.dtype(self.dtype).itemsize * (
            2 * self.n * self.c * self.h * self.w + 2 * self.n * self.f * oh * ow + cols)


# The shapes of the convolution issue: (N, C, H, W, F, k, stride, pad), float32.
CONV_SHAPES = (
    ConvShape(64, 3, 32, 32, 16, 3, 1, 1),
    ConvShape(64, 16, 32, 32, 32, 3, 1, 1),
    ConvShape(256, 1, 28, 28, 8, 5, 1, 0),
)


def conv_shapes(quick: bool = False) -> list[ConvShape]:
    """The conv shapes to run (the first one only with ``--quick``)."""
    return list(CONV_SHAPES[:1] if quick else CONV_SHAPES)


class DenseData:
    """Arrays of one dense cell, created on first use and shared by all its kernels and backends.

    x (N, D_in) in [-1, 1], w (D_in, H), b (H,); ``a`` and ``c`` are (N, H) standard normal (the
    roles dy, u, da, pred, grad and y, target); ``out`` (N, H) is the output buffer (and the
    parameter of sgd_update); dx, dw, db are the gradient buffers of linear_backward.
    """

    def __init__(self, cell: DenseCell, seed: int = 0) -> None:
        self.cell = cell
        self.dtype = np.dtype(cell.dtype)
        self._rng = np.random.default_rng(seed)

    def _normal(self, *shape: int) -> np.ndarray:
        return self._rng.standard_normal(shape, dtype=self.dtype)

    @cached_property
    def x(self) -> np.ndarray:
        return self._rng.uniform(-1.0, 1.0, (self.cell.n, self.cell.d_in)).astype(self.dtype)

    @cached_property
    def w(self) -> np.ndarray:
        return self._normal(self.cell.d_in, self.cell.h) / self.dtype.type(np.sqrt(self.cell.d_in))

    @cached_property
    def b(self) -> np.ndarray:
        return self._normal(self.cell.h)

    @cached_property
    def a(self) -> np.ndarray:
        return self._normal(self.cell.n, self.cell.h)

    @cached_property
    def c(self) -> np.ndarray:
        return self._normal(self.cell.n, self.cell.h)

    @cached_property
    def out(self) -> np.ndarray:
        # Written (not just allocated) so that its pages are resident before any timing.
        return np.zeros((self.cell.n, self.cell.h), self.dtype)

    @cached_property
    def dx(self) -> np.ndarray:
        return np.zeros_like(self.x)

    @cached_property
    def dw(self) -> np.ndarray:
        return np.zeros_like(self.w)

    @cached_property
    def db(self) -> np.ndarray:
        return np.zeros_like(self.b)


class MlpData:
    """x (N, D_in), y (N, D_out) and a fresh parameter list [w1, b1, w2, b2] per backend."""

    def __init__(self, cell: DenseCell, seed: int = 0) -> None:
        self.cell = cell
        dt = np.dtype(cell.dtype)
        rng = np.random.default_rng(seed)
        self.x = rng.uniform(-1.0, 1.0, (cell.n, cell.d_in)).astype(dt)
        if cell.d_in == 1 and cell.d_out == 1:
            y = self.x**3 + 0.1 * rng.standard_normal((cell.n, 1))  # the seed's cubic, scaled
        else:
            y = self.x @ rng.standard_normal((cell.d_in, cell.d_out)) / np.sqrt(cell.d_in)
        self.y = np.ascontiguousarray(y, dtype=dt)
        self.lr = MLP_LR
        self._seed = seed

    def params(self) -> list[np.ndarray]:
        """A new [w1 (D_in, H), b1 (H,), w2 (H, D_out), b2 (D_out,)] (He-style init)."""
        c, dt = self.cell, np.dtype(self.cell.dtype)
        rng = np.random.default_rng(self._seed + 1)
        return [
            (rng.standard_normal((c.d_in, c.h)) * np.sqrt(2.0 / c.d_in)).astype(dt),
            np.zeros(c.h, dt),
            (rng.standard_normal((c.h, c.d_out)) * np.sqrt(1.0 / c.h)).astype(dt),
            np.zeros(c.d_out, dt),
        ]


class ConvData:
    """x (N, C, H, W), w (F, C, k, k), b (F,), dy and an output buffer (N, F, OH, OW)."""

    def __init__(self, shape: ConvShape, seed: int = 0) -> None:
        self.shape = shape
        dt = np.dtype(shape.dtype)
        rng = np.random.default_rng(seed)
        oh, ow = shape.out_hw
        self.x = rng.standard_normal((shape.n, shape.c, shape.h, shape.w), dtype=dt)
        fan_in = shape.c * shape.k * shape.k
        self.w = rng.standard_normal((shape.f, shape.c, shape.k, shape.k), dtype=dt)
        self.w /= dt.type(np.sqrt(fan_in))
        self.b = rng.standard_normal(shape.f, dtype=dt)
        self.dy = rng.standard_normal((shape.n, shape.f, oh, ow), dtype=dt)
        self.out = np.zeros((shape.n, shape.f, oh, ow), dt)
