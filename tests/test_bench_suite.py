"""Pieces of the benchmark suite that can be checked without timing anything: the grids, the
memory rule, and the PyTorch comparator computing the same results as the numpy reference."""

from __future__ import annotations

import numpy as np
import pytest

import nnkernels
from nnkernels.benchmarks import cases
from nnkernels.benchmarks.cases import DenseCell, DenseData, MlpData, dense_cells

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
