"""numba's BLAS runs single-threaded inside the backend's scope and as the user set it outside,
through OpenBLAS's own functions and through threadpoolctl's (the fallback for other BLAS)."""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("numba")

from nnkernels.kernels.numba_backend import blas  # noqa: E402

LIBS = blas.numba_blas_libraries()
pytestmark = pytest.mark.skipif(not LIBS, reason="no BLAS library of scipy's found")


def counts() -> list[int]:
    """Thread counts of numba's BLAS libraries, read through threadpoolctl."""
    return [lib.get_num_threads() for lib in LIBS]


@pytest.fixture(params=["fastest", "threadpoolctl"])
def counters(request, monkeypatch) -> str:
    """Run a test with blas_counters() as shipped, and with threadpoolctl's methods only."""
    if request.param == "threadpoolctl":
        monkeypatch.setattr(blas, "blas_counters", lambda: tuple(
            (lib.get_num_threads, lib.set_num_threads) for lib in LIBS))
    return request.param


@pytest.mark.parametrize("user", [1, 2])
def test_scope_limits_to_one_thread_and_restores_the_users_count(counters, user) -> None:
    before = counts()
    try:
        for lib in LIBS:
            lib.set_num_threads(user)
        expected = counts()
        with blas.single_threaded_blas():
            assert counts() == [1] * len(LIBS)
            with blas.single_threaded_blas():  # nested: still one thread, nothing to restore
                assert counts() == [1] * len(LIBS)
            assert counts() == [1] * len(LIBS)
        assert counts() == expected
        with blas.single_threaded_blas(False):  # inactive: nothing changes
            assert counts() == expected
    finally:
        for lib, n in zip(LIBS, before, strict=True):
            lib.set_num_threads(n)


def test_scope_restores_the_count_when_the_body_raises(counters) -> None:
    expected = counts()
    with pytest.raises(KeyError), blas.single_threaded_blas():
        raise KeyError("body")
    assert counts() == expected


def test_openblas_is_driven_through_its_own_functions() -> None:
    """The fast path is taken where it applies (it saves about 1.5 us per kernel call)."""
    for lib, (get, _) in zip(LIBS, blas.blas_counters(), strict=True):
        direct = lib.internal_api == "openblas" and lib.threading_layer != "openmp"
        assert (get != lib.get_num_threads) == direct


def test_scope_is_process_wide_across_threads() -> None:
    """One thread leaving the scope does not give BLAS its threads back while another thread's
    kernel is still inside (that changed the last bits of its BLAS results)."""
    if not all(lib.internal_api == "openblas" and lib.threading_layer != "openmp"
               for lib in LIBS):
        pytest.skip("process-wide limits are tested on OpenBLAS with its own threads")
    expected = counts()
    inside, leave = threading.Event(), threading.Event()

    def other() -> None:
        with blas.single_threaded_blas():
            inside.set()
            leave.wait(30)

    t = threading.Thread(target=other)
    t.start()
    try:
        assert inside.wait(30)
        with blas.single_threaded_blas():
            assert counts() == [1] * len(LIBS)
        assert counts() == [1] * len(LIBS)  # the other thread is still inside
    finally:
        leave.set()
        t.join(30)
    assert counts() == expected
