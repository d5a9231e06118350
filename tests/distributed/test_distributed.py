"""nnkernels.distributed against a real dask.distributed LocalCluster of worker processes:
the distributed gradient and fit against the in-memory kernels, bitwise the same for 1 and 2
workers and for differently built arrays with the same blocks, linear_backward on dask arrays,
a worker killed mid-fit, bad input raising before any work, the estimator hook.

The workers import this checkout: ``nnkernels.distributed.cluster.local_cluster`` puts the
source tree the client runs first on the workers' PYTHONPATH (an installed copy needs nothing).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")

import nnkernels  # noqa: E402
from nnkernels.distributed import cluster as nk_cluster  # noqa: E402
from nnkernels.distributed import fit_mlp, linear_backward, mlp_grad  # noqa: E402
from nnkernels.testing import assert_close  # noqa: E402
from tests.kernels.helpers import mlp_problem  # noqa: E402

pytestmark = pytest.mark.skipif("numba" not in nnkernels.available_backends(),
                                reason="the workers run the numba kernels")

TIMEOUT = 60  # seconds per step: a stuck cluster fails the test instead of hanging it
N, BLOCK = 60_000, 15_000


@pytest.fixture(scope="module")
def client():
    with nk_cluster.local_cluster(2) as lc, distributed.Client(lc, set_as_default=False) as c:
        c.wait_for_workers(2, timeout=60)
        yield c


@pytest.fixture(scope="module")
def client1():
    with nk_cluster.local_cluster(1) as lc, distributed.Client(lc, set_as_default=False) as c:
        yield c


def _problem(dtype=np.float64, d=2, h=20, o=2):
    x, y, params = mlp_problem(N, d, h, o, dtype)
    return x, y, params, da.from_array(x, chunks=(BLOCK, d)), da.from_array(y, chunks=(BLOCK, o))


def _bits(loss, arrays) -> bytes:
    return np.float64(loss).tobytes() + b"".join(np.asarray(a).tobytes() for a in arrays)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_gradient_matches_in_memory(client, dtype) -> None:
    x, y, params, X, Y = _problem(dtype)
    loss, grads = mlp_grad(X, Y, params, client=client, timeout=TIMEOUT)
    ref_loss, ref = nnkernels.get_backend("numba").mlp_grad(x, y, params)
    assert_close(np.array(loss), np.array(ref_loss), N, dtype=dtype)
    for g, r in zip(grads, ref, strict=True):
        assert g.dtype == dtype
        assert_close(g, r, N, dtype=dtype)


def test_fit_matches_in_memory_and_is_bitwise_for_1_and_2_workers(client, client1) -> None:
    x, y, params, X, Y = _problem()
    ref = [a.copy() for a in params]
    ref_losses = nnkernels.get_backend("numba").mlp_train(x, y, ref, 0.1, 5)
    results = []
    for c in (client, client1):
        p = [a.copy() for a in params]
        losses = fit_mlp(X, Y, p, 0.1, 5, client=c, timeout=TIMEOUT)
        assert_close(losses, ref_losses, kind="train", scale=1, dtype=np.float64)
        for a, r in zip(p, ref, strict=True):
            assert_close(a, r, kind="train", scale=1, dtype=np.float64)
        results.append(_bits(0.0, [losses, *p]))
        results.append(_bits(*mlp_grad(X, Y, params, client=c, timeout=TIMEOUT)))
    assert results[0] == results[2] and results[1] == results[3]


def test_same_blocks_built_differently_give_the_same_bits(client) -> None:
    x, y, params, X, Y = _problem(d=1, h=10, o=1)
    # The same row blocks from another graph: small blocks merged, and pieces concatenated.
    X2 = da.from_array(x, chunks=(BLOCK // 5, 1)).rechunk((BLOCK, 1))
    Y2 = da.concatenate([da.from_array(y[i:i + BLOCK], chunks=(BLOCK, 1))
                         for i in range(0, N, BLOCK)])
    assert X2.chunks == X.chunks and Y2.chunks == Y.chunks and X2.name != X.name
    out = []
    for xs, ys in ((X, Y), (X2, Y2)):
        p = [a.copy() for a in params]
        losses = fit_mlp(xs, ys, p, 0.1, 5, client=client, timeout=TIMEOUT, persist=False)
        out.append((_bits(*mlp_grad(xs, ys, params, client=client, timeout=TIMEOUT)),
                    _bits(0.0, [losses, *p])))
    assert out[0] == out[1]


def test_client_none_uses_the_current_client(client) -> None:
    _, _, params, X, Y = _problem(d=1, h=4, o=1)
    with client.as_current():
        assert distributed.get_client() is client
        loss, _ = mlp_grad(X, Y, params, timeout=TIMEOUT)
    assert loss == mlp_grad(X, Y, params, client=client, timeout=TIMEOUT)[0]


def test_linear_backward_on_dask_arrays(client) -> None:
    rng = np.random.default_rng(1)
    x, w, dy = rng.standard_normal((5_000, 6)), rng.standard_normal((6, 4)), \
        rng.standard_normal((5_000, 4))
    X, DY = da.from_array(x, chunks=(700, 3)), da.from_array(dy, chunks=(700, 4))
    dx, dw, db = linear_backward(X, w, DY)
    assert isinstance(dx, da.Array) and dx.chunks[0] == X.chunks[0]
    got = client.gather(client.compute([dx, dw, db]))
    ref = nnkernels.get_backend("numba").linear_backward(x, w, dy)
    for g, r in zip(got, ref, strict=True):
        assert_close(g, r, 5_000)
    # Bitwise the same on the threaded scheduler: the tree, not the workers, fixes the order.
    import dask

    local = dask.compute(dx, dw, db, scheduler="threads")
    assert all(a.tobytes() == b.tobytes() for a, b in zip(got, local, strict=True))
    assert linear_backward(X, w, DY, need_dx=False)[0] is None


def _untouchable(shape, chunks, calls):
    """A dask array whose blocks record that they were computed."""
    def block(b):
        calls.append(b.shape)
        return b

    return da.zeros(shape, chunks=chunks).map_blocks(block, dtype=np.float64,
                                                     meta=np.empty((0,) * len(shape)))


def test_bad_input_raises_before_any_work(client) -> None:
    calls: list = []
    _, _, params, _, _ = _problem(d=2, h=3, o=1)
    X = _untouchable((1_000, 2), (100, 2), calls)
    bad_rows = _untouchable((1_000, 1), (250, 1), calls)
    with pytest.raises(ValueError, match="chunked differently along the rows"):
        fit_mlp(X, bad_rows, [a.copy() for a in params], 0.1, 3, client=client)
    with pytest.raises(ValueError, match="chunked differently along the rows"):
        mlp_grad(X, bad_rows, params, client=client)
    with pytest.raises(ValueError, match="x and dy are chunked differently"):
        linear_backward(X, np.ones((2, 1)), bad_rows)
    unknown = X[X[:, 0] > 0]
    for call in (lambda: mlp_grad(unknown, unknown[:, :1], params, client=client),
                 lambda: linear_backward(unknown, np.ones((2, 1)), unknown[:, :1])):
        with pytest.raises(ValueError, match="unknown chunk sizes"):
            call()
    # The in-memory kernels' messages for shapes and dtypes.
    y = _untouchable((1_000, 1), (100, 1), calls)
    be = nnkernels.get_backend("numba")
    for args in [(X[:, :1], y, params), (X, y[:900], params),
                 (X, y, [params[0], params[1][:2], params[2], params[3]]),
                 (X.astype(np.float32), y, params)]:
        in_memory = [np.zeros(a.shape, a.dtype) if isinstance(a, da.Array) else a
                     for a in args[:2]]
        with pytest.raises((ValueError, TypeError)) as expected:
            be.mlp_grad(*in_memory, args[2])
        with pytest.raises(type(expected.value)) as got:
            mlp_grad(*args, client=client)
        assert str(got.value) == str(expected.value)
    with pytest.raises(ValueError, match="x has 2 columns but w has 3 rows"):
        linear_backward(X, np.ones((3, 1)), y)
    assert calls == []


def test_a_worker_without_the_package_is_named(client) -> None:
    with pytest.raises(RuntimeError, match=r"2 of 2 workers.*tcp://127\.0\.0\.1:\d+.*"
                                           r"no_such_module"):
        nk_cluster.check_workers(client, ("nnkernels", "no_such_module"))
    versions = nk_cluster.check_workers(client)
    assert all(v["nnkernels"] == nnkernels.__version__ for v in versions.values())


def test_worker_killed_mid_fit_is_an_error_or_the_same_model(client) -> None:
    x, y, params, X, Y = _problem(d=1, h=10, o=1)
    ref = [a.copy() for a in params]
    ref_losses = fit_mlp(X, Y, ref, 0.1, 5, client=client, timeout=TIMEOUT, persist=True)
    victim = sorted(client.scheduler_info()["workers"])[0]

    def kill(step) -> None:
        if step.iteration == 1:
            client.run(os._exit, 1, workers=[victim], wait=False, on_error="ignore")

    p = [a.copy() for a in params]
    try:
        losses = fit_mlp(X, Y, p, 0.1, 5, client=client, timeout=TIMEOUT, persist=True,
                         callback=kill)
    except RuntimeError as exc:
        assert "iteration" in str(exc)
    else:  # the scheduler recomputed the lost blocks: the same model, bit for bit
        assert losses.tobytes() == ref_losses.tobytes()
        assert all(a.tobytes() == r.tobytes() for a, r in zip(p, ref, strict=True))
    client.wait_for_workers(2, timeout=60)  # the nanny restarts the worker


def test_estimator_on_dask_arrays(client) -> None:
    from nnkernels.data import make_cubic
    from nnkernels.models import MLP

    x, y, _ = make_cubic(20_000, random_state=0)
    X, Y = da.from_array(x, chunks=(5_000, 1)), da.from_array(y[:, 0], chunks=5_000)
    seed_net = dict(hidden_layer_sizes=(8,), solver="sgd", momentum=0.0, batch_size=None,
                    learning_rate_init=0.1, max_iter=30, tol=0.0, random_state=0)
    est = MLP(**seed_net)
    est.fit(X, Y, client=client)
    ref = MLP(**seed_net).fit(x, y[:, 0])
    np.testing.assert_allclose(est.loss_curve_, ref.loss_curve_, rtol=1e-8)
    for a, b in zip(est.coefs_ + est.intercepts_, ref.coefs_ + ref.intercepts_, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9)
    pred = est.predict(X)
    assert isinstance(pred, da.Array) and pred.shape == (20_000,)
    np.testing.assert_allclose(client.compute(pred).result(timeout=TIMEOUT), ref.predict(x),
                               rtol=1e-7, atol=1e-7)
    with pytest.raises(ValueError, match=r"full batch.*batch_size='auto'.*batch_size=None"):
        MLP().fit(X, Y, client=client)  # the defaults: Adam on mini-batches


def test_demo_dask_command(capsys) -> None:
    from nnkernels.cli import main

    assert main(["demo-dask", "--records", "200000", "--block", "50000", "--iters", "2",
                 "--workers", "1", "--hidden", "4"]) == 0
    out = capsys.readouterr().out
    assert "200,000 records in 4 blocks" in out and "memory limit per worker" in out
    assert out.count("M records/s") == 2 and "RMSE" in out


# -- the estimators on dask arrays: classifier, solvers, depth -----------------------------------

def _classes(n: int = 6_000, block: int = 1_500, dtype=np.float64):
    """Three string classes of 3-D points (not linearly separable), in memory and in blocks."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((n, 3)).astype(dtype)
    labels = np.array(["cat", "dog", "eel"])[(x[:, 0] > 0).astype(int) + (x[:, 1] * x[:, 2] > 0)]
    return x, labels, da.from_array(x, chunks=(block, 3)), da.from_array(labels, chunks=block)


FULL_BATCH = dict(batch_size=None, max_iter=8, learning_rate_init=0.05, random_state=0)
CASES = {  # (estimator, hyper-parameters): every solver, one and two hidden layers
    "clf-sgd": ("MLPClassifier", dict(solver="sgd", momentum=0.0, hidden_layer_sizes=(8,))),
    "clf-momentum-deep": ("MLPClassifier",
                          dict(solver="sgd", momentum=0.9, hidden_layer_sizes=(6, 5))),
    "clf-adam": ("MLPClassifier", dict(solver="adam", hidden_layer_sizes=(8,))),
    "reg-adam": ("MLPRegressor", dict(solver="adam", hidden_layer_sizes=(8,))),
    "reg-momentum-deep": ("MLPRegressor",
                          dict(solver="sgd", momentum=0.9, hidden_layer_sizes=(6, 5))),
}


@pytest.mark.parametrize("case", list(CASES))
def test_estimator_dask_fit_equals_in_memory_and_is_bitwise_for_1_and_2_workers(
        client, client1, case) -> None:
    from nnkernels import models

    name, hyper = CASES[case]
    cls = getattr(models, name)
    x, labels, X, L = _classes()
    if name == "MLPClassifier":
        y, Y = labels, L
    else:
        y = np.sin(x @ [1.0, -2.0, 0.5])
        Y = da.from_array(y, chunks=X.chunks[0])
    ref = cls(**FULL_BATCH, **hyper).fit(x, y)
    fits = [cls(**FULL_BATCH, **hyper).fit(X, Y, client=c) for c in (client, client1)]
    for est in fits:
        assert est.n_iter_ == ref.n_iter_ == FULL_BATCH["max_iter"] and est.t_ == ref.t_
        assert_close(est.loss_curve_, ref.loss_curve_, kind="train", scale=1,
                     dtype=np.float64)
        for a, b in zip(est.coefs_ + est.intercepts_, ref.coefs_ + ref.intercepts_,
                        strict=True):
            assert a.dtype == b.dtype
            assert_close(a, b, kind="train", scale=1)
        assert est._solver.step_count == ref._solver.step_count
    one, two = (b"".join(a.tobytes() for a in f.coefs_ + f.intercepts_) for f in fits)
    assert one == two and fits[0].loss_curve_ == fits[1].loss_curve_
    est = fits[0]
    if name == "MLPClassifier":
        assert list(est.classes_) == ["cat", "dog", "eel"] and est.n_outputs_ == 3
        proba = est.predict_proba(X)
        assert isinstance(proba, da.Array) and proba.shape == (x.shape[0], 3)
        got = client.compute(proba).result(timeout=TIMEOUT)
        assert_close(got, ref.predict_proba(x), kind="train", scale=1)
        pred = est.predict(X)
        assert isinstance(pred, da.Array) and pred.dtype == est.classes_.dtype
        np.testing.assert_array_equal(client.compute(pred).result(timeout=TIMEOUT),
                                      est.predict(x))
    else:
        pred = est.predict(X)
        assert isinstance(pred, da.Array) and pred.shape == (x.shape[0],)
        assert_close(client.compute(pred).result(timeout=TIMEOUT), ref.predict(x),
                     kind="train")


def test_classifier_float32_and_the_stopping_rule(client) -> None:
    from nnkernels.models import MLPClassifier

    x, labels, X, L = _classes(dtype=np.float32)
    # A tolerance no step can meet: after the first step sets the best loss, the rule stops
    # both fits once n_iter_no_change + 1 more steps fail to beat it.
    hyper = dict(FULL_BATCH, solver="adam", hidden_layer_sizes=(8,), max_iter=50, tol=1e3,
                 n_iter_no_change=2)
    est = MLPClassifier(**hyper).fit(X, L, client=client)
    ref = MLPClassifier(**hyper).fit(x, labels)
    assert est.n_iter_ == ref.n_iter_ == 4 and est.dtype_ == np.float32
    for a, b in zip(est.coefs_ + est.intercepts_, ref.coefs_ + ref.intercepts_, strict=True):
        assert a.dtype == np.float32
        assert_close(a, b, kind="train", scale=1)
    proba = est.predict_proba(X)
    assert proba.dtype == np.float32
    assert_close(client.compute(proba).result(timeout=TIMEOUT), ref.predict_proba(x),
                 kind="train", scale=1)


def test_estimator_bad_input_raises_before_any_work(client) -> None:
    from sklearn.exceptions import NotFittedError

    from nnkernels.models import MLPClassifier, MLPRegressor

    calls: list = []
    X = _untouchable((1_000, 2), (100, 2), calls)
    y = _untouchable((1_000,), (100,), calls)
    full = dict(batch_size=None, max_iter=3)
    for est, args, exc, match in [
        (MLPClassifier(batch_size=100), (X, y), ValueError,
         r"full batch.*batch_size=100 means mini-batches of 100 of the 1000 records"),
        (MLPRegressor(batch_size=None, early_stopping=True), (X, y), ValueError,
         "early_stopping=True needs a held-out validation split"),
        (MLPClassifier(**full), (X, _untouchable((1_000,), (250,), calls)), ValueError,
         "X and y are chunked differently along the rows"),
        (MLPClassifier(**full), (X, _untouchable((1_000, 2), (100, 2), calls)), ValueError,
         r"y should be a 1d array, got an array of shape \(1000, 2\)"),
        (MLPClassifier(**full), (X[:, 0], y), ValueError, "X must be 2-D"),
        (MLPClassifier(**full), (X[X[:, 0] > 0], y), ValueError, "unknown chunk sizes"),
    ]:
        with pytest.raises(exc, match=match):
            est.fit(*args, client=client)
        assert not hasattr(est, "coefs_")
    with pytest.raises(TypeError, match="partial_fit takes in-memory arrays"):
        MLPClassifier().partial_fit(X, y, classes=[0, 1])
    with pytest.raises(NotFittedError):
        MLPClassifier().predict_proba(X)
    fitted = MLPClassifier(**full, random_state=0).fit(np.eye(4, 3), [0, 1, 1, 0])
    with pytest.raises(ValueError, match="X has 2 features, but MLPClassifier is expecting 3"):
        fitted.predict_proba(X)
    assert calls == []


def test_a_failed_classifier_fit_leaves_the_estimator_unchanged(client) -> None:
    from nnkernels.models import MLPClassifier

    x, labels, X, L = _classes(n=2_000, block=500)
    est = MLPClassifier(**FULL_BATCH, hidden_layer_sizes=(4,)).fit(x, labels)
    before = {k: v for k, v in vars(est).items() if k.endswith("_")}
    for y, match in [(da.full(2_000, 7, chunks=500), "needs at least 2 classes"),
                     (X[:, 0], "Unknown label type: continuous")]:
        with pytest.raises(ValueError, match=match):
            est.fit(X, y, client=client)
        assert all(vars(est)[k] is v for k, v in before.items())
