"""conv2d forward and forward+backward at the convolution issue's shapes (float32)."""

from __future__ import annotations

from typing import Any

from .cases import ConvData


def test_conv2d_forward(timed: Any, backend: Any, conv_data: ConvData) -> None:
    d, s = conv_data, conv_data.shape
    timed(lambda: backend.conv2d_forward(d.x, d.w, d.b, s.stride, s.pad, out=d.out),
          kernel="conv2d_forward", info=s.info(), group=s.group("conv2d_forward"))


def test_conv2d_forward_backward(timed: Any, backend: Any, conv_data: ConvData) -> None:
    d, s = conv_data, conv_data.shape

    def step() -> Any:
        backend.conv2d_forward(d.x, d.w, d.b, s.stride, s.pad, out=d.out)
        return backend.conv2d_backward(d.x, d.w, d.dy, s.stride, s.pad)

    timed(step, kernel="conv2d_forward_backward", info=s.info(),
          group=s.group("conv2d_forward_backward"))
