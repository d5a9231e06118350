"""``nnkernels demo-conv``: train the ConvNet on the 8x8 digits, on each backend, and compare."""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np

from nnkernels.models import ConvNet, DivergenceError

from ._common import check_minimums, load_line, load_warning, out_dir, show_progress, warm_up
from .demo import _backends

DEFAULT_OUT = "nnkernels-out/demo-conv"
# What one ConvNet epoch calls (float32, the estimator's default dtype): the notice's estimate.
CONV_KERNELS = ("conv2d_forward", "conv2d_backward", "linear_forward", "linear_backward")


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    """Register the sub-command."""
    p = sub.add_parser(name, help="train a small ConvNet on the 8x8 digits on both backends",
                       description="Train the ConvNet (conv -> ReLU -> pool, twice, then dense "
                       "-> softmax) on scikit-learn's 8x8 handwritten digits (fixed 80/20 "
                       "split) on each backend; prints the test accuracy, the time per epoch, "
                       "numba's speed-up and the load average (the speed-up swings with "
                       "load), and writes the training curves and the misclassified digits. "
                       "Needs scikit-learn (pip install 'nnkernels[datasets]').")
    p.add_argument("--backend", default=None,
                   help="numba, numpy or both (default: both where numba is available)")
    p.add_argument("--epochs", type=int, default=None,
                   help="training epochs (default: the ConvNet default, 30)")
    p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                   help=f"folder for the PNG files (default {DEFAULT_OUT})")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the weights and the batch order (the split is fixed)")
    p.add_argument("--quiet", action="store_true",
                   help="results only: no progress bars, notices or load average (progress "
                   "bars show only on a terminal anyway)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Fit on the fixed 80/20 split per backend; print accuracy and epoch times; write PNGs."""
    from . import CommandError

    check_minimums(args, epochs=1, seed=0)
    names = _backends(args.backend)
    out = out_dir(args.out)
    progress = show_progress(args.quiet)
    try:
        from nnkernels.datasets import load_digits_split

        x_train, x_test, y_train, y_test = load_digits_split()
    except ImportError as exc:
        raise CommandError(str(exc)) from None

    epochs = {} if args.epochs is None else {"max_iter": args.epochs}
    print(f"digits: {len(y_train)} training and {len(y_test)} test images of 8x8 pixels; "
          "ConvNet conv3x3(32) -> ReLU -> pool -> dense(10), Adam",
          flush=True)
    load_start = load_line()
    if not args.quiet:
        print(load_start, flush=True)
        warn = load_warning()
        if warn:
            print(warn, flush=True)
    fits: dict[str, ConvNet] = {}
    epoch_time: dict[str, float] = {}
    for name in names:
        if name == "numba":
            # One epoch on the real data compiles (or loads) exactly the paths the fit takes.
            warm_up([("ConvNet epoch", lambda: ConvNet(backend="numba", max_iter=1,
                                                       random_state=args.seed).fit(x_train,
                                                                                   y_train))],
                    quiet=args.quiet, kernels=CONV_KERNELS)
        model = ConvNet(backend=name, random_state=args.seed, verbose=progress, **epochs)
        try:
            model.fit(x_train, y_train)
        except DivergenceError as exc:
            raise CommandError(str(exc)) from None
        fits[name] = model
        epoch_time[name] = statistics.median(model.epoch_times_)
        print(f"[{name}] test accuracy {model.score(x_test, y_test):.4f} "
              f"(train {model.accuracy_history_[-1]:.4f}, final loss "
              f"{model.loss_history_[-1]:.4g}, {model.n_iter_} epochs)")
        print(f"[{name}] time per epoch: {epoch_time[name] * 1e3:.1f} ms (median), "
              f"{model.epoch_times_.sum():.2f} s in all")
    if "numba" in epoch_time and "numpy" in epoch_time:
        print(f"speed-up of numba over numpy per epoch: "
              f"{epoch_time['numpy'] / epoch_time['numba']:.1f}x"
              + ("" if args.quiet else f" ({load_start} at the start, {load_line()} at the "
                 "end)"))

    first = fits[names[0]]
    curves, grid = out / "demo_conv_curves.png", out / "demo_conv_misclassified.png"
    try:
        _plot_curves(curves, fits)
        pred = first.predict(x_test)
        _plot_misclassified(grid, x_test, y_test, pred, names[0])
    except OSError as exc:
        raise CommandError(f"cannot write to --out {args.out!r}: {exc.strerror or exc}") from None
    print(f"wrote {curves} and {grid}")
    return 0


def _pyplot():
    """matplotlib's pyplot on the file-only Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plot_curves(path: Path, fits: dict[str, ConvNet]) -> None:
    """Training loss (log scale) and training accuracy per epoch, one line per backend."""
    plt = _pyplot()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4.5))
    for name, model in fits.items():
        style = "-" if name == "numba" else "--"
        epochs = np.arange(1, model.n_iter_ + 1)
        ax_loss.plot(epochs, model.loss_history_, style, label=name)
        ax_acc.plot(epochs, model.accuracy_history_, style, label=name)
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("mean cross-entropy")
    ax_loss.set_title("training loss")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy")
    ax_acc.set_title("training accuracy")
    for ax in (ax_loss, ax_acc):
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_misclassified(path: Path, images: np.ndarray, truth: np.ndarray, pred: np.ndarray,
                        backend: str, max_shown: int = 40) -> None:
    """A grid of the misclassified test digits, each titled 'true -> predicted'."""
    plt = _pyplot()
    wrong = np.flatnonzero(pred != truth)[:max_shown]
    cols = 10
    rows = max(1, -(-len(wrong) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.1, rows * 1.3 + 0.6), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i in zip(axes.ravel(), wrong, strict=False):
        ax.imshow(images[i], cmap="gray_r", vmin=0.0, vmax=1.0)
        ax.set_title(f"{truth[i]} -> {pred[i]}", fontsize=9)
    n_wrong = int(np.count_nonzero(pred != truth))
    fig.suptitle(f"misclassified test digits ({backend}): {n_wrong} of {len(truth)}"
                 + ("" if n_wrong else " - none"))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
