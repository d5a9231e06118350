"""Real data sets (optional extra ``datasets``: scikit-learn ships them, no download)."""

from __future__ import annotations

import numpy as np


def _sklearn_datasets():
    """scikit-learn's ``datasets`` module, or an ImportError saying how to install it."""
    try:
        from sklearn import datasets
    except ImportError as exc:
        raise ImportError(
            "the digits data set needs scikit-learn: pip install 'nnkernels[datasets]'"
        ) from exc
    return datasets


def load_digits_split(random_state: int = 0, test_size: float = 0.2
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The 8x8 handwritten digits (1,797 images) split into train and test, stratified by class.

    Returns ``(X_train, X_test, y_train, y_test)``: images float64 (N, 8, 8) scaled to [0, 1],
    labels int64 (N,) in 0..9. The split depends only on ``random_state`` (default 0: the fixed
    80/20 split of the demo and the tests).
    """
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must lie in (0, 1), got {test_size!r}")
    digits = _sklearn_datasets().load_digits()
    images = digits.images.astype(np.float64) / 16.0
    labels = digits.target.astype(np.int64)
    rng = np.random.default_rng(random_state)
    test = np.zeros(len(labels), dtype=bool)
    for k in np.unique(labels):
        members = np.flatnonzero(labels == k)
        take = int(round(test_size * len(members)))
        test[rng.choice(members, size=take, replace=False)] = True
    return images[~test], images[test], labels[~test], labels[test]


__all__ = ["load_digits_split"]
