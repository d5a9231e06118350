"""Backend-comparison reports from pytest-benchmark JSON files (``--benchmark-json``).

:func:`make_report` reads one or several result files (each one a *run*, labelled by its file
stem) and writes ``report.md`` with, per kernel, a table of median times per backend and the
speed-up of numba over numpy (and over PyTorch where present) for every N x H x dtype cell, the
machine and library versions of each run, the cells where numba is not faster than numpy, and
PNG plots (time against N, log-log, one panel per H; speed-up heat maps over N x H). With
several runs, each run's medians appear side by side with the ratio to the first run.

The benchmark parameters are read from each benchmark's ``extra_info`` (written by the suite in
``nnkernels.benchmarks``), never parsed from test names; benchmarks without them are ignored.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

BACKEND_ORDER = ("numpy", "numba", "torch")
KERNEL_ORDER = ("linear_forward", "linear_relu_forward", "linear_backward", "relu_forward",
                "relu_backward", "mse_loss", "sgd_update", "mlp_train", "conv2d_forward",
                "conv2d_forward_backward")
CASE_TITLES = {"seed": "seed grid (D_in = 1, D_out = 1)", "wide": "wide grid",
               "conv": "convolution shapes"}


class ReportError(ValueError):
    """A results file that is missing, not pytest-benchmark JSON, or holds no usable results."""


@dataclass(frozen=True)
class Result:
    """One benchmark row: a kernel on one backend in one cell; ``median`` in seconds per op."""

    kernel: str
    backend: str
    case: str
    cell: tuple[Any, ...]  # (N, H, dtype) for dense cases, (shape, dtype) for conv
    median: float
    rounds: int
    info: dict[str, Any]


@dataclass
class Run:
    """The results of one JSON file."""

    label: str
    path: Path
    datetime: str
    machine: dict[str, Any]
    commit: dict[str, Any]
    results: list[Result] = field(default_factory=list)
    first_calls: dict[str, dict[str, Any]] = field(default_factory=dict)  # mode -> extra_info
    ignored: int = 0

    def median(self, kernel: str, case: str, cell: tuple[Any, ...], backend: str
               ) -> float | None:
        """The median (seconds per op) of one row, or None when it was not run."""
        return self._index.get((kernel, case, cell, backend))

    def __post_init__(self) -> None:
        self._index: dict[tuple[Any, ...], float] = {}

    def add(self, r: Result) -> None:
        """Add a result (a repeated row replaces the earlier one)."""
        self.results.append(r)
        self._index[(r.kernel, r.case, r.cell, r.backend)] = r.median


# -- loading -------------------------------------------------------------------------------


def _cell(info: dict[str, Any]) -> tuple[Any, ...]:
    if info.get("case") == "conv":
        return (str(info.get("shape")), str(info.get("dtype")))
    return (int(info["N"]), int(info["H"]), str(info["dtype"]))


def load_run(path: str | Path, label: str | None = None) -> Run:
    """Read one pytest-benchmark JSON file; :class:`ReportError` when it cannot be used."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportError(f"{path}: no such file") from None
    except OSError as exc:
        raise ReportError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise ReportError(f"{path}: not a pytest-benchmark JSON file (no 'benchmarks' list)")
    run = Run(label or path.stem, path, str(data.get("datetime", "?")),
              data.get("machine_info") or {}, data.get("commit_info") or {})
    for bench in data["benchmarks"]:
        info = bench.get("extra_info") if isinstance(bench, dict) else None
        stats = bench.get("stats") if isinstance(bench, dict) else None
        if not isinstance(info, dict) or "kernel" not in info or "backend" not in info:
            run.ignored += 1
            continue
        if not isinstance(stats, dict) or not isinstance(stats.get("median"), (int, float)):
            raise ReportError(f"{path}: benchmark {bench.get('name', '?')!r} has no median")
        if info["kernel"] == "first_call":
            run.first_calls[str(info.get("mode", "?"))] = dict(info, wall_s=stats["median"])
            continue
        try:
            cell = _cell(info)
        except (KeyError, TypeError, ValueError):
            raise ReportError(f"{path}: benchmark {bench.get('name', '?')!r} lacks N/H/dtype "
                              "in extra_info") from None
        per_call = max(int(info.get("ops_per_call", 1) or 1), 1)
        run.add(Result(str(info["kernel"]), str(info["backend"]), str(info.get("case", "seed")),
                       cell, float(stats["median"]) / per_call, int(stats.get("rounds", 0)),
                       info))
    if not run.results and not run.first_calls:
        raise ReportError(f"{path}: no nnkernels benchmarks in it (none has 'kernel' and "
                          "'backend' in extra_info)")
    return run


def load_runs(paths: Sequence[str | Path]) -> list[Run]:
    """Read several result files; labels are the file stems, made unique."""
    if not paths:
        raise ReportError("no results files given")
    runs: list[Run] = []
    seen: dict[str, int] = {}
    for p in paths:
        stem = Path(p).stem
        seen[stem] = seen.get(stem, 0) + 1
        runs.append(load_run(p, stem if seen[stem] == 1 else f"{stem}-{seen[stem]}"))
    return runs


# -- numbers -------------------------------------------------------------------------------


def speedup(base: float | None, new: float | None) -> float | None:
    """How many times faster ``new`` is than ``base`` (base / new); None if either is missing."""
    if base is None or new is None or new <= 0:
        return None
    return base / new


def _ordered(names: Iterable[str], order: Sequence[str]) -> list[str]:
    names = set(names)
    return [n for n in order if n in names] + sorted(names - set(order))


def kernels(runs: Sequence[Run]) -> list[str]:
    """Kernels present in any run, in the interface's order."""
    return _ordered((r.kernel for run in runs for r in run.results), KERNEL_ORDER)


def backends(runs: Sequence[Run], kernel: str | None = None) -> list[str]:
    """Backends present in any run (for ``kernel`` only, when given): numpy, numba, torch, ..."""
    return _ordered((r.backend for run in runs for r in run.results
                     if kernel is None or r.kernel == kernel), BACKEND_ORDER)


def cases(runs: Sequence[Run], kernel: str) -> list[str]:
    """Cases ("seed", "wide", "conv") in which ``kernel`` was run."""
    return _ordered((r.case for run in runs for r in run.results if r.kernel == kernel),
                    tuple(CASE_TITLES))


def cells(runs: Sequence[Run], kernel: str, case: str) -> list[tuple[Any, ...]]:
    """Sorted cells of one kernel and case over all runs."""
    found = {r.cell for run in runs for r in run.results if r.kernel == kernel and r.case == case}
    if case == "conv":
        return sorted(found)
    return sorted(found, key=lambda c: (c[2], c[0], c[1]))  # by dtype, then N, then H


def slow_cells(run: Run) -> list[tuple[str, str, tuple[Any, ...], float, float]]:
    """(kernel, case, cell, numpy median, numba median) wherever numba is not faster than numpy."""
    out = []
    for kernel in kernels([run]):
        for case in cases([run], kernel):
            for cell in cells([run], kernel, case):
                t_np = run.median(kernel, case, cell, "numpy")
                t_nb = run.median(kernel, case, cell, "numba")
                s = speedup(t_np, t_nb)
                if s is not None and s <= 1.0:
                    out.append((kernel, case, cell, t_np, t_nb))
    return out


# -- formatting ----------------------------------------------------------------------------


def format_time(seconds: float | None) -> str:
    """A duration with three significant digits and a unit: ``'8.29 ms'``; ``'-'`` if None."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def format_ratio(r: float | None) -> str:
    """A speed-up or ratio, ``'2.13x'``; ``'-'`` if None."""
    return "-" if r is None else f"{r:.3g}x"


def _cell_columns(case: str) -> list[str]:
    return ["shape", "dtype"] if case == "conv" else ["N", "H", "dtype"]


def _table(header: list[str], rows: list[list[str]], right_from: int = 0) -> list[str]:
    align = ["---" if i < right_from else "---:" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def kernel_table(runs: Sequence[Run], kernel: str, case: str) -> list[str]:
    """Markdown lines: medians per backend (per run), run-to-run ratios and numba's speed-ups."""
    bes = backends(runs, kernel)
    multi = len(runs) > 1
    keycols = _cell_columns(case)
    header = list(keycols)
    for be in bes:
        for i, run in enumerate(runs):
            header.append(f"{be} [{run.label}]" if multi else be)
            if i > 0:
                header.append(f"{be} {run.label}/{runs[0].label}")
    others = [b for b in bes if b != "numba"] if "numba" in bes else []
    for other in others:
        for run in runs:
            header.append(f"numba vs {other}" + (f" [{run.label}]" if multi else ""))
    rows = []
    for cell in cells(runs, kernel, case):
        row = [str(v) for v in cell]
        for be in bes:
            first = runs[0].median(kernel, case, cell, be)
            for i, run in enumerate(runs):
                t = run.median(kernel, case, cell, be)
                row.append(format_time(t))
                if i > 0:
                    row.append(format_ratio(None if t is None or first is None else t / first))
        for other in others:
            for run in runs:
                row.append(format_ratio(speedup(run.median(kernel, case, cell, other),
                                                run.median(kernel, case, cell, "numba"))))
        rows.append(row)
    return _table(header, rows, right_from=len(keycols))


def _versions(run: Run) -> dict[str, str]:
    nk = run.machine.get("nnkernels") or {}
    rt = nk.get("runtime") or {}
    cpu = run.machine.get("cpu") or {}
    pools = ", ".join(f"{p.get('internal_api')} {p.get('version') or ''} "
                      f"({p.get('num_threads')} threads)".replace("  ", " ")
                      for p in rt.get("threadpools", rt.get("blas", [])) or [])
    torch = nk.get("torch") or {}
    commit = run.commit.get("id")
    load = nk.get("load_avg")
    return {
        "date (UTC)": run.datetime[:19].replace("T", " "),
        "commit": "?" if not commit else commit[:10] + (" (dirty)" if run.commit.get("dirty")
                                                        else ""),
        "CPU": f"{cpu.get('brand_raw', run.machine.get('processor') or '?')}, "
               f"{cpu.get('count', nk.get('cpu_count', '?'))} cores",
        "system": f"{run.machine.get('system', '?')} {run.machine.get('release', '')}".strip(),
        "threads": str(nk.get("threads", "?")),
        "quick subset": str(nk.get("quick", "?")),
        "memory budget (GiB; larger cells skipped)": str(nk.get("mem_budget_gib", "?")),
        "load average (1, 5, 15 min)": ", ".join(f"{x:.2f}" for x in load) if load else "?",
        "python": str(run.machine.get("python_version", rt.get("python", "?"))),
        "nnkernels": str(nk.get("version", "?")),
        "numpy": str(rt.get("numpy", "?")),
        "numba": f"{rt.get('numba', '?')} ({rt.get('numba_threading_layer', '?')} layer, "
                 f"{rt.get('numba_num_threads', '?')} threads)",
        "llvmlite": str(rt.get("llvmlite", "?")),
        "scipy": str(rt.get("scipy", "?")),
        "thread pools": pools or "?",
        "torch": (f"{torch.get('torch')} ({torch.get('torch_num_threads')} threads)"
                  if torch else "not run"),
    }


def _first_call_lines(runs: Sequence[Run]) -> list[str]:
    lines: list[str] = []
    for run in runs:
        if not run.first_calls:
            continue
        cold = run.first_calls.get("cold", {})
        cached = run.first_calls.get("cached", {})
        keys = list(dict.fromkeys([*cold.get("first_call_s", {}), *cached.get("first_call_s", {})]))
        lines += ["", "First calls of the numba backend in a fresh process"
                  + (f" [{run.label}]" if len(runs) > 1 else "")
                  + " (seed size N = 700, H = 10; cold: empty NUMBA_CACHE_DIR, cached: the same "
                  "directory in a second process; steady: the second call):", ""]
        rows = [[k, format_time(cold.get("first_call_s", {}).get(k)),
                 format_time(cached.get("first_call_s", {}).get(k)),
                 format_time((cached or cold).get("steady_s", {}).get(k))] for k in keys]
        rows.append(["total of first calls", format_time(cold.get("total_first_call_s")),
                     format_time(cached.get("total_first_call_s")), ""])
        rows.append(["import nnkernels + backend", format_time(cold.get("import_s")),
                     format_time(cached.get("import_s")), ""])
        rows.append(["whole process", format_time(cold.get("wall_s")),
                     format_time(cached.get("wall_s")), ""])
        lines += _table(["kernel[dtype]", "cold first call", "cached first call", "steady call"],
                        rows, right_from=1)
    return lines


def render_markdown(runs: Sequence[Run], plots: dict[tuple[str, str], list[Path]] | None = None,
                    plot_dir: Path | None = None) -> str:
    """The whole report as Markdown; ``plots`` maps (kernel, case) to PNG paths."""
    plots = plots or {}
    lines = ["# nnkernels benchmark report", ""]
    lines.append("Runs: " + ", ".join(f"`{r.label}` ({r.path.name})" for r in runs) + ". "
                 "Times are medians of pytest-benchmark's rounds, per call (mlp_train: per "
                 "training step). *numba vs X* is X's median divided by numba's: above 1x, "
                 "numba is faster."
                 + (f" *{runs[-1].label}/{runs[0].label}* columns divide a run's median by the "
                    f"first run's: below 1x, the later run is faster." if len(runs) > 1 else ""))
    lines += ["", "## Machine and versions", ""]
    vers = [_versions(r) for r in runs]
    lines += _table(["", *[r.label for r in runs]],
                    [[k, *[v[k] for v in vers]] for k in vers[0]])
    ignored = sum(r.ignored for r in runs)
    if ignored:
        lines += ["", f"({ignored} benchmarks without nnkernels parameters were ignored.)"]
    lines += _first_call_lines(runs)
    for kernel in kernels(runs):
        lines += ["", f"## {kernel}"]
        for case in cases(runs, kernel):
            lines += ["", f"### {kernel}: {CASE_TITLES.get(case, case)}", ""]
            if case == "wide":
                infos = [r.info for run in runs for r in run.results
                         if r.kernel == kernel and r.case == case][:1]
                if infos:
                    lines += [f"D_in = {infos[0].get('D_in')}, D_out = {infos[0].get('D_out')}.",
                              ""]
            lines += kernel_table(runs, kernel, case)
            for png in plots.get((kernel, case), []):
                rel = png.relative_to(plot_dir.parent) if plot_dir else png
                lines += ["", f"![{png.stem}]({rel.as_posix()})"]
    lines += ["", "## Cells where numba is not faster than numpy", ""]
    for run in runs:
        slow = slow_cells(run)
        if len(runs) > 1:
            lines += [f"**{run.label}**:", ""]
        if not slow:
            lines += ["None: numba is faster than numpy in every cell measured.", ""]
            continue
        rows = [[k, c, " ".join(str(v) for v in cell), format_time(a), format_time(b),
                 format_ratio(speedup(a, b))] for k, c, cell, a, b in slow]
        lines += _table(["kernel", "case", "cell", "numpy", "numba", "numba vs numpy"], rows,
                        right_from=3) + [""]
    return "\n".join(lines).rstrip() + "\n"


# -- plots ---------------------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")


def plot_time_vs_n(run: Run, kernel: str, case: str, path: Path) -> Path | None:
    """Time against N (log-log), one panel per H, one line per backend (dashed: float32)."""
    from matplotlib.figure import Figure

    cl = cells([run], kernel, case)
    hs = sorted({c[1] for c in cl})
    if not hs:
        return None
    fig = Figure(figsize=(4.2 * len(hs), 3.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(hs), sharey=True, squeeze=False)[0])
    colors = {"numpy": "tab:blue", "numba": "tab:orange", "torch": "tab:green"}
    for ax, h in zip(axes, hs, strict=True):
        for be in backends([run], kernel):
            for dtype, style in (("float64", "-"), ("float32", "--")):
                pts = sorted((c[0], run.median(kernel, case, c, be)) for c in cl
                             if c[1] == h and c[2] == dtype)
                pts = [(n, t) for n, t in pts if t is not None]
                if pts:
                    ax.loglog(*zip(*pts, strict=True), style, marker="o", ms=3,
                              color=colors.get(be), label=f"{be} {dtype}")
        ax.set_title(f"H = {h}")
        ax.set_xlabel("records N")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("median time per call [s]")
    axes[-1].legend(fontsize=7)
    fig.suptitle(f"{kernel} ({case}) [{run.label}]")
    fig.savefig(path, dpi=90)
    return path


def plot_speedup_heatmap(run: Run, kernel: str, case: str, path: Path) -> Path | None:
    """Heat map of numba's speed-up over numpy on N x H, one panel per dtype (log colour scale)."""
    from matplotlib.colors import TwoSlopeNorm
    from matplotlib.figure import Figure

    cl = cells([run], kernel, case)
    dtypes = sorted({c[2] for c in cl})
    ns, hs = sorted({c[0] for c in cl}), sorted({c[1] for c in cl})
    grids = {}
    for dt in dtypes:
        g = np.full((len(ns), len(hs)), np.nan)
        for i, n in enumerate(ns):
            for j, h in enumerate(hs):
                s = speedup(run.median(kernel, case, (n, h, dt), "numpy"),
                            run.median(kernel, case, (n, h, dt), "numba"))
                g[i, j] = np.nan if s is None else s
        if np.isfinite(g).any():
            grids[dt] = g
    if not grids:
        return None
    lim = max(1.0, max(float(np.nanmax(np.abs(np.log2(g)))) for g in grids.values()))
    fig = Figure(figsize=(max(5.0, 2.6 + 1.3 * len(hs) * len(grids)), 1.6 + 0.55 * len(ns)),
                 layout="constrained")
    axes = fig.subplots(1, len(grids), squeeze=False)[0]
    for ax, (dt, g) in zip(axes, grids.items(), strict=True):
        im = ax.imshow(np.log2(g), cmap="RdYlGn", norm=TwoSlopeNorm(0.0, -lim, lim),
                       aspect="auto", origin="lower")
        for i in range(len(ns)):
            for j in range(len(hs)):
                if np.isfinite(g[i, j]):
                    ax.text(j, i, f"{g[i, j]:.2g}x", ha="center", va="center", fontsize=8)
        ax.set_xticks(range(len(hs)), [str(h) for h in hs])
        ax.set_yticks(range(len(ns)), [f"{n:,}" for n in ns])
        ax.set_xlabel("hidden H")
        ax.set_ylabel("records N")
        ax.set_title(dt)
    cbar = fig.colorbar(im, ax=list(axes), shrink=0.9)
    cbar.set_label("log2 speed-up")
    fig.suptitle(f"{kernel} ({case}): numba vs numpy [{run.label}]", fontsize=10)
    fig.savefig(path, dpi=90)
    return path


def make_plots(runs: Sequence[Run], plot_dir: Path) -> dict[tuple[str, str], list[Path]]:
    """Write every PNG for every run into ``plot_dir``; (kernel, case) -> paths."""
    plot_dir.mkdir(parents=True, exist_ok=True)
    out: dict[tuple[str, str], list[Path]] = {}
    for run in runs:
        for kernel in kernels([run]):
            for case in cases([run], kernel):
                if case == "conv":
                    continue
                stem = _slug(f"{kernel}-{case}-{run.label}")
                for fn, suffix in ((plot_time_vs_n, "time"), (plot_speedup_heatmap, "speedup")):
                    p = fn(run, kernel, case, plot_dir / f"{stem}-{suffix}.png")
                    if p is not None:
                        out.setdefault((kernel, case), []).append(p)
    return out


def make_report(paths: Sequence[str | Path], out_dir: str | Path) -> Path:
    """Read the result files and write ``report.md`` plus ``plots/*.png`` into ``out_dir``."""
    runs = load_runs(paths)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"{out}: cannot create the output folder ({exc.strerror})") from None
    plot_dir = out / "plots"
    plots = make_plots(runs, plot_dir)
    md = out / "report.md"
    md.write_text(render_markdown(runs, plots, plot_dir), encoding="utf-8")
    return md
