"""Backend selection, runtime control, the protocol, and the architecture's import directions."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nnkernels
from nnkernels.kernels import KernelBackend, get_backend
from nnkernels.kernels.api import Backend

PACKAGE = Path(nnkernels.__file__).parent


def test_available_backends() -> None:
    names = nnkernels.available_backends()
    assert names[0] == "numpy"
    assert "numba" in names  # numba is a declared dependency


def test_default_backend_and_env_var(monkeypatch) -> None:
    monkeypatch.delenv("NNKERNELS_BACKEND", raising=False)
    assert get_backend().name == "numba"
    monkeypatch.setenv("NNKERNELS_BACKEND", "numpy")
    assert get_backend().name == "numpy"
    monkeypatch.setenv("NNKERNELS_BACKEND", "nope")
    with pytest.raises(ValueError, match="available: numpy, numba"):
        get_backend()


def test_backend_objects() -> None:
    for name in nnkernels.available_backends():
        be = get_backend(name)
        assert be.name == name and get_backend(be) is be and repr(be) == f"Backend({name!r})"
        assert isinstance(be.module, KernelBackend)


def test_a_module_missing_kernels_is_rejected() -> None:
    import types

    fake = types.ModuleType("fake")
    fake.name = "fake"
    with pytest.raises(TypeError, match="does not implement.*linear_forward"):
        Backend(fake)


def test_set_num_threads_sets_every_pool() -> None:
    import threadpoolctl

    before = nnkernels.get_num_threads()
    try:
        nnkernels.set_num_threads(1)
        assert nnkernels.get_num_threads() == 1
        assert all(p["num_threads"] == 1 for p in threadpoolctl.threadpool_info()
                   if p["user_api"] == "blas")
    finally:
        nnkernels.set_num_threads(before)
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        nnkernels.set_num_threads(0)


def test_runtime_info() -> None:
    info = nnkernels.runtime_info()
    for key in ("numpy", "numba", "llvmlite", "scipy", "numba_threading_layer",
                "numba_num_threads", "threadpools"):
        assert info[key] is not None, key
    assert info["numpy"] == np.__version__
    assert any(p["internal_api"] in ("openblas", "mkl", "blis") for p in info["threadpools"])


def test_numba_blas_stays_single_threaded_only_during_calls() -> None:
    """The backend limits numba's BLAS per call and puts the user's setting back."""
    from nnkernels.kernels.numba_backend.blas import numba_blas_libraries

    libs = numba_blas_libraries()
    counts = [lib.get_num_threads() for lib in libs]
    be = get_backend("numba")
    x, w = np.ones((600, 32)), np.ones((32, 8))
    be.linear_forward(x, w)
    be.linear_backward(x, w, np.ones((600, 8)))
    assert [lib.get_num_threads() for lib in libs] == counts


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # resolve relative imports against the file's package
                parts = path.relative_to(PACKAGE.parent).with_suffix("").parts[:-node.level]
                base = ".".join(parts + ((base,) if base else ()))
            names.add(base)
    return names


def test_import_directions() -> None:
    """numpy reference never imports numba; kernels never import models; the library never
    imports its command line; models reach kernels only through the backend interface."""
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        names = _imports(path)
        if rel.startswith("kernels/numpy_backend"):
            assert not any(n.split(".")[0] == "numba" for n in names), rel
        if rel.startswith("kernels/"):
            assert not any(n.startswith("nnkernels.models") for n in names), rel
        if not rel.startswith("cli/") and rel != "__main__.py":
            assert not any(n.startswith("nnkernels.cli") for n in names), rel
        if rel.startswith("models/"):
            assert not any("_backend" in n for n in names), rel


def test_numpy_backend_works_without_numba() -> None:
    """With numba unimportable, the package imports and the reference backend runs."""
    code = (
        "import sys; sys.modules['numba'] = None\n"
        "import nnkernels\n"
        "assert nnkernels.available_backends() == ('numpy',), nnkernels.available_backends()\n"
        "be = nnkernels.get_backend()\n"
        "print(be.name, be.linear_forward([[1.0]], [[2.0]], [0.5])[0, 0])\n"
    )
    env = dict(os.environ)
    env.pop("NNKERNELS_BACKEND", None)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["numpy", "2.5"]


FAMILIES = ("dense", "activations", "losses", "optim", "conv", "pool", "training")


def test_backends_are_laid_out_by_kernel_family() -> None:
    """Every protocol kernel lives in the same family module of every backend."""
    from nnkernels.kernels.api import _PROTOCOL_FUNCTIONS

    homes = {}
    for name in nnkernels.available_backends():
        module = get_backend(name).module
        for kernel in _PROTOCOL_FUNCTIONS:
            if kernel == "warmup":
                continue
            family = getattr(module, kernel).__module__.rsplit(".", 1)[-1]
            assert family in FAMILIES, (name, kernel, family)
            homes.setdefault(kernel, set()).add(family)
    assert all(len(families) == 1 for families in homes.values()), homes


def test_numba_tunables_live_in_config() -> None:
    """A numeric constant of 100 or more at module level is a threshold or a size: config.py
    holds them all (op codes and other small enumerations may stay with their code)."""
    for path in (PACKAGE / "kernels" / "numba_backend").glob("*.py"):
        if path.name == "config.py":
            continue
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Assign):
                for const in ast.walk(node.value):
                    if isinstance(const, ast.Constant) and isinstance(const.value, (int, float)):
                        assert abs(const.value) < 100, (path.name, ast.unparse(node))


def test_only_the_distributed_package_imports_dask() -> None:
    """dask is an optional extra: no module outside nnkernels/distributed/ imports it, and
    importing nnkernels (or nnkernels.distributed itself, or the estimators) loads no dask."""
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("distributed/"):
            continue
        names = _imports(path)
        assert not any(n.split(".")[0] in ("dask", "distributed") for n in names), rel
    code = ("import sys, nnkernels, nnkernels.distributed, nnkernels.models, nnkernels.cli; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))")
    done = subprocess.run([sys.executable, "-c", code], cwd=PACKAGE.parent, capture_output=True,
                          text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]", done.stdout


def test_only_the_comparator_modules_import_torch_and_jax() -> None:
    """torch and jax are optional comparators: only benchmarks/torch_ref.py and
    benchmarks/jax_ref.py import them, and importing nnkernels, its report or the benchmark
    plugin loads neither (the rows import them when they run)."""
    owners = {"torch": "benchmarks/torch_ref.py", "jax": "benchmarks/jax_ref.py"}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        roots = {n.split(".")[0] for n in _imports(path)}
        for package, owner in owners.items():
            assert package not in roots or rel == owner, rel
    code = ("import sys, nnkernels, nnkernels.report, nnkernels.compare, nnkernels.cli, "
            "nnkernels.benchmarks.plugin; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'jax')))")
    done = subprocess.run([sys.executable, "-c", code], cwd=PACKAGE.parent, capture_output=True,
                          text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]", done.stdout
