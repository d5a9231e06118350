"""``nnkernels demo``: the seed experiment: fit a noisy cubic with a linear model and an MLP."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import nnkernels
from nnkernels.data import make_cubic
from nnkernels.models import MLP, DivergenceError, LinearRegression

from ._common import check_minimums, load_line, load_warning, out_dir, show_progress, warm_up

DEFAULT_OUT = "nnkernels-out/demo"


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    """Register the sub-command."""
    p = sub.add_parser(name, help="fit the seed's noisy cubic with a linear model and an MLP, "
                       "on both backends",
                       description="The seed experiment: 700 noisy samples of x**3 + 4 fitted "
                       "by linear regression and by a 1 -> H -> ReLU -> 1 network on each "
                       "backend; prints the losses, each fit's RMSE against the noise-free "
                       "curve, the time per training step, numba's speed-up and the load "
                       "average, and writes demo_fit.png and demo_loss.png.")
    p.add_argument("--backend", default=None,
                   help="numba, numpy or both (default: both where numba is available)")
    p.add_argument("--records", type=int, default=700, help="number of records N (default 700)")
    p.add_argument("--hidden", type=int, default=10, help="hidden units H (default 10)")
    p.add_argument("--iters", type=int, default=None,
                   help="training iterations of each model (default: the estimators' defaults)")
    p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                   help=f"folder for the PNG files (default {DEFAULT_OUT})")
    p.add_argument("--seed", type=int, default=0, help="seed of the data and the weights")
    p.add_argument("--quiet", action="store_true",
                   help="results only: no progress bars, notices or load average (progress "
                   "bars show only on a terminal anyway)")
    p.set_defaults(run=run)


def _backends(choice: str | None) -> list[str]:
    """Backend names to run, in order (the first one's fits are plotted)."""
    from . import CommandError

    available = nnkernels.available_backends()
    if choice is None:
        return [b for b in ("numba", "numpy") if b in available]
    if choice == "both":
        missing = [b for b in ("numba", "numpy") if b not in available]
        if missing:
            raise CommandError(f"--backend both needs {', '.join(missing)}, which is unavailable")
        return ["numba", "numpy"]
    if choice not in available:
        raise CommandError(f"unknown or unavailable backend {choice!r}; choose from "
                           f"{', '.join((*available, 'both'))}")
    return [choice]


def warmup_calls(backend: Any, records: int, hidden: int) -> list[tuple[str, Callable[[], Any]]]:
    """The kernels the demo's fits and predictions call, on float64 arrays of the demo's
    shapes, so that exactly the paths the demo takes compile (not conv, not float32)."""
    n, h = records, hidden
    x = np.linspace(-1.0, 1.0, n).reshape(n, 1)
    y = x**3
    w, b = np.full((1, 1), 0.5), np.zeros(1)
    pred, dpred = np.empty((n, 1)), np.empty((n, 1))
    gw, gb = np.zeros_like(w), np.zeros_like(b)
    params = [np.full((1, h), 0.5), np.zeros(h), np.full((h, 1), 0.1), np.zeros(1)]
    hid = np.empty((n, h))
    return [
        # LinearRegression.fit: one full-batch step
        ("linear_forward", lambda: backend.linear_forward(x, w, b, out=pred)),
        ("mse_loss", lambda: backend.mse_loss(pred, y, out=dpred)),
        ("linear_backward", lambda: backend.linear_backward(x, w, dpred, need_dx=False,
                                                            dw_out=gw, db_out=gb)),
        ("sgd_update", lambda: (backend.sgd_update(w.copy(), gw, 0.1),
                                backend.sgd_update(b.copy(), gb, 0.1))),
        # MLP.fit: the fused step; MLP.predict: (N, 1) -> (N, H) -> (N, 1)
        ("mlp_train", lambda: backend.mlp_train(x, y, [q.copy() for q in params], 1e-3, 1,
                                                losses_out=np.empty(1))),
        ("linear_relu_forward", lambda: backend.linear_relu_forward(x, params[0], params[1],
                                                                    out=hid)),
        ("linear_forward", lambda: backend.linear_forward(hid, params[2], params[3])),
    ]


def run(args: argparse.Namespace) -> int:
    """Fit both models on every chosen backend, print losses, RMSE and timings, write PNGs."""
    from . import CommandError

    check_minimums(args, records=2, hidden=1, iters=1, seed=0)
    names = _backends(args.backend)
    out = out_dir(args.out)
    progress = show_progress(args.quiet)

    print(f"data: {args.records} records of f(x) = x**3 + 4 on [0, 5] with noise sigma 10; "
          f"MLP 1 -> {args.hidden} -> ReLU -> 1", flush=True)
    load_start = load_line()
    if not args.quiet:
        print(load_start, flush=True)
        warn = load_warning()
        if warn:
            print(warn, flush=True)
    x, y, fx = make_cubic(n=args.records, random_state=args.seed)
    iters = {} if args.iters is None else {"max_iter": args.iters}
    fits: dict[str, tuple[LinearRegression, MLP]] = {}
    step_time: dict[str, float] = {}
    for name in names:
        if name == "numba":
            # Compile (or load) first, so that timings exclude it; only what the demo runs.
            warm_up(warmup_calls(nnkernels.get_backend(name), args.records, args.hidden),
                    quiet=args.quiet)
        lin = LinearRegression(backend=name, random_state=args.seed, verbose=progress, **iters)
        # The seed's network: full-batch gradient descent (the fused mlp_train kernel).
        mlp = MLP(hidden_layer_sizes=(args.hidden,), solver="sgd", learning_rate_init=0.1,
                  momentum=0.0, batch_size=None, tol=0.0, backend=name, random_state=args.seed,
                  verbose=progress, **{"max_iter": 5000, **iters})
        try:
            lin.fit(x, y)
            t0 = time.perf_counter()
            mlp.fit(x, y)
            elapsed = time.perf_counter() - t0
        except DivergenceError as exc:
            raise CommandError(str(exc)) from None
        step_time[name] = elapsed / mlp.n_iter_
        fits[name] = (lin, mlp)
        rmse_lin = _rmse(lin.predict(x), fx)
        rmse_mlp = _rmse(mlp.predict(x), fx)
        print(f"[{name}] linear: final loss {lin.loss_history_[-1]:.6g}, RMSE vs f(x) "
              f"{rmse_lin:.4f} ({lin.n_iter_} iterations)")
        print(f"[{name}] MLP:    final loss {mlp.loss_history_[-1]:.6g}, RMSE vs f(x) "
              f"{rmse_mlp:.4f} ({mlp.n_iter_} iterations)")
        print(f"[{name}] MLP time per training step: {step_time[name] * 1e6:.1f} us "
              f"({elapsed:.3f} s in all)")
    if "numba" in step_time and "numpy" in step_time:
        print(f"speed-up of numba over numpy per MLP training step: "
              f"{step_time['numpy'] / step_time['numba']:.1f}x"
              + ("" if args.quiet else f" ({load_start} at the start)"))

    lin, mlp = fits[names[0]]
    fit_png, loss_png = out / "demo_fit.png", out / "demo_loss.png"
    try:
        _plot_fit(fit_png, x, y, fx, lin.predict(x), mlp.predict(x), names[0])
        _plot_losses(loss_png, fits)
    except OSError as exc:
        raise CommandError(f"cannot write to --out {args.out!r}: {exc.strerror or exc}") from None
    print(f"wrote {fit_png} and {loss_png}")
    return 0


def _rmse(pred: np.ndarray, target: np.ndarray) -> float:
    """Root mean squared difference."""
    return float(np.sqrt(np.mean((np.asarray(pred) - target) ** 2)))


def _plot_fit(path: Path, x: np.ndarray, y: np.ndarray, fx: np.ndarray, lin: np.ndarray,
              mlp: np.ndarray, backend: str) -> None:
    """The seed's final figure: data, f(x), the linear and the non-linear fit, with a legend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    ax.plot(x, y, "x", color="y", label="training data")
    ax.plot(x, fx, "-", color="b", label="f(x)")
    ax.plot(x, lin, "-", color="r", label="linear fit for f(x)")
    ax.plot(x, mlp, "-", color="c", label="non-linear fit for f(x)")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(f"nnkernels demo ({backend} backend)")
    ax.legend(loc=2)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_losses(path: Path, fits: dict) -> None:
    """Training loss per iteration of every model on every backend (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for name, (lin, mlp) in fits.items():
        style = "-" if name == "numba" else "--"
        ax.plot(lin.loss_history_, style, color="r", label=f"linear ({name})")
        ax.plot(mlp.loss_history_, style, color="c", label=f"MLP ({name})")
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("0.5 * mean squared error (standardised y)")
    ax.set_title("training loss")
    ax.legend()
    fig.savefig(path, dpi=100)
    plt.close(fig)
