"""Pieces of the benchmark suite that can be checked without timing anything: the grids, the
memory rule, and the PyTorch and JAX comparators computing the same results as the numpy
reference."""

from __future__ import annotations

import os

import numpy as np
import pytest

import nnkernels
from nnkernels.benchmarks import cases
from nnkernels.benchmarks.cases import (
    ConvData,
    ConvShape,
    DenseCell,
    DenseData,
    MlpData,
    dense_cells,
)

GIB = 2**30


def test_grids() -> None:
    full = dense_cells()
    seed = [c for c in full if c.case == "seed"]
    wide = [c for c in full if c.case == "wide"]
    assert len(seed) == 4 * 3 * 2 and len(wide) == 2 * 2 * 2
    assert {(c.d_in, c.d_out) for c in seed} == {(1, 1)}
    assert {(c.d_in, c.d_out) for c in wide} == {(64, 10)}
    assert {c.n for c in seed} == {700, 10_000, 100_000, 1_000_000}
    overhead = [c for c in full if c.case == "overhead"]
    assert [(c.n, c.h, c.d_in, c.d_out, c.dtype) for c in overhead] == [
        (64, 10, 1, 1, "float32"), (64, 10, 1, 1, "float64")]
    assert all(c.mlp_steps_per_call() == 1 for c in overhead)  # per-call cost, not per step
    assert dense_cells(seed_only=True) == seed + overhead
    quick = dense_cells(quick=True)
    assert len(quick) == 6 and len(set(c.id for c in full)) == len(full)
    assert [c.id for c in quick if c.case == "overhead"] == ["overhead-N64-H10-float64"]
    assert overhead[0].group("mlp_train") == "mlp_train N=64 H=10 float32 per-call overhead"
    assert DenseCell("wide", 10_000, 256, 64, 10, "float32").group("linear_forward") == (
        "linear_forward N=10000 H=256 D_in=64 D_out=10 float32")


def test_memory_rule_skips_only_the_largest_cells() -> None:
    budget = cases.DEFAULT_MEM_GIB * GIB
    over = {(c.n, c.h, c.dtype) for c in dense_cells() if c.dense_bytes() > budget}
    assert over == {(1_000_000, 1000, "float32"), (1_000_000, 1000, "float64")}
    over_mlp = {(c.n, c.h, c.dtype) for c in dense_cells() if c.mlp_bytes() > budget}
    assert over_mlp == over
    # three (N, H) float64 arrays of 1e8 elements: 2.4 GB
    assert DenseCell("seed", 1_000_000, 100, 1, 1, "float64").dense_bytes() == pytest.approx(
        2.4e9, rel=0.01)


def test_cell_arrays() -> None:
    d = DenseData(DenseCell("seed", 50, 7, 1, 1, "float32"))
    assert d.x.shape == (50, 1) and d.w.shape == (1, 7) and d.a.shape == d.out.shape == (50, 7)
    assert {a.dtype for a in (d.x, d.w, d.b, d.a, d.c, d.out, d.dx, d.dw, d.db)} == {
        np.dtype(np.float32)}
    m = MlpData(DenseCell("wide", 40, 8, 64, 10, "float64"))
    assert m.y.shape == (40, 10) and [p.shape for p in m.params()] == [(64, 8), (8,), (8, 10),
                                                                        (10,)]


def test_torch_comparator_matches_the_reference() -> None:
    pytest.importorskip("torch")
    from nnkernels.benchmarks.torch_ref import TorchBackend

    ref, tb = nnkernels.get_backend("numpy"), TorchBackend()
    d = DenseData(DenseCell("seed", 64, 9, 3, 1, "float64"))
    out = np.empty_like(d.out)
    np.testing.assert_allclose(tb.linear_forward(d.x, d.w, d.b, out=out),
                               ref.linear_forward(d.x, d.w, d.b))
    np.testing.assert_allclose(tb.linear_relu_forward(d.x, d.w, d.b, out=out),
                               ref.linear_relu_forward(d.x, d.w, d.b))
    np.testing.assert_array_equal(tb.relu_forward(d.a, out=out), ref.relu_forward(d.a))
    np.testing.assert_array_equal(np.asarray(tb.relu_backward(d.a, d.c)),
                                  ref.relu_backward(d.a, d.c))
    loss, grad = tb.mse_loss(d.a, d.c, out=out)
    ref_loss, ref_grad = ref.mse_loss(d.a, d.c)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    np.testing.assert_allclose(grad, ref_grad)
    dx, dw, db = np.zeros_like(d.x), np.ones_like(d.w), np.ones_like(d.b)
    tb.linear_backward(d.x, d.w, d.a, dx_out=dx, dw_out=dw, db_out=db)
    rdx, rdw, rdb = ref.linear_backward(d.x, d.w, d.a, dw_out=np.ones_like(d.w),
                                        db_out=np.ones_like(d.b))
    np.testing.assert_allclose(dx, rdx)
    np.testing.assert_allclose(dw, rdw)
    np.testing.assert_allclose(db, rdb)
    p, rp = d.out.copy(), d.out.copy()
    tb.sgd_update(p, d.a, 0.1)
    ref.sgd_update(rp, d.a, 0.1)
    np.testing.assert_allclose(p, rp)


def test_torch_mlp_step_matches_the_reference_kernels() -> None:
    """One autograd step of the comparator equals the step composed from the numpy kernels."""
    pytest.importorskip("torch")
    from nnkernels.benchmarks.torch_ref import TorchBackend

    ref = nnkernels.get_backend("numpy")
    m = MlpData(DenseCell("seed", 30, 5, 1, 1, "float64"))
    params = m.params()
    params[1][:] = 0.1  # some units active
    w1, b1, w2, b2 = (p.copy() for p in params)
    losses = TorchBackend().mlp_train(m.x, m.y, params, 0.05, 1)
    h = ref.linear_relu_forward(m.x, w1, b1)
    loss, dpred = ref.mse_loss(ref.linear_forward(h, w2, b2), m.y)
    dh, dw2, db2 = ref.linear_backward(h, w2, dpred)
    _, dw1, db1 = ref.linear_backward(m.x, w1, ref.relu_backward(dh, h))
    assert losses[0] == pytest.approx(loss, rel=1e-12)
    for p, p0, g in zip(params, (w1, b1, w2, b2), (dw1, db1, dw2, db2), strict=True):
        np.testing.assert_allclose(p, p0 - 0.05 * g, rtol=1e-10, atol=1e-12)


def test_jax_comparator_matches_the_reference() -> None:
    pytest.importorskip("jax")
    from nnkernels.benchmarks.jax_ref import JaxBackend

    ref, jb = nnkernels.get_backend("numpy"), JaxBackend()
    for dtype in ("float32", "float64"):  # float32 stays float32 under jax_enable_x64
        d = DenseData(DenseCell("seed", 64, 9, 3, 1, dtype))
        tol = {"rtol": 1e-5, "atol": 1e-5} if dtype == "float32" else {"rtol": 1e-12}
        fwd = jb.linear_forward(d.x, d.w, d.b, out=d.out)
        assert fwd.dtype == np.dtype(dtype)
        np.testing.assert_allclose(fwd, ref.linear_forward(d.x, d.w, d.b), **tol)
        np.testing.assert_allclose(jb.linear_forward(d.x, d.w), ref.linear_forward(d.x, d.w),
                                   **tol)
        np.testing.assert_allclose(jb.linear_relu_forward(d.x, d.w, d.b),
                                   ref.linear_relu_forward(d.x, d.w, d.b), **tol)
        np.testing.assert_array_equal(jb.relu_forward(d.a), ref.relu_forward(d.a))
        np.testing.assert_array_equal(jb.relu_backward(d.a, d.c), ref.relu_backward(d.a, d.c))
        for reduction in ("mean", "sum"):
            loss, grad = jb.mse_loss(d.a, d.c, reduction)
            ref_loss, ref_grad = ref.mse_loss(d.a, d.c, reduction)
            assert loss == pytest.approx(ref_loss, rel=tol["rtol"])
            np.testing.assert_allclose(grad, ref_grad, **tol)
        for got, want in zip(jb.linear_backward(d.x, d.w, d.a), ref.linear_backward(d.x, d.w, d.a),
                             strict=True):
            assert got.dtype == np.dtype(dtype)
            np.testing.assert_allclose(got, want, **tol)
        p, rp = d.out.copy(), d.out.copy()
        jb.sgd_update(p, d.a, 0.1)
        jb.sgd_update(p, d.a, 0.1)  # the device copy is updated again
        jb.pull([p])
        ref.sgd_update(rp, d.a, 0.1)
        ref.sgd_update(rp, d.a, 0.1)
        np.testing.assert_allclose(p, rp, **tol)
    c = ConvData(ConvShape(2, 3, 9, 8, 4, 3, 2, 1, "float64"))
    s = c.shape
    np.testing.assert_allclose(jb.conv2d_forward(c.x, c.w, c.b, s.stride, s.pad),
                               ref.conv2d_forward(c.x, c.w, c.b, s.stride, s.pad), rtol=1e-12)
    for got, want in zip(jb.conv2d_backward(c.x, c.w, c.dy, s.stride, s.pad),
                         ref.conv2d_backward(c.x, c.w, c.dy, s.stride, s.pad), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_jax_mlp_step_matches_the_reference_kernels(dtype: str) -> None:
    """Steps of the jitted value_and_grad + SGD step equal the steps composed from the numpy
    kernels, in either dtype, and its parameters stay on the device between calls."""
    pytest.importorskip("jax")
    from nnkernels.benchmarks.jax_ref import JaxBackend

    ref = nnkernels.get_backend("numpy")
    m = MlpData(DenseCell("seed", 30, 5, 1, 1, dtype))
    params = m.params()
    params[1][:] = 0.1  # some units active
    expect = [p.copy() for p in params]
    jb = JaxBackend()
    losses = np.concatenate([jb.mlp_train(m.x, m.y, params, 0.05, 2),
                             jb.mlp_train(m.x, m.y, params, 0.05, 1)])
    assert losses.dtype == np.float64 and losses.shape == (3,)
    np.testing.assert_array_equal(params[0], expect[0])  # not pulled back yet
    jb.pull(params)
    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == "float32" else {"rtol": 1e-10, "atol": 1e-12}
    for step in range(3):
        w1, b1, w2, b2 = expect
        h = ref.linear_relu_forward(m.x, w1, b1)
        loss, dpred = ref.mse_loss(ref.linear_forward(h, w2, b2), m.y)
        dh, dw2, db2 = ref.linear_backward(h, w2, dpred)
        _, dw1, db1 = ref.linear_backward(m.x, w1, ref.relu_backward(dh, h))
        assert losses[step] == pytest.approx(loss, rel=tol["rtol"])
        expect = [p - np.asarray(0.05, p.dtype) * g
                  for p, g in zip(expect, (dw1, db1, dw2, db2), strict=True)]
    for p, e in zip(params, expect, strict=True):
        assert p.dtype == np.dtype(dtype)
        np.testing.assert_allclose(p, e, **tol)


def test_comparator_rows_skip_cleanly_without_their_package(tmp_path) -> None:
    """With torch and jax unimportable, their rows are skipped (not errors) and the rest runs."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    for name in ("torch", "jax"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(f"raise ImportError('no {name} here')\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{root}"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "benchmarks",
         "--quick", "--benchmark-disable", "--bench-backends", "numba,torch,jax",
         "-k", "test_relu_forward and overhead"],
        cwd=root, env=env, capture_output=True, text=True, timeout=600)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    assert "1 passed, 2 skipped" in out, out[-3000:]
    assert "could not import 'torch'" in out and "could not import 'jax'" in out, out[-3000:]


def test_jax_dense_cells_are_charged_for_the_device_copies() -> None:
    """A dense cell that fits the memory budget once but not twice runs numba and skips jax."""
    import subprocess
    import sys
    from pathlib import Path

    pytest.importorskip("jax")
    cell = DenseCell("overhead", 64, 10, 1, 1, "float64")
    gib = 1.5 * cell.dense_bytes() / GIB
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "benchmarks",
         "--quick", "--benchmark-disable", "--bench-backends", "numba,jax", "--bench-mem-gib",
         repr(gib), "-k", "test_relu_forward and overhead"],
        cwd=root, capture_output=True, text=True, timeout=600)
    out = done.stdout + done.stderr
    assert done.returncode == 0 and "1 passed, 1 skipped" in out, out[-3000:]
    assert f"{cell.id} with jax's copies needs" in out, out[-3000:]


def test_every_scenario_runs_and_is_labelled(tmp_path) -> None:
    """--bench-scenario mixed: each kernel timed in every scenario (the busy process started
    and stopped by the suite), each result labelled, and the report lays them side by side."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    from nnkernels.report import load_run

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "mixed.json"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "benchmarks", "--quick",
         "--bench-scenario", "mixed", "--bench-backends", "numba", "--bench-no-machine",
         "-k", "test_relu_forward and N700-H10-", "--benchmark-json", str(out)],
        cwd=root, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    infos = [b["extra_info"] for b in json.loads(out.read_text())["benchmarks"]]
    assert sorted(i["scenario"] for i in infos) == sorted(cases.SCENARIOS)
    labels = {r.backend for r in load_run(out).results}
    assert labels == {"numba"} | {f"numba ({s})" for s in cases.SCENARIOS if s != "idle"}
    bad = subprocess.run([sys.executable, "-m", "pytest", "benchmarks", "--bench-scenario",
                          "nope", "--co", "-q"], cwd=root, capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode != 0 and "--bench-scenario: unknown ['nope']" in bad.stderr
