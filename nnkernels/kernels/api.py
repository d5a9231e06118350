"""``Backend``: the validated public face of a backend module.

Every public kernel call goes through here: arguments are checked once (``validation``), laid out
C-contiguously, output buffers are prepared with numpy's ``out=`` contract, and then the raw
kernel of the backend module (``protocol.KernelBackend``) runs. Backends never validate.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import numpy as np

from . import validation
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
    """An output as the caller sees it (``caller``, returned), as a base-class ndarray over the
    same memory (``final``), and as the kernel writes it (``target``: ``final`` itself, or a
    C-contiguous scratch copy when ``final`` is not contiguous or overlaps an input).

    ``accumulate``: the kernel adds into the buffer, so a new one starts at zero and a scratch
    copy starts from the caller's values.
    """

    def __init__(self, name: str, out: np.ndarray | None, shape: tuple[int, ...],
                 dtype: np.dtype, inputs: tuple[np.ndarray | None, ...],
                 elementwise: bool = False, accumulate: bool = False) -> None:
        if out is None:
            self.final = np.zeros(shape, dtype) if accumulate else np.empty(shape, dtype)
            self.caller = self.target = self.final
            return
        self.caller = out
        self.final = v.check_out(name, out, shape, dtype)
        if self.final.flags.c_contiguous and not _overlaps(self.final, inputs, elementwise):
            self.target = self.final
        else:
            # The kernel writes a contiguous scratch copy; copied back after the call.
            self.target = (np.array(self.final, order="C") if accumulate
                           else np.empty(shape, dtype))

    def flat(self) -> np.ndarray:
        """The target as a 1-D view (elementwise kernels)."""
        return self.target.reshape(-1)

    def done(self) -> np.ndarray:
        """Copy the scratch buffer into the caller's buffer if one was used; return the
        caller's object."""
        if self.target is not self.final:
            self.final[...] = self.target
        return self.caller


def _done(*outs: _Out | None) -> tuple[np.ndarray | None, ...]:
    """Finish several outputs; None stays None."""
    return tuple(None if o is None else o.done() for o in outs)


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

    def __reduce__(self) -> tuple[Callable[[str], Backend], tuple[str]]:
        """Pickle, copy and deepcopy by name: the copy is the registered backend of that name
        (kernels are modules, not data), so estimators holding a Backend can be pickled and
        cloned."""
        return _backend_by_name, (self.name,)

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
        if v.ready_dense(x, w, b):  # the fast path: nothing to convert (validation.ready)
            shape = (x.shape[0], w.shape[1])
            if v.ready_out(out, shape, x.dtype, (x, w, b)):
                y = np.empty(shape, x.dtype) if out is None else out
                if y.size:
                    kernel(x, w, b, y)
                return y
        x, w, b = self._dense_args(x, w, b)
        res = _Out("out", out, (x.shape[0], w.shape[1]), x.dtype, (x, w, b))
        if res.target.size:  # D = 0 runs: the result is the bias
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

        Parameter gradients accumulate: ``dw_out`` / ``db_out``, when given, get the gradient
        *added* (mini-batches, record chunks); ``dx_out`` is overwritten. ``need_dx=False``
        skips dx and returns None for it.
        """
        if (need_dx or dx_out is None) and v.ready_linear_backward(x, w, dy):
            fast = self._linear_backward_ready(x, w, dy, need_dx, dx_out, dw_out, db_out)
            if fast is not None:
                return fast
        x, w, dy = v.check_linear_backward(x, w, dy)
        x, w, dy = v.contiguous(x), v.contiguous(w), v.contiguous(dy)
        (n, d), h = x.shape, w.shape[1]
        inputs = (x, w, dy)
        dx = self._input_grad("dx_out", need_dx, dx_out, (n, d), x.dtype, inputs)
        dw = _Out("dw_out", dw_out, (d, h), x.dtype, inputs, accumulate=True)
        db = _Out("db_out", db_out, (h,), x.dtype, inputs, accumulate=True)
        if n and h:  # else dx = 0 and nothing accumulates; D = 0 runs (db = column sums)
            self._impl.linear_backward(x, w, dy, None if dx is None else dx.target,
                                       dw.target, db.target)
        elif dx is not None:
            dx.target[...] = 0
        return _done(dx, dw, db)  # type: ignore[return-value]

    def _linear_backward_ready(self, x: np.ndarray, w: np.ndarray, dy: np.ndarray,
                               need_dx: bool, dx_out: np.ndarray | None,
                               dw_out: np.ndarray | None, db_out: np.ndarray | None
                               ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray] | None:
        """linear_backward on ready inputs when every given output is ready too, else None."""
        (n, d), h = x.shape, w.shape[1]
        dt, inputs = x.dtype, (x, w, dy)
        if not (v.ready_out(dx_out, (n, d), dt, inputs) and v.ready_out(dw_out, (d, h), dt, inputs)
                and v.ready_out(db_out, (h,), dt, inputs)):
            return None
        dx = None if not need_dx else np.empty((n, d), dt) if dx_out is None else dx_out
        dw = np.zeros((d, h), dt) if dw_out is None else dw_out
        db = np.zeros(h, dt) if db_out is None else db_out
        if n and h:
            self._impl.linear_backward(x, w, dy, dx, dw, db)
        elif dx is not None:
            dx[...] = 0
        return dx, dw, db

    @staticmethod
    def _input_grad(name: str, need: bool, out: np.ndarray | None, shape: tuple[int, ...],
                    dtype: np.dtype, inputs: tuple[np.ndarray | None, ...]) -> _Out | None:
        """The input gradient's output (overwritten), or None when it is not needed."""
        if not need:
            if out is not None:
                raise ValueError(f"{name} was given but need_dx is False")
            return None
        return _Out(name, out, shape, dtype, inputs)

    # -- elementwise -----------------------------------------------------------------------

    def relu_forward(self, u: object, *, out: np.ndarray | None = None) -> np.ndarray:
        """max(u, 0) elementwise, any shape, as a new array (or into ``out``); u is unchanged."""
        if v.ready_any(u) and v.ready_out(out, u.shape, u.dtype, (u,)):
            res = np.empty(u.shape, u.dtype) if out is None else out
            if u.size:
                self._impl.relu_forward(u.reshape(-1), res.reshape(-1))
            return res
        u = v.contiguous(v.as_float_array("u", u))
        res = _Out("out", out, u.shape, u.dtype, (u,), elementwise=True)
        if u.size:
            self._impl.relu_forward(u.reshape(-1), res.flat())
        return res.done()

    def relu_backward(self, da: object, y: object, *, out: np.ndarray | None = None
                      ) -> np.ndarray:
        """da where y > 0, else 0 (y: the pre-activation or the activation; same mask)."""
        if v.ready_pair(da, y) and v.ready_out(out, da.shape, da.dtype, (da, y)):
            res = np.empty(da.shape, da.dtype) if out is None else out
            if da.size:
                self._impl.relu_backward(da.reshape(-1), y.reshape(-1), res.reshape(-1))
            return res
        da = v.as_float_array("da", da)
        y = v.as_float_array("y", y)
        v.common_dtype(da=da, y=y)
        v.same_shape("da", da, "y", y)
        da, y = v.contiguous(da), v.contiguous(y)
        res = _Out("out", out, da.shape, da.dtype, (da, y), elementwise=True)
        if da.size:
            self._impl.relu_backward(da.reshape(-1), y.reshape(-1), res.flat())
        return res.done()

    def mse_loss(self, pred: object, target: object, reduction: str = "mean", *,
                 out: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        """(0.5 * mean (or sum) of (pred - target)**2, its gradient w.r.t. pred); any shape.

        The loss of an empty batch is 0.0 for either reduction.
        """
        if (type(reduction) is str and reduction in v.REDUCTIONS and v.ready_pair(pred, target)
                and v.ready_out(out, pred.shape, pred.dtype, (pred, target))):
            grad = np.empty(pred.shape, pred.dtype) if out is None else out
            loss = 0.0
            if pred.size:
                loss = self._impl.mse_loss(pred.reshape(-1), target.reshape(-1), reduction,
                                           grad.reshape(-1))
            return float(loss), grad
        pred = v.as_float_array("pred", pred)
        target = v.as_float_array("target", target)
        v.common_dtype(pred=pred, target=target)
        v.same_shape("pred", pred, "target", target)
        reduction = v.check_reduction(reduction)
        pred, target = v.contiguous(pred), v.contiguous(target)
        res = _Out("out", out, pred.shape, pred.dtype, (pred, target), elementwise=True)
        loss = 0.0
        if pred.size:
            loss = self._impl.mse_loss(pred.reshape(-1), target.reshape(-1), reduction,
                                       res.flat())
        return float(loss), res.done()

    def sgd_update(self, param: np.ndarray, grad: object, lr: float) -> None:
        """param -= lr * grad, in place; returns None."""
        if (v.ready_pair(param, grad) and v.ready_lr(lr)
                and v.ready_out(param, grad.shape, grad.dtype, (grad,))):
            if param.size:
                self._impl.sgd_update(param.reshape(-1), grad.reshape(-1), lr)
            return
        p = v.check_param(param)
        grad = v.as_float_array("grad", grad)
        v.common_dtype(param=p, grad=grad)
        v.same_shape("param", p, "grad", grad)
        lr = v.check_lr(lr)
        grad = v.contiguous(grad)
        target = _Out("param", p, p.shape, p.dtype, (grad,), elementwise=True, accumulate=True)
        if p.size:
            self._impl.sgd_update(target.flat(), grad.reshape(-1), lr)
        target.done()

    def sgd_momentum_update(self, param: np.ndarray, grad: object, velocity: np.ndarray,
                            lr: float, momentum: float) -> None:
        """velocity = momentum * velocity - lr * grad; param += velocity; both in place."""
        p = v.check_param(param)
        vel = v.check_param(velocity, "velocity")
        grad = v.as_float_array("grad", grad)
        v.common_dtype(param=p, grad=grad, velocity=vel)
        v.same_shape("param", p, "grad", grad)
        v.same_shape("param", p, "velocity", vel)
        lr = v.check_lr(lr)
        momentum = v.check_momentum(momentum)
        if np.may_share_memory(p, vel):
            raise ValueError("param and velocity must not share memory")
        grad = v.contiguous(grad)
        outs = [_Out(name, a, a.shape, a.dtype, (grad,), elementwise=True, accumulate=True)
                for name, a in (("param", p), ("velocity", vel))]
        if p.size:
            self._impl.sgd_momentum_update(outs[0].flat(), grad.reshape(-1), outs[1].flat(),
                                           lr, momentum)
        _done(*outs)

    def adam_update(self, params: np.ndarray | list[np.ndarray], grads: object,
                    m: np.ndarray | list[np.ndarray], v: np.ndarray | list[np.ndarray],
                    lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                    eps: float = 1e-8, *, step: int) -> None:
        """One Adam step on every parameter, in place (params, m and v); returns None.

        ``params``, ``grads`` and the first and second moments ``m``, ``v`` are one array each
        or equal-length sequences of arrays (any shapes, agreeing pairwise; one dtype in all).
        ``step`` counts from 1 (the bias correction of torch.optim.Adam and scikit-learn):
        m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g**2;
        param -= lr / (1 - b1**step) * m / (sqrt(v) / sqrt(1 - b2**step) + eps).
        Keep the parameters in one flat buffer to make it one pass over memory.
        """
        # ``v`` is the second moment here: the validation module goes by its full name.
        groups = {name: validation.check_param_group(name, arrs)
                  for name, arrs in (("params", params), ("grads", grads), ("m", m), ("v", v))}
        n = len(groups["params"])
        for name, arrs in groups.items():
            if len(arrs) != n:
                raise ValueError(f"{name} has {len(arrs)} arrays but params has {n}")
        ps, ms, vs, gs = [], [], [], []
        for i in range(n):
            ps.append(validation.check_param(groups["params"][i], f"params[{i}]"))
            ms.append(validation.check_param(groups["m"][i], f"m[{i}]"))
            vs.append(validation.check_param(groups["v"][i], f"v[{i}]"))
            gs.append(validation.as_float_array(f"grads[{i}]", groups["grads"][i]))
            for name, a in ((f"grads[{i}]", gs[i]), (f"m[{i}]", ms[i]), (f"v[{i}]", vs[i])):
                validation.same_shape(f"params[{i}]", ps[i], name, a)
        if n:
            validation.common_dtype(**{f"params[{i}]": p for i, p in enumerate(ps)},
                           **{f"grads[{i}]": g for i, g in enumerate(gs)},
                           **{f"m[{i}]": a for i, a in enumerate(ms)},
                           **{f"v[{i}]": a for i, a in enumerate(vs)})
        lr = validation.check_lr(lr)
        beta1 = validation.check_fraction("beta1", beta1)
        beta2 = validation.check_fraction("beta2", beta2)
        eps = validation.check_positive_float("eps", eps)
        step = validation.check_positive_int("step", step)
        validation.no_shared_memory([(f"{k}[{i}]", a) for k, arrs in (("params", ps), ("m", ms),
                                                              ("v", vs))
                            for i, a in enumerate(arrs)])
        gs = [validation.contiguous(g) for g in gs]
        # Not elementwise: a grad that overlaps an updated array is read from a scratch copy,
        # so that every backend sees the gradient as it was before the step.
        outs = [[_Out(f"{k}[{i}]", a, a.shape, a.dtype, tuple(gs), accumulate=True)
                 for i, a in enumerate(arrs)] for k, arrs in (("params", ps), ("m", ms),
                                                              ("v", vs))]
        keep = [i for i in range(n) if ps[i].size]
        if keep:
            self._impl.adam_update([outs[0][i].flat() for i in keep],
                                   [gs[i].reshape(-1) for i in keep],
                                   [outs[1][i].flat() for i in keep],
                                   [outs[2][i].flat() for i in keep],
                                   lr, beta1, beta2, eps, step)
        _done(*outs[0], *outs[1], *outs[2])

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
        if x.size:
            self._impl.conv2d_forward(x, w, b, stride, padding, res.target)
        else:  # an image of no pixels is all padding: the output is the bias
            res.target[...] = 0 if b is None else b[None, :, None, None]
        return res.done()

    def conv2d_backward(self, x: object, w: object, dy: object, stride: object = 1,
                        padding: object = 0, *, need_dx: bool = True,
                        dx_out: np.ndarray | None = None, dw_out: np.ndarray | None = None,
                        db_out: np.ndarray | None = None
                        ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
        """Gradients of conv2d_forward given dy (N, F, OH, OW): (dx (N, C, H, W),
        dw (F, C, KH, KW), db (F,)).

        As for every backward: ``dw_out`` / ``db_out`` accumulate (the gradient is added),
        ``dx_out`` is overwritten, ``need_dx=False`` skips dx (a first layer) and returns None.
        """
        x, w, _, stride, padding, y_shape = self._conv_args(x, w, None, stride, padding)
        dy = v.as_float_array("dy", dy, 4)
        v.common_dtype(x=x, dy=dy)
        if dy.shape != y_shape:
            raise ValueError(f"dy has shape {dy.shape} but the conv2d output of x {x.shape} and "
                             f"w {w.shape} (stride {stride}, padding {padding}) has {y_shape}")
        dy = v.contiguous(dy)
        inputs = (x, w, dy)
        dx = self._input_grad("dx_out", need_dx, dx_out, x.shape, x.dtype, inputs)
        dw = _Out("dw_out", dw_out, w.shape, x.dtype, inputs, accumulate=True)
        db = _Out("db_out", db_out, (w.shape[0],), x.dtype, inputs, accumulate=True)
        if x.size:
            self._impl.conv2d_backward(x, w, dy, stride, padding,
                                       None if dx is None else dx.target, dw.target, db.target)
        else:  # no pixels: only the bias sees dy (dx and dw are empty or zero)
            db.target += dy.sum(axis=(0, 2, 3))
        return _done(dx, dw, db)  # type: ignore[return-value]

    def maxpool2d_forward(self, x: object, pool: object = 2, stride: object = None, *,
                          out: np.ndarray | None = None, argmax_out: np.ndarray | None = None
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
        shape = (x.shape[0], x.shape[1], oh, ow)
        res = _Out("out", out, shape, x.dtype, (x,))
        arg = _Out("argmax_out", argmax_out, shape, np.dtype(np.int64), (x, res.final))
        if res.target.size:
            self._impl.maxpool2d_forward(x, pool, stride, res.target, arg.target)
        return _done(res, arg)  # type: ignore[return-value]

    def maxpool2d_backward(self, dy: object, argmax: object, x_shape: object, *,
                           out: np.ndarray | None = None) -> np.ndarray:
        """dx (x_shape = (N, C, H, W)): dy (N, C, OH, OW) added at the argmax positions of
        :meth:`maxpool2d_forward`, zero elsewhere."""
        dy = v.as_float_array("dy", dy, 4)
        x_shape = v.check_shape4("x_shape", x_shape)
        if dy.shape[:2] != x_shape[:2]:
            raise ValueError(f"dy has shape {dy.shape} but x_shape is {x_shape}: "
                             "N and C must agree")
        argmax = v.check_argmax(argmax, dy, x_shape[2] * x_shape[3])
        dy = v.contiguous(dy)
        res = _Out("out", out, x_shape, dy.dtype, (dy, argmax))
        if dy.size:
            self._impl.maxpool2d_backward(dy, argmax, res.target)
        else:
            res.target[...] = 0
        return res.done()

    def softmax(self, logits: object, *, out: np.ndarray | None = None) -> np.ndarray:
        """Row-wise softmax of logits (N, K) -> class probabilities (N, K); stable for large
        logits (row max subtracted); NaN in a row makes that row NaN."""
        logits = v.contiguous(v.check_logits(logits))
        res = _Out("out", out, logits.shape, logits.dtype, (logits,), elementwise=True)
        if logits.size:
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
        loss = 0.0
        if logits.size:
            loss = self._impl.softmax_cross_entropy(logits, labels, res.target)
        return float(loss), res.done()

    # -- training --------------------------------------------------------------------------

    def mlp_train(self, x: object, y: object, params: list[np.ndarray], lr: float,
                  n_iter: int, *, losses_out: np.ndarray | None = None) -> np.ndarray:
        """Run ``n_iter`` full-batch SGD steps of a one-hidden-layer ReLU MLP; return the losses.

        The model is pred = relu(x @ w1 + b1) @ w2 + b2 with x (N, D), y (N, O) and ``params`` =
        [w1 (D, H), b1 (H,), w2 (H, O), b2 (O,)], updated in place. Each step measures the loss
        0.5 * mean((pred - y)**2) over N * O, then steps along its gradient: p -= lr * dp.
        Returns the losses (n_iter,) float64 (into ``losses_out`` when given). No record or no
        output (N * O = 0) gives loss 0 and leaves the parameters unchanged.
        """
        if losses_out is None and v.ready_mlp_train(x, y, params, lr, n_iter):
            # The fast path: nothing to convert, parameters updated in place directly.
            losses = np.empty(n_iter)
            if y.size and n_iter:
                self._impl.mlp_train(x, y, *params, lr, losses)
            else:
                losses[...] = 0
            return losses
        x = v.as_float_array("x", x, 2)
        y = v.as_float_array("y", y, 2)
        params = v.check_mlp_params(params, x, y)
        lr = v.check_lr(lr)
        n_iter = v.check_positive_int("n_iter", n_iter, minimum=0)
        x, y = v.contiguous(x), v.contiguous(y)
        outs = [_Out(f"params[{i}]", p, p.shape, p.dtype, (x, y),
                     accumulate=True) for i, p in enumerate(params)]
        losses = _Out("losses_out", losses_out, (n_iter,), np.dtype(np.float64), (x, y, *params))
        if y.size and n_iter:
            self._impl.mlp_train(x, y, *(o.target for o in outs), lr, losses.target)
        else:  # the gradient of an empty sum is zero: nothing to learn
            losses.target[...] = 0
        _done(*outs)
        return losses.done()

    def mlp_grad(self, x: object, y: object, params: list[np.ndarray],
                 grads_out: list[np.ndarray] | None = None
                 ) -> tuple[float, list[np.ndarray]]:
        """(loss sum, [gw1, gb1, gw2, gb2]) of the MLP of :meth:`mlp_train` on x (N, D), y (N, O).

        The loss is 0.5 * sum((pred - y)**2) as a float64 and the gradients are SUMS over the
        records (not means), so that record chunks add up: divide by N * O for the gradient of
        :meth:`mlp_train`'s mean loss. ``params`` are only read. As for every backward, the
        gradients accumulate: ``grads_out``, when given (4 arrays shaped like params), gets them
        *added*; else new zeroed arrays are returned. No record or no output gives loss 0.0
        and adds nothing.
        """
        x = v.as_float_array("x", x, 2)
        y = v.as_float_array("y", y, 2)
        params = v.check_mlp_params(params, x, y, in_place=False)
        if grads_out is not None:
            v.check_mlp_grads(grads_out, params)
        x, y = v.contiguous(x), v.contiguous(y)
        params = [v.contiguous(p) for p in params]
        inputs = (x, y, *params)
        outs = [_Out(f"grads_out[{i}]", None if grads_out is None else grads_out[i], p.shape,
                     p.dtype, inputs, accumulate=True) for i, p in enumerate(params)]
        loss = 0.0
        if y.size:
            loss = self._impl.mlp_grad(x, y, *params, *(o.target for o in outs))
        return float(loss), list(_done(*outs))  # type: ignore[arg-type]


    def mlp_train_minibatch(self, x: object, y: object, params: list[np.ndarray], lr: float,
                            order: object, batch_size: int, *, momentum: float = 0.0,
                            velocities: list[np.ndarray] | None = None,
                            losses_out: np.ndarray | None = None) -> np.ndarray:
        """Epochs of mini-batch SGD of a ReLU MLP of any depth in one call; return the losses.

        ``params`` = [w1 (D, H1), b1 (H1,), ..., wL (H_{L-1}, O), bL (O,)] (L >= 1; ReLU
        between layers, linear output), updated in place. ``order``: the record indices each
        epoch visits, (M,) for one epoch or (E, M), e.g. ``np.stack([rng.permutation(N) for _ in
        range(E)])``; each epoch runs batches of ``batch_size`` consecutive entries (the last
        may be smaller), each a step along the gradient of 0.5 * mean((pred - y)**2) over its
        records and outputs: p -= lr * dp, or with ``momentum`` > 0, v = momentum * v - lr * dp;
        p += v, with ``velocities`` (one array per parameter, updated in place; zeros when not
        given). Returns (E,) float64: 0.5 * mean of the epoch's squared errors, each measured
        before its batch's step. No visit or no output changes nothing and gives losses 0.
        """
        x = v.as_float_array("x", x, 2)
        y = v.as_float_array("y", y, 2)
        params = v.check_mlp_layers(params, x, y)
        lr = v.check_lr(lr)
        order = v.check_order(order, x.shape[0])
        batch_size = v.check_positive_int("batch_size", batch_size)
        momentum = v.check_momentum(momentum)
        vels = None if velocities is None else v.check_velocities(velocities, params)
        x, y = v.contiguous(x), v.contiguous(y)
        outs = [_Out(f"params[{i}]", p, p.shape, p.dtype, (x, y), accumulate=True)
                for i, p in enumerate(params)]
        vel_outs = None
        if momentum > 0:
            vel_outs = [_Out(f"velocities[{i}]", None if vels is None else vels[i], p.shape,
                             p.dtype, (x, y), accumulate=True) for i, p in enumerate(params)]
        losses = _Out("losses_out", losses_out, (order.shape[0],), np.dtype(np.float64),
                      (x, y, *params))
        if order.size and y.shape[1]:
            self._impl.mlp_train_minibatch(
                x, y, [o.target for o in outs],
                None if vel_outs is None else [o.target for o in vel_outs], order, batch_size,
                lr, momentum, losses.target)
        else:  # no record visited, or nothing to predict: nothing to learn
            losses.target[...] = 0
        _done(*outs, *(vel_outs or ()))
        return losses.done()


def _backend_by_name(name: str) -> Backend:
    """The registered backend called ``name`` (what an unpickled Backend becomes)."""
    from . import get_backend  # the registry imports this module: look it up at call time

    return get_backend(name)


# The raw functions every backend module must define, read off the protocol itself.
_PROTOCOL_FUNCTIONS = tuple(
    n for n, f in vars(KernelBackend).items() if callable(f) and not n.startswith("_")
)
