"""Where the numba backend's tunables come from: side-by-side timings in one process.

    python tools/tune.py kernels [--threads 2] [--depth 1] [--sizes 700x10,100000x1000]
    python tools/tune.py depth      # row loops vs BLAS, one thread: *_BLAS_MIN_DEPTH
    python tools/tune.py parallel   # serial vs parallel drivers: PARALLEL_MIN_WORK
    python tools/tune.py conv       # conv2d numpy / numba / torch at the convolution shapes
    python tools/tune.py mlp        # mlp_train time per step, numpy vs numba
    python tools/tune.py sharing    # each kernel idle / serial / after numpy BLAS / busy core
    python tools/tune.py narrow     # D = O = 1 fused step: record blocks vs 8 records along H
    python tools/tune.py blocked    # wide fused step: per record vs BLAS blocks (MLP_BLAS_*)
    python tools/tune.py minibatch  # mini-batch epochs: numba / numpy / sklearn (MINIBATCH_*)
    python tools/tune.py all --smoke    # every sweep at tiny sizes (CI: the script works)

Each sweep prints medians (tools/timing.py) and the load; the constants it informs live in
``nnkernels/kernels/numba_backend/config.py``. For the full comparison use the benchmark suite.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from timing import load_line, median_time, time_contenders, time_interleaved  # noqa: E402

import nnkernels  # noqa: E402

DENSE_KERNELS = ("linear_forward", "linear_relu_forward", "linear_backward", "relu_forward",
                 "relu_backward", "mse_loss", "sgd_update")
# (N, C, H, W, F, k, stride, pad): the convolution issue's shapes.
CONV_SHAPES = [(64, 3, 32, 32, 16, 3, 1, 1), (64, 16, 32, 32, 32, 3, 1, 1),
               (256, 1, 28, 28, 8, 5, 1, 0)]


def _sizes(text: str) -> list[tuple[int, int]]:
    return [tuple(int(v) for v in s.split("x")) for s in text.split(",")]  # type: ignore[misc]


def sweep_kernels(args: argparse.Namespace) -> None:
    """Per-call medians of the dense and elementwise kernels, numpy vs numba."""
    rng = np.random.default_rng(0)
    dtype = np.dtype(args.dtype)
    print(f"threads={args.threads} D={args.depth} dtype={dtype}, {load_line()}")
    print(f"{'kernel':<22}{'N':>8}{'H':>6}{'numpy':>12}{'numba':>12}{'speed-up':>10}")
    for n, h in _sizes(args.sizes):
        d = args.depth
        x, w = rng.standard_normal((n, d)).astype(dtype), rng.standard_normal((d, h)).astype(dtype)
        b = rng.standard_normal(h).astype(dtype)
        dy, u = (rng.standard_normal((n, h)).astype(dtype) for _ in range(2))
        calls: dict[str, Callable] = {
            "linear_forward": lambda be: be.linear_forward(x, w, b),
            "linear_relu_forward": lambda be: be.linear_relu_forward(x, w, b),
            "linear_backward": lambda be: be.linear_backward(x, w, dy),
            "relu_forward": lambda be: be.relu_forward(u),
            "relu_backward": lambda be: be.relu_backward(dy, u),
            "mse_loss": lambda be: be.mse_loss(u, dy),
            "sgd_update": lambda be: be.sgd_update(u, dy, 1e-9),
        }
        for kernel in args.kernels.split(","):
            t = time_contenders({name: (lambda name=name: calls[kernel](nnkernels.get_backend(
                name))) for name in ("numpy", "numba")}, args.min_time, args.repeats)
            print(f"{kernel:<22}{n:>8}{h:>6}{t['numpy'] * 1e6:>10.1f}us{t['numba'] * 1e6:>10.1f}us"
                  f"{t['numpy'] / t['numba']:>9.2f}x", flush=True)


def sweep_depth(args: argparse.Namespace) -> None:
    """Single-threaded times of the numba row loops against its BLAS path, over D and H."""
    from nnkernels.kernels.numba_backend import dense as nd
    from nnkernels.kernels.numba_backend.blas import single_threaded_blas
    from nnkernels.kernels.numba_backend.chunks import n_chunks

    nnkernels.set_num_threads(1)
    n = args.n
    rng = np.random.default_rng(0)
    print(f"N={n}, one thread, {load_line()}; microseconds per call")
    for dtype in (np.float64, np.float32):
        for h in args.hidden:
            for d in args.depths:
                x = rng.standard_normal((n, d)).astype(dtype)
                w = rng.standard_normal((d, h)).astype(dtype)
                b = rng.standard_normal(h).astype(dtype)
                dy = rng.standard_normal((n, h)).astype(dtype)
                out, dx = np.empty((n, h), dtype), np.empty((n, d), dtype)
                dw, db = np.zeros((d, h), dtype), np.zeros(h, dtype)
                nblocks = -(-n // nd.block_rows(h))
                part = np.zeros((n_chunks(n, (d + 1) * h), d + 1, h), dtype)
                t = {}
                with single_threaded_blas():
                    for blas in (False, True):
                        t["forward", blas] = median_time(
                            lambda blas=blas: nd._forward_serial(x, w, b, out, False, blas,
                                                                 nblocks),
                            args.min_time, args.repeats)
                        t["backward", blas] = median_time(
                            lambda blas=blas: nd._backward_serial(x, w, dy, dx, dw, db, part,
                                                                  True, blas),
                            args.min_time, args.repeats)
                print(f"{dtype.__name__} H={h:<5} D={d:<3} forward rows "
                      f"{t['forward', False] * 1e6:9.0f} blas {t['forward', True] * 1e6:9.0f}"
                      f"   backward rows {t['backward', False] * 1e6:9.0f} "
                      f"blas {t['backward', True] * 1e6:9.0f}", flush=True)


def sweep_parallel(args: argparse.Namespace) -> None:
    """Serial against parallel drivers over the work size: where a parallel region pays."""
    from nnkernels.kernels.numba_backend import dense as nd
    from nnkernels.kernels.numba_backend import elementwise as ew

    print(f"threads={args.threads}, float64, {load_line()}; microseconds per call")
    rng = np.random.default_rng(0)
    for work in args.works:
        u = rng.standard_normal(work)
        out = np.empty_like(u)
        nb = ew.n_chunks(work)
        t = time_contenders({
            "serial": lambda: ew._map_serial(ew.RELU, u, u, out, out, 0.0, 0.0, nb),
            "parallel": lambda: ew._map_parallel(ew.RELU, u, u, out, out, 0.0, 0.0, nb),
        }, args.min_time, args.repeats, settle=0.05)
        h = 10
        x, w = rng.standard_normal((work // h, 1)), rng.standard_normal((1, h))
        y = np.empty((work // h, h))
        blocks = -(-(work // h) // nd.block_rows(h))
        t2 = time_contenders({
            "serial": lambda: nd._forward_serial(x, w, None, y, True, False, blocks),
            "parallel": lambda: nd._forward_parallel(x, w, None, y, True, False, blocks),
        }, args.min_time, args.repeats, settle=0.05)
        print(f"work {work:>9}: relu serial {t['serial'] * 1e6:8.1f} parallel "
              f"{t['parallel'] * 1e6:8.1f} | linear_relu_forward (H=10) serial "
              f"{t2['serial'] * 1e6:8.1f} parallel {t2['parallel'] * 1e6:8.1f}", flush=True)


def sweep_conv(args: argparse.Namespace) -> None:
    """conv2d forward and forward+backward: numpy / numba / torch (float32, medians in ms)."""
    try:
        import torch
        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
    print(f"float32, threads={args.threads}, {load_line()}, torch "
          f"{torch.__version__ if torch else 'not installed'}; ms per call")
    for shape in args.conv_shapes:
        n, c, h, wd, f, k, s, p = shape
        rng = np.random.default_rng(0)
        x = rng.standard_normal((n, c, h, wd), dtype=np.float32)
        w = rng.standard_normal((f, c, k, k), dtype=np.float32)
        b = rng.standard_normal(f, dtype=np.float32)
        dy = rng.standard_normal((n, f, (h + 2 * p - k) // s + 1, (wd + 2 * p - k) // s + 1),
                                 dtype=np.float32)
        passes: dict[str, dict[str, Callable]] = {"fwd": {}, "fwd+bwd": {}}
        for name in nnkernels.available_backends():
            be = nnkernels.get_backend(name)
            passes["fwd"][name] = lambda be=be: be.conv2d_forward(x, w, b, s, p)
            passes["fwd+bwd"][name] = lambda be=be: (be.conv2d_forward(x, w, b, s, p),
                                                     be.conv2d_backward(x, w, dy, s, p))
        if torch is not None:
            tx, tw, tb = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
            tdy = torch.from_numpy(dy)

            def t_fwd() -> object:
                with torch.no_grad():
                    return torch.nn.functional.conv2d(tx, tw, tb, s, p)

            passes["fwd"]["torch"] = t_fwd
            passes["fwd+bwd"]["torch"] = lambda: torch.autograd.grad(
                torch.nn.functional.conv2d(tx, tw, tb, s, p), (tx, tw, tb), tdy)
        for label, funcs in passes.items():
            t = time_contenders(funcs, args.min_time, args.repeats)
            cells = "  ".join(f"{name} {v * 1e3:8.2f}" for name, v in t.items())
            print(f"{str(shape):<30} {label:<8} {cells}  numpy/numba "
                  f"{t['numpy'] / t['numba']:5.2f}x", flush=True)


def sweep_mlp(args: argparse.Namespace) -> None:
    """mlp_train time per full-batch step (D = O = 1, float64), numpy vs numba fused."""
    rng = np.random.default_rng(0)
    print(f"threads={args.threads}, float64, {load_line()}; time per step")
    for n, h in _sizes(args.mlp_sizes):
        x = np.linspace(-1.7, 1.7, n).reshape(-1, 1)
        y = x**3 + 0.1 * rng.standard_normal((n, 1))
        init = [rng.standard_normal((1, h)), rng.uniform(-1, 1, h),
                rng.standard_normal((h, 1)) / np.sqrt(h), np.zeros(1)]
        t = {}
        for name in ("numpy", "numba"):
            be = nnkernels.get_backend(name)
            steps = max(1, min(args.max_steps, int(2e6 / (n * h))))
            params = [a.copy() for a in init]
            t[name] = time_contenders({name: lambda be=be, p=params, s=steps: be.mlp_train(
                x, y, p, 1e-4, s)}, args.min_time, args.repeats)[name] / steps
        print(f"N={n:>8} H={h:>5}: numpy {t['numpy'] * 1e6:10.1f}us numba "
              f"{t['numba'] * 1e6:10.1f}us  {t['numpy'] / t['numba']:6.1f}x", flush=True)


def sweep_sharing(args: argparse.Namespace) -> None:
    """numba kernels in a shared process: idle, serial, after a numpy BLAS call, beside a busy core.

    Public API only, so that the same script measures an older checkout. Medians of
    ``--repeats`` calls (at least 15) per scenario; "paired" alternates a numpy-backend call and
    a numba-backend call and gives numpy / numba.
    """
    import statistics
    import subprocess
    import time

    def med(fn: Callable, before: Callable | None = None) -> float:
        fn()
        times = []
        for _ in range(max(args.repeats, 15)):
            if before is not None:
                before()
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    try:  # an older checkout has no schedule to forget
        from nnkernels.kernels.numba_backend.scheduling import reset
    except ImportError:
        def reset() -> None:
            pass

    rng = np.random.default_rng(0)
    a = rng.standard_normal((200, 200))
    numpy_be, numba_be = nnkernels.get_backend("numpy"), nnkernels.get_backend("numba")
    print(f"threads={args.threads}, float64, {load_line()}; ms per call; ratios to serial")
    print(f"{'kernel':<22}{'cell':>16}{'idle':>9}{'serial':>9}{'a-BLAS':>9}{'busy':>9}"
          f"{'a-BLAS/ser':>11}{'busy/ser':>9}{'paired np/nb':>13}")
    for label, calls in _sharing_cells(args, rng):
        for kernel, call in calls.items():
            time.sleep(0.15)
            reset()  # each kernel's scenarios start from an idle machine's schedule
            idle = med(lambda call=call: call(numba_be))
            nnkernels.set_num_threads(1)
            serial = med(lambda call=call: call(numba_be))
            nnkernels.set_num_threads(args.threads)
            after = med(lambda call=call: call(numba_be), before=lambda: a @ a)
            code = "import time\nend = time.monotonic() + 120\nwhile time.monotonic() < end: pass"
            busy_proc = subprocess.Popen([sys.executable, "-c", code])
            try:
                time.sleep(0.05)
                busy = med(lambda call=call: call(numba_be))
            finally:
                busy_proc.kill()
                busy_proc.wait()
            # The busy run's back-off (up to BACKOFF_MAX_S of serial calls after the load ends,
            # by design) is forgotten: "paired" measures an otherwise idle process.
            reset()
            t_np, t_nb = [], []
            for _ in range(max(args.repeats, 15) // 3 + 1):
                t0 = time.perf_counter()
                call(numpy_be)
                t1 = time.perf_counter()
                call(numba_be)
                t_np.append(t1 - t0)
                t_nb.append(time.perf_counter() - t1)
            paired = statistics.median(t_np) / statistics.median(t_nb)
            print(f"{kernel:<22}{label:>16}{idle * 1e3:9.3f}{serial * 1e3:9.3f}"
                  f"{after * 1e3:9.3f}{busy * 1e3:9.3f}{after / serial:11.2f}"
                  f"{busy / serial:9.2f}{paired:13.2f}", flush=True)


def _sharing_cells(args: argparse.Namespace, rng: np.random.Generator
                   ) -> list[tuple[str, dict[str, Callable]]]:
    """(label, kernel -> call(backend)) for the seed cells with N >= 10,000 and the conv shapes."""
    cells = []
    for n, h in _sizes(args.sharing_sizes):
        x, w = rng.standard_normal((n, 1)), rng.standard_normal((1, h))
        b, dy, u = rng.standard_normal(h), rng.standard_normal((n, h)), rng.standard_normal((n, h))
        y = rng.standard_normal((n, 1))
        init = [w.copy(), b.copy(), rng.standard_normal((h, 1)) / np.sqrt(h), np.zeros(1)]
        cells.append((f"{n}x{h}", {
            "linear_forward": lambda be, x=x, w=w, b=b: be.linear_forward(x, w, b),
            "linear_relu_forward": lambda be, x=x, w=w, b=b: be.linear_relu_forward(x, w, b),
            "linear_backward": lambda be, x=x, w=w, dy=dy: be.linear_backward(x, w, dy),
            "relu_forward": lambda be, u=u: be.relu_forward(u),
            "relu_backward": lambda be, u=u, dy=dy: be.relu_backward(dy, u),
            "mse_loss": lambda be, u=u, dy=dy: be.mse_loss(u, dy),
            "sgd_update": lambda be, u=u, dy=dy: be.sgd_update(u, dy, 1e-12),
            "mlp_train (1 step)": lambda be, x=x, y=y, p=init: be.mlp_train(x, y, p, 1e-6, 1),
        }))
    for shape in args.conv_shapes:
        n, c, hh, wd, f, k, s, p = shape
        x = rng.standard_normal((n, c, hh, wd)).astype(np.float32)
        w = rng.standard_normal((f, c, k, k)).astype(np.float32)
        dy = rng.standard_normal((n, f, (hh + 2 * p - k) // s + 1,
                                  (wd + 2 * p - k) // s + 1)).astype(np.float32)
        cells.append((f"conv{n}x{c}x{hh}", {
            "conv2d_forward": lambda be, x=x, w=w, s=s, p=p: be.conv2d_forward(x, w, None, s, p),
            "conv2d_backward": lambda be, x=x, w=w, dy=dy, s=s, p=p: be.conv2d_backward(
                x, w, dy, s, p),
        }))
    return cells


def _fused_kinds(x: np.ndarray, y: np.ndarray, init: list[np.ndarray], kinds: dict[str, int],
                 args: argparse.Namespace) -> dict[str, float]:
    """Seconds per step of numba's fused _train with each chunk kernel kind forced."""
    from nnkernels.kernels.numba_backend import training as tr
    from nnkernels.kernels.numba_backend.blas import single_threaded_blas

    n, d = x.shape
    h, o = init[2].shape
    nc = plan_chunks if (plan_chunks := args.__dict__.get("chunks")) else tr.plan(n, d, h, o)[0]
    funcs, steps = _kind_steps(x, y, init, kinds, nc, nc > 1, tr.mlp_block_rows(h),
                               args.max_steps)
    with single_threaded_blas():
        t = time_contenders(funcs, args.min_time, args.repeats)
    return {k: v / steps for k, v in t.items()}


def _kind_steps(x: np.ndarray, y: np.ndarray, init: list[np.ndarray], kinds: dict[str, int],
                nc: int, parallel: bool, rows: int, max_steps: int
                ) -> tuple[dict[str, Callable[[], object]], int]:
    """({label: one call of numba's _train with that chunk kernel kind forced}, steps per call):
    each from its own copy of ``init``, about 2e6 (N x H) of work a call."""
    from nnkernels.kernels.numba_backend import training as tr

    n, h, o = x.shape[0], init[2].shape[0], y.shape[1]
    dt = x.dtype.type
    steps = max(1, min(max_steps, int(2e6 / (n * h))))
    losses = np.zeros(steps)
    funcs = {}
    for label, kind in kinds.items():
        p = [a.copy() for a in init]
        funcs[label] = lambda p=p, kind=kind: tr._train(
            x, y, *p, dt(1e-6), dt(1.0 / (n * o)), losses, nc, kind, parallel, rows)
    return funcs, steps


def _narrow_problem(n: int, h: int, dtype: type, rng: np.random.Generator
                    ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """The seed's regression (y = x**3 + noise on [-1.7, 1.7]) and a start for H hidden units."""
    x = np.linspace(-1.7, 1.7, n).reshape(-1, 1).astype(dtype)
    y = (x**3 + 0.1 * rng.standard_normal((n, 1))).astype(dtype)
    init = [a.astype(dtype) for a in (rng.standard_normal((1, h)), rng.uniform(-1, 1, h),
                                      rng.standard_normal((h, 1)) / np.sqrt(h), np.zeros(1))]
    return x, y, init


def _narrow_grad_pass(x: np.ndarray, y: np.ndarray, init: list[np.ndarray], kind: int,
                      rows: int, serial: bool = False) -> Callable[[], object]:
    """One gradient pass of the fused step's chunk kernels (the chunks of plan(), in parallel
    when more than one unless ``serial``) with the NARROW_BLOCK kind's blocks of ``rows``
    records: its workspaces are allocated here, as _workspaces would with
    config.NARROW_BLOCK_RECORDS = rows."""
    from nnkernels.kernels.numba_backend import training as tr

    n = x.shape[0]
    h = init[2].shape[0]
    dt = x.dtype
    nc = tr.plan(n, 1, h, 1)[0]
    wa, b1, wb, b2 = init[0].copy(), init[1].copy(), np.ascontiguousarray(init[2].T), init[3]
    plen = 3 * tr._padded(h) + tr._padded(1)
    wlen = tr.narrow_block_wlen(rows) if kind == tr.NARROW_BLOCK else 2 * tr._padded(h) + \
        tr._padded(1)
    part, work, psq = np.zeros(nc * plen, dt), np.zeros(nc * wlen, dt), np.zeros(nc * tr.PAD)
    blk = tuple(np.empty((nc, 0, h), dt) for _ in range(2)) + (np.empty((nc, 0, 1), dt),) + \
        tuple(np.empty((nc, 0, h), dt) for _ in range(2))
    grads = tr._grads_parallel if nc > 1 and not serial else tr._grads_serial
    inv = dt.type(1.0 / n)
    return lambda: grads(kind, x, y, wa, b1, wb, b2, inv, part, work, psq, nc, plen, wlen, blk)


def sweep_narrow(args: argparse.Namespace) -> None:
    """D = O = 1 fused step per (N x H): blocks of records (NARROW_BLOCK) vs 8 records along H.

    Three tables, every contender timed in turns (time_interleaved) in one process:
    1. ns per step / (N x H) of _train with each kind forced, over --narrow-n x --narrow-h
       (config.NARROW_BLOCK_MAX_HIDDEN: the largest H where the record blocks win);
    2. ns per gradient pass / (N x H) of the record-block kernel for each block length of
       --narrow-rows (config.NARROW_BLOCK_RECORDS), at --narrow-rows-sizes;
    3. the seed (N = 700, H = 10, the serial path) through the public mlp_train, one step per
       call, as plan() chooses and with plan() sent to the 8-record kernel.
    --narrow-serial runs plan()'s chunks one after another and times the thread's CPU seconds
    (the kernels' cost per core, readable on a busy machine where parallel calls stall).
    """
    import time

    from nnkernels.kernels.numba_backend import training as tr

    rng = np.random.default_rng(0)
    ns, hs = [int(float(v)) for v in args.narrow_n.split(",")], \
        [int(v) for v in args.narrow_h.split(",")]
    serial = args.narrow_serial
    clock = time.thread_time if serial else time.perf_counter
    mode = "chunks serially, CPU time of one core" if serial else f"threads={args.threads}"
    print(f"{mode}, {load_line()}; ns per step / (N x H), medians of "
          f"{args.repeats} interleaved rounds; block/r8 < 1: the record blocks are faster")
    kinds = {"r8": tr.NARROW8, "block": tr.NARROW_BLOCK}
    for dtype in (np.float64, np.float32):
        for n in ns:
            for h in hs:
                if n * h > args.narrow_max_work:
                    continue
                x, y, init = _narrow_problem(n, h, dtype, rng)
                nc = tr.plan(n, 1, h, 1)[0]
                funcs, steps = _kind_steps(x, y, init, kinds, nc, nc > 1 and not serial, 0,
                                           args.max_steps)
                t = {k: v / steps / (n * h) * 1e9 for k, v in
                     time_interleaved(funcs, args.min_time, args.repeats, clock).items()}
                chosen = "block" if tr.plan(n, 1, h, 1)[1] == tr.NARROW_BLOCK else "r8"
                print(f"{dtype.__name__} N={n:>8} H={h:>5} chunks={nc:>2}: r8 {t['r8']:7.3f}  "
                      f"block {t['block']:7.3f}  block/r8 {t['block'] / t['r8']:5.2f}  "
                      f"(plan: {chosen})  {load_line()}", flush=True)
    rows = [int(v) for v in args.narrow_rows.split(",")]
    print(f"-- record-block length (one gradient pass, ns / (N x H)), {load_line()}")
    for dtype in (np.float64, np.float32):
        for n, h in _sizes(args.narrow_rows_sizes):
            x, y, init = _narrow_problem(n, h, dtype, rng)
            funcs = {f"rows={r}": _narrow_grad_pass(x, y, init, tr.NARROW_BLOCK, r, serial)
                     for r in rows}
            funcs["r8"] = _narrow_grad_pass(x, y, init, tr.NARROW8, 0, serial)
            t = time_interleaved(funcs, args.min_time, args.repeats, clock)
            cells = "  ".join(f"{k} {v / (n * h) * 1e9:6.3f}" for k, v in t.items())
            print(f"{dtype.__name__} N={n:>8} H={h:>5}: {cells}", flush=True)
    print(f"-- the seed through the public API, one step per call, {load_line()}")
    be = nnkernels.get_backend("numba")
    limit = tr.NARROW_BLOCK_MAX_HIDDEN
    for dtype in (np.float64, np.float32):
        for n, h in _sizes(args.narrow_seed):
            x, y, init = _narrow_problem(n, h, dtype, rng)

            def call(max_hidden: int, p: list[np.ndarray]) -> None:
                tr.NARROW_BLOCK_MAX_HIDDEN = max_hidden
                try:
                    be.mlp_train(x, y, p, 1e-6, 1)
                finally:
                    tr.NARROW_BLOCK_MAX_HIDDEN = limit

            p8, pp = [a.copy() for a in init], [a.copy() for a in init]
            t = time_interleaved({"r8": lambda p8=p8: call(0, p8),
                                  "plan": lambda pp=pp: call(limit, pp)},
                                 args.min_time, max(args.repeats, 15), clock)
            print(f"{dtype.__name__} N={n:>6} H={h:>4}: r8 {t['r8'] * 1e6:7.2f}us  plan "
                  f"{t['plan'] * 1e6:7.2f}us  plan/r8 {t['plan'] / t['r8']:5.2f}", flush=True)


def sweep_blocked(args: argparse.Namespace) -> None:
    """Fused step with wide D, O: per-record loops vs BLAS row blocks, and % of FMA peak."""
    from nnkernels.kernels.numba_backend import training as tr

    rng = np.random.default_rng(0)
    print(f"threads={args.threads}, {load_line()}; ms per step, GFLOP/s of the blocked kind")
    for dtype in (np.float64, np.float32):
        for n, h, d, o in args.blocked_shapes:
            x = rng.uniform(-1, 1, (n, d)).astype(dtype)
            y = rng.standard_normal((n, o)).astype(dtype)
            init = [(rng.standard_normal((d, h)) * np.sqrt(2 / d)).astype(dtype),
                    np.zeros(h, dtype), (rng.standard_normal((h, o)) / np.sqrt(h)).astype(dtype),
                    np.zeros(o, dtype)]
            kinds = {"per-record": tr.WIDE, "blocked": tr.BLOCKED}
            args.chunks = tr.plan(n, d, h, o)[0] if tr.plan(n, d, h, o)[1] == tr.BLOCKED else \
                tr.n_chunks(n, h * (d + o), tr.MAX_BLAS_CHUNKS) if n * h * (d + o) >= 1e5 else 1
            t = _fused_kinds(x, y, init, kinds, args)
            args.chunks = None
            # forward 2NH(D + O), backward without dx 2NHD + 4NHO (as benchmarks/throughput.py)
            flops = 2.0 * n * h * (2 * d + 3 * o)
            print(f"{dtype.__name__} N={n:>7} H={h:>5} D={d:>3} O={o:>3}: per-record "
                  f"{t['per-record'] * 1e3:9.3f} blocked {t['blocked'] * 1e3:9.3f} "
                  f"({t['per-record'] / t['blocked']:5.2f}x, "
                  f"{flops / t['blocked'] / 1e9:6.1f} GFLOP/s)", flush=True)


def _regression(n: int, n_test: int, d: int, dtype: np.dtype) -> tuple[np.ndarray, ...]:
    """scikit-learn's make_regression (default noise), X and y standardised: train, test."""
    from sklearn.datasets import make_regression

    x, y = make_regression(n + n_test, d, random_state=0)
    x = ((x - x.mean(0)) / x.std(0)).astype(dtype)
    y = ((y - y.mean()) / y.std()).astype(dtype).reshape(-1, 1)
    return x[:n], y[:n], x[n:], y[n:]


def _he_init(widths: list[int], dtype: np.dtype, rng: np.random.Generator) -> list[np.ndarray]:
    out = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        last = i == len(widths) - 2
        out += [(rng.standard_normal((a, b)) * np.sqrt((1 if last else 2) / a)).astype(dtype),
                (np.zeros(b) if last else rng.uniform(-1, 1, b)).astype(dtype)]
    return out


def _r2(be: object, params: list[np.ndarray], x: np.ndarray, y: np.ndarray) -> float:
    a = x
    for w, b in zip(params[0:-2:2], params[1:-2:2], strict=True):
        a = be.linear_relu_forward(a, w, b)
    pred = be.linear_forward(a, params[-2], params[-1]).astype(np.float64)
    return 1.0 - float(np.sum((pred - y) ** 2) / np.sum((y - y.mean()) ** 2))


def sweep_minibatch(args: argparse.Namespace) -> None:
    """Mini-batch SGD epochs: numba vs numpy mlp_train_minibatch vs scikit-learn, with R^2.

    The issue's target problem (make_regression 50,000 x 10, H = 100, batch 64, 20 epochs,
    plain SGD, then momentum 0.9), every contender from the same start in one process,
    interleaved, ``--mb-repeats`` rounds: median seconds per fit, test R^2 of the last round;
    the estimator rows are nnkernels' MLPRegressor(solver="sgd") on each backend. Then the
    one-hidden-layer chunk kernels side by side (training.minibatch_kind: MINIBATCH_BLAS_*).
    """
    import statistics
    import time
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor as SkMLP

    from nnkernels.kernels.numba_backend import training as tr
    from nnkernels.models import MLPRegressor

    n, d, h, bs, epochs, lr = args.mb_problem
    print(f"threads={args.threads}, {load_line()}; N={n} D={d} H={h} batch={bs} "
          f"epochs={epochs} lr={lr}; median s per fit of {args.mb_repeats}, test R^2")
    for dtype in (np.float64, np.float32):
        x, y, xt, yt = _regression(n, max(n // 5, 10), d, dtype)
        rng = np.random.default_rng(0)
        init = _he_init([d, h, 1], dtype, rng)
        order = np.stack([rng.permutation(n) for _ in range(epochs)]).astype(np.int64)
        for momentum in (0.0, 0.9):
            def kernel(name: str, m: float = momentum) -> tuple[float, float]:
                be = nnkernels.get_backend(name)
                p = [a.copy() for a in init]
                vel = [np.zeros_like(a) for a in p] if m else None
                t0 = time.perf_counter()
                be.mlp_train_minibatch(x, y, p, lr, order, bs, momentum=m, velocities=vel)
                return time.perf_counter() - t0, _r2(be, p, xt, yt)

            def estimator(name: str, m: float = momentum) -> tuple[float, float]:
                est = MLPRegressor((h,), solver="sgd", learning_rate_init=lr, momentum=m,
                                   batch_size=bs, max_iter=epochs, tol=0.0,
                                   n_iter_no_change=epochs + 1, backend=name, random_state=0)
                t0 = time.perf_counter()
                est.fit(x, y[:, 0])
                return time.perf_counter() - t0, est.score(xt, yt[:, 0])

            def sklearn(m: float = momentum) -> tuple[float, float]:
                est = SkMLP(hidden_layer_sizes=(h,), solver="sgd", learning_rate_init=lr,
                            momentum=m, nesterovs_momentum=False, alpha=0.0, batch_size=bs,
                            max_iter=epochs, shuffle=True, tol=0.0,
                            n_iter_no_change=epochs + 1, random_state=0)
                t0 = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    est.fit(x, y[:, 0])
                return time.perf_counter() - t0, est.score(xt, yt[:, 0])

            funcs = {"numba kernel": lambda: kernel("numba"),
                     "numpy kernel": lambda: kernel("numpy"),
                     "sklearn": sklearn,
                     "numba MLPRegressor": lambda: estimator("numba"),
                     "numpy MLPRegressor": lambda: estimator("numpy")}
            times: dict[str, list[float]] = {k: [] for k in funcs}
            r2: dict[str, float] = {}
            for _ in range(args.mb_repeats):
                for label, fn in funcs.items():
                    elapsed, r2[label] = fn()
                    times[label].append(elapsed)
            med = {k: statistics.median(v) for k, v in times.items()}
            base = med["numba kernel"]
            print(f"{dtype.__name__} momentum={momentum}:", flush=True)
            for label in funcs:
                print(f"  {label:<20}{med[label]:9.3f} s {med[label] / base:7.2f}x of numba"
                      f"   R^2 {r2[label]:.5f}", flush=True)
    if args.mb_problem_only or not hasattr(tr, "train_minibatch"):
        return  # (an older checkout: measured for the problem above only)
    print(f"{load_line()}; two or more hidden layers, row loops vs BLAS: us per batch")
    for dtype in (np.float64, np.float32):
        for n, widths, bs in args.mb_deep_shapes:
            rng = np.random.default_rng(0)
            x = rng.standard_normal((n, widths[0])).astype(dtype)
            y = rng.standard_normal((n, widths[-1])).astype(dtype)
            init = _he_init(list(widths), dtype, rng)
            order = rng.permutation(n).astype(np.int64)[None]
            funcs = {k: (lambda blas=blas: tr.train_minibatch(
                x, y, [a.copy() for a in init], None, order, bs, 1e-4, 0.0, np.zeros(1),
                blas=blas)) for k, blas in (("loops", False), ("blas", True))}
            t = time_contenders(funcs, args.min_time, args.repeats, settle=0.05)
            work = bs * 3 * sum(a * b for a, b in zip(widths[:-1], widths[1:], strict=True))
            cells = "  ".join(f"{k} {v / -(-n // bs) * 1e6:8.2f}" for k, v in t.items())
            print(f"{dtype.__name__} {'-'.join(map(str, widths)):<14} batch={bs:>4} "
                  f"({work:>8} multiply-adds): {cells}", flush=True)
    print(f"{load_line()}; one hidden layer, chunk kernels, plain SGD: us per batch")
    kinds = {"wide": tr.WIDE, "blocked": tr.BLOCKED}
    for dtype in (np.float64, np.float32):
        for n, d, h, o, bs in args.mb_shapes:
            rng = np.random.default_rng(0)
            x = rng.standard_normal((n, d)).astype(dtype)
            y = rng.standard_normal((n, o)).astype(dtype)
            init = _he_init([d, h, o], dtype, rng)
            order = rng.permutation(n).astype(np.int64)[None]
            batches = -(-n // bs)
            funcs = {k: (lambda kind=kind: tr.train_minibatch(
                x, y, [a.copy() for a in init], None, order, bs, 1e-4, 0.0, np.zeros(1),
                kind)) for k, kind in kinds.items()}
            t = time_contenders(funcs, args.min_time, args.repeats, settle=0.05)
            chosen = [k for k, v in kinds.items() if v == tr.minibatch_kind(bs, d, h, o)]
            cells = "  ".join(f"{k} {v / batches * 1e6:8.2f}" for k, v in t.items())
            print(f"{dtype.__name__} N={n:>6} D={d:>3} H={h:>4} O={o:>2} batch={bs:>4}: {cells}"
                  f"  (chosen: {chosen[0] if chosen else 'narrow'})", flush=True)


SWEEPS = {"kernels": sweep_kernels, "depth": sweep_depth, "parallel": sweep_parallel,
          "conv": sweep_conv, "mlp": sweep_mlp, "sharing": sweep_sharing,
          "narrow": sweep_narrow, "blocked": sweep_blocked, "minibatch": sweep_minibatch}


def main(argv: list[str] | None = None) -> int:
    """Parse the sweep and its options, then run it (``all`` runs every sweep)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sweep", choices=[*SWEEPS, "all"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dtype", default="float64")
    ap.add_argument("--depth", type=int, default=1, help="input width D (kernels)")
    ap.add_argument("--sizes", default="700x10,700x1000,100000x10,100000x1000",
                    help="NxH cells (kernels)")
    ap.add_argument("--kernels", default=",".join(DENSE_KERNELS))
    ap.add_argument("--mlp-sizes", default="700x10,10000x100,10000x1000,100000x10")
    ap.add_argument("--sharing-sizes", default="10000x10,10000x100,10000x1000,100000x10,"
                    "100000x100,100000x1000,1000000x10,1000000x100", help="NxH cells (sharing)")
    ap.add_argument("--narrow-n", default="700,1e4,1e5,1e6", help="N values (narrow)")
    ap.add_argument("--narrow-h", default="4,8,10,16,24,32,48,64,96,128,256",
                    help="H values (narrow)")
    ap.add_argument("--narrow-max-work", type=float, default=1e8,
                    help="narrow: skip cells with N x H above this")
    ap.add_argument("--narrow-rows", default="64,128,256,512,1024",
                    help="record-block lengths compared (narrow)")
    ap.add_argument("--narrow-rows-sizes", default="700x10,10000x10,1000000x10,100000x32,"
                    "100000x64", help="NxH cells of the block-length table (narrow)")
    ap.add_argument("--narrow-seed", default="700x10", help="NxH cells of the seed table")
    ap.add_argument("--narrow-serial", action="store_true",
                    help="narrow: chunks one after another, CPU time of one core")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--min-time", type=float, default=0.2, help="seconds per median")
    ap.add_argument("--mb-problem-only", action="store_true",
                    help="minibatch: the issue's problem only, not the per-shape tables")
    ap.add_argument("--smoke", action="store_true",
                    help="tiny sizes and one short repeat: checks that the sweeps run (CI)")
    args = ap.parse_args(argv)
    args.n, args.hidden, args.depths = 10_000, (10, 100, 1000), (2, 4, 8, 12, 16, 24, 32)
    args.works, args.conv_shapes = (10_000, 50_000, 100_000, 200_000, 1_000_000), CONV_SHAPES
    args.max_steps = 1000
    args.chunks = None
    args.blocked_shapes = [(10_000, h, d, o) for h in (32, 256, 1024)
                           for d, o in ((2, 1), (4, 2), (8, 1), (16, 4), (64, 10))]
    args.blocked_shapes += [(100_000, 1024, 64, 10)]
    # (N, D, H, batch, epochs, lr): the mini-batch problem; (N, D, H, O, batch) cells.
    args.mb_problem, args.mb_repeats = (50_000, 10, 100, 64, 20, 0.01), 3
    args.mb_shapes = [(20_000, d, h, o, bs) for d, o in ((2, 1), (4, 1), (10, 1), (16, 4),
                                                         (64, 10))
                      for h in (16, 32, 100, 256) for bs in (16, 64, 256)]
    args.mb_deep_shapes = [(20_000, (10, 100, 50, 1), 64), (20_000, (10, 64, 64, 3), 64),
                           (20_000, (2, 16, 16, 1), 64), (4_000, (2, 16, 16, 1), 16),
                           (4_000, (2, 16, 16, 1), 4), (4_000, (3, 8, 8, 2), 64),
                           (4_000, (3, 8, 8, 2), 8), (4_000, (3, 8, 8, 2), 1),
                           (4_000, (1, 4, 4, 1), 16)]
    if args.smoke:
        args.sizes, args.mlp_sizes, args.kernels = "50x3", "50x3", ",".join(DENSE_KERNELS)
        args.narrow_n, args.narrow_h, args.narrow_rows = "50", "3", "16,32"
        args.narrow_rows_sizes = args.narrow_seed = "50x3"
        args.sharing_sizes = "50x3"
        args.n, args.hidden, args.depths, args.works = 64, (3,), (2, 16), (1_000,)
        args.conv_shapes = [(2, 1, 6, 6, 2, 3, 1, 1), (2, 2, 7, 7, 2, 3, 2, 0)]
        args.repeats, args.min_time, args.max_steps = 1, 0.0, 2
        args.blocked_shapes = [(50, 40, 8, 2)]
        args.mb_problem, args.mb_repeats = (300, 4, 8, 16, 2, 0.01), 1
        args.mb_shapes = [(100, 4, 8, 2, 16)]
        args.mb_deep_shapes = [(100, (3, 5, 4, 2), 16)]
    nnkernels.warmup()
    nnkernels.set_num_threads(args.threads)
    for name in SWEEPS if args.sweep == "all" else [args.sweep]:
        print(f"== {name}: {SWEEPS[name].__doc__.splitlines()[0]}")
        SWEEPS[name](args)
        nnkernels.set_num_threads(args.threads)  # depth sets one thread
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
