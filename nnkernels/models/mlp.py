"""Multi-layer perceptrons (ReLU hidden layers) for regression and classification, trained by
mini-batch SGD (with momentum) or Adam, all arithmetic in the backend's kernels."""

from __future__ import annotations

import numbers
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from ..kernels import Backend
from .base import (
    FLOAT_DTYPES,
    SOLVER_CONSTRAINTS,
    KernelEstimator,
    NoImprovement,
    SoftmaxOutputs,
    atomic,
    check_representable,
    holdout,
    mean_scale,
    progress,
    standardise,
)
from .optim import Solver, flat_views, flatten, solver_hyper

# The fused kernel is called with this many iterations at first, then with more (up to about
# _CHUNK_SECONDS of work per call), so that progress, divergence and the stopping rule are
# checked between calls.
_FIRST_CHUNK = 32
_CHUNK_SECONDS = 0.1
# Rows per forward call in predict (bounds the memory of the activations of large inputs).
_PREDICT_BATCH = 4096


class _BaseMLP(KernelEstimator):
    """X (N, D) -> [dense -> ReLU] * len(hidden_layer_sizes) -> dense (O) and a loss head.

    Parameters keep scikit-learn's names and meanings (``MLPRegressor`` / ``MLPClassifier``):
    ``solver`` "adam" or "sgd" (with ``momentum``; 0 is plain gradient descent),
    ``learning_rate_init``, ``batch_size`` ("auto" = min(200, N), an int, or None for full
    batches), ``max_iter`` epochs, ``shuffle``, and the stopping rule: training stops once
    ``n_iter_no_change`` epochs in a row fail to improve the training loss (or, with
    ``early_stopping``, the score on a held-out ``validation_fraction``) by ``tol``. ``backend``
    names the kernels ("numpy", "numba", None: the default, or a ``Backend``). X is
    standardised inside the estimator (statistics from the first fit).

    Learned: ``coefs_`` (D_i, D_i+1) and ``intercepts_`` per layer, ``loss_curve_`` (mean
    training loss per epoch, in standardised units), ``validation_scores_`` (with
    early_stopping), ``best_loss_``, ``n_iter_``, ``t_`` (records seen), ``n_features_in_``,
    ``dtype_``, ``backend_``.
    """

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(numbers.Integral, 1, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(numbers.Integral, 1, None, closed="left"),
                       None],
        **SOLVER_CONSTRAINTS,
    }

    def __init__(self, hidden_layer_sizes: Sequence[int] | int = (100,), solver: str = "adam",
                 learning_rate_init: float = 0.001, momentum: float = 0.9,
                 beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-8,
                 batch_size: int | str | None = "auto", max_iter: int = 200,
                 shuffle: bool = True, tol: float = 1e-4, early_stopping: bool = False,
                 validation_fraction: float = 0.1, n_iter_no_change: int = 10,
                 backend: str | Backend | None = None,
                 random_state: int | np.random.Generator | None = None,
                 verbose: bool = False) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.solver = solver
        self.learning_rate_init = learning_rate_init
        self.momentum = momentum
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.tol = tol
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.backend = backend
        self.random_state = random_state
        self.verbose = verbose

    # -- what the two heads define ---------------------------------------------------------------

    # The loss head's name in LOSS_HEADS (a dask fit sends the name to its workers).
    _loss_name: str

    def _targets(self, y: object, first: bool, classes: object, dtype: np.dtype
                 ) -> tuple[np.ndarray, dict[str, Any]]:
        """Training targets in the units the network learns, and the attributes they imply."""
        raise NotImplementedError

    def _loss(self, be: Backend, out: np.ndarray, target: np.ndarray, dout: np.ndarray
              ) -> float:
        """The loss of the network outputs out (m, O) and its gradient, written into dout."""
        raise NotImplementedError

    def _score_outputs(self, out: np.ndarray, target: np.ndarray) -> float:
        """The validation score (higher is better) of network outputs against targets."""
        raise NotImplementedError

    # -- checks ----------------------------------------------------------------------------------

    def _hidden(self) -> tuple[int, ...]:
        """``hidden_layer_sizes`` as a tuple of ints >= 1 (an int means one layer)."""
        h = self.hidden_layer_sizes
        sizes = (h,) if isinstance(h, numbers.Integral) else tuple(np.ravel(h))
        if not all(isinstance(k, numbers.Integral) and not isinstance(k, bool) and k >= 1
                   for k in sizes):
            raise ValueError("hidden_layer_sizes must be a sequence of integers >= 1, got "
                             f"{self.hidden_layer_sizes!r}")
        return tuple(int(k) for k in sizes)

    def _batch(self, n: int) -> int:
        """Rows per mini-batch for n training records."""
        if self.batch_size is None:
            return n
        if self.batch_size == "auto":
            return min(200, n)
        return min(int(self.batch_size), n)

    # -- fit -------------------------------------------------------------------------------------

    @atomic
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: object, y: object, *, client: object = None) -> _BaseMLP:
        """Train from scratch on X (N, D) and y; returns self. Dask arrays train full-batch
        across a cluster (``nnkernels.distributed``; ``client``: a ``distributed.Client``,
        default the current one, else a LocalCluster for the fit)."""
        if _is_dask(X) or _is_dask(y):
            from ..distributed import fit_estimator

            return fit_estimator(self, X, y, client=client)
        return self._fit(X, y, incremental=False, classes=None)

    def _fit(self, X: object, y: object, incremental: bool, classes: object) -> _BaseMLP:
        """The fit proper: everything in locals, learned attributes assigned at the end."""
        if _is_dask(X) or _is_dask(y):
            # Only partial_fit gets here with dask arrays (fit sends them to the cluster); one
            # epoch of mini-batches over a cluster is not offered, and validate_data would
            # quietly load the whole array into memory.
            raise TypeError(f"{type(self).__name__}.partial_fit takes in-memory arrays, got a "
                            "dask array; fit trains on dask arrays (full batch across a "
                            "cluster)")
        be = self._backend()
        hidden = self._hidden()
        first = not (incremental and hasattr(self, "coefs_"))
        X, y = validate_data(self, X, y, reset=first, dtype=list(FLOAT_DTYPES),
                             multi_output=self._multi_output_y, y_numeric=self._numeric_y)
        dtype = X.dtype if first else self.dtype_
        targets, learned = self._targets(y, first, classes, dtype)
        if first:
            x_mean, x_scale = mean_scale(X)
        else:
            x_mean, x_scale = self.x_mean_, self.x_scale_
        Xs = standardise(X, x_mean, x_scale, dtype)
        n_out = learned["n_outputs_"]
        sizes = [Xs.shape[1], *hidden, n_out]
        shapes = [s for a, b in zip(sizes[:-1], sizes[1:], strict=True) for s in ((a, b), (b,))]
        rng = self._rng()
        if first:
            theta = flatten(self._init_params(sizes, rng), dtype)
            solver = Solver(self.solver, theta.size, dtype)
            stopper = NoImprovement(self.tol, self.n_iter_no_change, False)
        else:
            if tuple(self._layer_sizes) != tuple(sizes):
                raise ValueError(f"hidden_layer_sizes changed from {self._layer_sizes[1:-1]} to "
                                 f"{hidden} since the first fit; call fit to start again")
            theta = flatten([*_interleave(self.coefs_, self.intercepts_)], dtype)
            solver = (self._solver.copy() if self._solver.solver == self.solver
                      else Solver(self.solver, theta.size, dtype))
            stopper = NoImprovement(self.tol, self.n_iter_no_change, False, self._stop_state)
        validation = self.early_stopping and not incremental
        if validation:
            stopper = NoImprovement(self.tol, self.n_iter_no_change, True)
            Xs, X_val, targets, t_val = holdout(Xs, targets, self.validation_fraction, rng,
                                                stratify=self._numeric_y is False)
        epochs = 1 if incremental else self.max_iter
        losses, scores, epochs_run = self._train(be, Xs, targets, theta, shapes, solver, rng,
                                                 epochs, stopper, validation and (X_val, t_val))
        if validation and stopper.best_params is not None:
            theta = stopper.best_params  # scikit-learn keeps the best model on validation
        params = flat_views(theta, shapes)

        # -- every learned attribute at once: the fit has succeeded --
        for key, value in learned.items():
            setattr(self, key, value)
        self.coefs_, self.intercepts_ = params[0::2], params[1::2]
        self.x_mean_, self.x_scale_, self.dtype_ = x_mean, x_scale, np.dtype(dtype)
        self._layer_sizes = sizes
        self._solver, self._stop_state = solver, stopper.state()
        previous = list(self.loss_curve_) if not first else []
        self.loss_curve_ = previous + losses
        self.best_loss_ = float(np.min(self.loss_curve_))
        if validation:
            self.validation_scores_ = scores
            self.best_validation_score_ = float(np.max(scores))
        elif first:
            self.validation_scores_ = None
            self.best_validation_score_ = None
        self.n_iter_ = (0 if first else self.n_iter_) + epochs_run
        self.t_ = (0 if first else self.t_) + epochs_run * Xs.shape[0]
        self.backend_ = be.name
        return self

    def _init_params(self, sizes: list[int], rng: np.random.Generator) -> list[np.ndarray]:
        """He-normal weights; hidden biases spread the ReLU kinks over the standardised data;
        the output layer starts small (Glorot-like) with zero bias."""
        out = []
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            last = i == len(sizes) - 2
            std = np.sqrt((1.0 if last else 2.0) / max(fan_in, 1))
            out.append(rng.normal(0.0, std, (fan_in, fan_out)))
            out.append(np.zeros(fan_out) if last else rng.uniform(-1.0, 1.0, fan_out))
        return out

    def _train(self, be: Backend, Xs: np.ndarray, targets: np.ndarray, theta: np.ndarray,
               shapes: list[tuple[int, ...]], solver: Solver, rng: np.random.Generator,
               epochs: int, stopper: NoImprovement, validation: Any
               ) -> tuple[list[float], list[float], int]:
        """Up to ``epochs`` epochs on theta (in place): (losses, validation scores, epochs)."""
        n = Xs.shape[0]
        batch = self._batch(n)
        hyper = solver_hyper(self)
        bar = progress(self.verbose, epochs, f"{type(self).__name__} [{be.name}]")
        losses: list[float] = []
        scores: list[float] = []
        kernel: _KernelEpochs | None = None
        try:
            if self._fused_ok(len(shapes) // 2, batch, n, validation):
                return self._train_fused(be, Xs, targets, theta, shapes, epochs, stopper, bar)
            if self._minibatch_ok(solver):
                kernel = _KernelEpochs(Xs, targets, theta, shapes, solver)
            else:
                grad = np.zeros_like(theta)
                work = _Workspace(Xs, targets, shapes, batch)
            for epoch in range(epochs):
                order = rng.permutation(n) if self.shuffle and batch < n else None
                if kernel is not None:
                    loss = kernel.epoch(be, batch, hyper, order)
                else:
                    loss = self._train_epoch(be, work, theta, grad, flat_views(theta, shapes),
                                             flat_views(grad, shapes), solver, hyper, order)
                losses.append(loss)
                self._check_losses(np.array([loss]), epoch)
                score = None
                if validation:
                    score = self._score_outputs(
                        _forward(be, validation[0], flat_views(theta, shapes)), validation[1])
                    scores.append(score)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss:.4g}", refresh=False)
                if stopper.update(loss, score, theta):
                    break
        finally:
            if bar is not None:
                bar.close()
        return losses, scores, len(losses)

    def _fused_ok(self, n_layers: int, batch: int, n: int, validation: Any) -> bool:
        """True when the fused full-batch kernel (plain SGD, one hidden layer, squared loss)
        trains exactly what the composed loop would."""
        return (self._numeric_y and self.solver == "sgd" and self.momentum == 0
                and n_layers == 2 and batch >= n and not validation)

    def _minibatch_ok(self, solver: Solver) -> bool:
        """True when ``mlp_train_minibatch`` trains exactly what the composed epoch would:
        squared loss (the regressor), plain SGD or SGD with momentum (any depth, batch size,
        shuffling). One call per epoch, so the stopping rule, validation and divergence checks
        keep running after every epoch."""
        return self._numeric_y and solver.solver == "sgd" and self.solver == "sgd"

    def _train_fused(self, be: Backend, Xs: np.ndarray, ys: np.ndarray, theta: np.ndarray,
                     shapes: list[tuple[int, ...]], epochs: int, stopper: NoImprovement,
                     bar) -> tuple[list[float], list[float], int]:
        """Full batch, one hidden layer, plain SGD: ``mlp_train``, many iterations per call;
        the stopping rule is applied between calls (a call's iterations all run)."""
        params = flat_views(theta, shapes)
        losses = np.empty(epochs)
        done, chunk, stop = 0, _FIRST_CHUNK, False
        while done < epochs and not stop:
            k = min(chunk, epochs - done)
            t0 = time.perf_counter()
            be.mlp_train(Xs, ys, params, self.learning_rate_init, k,
                         losses_out=losses[done:done + k])
            elapsed = time.perf_counter() - t0
            self._check_losses(losses[done:done + k], done)
            for loss in losses[done:done + k]:
                stop = stopper.update(float(loss), None, theta) or stop
            done += k
            if bar is not None:
                bar.update(k)
                bar.set_postfix(loss=f"{losses[done - 1]:.4g}", refresh=False)
            # Larger calls while they stay short; the iterations are the same whatever the split.
            if elapsed < _CHUNK_SECONDS / 2:
                chunk *= 2
        return [float(v) for v in losses[:done]], [], done

    def _train_epoch(self, be: Backend, work: _Workspace, theta: np.ndarray, grad: np.ndarray,
                     params: list[np.ndarray], grads: list[np.ndarray], solver: Solver,
                     hyper: dict[str, Any], order: np.ndarray | None) -> float:
        """One epoch of mini-batches (``order``: a permutation of the records, or None for
        their order): forward, loss, backward and one solver step per batch, each a kernel
        call per layer (``network_grad``). Returns the record-weighted mean batch loss. What
        _KernelEpochs does in one kernel call where the configuration allows (_minibatch_ok)."""
        n, batch = work.x.shape[0], work.batch
        total = 0.0
        for start in range(0, n, batch):
            m = min(batch, n - start)
            if order is not None:
                idx = order[start:start + m]
                x_in = np.take(work.x, idx, axis=0, out=work.xb[:m])
                t_in = np.take(work.t, idx, axis=0, out=work.tb[:m])
            else:
                x_in, t_in = work.x[start:start + m], work.t[start:start + m]
            grad.fill(0)  # the backward accumulates into the gradient buffer
            total += network_grad(be, [x_in] + [buf[:m] for buf in work.acts], t_in, params,
                                  grads, self._loss, [buf[:m] for buf in work.dacts]) * m
            solver.step(be, theta, grad, hyper)
        return total / n

    # -- predict ---------------------------------------------------------------------------------

    def _outputs(self, X: object) -> np.ndarray:
        """Network outputs (N, O) for X, in the fitted dtype."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=list(FLOAT_DTYPES))
        Xs = standardise(X, self.x_mean_, self.x_scale_, self.dtype_)
        params = list(_interleave(self.coefs_, self.intercepts_))
        be = self._backend()
        parts = [_forward(be, Xs[i:i + _PREDICT_BATCH], params)
                 for i in range(0, Xs.shape[0], _PREDICT_BATCH)]
        if not parts:
            return np.zeros((0, self.n_outputs_), self.dtype_)
        return np.concatenate(parts)


class _KernelEpochs:
    """One fit's epochs through the backend's ``mlp_train_minibatch``: one call per epoch on
    views of the flat parameter buffer (and of the solver's velocity, with momentum)."""

    def __init__(self, x: np.ndarray, t: np.ndarray, theta: np.ndarray,
                 shapes: list[tuple[int, ...]], solver: Solver) -> None:
        self.x, self.t = x, t
        self.params = flat_views(theta, shapes)
        self.velocities = flat_views(solver.buffers["velocity"], shapes)
        self.visit = np.arange(x.shape[0], dtype=np.int64)  # the records in their order
        self.loss = np.zeros(1)

    def epoch(self, be: Backend, batch: int, hyper: dict[str, Any],
              order: np.ndarray | None) -> float:
        """One epoch of batches of ``batch`` records in ``order`` (None: their order); returns
        its loss, as _BaseMLP._train_epoch."""
        momentum = hyper["momentum"]
        be.mlp_train_minibatch(self.x, self.t, self.params, hyper["learning_rate_init"],
                               self.visit if order is None else order, batch,
                               momentum=momentum,
                               velocities=self.velocities if momentum > 0 else None,
                               losses_out=self.loss)
        return float(self.loss[0])


class _Workspace:
    """Buffers of one fit's mini-batch loop, for the largest batch (a smaller last batch uses
    their leading rows): the batch's records and targets, each layer's activations and their
    gradients."""

    def __init__(self, x: np.ndarray, t: np.ndarray, shapes: list[tuple[int, ...]],
                 batch: int) -> None:
        self.x, self.t, self.batch = x, t, batch
        dt = x.dtype
        self.xb = np.empty((batch, x.shape[1]), dt)
        self.tb = np.empty((batch, *t.shape[1:]), t.dtype)
        widths = [s[0] for s in shapes[1::2]]
        self.acts = [np.empty((batch, h), dt) for h in widths]  # hidden activations, then out
        self.dacts = [np.empty((batch, h), dt) for h in widths]  # gradients w.r.t. acts


def _is_dask(a: object) -> bool:
    """A dask collection, recognised without importing dask (the core never imports it)."""
    return type(a).__module__.split(".")[0] == "dask"


def _interleave(coefs: list[np.ndarray], intercepts: list[np.ndarray]):
    """w0, b0, w1, b1, ... (the layout of the flat parameter buffer)."""
    for w, b in zip(coefs, intercepts, strict=True):
        yield w
        yield b


def squared_loss(be: Backend, out: np.ndarray, target: np.ndarray, dout: np.ndarray) -> float:
    """The regressor's head: 0.5 * mean((out - target)**2) over out (m, O); gradient -> dout."""
    return be.mse_loss(out, target, out=dout)[0]


def softmax_ce_loss(be: Backend, out: np.ndarray, target: np.ndarray, dout: np.ndarray
                    ) -> float:
    """The classifier's head: mean cross-entropy of logits out (m, K) against class codes
    target (m,) int64; gradient -> dout."""
    return be.softmax_cross_entropy(out, target, out=dout)[0]


# The loss heads by name (the name travels to dask workers, see nnkernels.distributed).
LOSS_HEADS: dict[str, Callable[[Backend, np.ndarray, np.ndarray, np.ndarray], float]] = {
    "squared": squared_loss, "softmax_ce": softmax_ce_loss}


def network_grad(be: Backend, acts: list[np.ndarray], target: np.ndarray,
                 params: list[np.ndarray], grads: list[np.ndarray],
                 loss: Callable[[Backend, np.ndarray, np.ndarray, np.ndarray], float],
                 dacts: list[np.ndarray]) -> float:
    """One batch's mean loss; its gradient ADDED into grads (shaped like params).

    acts[0] = x (m, D); acts[1:] and dacts (m, width of layer i) are buffers the forward and
    backward write (layer outputs and their gradients); ``loss(be, out, target, dout)`` is the
    head. Kernel calls only: forward, loss, backward, no update.
    """
    ws, bs = params[0::2], params[1::2]
    gws, gbs = grads[0::2], grads[1::2]
    n_layers = len(ws)
    for i in range(n_layers - 1):
        be.linear_relu_forward(acts[i], ws[i], bs[i], out=acts[i + 1])
    be.linear_forward(acts[-2], ws[-1], bs[-1], out=acts[-1])
    value = loss(be, acts[-1], target, dacts[-1])
    for i in range(n_layers - 1, -1, -1):
        be.linear_backward(acts[i], ws[i], dacts[i], need_dx=i > 0,
                           dx_out=dacts[i - 1] if i > 0 else None, dw_out=gws[i], db_out=gbs[i])
        if i > 0:
            be.relu_backward(dacts[i - 1], acts[i], out=dacts[i - 1])
    return value


def batch_grad(be: Backend, x: np.ndarray, target: np.ndarray, params: list[np.ndarray],
               loss: str) -> tuple[float, list[np.ndarray]]:
    """(mean loss, gradient of the mean) of one batch x (m, D) under the head named ``loss``
    (``LOSS_HEADS``), with buffers of its own (a dask worker's block)."""
    widths = [p.shape[0] for p in params[1::2]]
    acts = [x] + [np.empty((x.shape[0], w), x.dtype) for w in widths]
    dacts = [np.empty((x.shape[0], w), x.dtype) for w in widths]
    grads = [np.zeros_like(p) for p in params]
    value = network_grad(be, acts, target, params, grads, LOSS_HEADS[loss], dacts)
    return value, grads


def _forward(be: Backend, Xs: np.ndarray, params: list[np.ndarray]) -> np.ndarray:
    """Network outputs for standardised X: relu layers, then a linear one (kernels only)."""
    a = Xs
    for w, b in zip(params[0:-2:2], params[1:-2:2], strict=True):
        a = be.linear_relu_forward(a, w, b)
    return be.linear_forward(a, params[-2], params[-1])


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Regression MLP, squared loss, as scikit-learn's ``MLPRegressor`` (see ``_BaseMLP``):
    y (N,) or (N, O) is standardised inside the estimator, predictions have y's shape and the
    fitted dtype. Full-batch plain SGD with one hidden layer runs the fused ``mlp_train``
    kernel (``solver="sgd", momentum=0, batch_size=None``: the seed experiment); every other
    ``solver="sgd"`` fit (mini-batches, momentum, any depth) runs one ``mlp_train_minibatch``
    call per epoch."""

    _multi_output_y = True
    _numeric_y = True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    @atomic
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X: object, y: object) -> MLPRegressor:
        """One epoch over X and y, continuing from the current model (the first call
        initialises it and learns the standardisation); returns self."""
        return self._fit(X, y, incremental=True, classes=None)

    def _targets(self, y, first, classes, dtype):
        y = np.asarray(y)
        y_1d = y.ndim == 1
        y2 = y.reshape(-1, 1) if y_1d else y
        if first:
            y_mean, y_scale = mean_scale(y2)
        else:
            if y2.shape[1] != self.n_outputs_:
                raise ValueError(f"y has {y2.shape[1]} outputs, but {type(self).__name__} was "
                                 f"fitted with {self.n_outputs_}")
            y_mean, y_scale, y_1d = self.y_mean_, self.y_scale_, self._y_1d
        check_representable("y", y_mean, y_scale, dtype)
        ys = standardise(y2, y_mean, y_scale, dtype, what="y")
        return ys, {"y_mean_": y_mean, "y_scale_": y_scale, "_y_1d": y_1d,
                    "n_outputs_": y2.shape[1]}

    _loss = staticmethod(squared_loss)
    _loss_name = "squared"

    def _score_outputs(self, out, target):
        from sklearn.metrics import r2_score

        # R^2 is the same in standardised units as in the units of y.
        return float(r2_score(target, out))

    def predict(self, X: object) -> np.ndarray:
        """Predictions (N,) when fitted on a 1-D y, else (N, O), in the fitted dtype; a dask
        array for a dask X (block by block on the cluster)."""
        if _is_dask(X):
            from ..distributed import predict_estimator

            return predict_estimator(self, X)
        out = self._outputs(X).astype(np.float64) * self.y_scale_ + self.y_mean_
        out = out.astype(self.dtype_)
        return out.reshape(-1) if self._y_1d else out

    @property
    def loss_history_(self) -> np.ndarray:
        """``loss_curve_`` as an array (the name of earlier versions)."""
        return np.asarray(self.loss_curve_)


class MLPClassifier(SoftmaxOutputs, ClassifierMixin, _BaseMLP):
    """Classification MLP with a softmax cross-entropy head (one output per class, also for two
    classes), as scikit-learn's ``MLPClassifier`` (see ``_BaseMLP``): ``predict_proba``
    columns follow ``classes_``; ``partial_fit`` needs ``classes`` on its first call."""

    _multi_output_y = False
    _numeric_y = False

    @atomic
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X: object, y: object, classes: object = None) -> MLPClassifier:
        """One epoch over X and y, continuing from the current model; ``classes`` (every
        label the model will see) is required on the first call. Returns self."""
        if classes is None and not hasattr(self, "classes_"):
            raise ValueError("classes must be passed on the first call to partial_fit")
        return self._fit(X, y, incremental=True, classes=classes)

    def _targets(self, y, first, classes, dtype):
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if first:
            classes = np.unique(y if classes is None else np.asarray(classes))
            if len(classes) < 2:
                raise ValueError(f"{type(self).__name__} needs at least 2 classes in y, got "
                                 f"{len(classes)} class ({classes[0]!r})" if len(classes) else
                                 "y has no class")
        else:
            classes = self.classes_
        codes = np.searchsorted(classes, y)
        codes = np.clip(codes, 0, len(classes) - 1)
        unknown = classes[codes] != y
        if unknown.any():
            raise ValueError(f"y holds labels not in classes {list(classes)}: "
                             f"{list(np.unique(y[unknown]))[:5]}")
        return codes.astype(np.int64), {"classes_": classes, "n_outputs_": len(classes)}

    _loss = staticmethod(softmax_ce_loss)
    _loss_name = "softmax_ce"

    def _score_outputs(self, out, target):
        return float(np.mean(out.argmax(axis=1) == target))

    def _class_logits(self, X: object) -> np.ndarray:
        return self._outputs(X)

    def predict_proba(self, X: object) -> np.ndarray:
        """Class probabilities (N, K), columns ordered as classes_; a dask array for a dask X
        (block by block on the cluster)."""
        if _is_dask(X):
            from ..distributed import predict_estimator

            return predict_estimator(self, X, "predict_proba")
        return super().predict_proba(X)

    def predict(self, X: object) -> np.ndarray:
        """The most probable class of each record (N,); a dask array for a dask X."""
        if _is_dask(X):
            from ..distributed import predict_estimator

            return predict_estimator(self, X, "predict")
        return super().predict(X)


# The earlier name of the regressor.
MLP = MLPRegressor
