"""Toy data sets: the seed's noisy cubic."""

from __future__ import annotations

import math
import numbers

import numpy as np


def _check_real(name: str, value: object) -> float:
    """Return ``value`` as a finite float, else raise ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    return value


def make_cubic(n: int = 700, noise: float = 10.0, low: float = 0.0, high: float = 5.0,
               random_state: int | np.random.Generator | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The seed's data: x (n, 1) evenly spaced on [low, high], fx = x**3 + 4, y = fx + N(0, noise).

    Returns ``(x, y, fx)``, each float64 of shape (n, 1). ``random_state`` (an int, a
    ``numpy.random.Generator`` or None) seeds the noise, so a given seed gives the same data.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
        raise ValueError(f"n must be an integer >= 0, got {n!r}")
    noise = _check_real("noise", noise)
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise!r}")
    low, high = _check_real("low", low), _check_real("high", high)
    if not low <= high:
        raise ValueError(f"low must be <= high, got low={low!r}, high={high!r}")
    rng = np.random.default_rng(random_state)
    x = np.linspace(low, high, num=int(n)).reshape(-1, 1)
    fx = x**3 + 4.0
    y = fx + rng.normal(0.0, noise, size=fx.shape)
    return x, y, fx


__all__ = ["make_cubic"]
