"""``Backend``: the validated public face of a backend module.

Every public kernel call goes through here: arguments are checked once (``validation``), laid out
C-contiguously, output buffers are prepared with numpy's ``out=`` contract, and then the raw
kernel of the backend module (``protocol.KernelBackend``) runs. Backends never validate.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import numpy as np

from . import validation as v
from .protocol import KernelBackend


def _overlaps(out: np.ndarray, inputs: tuple[np.ndarray | None, ...], elementwise: bool) -> bool:
    """True when ``out`` shares memory with an input in a way the kernel cannot handle."""
    for a in inputs:
        if a is None or not np.may_share_memory(out, a):
            continue
        # An elementwise kernel may write over an input that is laid out exactly like ``out``.
        same_layout = (
            a.shape == out.shape
            and a.strides == out.strides
            and a.__array_interface__["data"][0] == out.__array_interface__["data"][0]
        )
        if not (elementwise and same_layout):
            return True
    return False


class _Out:
    """An output as the caller sees it (``final``) and as the kernel writes it (``target``)."""

    def __init__(self, name: str, out: np.ndarray | None, shape: tuple[int, ...],
                 dtype: np.dtype, inputs: tuple[np.ndarray | None, ...],
                 elementwise: bool = False, accumulate: bool = False) -> None:
        if out is None:
            self.final = np.zeros(shape, dtype) if accumulate else np.empty(shape, dtype)
            self.target = self.final
            return
        self.final = v.check_out(name, out, shape, dtype)
        if out.flags.c_contiguous and not _overlaps(out, inputs, elementwise):
            self.target = out
        else:
            # The kernel writes a contiguous scratch copy; copied back after the call.
            self.target = np.array(out, order="C") if accumulate else np.empty(shape, dtype)

    def flat(self) -> np.ndarray:
        """The target as a 1-D view (elementwise kernels)."""
        return self.target.reshape(-1)

    def done(self) -> np.ndarray:
        """Copy the scratch buffer into the caller's buffer if one was used; return the result."""
        if self.target is not self.final:
            self.final[...] = self.target
        return self.final


class Backend:
    """Kernels of one backend behind the shared validation layer.

    Shapes: ``x`` (N, D), ``w`` (D, H), ``b`` (H,) or None, ``dy`` (N, H). float32 or float64,
    one dtype per call; the result has the input dtype. No input is ever modified, except
    ``param`` in :meth:`sgd_update` and the ``*_out`` buffers.
    """

    def __init__(self, module: ModuleType | KernelBackend) -> None:
        missing = [f for f in _PROTOCOL_FUNCTIONS if not callable(getattr(module, f, None))]
        if missing or not isinstance(getattr(module, "name", None), str):
            raise TypeError(f"backend module {module!r} does not implement {missing or ['name']}")
        self._impl = module
        self.name: str = module.name

    def __repr__(self) -> str:
        return f"Backend({self.name!r})"

    @property
    def module(self) -> KernelBackend:
        """The raw backend module (kernels without validation)."""
        return self._impl

    def warmup(self) -> None:
        """Compile (or load from the on-disk cache) every kernel for float32 and float64."""
        self._impl.warmup()

    # -- dense layer -----------------------------------------------------------------------

    def _dense_args(self, x: object, w: object, b: object
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        x = v.as_float_array("x", x, 2)
        w = v.as_float_array("w", w, 2)
        b = None if b is None else v.as_float_array("b", b, 1)
        v.common_dtype(x=x, w=w, b=b)
        v.check_dim("x", x.shape[1], "columns", "w", w.shape[0], "rows", x, w)
        if b is not None:
            v.check_dim("b", b.shape[0], "entries", "w", w.shape[1], "columns", b, w)
        return v.contiguous(x), v.contiguous(w), v.contiguous(b)

    def _dense_forward(self, kernel: Callable, x: object, w: object, b: object,
                       out: np.ndarray | None) -> np.ndarray:
        x, w, b = self._dense_args(x, w, b)
        res = _Out("out", out, (x.shape[0], w.shape[1]), x.dtype, (x, w, b))
        kernel(x, w, b, res.target)
        return res.done()

    def linear_forward(self, x: object, w: object, b: object = None, *,
                       out: np.ndarray | None = None) -> np.ndarray:
        """x (N, D) @ w (D, H) + b (H,) -> (N, H)."""
        return self._dense_forward(self._impl.linear_forward, x, w, b, out)

    def linear_relu_forward(self, x: object, w: object, b: object = None, *,
                            out: np.ndarray | None = None) -> np.ndarray:
        """relu(x (N, D) @ w (D, H) + b (H,)) -> (N, H), fused into one pass over the output."""
        return self._dense_forward(self._impl.linear_relu_forward, x, w, b, out)

    def linear_backward(self, x: object, w: object, dy: object, *, need_dx: bool = True,
                        dx_out: np.ndarray | None = None, dw_out: np.ndarray | None = None,
                        db_out: np.ndarray | None = None
                        ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
        """Gradients of y = x @ w + b: dx = dy @ w.T (N, D), dw = x.T @ dy (D, H), db = dy.sum(0).

        ``dw_out`` / ``db_out``, when given, are accumulated into (the gradient is *added*) and
        returned; ``dx_out`` is overwritten. ``need_dx=False`` skips dx and returns None for it.
        """
        x, w, _ = self._dense_args(x, w, None)
        dy = v.as_float_array("dy", dy, 2)
        v.common_dtype(x=x, dy=dy)
        v.check_dim("dy", dy.shape[0], "rows", "x", x.shape[0], "rows", dy, x)
        v.check_dim("dy", dy.shape[1], "columns", "w", w.shape[1], "columns", dy, w)
        dy = v.contiguous(dy)
        (n, d), h = x.shape, w.shape[1]
        inputs = (x, w, dy)
        dx = _Out("dx_out", dx_out, (n, d), x.dtype, inputs) if need_dx else None
        if dx is None and dx_out is not None:
            raise ValueError("dx_out was given but need_dx is False")
        dw = _Out("dw_out", dw_out, (d, h), x.dtype, inputs, accumulate=True)
        db = _Out("db_out", db_out, (h,), x.dtype, inputs, accumulate=True)
        self._impl.linear_backward(x, w, dy, None if dx is None else dx.target,
                                   dw.target, db.target)
        return (None if dx is None else dx.done()), dw.done(), db.done()

    # -- elementwise -----------------------------------------------------------------------

    def relu_forward(self, u: object, *, out: np.ndarray | None = None) -> np.ndarray:
        """max(u, 0) elementwise, any shape, as a new array (or into ``out``); u is unchanged."""
        u = v.as_float_array("u", u)
        res = _Out("out", out, u.shape, u.dtype, (u,), elementwise=True)
        self._impl.relu_forward(v.contiguous(u).reshape(-1), res.flat())
        return res.done()

    def relu_backward(self, da: object, y: object, *, out: np.ndarray | None = None
                      ) -> np.ndarray:
        """da where y > 0, else 0 (y: the pre-activation or the activation; same mask)."""
        da = v.as_float_array("da", da)
        y = v.as_float_array("y", y)
        v.common_dtype(da=da, y=y)
        v.same_shape("da", da, "y", y)
        res = _Out("out", out, da.shape, da.dtype, (da, y), elementwise=True)
        self._impl.relu_backward(v.contiguous(da).reshape(-1), v.contiguous(y).reshape(-1),
                                 res.flat())
        return res.done()

    def mse_loss(self, pred: object, target: object, reduction: str = "mean", *,
                 out: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        """(0.5 * mean (or sum) of (pred - target)**2, its gradient w.r.t. pred); any shape.

        The loss of an empty batch is 0.0 for either reduction.
        """
        pred = v.as_float_array("pred", pred)
        target = v.as_float_array("target", target)
        v.common_dtype(pred=pred, target=target)
        v.same_shape("pred", pred, "target", target)
        reduction = v.check_reduction(reduction)
        res = _Out("out", out, pred.shape, pred.dtype, (pred, target), elementwise=True)
        loss = self._impl.mse_loss(v.contiguous(pred).reshape(-1),
                                   v.contiguous(target).reshape(-1), reduction, res.flat())
        return float(loss), res.done()

    def sgd_update(self, param: np.ndarray, grad: object, lr: float) -> None:
        """param -= lr * grad, in place; returns None."""
        param = v.check_param(param)
        grad = v.as_float_array("grad", grad)
        v.common_dtype(param=param, grad=grad)
        v.same_shape("param", param, "grad", grad)
        lr = v.check_lr(lr)
        target = _Out("param", param, param.shape, param.dtype, (grad,), elementwise=True,
                      accumulate=True)
        self._impl.sgd_update(target.flat(), v.contiguous(grad).reshape(-1), lr)
        target.done()

    def sgd_momentum_update(self, param: np.ndarray, grad: object, velocity: np.ndarray,
                            lr: float, momentum: float) -> None:
        """velocity = momentum * velocity - lr * grad; param += velocity; both in place."""
        param = v.check_param(param)
        velocity = v.check_param(velocity, "velocity")
        grad = v.as_float_array("grad", grad)
        v.common_dtype(param=param, grad=grad, velocity=velocity)
        v.same_shape("param", param, "grad", grad)
        v.same_shape("param", param, "velocity", velocity)
        lr = v.check_lr(lr)
        momentum = v.check_momentum(momentum)
        if np.may_share_memory(param, velocity):
            raise ValueError("param and velocity must not share memory")
        p = _Out("param", param, param.shape, param.dtype, (grad,), elementwise=True,
                 accumulate=True)
        vel = _Out("velocity", velocity, velocity.shape, velocity.dtype, (grad,),
                   elementwise=True, accumulate=True)
        self._impl.sgd_momentum_update(p.flat(), v.contiguous(grad).reshape(-1), vel.flat(),
                                       lr, momentum)
        p.done()
        vel.done()

    # -- convolution and pooling (NCHW) -----------------------------------------------------

    def _conv_args(self, x: object, w: object, b: object, stride: object, padding: object
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, tuple[int, int],
                              tuple[int, int], tuple[int, int, int, int]]:
        x = v.as_float_array("x", x, 4)
        w = v.as_float_array("w", w, 4)
        b = None if b is None else v.as_float_array("b", b, 1)
        v.common_dtype(x=x, w=w, b=b)
        v.check_conv_weights(x, w, b)
        stride = v.check_pair("stride", stride, 1)
        padding = v.check_pair("padding", padding, 0)
        oh, ow = v.conv_output_size("x", x.shape, "the kernel of w", w.shape[2:], stride,
                                    padding)
        y_shape = (x.shape[0], w.shape[0], oh, ow)
        return v.contiguous(x), v.contiguous(w), v.contiguous(b), stride, padding, y_shape

    def conv2d_forward(self, x: object, w: object, b: object = None, stride: object = 1,
                       padding: object = 0, *, out: np.ndarray | None = None) -> np.ndarray:
        """Cross-correlation of x (N, C, H, W) with w (F, C, KH, KW) plus b (F,) -> (N, F, OH, OW).

        ``stride`` (>= 1) and ``padding`` (>= 0, zeros) are an int or a pair (rows, cols);
        OH = (H + 2*ph - KH) // sh + 1, likewise OW.
        """
        x, w, b, stride, padding, y_shape = self._conv_args(x, w, b, stride, padding)
        res = _Out("out", out, y_shape, x.dtype, (x, w, b))
        self._impl.conv2d_forward(x, w, b, stride, padding, res.target)
        return res.done()

    def conv2d_backward(self, x: object, w: object, dy: object, stride: object = 1,
                        padding: object = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Gradients of conv2d_forward given dy (N, F, OH, OW): (dx (N, C, H, W),
        dw (F, C, KH, KW), db (F,)), as new arrays."""
        x, w, _, stride, padding, y_shape = self._conv_args(x, w, None, stride, padding)
        dy = v.as_float_array("dy", dy, 4)
        v.common_dtype(x=x, dy=dy)
        if dy.shape != y_shape:
            raise ValueError(f"dy has shape {dy.shape} but the conv2d output of x {x.shape} and "
                             f"w {w.shape} (stride {stride}, padding {padding}) has {y_shape}")
        dx, dw, db = np.empty_like(x), np.empty_like(w), np.empty(w.shape[0], x.dtype)
        self._impl.conv2d_backward(x, w, v.contiguous(dy), stride, padding, dx, dw, db)
        return dx, dw, db

    def maxpool2d_forward(self, x: object, pool: object = 2, stride: object = None
                          ) -> tuple[np.ndarray, np.ndarray]:
        """Max over pool windows of x (N, C, H, W) -> (y (N, C, OH, OW), argmax).

        ``pool`` and ``stride`` (default: ``pool``) are an int or a pair, no padding;
        OH = (H - KH) // sh + 1. ``argmax`` (int64, shape of y) holds the flat index
        row * W + col of each window's maximum in its (H, W) plane: pass it to
        :meth:`maxpool2d_backward`, which then needs no forward recomputation. Ties: the first
        element in row-major window order; NaN propagates.
        """
        x = v.contiguous(v.as_float_array("x", x, 4))
        pool = v.check_pair("pool", pool, 1)
        stride = pool if stride is None else v.check_pair("stride", stride, 1)
        oh, ow = v.conv_output_size("x", x.shape, "pool", pool, stride, (0, 0))
        out = np.empty((x.shape[0], x.shape[1], oh, ow), x.dtype)
        argmax = np.empty(out.shape, np.int64)
        self._impl.maxpool2d_forward(x, pool, stride, out, argmax)
        return out, argmax

    def maxpool2d_backward(self, dy: object, argmax: object, x_shape: object) -> np.ndarray:
        """dx (x_shape = (N, C, H, W)): dy (N, C, OH, OW) added at the argmax positions of
        :meth:`maxpool2d_forward`, zero elsewhere."""
        dy = v.as_float_array("dy", dy, 4)
        x_shape = v.check_shape4("x_shape", x_shape)
        if dy.shape[:2] != x_shape[:2]:
            raise ValueError(f"dy has shape {dy.shape} but x_shape is {x_shape}: "
                             "N and C must agree")
        argmax = v.check_argmax(argmax, dy, x_shape[2] * x_shape[3])
        dx = np.empty(x_shape, dy.dtype)
        self._impl.maxpool2d_backward(v.contiguous(dy), argmax, dx)
        return dx

    def softmax(self, logits: object, *, out: np.ndarray | None = None) -> np.ndarray:
        """Row-wise softmax of logits (N, K) -> class probabilities (N, K); stable for large
        logits (row max subtracted); NaN in a row makes that row NaN."""
        logits = v.check_logits(logits)
        logits = v.contiguous(logits)
        res = _Out("out", out, logits.shape, logits.dtype, (logits,), elementwise=True)
        self._impl.softmax(logits, res.target)
        return res.done()

    def softmax_cross_entropy(self, logits: object, labels: object, *,
                              out: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        """(mean over N of -log softmax(logits (N, K))[labels], dlogits (N, K)).

        ``labels`` (N,) are integers in [0, K). Stable for large logits (row max subtracted);
        the loss of an empty batch is 0.0.
        """
        logits = v.check_logits(logits)
        labels = v.check_labels(labels, logits.shape[0], logits.shape[1])
        logits = v.contiguous(logits)
        res = _Out("out", out, logits.shape, logits.dtype, (logits,))
        loss = self._impl.softmax_cross_entropy(logits, labels, res.target)
        return float(loss), res.done()

    # -- training --------------------------------------------------------------------------

    def mlp_train(self, x: object, y: object, params: list[np.ndarray], lr: float,
                  n_iter: int, *, losses_out: np.ndarray | None = None) -> np.ndarray:
        """Run ``n_iter`` full-batch SGD steps of a one-hidden-layer ReLU MLP; return the losses.

        The model is pred = relu(x @ w1 + b1) @ w2 + b2 with x (N, D), y (N, O) and ``params`` =
        [w1 (D, H), b1 (H,), w2 (H, O), b2 (O,)], updated in place. Each step measures the loss
        0.5 * mean((pred - y)**2) over N * O, then steps along its gradient: p -= lr * dp.
        Returns the losses (n_iter,) float64 (into ``losses_out`` when given). N = 0 gives loss 0
        and leaves the parameters unchanged.
        """
        x = v.as_float_array("x", x, 2)
        y = v.as_float_array("y", y, 2)
        params = v.check_mlp_params(params, x, y)
        lr = v.check_lr(lr)
        n_iter = v.check_positive_int("n_iter", n_iter, minimum=0)
        x, y = v.contiguous(x), v.contiguous(y)
        outs = [_Out(f"params[{i}]", p, p.shape, p.dtype, (x, y),
                     accumulate=True) for i, p in enumerate(params)]
        losses = _Out("losses_out", losses_out, (n_iter,), np.dtype(np.float64), (x, y, *params))
        self._impl.mlp_train(x, y, *(o.target for o in outs), lr, losses.target)
        for o in outs:
            o.done()
        return losses.done()


# The raw functions every backend module must define, read off the protocol itself.
_PROTOCOL_FUNCTIONS = tuple(
    n for n, f in vars(KernelBackend).items() if callable(f) and not n.startswith("_")
)
