"""FLOP and byte counts, the machine probes, and the report's roofline columns and plots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import nnkernels
from nnkernels import machine, report
from nnkernels.benchmarks.throughput import attainable_gflops, counts
from nnkernels.cli import main

from .test_report import BASE, _results, _write

PEAK = {"schema": machine.SCHEMA, "threads": 2, "peak_gflops": {"float64": 50.0,
                                                                 "float32": 100.0},
        "triad_gbs": 10.0}


def test_counts() -> None:
    info = {"N": 2, "H": 4, "D_in": 3, "D_out": 1, "dtype": "float64"}
    assert counts("linear_forward", info) == (2 * 2 * 3 * 4 + 8, 8 * (6 + 12 + 4 + 8))
    assert counts("relu_forward", info) == (0.0, 8 * 2 * 8)
    assert counts("sgd_update", dict(info, dtype="float32")) == (16.0, 4 * 3 * 8)
    q = 3 * 4 + 4 + 4 + 1
    assert counts("mlp_train", info) == (4 * 24 + 6 * 8 + 16 + 12 + 2 * q, 8 * (6 + 2 + 2 * q))
    conv = {"N": 1, "C": 1, "H": 4, "W": 4, "F": 2, "k": 3, "stride": 1, "pad": 0,
            "dtype": "float32"}
    p = 1 * 2 * 2 * 2
    assert counts("conv2d_forward", conv) == (2.0 * p * 9 + p, 4 * (16 + 18 + 2 + p))
    assert counts("no_such_kernel", info) is None
    assert attainable_gflops(0.25, 50.0, 10.0) == 2.5 and attainable_gflops(100, 50, 10) == 50


def test_machine_check() -> None:
    assert machine.check(PEAK)["triad_gbs"] == 10.0
    for bad in (None, [], {"peak_gflops": {}}, dict(PEAK, triad_gbs=-1),
                dict(PEAK, triad_gbs=True), dict(PEAK, peak_gflops={"float64": "x"})):
        assert machine.check(bad) is None


@pytest.mark.slow
def test_machine_probes_measure_something() -> None:
    pytest.importorskip("numba")
    r = machine.measure(repeats=1, quick=True)
    assert set(r["peak_gflops"]) == {"float32", "float64"}
    assert all(v > 0.1 for v in r["peak_gflops"].values()) and r["triad_gbs"] > 0.1
    assert machine.check(json.loads(json.dumps(r))) is not None
    assert r["threads"] == nnkernels.get_num_threads()


def test_report_roofline_columns(tmp_path: Path) -> None:
    data = _results(BASE)
    data["machine_info"]["nnkernels"]["machine"] = PEAK
    path = tmp_path / "r.json"
    path.write_text(json.dumps(data))
    md = report.make_report([path], tmp_path / "out").read_text()
    assert "float32 100 GFLOP/s, float64 50 GFLOP/s, triad 10 GB/s (2 threads)" in md
    thr = md[md.index("Throughput [r]:"):]
    # linear_forward N=700 H=10 D=1, numba 5 us: (2*700*10 + 7000) FLOPs / 5 us = 4.2 GFLOP/s
    # = 8.4% of 50; bytes 8 * (700 + 10 + 10 + 7000) / 5 us = 12.4 GB/s = 124% of the triad
    row = next(ln for ln in thr.splitlines() if ln.startswith("| 700 | 10 | float64 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[5:7] == ["4.2 (8.4%)", "12.4 (124%)"]
    assert "## Throughput against the roofline" in md
    far = md[md.index("furthest from the roofline"):]
    assert "| linear_forward | seed | 100000 1000 float32 |" in far
    assert "| mlp_train (per step) |" in md  # the stated counts


def test_report_machine_file_and_bad_machine_file(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    results = _write(tmp_path / "r.json", BASE)
    good = tmp_path / "machine.json"
    good.write_text(json.dumps(PEAK))
    assert main(["report", str(results), "--out", str(tmp_path / "o"), "--machine", str(good),
                 "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    assert "triad 10 GB/s" in (tmp_path / "o" / "report.md").read_text()
    bad = tmp_path / "bad.json"
    bad.write_text('{"peak_gflops": 3}')
    assert main(["report", str(results), "--out", str(tmp_path / "o"), "--machine",
                 str(bad)]) == 2
    assert "not a machine-peak file" in capsys.readouterr().err


def test_heat_maps_share_one_scale_and_mark_skipped_cells(tmp_path: Path) -> None:
    runs = report.load_runs([_write(tmp_path / "r.json", BASE)])
    # numba vs numpy: 4x, 0.5x, 4x, 10x, 3x; vs torch 2x: the largest is 10x -> 2**4
    assert report.speedup_limit(runs) == 4.0
    assert report._over_budget(runs[0], "linear_forward", "seed", 1_000_000, 1000, "float64")
    assert not report._over_budget(runs[0], "linear_forward", "seed", 700, 10, "float64")
    assert report._x_label(-2) == "1/4x" and report._x_label(3) == "8x"
    plots = report.make_plots(runs, tmp_path / "plots")
    names = {p.name for ps in plots.values() for p in ps}
    assert {"linear_forward-seed-r-vs-torch.png", "conv2d_forward-conv-r-time.png",
            "mlp_train-seed-r-speedup.png"} <= names
