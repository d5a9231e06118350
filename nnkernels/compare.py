"""Did it get faster? Two benchmark runs compared cell by cell, with a noise estimate per cell.

For every (kernel, case, cell, backend) row present in both runs, the ratio r = new median /
base median is reported as "1.25x slower" (r > 1) or "1.10x faster" (r < 1), with a 95%
interval for r:

- **bootstrap** when both runs kept their rounds (``--bench-keep-data``, at least
  :data:`MIN_BOOTSTRAP_ROUNDS` each): the rounds of each run are resampled with replacement
  (:data:`BOOTSTRAP_SAMPLES` times, fixed seed) and the 2.5% and 97.5% percentiles of the ratio
  of the resampled medians are the interval;
- **IQR** otherwise (the suite's default JSON keeps only statistics): each median's standard
  error is estimated as 1.2533 * sigma / sqrt(rounds) with the robust sigma = IQR / 1.349 (the
  standard deviation when there is no IQR); the log-ratio's error is the root sum of squares of
  the two relative errors, and the interval is r * exp(+-t * error), t being Student's 97.5%
  quantile for the smaller round count minus one (4.3 for 3 rounds, 1.96 for many);
- **none** when a run stored no spread (or one round): the interval is the ratio itself, and
  the threshold alone absorbs the noise.

A row's verdict is *slower* when the whole interval lies above 1, *faster* when it lies below
1, else *within noise*. It is a **regression** when even the interval's fast end is slower than
the threshold (``fail_slower``, in percent): within-run noise cannot explain it, and neither
can the drift between two runs of unchanged code that the threshold allows for. The rounds of
one run cannot see that drift: back-to-back quick runs of unchanged code on this project's
shared 2-core machine (load average about 2) differed by up to 1.54x in a cell whose interval
was +-2%, hence the default of 100% (2x slower); on a quiet machine pass a lower one. Under
heavier load whole runs slow down by several times; the comparison notes a run recorded on a
busy machine. ``fail_faster`` likewise flags improvements beyond a threshold (off by default).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .report import (
    BACKEND_ORDER,
    CASE_TITLES,
    Result,
    Run,
    _ordered,
    _slug,
    _table,
    backends,
    cases,
    cells,
    format_change,
    format_time,
    kernels,
)

DEFAULT_FAIL_SLOWER = 100.0
# A run whose 1-minute load average was at least this share of its cores ran on a busy machine.
BUSY_LOAD_SHARE = 0.5
MIN_BOOTSTRAP_ROUNDS = 5
BOOTSTRAP_SAMPLES = 2000
BOOTSTRAP_MAX_ROUNDS = 5000  # rounds beyond this are subsampled (memory of the resampling)
# 97.5% quantiles of Student's t for 1..30 degrees of freedom (scipy-free), then 1.96.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


@dataclass(frozen=True)
class Row:
    """One cell of one backend in both runs; ``ratio`` = new / base (above 1: slower)."""

    kernel: str
    case: str
    cell: tuple[Any, ...]
    backend: str
    base: Result
    new: Result
    ratio: float
    lo: float  # 95% interval of the ratio
    hi: float
    method: str  # "bootstrap", "IQR" or "none" (no spread stored: lo = hi = ratio)
    verdict: str  # "slower", "faster" or "within noise"
    regression: bool
    improvement: bool

    @property
    def where(self) -> str:
        """``'mlp_train seed N=100000 H=10 float64 [numba]'``."""
        return f"{self.kernel} {self.case} {cell_text(self.case, self.cell)} [{self.backend}]"


@dataclass
class Comparison:
    """The rows of a comparison, the thresholds, and the rows found in one run only."""

    base: Run
    new: Run
    rows: list[Row]
    fail_slower: float
    fail_faster: float | None
    only_base: list[tuple[str, str, tuple[Any, ...], str]]
    only_new: list[tuple[str, str, tuple[Any, ...], str]]

    @property
    def regressions(self) -> list[Row]:
        """Rows slower than the threshold beyond noise, worst first."""
        return sorted((r for r in self.rows if r.regression), key=lambda r: -r.lo)

    @property
    def improvements(self) -> list[Row]:
        """Rows faster than ``fail_faster`` beyond noise (only when it is set), best first."""
        return sorted((r for r in self.rows if r.improvement), key=lambda r: r.hi)

    @property
    def failed(self) -> bool:
        """True when the comparison should fail a CI job (exit status 1)."""
        return bool(self.regressions or self.improvements)


def cell_text(case: str, cell: tuple[Any, ...]) -> str:
    """``'N=700 H=10 float64'`` or ``'N64-C3-32x32-F16-k3-s1-p1 float32'``."""
    if case == "conv":
        return " ".join(str(v) for v in cell)
    return f"N={cell[0]} H={cell[1]} {cell[2]}"


def _t975(df: int) -> float:
    return _T975[df - 1] if 1 <= df <= len(_T975) else 1.96


def _rel_error(r: Result) -> float | None:
    """Relative standard error of a median from its stored statistics; None if unknown."""
    if r.rounds < 2:
        return None
    sigma = r.iqr / 1.349 if r.iqr else r.stddev
    if sigma is None:
        return None
    return 1.2533 * sigma / math.sqrt(r.rounds) / r.median


def ratio_interval(base: Result, new: Result, seed: int = 0) -> tuple[float, float, str]:
    """95% interval (lo, hi) of new.median / base.median and the method used (see module)."""
    ratio = new.median / base.median
    if len(base.data) >= MIN_BOOTSTRAP_ROUNDS and len(new.data) >= MIN_BOOTSTRAP_ROUNDS:
        rng = np.random.default_rng(seed)
        meds = []
        for data in (base.data, new.data):
            d = np.asarray(data)
            if d.size > BOOTSTRAP_MAX_ROUNDS:
                d = rng.choice(d, BOOTSTRAP_MAX_ROUNDS, replace=False)
            meds.append(np.median(rng.choice(d, (BOOTSTRAP_SAMPLES, d.size)), axis=1))
        lo, hi = np.percentile(meds[1] / meds[0], [2.5, 97.5])
        # The stored median, not the resampled one, is the point estimate; keep it inside.
        return min(float(lo), ratio), max(float(hi), ratio), "bootstrap"
    eb, en = _rel_error(base), _rel_error(new)
    if eb is None or en is None:
        # No spread stored (or a single round): the threshold alone has to absorb the noise.
        return ratio, ratio, "none"
    t = _t975(min(base.rounds, new.rounds) - 1)
    half = t * math.hypot(eb, en)
    return ratio * math.exp(-half), ratio * math.exp(half), "IQR"


def compare_runs(base: Run, new: Run, fail_slower: float = DEFAULT_FAIL_SLOWER,
                 fail_faster: float | None = None) -> Comparison:
    """Compare every row present in both runs; thresholds in percent (see module)."""
    if not fail_slower >= 0 or not math.isfinite(fail_slower):
        raise ValueError(f"fail_slower must be a percentage >= 0, got {fail_slower}")
    if fail_faster is not None and not (0 <= fail_faster < 100):
        raise ValueError(f"fail_faster must be a percentage in [0, 100), got {fail_faster}")
    slow_limit = 1 + fail_slower / 100
    fast_limit = None if fail_faster is None else 1 - fail_faster / 100
    keys_b = {(r.kernel, r.case, r.cell, r.backend) for r in base.results}
    keys_n = {(r.kernel, r.case, r.cell, r.backend) for r in new.results}
    both = [base, new]
    rows = []
    for kernel in kernels(both):
        for case in cases(both, kernel):
            for cell in cells(both, kernel, case):
                for be in backends(both, kernel):
                    rb, rn = base.result(kernel, case, cell, be), new.result(kernel, case, cell,
                                                                               be)
                    if rb is None or rn is None:
                        continue
                    lo, hi, method = ratio_interval(rb, rn)
                    verdict = "slower" if lo > 1 else "faster" if hi < 1 else "within noise"
                    rows.append(Row(kernel, case, cell, be, rb, rn, rn.median / rb.median, lo, hi,
                                    method, verdict, lo > slow_limit,
                                    fast_limit is not None and hi < fast_limit))

    def order(keys: set) -> list:
        return sorted(keys, key=lambda k: (kernels(both).index(k[0]) if k[0] in kernels(both)
                                           else 99, str(k[1:])))

    return Comparison(base, new, rows, fail_slower, fail_faster, order(keys_b - keys_n),
                      order(keys_n - keys_b))


# -- output --------------------------------------------------------------------------------


def format_interval(lo: float, hi: float, method: str = "IQR") -> str:
    """The 95% interval of a ratio in the report's wording: ``'1.05x faster to 1.40x slower'``."""
    if method == "none":
        return "no spread stored"
    return f"{format_change(lo)} to {format_change(hi)}"


def summary_lines(c: Comparison) -> list[str]:
    """Plain-text summary, regressions first (what the command prints)."""
    n = len(c.rows)
    counts = {v: sum(r.verdict == v for r in c.rows) for v in ("slower", "faster",
                                                                "within noise")}
    lines = []
    if c.regressions:
        lines.append(f"REGRESSION: {len(c.regressions)} of {n} rows slower than the "
                     f"{c.fail_slower:g}% threshold beyond noise:")
        lines += [f"  {r.where}: {format_time(r.base.median)} -> {format_time(r.new.median)}, "
                  f"{format_change(r.ratio)} (95%: {format_interval(r.lo, r.hi, r.method)})"
                  for r in c.regressions]
    else:
        lines.append(f"no regression: none of {n} rows is slower than the {c.fail_slower:g}% "
                     "threshold beyond noise")
    if c.fail_faster is not None:
        if c.improvements:
            lines.append(f"FASTER: {len(c.improvements)} rows faster than the "
                         f"{c.fail_faster:g}% threshold beyond noise (--fail-faster):")
            lines += [f"  {r.where}: {format_change(r.ratio)}" for r in c.improvements]
        else:
            lines.append(f"none is faster than the {c.fail_faster:g}% threshold beyond noise")
    lines.append(f"verdicts: {counts['slower']} slower, {counts['faster']} faster, "
                 f"{counts['within noise']} within noise"
                 + (f"; {len(c.only_base)} rows only in base, {len(c.only_new)} only in new"
                    if c.only_base or c.only_new else ""))
    return lines


def _setting_notes(c: Comparison) -> list[str]:
    """Warnings when the two runs were not measured alike (threads, quick, CPU)."""
    notes = []
    for run, which in ((c.base, "base"), (c.new, "new")):
        load, cores = run.nk().get("load_avg"), run.nk().get("cpu_count")
        if (isinstance(load, list) and load and isinstance(load[0], (int, float))
                and isinstance(cores, int) and cores > 0 and load[0] >= BUSY_LOAD_SHARE * cores):
            notes.append(f"The {which} run was measured on a busy machine (load average "
                         f"{load[0]:.2f} on {cores} cores): other work slows whole runs, "
                         "beyond any interval from the rounds; rerun when the machine is idle.")
    for key, what in (("threads", "thread counts"), ("quick", "--quick settings"),
                      ("cpu_count", "CPU counts")):
        a, b = c.base.nk().get(key), c.new.nk().get(key)
        if a is not None and b is not None and a != b:
            notes.append(f"The runs differ in their {what} ({a} vs {b}): the ratios mix that "
                         "difference with the code's.")
    return notes


def render_markdown(c: Comparison, plots: Sequence[Path] = (), plot_dir: Path | None = None
                    ) -> str:
    """The comparison as Markdown: summary, regressions, then one table per kernel and case."""
    lines = [f"# nnkernels compare: `{c.new.label}` against `{c.base.label}`", "",
             f"Base: `{c.base.path.name}` ({c.base.datetime[:19].replace('T', ' ')}); new: "
             f"`{c.new.path.name}` ({c.new.datetime[:19].replace('T', ' ')}). Each row is a "
             "median per op (mlp_train: per training step); the change is new against base, "
             "and the 95% interval comes from the rounds (bootstrap of the medians when the "
             "runs kept their rounds, else from the IQR, the round count and Student's t). "
             f"A row is a regression when even the interval's fast end is more than "
             f"{c.fail_slower:g}% slower.", ""]
    lines += [f"> {n}" for n in _setting_notes(c)] + ([""] if _setting_notes(c) else [])
    lines += ["## Summary", ""] + [ln if not ln.startswith("  ") else "- " + ln.strip()
                                   for ln in summary_lines(c)]
    header = ["kernel", "case", "cell", "backend", "base", "new", "change",
              "95% interval", "verdict"]
    if c.regressions:
        lines += ["", "## Regressions", ""]
        lines += _table(header, [_row(r) for r in c.regressions], right_from=4)
    for kernel in _ordered({r.kernel for r in c.rows}, kernels([c.base, c.new])):
        lines += ["", f"## {kernel}"]
        for case in _ordered({r.case for r in c.rows if r.kernel == kernel}, tuple(CASE_TITLES)):
            rows = [r for r in c.rows if r.kernel == kernel and r.case == case]
            lines += ["", f"### {kernel}: {CASE_TITLES.get(case, case)}", ""]
            lines += _table(header[2:], [_row(r)[2:] for r in rows], right_from=2)
        for png in plots:
            if png.stem.startswith(_slug(kernel) + "-"):
                rel = png.relative_to(plot_dir.parent) if plot_dir else png
                lines += ["", f"![{png.stem}]({rel.as_posix()})"]
    for what, keys in (("base", c.only_base), ("new", c.only_new)):
        if keys:
            lines += ["", f"Only in {what} ({len(keys)} rows, not compared): "
                      + ", ".join(f"{k} {cs} {cell_text(cs, cl)} [{be}]"
                                  for k, cs, cl, be in keys[:20])
                      + (", ..." if len(keys) > 20 else "")]
    return "\n".join(lines).rstrip() + "\n"


def _row(r: Row) -> list[str]:
    verdict = "**regression**" if r.regression else r.verdict
    return [r.kernel, r.case, cell_text(r.case, r.cell), r.backend, format_time(r.base.median),
            format_time(r.new.median), format_change(r.ratio),
            format_interval(r.lo, r.hi, r.method), verdict]


def plot_overlay(c: Comparison, kernel: str, path: Path) -> Path | None:
    """Base (hollow) and new (filled) medians of every cell of ``kernel``, one panel per case,
    with the regressions ringed in red."""
    from matplotlib.figure import Figure

    rows = [r for r in c.rows if r.kernel == kernel]
    kcases = _ordered({r.case for r in rows}, tuple(CASE_TITLES))
    if not rows:
        return None
    widths = [max(3.0, 0.35 * len({r.cell for r in rows if r.case == cs})) for cs in kcases]
    fig = Figure(figsize=(max(6.0, sum(widths) + 1.5), 4.8), layout="constrained")
    axes = fig.subplots(1, len(kcases), squeeze=False, width_ratios=widths)[0]
    colors = {"numpy": "tab:blue", "numba": "tab:orange", "torch": "tab:green",
              "jax": "tab:purple"}
    unit = "training step" if kernel == "mlp_train" else "call"
    for ax, case in zip(axes, kcases, strict=True):
        crow = [r for r in rows if r.case == case]
        ucells = sorted({r.cell for r in crow}, key=lambda cl: cells([c.base, c.new], kernel,
                                                                     case).index(cl))
        xs = {cl: i for i, cl in enumerate(ucells)}
        for be in _ordered({r.backend for r in crow}, BACKEND_ORDER):
            br = [r for r in crow if r.backend == be]
            col = colors.get(be, "tab:gray")
            ax.scatter([xs[r.cell] for r in br], [r.base.median for r in br], marker="o",
                       facecolors="none", edgecolors=col, label=f"{be} base")
            ax.scatter([xs[r.cell] for r in br], [r.new.median for r in br], marker="o",
                       color=col, s=14, label=f"{be} new")
        bad = [r for r in crow if r.regression]
        if bad:
            ax.scatter([xs[r.cell] for r in bad], [r.new.median for r in bad], marker="o",
                       s=160, facecolors="none", edgecolors="red", linewidths=1.5,
                       label="regression")
        ax.set_yscale("log")
        ax.set_xticks(range(len(ucells)), [cell_text(case, cl).replace(" float", "\nfloat")
                                           for cl in ucells], rotation=90, fontsize=7)
        ax.set_title(CASE_TITLES.get(case, case), fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel(f"median time per {unit} [s]")
    axes[-1].legend(fontsize=7, loc="best")
    fig.suptitle(f"{kernel}: {c.new.label} (filled) vs {c.base.label} (hollow)", fontsize=10)
    fig.savefig(path, dpi=90)
    return path


def make_plots(c: Comparison, plot_dir: Path) -> list[Path]:
    """One overlay PNG per kernel in ``plot_dir``."""
    plot_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for kernel in _ordered({r.kernel for r in c.rows}, kernels([c.base, c.new])):
        p = plot_overlay(c, kernel, plot_dir / f"{_slug(kernel)}-compare.png")
        if p is not None:
            out.append(p)
    return out
