"""A multi-layer perceptron with ReLU hidden layers, trained by (mini-batch) gradient descent."""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Sequence

import numpy as np

from ..kernels import Backend
from .base import BaseEstimator

# The fused kernel is called with this many iterations at first, then with more (up to about
# _CHUNK_SECONDS of work per call), so that progress and divergence are reported between calls.
_FIRST_CHUNK = 32
_CHUNK_SECONDS = 0.1


class MLP(BaseEstimator):
    """Regression network X -> [dense -> ReLU] * len(hidden) -> dense, squared loss, SGD.

    ``hidden`` lists the widths of the hidden layers; input and output widths come from the
    data. ``batch_size=None`` trains full-batch (one step per iteration, like the seed); an int
    trains on shuffled mini-batches, and one iteration is then one epoch whose loss is the
    record-weighted mean of the batch losses. X and y are standardised inside the estimator.
    With one hidden layer and full batches the backend's fused ``mlp_train`` kernel runs many
    iterations per call. Learned: ``coefs_`` (weights per layer), ``intercepts_``,
    ``loss_history_`` (0.5 * mean squared error in standardised units, before each iteration).
    """

    def __init__(self, hidden: Sequence[int] = (10,), lr: float = 0.1, max_iter: int = 5000,
                 batch_size: int | None = None, backend: str | None = None,
                 random_state: int | np.random.Generator | None = None,
                 verbose: bool = False) -> None:
        self.hidden = hidden
        self.lr = lr
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.backend = backend
        self.random_state = random_state
        self.verbose = verbose

    # -- fit -----------------------------------------------------------------------------------

    def _check_hidden(self) -> tuple[int, ...]:
        """``self.hidden`` as a tuple of positive ints (an int means one layer)."""
        h = self.hidden
        if isinstance(h, numbers.Integral) and not isinstance(h, bool):
            h = (h,)
        if isinstance(h, (str, bytes)) or not isinstance(h, Sequence) or not all(
                isinstance(k, numbers.Integral) and not isinstance(k, bool) and k >= 1 for k in h):
            raise ValueError(f"hidden must be a sequence of integers >= 1, got {self.hidden!r}")
        return tuple(int(k) for k in h)

    def _check_batch_size(self) -> int | None:
        """``self.batch_size`` as None or an int >= 1."""
        bs = self.batch_size
        if bs is None:
            return None
        if isinstance(bs, bool) or not isinstance(bs, numbers.Integral) or bs < 1:
            raise ValueError(f"batch_size must be None or an integer >= 1, got {bs!r}")
        return int(bs)

    def _init_params(self, sizes: list[int], dt: np.dtype, rng: np.random.Generator
                     ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """He-normal weights; hidden biases spread the ReLU kinks over the standardised data."""
        ws, bs = [], []
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            last = i == len(sizes) - 2
            std = math.sqrt((1.0 if last else 2.0) / fan_in)
            ws.append(rng.normal(0.0, std, (fan_in, fan_out)).astype(dt))
            bs.append(np.zeros(fan_out, dt) if last
                      else rng.uniform(-1.0, 1.0, fan_out).astype(dt))
        return ws, bs

    def fit(self, X: object, y: object, *, client: object = None) -> MLP:
        """Fit on X (N, D) or (N,) and y (N, O) or (N,); returns self.

        Dask arrays train across a cluster (``nnkernels.distributed``; ``client``: a
        ``distributed.Client``, default the current one, else a LocalCluster for the fit).
        """
        if _is_dask(X) or _is_dask(y):
            from ..distributed import fit_estimator

            return fit_estimator(self, X, y, client=client)
        hidden = self._check_hidden()
        lr, max_iter = self._check_lr(), self._check_max_iter()
        batch_size = self._check_batch_size()
        be = self._backend()
        rng = self._rng()
        X, y, y_1d = self._check_Xy(X, y)
        Xs, ys = self._set_scaling(X, y)
        n = Xs.shape[0]
        ws, bs = self._init_params([Xs.shape[1], *hidden, ys.shape[1]], Xs.dtype, rng)
        full = batch_size is None or batch_size >= n
        progress = _progress(self.verbose, max_iter, f"{type(self).__name__} [{be.name}]")
        try:
            if full and len(hidden) == 1:
                losses = self._fit_fused(be, Xs, ys, ws, bs, lr, max_iter, progress)
            else:
                losses = self._fit_composed(be, Xs, ys, ws, bs, lr, max_iter,
                                            n if full else batch_size, not full, rng, progress)
        finally:
            if progress is not None:
                progress.close()
        self.coefs_, self.intercepts_ = ws, bs
        self.n_iter_ = max_iter
        self.loss_history_ = losses
        self.backend_ = be.name
        self._finish_fit(y_1d)
        return self

    def _fit_fused(self, be: Backend, Xs: np.ndarray, ys: np.ndarray, ws: list[np.ndarray],
                   bs: list[np.ndarray], lr: float, max_iter: int, progress) -> np.ndarray:
        """Full batch, one hidden layer: the fused kernel, many iterations per call."""
        params = [ws[0], bs[0], ws[1], bs[1]]
        losses = np.empty(max_iter)
        done, chunk = 0, _FIRST_CHUNK
        while done < max_iter:
            k = min(chunk, max_iter - done)
            t0 = time.perf_counter()
            be.mlp_train(Xs, ys, params, lr, k, losses_out=losses[done:done + k])
            elapsed = time.perf_counter() - t0
            self._check_losses(losses[done:done + k], done)
            done += k
            if progress is not None:
                progress.update(k)
                progress.set_postfix(loss=f"{losses[done - 1]:.4g}", refresh=False)
            # Larger calls while they stay short; the iterations are the same whatever the split.
            if elapsed < _CHUNK_SECONDS / 2:
                chunk *= 2
        return losses

    def _fit_composed(self, be: Backend, Xs: np.ndarray, ys: np.ndarray, ws: list[np.ndarray],
                      bs: list[np.ndarray], lr: float, max_iter: int, batch: int, shuffle: bool,
                      rng: np.random.Generator, progress) -> np.ndarray:
        """Any depth, full or mini-batch: one kernel call per layer and pass."""
        n, dt = Xs.shape[0], Xs.dtype
        widths = [w.shape[1] for w in ws]
        # Buffers for the largest batch; a smaller last batch uses their leading rows.
        xb = np.empty((batch, Xs.shape[1]), dt)
        yb = np.empty((batch, ys.shape[1]), dt)
        acts = [np.empty((batch, h), dt) for h in widths]  # hidden activations, then pred
        dacts = [np.empty((batch, h), dt) for h in widths]  # gradients w.r.t. acts
        gws = [np.empty_like(w) for w in ws]
        gbs = [np.empty_like(b) for b in bs]
        losses = np.empty(max_iter)
        n_layers = len(ws)
        for it in range(max_iter):
            order = rng.permutation(n) if shuffle else None
            total = 0.0
            for start in range(0, n, batch):
                m = min(batch, n - start)
                if shuffle:
                    idx = order[start:start + m]
                    x_in = np.take(Xs, idx, axis=0, out=xb[:m])
                    y_in = np.take(ys, idx, axis=0, out=yb[:m])
                else:
                    x_in, y_in = Xs, ys
                a = [x_in] + [buf[:m] for buf in acts]
                da = [buf[:m] for buf in dacts]
                for i in range(n_layers - 1):
                    be.linear_relu_forward(a[i], ws[i], bs[i], out=a[i + 1])
                be.linear_forward(a[-2], ws[-1], bs[-1], out=a[-1])
                loss, _ = be.mse_loss(a[-1], y_in, out=da[-1])
                total += loss * m
                for g in (*gws, *gbs):
                    g.fill(0)
                for i in range(n_layers - 1, -1, -1):
                    be.linear_backward(a[i], ws[i], da[i], need_dx=i > 0,
                                       dx_out=da[i - 1] if i > 0 else None,
                                       dw_out=gws[i], db_out=gbs[i])
                    if i > 0:
                        be.relu_backward(da[i - 1], a[i], out=da[i - 1])
                for p, g in zip((*ws, *bs), (*gws, *gbs), strict=True):
                    be.sgd_update(p, g, lr)
            losses[it] = total / n
            if not math.isfinite(losses[it]):
                self._check_losses(losses[it:it + 1], it)
            if progress is not None:
                progress.update(1)
        return losses

    # -- predict -------------------------------------------------------------------------------

    def predict(self, X: object) -> np.ndarray:
        """Predictions for X (N, D): (N,) when fitted on a 1-D y, else (N, O); a dask array
        for a dask X (block by block on the cluster)."""
        if _is_dask(X):
            from ..distributed import predict_estimator

            return predict_estimator(self, X)
        return super().predict(X)

    def _forward(self, Xs: np.ndarray) -> np.ndarray:
        """Standardised predictions for standardised X, through the backend's kernels."""
        be = self._backend()
        a = Xs
        for w, b in zip(self.coefs_[:-1], self.intercepts_[:-1], strict=True):
            a = be.linear_relu_forward(a, w, b)
        return be.linear_forward(a, self.coefs_[-1], self.intercepts_[-1])


def _is_dask(a: object) -> bool:
    """A dask collection, recognised without importing dask."""
    return type(a).__module__.split(".")[0] == "dask"


def _progress(verbose: bool, total: int, desc: str):
    """A tqdm bar over the iterations when ``verbose``, else None."""
    if not verbose:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="it", leave=True)
