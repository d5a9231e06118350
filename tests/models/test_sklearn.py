"""The estimators as scikit-learn estimators: scikit-learn's own estimator checks, atomic fits,
model selection, pipelines, pickling; the MLPClassifier and partial_fit / early stopping."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.datasets import make_classification, make_regression
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import nnkernels
from nnkernels.kernels import get_backend
from nnkernels.models import (
    ConvNet,
    DivergenceError,
    LinearRegression,
    MLPClassifier,
    MLPRegressor,
    NotFittedError,
)

BACKENDS = nnkernels.available_backends()

# Small but sufficient settings: scikit-learn's checks fit each estimator many times.
CHECKED = [
    MLPRegressor(hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=50),
    MLPClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=50),
    LinearRegression(max_iter=100),
    ConvNet(filters=(8,), learning_rate_init=0.01, max_iter=15),
]


def expected_failed_checks(estimator) -> dict[str, str]:
    """Checks an estimator is known to fail, with the reason (none at present)."""
    return {}


@parametrize_with_checks(CHECKED, expected_failed_checks=expected_failed_checks)
def test_sklearn_estimator_checks(estimator, check) -> None:
    check(estimator)


def test_kinds_and_tags() -> None:
    assert is_regressor(MLPRegressor()) and is_regressor(LinearRegression())
    assert is_classifier(MLPClassifier()) and is_classifier(ConvNet())
    assert MLPRegressor().__sklearn_tags__().target_tags.multi_output
    assert ConvNet().__sklearn_tags__().input_tags.three_d_array


# -- atomic fits --------------------------------------------------------------------------------

def _regression(n=120, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    return X, X @ rng.standard_normal(d) + 0.1 * rng.standard_normal(n)


def _state(est) -> dict:
    """Every attribute of an estimator, deep-copied (to compare before and after)."""
    return copy.deepcopy(est.__dict__)


def _assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        va, vb = a[k], b[k]
        if isinstance(va, list) and va and isinstance(va[0], np.ndarray):
            assert all(np.array_equal(x, y) for x, y in zip(va, vb, strict=True)), k
        elif isinstance(va, np.ndarray):
            assert np.array_equal(va, vb), k
        elif k != "_solver":
            assert va == vb or (va is None and vb is None), k


@pytest.mark.parametrize("make", [
    lambda: MLPRegressor(hidden_layer_sizes=(8,), solver="sgd", momentum=0.0, batch_size=None,
                         learning_rate_init=0.05, max_iter=50, random_state=0),
    lambda: MLPRegressor(hidden_layer_sizes=(8, 4), solver="sgd", learning_rate_init=0.01,
                         max_iter=20, random_state=0),
    lambda: LinearRegression(max_iter=50, random_state=0),
])
def test_failed_refit_leaves_a_fitted_model_unchanged(make) -> None:
    X, y = _regression()
    est = make().fit(X, y)
    before, pred = _state(est), est.predict(X)
    lr = "lr" if isinstance(est, LinearRegression) else "learning_rate_init"
    with pytest.raises(DivergenceError):
        est.set_params(**{lr: 1e12}).fit(X * 1e3, y * 1e3)
    est.set_params(**{lr: getattr(make(), lr)})
    _assert_same_state(before, _state(est))
    np.testing.assert_array_equal(est.predict(X), pred)
    # A refit with another feature count that fails (NaN in y) changes nothing either.
    with pytest.raises(ValueError, match="NaN"):
        est.fit(np.ones((10, 5)), np.full(10, np.nan))
    assert est.n_features_in_ == 3
    np.testing.assert_array_equal(est.predict(X), pred)
    # A successful refit with another feature count takes over.
    est.fit(X[:, :2], y)
    assert est.n_features_in_ == 2 and est.predict(X[:, :2]).shape == (120,)


def test_failed_first_fit_leaves_the_model_unfitted() -> None:
    X, y = _regression()
    est = MLPRegressor(learning_rate_init=1e12, solver="sgd", max_iter=20, random_state=0)
    with pytest.raises(DivergenceError):
        est.fit(X * 1e3, y * 1e3)
    assert not [k for k in vars(est) if k.endswith("_")]
    with pytest.raises(NotFittedError):
        est.predict(X)


def test_failed_convnet_fit_leaves_it_unchanged() -> None:
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 6, 6)), np.arange(40) % 2
    net = ConvNet(filters=(2,), max_iter=2, random_state=0).fit(X, y)
    pred, proba = net.predict(X), net.predict_proba(X)
    with pytest.raises(DivergenceError):
        net.set_params(learning_rate_init=1e30, solver="sgd").fit(X * 1e3, y)
    np.testing.assert_array_equal(net.predict(X), pred)
    np.testing.assert_array_equal(net.predict_proba(X), proba)
    assert np.isfinite(proba).all()
    fresh = ConvNet(filters=(2,), learning_rate_init=1e30, solver="sgd", max_iter=2)
    with pytest.raises(DivergenceError):
        fresh.fit(X * 1e3, y)
    with pytest.raises(NotFittedError):
        fresh.predict(X)


# -- standardisation ----------------------------------------------------------------------------

@pytest.mark.parametrize("est", [MLPRegressor(learning_rate_init=0.01, max_iter=300,
                                              random_state=0),
                                 LinearRegression(max_iter=200)])
def test_huge_float32_inputs_standardise_without_overflow(est) -> None:
    X, y = _regression()
    X32, y32 = (X * 1e20).astype(np.float32), (y * 1e20).astype(np.float32)
    est.fit(X32, y32)
    from sklearn.metrics import r2_score

    pred = est.predict(X32)
    assert pred.dtype == np.float32 and np.isfinite(pred).all()
    pred64 = pred.astype(np.float64)  # squares of 1e20 overflow float32: judge in float64
    assert np.std(pred64) > 0 and r2_score(y32.astype(np.float64), pred64) > 0.5


def test_unrepresentable_data_is_a_clear_error() -> None:
    X, y = _regression()
    est = MLPRegressor(max_iter=5).fit((X * 1e-3).astype(np.float32), y.astype(np.float32))
    with pytest.raises(ValueError, match="cannot be represented in float32"):
        est.predict(np.full((2, 3), 1e37, np.float32))  # 1e40 standard deviations out
    with pytest.raises(ValueError, match="0 feature"):
        MLPRegressor().fit(np.zeros((5, 0)), np.zeros(5))
    with pytest.raises(ValueError, match="too large to be represented in float32"):
        LinearRegression().fit(X.astype(np.float32), y * 1e300)  # a float64 y


# -- backends as parameters ---------------------------------------------------------------------

@pytest.mark.parametrize("name", BACKENDS)
def test_backend_objects_survive_pickle_copy_and_clone(name) -> None:
    be = get_backend(name)
    assert pickle.loads(pickle.dumps(be)) is be and copy.deepcopy(be) is be
    X, y = _regression()
    est = MLPRegressor(max_iter=5, backend=be, random_state=0).fit(X, y)
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.predict(X), est.predict(X))
    assert clone(est).backend is be and copy.deepcopy(est).backend is be


# -- model selection and pipelines --------------------------------------------------------------

def test_cross_val_score_grid_search_and_pipeline() -> None:
    X, y = make_regression(300, 5, noise=5.0, random_state=0)
    y = y * 100 + 1e4  # any units: the estimator standardises
    scores = cross_val_score(MLPRegressor(hidden_layer_sizes=(16,), learning_rate_init=0.01,
                                          max_iter=100, random_state=0), X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.9
    grid = GridSearchCV(MLPRegressor(max_iter=60, random_state=0),
                        {"hidden_layer_sizes": [(4,), (16, 8)],
                         "learning_rate_init": [1e-4, 1e-2]}, cv=3).fit(X, y)
    assert grid.best_params_["learning_rate_init"] == 1e-2
    assert grid.best_estimator_.n_features_in_ == 5
    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(32,),
                                                         max_iter=100, random_state=0))
    Xc, yc = make_classification(300, 6, n_informative=4, n_classes=3, random_state=0)
    Xtr, Xte, ytr, yte = train_test_split(Xc, yc, random_state=0, stratify=yc)
    assert pipe.fit(Xtr, ytr).score(Xte, yte) > 0.8


# -- the classifier, partial_fit, early stopping ------------------------------------------------

@pytest.fixture(scope="module")
def digits_flat():
    from nnkernels.datasets import load_digits_split

    x_train, x_test, y_train, y_test = load_digits_split()
    return x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1), y_train, y_test


def test_mlp_classifier_on_digits(digits_flat) -> None:
    x_train, x_test, y_train, y_test = digits_flat
    clf = MLPClassifier(random_state=0).fit(x_train, y_train)
    assert clf.score(x_test, y_test) >= 0.97
    proba = clf.predict_proba(x_test)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(x_test))
    assert clf.loss_curve_[-1] < clf.loss_curve_[0] and clf.n_iter_ == len(clf.loss_curve_)


def test_string_labels_and_two_classes() -> None:
    X, y = make_classification(200, 4, random_state=1)
    labels = np.where(y == 1, "yes", "no")
    clf = MLPClassifier(max_iter=50, random_state=0).fit(X, labels)
    assert list(clf.classes_) == ["no", "yes"] and clf.predict_proba(X).shape == (200, 2)
    assert clf.score(X, labels) > 0.85
    with pytest.raises(ValueError, match="at least 2 classes"):
        MLPClassifier().fit(X, np.zeros(200))
    with pytest.raises(ValueError, match="Unknown label type"):
        MLPClassifier().fit(X, np.linspace(0, 1, 200))


def test_partial_fit_continues_training() -> None:
    X, y = _regression(400)
    reg = MLPRegressor(hidden_layer_sizes=(16,), learning_rate_init=0.01, random_state=0)
    for _ in range(30):
        reg.partial_fit(X, y)
    assert reg.n_iter_ == 30 and len(reg.loss_curve_) == 30
    assert reg.loss_curve_[-1] < 0.5 * reg.loss_curve_[0] and reg.score(X, y) > 0.9
    with pytest.raises(ValueError, match="X has 2 features"):
        reg.partial_fit(X[:, :2], y)
    assert reg.n_iter_ == 30
    Xc, yc = make_classification(300, 5, random_state=0)
    clf = MLPClassifier(random_state=0, learning_rate_init=0.01)
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(Xc, yc)
    clf.partial_fit(Xc[:100], yc[:100], classes=[0, 1])
    for _ in range(20):
        clf.partial_fit(Xc, yc)
    assert clf.score(Xc, yc) > 0.85


@pytest.mark.parametrize("cls", [MLPRegressor, MLPClassifier])
def test_early_stopping_records_a_validation_curve(cls) -> None:
    if cls is MLPRegressor:
        X, y = _regression(600)
    else:
        X, y = make_classification(600, 5, random_state=0)
    est = cls(hidden_layer_sizes=(32,), learning_rate_init=0.01, early_stopping=True,
              n_iter_no_change=3, max_iter=500, random_state=0).fit(X, y)
    assert len(est.validation_scores_) == est.n_iter_ < 500
    assert est.best_validation_score_ == max(est.validation_scores_) > 0.8
    assert cls(max_iter=3).fit(X, y).validation_scores_ is None


def test_tol_stops_training_without_early_stopping() -> None:
    X, y = _regression()
    est = MLPRegressor(hidden_layer_sizes=(8,), tol=10.0, n_iter_no_change=2,
                       max_iter=100).fit(X, y)
    # scikit-learn's rule: the first epoch sets the best loss; stop when more than
    # n_iter_no_change epochs in a row fail to beat it by tol.
    assert est.n_iter_ == 4


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_deep_classifier_and_solvers_learn(backend, solver) -> None:
    X, y = make_classification(400, 6, n_informative=4, n_classes=3, random_state=0)
    clf = MLPClassifier(hidden_layer_sizes=(16, 16, 8), solver=solver, learning_rate_init=0.01,
                        max_iter=80, backend=backend, random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.8 and clf.coefs_[0].shape == (6, 16) and len(clf.coefs_) == 4
