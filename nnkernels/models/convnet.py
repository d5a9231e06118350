"""A small convolutional classifier trained by mini-batch SGD with momentum."""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Sequence

import numpy as np

from ..kernels import Backend
from .base import BaseEstimator, NotFittedError

# Rows per forward call in predict / predict_proba (bounds the memory of large inputs).
_PREDICT_BATCH = 1024


class ConvNet(BaseEstimator):
    """Image classifier: [conv(k x k, same padding) -> ReLU -> max-pool] * len(filters) ->
    dense -> softmax, trained on the cross-entropy by mini-batch SGD with momentum.

    X is (N, C, H, W), (N, H, W) (one channel) or (N, D) flat (reshaped to ``image_shape``, or to
    a square one-channel image when ``image_shape`` is None); y holds class labels of any kind.
    Inputs are standardised per channel with statistics learned in fit. All arithmetic of
    training and prediction runs in the backend's kernels (``backend``, default: the default
    backend); this class only reshapes, shuffles and batches. One iteration is one epoch.

    Learned: ``classes_``, ``conv_weights_`` / ``conv_biases_`` per conv layer (F, C, k, k) /
    (F,), ``coef_`` (D, K) and ``intercept_`` (K,) of the dense layer, ``loss_history_`` and
    ``accuracy_history_`` (per epoch, over the training batches as they were trained),
    ``epoch_times_`` (seconds), ``n_iter_``, ``image_shape_``, ``dtype_``.
    """

    def __init__(self, filters: Sequence[int] = (8, 16), kernel_size: int = 3,
                 pool_size: int = 2, lr: float = 0.05, momentum: float = 0.9,
                 batch_size: int = 32, max_iter: int = 30, image_shape: Sequence[int] | None = None,
                 dtype: str = "float32", backend: str | None = None,
                 random_state: int | np.random.Generator | None = None,
                 verbose: bool = False) -> None:
        self.filters = filters
        self.kernel_size = kernel_size
        self.pool_size = pool_size
        self.lr = lr
        self.momentum = momentum
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.image_shape = image_shape
        self.dtype = dtype
        self.backend = backend
        self.random_state = random_state
        self.verbose = verbose

    # -- checks ----------------------------------------------------------------------------------

    def _check_hyper(self) -> tuple[tuple[int, ...], int, int, int, float, np.dtype]:
        """(filters, kernel_size, pool_size, batch_size, momentum, dtype), validated."""
        f = self.filters
        if isinstance(f, numbers.Integral) and not isinstance(f, bool):
            f = (f,)
        if isinstance(f, (str, bytes)) or not isinstance(f, Sequence) or not all(
                isinstance(k, numbers.Integral) and not isinstance(k, bool) and k >= 1 for k in f):
            raise ValueError(f"filters must be a sequence of integers >= 1, got {self.filters!r}")
        ints = {}
        for name in ("kernel_size", "pool_size", "batch_size"):
            val = getattr(self, name)
            if isinstance(val, bool) or not isinstance(val, numbers.Integral) or val < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {val!r}")
            ints[name] = int(val)
        if ints["kernel_size"] % 2 == 0:
            raise ValueError(f"kernel_size must be odd (same padding), got {self.kernel_size!r}")
        m = self.momentum
        if isinstance(m, bool) or not isinstance(m, numbers.Real) or not 0.0 <= m < 1.0:
            raise ValueError(f"momentum must be a number in [0, 1), got {m!r}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")
        return (tuple(int(k) for k in f), ints["kernel_size"], ints["pool_size"],
                ints["batch_size"], float(m), np.dtype(self.dtype))

    def _images(self, X: object, fitted: bool) -> np.ndarray:
        """X as (N, C, H, W) float images (the image shape is checked against fit's)."""
        arr = np.asarray(X)
        if arr.dtype.kind not in "fiu":
            raise TypeError(f"X must be a real numeric array, got dtype {arr.dtype}")
        if arr.ndim == 2:
            shape = self.image_shape_ if fitted else self._flat_image_shape(arr.shape[1])
            arr = arr.reshape((arr.shape[0],) + shape)
        elif arr.ndim == 3:
            arr = arr[:, None]
        elif arr.ndim != 4:
            raise ValueError(f"X must be (N, C, H, W), (N, H, W) or (N, D), got shape {arr.shape}")
        if fitted and arr.shape[1:] != self.image_shape_:
            raise ValueError(f"X has images of shape {arr.shape[1:]}, but {type(self).__name__} "
                             f"was fitted on {self.image_shape_}")
        if not np.isfinite(arr).all():
            raise ValueError("X contains NaN or infinity")
        return arr

    def _flat_image_shape(self, d: int) -> tuple[int, int, int]:
        """(C, H, W) for flat rows of d features: image_shape, or a square one-channel image."""
        if self.image_shape is not None:
            shape = tuple(int(s) for s in self.image_shape)
            shape = (1,) + shape if len(shape) == 2 else shape
            if len(shape) != 3 or math.prod(shape) != d:
                raise ValueError(f"image_shape {self.image_shape!r} does not hold {d} features")
            return shape  # type: ignore[return-value]
        side = math.isqrt(d)
        if side * side != d:
            raise ValueError(f"X has {d} features, not a square image: set image_shape")
        return (1, side, side)

    # -- the network -----------------------------------------------------------------------------

    def _layer_shapes(self, image_shape: tuple[int, int, int], filters: tuple[int, ...],
                      pool: int) -> list[tuple[int, int, int]]:
        """(C, H, W) entering each conv block, then the shape entering the dense layer."""
        shapes = [image_shape]
        c, h, w = image_shape
        for f in filters:
            if h < pool or w < pool:
                raise ValueError(f"images of shape {image_shape} are too small for "
                                 f"{len(filters)} conv blocks with pool_size={pool}")
            c, h, w = f, h // pool, w // pool
            shapes.append((c, h, w))
        return shapes

    def _forward(self, be: Backend, x: np.ndarray, keep: bool
                 ) -> tuple[np.ndarray, list[tuple[np.ndarray, ...]]]:
        """Logits (N, K) of standardised images x; with ``keep``, what backward needs."""
        pad, pool = self.kernel_size // 2, self.pool_size
        saved = []
        a = x
        for w, b in zip(self.conv_weights_, self.conv_biases_, strict=True):
            z = be.conv2d_forward(a, w, b, 1, pad)
            r = be.relu_forward(z, out=z)
            p, idx = be.maxpool2d_forward(r, pool)
            if keep:
                saved.append((a, r, idx))
            a = p
        flat = a.reshape(a.shape[0], -1)
        logits = be.linear_forward(flat, self.coef_, self.intercept_)
        if keep:
            saved.append((flat,))
        return logits, saved

    def _backward(self, be: Backend, dlogits: np.ndarray, saved: list[tuple[np.ndarray, ...]]
                  ) -> list[np.ndarray]:
        """Gradients in the order of ``self._params()``, from dlogits and the kept forward."""
        pad = self.kernel_size // 2
        (flat,) = saved[-1]
        dflat, dw, db = be.linear_backward(flat, self.coef_, dlogits,
                                           need_dx=len(self.conv_weights_) > 0)
        grads = [db, dw]
        da = dflat
        for layer in range(len(self.conv_weights_) - 1, -1, -1):
            a, r, idx = saved[layer]
            w = self.conv_weights_[layer]
            dp = da.reshape(idx.shape)
            dr = be.maxpool2d_backward(dp, idx, r.shape)
            dz = be.relu_backward(dr, r, out=dr)
            da, dw, db = be.conv2d_backward(a, w, dz, 1, pad)
            grads += [db, dw]
        return grads[::-1]

    def _params(self) -> list[np.ndarray]:
        """Every learned array, in the order conv w, conv b, ..., dense w, dense b."""
        out: list[np.ndarray] = []
        for w, b in zip(self.conv_weights_, self.conv_biases_, strict=True):
            out += [w, b]
        return out + [self.coef_, self.intercept_]

    # -- fit / predict ---------------------------------------------------------------------------

    def fit(self, X: object, y: object) -> ConvNet:
        """Train on images X and class labels y (N,); returns self."""
        from tqdm.auto import tqdm

        filters, k, pool, batch, momentum, dt = self._check_hyper()
        lr = self._check_lr()
        epochs = self._check_max_iter()
        be = self._backend()
        rng = self._rng()
        images = self._images(X, fitted=False)
        y_arr = np.asarray(y)
        if y_arr.ndim != 1 or y_arr.shape[0] != images.shape[0]:
            raise ValueError(f"y must be 1-D with one label per image ({images.shape[0]}), "
                             f"got shape {y_arr.shape}")
        if images.shape[0] == 0:
            raise ValueError("cannot fit on 0 images")
        classes, codes = np.unique(y_arr, return_inverse=True)
        image_shape = tuple(int(s) for s in images.shape[1:])
        shapes = self._layer_shapes(image_shape, filters, pool)

        self.classes_ = classes
        self.image_shape_ = image_shape
        self.dtype_ = dt
        self.n_features_in_ = math.prod(image_shape)
        axes = (0, 2, 3)
        self.x_mean_ = images.mean(axis=axes, keepdims=True)[0].astype(dt)
        std = images.std(axis=axes, keepdims=True)[0]
        self.x_scale_ = np.where(std > 0, std, 1.0).astype(dt)
        x = self._standardise(images)

        # He-normal conv weights (ReLU follows), Glorot-like dense weights, zero biases.
        self.conv_weights_, self.conv_biases_ = [], []
        for (c_in, _, _), f in zip(shapes[:-1], filters, strict=True):
            std_w = math.sqrt(2.0 / (c_in * k * k))
            self.conv_weights_.append(rng.normal(0.0, std_w, (f, c_in, k, k)).astype(dt))
            self.conv_biases_.append(np.zeros(f, dt))
        d = math.prod(shapes[-1])
        self.coef_ = rng.normal(0.0, math.sqrt(1.0 / d), (d, len(classes))).astype(dt)
        self.intercept_ = np.zeros(len(classes), dt)
        velocities = [np.zeros_like(p) for p in self._params()]

        n = x.shape[0]
        losses, accs, times = [], [], []
        bar = tqdm(range(epochs), desc=type(self).__name__, unit="epoch",
                   disable=not self.verbose, leave=False)
        for epoch in bar:
            t0 = time.perf_counter()
            order = rng.permutation(n)
            loss_sum, correct = 0.0, 0
            for start in range(0, n, batch):
                rows = order[start:start + batch]
                xb, yb = x[rows], codes[rows]
                logits, saved = self._forward(be, xb, keep=True)
                loss, dlogits = be.softmax_cross_entropy(logits, yb)
                loss_sum += loss * len(rows)
                correct += int(np.count_nonzero(logits.argmax(axis=1) == yb))
                grads = self._backward(be, dlogits, saved)
                for p, g, v in zip(self._params(), grads, velocities, strict=True):
                    be.sgd_momentum_update(p, g, v, lr, momentum)
            times.append(time.perf_counter() - t0)
            losses.append(loss_sum / n)
            accs.append(correct / n)
            self.loss_history_ = np.asarray(losses)
            self._check_losses(self.loss_history_[-1:], epoch)
            bar.set_postfix(loss=f"{losses[-1]:.4f}", acc=f"{accs[-1]:.3f}")
        bar.close()
        self.loss_history_ = np.asarray(losses)
        self.accuracy_history_ = np.asarray(accs)
        self.epoch_times_ = np.asarray(times)
        self.n_iter_ = epochs
        return self

    def _standardise(self, images: np.ndarray) -> np.ndarray:
        """Images minus the per-channel mean, over the per-channel scale, C-contiguous."""
        return np.ascontiguousarray((images - self.x_mean_) / self.x_scale_, dtype=self.dtype_)

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit first")

    def decision_function(self, X: object) -> np.ndarray:
        """Logits (N, K), one column per class of ``classes_``."""
        self._check_fitted()
        x = self._standardise(self._images(X, fitted=True))
        be = self._backend()
        parts = [self._forward(be, x[i:i + _PREDICT_BATCH], keep=False)[0]
                 for i in range(0, x.shape[0], _PREDICT_BATCH)]
        if not parts:
            return np.zeros((0, len(self.classes_)), self.dtype_)
        return np.concatenate(parts)

    def predict_proba(self, X: object) -> np.ndarray:
        """Class probabilities (N, K) (softmax of the logits), columns ordered as classes_."""
        return self._backend().softmax(self.decision_function(X))

    def predict(self, X: object) -> np.ndarray:
        """Class labels (N,) of the most probable class."""
        logits = self.decision_function(X)
        return self.classes_[logits.argmax(axis=1)]

    def score(self, X: object, y: object) -> float:
        """Accuracy: the fraction of images whose predicted label equals y."""
        y = np.asarray(y)
        pred = self.predict(X)
        if y.shape != pred.shape:
            raise ValueError(f"y has shape {y.shape} but X holds {pred.shape[0]} images")
        return float(np.mean(pred == y)) if y.size else 0.0
