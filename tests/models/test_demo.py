"""``nnkernels demo`` end to end into a temporary folder, and its argument errors."""

from __future__ import annotations

import re
import subprocess
import sys

import matplotlib.image
import pytest

import nnkernels
from nnkernels.cli import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _check_png(path) -> None:
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    img = matplotlib.image.imread(path)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100


def test_demo_end_to_end(tmp_path, capsys) -> None:
    out = tmp_path / "figures"
    assert main(["demo", "--out", str(out), "--iters", "400", "--quiet"]) == 0
    text = capsys.readouterr().out
    names = [b for b in ("numba", "numpy") if b in nnkernels.available_backends()]
    for name in names:
        assert re.search(rf"\[{name}\] linear: final loss [0-9.e-]+, RMSE vs f\(x\) [0-9.]+", text)
        assert re.search(rf"\[{name}\] MLP: +final loss [0-9.e-]+, RMSE vs f\(x\) [0-9.]+", text)
        assert re.search(rf"\[{name}\] MLP time per training step: [0-9.]+ us", text)
    if len(names) == 2:
        assert re.search(r"speed-up of numba over numpy per MLP training step: [0-9.]+x", text)
    _check_png(out / "demo_fit.png")
    _check_png(out / "demo_loss.png")


def test_demo_defaults_in_a_fresh_process(tmp_path) -> None:
    # The seed's experiment at its default size, as a user runs it with its output redirected.
    res = subprocess.run([sys.executable, "-m", "nnkernels", "demo", "--backend", "numpy",
                          "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "700 records" in res.stdout and "1 -> 10 -> ReLU -> 1" in res.stdout
    rmse = float(re.search(r"MLP: +final loss \S+, RMSE vs f\(x\) ([0-9.]+)", res.stdout)[1])
    assert rmse <= 3.0
    assert "\r" not in res.stderr + res.stdout  # no progress bar into a redirected log
    _check_png(tmp_path / "demo_fit.png")


@pytest.mark.parametrize("argv,match", [
    (["--records", "-5"], "--records must be >= 2"),
    (["--hidden", "0"], "--hidden must be >= 1"),
    (["--iters", "0"], "--iters must be >= 1"),
    (["--backend", "cuda"], "unknown or unavailable backend 'cuda'"),
])
def test_demo_bad_arguments(argv, match, tmp_path, capsys) -> None:
    assert main(["demo", "--out", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err and err.count("\n") == 1


def test_demo_unwritable_out(tmp_path, capsys) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["demo", "--out", str(blocker / "sub"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "Traceback" not in err


def test_demo_bad_argument_in_a_process() -> None:
    res = subprocess.run([sys.executable, "-m", "nnkernels", "demo", "--records", "-1"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr and "--records" in res.stderr
