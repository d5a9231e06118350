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
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

BACKEND_ORDER = ("numpy", "numba", "torch", "jax")
KERNEL_ORDER = ("linear_forward", "linear_relu_forward", "linear_backward", "relu_forward",
                "relu_backward", "mse_loss", "sgd_update", "mlp_train", "conv2d_forward",
                "conv2d_forward_backward")
CASE_TITLES = {"seed": "seed grid (D_in = 1, D_out = 1)",
               "overhead": "per-call overhead (the seed's network at N = 64)",
               "wide": "wide grid", "conv": "convolution shapes"}
# Printed under the overhead tables: what their times mean.
OVERHEAD_NOTE = ("At N = 64 a call's arithmetic takes well under a microsecond (mlp_train: one "
                 "training step per call), so these times are what calling each backend costs: "
                 "validation, dispatch, output allocation.")


class ReportError(ValueError):
    """A results file that is missing, not pytest-benchmark JSON, or holds no usable results."""


@dataclass(frozen=True)
class Result:
    """One benchmark row: a kernel on one backend in one cell; times in seconds per op.

    ``median``, ``iqr`` and ``stddev`` are pytest-benchmark's statistics divided by
    ``ops_per_call`` (mlp_train: per training step); ``data`` holds every round's time per op
    when the run kept it (``--bench-keep-data``), else it is empty.
    """

    kernel: str
    backend: str
    case: str
    cell: tuple[Any, ...]  # (N, H, dtype) for dense cases, (shape, dtype) for conv
    median: float
    rounds: int
    info: dict[str, Any]
    iqr: float | None = None
    stddev: float | None = None
    data: tuple[float, ...] = ()


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
    peak: dict[str, Any] | None = None  # nnkernels.machine.measure(), where known

    def median(self, kernel: str, case: str, cell: tuple[Any, ...], backend: str
               ) -> float | None:
        """The median (seconds per op) of one row, or None when it was not run."""
        r = self._index.get((kernel, case, cell, backend))
        return None if r is None else r.median

    def result(self, kernel: str, case: str, cell: tuple[Any, ...], backend: str
               ) -> Result | None:
        """The whole row, or None when it was not run."""
        return self._index.get((kernel, case, cell, backend))

    def __post_init__(self) -> None:
        self._index: dict[tuple[Any, ...], Result] = {}

    def add(self, r: Result) -> None:
        """Add a result (a repeated row replaces the earlier one)."""
        self.results.append(r)
        self._index[(r.kernel, r.case, r.cell, r.backend)] = r

    def nk(self) -> dict[str, Any]:
        """``machine_info["nnkernels"]`` (what the suite records), {} when absent."""
        return _dict(self.machine.get("nnkernels"))


# -- loading -------------------------------------------------------------------------------
# Every value read from a file is checked here, so that rendering never meets a wrong type:
# a malformed file ends in one ReportError naming the file and the field, never a traceback.


def _dict(value: Any) -> dict[str, Any]:
    """``value`` when it is a dict, else {} (optional metadata of the wrong type is ignored)."""
    return value if isinstance(value, dict) else {}


def _number(value: Any) -> float | None:
    """A finite int or float (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _positive_int(value: Any, what: str) -> int:
    """A positive whole number (7 or 7.0) or a ValueError naming ``what``."""
    x = _number(value)
    if x is None or x <= 0 or x != int(x) or x > 2**53:
        raise ValueError(f"{what} must be a positive integer, got {value!r:.40}")
    return int(x)


def _cell(info: dict[str, Any]) -> tuple[Any, ...]:
    dtype = info.get("dtype")
    if not isinstance(dtype, str) or not dtype:
        raise ValueError(f"dtype must be a name such as 'float64', got {dtype!r:.40}")
    if info.get("case") == "conv":
        shape = info.get("shape")
        if not isinstance(shape, str) or not shape:
            raise ValueError(f"shape must be a label such as 'N64-C3-32x32', got {shape!r:.40}")
        return (shape, dtype)
    return (_positive_int(info.get("N"), "N"), _positive_int(info.get("H"), "H"), dtype)


def _bench_name(bench: dict[str, Any]) -> str:
    name = bench.get("name", "?")
    return name[:80] if isinstance(name, str) else "?"


def _result(bench: dict[str, Any], info: dict[str, Any], stats: dict[str, Any]) -> Result:
    """One checked Result; ValueError (with the field) when something is malformed."""
    median = _number(stats.get("median"))
    if median is None or median <= 0:
        raise ValueError(f"median must be a positive number, got {stats.get('median')!r:.40}")
    cell = _cell(info)
    case = info.get("case", "seed")
    if not isinstance(case, str):
        raise ValueError(f"case must be a name, got {case!r:.40}")
    per_call = _positive_int(info.get("ops_per_call", 1), "ops_per_call")
    rounds = stats.get("rounds", 0)
    rounds = 0 if _number(rounds) is None or rounds < 0 else int(rounds)
    iqr, stddev = _number(stats.get("iqr")), _number(stats.get("stddev"))
    raw = stats.get("data")
    data: tuple[float, ...] = ()
    if isinstance(raw, list) and raw:
        vals = [_number(v) for v in raw]
        # Raw rounds are optional: use them only when every one is a usable time.
        if all(v is not None and v > 0 for v in vals):
            data = tuple(v / per_call for v in vals)  # type: ignore[operator]
    # A run under another --bench-scenario than idle is a row of its own: "numba (after-blas)"
    # beside "numba", so that a user's process and the quiet machine read side by side.
    scenario = info.get("scenario", "idle")
    backend = str(info["backend"]) + ("" if scenario in ("idle", None) else f" ({scenario})")
    return Result(str(info["kernel"]), backend, case, cell, median / per_call,
                  rounds, info,
                  None if iqr is None or iqr < 0 else iqr / per_call,
                  None if stddev is None or stddev < 0 else stddev / per_call, data)


def _read_json(path: Path) -> Any:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ReportError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ReportError(f"{path}: is a folder, not a results file") from None
    except OSError as exc:
        raise ReportError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ReportError(f"{path}: not UTF-8 text (byte {exc.start}); pytest-benchmark writes "
                          "UTF-8 JSON") from None

    def no_constant(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON number")

    try:
        return json.loads(text, parse_constant=no_constant)
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except ValueError as exc:  # NaN / Infinity, or a number too deeply nested to parse
        raise ReportError(f"{path}: not valid JSON ({exc})") from None
    except RecursionError:
        raise ReportError(f"{path}: not valid JSON (nested too deeply)") from None


def load_run(path: str | Path, label: str | None = None) -> Run:
    """Read one pytest-benchmark JSON file; :class:`ReportError` when it cannot be used."""
    path = Path(path)
    data = _read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise ReportError(f"{path}: not a pytest-benchmark JSON file (no 'benchmarks' list)")
    when = data.get("datetime")
    run = Run(label or path.stem, path, when if isinstance(when, str) else "?",
              _dict(data.get("machine_info")), _dict(data.get("commit_info")))
    for bench in data["benchmarks"]:
        info = bench.get("extra_info") if isinstance(bench, dict) else None
        stats = bench.get("stats") if isinstance(bench, dict) else None
        if (not isinstance(info, dict) or not isinstance(info.get("kernel"), str)
                or not isinstance(info.get("backend"), str)):
            run.ignored += 1
            continue
        name = _bench_name(bench)
        if not isinstance(stats, dict) or _number(stats.get("median")) is None:
            raise ReportError(f"{path}: benchmark {name!r} has no median")
        if info["kernel"] == "first_call":
            run.first_calls[str(info.get("mode", "?"))] = dict(info, wall_s=stats["median"])
            continue
        if "dtype" not in info or ("N" not in info and info.get("case") != "conv"):
            raise ReportError(f"{path}: benchmark {name!r} lacks N/H/dtype in extra_info")
        try:
            run.add(_result(bench, info, stats))
        except ValueError as exc:
            raise ReportError(f"{path}: benchmark {name!r}: {exc}") from None
    run.peak = check_peak(run.nk().get("machine"))
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


def check_peak(peak: Any) -> dict[str, Any] | None:
    """A machine-peak dict (``nnkernels machine``), checked; None when absent or malformed."""
    from .machine import check

    return check(peak)


def load_peak(path: str | Path) -> dict[str, Any]:
    """Read a ``nnkernels machine`` JSON file; :class:`ReportError` when it is not one."""
    path = Path(path)
    peak = check_peak(_read_json(path))
    if peak is None:
        raise ReportError(f"{path}: not a machine-peak file (written by 'nnkernels machine': "
                          "needs positive 'peak_gflops' per dtype and 'triad_gbs')")
    return peak


def describe_peak(peak: dict[str, Any] | None) -> str:
    """``'float32 106 GFLOP/s, float64 53.1 GFLOP/s, triad 12.3 GB/s (2 threads)'``."""
    if not peak:
        return "not measured (run 'nnkernels machine')"
    flops = ", ".join(f"{dt} {v:.3g} GFLOP/s" for dt, v in sorted(peak["peak_gflops"].items()))
    return f"{flops}, triad {peak['triad_gbs']:.3g} GB/s ({_text(peak.get('threads'))} threads)"


def throughput(r: Result) -> tuple[float | None, float | None]:
    """(GFLOP/s, GB/s) of one row from its useful FLOPs and compulsory bytes per op."""
    from .benchmarks.throughput import counts

    c = counts(r.kernel, r.info)
    if c is None:
        return None, None
    flops, nbytes = c
    return (flops / r.median / 1e9 if flops else None), nbytes / r.median / 1e9


def roofline_fraction(r: Result, peak: dict[str, Any] | None) -> float | None:
    """Achieved / attainable: GFLOP/s against min(peak, intensity x bandwidth); for kernels
    without FLOPs, GB/s against the triad bandwidth. None without a peak for the dtype."""
    from .benchmarks.throughput import attainable_gflops, counts

    if not peak:
        return None
    c = counts(r.kernel, r.info)
    if c is None:
        return None
    flops, nbytes = c
    if not flops:
        return nbytes / r.median / 1e9 / peak["triad_gbs"]
    pf = peak["peak_gflops"].get(str(r.cell[-1]))
    if pf is None:
        return None
    return flops / r.median / 1e9 / attainable_gflops(flops / nbytes, pf, peak["triad_gbs"])


# -- formatting ----------------------------------------------------------------------------


def format_time(seconds: float | None) -> str:
    """A duration with three significant digits and a unit: ``'8.29 ms'``; ``'-'`` if None."""
    seconds = _number(seconds)
    if seconds is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def format_change(ratio: float | None) -> str:
    """A time ratio (new / base, or numba / other) in the one wording used everywhere:
    ``'1.25x slower'`` above 1, ``'1.10x faster'`` below, ``'same (1.00x)'`` when it rounds to 1."""
    ratio = _number(ratio)
    if ratio is None or ratio <= 0:
        return "-"
    factor = ratio if ratio >= 1 else 1 / ratio
    text = f"{factor:.{2 if factor < 10 else 1 if factor < 100 else 0}f}"
    if text == "1.00":
        return "same (1.00x)"
    return f"{text}x slower" if ratio > 1 else f"{text}x faster"


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
    """Markdown lines: medians per backend (per run), each later run's change against the
    first, and numba's change against every other backend."""
    bes = backends(runs, kernel)
    multi = len(runs) > 1
    keycols = _cell_columns(case)
    header = list(keycols)
    for be in bes:
        for i, run in enumerate(runs):
            header.append(f"{be} [{run.label}]" if multi else be)
            if i > 0:
                header.append(f"{be} change" + (f" [{run.label}]" if len(runs) > 2 else ""))
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
                    row.append(format_change(None if t is None or first is None else t / first))
        for other in others:
            for run in runs:
                s = speedup(run.median(kernel, case, cell, other),
                            run.median(kernel, case, cell, "numba"))
                row.append(format_change(None if s is None else 1 / s))
        rows.append(row)
    return _table(header, rows, right_from=len(keycols))


def _rate(value: float | None, peak: float | None) -> str:
    """``'12.3 (4.1%)'``: a rate and its share of the peak; ``'-'`` when there is no rate."""
    if value is None:
        return "-"
    return f"{value:.3g}" + (f" ({_percent(value / peak)})" if peak else "")


def _percent(share: float) -> str:
    """``'8.4%'``, ``'120%'``: two significant digits, never in exponent form."""
    pct = 100 * share
    return f"{pct:.2g}%" if pct < 10 else f"{pct:.0f}%"


def roofline_table(run: Run, kernel: str, case: str) -> list[str]:
    """Markdown lines: GFLOP/s and GB/s per backend in every cell, each as % of the peak."""
    bes = backends([run], kernel)
    keycols = _cell_columns(case)
    header = list(keycols)
    for be in bes:
        header += [f"{be} GFLOP/s (% peak)", f"{be} GB/s (% triad)"]
    peak = run.peak
    rows = []
    for cell in cells([run], kernel, case):
        row = [str(v) for v in cell]
        for be in bes:
            r = run.result(kernel, case, cell, be)
            gf, gb = throughput(r) if r is not None else (None, None)
            pf = peak["peak_gflops"].get(str(cell[-1])) if peak else None
            row += [_rate(gf, pf), _rate(gb, peak["triad_gbs"] if peak else None)]
        rows.append(row)
    return _table(header, rows, right_from=len(keycols))


def furthest_from_roofline(run: Run, backend: str = "numba", count: int = 15
                           ) -> list[tuple[Result, float]]:
    """The ``count`` rows of ``backend`` with the lowest achieved / attainable fraction."""
    scored = [(r, f) for r in run.results if r.backend == backend
              for f in [roofline_fraction(r, run.peak)] if f is not None]
    return sorted(scored, key=lambda rf: rf[1])[:count]


def _text(value: Any, default: str = "?") -> str:
    """A metadata value as short text (strings, numbers, bools; anything else is ``default``)."""
    if isinstance(value, (str, int, float, bool)) and value != "":
        return str(value)[:120]
    return default


def format_commit(commit: dict[str, Any]) -> str:
    """pytest-benchmark's commit id as a short hash, or its word for none ("unversioned")."""
    cid = commit.get("id")
    if not isinstance(cid, str) or not cid:
        return "unversioned"
    if re.fullmatch(r"[0-9a-fA-F]{7,64}", cid):
        short = cid[:10]
    else:
        short = cid[:40]  # not a hash ("unversioned", an error text): shown whole, not cut
    return short + (" (dirty)" if commit.get("dirty") is True else "")


def _versions(run: Run) -> dict[str, str]:
    nk = run.nk()
    rt = _dict(nk.get("runtime"))
    cpu = _dict(run.machine.get("cpu"))
    pools_raw = rt.get("threadpools", rt.get("blas", []))
    pools = ", ".join(f"{_text(p.get('internal_api'))} {_text(p.get('version'), '')} "
                      f"({_text(p.get('num_threads'))} threads)".replace("  ", " ")
                      for p in (pools_raw if isinstance(pools_raw, list) else [])
                      if isinstance(p, dict))
    torch = _dict(nk.get("torch"))
    jax = _dict(nk.get("jax"))
    load = nk.get("load_avg")
    loads = [_number(x) for x in load] if isinstance(load, list) else []
    peak = run.peak
    return {
        "date (UTC)": run.datetime[:19].replace("T", " "),
        "commit": format_commit(run.commit),
        "CPU": f"{_text(cpu.get('brand_raw'), _text(run.machine.get('processor')))}, "
               f"{_text(cpu.get('count'), _text(nk.get('cpu_count')))} cores",
        "system": f"{_text(run.machine.get('system'))} "
                  f"{_text(run.machine.get('release'), '')}".strip(),
        "threads": _text(nk.get("threads")),
        "quick subset": _text(nk.get("quick")),
        "memory budget (GiB; larger cells skipped)": _text(nk.get("mem_budget_gib")),
        "load average (1, 5, 15 min)": (", ".join(f"{x:.2f}" for x in loads)
                                        if loads and None not in loads else "?"),
        "python": _text(run.machine.get("python_version"), _text(rt.get("python"))),
        "nnkernels": _text(nk.get("version")),
        "numpy": _text(rt.get("numpy")),
        "numba": f"{_text(rt.get('numba'))} ({_text(rt.get('numba_threading_layer'))} layer, "
                 f"{_text(rt.get('numba_num_threads'))} threads)",
        "llvmlite": _text(rt.get("llvmlite")),
        "scipy": _text(rt.get("scipy")),
        "thread pools": pools or "?",
        "torch": (f"{_text(torch.get('torch'))} ({_text(torch.get('torch_num_threads'))} "
                  "threads)" if torch else "not run"),
        "jax": (f"{_text(jax.get('jax'))} (threads: {_text(jax.get('jax_threads'))})" if jax
                else "not run"),
        "machine peak (nnkernels machine)": describe_peak(peak),
    }


def _seconds(d: Any, key: str) -> float | None:
    """A time from a metadata dict, None when absent or not a number."""
    return _number(_dict(d).get(key))


def _first_call_lines(runs: Sequence[Run]) -> list[str]:
    lines: list[str] = []
    for run in runs:
        if not run.first_calls:
            continue
        cold = _dict(run.first_calls.get("cold"))
        cached = _dict(run.first_calls.get("cached"))
        cold_fc, cached_fc = _dict(cold.get("first_call_s")), _dict(cached.get("first_call_s"))
        steady = _dict((cached or cold).get("steady_s"))
        keys = list(dict.fromkeys([*cold_fc, *cached_fc]))
        lines += ["", "First calls of the numba backend in a fresh process"
                  + (f" [{run.label}]" if len(runs) > 1 else "")
                  + " (seed size N = 700, H = 10; cold: empty NUMBA_CACHE_DIR, cached: the same "
                  "directory in a second process; steady: the second call):", ""]
        rows = [[_text(k)[:60], format_time(_seconds(cold_fc, k)),
                 format_time(_seconds(cached_fc, k)), format_time(_seconds(steady, k))]
                for k in keys]
        rows.append(["total of first calls", format_time(_seconds(cold, "total_first_call_s")),
                     format_time(_seconds(cached, "total_first_call_s")), ""])
        rows.append(["import nnkernels + backend", format_time(_seconds(cold, "import_s")),
                     format_time(_seconds(cached, "import_s")), ""])
        rows.append(["whole process", format_time(_seconds(cold, "wall_s")),
                     format_time(_seconds(cached, "wall_s")), ""])
        lines += _table(["kernel[dtype]", "cold first call", "cached first call", "steady call"],
                        rows, right_from=1)
    return lines


def render_markdown(runs: Sequence[Run], plots: dict[tuple[str, str], list[Path]] | None = None,
                    plot_dir: Path | None = None) -> str:
    """The whole report as Markdown; ``plots`` maps (kernel, case) to PNG paths."""
    from .benchmarks import throughput as tp

    plots = plots or {}
    roof = runs[-1]  # the roofline tables show one run: the last (the only one, usually)
    lines = ["# nnkernels benchmark report", ""]
    lines.append("Runs: " + ", ".join(f"`{r.label}` ({r.path.name})" for r in runs) + ". "
                 "Times are medians of pytest-benchmark's rounds, per call (mlp_train: per "
                 "training step). Every ratio is worded one way: *numba vs X* says how much "
                 "faster or slower numba is than X in the same run"
                 + (f"; *change* columns compare a run with the first one, `{runs[0].label}` "
                    "(for a verdict with noise estimates and a failing threshold use "
                    "`nnkernels compare`)" if len(runs) > 1 else "") + ".")
    lines += ["", "## Machine and versions", ""]
    vers = [_versions(r) for r in runs]
    lines += _table(["", *[r.label for r in runs]],
                    [[k, *[v[k] for v in vers]] for k in vers[0]])
    ignored = sum(r.ignored for r in runs)
    if ignored:
        lines += ["", f"({ignored} benchmarks without nnkernels parameters were ignored.)"]
    lines += _first_call_lines(runs)
    lines += ["", "## Throughput against the roofline", "",
              "Each kernel's second table gives GFLOP/s (its useful FLOPs per op divided by the "
              "median) and GB/s (its compulsory memory traffic per op), each as a share of this "
              "machine's measured peak (FMA throughput for the cell's dtype; STREAM triad "
              "bandwidth), for the run "
              f"`{roof.label}`. The counts per kernel (from `nnkernels.benchmarks.throughput`):",
              ""]
    lines += _count_table(tp.__doc__ or "")
    lines += ["", f"Machine peak: {describe_peak(roof.peak)}."]
    far = furthest_from_roofline(roof)
    if far:
        lines += ["", "Cells of the numba backend furthest from the roofline (achieved / "
                  "attainable, attainable = min(peak FLOP rate, FLOP/byte x triad bandwidth); "
                  "kernels without FLOPs against the bandwidth):", ""]
        rows = []
        for r, f in far:
            gf, gb = throughput(r)
            rows.append([r.kernel, r.case, " ".join(str(v) for v in r.cell), format_time(r.median),
                         "-" if gf is None else f"{gf:.3g}", "-" if gb is None else f"{gb:.3g}",
                         _percent(f)])
        lines += _table(["kernel", "case", "cell", "median", "GFLOP/s", "GB/s",
                         "of attainable"], rows, right_from=3)
    for kernel in kernels(runs):
        lines += ["", f"## {kernel}"]
        for case in cases(runs, kernel):
            lines += ["", f"### {kernel}: {CASE_TITLES.get(case, case)}", ""]
            if case == "wide":
                infos = [r.info for run in runs for r in run.results
                         if r.kernel == kernel and r.case == case][:1]
                if infos:
                    lines += [f"D_in = {_text(infos[0].get('D_in'))}, "
                              f"D_out = {_text(infos[0].get('D_out'))}.", ""]
            if case == "overhead":
                lines += [OVERHEAD_NOTE, ""]
            lines += kernel_table(runs, kernel, case)
            lines += ["", f"Throughput [{roof.label}]:", ""] + roofline_table(roof, kernel, case)
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
                 format_change(b / a)] for k, c, cell, a, b in slow]
        lines += _table(["kernel", "case", "cell", "numpy", "numba", "numba vs numpy"], rows,
                        right_from=3) + [""]
    return "\n".join(lines).rstrip() + "\n"


def _count_table(doc: str) -> list[str]:
    """The reStructuredText table of a docstring as Markdown rows."""
    lines = doc.splitlines()
    rules = [i for i, ln in enumerate(lines) if ln.startswith("====")]
    if len(rules) < 3:
        return []
    cols: list[list[str]] = []
    for ln in lines[rules[0] + 1:rules[2]]:
        if ln.startswith("===") or not ln.strip():
            continue
        parts = re.split(r"\s{2,}", ln.strip(), maxsplit=2)
        if ln.startswith(" ") and cols:  # a continuation line of the row above
            cols[-1][1] += " " + parts[0]
        else:
            cols.append(parts)
    header = cols[0] if cols[0][0] == "kernel" else ["kernel", "useful FLOPs", "traffic"]
    body = [c + [""] * (3 - len(c)) for c in cols if c[0] != "kernel"]
    return _table(header, body, right_from=3)


# -- plots ---------------------------------------------------------------------------------

COLORS = {"numpy": "tab:blue", "numba": "tab:orange", "torch": "tab:green", "jax": "tab:purple"}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")


def _per(kernel: str) -> str:
    """What one timed op is: a training step for mlp_train, a call otherwise."""
    return "training step" if kernel == "mlp_train" else "call"


def plot_time_vs_n(run: Run, kernel: str, case: str, path: Path) -> Path | None:
    """Time against N (log-log), one panel per H, one line per backend (dashed: float32)."""
    from matplotlib.figure import Figure

    cl = cells([run], kernel, case)
    hs = sorted({c[1] for c in cl})
    if not hs:
        return None
    fig = Figure(figsize=(max(6.5, 4.2 * len(hs)), 3.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(hs), sharey=True, squeeze=False)[0])
    for ax, h in zip(axes, hs, strict=True):
        for be in backends([run], kernel):
            for dtype, style in (("float64", "-"), ("float32", "--")):
                pts = sorted((c[0], run.median(kernel, case, c, be)) for c in cl
                             if c[1] == h and c[2] == dtype)
                pts = [(n, t) for n, t in pts if t is not None]
                if pts:
                    ax.loglog(*zip(*pts, strict=True), style, marker="o", ms=3,
                              color=COLORS.get(be), label=f"{be} {dtype}")
        ax.set_title(f"H = {h}")
        ax.set_xlabel("records N")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel(f"median time per {_per(kernel)} [s]")
    axes[-1].legend(fontsize=7)
    fig.suptitle(f"{kernel} ({case}) [{run.label}]: time per {_per(kernel)}")
    fig.savefig(path, dpi=90)
    return path


def _over_budget(run: Run, kernel: str, case: str, n: int, h: int, dtype: str) -> bool:
    """Whether the suite's memory rule skips this cell at the run's budget."""
    from .benchmarks.cases import DenseCell

    budget = _number(run.nk().get("mem_budget_gib"))
    if budget is None:
        return False
    info = next((r.info for r in run.results if r.kernel == kernel and r.case == case), {})
    d_in, d_out = _number(info.get("D_in")) or 1, _number(info.get("D_out")) or 1
    try:
        c = DenseCell(case, n, h, int(d_in), int(d_out), dtype)
        need = c.mlp_bytes() if kernel == "mlp_train" else c.dense_bytes()
    except TypeError:
        return False
    return need > budget * 2**30


def speedup_limit(runs: Sequence[Run]) -> float:
    """The one colour scale of every heat map: log2 of the largest speed-up or slow-down of
    numba against any other backend in any run, rounded up to a power of two (at least 2x)."""
    worst = 1.0
    for run in runs:
        for r in run.results:
            if r.backend == "numba" or r.case == "conv":
                continue
            s = speedup(r.median, run.median(r.kernel, r.case, r.cell, "numba"))
            if s is not None:
                worst = max(worst, abs(math.log2(s)))
    return float(math.ceil(worst))


def _x_label(log2_value: float) -> str:
    """A colour-bar tick in "x": 4x, 1x, 1/4x."""
    v = 2.0 ** log2_value
    return f"{v:g}x" if v >= 1 else f"1/{1 / v:g}x"


def plot_speedup_heatmap(run: Run, kernel: str, case: str, path: Path, other: str = "numpy",
                         limit: float | None = None) -> Path | None:
    """Heat map of numba against ``other`` on N x H, one panel per dtype, on the colour scale
    ``limit`` (log2 units, symmetric around 1x; shared by every heat map of a report)."""
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
                s = speedup(run.median(kernel, case, (n, h, dt), other),
                            run.median(kernel, case, (n, h, dt), "numba"))
                g[i, j] = np.nan if s is None else s
        if np.isfinite(g).any():
            grids[dt] = g
    if not grids:
        return None
    lim = limit if limit else max(1.0, max(float(np.nanmax(np.abs(np.log2(g))))
                                           for g in grids.values()))
    fig = Figure(figsize=(max(7.0, 2.8 + 2.0 * len(hs) * len(grids)), 2.0 + 0.6 * len(ns)),
                 layout="constrained")
    axes = fig.subplots(1, len(grids), squeeze=False)[0]
    for ax, (dt, g) in zip(axes, grids.items(), strict=True):
        ax.set_facecolor("#e0e0e0")  # cells without a result
        im = ax.imshow(np.log2(g), cmap="RdYlGn", norm=TwoSlopeNorm(0.0, -lim, lim),
                       aspect="auto", origin="lower")
        for i, n in enumerate(ns):
            for j, h in enumerate(hs):
                if np.isfinite(g[i, j]):
                    text = format_change(1 / g[i, j]).replace(" ", "\n")
                elif _over_budget(run, kernel, case, n, h, dt):
                    text = "skipped\n(memory)"
                else:
                    text = "not run"
                ax.text(j, i, text, ha="center", va="center", fontsize=7)
        ax.set_xticks(range(len(hs)), [str(h) for h in hs])
        ax.set_yticks(range(len(ns)), [f"{n:,}" for n in ns])
        ax.set_xlabel("hidden H")
        ax.set_ylabel("records N")
        ax.set_title(dt, fontsize=9)
    cbar = fig.colorbar(im, ax=list(axes), shrink=0.9)
    ticks = list(range(-int(lim), int(lim) + 1, max(1, int(lim) // 3)))
    cbar.set_ticks(ticks, labels=[_x_label(t) for t in ticks])
    cbar.set_label(f"numba's speed-up over {other}", fontsize=8)
    fig.suptitle(f"{kernel} ({case}) [{run.label}]: numba vs {other}, per {_per(kernel)} "
                 "(above 1x: numba faster)", fontsize=10)
    fig.savefig(path, dpi=90)
    return path


def plot_conv(run: Run, kernel: str, path: Path) -> Path | None:
    """conv2d: median time per backend at each convolution shape (bars, log scale), with
    numba's change against each other backend written above its bars."""
    from matplotlib.figure import Figure

    cl = cells([run], kernel, "conv")
    bes = backends([run], kernel)
    if not cl or not bes:
        return None
    fig = Figure(figsize=(max(7.0, 2.4 * len(cl) + 2), 4.6), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / len(bes)
    for k, be in enumerate(bes):
        ts = [run.median(kernel, "conv", c, be) for c in cl]
        xs = [i + (k - (len(bes) - 1) / 2) * width for i in range(len(cl))]
        ax.bar([x for x, t in zip(xs, ts, strict=True) if t is not None],
               [t for t in ts if t is not None], width, color=COLORS.get(be), label=be)
    for i, c in enumerate(cl):
        t_nb = run.median(kernel, "conv", c, "numba")
        notes = [f"vs {o}: {format_change(t_nb / t)}" for o in bes if o != "numba"
                 for t in [run.median(kernel, "conv", c, o)] if t and t_nb]
        top = max(t for be in bes for t in [run.median(kernel, "conv", c, be)] if t)
        ax.text(i, top * 1.15, "numba\n" + "\n".join(notes), ha="center", va="bottom",
                fontsize=7)
    ax.set_yscale("log")
    ax.set_ylim(top=ax.get_ylim()[1] * 6)  # room for the notes above the tallest bars
    ax.set_xticks(range(len(cl)), [f"{s}\n{dt}" for s, dt in cl], fontsize=8)
    ax.set_ylabel("median time per call [s]")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(True, axis="y", which="both", alpha=0.3)
    fig.suptitle(f"{kernel} [{run.label}]: convolution shapes", fontsize=10)
    fig.savefig(path, dpi=90)
    return path


def make_plots(runs: Sequence[Run], plot_dir: Path) -> dict[tuple[str, str], list[Path]]:
    """Write every PNG for every run into ``plot_dir``; (kernel, case) -> paths."""
    plot_dir.mkdir(parents=True, exist_ok=True)
    limit = speedup_limit(runs)
    out: dict[tuple[str, str], list[Path]] = {}
    for run in runs:
        for kernel in kernels([run]):
            for case in cases([run], kernel):
                if case == "overhead":  # one N and one H: the table says it all
                    continue
                stem = _slug(f"{kernel}-{case}-{run.label}")
                made = []
                if case == "conv":
                    made.append(plot_conv(run, kernel, plot_dir / f"{stem}-time.png"))
                else:
                    made.append(plot_time_vs_n(run, kernel, case, plot_dir / f"{stem}-time.png"))
                    for other in backends([run], kernel):
                        if other == "numba" or "numba" not in backends([run], kernel):
                            continue
                        suffix = "speedup" if other == "numpy" else f"vs-{_slug(other)}"
                        made.append(plot_speedup_heatmap(run, kernel, case,
                                                         plot_dir / f"{stem}-{suffix}.png",
                                                         other, limit))
                out.setdefault((kernel, case), []).extend(p for p in made if p is not None)
    return out


def prepare_out(out_dir: str | Path) -> Path:
    """Create the output folder (and its ``plots``); :class:`ReportError` when it cannot be
    created or written."""
    out = Path(out_dir)
    for d in (out, out / "plots"):
        try:
            d.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise ReportError(f"{d}: exists and is not a folder") from None
        except OSError as exc:
            raise ReportError(f"{d}: cannot create the output folder "
                              f"({exc.strerror or exc})") from None
        if not os.access(d, os.W_OK | os.X_OK):
            raise ReportError(f"{d}: output folder is not writable")
    return out


def make_report(paths: Sequence[str | Path], out_dir: str | Path,
                machine: str | Path | dict[str, Any] | None = None) -> Path:
    """Read the result files and write ``report.md`` plus ``plots/*.png`` into ``out_dir``.

    ``machine`` (a ``nnkernels machine`` JSON file or its dict) gives the peaks of the
    roofline for every run, in place of those recorded in the results.
    """
    runs = load_runs(paths)
    if machine is not None:
        peak = load_peak(machine) if not isinstance(machine, dict) else check_peak(machine)
        if peak is None:
            raise ReportError("machine peak: not a 'nnkernels machine' result")
        for run in runs:
            run.peak = peak
    out = prepare_out(out_dir)
    plot_dir = out / "plots"
    md = out / "report.md"
    try:
        plots = make_plots(runs, plot_dir)
        md.write_text(render_markdown(runs, plots, plot_dir), encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"{out}: cannot write the report ({exc.strerror or exc})") from None
    return md
