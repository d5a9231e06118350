"""nnkernels: CPU compute kernels for training small neural networks.

One interface, two backends: a readable numpy reference and a fast numba-jitted version.

>>> import nnkernels
>>> be = nnkernels.get_backend()          # numba where available, else numpy
>>> y = be.linear_relu_forward(x, w, b)   # doctest: +SKIP
"""

from .kernels import Backend, available_backends, get_backend
from .runtime import get_num_threads, runtime_info, set_num_threads, warmup

__version__ = "0.1.0"

__all__ = [
    "Backend",
    "available_backends",
    "get_backend",
    "get_num_threads",
    "runtime_info",
    "set_num_threads",
    "warmup",
    "__version__",
]
