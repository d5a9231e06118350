"""The ``nnkernels example`` command: both backends compute the same gradient."""

from __future__ import annotations

import subprocess
import sys

from nnkernels.cli import main


def test_example_runs(capsys) -> None:
    assert main(["example", "--records", "50", "--hidden", "4"]) == 0
    out = capsys.readouterr().out
    assert "numba matches numpy: True" in out and "numpy matches numpy: True" in out


def test_example_bad_arguments() -> None:
    done = subprocess.run([sys.executable, "-m", "nnkernels", "example", "--records", "-3"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "error: --records must be >= 0" in done.stderr
    assert "Traceback" not in done.stderr
