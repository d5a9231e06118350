"""Estimators built only from the backend kernels: scikit-learn estimators.

>>> from sklearn.pipeline import make_pipeline
>>> from sklearn.preprocessing import StandardScaler
>>> from nnkernels.models import MLPRegressor
>>> from nnkernels.data import make_cubic
>>> x, y, fx = make_cubic(random_state=0)
>>> model = make_pipeline(StandardScaler(), MLPRegressor(random_state=0)).fit(x, y.ravel())
... # doctest: +SKIP
"""

from .base import DivergenceError, NotFittedError
from .convnet import ConvNet
from .linear import LinearRegression
from .mlp import MLP, MLPClassifier, MLPRegressor

__all__ = ["ConvNet", "DivergenceError", "LinearRegression", "MLP", "MLPClassifier",
           "MLPRegressor", "NotFittedError"]
