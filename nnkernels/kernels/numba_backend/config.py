"""Every tunable of the numba backend, each with the measurement it came from.

Measured on this project's machine (2 cores, AVX2 FMA, numba 0.68, scipy's OpenBLAS 0.3.30);
re-run ``python tools/tune.py`` (its ``--help`` lists the sweeps) when versions or machines change.
Thresholds depend on shapes only, never on the thread count, so that results stay bitwise
identical for any number of threads.
"""

from __future__ import annotations

# -- JIT option sets ----------------------------------------------------------------------------
# Every kernel is cached on disk and releases the GIL (Python threads may call kernels at once).
JIT = {"cache": True, "nogil": True}
# Loops that accumulate dot products or sums: without reassociation LLVM cannot vectorise a float
# reduction (measured 2-5x slower). "reassoc" and "contract" (FMA) only change rounding within
# the tests' tolerances; the NaN/inf flags ("nnan", "ninf") are never set, so NaN and inf
# propagate (tested).
FASTMATH = frozenset({"reassoc", "contract"})
JIT_FAST = {**JIT, "fastmath": set(FASTMATH)}
JIT_PARALLEL = {**JIT, "parallel": True}
JIT_FAST_PARALLEL = {**JIT_FAST, "parallel": True}

# -- parallel regions ---------------------------------------------------------------------------
# Work (multiply-adds, or elements for elementwise kernels) below which a kernel runs serially:
# a parallel region costs 5-8 us to start here, about the time of 1e5 fused multiply-adds
# (tools/tune.py dense: the serial and parallel drivers cross between 5e4 and 2e5).
PARALLEL_MIN_WORK = 100_000
# Convolutions run their chunk loop serially below this many multiply-adds
# (N * F * OH * OW * C * KH * KW): a parallel region whose threads have gone to sleep between
# calls (a training loop does Python work between kernels) was measured to stall for
# milliseconds on a busy 2-core machine, while 4e6 multiply-adds take about 0.5 ms on one core.
CONV_PARALLEL_MIN_MACS = 4_000_000

# -- record chunks of reductions ----------------------------------------------------------------
# A reduction over N records (dw, db, the loss, conv weight gradients, the fused training step)
# is split into a fixed number of chunks, each with its own partial, added in chunk order.
# Most chunks: bounds the partials' memory (MAX_CHUNKS * partial size) and is 8x the cores here.
MAX_CHUNKS = 16
# The BLAS path of linear_backward keeps a (D + 1, H) partial per chunk for large D * H: fewer.
MAX_BLAS_CHUNKS = 4
# Least work per chunk (multiply-adds): below it, reducing the partials costs more than the
# chunk saves.
MIN_CHUNK_WORK = 32_768

# -- dense layers: BLAS or row loops --------------------------------------------------------------
# Inner dimension D from which BLAS beats the fused row loops, measured single-threaded at
# N = 10,000, H in {10, 100, 1000}, float32 and float64 (tools/tune.py depth). The backward
# pass fuses three products per pass over dy, so its loops hold out longer.
FORWARD_BLAS_MIN_DEPTH = 4
BACKWARD_BLAS_MIN_DEPTH = 12
# Output rows per BLAS call: enough for an efficient GEMM, few enough that the block's output
# (about BLAS_BLOCK_ELEMENTS values, 256 KiB of float64) is still in L2 when the bias and ReLU
# pass over it (tools/tune.py dense, D = 64: 1.2-1.4x faster than one GEMM over all rows).
BLAS_BLOCK_ELEMENTS = 32_768
BLAS_BLOCK_MIN_ROWS = 32
BLAS_BLOCK_MAX_ROWS = 512

# -- fused training (mlp_train) -----------------------------------------------------------------
# Records per inner iteration of the D = O = 1 kernel (the seed's network, every H): each weight
# is loaded once for all of them and the hidden pre-activation is recomputed in the backward
# loop instead of stored. tools/tune.py narrow, 2 threads, load 3 (busy machine), ns per step /
# (N x H), one record at a time / 4 / 8 records:
#   float64 700x10 7.6 / 2.0 / 1.7, 10000x100 1.9 / 0.78 / 0.67, 10000x1000 2.2 / 0.69 / 0.68,
#           100000x1000 2.1 / 0.75 / 0.72;
#   float32 700x10 7.5 / 1.6 / 1.6, 10000x100 0.82 / 0.64 / 0.33, 10000x1000 0.69 / 0.39 / 0.42,
#           100000x1000 0.42 / 0.24 / 0.23.
# 8 is as fast as 4 or faster (0.5-1.06x of its time) in every cell: 8, and the 4-record kernel
# was removed (training._chunk_grad_r8 is unrolled by hand for exactly this many records).
NARROW_RECORDS = 8
# D = O = 1 with few hidden units: loops along H of length 10 vectorise badly, so up to
# NARROW_BLOCK_MAX_HIDDEN hidden units the records go in blocks of NARROW_BLOCK_RECORDS, every
# inner loop running across a block's records (training._narrow_block; LLVM picks 256-bit
# vectors here, 4 float64 or 8 float32 lanes). tools/tune.py narrow --narrow-serial (plan()'s
# chunks one after another, CPU seconds of the one thread: the other agent's fits kept both
# cores busy, load 2.6-2.8, and stalled every parallel call), ns per step / (N x H), 8 records
# along H -> record blocks:
#   float64 N = 1e6: H=4 0.796 -> 0.397, H=10 0.557 -> 0.293, H=16 0.408 -> 0.300, H=32 0.341
#           -> 0.291, H=64 0.314 -> 0.270, H=96 0.319 -> 0.268;
#           N = 700 (the serial seed path): H=4 0.943 -> 0.636, H=10 0.657 -> 0.399, H=32
#           0.341 -> 0.306, H=64 0.330 -> 0.300;
#   float32 N = 1e6: H=4 1.323 -> 0.209, H=10 0.508 -> 0.160, H=16 0.278 -> 0.147, H=32 0.203
#           -> 0.132, H=64 0.165 -> 0.126, H=96 0.154 -> 0.129;
#           N = 700: H=4 1.661 -> 0.527, H=10 0.617 -> 0.296, H=32 0.246 -> 0.187, H=64 0.185
#           -> 0.164.
# Over N in {700, 1e4, 1e5, 1e6} and H in {4, 8, 10, 16, 24, 32, 48, 64} the blocks take
# 0.16-0.97 of the time in all 64 cells. Above 64 they lose where the chunks are short (N =
# 700, H = 96-1024: 1.09-2.35x, 4-16 chunks of 44-175 records), tie at N = 1e4 (0.97-1.09x,
# float32 H >= 256 the slower) and win by 6-16% at N >= 1e5: NARROW_BLOCK_MAX_HIDDEN = 64,
# the H up to which they won in every cell (a rule on the chunk length could take the larger
# H at large N: NARROW_BLOCK_MIN_CHUNK_RECORDS below). The seed
# through the public mlp_train (700 x 10, one step per call): float64 9.34 -> 7.49 us, float32
# 9.08 -> 6.79 us. Block length (one gradient pass, two runs, ns / (N x H), 64 / 128 / 256 /
# 512 / 1024 records): float64 700 x 10 0.68 / 0.63 / 0.60 / 0.57 / 0.64, 1e5 x 64 0.38 / 0.31
# / 0.28 / 0.28 / 0.34, 1e6 x 10 0.38 / 0.34 / 0.39 / 0.40 / 0.39 then - / 0.42 / 0.42 / 0.43 /
# 0.35; float32 1e4 x 10 0.29 / 0.25 / 0.23 / 0.22 / 0.22, 1e5 x 32 0.21 / 0.20 / 0.17 / 0.15
# / 0.18, 1e6 x 10 0.26 / 0.22 / 0.18 / 0.20 / 0.17 then - / 0.21 / 0.19 / 0.21 / 0.18. 64 is
# the slowest or near it everywhere; 256 to 1024 differ by less than the noise of runs beside
# the other agent's fits (the same cell moved 15-20% between runs). 512: three arrays of 4 KiB
# (float64) per chunk, in L1 with the block's x and y.
NARROW_BLOCK_RECORDS = 512
NARROW_BLOCK_MAX_HIDDEN = 64
# ...and above that H once a chunk has this many records: on the quiet machine (tools/tune.py
# narrow, 2 threads, load 0.6-0.9, 16 chunks, ns per step / (N x H), block/r8) the blocks won
# at N = 1e5 (6,250 records a chunk) for H = 96, 128, 256, 1000: float64 0.91, 0.92, 0.92,
# 0.94, float32 0.87, 0.88, 0.93, 0.94 (and at 1e6, H = 96: 0.98 / 0.82), and tied or lost at
# N = 1e4 (625 a chunk): float64 1.04, 1.10, 1.04, 0.99, float32 1.03, 1.06, 1.07, 1.08.
NARROW_BLOCK_MIN_CHUNK_RECORDS = 4096
# Per-chunk buffers are padded to multiples of this many elements (64 bytes of float64) so that
# threads updating their own partials never write to one cache line (false sharing measured
# 1.3x slower at 100,000 x 10).
CACHE_LINE_ELEMENTS = 16
# The BLOCKED kind (wide D and O): records go through BLAS in row blocks of about this many
# hidden values (1 MiB of float64: the block and its gradient stay in L2 while the elementwise
# work runs), one block of MLP_BLOCK_MIN_ROWS to MLP_BLOCK_MAX_ROWS rows at a time.
MLP_BLOCK_ELEMENTS = 131_072
MLP_BLOCK_MIN_ROWS = 32
MLP_BLOCK_MAX_ROWS = 1024
# Per-record loops or BLAS blocks (tools/tune.py blocked, 2 threads, load 1-3.7, N = 10,000,
# per-record ms / blocked ms): BLAS from D + O >= MLP_BLAS_MIN_WIDTH with H >= MLP_BLAS_MIN_HIDDEN.
#   D + O = 3 (2, 1): blocked 0.28-0.91x of per-record speed (float64), 0.40-1.25x (float32);
#   D + O = 6, 9: mixed, 0.54-1.8x; D + O = 20 (16, 4): 1.36-1.78x float64, 2.3-3.2x float32
#   (one float32 outlier at 0.39x under load 3.7); D + O = 74 (64, 10): 2.0-2.8x float64
#   (29 GFLOP/s at 100,000 x 1024), 1.7-4.4x float32 (48-60 GFLOP/s).
MLP_BLAS_MIN_WIDTH = 16
MLP_BLAS_MIN_HIDDEN = 32
# mlp_train_minibatch runs a batch's record chunks in parallel from this many multiply-adds
# per batch (rows x 3 x sum of the layers' D x H): below it one serial chunk. A parallel region
# per batch costs its start-up on every one of thousands of batches; measured (load 6-7 on the
# 2 cores, us per batch, serial / parallel): 10-100-1 batch 64: 147 / 185, batch 1024: 2951 /
# 2978; 64-256-10 batch 64: 1307 / 1935, batch 4096: 87,000 / 90,000. Never faster under load,
# so the threshold sits at a batch taking about a millisecond alone.
MINIBATCH_PARALLEL_MIN_WORK = 10_000_000
# One hidden layer: each gathered batch goes through the per-record (WIDE) or the BLAS-block
# (BLOCKED) chunk kernel of mlp_train; BLOCKED from D + O >= MINIBATCH_BLAS_MIN_WIDTH with
# H >= MINIBATCH_BLAS_MIN_HIDDEN. tools/tune.py minibatch, load 2-3 (busy 2 cores), N = 20,000,
# batches of 16 / 64 / 256 rows, H in {16, 32, 100, 256}; per-record time / blocked time:
#   D + O = 3 (2, 1): float64 0.40-2.1, float32 0.78-1.39 (mostly < 1): per-record;
#   D + O = 5 (4, 1): float64 0.79-1.9, float32 0.55-1.6: mixed, per-record;
#   D + O = 11 (10, 1): 1.02-3.0 in 23 of 24 cells (float32 H = 256 batch 64: 0.62);
#   D + O = 20 (16, 4), 74 (64, 10): 1.01-7.2 in 47 of 48 cells (float64 D = 64, H = 256,
#   batch 256, parallel chunks under load: 0.40). The problem (D = 10, H = 100, O = 1,
#   batch 64): 17.7 / 12.3 us per batch in float64, 11.3 / 6.8 in float32. A third kernel
#   (BLAS for the input layer only, the output layer in row loops along H) lost to BLOCKED in
#   most cells and was removed.
MINIBATCH_BLAS_MIN_WIDTH = 8
MINIBATCH_BLAS_MIN_HIDDEN = 16
# Two or more hidden layers: every layer's products through BLAS on the gathered batch from
# this many multiply-adds per batch (rows x 3 x sum of the layers' D x H; every width >= 1),
# below it row loops. tools/tune.py minibatch, load 1.4-1.6, us per batch, loops / BLAS:
#   10-100-50-1 batch 64: float64 164 / 51, float32 122 / 28; 10-64-64-3 batch 64: 135 / 43,
#   89 / 21; 2-16-16-1 batch 64: 16.8 / 6.3, 16.9 / 4.8; float64 2-16-16-1 batch 16 (14,592
#   multiply-adds): 4.7 / 3.0, batch 4 (3,648): 2.0 / 2.3; 3-8-8-2 batch 64 (19,968): 9.6 /
#   4.9, batch 8 (2,496): 2.1 / 2.2, batch 1: 1.3 / 1.9; 1-4-4-1 batch 16 (1,152): 2.0 / 2.4.
MINIBATCH_DEEP_BLAS_MIN_WORK = 4096

# -- sharing the machine (scheduling.py) --------------------------------------------------------
# A parallel call this many times slower than the best one of its kernel and shape was stalled
# by the machine (a descheduled pool thread costs a whole time slice: 10-140x measured), not by
# its work (run-to-run noise of an idle machine stays under 1.5x).
STALL_FACTOR = 3.0
# ... or more than this times the best serial time of the same kernel and shape (known once a
# back-off or a probe has run it serially). Measured here, idle and beside a busy process, with
# the kernels of the sharing sweep (medians per call / serial; issue 10's closing note): beside
# one busy process, margin inf (no serial rule) left sgd_update at 10,000 x 100 12.9x its
# serial time; 1.1 and 1.5 gave 0.96-1.06. On an idle
# machine 1.1 sent relu_forward(out=) at 1e6 float32 serial part of the time (0.87 of serial
# instead of 0.53: a fresh page or a cold cache makes one parallel call slower than the best
# serial call seen); 1.5 kept every idle kernel at 0.52-0.56.
SERIAL_MARGIN = 1.5
# A parallel call this many times slower than its best makes the next call of its shape run
# serially once, so that the serial time is known (idle noise stays under this).
SUSPECT_FACTOR = 1.5
# After a stall, kernels run serially for this long; each stall in a row doubles it. 50 ms is
# about the time OpenBLAS's workers spin after a numpy BLAS call; 2 s bounds what an idle
# machine can lose after a passing burst of load.
BACKOFF_MIN_S = 0.05
BACKOFF_MAX_S = 2.0
# Timed shapes remembered (the table is cleared when full).
TIMED_KEYS = 4096
