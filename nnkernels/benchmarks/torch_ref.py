"""PyTorch (CPU) as a comparator row: the library's kernel signatures, written the way a PyTorch
user would, on zero-copy tensor views of the same numpy arrays the other backends get.

Only imported when the torch row runs; ``torch`` is an optional extra.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 (the usual spelling)


class TorchBackend:
    """Same methods and signatures as ``nnkernels.Backend`` (the subset the suite times).

    numpy arguments are viewed as tensors through ``torch.from_numpy`` once per array (memoised
    by identity, the array kept alive), so a timed call pays torch's dispatch, not a conversion.
    """

    name = "torch"

    def __init__(self) -> None:
        self._views: dict[int, tuple[np.ndarray, torch.Tensor]] = {}

    def forget(self) -> None:
        """Drop the memoised tensor views (and with them the arrays): the cell is done."""
        self._views.clear()

    def _t(self, a: np.ndarray | None) -> torch.Tensor | None:
        if a is None:
            return None
        hit = self._views.get(id(a))
        if hit is None or hit[0] is not a:
            hit = self._views[id(a)] = (a, torch.from_numpy(a))
        return hit[1]

    def warmup(self) -> None:
        """Nothing to compile."""

    # -- dense ---------------------------------------------------------------------------

    def linear_forward(self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, *,
                       out: np.ndarray) -> np.ndarray:
        """out = x @ w + b."""
        if b is None:
            torch.mm(self._t(x), self._t(w), out=self._t(out))
        else:
            torch.addmm(self._t(b), self._t(x), self._t(w), out=self._t(out))
        return out

    def linear_relu_forward(self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, *,
                            out: np.ndarray) -> np.ndarray:
        """out = relu(x @ w + b) (addmm, then an in-place ReLU)."""
        self.linear_forward(x, w, b, out=out)
        torch.relu_(self._t(out))
        return out

    def linear_backward(self, x: np.ndarray, w: np.ndarray, dy: np.ndarray, *,
                        need_dx: bool = True, dx_out: np.ndarray | None = None,
                        dw_out: np.ndarray, db_out: np.ndarray
                        ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
        """dx = dy @ w.T; dw += x.T @ dy; db += dy.sum(0) (the accumulating form)."""
        tx, tw, tdy = self._t(x), self._t(w), self._t(dy)
        if need_dx:
            torch.mm(tdy, tw.t(), out=self._t(dx_out))
        self._t(dw_out).addmm_(tx.t(), tdy)
        self._t(db_out).add_(tdy.sum(0))
        return dx_out, dw_out, db_out

    # -- elementwise ---------------------------------------------------------------------

    def relu_forward(self, u: np.ndarray, *, out: np.ndarray) -> np.ndarray:
        """out = max(u, 0)."""
        torch.clamp(self._t(u), min=0, out=self._t(out))
        return out

    def relu_backward(self, da: np.ndarray, y: np.ndarray, *, out: np.ndarray | None = None
                      ) -> torch.Tensor:
        """da where y > 0 else 0: autograd's own ReLU-backward kernel (it has no ``out=``; the
        result is returned as a new tensor rather than paying an extra copy into ``out``)."""
        return torch.ops.aten.threshold_backward(self._t(da), self._t(y), 0)

    def mse_loss(self, pred: np.ndarray, target: np.ndarray, reduction: str = "mean", *,
                 out: np.ndarray) -> tuple[float, np.ndarray]:
        """(0.5 * mean (or sum) of (pred - target)**2, its gradient in ``out``)."""
        d = self._t(out)
        torch.sub(self._t(pred), self._t(target), out=d)
        flat = d.view(-1)
        scale = 1.0 / max(flat.numel(), 1) if reduction == "mean" else 1.0
        loss = 0.5 * scale * float(torch.dot(flat, flat))
        d.mul_(scale)
        return loss, out

    def sgd_update(self, param: np.ndarray, grad: np.ndarray, lr: float) -> None:
        """param -= lr * grad, in place."""
        self._t(param).add_(self._t(grad), alpha=-lr)

    # -- training and convolution ----------------------------------------------------------

    def mlp_train(self, x: np.ndarray, y: np.ndarray, params: list[np.ndarray], lr: float,
                  n_iter: int) -> np.ndarray:
        """n_iter full-batch SGD steps of relu(x @ w1 + b1) @ w2 + b2 with autograd."""
        tx, ty = self._t(x), self._t(y)
        tp = [self._t(p).requires_grad_(True) for p in params]
        losses = np.empty(n_iter)
        for i in range(n_iter):
            pred = torch.addmm(tp[3], torch.relu(torch.addmm(tp[1], tx, tp[0])), tp[2])
            loss = 0.5 * F.mse_loss(pred, ty)
            grads = torch.autograd.grad(loss, tp)
            with torch.no_grad():
                for p, g in zip(tp, grads, strict=True):
                    p.sub_(g, alpha=lr)
            losses[i] = loss.item()
        return losses

    def conv2d_forward(self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None,
                       stride: int = 1, padding: int = 0, *, out: np.ndarray | None = None
                       ) -> torch.Tensor:
        """conv2d(x, w) + b (cross-correlation, NCHW) as a new tensor (F.conv2d has no ``out=``)."""
        return F.conv2d(self._t(x), self._t(w), self._t(b), stride, padding)

    def conv2d_backward(self, x: np.ndarray, w: np.ndarray, dy: np.ndarray, stride: int = 1,
                        padding: int = 0) -> tuple[Any, Any, Any]:
        """(dx, dw, db) of conv2d for the upstream gradient dy (autograd's kernels)."""
        tx = self._t(x).detach().requires_grad_(True)
        tw = self._t(w).detach().requires_grad_(True)
        tb = torch.zeros(w.shape[0], dtype=tw.dtype, requires_grad=True)
        y = F.conv2d(tx, tw, tb, stride, padding)
        return torch.autograd.grad(y, (tx, tw, tb), self._t(dy))


def set_threads(n: int) -> dict[str, Any]:
    """Use ``n`` intra-op threads; return torch's version and thread counts for the record."""
    torch.set_num_threads(n)
    return {"torch": torch.__version__, "torch_num_threads": torch.get_num_threads(),
            "torch_parallel_info": torch.__config__.parallel_info().splitlines()[:6]}
