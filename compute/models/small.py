"""A small causal 3-D convolutional network with seeded random weights (the second model).

It exists to show that any ``torch.nn.Module`` can be analysed like the FNN: it has the same frame-by-frame
API (``reset()``, then ``forward(frame)`` once per frame with the temporal state kept inside), and its
modules are read through the same registry entries (dotted path + hook + transform).

Layers (input: one grey frame [N, 1, 144, 256] in [0, 1]):

| path | operation | output per sample |
|---|---|---|
| stem, act0 | 5x5 conv, stride 4; GELU | 48 x 36 x 64 |
| conv1, act1 | causal 3x3x3 conv (3 frames), stride 2; GELU | 48 x 18 x 32 |
| conv2, act2 | causal 3x3x3 conv; GELU | 48 x 18 x 32 |
| pool | 2x2 average pool | 48 x 9 x 16 |
| head | 3x4 average pool, linear, softplus | n_units rates |
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


class CausalConv3d(nn.Module):
    """A 3-D convolution over (time, y, x) applied one frame at a time.

    It keeps the last ``kernel_time - 1`` input frames (zeros after ``reset``), so the output at frame t
    depends on frames t - kernel_time + 1 .. t only.
    """

    def __init__(self, in_channels: int, out_channels: int, *, kernel_time: int = 3, kernel_space: int = 3,
                 stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv3d(in_channels, out_channels, (kernel_time, kernel_space, kernel_space),
                              stride=(1, stride, stride), padding=(0, kernel_space // 2, kernel_space // 2))
        self.kernel_time, self.stride, self.padding = kernel_time, stride, kernel_space // 2
        self._past: list[torch.Tensor] = []

    def reset(self) -> None:
        self._past = []

    def forward(self, frame: torch.Tensor) -> torch.Tensor:
        """frame [N, C, H, W] -> [N, O, H', W']."""
        past = self._past or [torch.zeros_like(frame)] * (self.kernel_time - 1)
        window = past + [frame]
        self._past = window[1:]
        # One output frame of the 3-D conv is a 2-D conv over (channel, time) stacked as channels, which
        # is several times faster on CPU than Conv3d on a 3-frame clip.
        weight = self.conv.weight
        stacked = torch.stack(window, dim=2).flatten(1, 2)
        return F.conv2d(stacked, weight.flatten(1, 2), self.conv.bias, stride=self.stride, padding=self.padding)


class _Head(nn.Module):
    def __init__(self, channels: int, n_units: int) -> None:
        super().__init__()
        self.linear = nn.Linear(channels * 12, n_units)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        pooled = F.adaptive_avg_pool2d(features, (3, 4)).flatten(1)
        return F.softplus(self.linear(pooled))


class SmallConv3d(nn.Module):
    """Causal 3-D CNN: stem -> conv1 -> conv2 -> pool -> head (see the module docstring)."""

    def __init__(self, *, n_units: int = 2500, channels: tuple[int, int, int] = (48, 48, 48)) -> None:
        super().__init__()
        c0, c1, c2 = channels
        self.stem = nn.Conv2d(1, c0, 5, stride=4, padding=2)
        self.act0 = nn.GELU()
        self.conv1 = CausalConv3d(c0, c1, stride=2)
        self.act1 = nn.GELU()
        self.conv2 = CausalConv3d(c1, c2)
        self.act2 = nn.GELU()
        self.pool = nn.AvgPool2d(2)
        self.head = _Head(c2, n_units)

    def reset(self) -> None:
        """Clear the temporal buffers (call before every sequence)."""
        self.conv1.reset()
        self.conv2.reset()

    def forward(self, stimulus: torch.Tensor) -> torch.Tensor:
        """One frame: stimulus [N, 1, H, W] in [0, 1] -> rates [N, n_units]."""
        x = self.act0(self.stem(stimulus - 0.5))
        x = self.act1(self.conv1(x))
        x = self.act2(self.conv2(x))
        return self.head(self.pool(x))


def build_small(*, n_units: int = 2500, channels: tuple[int, int, int] = (48, 48, 48), seed: int = 0
                ) -> SmallConv3d:
    """A ``SmallConv3d`` with seeded random weights, in eval mode.

    Weights are He-normal and then centred per output channel (so a uniform input drives no channel and
    no channel is silenced by the positive mean of its GELU inputs); biases are N(0.3, 0.1^2), so every
    unit has some baseline activity. Seeding uses a private ``torch.Generator``; the global torch RNG is
    untouched.
    """
    model = SmallConv3d(n_units=n_units, channels=channels)
    generator = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("bias"):
                param.copy_(0.3 + 0.1 * torch.randn(param.shape, generator=generator))
            else:
                fan_in = math.prod(param.shape[1:])
                weight = torch.randn(param.shape, generator=generator) * math.sqrt(2.0 / fan_in)
                param.copy_(weight - weight.flatten(1).mean(dim=1).reshape((-1,) + (1,) * (weight.ndim - 1)))
    return model.eval()
