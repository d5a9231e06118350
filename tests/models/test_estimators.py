"""LinearRegression and MLPRegressor: the estimator contract, convergence on the seed's data,
backends."""

from __future__ import annotations

import numpy as np
import pytest

import nnkernels
from nnkernels.data import make_cubic
from nnkernels.models import MLP, DivergenceError, LinearRegression, MLPRegressor, NotFittedError
from nnkernels.testing import assert_close

BACKENDS = nnkernels.available_backends()
# The seed experiment's network: full-batch gradient descent, the fused mlp_train kernel.
SEED = dict(hidden_layer_sizes=(10,), solver="sgd", learning_rate_init=0.1, momentum=0.0,
            batch_size=None, max_iter=5000, tol=0.0)


def seed_mlp(**kwargs) -> MLP:
    """MLP with the seed experiment's settings, overridden by kwargs."""
    return MLP(**{**SEED, **kwargs})


@pytest.fixture(scope="module")
def cubic():
    return make_cubic(random_state=0)


def _rmse(a, b) -> float:
    return float(np.sqrt(np.mean((np.asarray(a) - b) ** 2)))


# -- data ---------------------------------------------------------------------------------------

def test_make_cubic_reproduces_the_seed_data() -> None:
    x, y, fx = make_cubic(random_state=3)
    assert x.shape == y.shape == fx.shape == (700, 1)
    np.testing.assert_array_equal(x[:, 0], np.linspace(0.0, 5.0, 700))
    np.testing.assert_allclose(fx, x**3 + 4)
    noise = y - fx
    assert 9.0 < noise.std() < 11.0 and abs(noise.mean()) < 1.5
    x2, y2, _ = make_cubic(random_state=3)
    assert np.array_equal(y, y2)
    assert not np.array_equal(y, make_cubic(random_state=4)[1])
    x3, y3, f3 = make_cubic(n=5, noise=0.0, low=-1.0, high=1.0)
    np.testing.assert_allclose(y3, f3)
    assert make_cubic(n=0)[0].shape == (0, 1)


@pytest.mark.parametrize("kwargs,match", [
    (dict(n=-1), "n must be"), (dict(n=2.5), "n must be"), (dict(noise=-1.0), "noise"),
    (dict(noise=float("nan")), "noise"), (dict(low=3.0, high=1.0), "low must be <= high"),
    (dict(high="5"), "high"),
])
def test_make_cubic_rejects_bad_arguments(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        make_cubic(**kwargs)


# -- convergence at default settings (the bound) ---------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_defaults_fit_the_seed_experiment(cubic, backend) -> None:
    x, y, fx = cubic
    mlp = seed_mlp(backend=backend).fit(x, y)
    lin = LinearRegression(backend=backend).fit(x, y)
    assert mlp.n_iter_ == 5000
    assert _rmse(mlp.predict(x), fx) <= 3.0
    assert _rmse(lin.predict(x), fx) > 12.0
    assert mlp.loss_history_[-1] < lin.loss_history_[-1]


def test_backends_agree(cubic) -> None:
    if len(BACKENDS) < 2:
        pytest.skip("one backend only")
    x, y, fx = cubic
    fits = [seed_mlp(max_iter=300, backend=b, random_state=1).fit(x, y) for b in BACKENDS]
    np.testing.assert_allclose(fits[0].loss_history_, fits[1].loss_history_, rtol=1e-9)
    np.testing.assert_allclose(fits[0].predict(x), fits[1].predict(x), rtol=1e-7, atol=1e-8)
    lins = [LinearRegression(max_iter=50, backend=b, random_state=1).fit(x, y) for b in BACKENDS]
    np.testing.assert_allclose(lins[0].coef_, lins[1].coef_, rtol=1e-10)
    for solver in ("sgd", "adam"):
        mb = [MLP(hidden_layer_sizes=(6, 4), solver=solver, max_iter=3, batch_size=64,
                  backend=b, random_state=1).fit(x, y) for b in BACKENDS]
        np.testing.assert_allclose(mb[0].loss_curve_, mb[1].loss_curve_, rtol=1e-9)
        np.testing.assert_allclose(mb[0].predict(x), mb[1].predict(x), rtol=1e-7, atol=1e-8)


# -- estimator contract -------------------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda b: LinearRegression(max_iter=20, backend=b),
    lambda b: seed_mlp(max_iter=20, backend=b),
    lambda b: MLP(hidden_layer_sizes=(5, 3), max_iter=5, backend=b),
    lambda b: MLP(hidden_layer_sizes=4, solver="sgd", max_iter=3, batch_size=7, backend=b),
])
@pytest.mark.parametrize("backend", BACKENDS)
def test_fit_predict_score_shapes(make, backend) -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    Y = np.c_[X[:, 0] - X[:, 1], X[:, 2] ** 2]
    est = make(backend)
    assert est.fit(X, Y) is est
    assert est.predict(X).shape == (40, 2)
    with pytest.raises(ValueError, match="0 sample"):  # scikit-learn's rule
        est.predict(X[:0])
    assert isinstance(est.score(X, Y), float)
    assert len(est.loss_curve_) == est.n_iter_ <= est.max_iter
    assert est.n_features_in_ == 3 and est.backend_ == backend
    est.fit(X, Y[:, 0])  # 1-D y gives 1-D predictions
    assert est.predict(X).shape == (40,)
    est.fit(X[:, :1], Y[:, 0])
    assert est.predict(X[:5, :1]).shape == (5,)
    with pytest.raises(ValueError, match="X has 3 features, but .* is expecting 1 features"):
        est.predict(X)


def test_float32_input_stays_float32() -> None:
    x, y, fx = make_cubic(n=100, random_state=0)
    for solver in ("sgd", "adam"):
        m = MLP(solver=solver, max_iter=50, random_state=0).fit(x.astype(np.float32),
                                                               y.astype(np.float32))
        assert m.coefs_[0].dtype == np.float32 and m.predict(x).dtype == np.float32
    m = seed_mlp(max_iter=50, random_state=0).fit(x.astype(np.float32), y.astype(np.float32))
    assert m.coefs_[0].dtype == np.float32 and m.predict(x).dtype == np.float32
    m = LinearRegression(max_iter=50).fit(x.astype(np.float32), y.astype(np.float32))
    assert m.predict(x).dtype == np.float32


def test_score_is_r2(cubic) -> None:
    x, y, fx = cubic
    m = LinearRegression().fit(x, y)
    pred = m.predict(x)
    r2 = 1 - np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2)
    assert m.score(x, y) == pytest.approx(r2)
    # A model fit on noise-free data scores close to 1.
    assert seed_mlp(random_state=0).fit(x, fx).score(x, fx) > 0.999


@pytest.mark.parametrize("cls", [LinearRegression, MLP])
def test_random_state_makes_fits_repeatable(cls, cubic) -> None:
    x, y, _ = cubic
    a = cls(max_iter=100, random_state=5).fit(x, y)
    b = cls(max_iter=100, random_state=5).fit(x, y)
    c = cls(max_iter=100, random_state=6).fit(x, y)
    assert a.loss_history_.tobytes() == b.loss_history_.tobytes()
    assert a.predict(x).tobytes() == b.predict(x).tobytes()
    assert a.loss_history_.tobytes() != c.loss_history_.tobytes()


def test_minibatch_shuffling_is_repeatable_and_learns(cubic) -> None:
    x, y, fx = cubic
    kw = dict(hidden_layer_sizes=(16,), solver="sgd", learning_rate_init=0.05, momentum=0.0,
              max_iter=40, batch_size=32, tol=0.0, random_state=2)
    a = MLP(**kw).fit(x, y)
    b = MLP(**kw).fit(x, y)
    assert a.loss_history_.tobytes() == b.loss_history_.tobytes()
    assert a.loss_history_[-1] < 0.5 * a.loss_history_[0]
    assert _rmse(a.predict(x), fx) < 8.0


def test_deep_network_learns(cubic) -> None:
    x, y, fx = cubic
    m = seed_mlp(hidden_layer_sizes=(16, 16), max_iter=1500, random_state=0).fit(x, y)
    assert _rmse(m.predict(x), fx) < 4.0


def test_params_and_repr() -> None:
    m = MLP(hidden_layer_sizes=(4,), learning_rate_init=0.01)
    params = m.get_params()
    assert params["hidden_layer_sizes"] == (4,) and params["solver"] == "adam"
    assert params["learning_rate_init"] == 0.01 and params["batch_size"] == "auto"
    assert repr(m) == "MLPRegressor(hidden_layer_sizes=(4,), learning_rate_init=0.01)"
    assert m.set_params(max_iter=7) is m and m.max_iter == 7
    with pytest.raises(ValueError, match="Invalid parameter 'hiden'"):
        m.set_params(hiden=3)
    assert repr(LinearRegression()) == "LinearRegression()"
    assert MLP is MLPRegressor


@pytest.mark.parametrize("cls", [LinearRegression, MLP])
def test_divergence_raises_a_clear_error(cls, cubic) -> None:
    x, y, _ = cubic
    m = (LinearRegression(lr=1e3, max_iter=500, random_state=0) if cls is LinearRegression
         else seed_mlp(learning_rate_init=1e3, max_iter=500, random_state=0))
    with pytest.raises(DivergenceError, match=r"diverged.*iteration \d+.*lower the learning rate"):
        m.fit(x, y)
    assert not hasattr(m, "loss_curve_") and not hasattr(m, "n_features_in_")


@pytest.mark.parametrize("path", ["minibatch kernel", "composed"])
def test_divergence_in_epoch_paths(path, cubic, monkeypatch) -> None:
    from nnkernels.models.mlp import _BaseMLP

    if path == "composed":
        monkeypatch.setattr(_BaseMLP, "_minibatch_ok", lambda self, solver: False)
    x, y, _ = cubic
    with pytest.raises(DivergenceError, match="iteration"):
        seed_mlp(hidden_layer_sizes=(8, 8), learning_rate_init=1e3, max_iter=200,
                 n_iter_no_change=200, random_state=0).fit(x, y)


def test_not_fitted() -> None:
    import sklearn.exceptions

    assert NotFittedError is sklearn.exceptions.NotFittedError
    with pytest.raises(NotFittedError, match="not fitted"):
        MLP().predict([[1.0]])


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(learning_rate_init=0), ValueError, "learning_rate_init"),
    (dict(max_iter=0), ValueError, "max_iter"), (dict(hidden_layer_sizes=(3, 0)), ValueError,
                                                 "hidden_layer_sizes"),
    (dict(hidden_layer_sizes="10"), ValueError, "hidden_layer_sizes"),
    (dict(batch_size=0), ValueError, "batch_size"), (dict(solver="lbfgs"), ValueError, "solver"),
    (dict(momentum=1.0), ValueError, "momentum"),
    (dict(backend="cuda"), ValueError, "unknown or unavailable backend"),
    (dict(random_state="x"), ValueError, "random_state"),
])
def test_bad_hyper_parameters(kwargs, exc, match) -> None:
    with pytest.raises(exc, match=match):
        MLP(**{"max_iter": 2, **kwargs}).fit([[0.0], [1.0]], [0.0, 1.0])


@pytest.mark.parametrize("X,y,exc,match", [
    ([[0.0], [1.0]], [0.0], ValueError, "inconsistent numbers of samples"),
    (np.zeros((0, 1)), np.zeros(0), ValueError, "0 sample"),
    (np.zeros((3, 0)), np.zeros(3), ValueError, "0 feature"),
    ([[0.0], [np.nan]], [0.0, 1.0], ValueError, "NaN"),
    ([[0.0], [1.0]], [0.0, np.inf], ValueError, "infinity"),
    ([["a"], ["b"]], [0.0, 1.0], ValueError, "could not convert string to float"),
    (np.zeros((2, 1, 1)), [0.0, 1.0], ValueError, "Found array with dim 3"),
    (np.zeros(2), [0.0, 1.0], ValueError, "Expected 2D array, got 1D array"),
])
def test_bad_data(X, y, exc, match) -> None:
    for est in (MLP(max_iter=2), LinearRegression(max_iter=2)):
        with pytest.raises(exc, match=match):
            est.fit(X, y)


def test_fit_does_not_modify_its_inputs(cubic) -> None:
    x, y, _ = cubic
    x0, y0 = x.copy(), y.copy()
    MLP(max_iter=10).fit(x, y)
    seed_mlp(max_iter=10).fit(x, y)
    LinearRegression(max_iter=10).fit(x, y)
    assert np.array_equal(x, x0) and np.array_equal(y, y0)


def test_verbose_shows_progress(capsys) -> None:
    x, y, _ = make_cubic(n=50, random_state=0)
    seed_mlp(max_iter=100, verbose=True).fit(x, y)
    assert "100/100" in capsys.readouterr().err
    seed_mlp(max_iter=100).fit(x, y)
    assert capsys.readouterr().err == ""


# -- mini-batch SGD through the fused mlp_train_minibatch kernel ----------------------------------

def _regression_data(n: int, d: int, outputs: int):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, d))
    w = rng.standard_normal((d, outputs))
    y = np.tanh(x @ w) + 0.3 * (x[:, :1] ** 2) + 0.05 * rng.standard_normal((n, outputs))
    return x, (y[:, 0] if outputs == 1 else y)


def _count_kernel_calls(monkeypatch) -> list[int]:
    calls = [0]
    real = nnkernels.Backend.mlp_train_minibatch

    def counted(self, *args, **kwargs):
        calls[0] += 1
        return real(self, *args, **kwargs)

    monkeypatch.setattr(nnkernels.Backend, "mlp_train_minibatch", counted)
    return calls


# (D, outputs, estimator settings): one hidden layer of each chunk kernel (D = O = 1; narrow
# D; wide D, which runs BLAS blocks), ragged last batches, momentum, deeper nets, full batches
# with momentum, no shuffling, early stopping on a validation split, two outputs.
KERNEL_CASES = [
    (1, 1, dict(hidden_layer_sizes=(24,), batch_size=32, momentum=0.0)),
    (3, 1, dict(hidden_layer_sizes=(12,), batch_size=50, momentum=0.9)),
    (10, 1, dict(hidden_layer_sizes=(40,), batch_size=64, momentum=0.0)),
    (10, 2, dict(hidden_layer_sizes=(40,), batch_size=33, momentum=0.5)),
    (4, 1, dict(hidden_layer_sizes=(8, 6), batch_size=16, momentum=0.9)),
    (4, 1, dict(hidden_layer_sizes=(8,), batch_size=None, momentum=0.9)),
    (4, 1, dict(hidden_layer_sizes=(8, 8), batch_size=None, momentum=0.0)),
    (5, 1, dict(hidden_layer_sizes=(16,), batch_size=20, momentum=0.9, shuffle=False)),
    (5, 1, dict(hidden_layer_sizes=(16,), batch_size=20, momentum=0.9, early_stopping=True,
                n_iter_no_change=3, tol=1e-3)),
]


@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize("case", range(len(KERNEL_CASES)))
def test_sgd_fit_through_minibatch_kernel_equals_composed_epochs(case, name, dtype,
                                                                 monkeypatch) -> None:
    from nnkernels.models.mlp import _BaseMLP

    d, outputs, kw = KERNEL_CASES[case]
    x, y = _regression_data(230, d, outputs)
    x = x.astype(dtype)
    settings = dict(solver="sgd", learning_rate_init=0.02, max_iter=12, tol=0.0, backend=name,
                    random_state=3)
    settings.update(kw)
    calls = _count_kernel_calls(monkeypatch)
    fast = MLP(**settings).fit(x, y)
    # One kernel call per epoch (full batch, one hidden layer, no momentum is mlp_train's).
    assert calls[0] == fast.n_iter_ > 0
    monkeypatch.setattr(_BaseMLP, "_minibatch_ok", lambda self, solver: False)
    slow = MLP(**settings).fit(x, y)
    assert calls[0] == fast.n_iter_  # the composed path never calls it
    assert fast.n_iter_ == slow.n_iter_ and fast.t_ == slow.t_
    assert_close(fast.loss_curve_, slow.loss_curve_, kind="train", scale=10, dtype=dtype)
    for a, b in zip(fast.coefs_ + fast.intercepts_, slow.coefs_ + slow.intercepts_, strict=True):
        assert a.dtype == b.dtype == dtype
        assert_close(a, b, kind="train", scale=10)
    if settings.get("early_stopping"):
        assert_close(fast.validation_scores_, slow.validation_scores_, kind="train", scale=10,
                     dtype=dtype)
    assert_close(fast.predict(x), slow.predict(x), kind="train", scale=10)


def test_partial_fit_through_minibatch_kernel_continues_the_velocity(monkeypatch) -> None:
    from nnkernels.models.mlp import _BaseMLP

    x, y = _regression_data(150, 3, 1)
    settings = dict(hidden_layer_sizes=(10,), solver="sgd", learning_rate_init=0.02,
                    momentum=0.9, batch_size=16, random_state=0, backend="numba")
    calls = _count_kernel_calls(monkeypatch)
    fast = MLP(**settings)
    for _ in range(4):
        fast.partial_fit(x, y)
    assert calls[0] == 4
    monkeypatch.setattr(_BaseMLP, "_minibatch_ok", lambda self, solver: False)
    slow = MLP(**settings)
    for _ in range(4):
        slow.partial_fit(x, y)
    np.testing.assert_allclose(fast.loss_curve_, slow.loss_curve_, rtol=1e-9)
    for a, b in zip(fast.coefs_ + fast.intercepts_, slow.coefs_ + slow.intercepts_, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("settings", [dict(solver="adam"), dict(solver="sgd", classifier=True)])
def test_what_the_minibatch_kernel_cannot_express_stays_composed(settings, monkeypatch) -> None:
    from nnkernels.models import MLPClassifier

    x, y = _regression_data(120, 3, 1)
    settings = dict(settings)
    cls = MLPClassifier if settings.pop("classifier", False) else MLP
    target = (y > np.median(y)).astype(int) if cls is MLPClassifier else y
    calls = _count_kernel_calls(monkeypatch)
    cls(hidden_layer_sizes=(6,), batch_size=16, max_iter=3, random_state=0, **settings).fit(
        x, target)
    assert calls[0] == 0
