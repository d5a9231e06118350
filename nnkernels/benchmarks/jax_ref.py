"""JAX (CPU, ``jax.jit``) as a comparator row: the library's kernel signatures, written the way a
performance-minded JAX user would, beside the PyTorch row.

- Each kernel is one jitted function, compiled on the first call of a shape (the suite's untimed
  warm-up call) and timed with ``block_until_ready``.
- The training step is ``jax.jit`` of ``value_and_grad`` of the same loss plus the SGD update,
  with the parameters donated (``donate_argnums``): XLA updates them in place, as numba does.
  The parameters live on the device between calls (a JAX user keeps them there), so a timed
  ``mlp_train`` call pays neither a host copy in nor one out; :meth:`JaxBackend.pull` copies them
  back into the numpy arrays (tests).
- numpy inputs are put on the device once per array (memoised by identity, the array kept
  alive): a timed call pays JAX's dispatch, not a host-to-device copy. The copy is not a view,
  so a numpy input changed after its first use is seen as it was then (the suite's inputs never
  change; its output buffers are not used: JAX returns new arrays, or updates donated ones).
- float64 needs ``jax_enable_x64``, switched on when this module is imported; float32 inputs stay
  float32 under it (every array is made from a numpy array of its dtype, and Python scalars are
  weakly typed).

Threads: JAX offers no run-time thread control on CPU. XLA's CPU client sizes its pools to the
machine's cores when it starts; the only knob is ``XLA_FLAGS``, read once at that start, and the
one JAX users cite is ``--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1``.
:func:`set_threads` applies it for ``--bench-threads 1`` (when XLA has not started yet) and
otherwise records that JAX runs at its default, one thread per core. Best effort only: with
jax 0.10.2 on this project's 2-core machine a jitted float64 2000 x 2000 matmul took the same
time with and without these flags (about 0.2 s, 17 threads either way, load 2.6), so XLA's dot
may not honour them.

Only imported when the jax row runs; ``jax`` is an optional extra.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

# XLA_FLAGS that make XLA's CPU kernels single-threaded (read when XLA's client starts).
SINGLE_THREAD_XLA_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def _mlp_loss(params: tuple[jax.Array, ...], x: jax.Array, y: jax.Array) -> jax.Array:
    """0.5 * mean((relu(x @ w1 + b1) @ w2 + b2 - y)**2): mlp_train's loss."""
    w1, b1, w2, b2 = params
    pred = jnp.maximum(x @ w1 + b1, 0) @ w2 + b2
    return 0.5 * jnp.mean((pred - y) ** 2)


def _sgd_step(params: tuple[jax.Array, ...], x: jax.Array, y: jax.Array, lr: float
              ) -> tuple[tuple[jax.Array, ...], jax.Array]:
    """One SGD step: (updated params, the loss before it)."""
    loss, grads = jax.value_and_grad(_mlp_loss)(params, x, y)
    return tuple(p - lr * g for p, g in zip(params, grads, strict=True)), loss


# Parameters donated: XLA reuses their buffers for the updated ones.
_step = jax.jit(_sgd_step, donate_argnums=0)
_sgd = jax.jit(lambda p, g, lr: p - lr * g, donate_argnums=0)


@jax.jit
def _linear(x: jax.Array, w: jax.Array, b: jax.Array | None) -> jax.Array:
    return x @ w if b is None else x @ w + b


@jax.jit
def _linear_relu(x: jax.Array, w: jax.Array, b: jax.Array | None) -> jax.Array:
    return jnp.maximum(_linear(x, w, b), 0)


@jax.jit
def _linear_grads(x: jax.Array, w: jax.Array, dy: jax.Array
                  ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(dx, dw, db) of x @ w + b for the upstream gradient dy: what ``jax.vjp`` gives."""
    return dy @ w.T, x.T @ dy, dy.sum(0)


@jax.jit
def _relu(u: jax.Array) -> jax.Array:
    return jnp.maximum(u, 0)


@jax.jit
def _relu_grad(da: jax.Array, y: jax.Array) -> jax.Array:
    return jnp.where(y > 0, da, 0)


def _mse(pred: jax.Array, target: jax.Array, mean: bool) -> tuple[jax.Array, jax.Array]:
    """(0.5 * mean (or sum) of (pred - target)**2, its gradient w.r.t. pred)."""
    d = pred - target
    scale = 1.0 / max(d.size, 1) if mean else 1.0
    return 0.5 * scale * jnp.vdot(d, d), scale * d


_mse_jit = jax.jit(_mse, static_argnums=2)


def _conv(x: jax.Array, w: jax.Array, b: jax.Array | None, stride: tuple[int, int],
          padding: tuple[int, int]) -> jax.Array:
    y = jax.lax.conv_general_dilated(x, w, stride, [(padding[0],) * 2, (padding[1],) * 2],
                                     dimension_numbers=("NCHW", "OIHW", "NCHW"))
    return y if b is None else y + b[None, :, None, None]


_conv_jit = jax.jit(_conv, static_argnums=(3, 4))


def _conv_vjp(x: jax.Array, w: jax.Array, dy: jax.Array, stride: tuple[int, int],
                padding: tuple[int, int]) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(dx, dw, db) of conv2d for the upstream gradient dy (``jax.vjp`` of the forward)."""
    _, vjp = jax.vjp(lambda x_, w_: _conv(x_, w_, None, stride, padding), x, w)
    dx, dw = vjp(dy)
    return dx, dw, dy.sum((0, 2, 3))


_conv_grads = jax.jit(_conv_vjp, static_argnums=(3, 4))


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


class JaxBackend:
    """Same methods and signatures as ``nnkernels.Backend`` (the subset the suite times); each
    returns JAX arrays, computed (``block_until_ready``), instead of writing ``out=``."""

    name = "jax"

    def __init__(self) -> None:
        self._arrays: dict[int, tuple[np.ndarray, jax.Array]] = {}
        self._params: dict[tuple[int, ...], tuple[list[np.ndarray], tuple[jax.Array, ...]]] = {}

    def forget(self) -> None:
        """Drop the memoised device arrays and parameter states: the cell is done."""
        self._arrays.clear()
        self._params.clear()

    def _j(self, a: np.ndarray | None) -> jax.Array | None:
        if a is None:
            return None
        hit = self._arrays.get(id(a))
        if hit is None or hit[0] is not a:
            hit = self._arrays[id(a)] = (a, jnp.asarray(a))
        return hit[1]

    def _state(self, params: list[np.ndarray]) -> tuple[tuple[int, ...], tuple[jax.Array, ...]]:
        """The device parameters of these numpy arrays (copied in on first use)."""
        key = tuple(id(p) for p in params)
        hit = self._params.get(key)
        if hit is None or any(a is not b for a, b in zip(hit[0], params, strict=True)):
            hit = self._params[key] = (list(params), tuple(jnp.array(p) for p in params))
        return key, hit[1]

    def pull(self, params: list[np.ndarray]) -> None:
        """Copy the device state of ``params`` back into the numpy arrays."""
        _, state = self._state(params)
        for p, s in zip(params, state, strict=True):
            p[...] = np.asarray(s)

    def warmup(self) -> None:
        """Nothing ahead of time: each shape compiles on its first (untimed) call."""

    # -- dense ---------------------------------------------------------------------------

    def linear_forward(self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, *,
                       out: np.ndarray | None = None) -> jax.Array:
        """x @ w + b."""
        return _linear(self._j(x), self._j(w), self._j(b)).block_until_ready()

    def linear_relu_forward(self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None,
                            *, out: np.ndarray | None = None) -> jax.Array:
        """relu(x @ w + b), fused by XLA."""
        return _linear_relu(self._j(x), self._j(w), self._j(b)).block_until_ready()

    def linear_backward(self, x: np.ndarray, w: np.ndarray, dy: np.ndarray, *,
                        need_dx: bool = True, **outs: Any) -> tuple[jax.Array, ...]:
        """(dx, dw, db) as new arrays (JAX has no accumulating form; ``*_out`` are ignored)."""
        return jax.block_until_ready(_linear_grads(self._j(x), self._j(w), self._j(dy)))

    # -- elementwise ---------------------------------------------------------------------

    def relu_forward(self, u: np.ndarray, *, out: np.ndarray | None = None) -> jax.Array:
        """max(u, 0)."""
        return _relu(self._j(u)).block_until_ready()

    def relu_backward(self, da: np.ndarray, y: np.ndarray, *, out: np.ndarray | None = None
                      ) -> jax.Array:
        """da where y > 0 else 0."""
        return _relu_grad(self._j(da), self._j(y)).block_until_ready()

    def mse_loss(self, pred: np.ndarray, target: np.ndarray, reduction: str = "mean", *,
                 out: np.ndarray | None = None) -> tuple[float, jax.Array]:
        """(0.5 * mean (or sum) of (pred - target)**2, its gradient)."""
        loss, grad = _mse_jit(self._j(pred), self._j(target), reduction == "mean")
        return float(loss), grad.block_until_ready()

    def sgd_update(self, param: np.ndarray, grad: np.ndarray, lr: float) -> None:
        """param -= lr * grad on the device copy of ``param`` (donated: updated in place)."""
        key, (p,) = self._state([param])
        new = _sgd(p, self._j(grad), lr).block_until_ready()
        self._params[key] = ([param], (new,))

    # -- training and convolution ----------------------------------------------------------

    def mlp_train(self, x: np.ndarray, y: np.ndarray, params: list[np.ndarray], lr: float,
                  n_iter: int) -> np.ndarray:
        """n_iter calls of the jitted step on the device parameters; the losses (n_iter,)."""
        key, state = self._state(params)
        tx, ty = self._j(x), self._j(y)
        losses = []
        for _ in range(n_iter):
            state, loss = _step(state, tx, ty, lr)
            losses.append(loss)
        jax.block_until_ready(state)
        self._params[key] = (list(params), state)
        # One float() per loss once the step is done: measured faster here than one
        # jax.device_get of the list (about 2.5 against 5 us per loss).
        return np.array([float(v) for v in losses])

    def conv2d_forward(self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None,
                       stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0,
                       *, out: np.ndarray | None = None) -> jax.Array:
        """conv2d(x, w) + b (cross-correlation, NCHW)."""
        return _conv_jit(self._j(x), self._j(w), self._j(b), _pair(stride),
                         _pair(padding)).block_until_ready()

    def conv2d_backward(self, x: np.ndarray, w: np.ndarray, dy: np.ndarray,
                        stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0
                        ) -> tuple[jax.Array, ...]:
        """(dx, dw, db) of conv2d for the upstream gradient dy."""
        return jax.block_until_ready(_conv_grads(self._j(x), self._j(w), self._j(dy),
                                                 _pair(stride), _pair(padding)))


def set_threads(n: int) -> dict[str, Any]:
    """Apply ``n`` threads where JAX allows it (see the module doc); return JAX's version and
    the thread setting for the record."""
    from jax._src import xla_bridge

    started = xla_bridge.backends_are_initialized()
    cores = os.cpu_count() or 1
    if n == 1 and not started:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " "
                                   + SINGLE_THREAD_XLA_FLAGS).strip()
        threads = "1 asked through XLA_FLAGS (best effort: see nnkernels.benchmarks.jax_ref)"
    elif n == cores:
        threads = f"{cores} (XLA's default: one per core)"
    else:
        threads = (f"{cores} (XLA's default, one per core: JAX cannot be set to {n} threads"
                   + (", and XLA had started already" if n == 1 else "") + ")")
    jax.devices()  # start XLA now, with the flags above
    return {"jax": jax.__version__, "jax_threads": threads,
            "xla_flags": os.environ.get("XLA_FLAGS", ""), "jax_enable_x64": True}
