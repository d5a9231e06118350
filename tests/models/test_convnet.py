"""ConvNet: accuracy on the digits, the estimator contract, gradients, backends, errors; the
digits loader and ``nnkernels demo-conv``."""

from __future__ import annotations

import re

import numpy as np
import pytest

import nnkernels
from nnkernels.cli import main
from nnkernels.gradcheck import check_gradient
from nnkernels.models import ConvNet, DivergenceError, NotFittedError

BACKENDS = nnkernels.available_backends()


@pytest.fixture(scope="module")
def digits():
    pytest.importorskip("sklearn")
    from nnkernels.datasets import load_digits_split

    return load_digits_split()


def _toy(n=60, seed=0):
    """Two classes of 6x6 images: a bright vertical or horizontal bar, plus noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(0, 0.3, (n, 6, 6))
    for i in range(n):
        pos = rng.integers(1, 5)
        if y[i]:
            x[i, :, pos] += 2.0
        else:
            x[i, pos, :] += 2.0
    return x, np.where(y == 1, "vertical", "horizontal")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_default_convnet_reaches_98_5_percent_on_digits(digits, seed) -> None:
    x_train, x_test, y_train, y_test = digits
    model = ConvNet(random_state=seed).fit(x_train, y_train)
    acc = model.score(x_test, y_test)
    assert acc >= 0.985, acc
    assert model.loss_curve_[-1] < model.loss_curve_[0]
    assert model.n_iter_ == len(model.epoch_times_) == len(model.accuracy_curve_)


def test_default_convnet_on_another_stratified_split(digits) -> None:
    """The accuracy is not a property of one split: a stratified 75/25 split chosen here."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, stratify=y,
                                                        random_state=2)
    assert ConvNet(random_state=0).fit(x_train, y_train).score(x_test, y_test) >= 0.985


def test_default_convnet_on_the_hardest_of_ten_splits() -> None:
    """Split 5 of the ten 75/25 splits the defaults were chosen on scores lowest (98.7-98.9%
    for seeds 0-2; 98.2-98.7% before cross shifts, their averaging and 96 filters)."""
    pytest.importorskip("sklearn")
    from nnkernels.datasets import load_digits_split

    x_train, x_test, y_train, y_test = load_digits_split(random_state=5, test_size=0.25)
    assert ConvNet(random_state=0).fit(x_train, y_train).score(x_test, y_test) >= 0.985


def test_shifted_batches_are_translations_with_the_border_repeated() -> None:
    from nnkernels.models.convnet import _Shifter

    x = np.arange(2 * 3 * 4 * 5, dtype=np.float64).reshape(2, 3, 4, 5)
    rows = np.array([1, 0, 1])
    assert np.array_equal(_Shifter(x, 0, np.random.default_rng(0)).batch(rows), x[rows])
    shifter = _Shifter(x, 1, np.random.default_rng(0))
    seen = set()
    for _ in range(40):
        rng_state = shifter.rng.bit_generator.state
        out = shifter.batch(rows)
        shifter.rng.bit_generator.state = rng_state
        off = shifter.rng.integers(0, 3, size=(2, len(rows))) - 1
        assert out.shape == (3, 3, 4, 5) and out.flags.c_contiguous
        for b, r in enumerate(rows):
            dy, dx = off[:, b]
            seen.add((dy, dx))
            ii = np.clip(np.arange(4) + dy, 0, 3)
            jj = np.clip(np.arange(5) + dx, 0, 4)
            assert np.array_equal(out[b], x[r][:, ii][:, :, jj])
    assert len(seen) == 9  # every offset of at most one pixel occurs


def test_cross_shifts_move_one_axis_at_a_time() -> None:
    from nnkernels.models.convnet import _Shifter

    x = np.arange(40 * 16, dtype=np.float64).reshape(40, 1, 4, 4)
    shifter = _Shifter(x, 1, np.random.default_rng(0), cross=True)
    rows = np.arange(40)
    idx = {d: np.clip(np.arange(4) + d, 0, 3) for d in (-1, 0, 1)}
    views = {(dy, dx): x[:, :, idx[dy]][:, :, :, idx[dx]] for dy in idx for dx in idx}
    seen = set()
    for _ in range(10):
        out = shifter.batch(rows)
        for b in rows:
            match = [o for o, v in views.items() if np.array_equal(out[b], v[b])]
            assert len(match) == 1 and 0 in match[0]  # never diagonal
            seen.add(match[0])
    assert seen == {(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)}


def test_shifted_views_are_the_image_and_its_cross() -> None:
    from nnkernels.models.convnet import _shifted_views

    x = np.random.default_rng(0).normal(size=(3, 2, 5, 6))
    views = list(_shifted_views(x, 1))
    assert len(views) == 5 and views[0] is x
    for v, (dy, dx) in zip(views[1:], ((-1, 0), (1, 0), (0, -1), (0, 1)), strict=True):
        ii, jj = np.clip(np.arange(5) + dy, 0, 4), np.clip(np.arange(6) + dx, 0, 5)
        assert v.flags.c_contiguous and np.array_equal(v, x[:, :, ii][:, :, :, jj])
    assert len(list(_shifted_views(x, 2))) == 9
    assert len(list(_shifted_views(x, 0))) == 1
    assert len(list(_shifted_views(x[:, :, :1], 1))) == 1  # a 1 x W image has no room


@pytest.mark.parametrize("backend", BACKENDS)
def test_average_shifts_averages_the_logits_of_the_views(backend) -> None:
    from nnkernels.models.convnet import _shifted_views

    x, y = _toy()
    model = ConvNet(filters=(4,), max_iter=5, batch_size=16, backend=backend,
                    random_state=0).fit(x, y)
    averaged = model.decision_function(x)
    plain = model.set_params(average_shifts=False).decision_function
    per_view = [plain(v[:, 0]) for v in _shifted_views(x[:, None], 1)]
    np.testing.assert_allclose(averaged, np.mean(per_view, axis=0), rtol=1e-5, atol=1e-5)
    assert not np.allclose(averaged, per_view[0])
    np.testing.assert_array_equal(model.set_params(average_shifts=True).predict(x),
                                  model.classes_[(averaged > 0).astype(int)])


def test_convnet_validation_curve(digits) -> None:
    x_train, x_test, y_train, y_test = digits
    model = ConvNet(max_iter=8, early_stopping=True, random_state=0).fit(x_train, y_train)
    assert len(model.validation_scores_) == model.n_iter_ and max(model.validation_scores_) > 0.9
    sgd = ConvNet(solver="sgd", learning_rate_init=0.05, max_iter=8, random_state=0)
    assert sgd.fit(x_train, y_train).score(x_test, y_test) > 0.9
    assert model.validation_scores_ is not None and sgd.validation_scores_ is None


def test_digits_split_is_fixed_and_stratified(digits) -> None:
    from nnkernels.datasets import load_digits_split

    x_train, x_test, y_train, y_test = digits
    assert x_train.shape == (1438, 8, 8) and x_test.shape == (359, 8, 8)
    assert x_train.min() >= 0.0 and x_train.max() <= 1.0
    assert y_train.dtype == np.int64 and set(np.unique(y_test)) == set(range(10))
    again = load_digits_split()
    for a, b in zip(digits, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(load_digits_split(random_state=1)[3], y_test)
    counts = np.bincount(y_test)
    assert counts.min() >= 34 and counts.max() <= 38       # about 20 % of each class
    with pytest.raises(ValueError, match="test_size"):
        load_digits_split(test_size=1.5)


def test_digits_loader_says_how_to_install_sklearn(monkeypatch) -> None:
    import builtins

    from nnkernels import datasets

    real_import = builtins.__import__

    def no_sklearn(name, *args, **kwargs):
        if name == "sklearn" or name.startswith("sklearn."):
            raise ImportError("No module named 'sklearn'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_sklearn)
    with pytest.raises(ImportError, match=r"pip install 'nnkernels\[datasets\]'"):
        datasets.load_digits_split()


def test_estimator_contract() -> None:
    x, y = _toy()
    model = ConvNet(filters=(4,), max_iter=15, batch_size=16, random_state=1)
    assert model.get_params()["filters"] == (4,)
    assert "filters=(4,)" in repr(model)
    with pytest.raises(NotFittedError):
        model.predict(x)
    assert model.fit(x, y) is model
    assert list(model.classes_) == ["horizontal", "vertical"]
    pred = model.predict(x)
    assert pred.shape == (60,) and set(pred) <= set(model.classes_)
    proba = model.predict_proba(x)
    assert proba.shape == (60, 2) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(model.classes_[proba.argmax(axis=1)], pred)
    assert model.score(x, y) >= 0.95
    assert model.conv_weights_[0].shape == (4, 1, 3, 3) and model.coef_.shape == (36, 2)
    # The same seed gives the same model; flat rows and (N, 1, H, W) give the same predictions.
    twin = ConvNet(filters=(4,), max_iter=15, batch_size=16, random_state=1).fit(x, y)
    np.testing.assert_array_equal(twin.coef_, model.coef_)
    np.testing.assert_array_equal(model.predict(x.reshape(60, 36)), pred)
    np.testing.assert_array_equal(model.predict(x[:, None]), pred)
    assert model.decision_function(x).shape == (60,)  # two classes: scikit-learn's (N,)


def test_gradients_match_finite_differences() -> None:
    # The estimator's backward pass (all layers, through the kernels) against central differences.
    from nnkernels.models.base import standardise

    x, y = _toy(n=5, seed=3)
    model = ConvNet(filters=(2, 3), max_iter=1, batch_size=5, dtype="float64", random_state=0)
    model.fit(x, y)
    be = nnkernels.get_backend("numpy")
    images, _, _ = model._images(x, reset=False)
    xs = standardise(images, model.x_mean_, model.x_scale_, model.dtype_)
    codes = np.searchsorted(model.classes_, y)
    params = model._params()

    def loss() -> float:
        logits = model._forward(be, xs, params, model._pools, keep=False)[0]
        return be.softmax_cross_entropy(logits, codes)[0]

    logits, saved = model._forward(be, xs, params, model._pools, keep=True)
    grads = [np.zeros_like(p) for p in params]
    model._backward(be, be.softmax_cross_entropy(logits, codes)[1], saved, params, grads)
    for param, grad in zip(params, grads, strict=True):
        check_gradient(loss, param, grad, rtol=1e-4, atol=1e-8)


@pytest.mark.skipif(len(BACKENDS) < 2, reason="needs both backends")
def test_backends_train_the_same_model() -> None:
    x, y = _toy()
    fits = [ConvNet(filters=(3, 4), max_iter=3, batch_size=20, dtype="float64", random_state=2,
                    backend=name).fit(x, y) for name in BACKENDS]
    np.testing.assert_allclose(fits[0].loss_history_, fits[1].loss_history_, rtol=1e-8)
    np.testing.assert_allclose(fits[0].coef_, fits[1].coef_, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize(("params", "match"), [
    (dict(filters=(0,)), "filters must be a sequence"),
    (dict(filters="8"), "'filters' parameter of ConvNet"),
    (dict(kernel_size=2), "kernel_size must be odd"),
    (dict(pool_size=0), "'pool_size' parameter"),
    (dict(batch_size=0), "'batch_size' parameter"),
    (dict(momentum=1.0), "'momentum' parameter"),
    (dict(learning_rate_init=-1.0), "'learning_rate_init' parameter"),
    (dict(max_iter=0), "'max_iter' parameter"),
    (dict(dtype="int8"), "'dtype' parameter"),
    (dict(solver="rmsprop"), "'solver' parameter"),
    (dict(image_shape=(5, 5)), "does not hold 36 features"),
])
def test_bad_hyper_parameters(params, match) -> None:
    x, y = _toy(n=10)
    with pytest.raises(ValueError, match=match):
        ConvNet(**params).fit(x.reshape(10, 36) if "image_shape" in params else x, y)


def test_any_table_and_small_images_work() -> None:
    # Rows that are not square images are 1 x D images; pooling shrinks only what it can.
    x, y = _toy(n=30)
    net = ConvNet(filters=(2, 2, 2, 2), max_iter=2, random_state=0).fit(x, y)
    assert net.predict(x).shape == (30,)
    flat = ConvNet(filters=(3,), max_iter=2, random_state=0).fit(x.reshape(30, 36)[:, :35], y)
    assert flat.image_shape_ == (1, 1, 35)


def test_bad_data_and_divergence() -> None:
    x, y = _toy(n=10)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        ConvNet().fit(x, y[:5])
    with pytest.raises(ValueError, match="NaN"):
        ConvNet().fit(np.where(x > 1, np.nan, x), y)
    with pytest.raises(ValueError, match=r"X must be \(N, C, H, W\)"):
        ConvNet().fit(x[None, None], y)
    with pytest.raises(ValueError, match="0 sample"):
        ConvNet().fit(x[:0], y[:0])
    with pytest.raises(ValueError, match="at least 2 classes"):
        ConvNet().fit(x, np.zeros(10))
    model = ConvNet(filters=(2,), max_iter=1).fit(x, y)
    with pytest.raises(ValueError, match="X has 25 features, but ConvNet is expecting 36"):
        model.predict(np.zeros((2, 5, 5)))
    with pytest.raises(ValueError, match=r"fitted on \(1, 6, 6\)"):
        model.predict(np.zeros((2, 1, 4, 9)))
    with pytest.raises(DivergenceError, match="diverged"):
        ConvNet(filters=(2,), solver="sgd", learning_rate_init=1e30, max_iter=5,
                random_state=0).fit(x * 100, y)


@pytest.mark.skipif(len(BACKENDS) < 2, reason="needs both backends")
def test_demo_conv_end_to_end(tmp_path, capsys) -> None:
    pytest.importorskip("sklearn")
    out = tmp_path / "figs"
    assert main(["demo-conv", "--epochs", "2", "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    for name in ("numba", "numpy"):
        assert re.search(rf"\[{name}\] test accuracy 0\.\d{{4}}", text)
        assert re.search(rf"\[{name}\] time per epoch: [0-9.]+ ms", text)
    assert re.search(r"speed-up of numba over numpy per epoch: [0-9.]+x", text)
    for png in ("demo_conv_curves.png", "demo_conv_misclassified.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(("argv", "match"), [
    (["--epochs", "0"], "--epochs must be >= 1"),
    (["--seed", "-1"], "--seed must be >= 0"),
    (["--backend", "cuda"], "unknown or unavailable backend 'cuda'"),
])
def test_demo_conv_bad_arguments(argv, match, capsys) -> None:
    assert main(["demo-conv", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and re.search(match, err)
