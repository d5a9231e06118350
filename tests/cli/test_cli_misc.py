"""The command line's conventions: version, help, --quiet and --out everywhere, pass-through to
pytest, progress bars and load warnings, the compile notice, thread pools by role."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import pytest

import nnkernels
from nnkernels.cli import COMMANDS, _common, bench, build_parser, demo, main


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"nnkernels {nnkernels.__version__}"


def test_top_level_help_is_for_users(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "one module per sub-command" not in out and "add_parser" not in out
    assert "nnkernels compare A.json B.json" in out
    for name in COMMANDS:
        assert f"    {name}" in out


def test_every_command_has_quiet_and_consistent_out() -> None:
    subs = _subparsers()
    assert set(subs) == set(COMMANDS)
    for name, p in subs.items():
        opts = {o: a for a in p._actions for o in a.option_strings}
        assert "--quiet" in opts, name
        if "--out" in opts:  # every command that writes files: nnkernels-out/<command>
            assert opts["--out"].default == f"nnkernels-out/{name}", name
        assert p.description and "``" not in p.description, name


def test_unknown_options_go_to_pytest_only_for_bench(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    seen: dict[str, list[str]] = {}
    monkeypatch.setattr(bench, "run", lambda args: seen.setdefault("p", args.passthrough) and 0)
    # build_parser binds run at registration: patch before parsing
    assert main(["bench", "--quick", "--benchmark-compare-fail=median:5%", "--",
                 "--bench-keep-data", "-x"]) == 0
    assert seen["p"] == ["--benchmark-compare-fail=median:5%", "--bench-keep-data", "-x"]
    args = argparse.Namespace(quick=True, threads=1, mem_gib=None, backends=None, keyword=None,
                              quiet=True, passthrough=seen["p"])
    cmd = bench.pytest_command(args, Path("r.json"))
    assert cmd[-3:] == seen["p"] and "--benchmark-quiet" in cmd
    with pytest.raises(SystemExit) as exc:
        main(["report", "r.json", "--benchmark-compare-fail=median:5%"])
    assert exc.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err


def test_progress_bars_only_on_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    # under pytest's capture stderr is not a terminal
    assert _common.show_progress(quiet=False) is False
    assert _common.show_progress(quiet=True) is False


def test_load_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.3, 0.2, 0.1))
    assert _common.load_warning() is None
    assert _common.load_line() == "load average 0.30 (1 min) on 2 cores"
    monkeypatch.setattr(os, "getloadavg", lambda: (3.5, 2.0, 1.0))
    warn = _common.load_warning()
    assert warn and warn.startswith("warning: the machine is busy (load average 3.50")


def test_thread_pools_by_role() -> None:
    lines = _common.thread_pools_by_role()
    assert lines[0].startswith("numpy's BLAS: ")
    if "numba" in nnkernels.available_backends():
        assert any(ln.startswith("numba's threading layer: ") for ln in lines)
        assert any(ln.startswith("numba's BLAS (scipy's): ") for ln in lines)


def test_cold_cache_detection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    assert _common.numba_cache_is_cold()
    (tmp_path / "some" / "dir").mkdir(parents=True)
    (tmp_path / "some" / "dir" / "dense._f-12.py311.nbi").write_bytes(b"")
    assert not _common.numba_cache_is_cold()


def test_warm_up_prints_the_notice_only_when_cold(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    calls: list[str] = []
    kernels = [("mlp_train", lambda: calls.append("m")), ("sgd_update", lambda: calls.append("s"))]
    monkeypatch.setattr(_common, "numba_cache_is_cold", lambda: True)
    _common.warm_up(kernels)
    assert capsys.readouterr().out == (
        "compiling kernels for this machine, once: about 22 s (mlp_train, sgd_update)\n")
    _common.warm_up(kernels, quiet=True)
    monkeypatch.setattr(_common, "numba_cache_is_cold", lambda: False)
    _common.warm_up(kernels)
    assert capsys.readouterr().out == "" and calls == ["m", "s"] * 3


def test_demo_warms_up_only_its_kernels_in_float64() -> None:
    calls = demo.warmup_calls(nnkernels.get_backend("numpy"), 50, 4)
    names = {k for k, _ in calls}
    assert names == {"linear_forward", "linear_relu_forward", "linear_backward", "mse_loss",
                     "sgd_update", "mlp_train"}
    for _, call in calls:
        out = call()
        for a in out if isinstance(out, tuple) else [out]:
            if isinstance(a, np.ndarray):
                assert a.dtype == np.float64


def test_out_that_is_a_file_is_one_line(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "f"
    f.write_text("x")
    assert main(["demo", "--out", str(f), "--backend", "numpy", "--iters", "1"]) == 2
    err = capsys.readouterr().err
    assert "exists and is not a folder" in err and err.count("\n") == 1
