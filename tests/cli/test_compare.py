"""``nnkernels compare``: verdicts, noise intervals, thresholds and exit codes on hand-made runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nnkernels import compare
from nnkernels.cli import main
from nnkernels.report import format_change, load_run

from ..test_report import PNG_MAGIC, _bench, _results

CELLS = [(700, 10), (700, 100), (100_000, 10), (100_000, 100)]


def _run(medians: dict[tuple[str, str, int, int], float], iqr_share: float = 0.02,
         rounds: int = 5, data: bool = False) -> list[dict[str, Any]]:
    """Benchmarks with the given medians and an IQR of ``iqr_share`` x median."""
    out = []
    for (kernel, be, n, h), med in medians.items():
        b = _bench(kernel, be, med, n=n, h=h)
        b["stats"].update(iqr=iqr_share * med, stddev=iqr_share * med, rounds=rounds)
        if data:
            # rounds spread evenly over +-iqr_share around the median
            b["stats"]["data"] = [med * (1 + iqr_share * (2 * i / (rounds - 1) - 1))
                                  for i in range(rounds)]
        out.append(b)
    return out


BASE = {(k, be, n, h): 1e-5 * n / 700 * (2 if be == "numpy" else 1)
        for k in ("relu_forward", "mlp_train") for be in ("numpy", "numba") for n, h in CELLS}


def _files(tmp_path: Path, base: list, new: list) -> tuple[str, str]:
    a, b = tmp_path / "base.json", tmp_path / "new.json"
    a.write_text(json.dumps(_results(base)))
    b.write_text(json.dumps(_results(new)))
    return str(a), str(b)


def test_change_wording_is_one_way() -> None:
    assert format_change(1.25) == "1.25x slower"
    assert format_change(1 / 1.1) == "1.10x faster"
    assert format_change(1.001) == "same (1.00x)"
    assert format_change(46.2) == "46.2x slower" and format_change(1 / 250) == "250x faster"
    assert format_change(None) == "-" and format_change(0.0) == "-"


def test_identical_runs_have_no_regression(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    a, b = _files(tmp_path, _run(BASE), _run(BASE))
    assert main(["compare", a, b, "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("no regression: none of 16 rows")
    assert "0 slower, 0 faster, 16 within noise" in out
    md = (tmp_path / "out" / "compare.md").read_text()
    assert "| N=700 H=10 float64 | numba | 10 µs | 10 µs | same (1.00x) |" in md
    pngs = list((tmp_path / "out" / "plots").glob("*-compare.png"))
    assert {p.name for p in pngs} == {"relu_forward-compare.png", "mlp_train-compare.png"}
    assert all(p.read_bytes()[:8] == PNG_MAGIC for p in pngs)


def test_one_slowed_kernel_is_flagged_alone(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    new = dict(BASE)
    for n, h in CELLS:
        new[("relu_forward", "numba", n, h)] *= 3.0
    new[("mlp_train", "numba", 700, 10)] *= 1.3  # slower, but within the 100% threshold
    a, b = _files(tmp_path, _run(BASE), _run(new))
    assert main(["compare", a, b, "--out", str(tmp_path / "out"), "--no-plots"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "REGRESSION: 4 of 16 rows slower than the 100% threshold beyond noise:"
    flagged = [ln for ln in out if ln.startswith("  ")]
    assert len(flagged) == 4 and all("relu_forward" in ln and "[numba]" in ln for ln in flagged)
    assert "3.00x slower" in flagged[0]
    md = (tmp_path / "out" / "compare.md").read_text()
    assert md.index("## Regressions") < md.index("## relu_forward")
    assert md.count("**regression**") == 8  # in the regressions table and the kernel's table
    # the 1.3x slower mlp_train cell is "slower" (beyond noise) but not a regression
    row = next(ln for ln in md.splitlines() if ln.startswith("| N=700 H=10 float64 | numba")
               and "1.30x slower" in ln)
    assert row.rstrip(" |").endswith("slower")
    # a lower threshold flags it too
    assert main(["compare", a, b, "--out", str(tmp_path / "o2"), "--fail-slower", "10",
                 "--quiet", "--no-plots"]) == 1
    assert capsys.readouterr().out.startswith("REGRESSION: 5 of 16")


def test_noise_keeps_a_large_change_within_noise(tmp_path: Path) -> None:
    new = dict(BASE)
    new[("relu_forward", "numba", 700, 10)] *= 1.8
    c = compare.compare_runs(load_run(_files(tmp_path, _run(BASE, 0.6, 3),
                                             _run(new, 0.6, 3))[0]),
                             load_run(tmp_path / "new.json"))
    row = next(r for r in c.rows if r.kernel == "relu_forward" and r.backend == "numba"
               and r.cell == (700, 10, "float64"))
    assert row.method == "IQR" and row.lo < 1 < row.hi and row.verdict == "within noise"
    assert not c.failed
    # Student's t for 3 rounds (4.30) widens the interval against 1.96
    half = 4.303 * 2**0.5 * 1.2533 * (0.6 / 1.349) / 3**0.5
    assert row.hi == pytest.approx(1.8 * 2.718281828**half, rel=1e-3)


def test_bootstrap_when_rounds_are_kept(tmp_path: Path) -> None:
    new = dict(BASE)
    new[("mlp_train", "numba", 100_000, 100)] *= 0.5
    a, b = _files(tmp_path, _run(BASE, 0.05, 30, data=True), _run(new, 0.05, 30, data=True))
    c = compare.compare_runs(load_run(a), load_run(b))
    assert {r.method for r in c.rows} == {"bootstrap"}
    fast = next(r for r in c.rows if r.ratio < 0.9)
    assert fast.verdict == "faster" and fast.hi < 0.6 and fast.lo > 0.4
    assert compare.compare_runs(load_run(a), load_run(b)).rows == c.rows  # fixed seed
    assert not c.failed
    assert compare.compare_runs(load_run(a), load_run(b), fail_faster=30).failed


def test_fail_faster_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    new = dict(BASE)
    new[("mlp_train", "numba", 700, 10)] /= 2
    a, b = _files(tmp_path, _run(BASE), _run(new))
    assert main(["compare", a, b, "--out", str(tmp_path / "o"), "--no-plots"]) == 0
    assert main(["compare", a, b, "--out", str(tmp_path / "o"), "--no-plots",
                 "--fail-faster", "20"]) == 1
    assert "FASTER: 1 rows faster than the 20% threshold" in capsys.readouterr().out


def test_rows_in_one_run_only_are_listed_not_compared(tmp_path: Path) -> None:
    new = {k: v for k, v in BASE.items() if k[0] != "mlp_train"}
    a, b = _files(tmp_path, _run(BASE), _run(new))
    c = compare.compare_runs(load_run(a), load_run(b))
    assert len(c.rows) == 8 and len(c.only_base) == 8 and not c.only_new
    assert "Only in base (8 rows" in compare.render_markdown(c)


@pytest.mark.parametrize(("args", "message"), [
    (["--fail-slower", "-5"], "--fail-slower must be a percentage >= 0"),
    (["--fail-slower", "nan"], "--fail-slower must be a percentage >= 0"),
    (["--fail-faster", "100"], "--fail-faster must be a percentage in [0, 100)"),
])
def test_bad_thresholds(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                        message: str) -> None:
    a, b = _files(tmp_path, _run(BASE), _run(BASE))
    assert main(["compare", a, b, "--out", str(tmp_path / "o"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_bad_inputs_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, _ = _files(tmp_path, _run(BASE), _run(BASE))
    other = tmp_path / "other.json"
    other.write_text(json.dumps(_results(_run({("sgd_update", "numba", 700, 10): 1e-6}))))
    for argv, message in (([a, str(tmp_path / "missing.json")], "no such file"),
                          ([a, str(other)], "no cell in common")):
        assert main(["compare", *argv, "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("nnkernels compare: error: ") and message in err
        assert err.count("\n") == 1
