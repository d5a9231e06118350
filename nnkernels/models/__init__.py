"""Estimators built only from the backend kernels, in scikit-learn's conventions.

>>> from nnkernels.data import make_cubic
>>> from nnkernels.models import MLP
>>> x, y, fx = make_cubic(random_state=0)
>>> model = MLP(hidden=(10,), random_state=0).fit(x, y)   # doctest: +SKIP
>>> model.predict(x).shape                                   # doctest: +SKIP
(700, 1)
"""

from .base import BaseEstimator, DivergenceError, NotFittedError
from .convnet import ConvNet
from .linear import LinearRegression
from .mlp import MLP

__all__ = ["BaseEstimator", "ConvNet", "DivergenceError", "LinearRegression", "MLP",
           "NotFittedError"]
