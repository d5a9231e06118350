"""The ``nnkernels report`` and ``nnkernels bench`` commands."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from nnkernels.benchmarks import SUITE_DIR
from nnkernels.cli import bench, main

from ..test_report import BASE, _row, _write


def test_report_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _write(tmp_path / "a.json", BASE)
    assert main(["report", str(a), str(a), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "a: 11 results; numba not faster than numpy in 1 cell(s)" in out
    assert f"report: {tmp_path / 'out' / 'report.md'}" in out
    md = (tmp_path / "out" / "report.md").read_text()
    assert _row(md, "| N | H |")[3:5] == ["numpy [a]", "numpy [a-2]"]
    assert list((tmp_path / "out" / "plots").glob("*.png"))


@pytest.mark.parametrize("content", [None, "{broken"])
def test_report_command_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                 content: str | None) -> None:
    path = tmp_path / "r.json"
    if content is not None:
        path.write_text(content)
    assert main(["report", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nnkernels report: error: ") and str(path) in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_report_command_needs_a_file(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["report"])
    assert exc.value.code == 2


@pytest.mark.parametrize(("args", "message"), [
    (["--threads", "0"], "--threads must be >= 1"),
    (["--mem-gib", "0"], "--mem-gib must be > 0"),
    (["--backends", "numpy,tf"], "--backends: unknown tf; choose from numpy, numba, torch, jax"),
    (["--backends", ","], "--backends: unknown empty list"),
])
def test_bench_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                             args: list[str], message: str) -> None:
    assert main(["bench", "--out", str(tmp_path), *args]) == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing was run


def test_bench_runs_the_shipped_suite() -> None:
    args = argparse.Namespace(quick=True, threads=1, mem_gib=2.0, backends="numpy,numba",
                              keyword="linear_forward")
    cmd = bench.pytest_command(args, Path("r.json"))
    assert cmd[1:4] == ["-m", "pytest", str(SUITE_DIR)]
    for a, b in (("--benchmark-json", "r.json"), ("--bench-threads", "1"),
                 ("--bench-mem-gib", "2.0"), ("--bench-backends", "numpy,numba"),
                 ("-k", "linear_forward")):
        assert cmd[cmd.index(a) + 1] == b
    assert "--quick" in cmd
    # the suite ships inside the package (a fresh install has no benchmarks/ folder)
    assert (SUITE_DIR / "conftest.py").exists() and (SUITE_DIR / "__init__.py").exists()
    assert {p.name for p in SUITE_DIR.glob("bench_*.py")} >= {
        "bench_dense.py", "bench_mlp.py", "bench_conv.py", "bench_compile.py"}


@pytest.mark.slow
def test_bench_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A real (tiny) run: pytest-benchmark in a subprocess, its JSON, then the report."""
    out = tmp_path / "bench"
    rc = main(["bench", "--quick", "--out", str(out), "--threads", "1", "--backends",
               "numpy,numba", "-k", "test_linear_forward and seed-N700-H10-float64"])
    assert rc == 0, capsys.readouterr()
    (results,) = out.glob("bench-*.json")
    data = json.loads(results.read_text())
    rows = {b["extra_info"]["backend"]: b for b in data["benchmarks"]}
    assert set(rows) == {"numpy", "numba"}
    assert rows["numba"]["extra_info"] | {"kernel": "linear_forward", "N": 700, "H": 10,
                                          "threads": 1} == rows["numba"]["extra_info"]
    assert rows["numba"]["group"] == "linear_forward N=700 H=10 float64"
    assert data["machine_info"]["nnkernels"]["threads"] == 1
    assert data["machine_info"]["nnkernels"]["runtime"]["numba_num_threads"] == 1
    assert "data" not in rows["numba"]["stats"] and rows["numba"]["stats"]["rounds"] >= 3
    md = (out / "report.md").read_text()
    assert "| 700 | 10 | float64 |" in md
    assert (out / "plots" / f"linear_forward-seed-{results.stem}-time.png").exists()


@pytest.mark.slow
def test_bench_nothing_selected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--quick", "--out", str(tmp_path), "-k", "no_such_benchmark"]) == 2
    assert "no benchmark was selected (pytest exit status 5)" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.json"))
