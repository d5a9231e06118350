"""The benchmark report generator on small hand-made pytest-benchmark JSON files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib.image
import pytest

from nnkernels import report
from nnkernels.report import ReportError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _bench(kernel: str, backend: str, median: float, *, case: str = "seed", n: int = 700,
           h: int = 10, dtype: str = "float64", **extra: Any) -> dict[str, Any]:
    info: dict[str, Any] = {"kernel": kernel, "backend": backend, "case": case, "dtype": dtype,
                            "threads": 2, **extra}
    if case != "conv":
        info.update(N=n, H=h, D_in=1 if case == "seed" else 64, D_out=1 if case == "seed" else 10)
    return {"group": f"{kernel} N={n} H={h} {dtype}", "name": f"test_{kernel}[{backend}]",
            "fullname": f"benchmarks/test_x.py::test_{kernel}[{backend}]", "params": {},
            "extra_info": info,
            "stats": {"median": median, "min": median, "max": median, "rounds": 5}}


def _results(benchmarks: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "machine_info": {
            "node": "vm", "processor": "", "machine": "x86_64", "python_version": "3.11.7",
            "system": "Linux", "release": "6.1",
            "cpu": {"brand_raw": "Test CPU", "count": 2},
            "nnkernels": {
                "version": "0.1.0", "threads": 2, "quick": False, "load_avg": [0.1, 0.2, 0.3],
                "mem_budget_gib": 4.0,
                "runtime": {"numpy": "2.4.6", "numba": "0.68.1", "llvmlite": "0.50.0",
                            "scipy": "1.17.1", "numba_threading_layer": "omp",
                            "numba_num_threads": 2,
                            "threadpools": [{"internal_api": "openblas", "version": "0.3.30",
                                             "num_threads": 2}]},
                "torch": {"torch": "2.13.0+cpu", "torch_num_threads": 2},
            },
        },
        "commit_info": {"id": "0123456789abcdef", "dirty": True},
        "benchmarks": benchmarks,
        "datetime": "2026-01-02T03:04:05.000000+00:00",
        "version": "5.2.3",
    }


def _first_call(mode: str, first: float, wall: float) -> dict[str, Any]:
    b = _bench("first_call", "numba", wall)
    b["extra_info"] = {"kernel": "first_call", "backend": "numba", "mode": mode,
                       "import_s": 0.15, "first_call_s": {"linear_forward[float64]": first},
                       "steady_s": {"linear_forward[float64]": 20e-6},
                       "total_first_call_s": first}
    return b


BASE = [
    # seed grid: numba 4x faster than numpy and 2x faster than torch at (700, 10) ...
    _bench("linear_forward", "numpy", 20e-6),
    _bench("linear_forward", "numba", 5e-6),
    _bench("linear_forward", "torch", 10e-6),
    # ... but slower than numpy at (100000, 1000, float32)
    _bench("linear_forward", "numpy", 2e-3, n=100_000, h=1000, dtype="float32"),
    _bench("linear_forward", "numba", 4e-3, n=100_000, h=1000, dtype="float32"),
    _bench("linear_forward", "numpy", 1e-3, case="wide", n=10_000, h=256),
    _bench("linear_forward", "numba", 0.25e-3, case="wide", n=10_000, h=256),
    # ten training steps per call: the report shows the time per step
    _bench("mlp_train", "numpy", 710e-6, ops_per_call=10),
    _bench("mlp_train", "numba", 71e-6, ops_per_call=10),
    _bench("conv2d_forward", "numpy", 30e-3, case="conv", dtype="float32",
           shape="N64-C3-32x32-F16-k3-s1-p1"),
    _bench("conv2d_forward", "numba", 10e-3, case="conv", dtype="float32",
           shape="N64-C3-32x32-F16-k3-s1-p1"),
    _first_call("cold", 2.5, 4.0),
    _first_call("cached", 0.3, 1.0),
    # a benchmark of some other suite (no nnkernels parameters): ignored
    {"name": "test_other", "extra_info": {}, "stats": {"median": 1.0}},
]


def _write(path: Path, benchmarks: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps(_results(benchmarks)))
    return path


def _row(md: str, start: str) -> list[str]:
    """The cells of the first Markdown table row starting with ``start``."""
    line = next(ln for ln in md.splitlines() if ln.startswith(start))
    return [c.strip() for c in line.strip("|").split("|")]


def test_load_run_reads_parameters_from_extra_info(tmp_path: Path) -> None:
    run = report.load_run(_write(tmp_path / "base.json", BASE))
    assert run.label == "base" and run.ignored == 1
    assert run.median("linear_forward", "seed", (700, 10, "float64"), "numba") == 5e-6
    assert run.median("linear_forward", "wide", (10_000, 256, "float64"), "numpy") == 1e-3
    assert run.median("mlp_train", "seed", (700, 10, "float64"), "numba") == pytest.approx(7.1e-6)
    conv = ("N64-C3-32x32-F16-k3-s1-p1", "float32")
    assert run.median("conv2d_forward", "conv", conv, "numpy") == 30e-3
    assert run.median("linear_forward", "seed", (700, 100, "float64"), "numba") is None
    assert set(run.first_calls) == {"cold", "cached"}
    assert report.kernels([run]) == ["linear_forward", "mlp_train", "conv2d_forward"]
    assert report.backends([run], "linear_forward") == ["numpy", "numba", "torch"]


def test_tables_and_speedups(tmp_path: Path) -> None:
    md_path = report.make_report([_write(tmp_path / "base.json", BASE)], tmp_path / "out")
    md = md_path.read_text()
    assert _row(md, "| N | H |") == ["N", "H", "dtype", "numpy", "numba", "torch",
                                      "numba vs numpy", "numba vs torch"]
    # numpy 20 us / numba 5 us = 4x; torch 10 us / numba 5 us = 2x
    assert _row(md, "| 700 | 10 | float64 |")[3:] == ["20 µs", "5 µs", "10 µs", "4.00x faster",
                                                         "2.00x faster"]
    assert _row(md, "| 100000 | 1000 | float32 |")[3:] == ["2 ms", "4 ms", "-", "2.00x slower",
                                                              "-"]
    assert _row(md, "| 10000 | 256 | float64 |")[3:5] == ["1 ms", "250 µs"]
    # mlp_train: 71 us per call of 10 steps -> 7.1 us per step; 100 us -> 10x
    mlp = md[md.index("## mlp_train"):]
    assert _row(mlp, "| 700 | 10 | float64 |")[3:] == ["71 µs", "7.1 µs", "10.0x faster"]
    conv = md[md.index("## conv2d_forward"):]
    assert _row(conv, "| N64-C3") == ["N64-C3-32x32-F16-k3-s1-p1", "float32", "30 ms", "10 ms",
                                      "3.00x faster"]
    # the first-call table, the versions and the cells where numba is not faster
    assert _row(md, "| linear_forward[float64] |")[1:] == ["2.5 s", "300 ms", "20 µs"]
    assert _row(md, "| whole process |")[1:3] == ["4 s", "1 s"]
    assert _row(md, "| numba |")[1] == "0.68.1 (omp layer, 2 threads)"
    assert _row(md, "| commit |")[1] == "0123456789 (dirty)"
    assert _row(md, "| torch |")[1] == "2.13.0+cpu (2 threads)"
    assert _row(md, "| memory budget")[1] == "4.0"
    slow = md[md.index("## Cells where numba is not faster"):]
    assert _row(slow, "| linear_forward |") == ["linear_forward", "seed", "100000 1000 float32",
                                                "2 ms", "4 ms", "2.00x slower"]
    assert slow.count("| linear_forward |") == 1
    assert "1 benchmarks without nnkernels parameters were ignored" in md


def test_pngs_are_written_and_valid(tmp_path: Path) -> None:
    md = report.make_report([_write(tmp_path / "base.json", BASE)], tmp_path / "out").read_text()
    pngs = sorted((tmp_path / "out" / "plots").glob("*.png"))
    names = {p.name for p in pngs}
    assert {"linear_forward-seed-base-time.png", "linear_forward-seed-base-speedup.png",
            "linear_forward-wide-base-time.png", "mlp_train-seed-base-time.png"} <= names
    for p in pngs:
        assert p.read_bytes()[:8] == PNG_MAGIC
        img = matplotlib.image.imread(p)
        assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
        assert f"(plots/{p.name})" in md  # linked from the report


def test_several_runs_side_by_side(tmp_path: Path) -> None:
    after = [dict(b) for b in BASE]
    after[1] = _bench("linear_forward", "numba", 2.5e-6)  # twice as fast as in "before"
    a = _write(tmp_path / "before.json", BASE)
    b = _write(tmp_path / "after.json", after)
    md = report.make_report([a, b], tmp_path / "out").read_text()
    header = _row(md, "| N | H |")
    assert header[:9] == ["N", "H", "dtype", "numpy [before]", "numpy [after]",
                          "numpy change", "numba [before]", "numba [after]",
                          "numba change"]
    row = dict(zip(header, _row(md, "| 700 | 10 | float64 |"), strict=True))
    assert row["numba [before]"] == "5 µs" and row["numba [after]"] == "2.5 µs"
    assert row["numba change"] == "2.00x faster" and row["numpy change"] == "same (1.00x)"
    assert row["numba vs numpy [before]"] == "4.00x faster"
    assert row["numba vs numpy [after]"] == "8.00x faster"
    assert row["numba vs torch [after]"] == "4.00x faster"
    assert "before-time.png" in md and "after-time.png" in md
    assert "**before**:" in md and "**after**:" in md


def test_same_file_names_get_unique_labels(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    a = _write(tmp_path / "r.json", BASE)
    b = _write(tmp_path / "x" / "r.json", BASE)
    assert [r.label for r in report.load_runs([a, b])] == ["r", "r-2"]


def test_a_run_where_numba_is_always_faster(tmp_path: Path) -> None:
    p = _write(tmp_path / "fast.json", BASE[:3])
    md = report.make_report([p], tmp_path / "out").read_text()
    assert "None: numba is faster than numpy in every cell measured." in md


@pytest.mark.parametrize(("content", "message"), [
    (None, "no such file"),
    ("{not json", "not valid JSON"),
    ("[1, 2]", "not a pytest-benchmark JSON file"),
    ('{"machine_info": {}}', "not a pytest-benchmark JSON file"),
    ('{"benchmarks": [{"name": "t", "extra_info": {}, "stats": {"median": 1}}]}',
     "no nnkernels benchmarks"),
    ('{"benchmarks": [{"name": "t", "extra_info": {"kernel": "k", "backend": "numpy"}, '
     '"stats": {}}]}', "'t' has no median"),
    ('{"benchmarks": [{"name": "t", "extra_info": {"kernel": "k", "backend": "numpy"}, '
     '"stats": {"median": 1}}]}', "lacks N/H/dtype"),
])
def test_bad_files_give_clear_errors(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "res.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ReportError, match=message) as exc:
        report.make_report([path], tmp_path / "out")
    assert str(path) in str(exc.value)
    assert not (tmp_path / "out" / "report.md").exists()


def test_no_files() -> None:
    with pytest.raises(ReportError, match="no results files"):
        report.load_runs([])


def test_format_time_and_ratio() -> None:
    assert report.format_time(1.5) == "1.5 s"
    assert report.format_time(8.29e-3) == "8.29 ms"
    assert report.format_time(2.914e-6) == "2.91 µs"
    assert report.format_time(5e-8) == "50 ns"
    assert report.format_time(None) == "-"
    assert report.format_ratio(2.5) == "2.5x" and report.format_ratio(0.29412) == "0.294x"
    assert report.format_ratio(None) == "-"
    assert report.speedup(4.0, 2.0) == 2.0 and report.speedup(None, 1.0) is None


def test_overhead_cells_get_their_own_table_without_plots(tmp_path: Path) -> None:
    """The per-call overhead cells (N = 64, one mlp_train step per call) form a table of their
    own under each kernel, with the note saying what the times mean, and no plots."""
    benches = [_bench("relu_forward", be, t, case="overhead", n=64, h=10)
               for be, t in (("numpy", 6e-6), ("numba", 3e-6), ("torch", 9e-6))]
    benches += [_bench("mlp_train", "numba", 8e-6, case="overhead", n=64, h=10, ops_per_call=1)]
    md = report.make_report([_write(tmp_path / "o.json", BASE + benches)],
                            tmp_path / "out").read_text()
    relu = md[md.index("## relu_forward"):]
    assert relu.index("### relu_forward: per-call overhead") < relu.index(report.OVERHEAD_NOTE)
    assert _row(relu, "| 64 | 10 | float64 |")[3:] == ["6 µs", "3 µs", "9 µs", "2.00x faster",
                                                          "3.00x faster"]
    mlp = md[md.index("### mlp_train: per-call overhead"):]
    assert _row(mlp, "| 64 | 10 | float64 |")[3:5] == ["-", "8 µs"]  # numpy not run; 1 step
    assert not list((tmp_path / "out" / "plots").glob("*overhead*"))


def test_jax_row_gets_numba_vs_jax_columns_beside_torch(tmp_path: Path) -> None:
    benches = BASE + [_bench("linear_forward", "jax", 15e-6),
                      _bench("mlp_train", "jax", 355e-6, ops_per_call=10)]
    results = _results(benches)
    results["machine_info"]["nnkernels"]["jax"] = {
        "jax": "0.10.2", "jax_threads": "2 (XLA's default: one per core)"}
    path = tmp_path / "withjax.json"
    path.write_text(json.dumps(results))
    md = report.make_report([path], tmp_path / "out").read_text()
    assert report.backends(report.load_runs([path]), "linear_forward") == [
        "numpy", "numba", "torch", "jax"]
    assert _row(md, "| N | H |") == ["N", "H", "dtype", "numpy", "numba", "torch", "jax",
                                      "numba vs numpy", "numba vs torch", "numba vs jax"]
    # jax 15 us / numba 5 us = 3x
    assert _row(md, "| 700 | 10 | float64 |")[3:] == ["20 µs", "5 µs", "10 µs", "15 µs",
                                                         "4.00x faster", "2.00x faster",
                                                         "3.00x faster"]
    mlp = md[md.index("## mlp_train"):]
    header = _row(mlp, "| N | H |")
    row = dict(zip(header, _row(mlp, "| 700 | 10 | float64 |"), strict=True))
    assert row["jax"] == "35.5 µs" and row["numba vs jax"] == "5.00x faster"  # per step
    assert _row(md, "| jax |")[1] == "0.10.2 (threads: 2 (XLA's default: one per core))"
    assert (tmp_path / "out" / "plots" / "linear_forward-seed-withjax-vs-jax.png").is_file()
    # a run without the jax row says so
    md = report.make_report([_write(tmp_path / "base.json", BASE)], tmp_path / "o2").read_text()
    assert _row(md, "| jax |")[1] == "not run" and "numba vs jax" not in md
