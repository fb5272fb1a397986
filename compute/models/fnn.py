"""The FNN digital twin of mouse visual cortex (Wang et al., Nature 2025), independent plain-torch version.

Written from ``shared/reference/fnn/ARCHITECTURE.md`` (METHODS.md section 2.1). The module tree and the
parameter names equal those of the public checkpoint, so ``load_state_dict(strict=True)`` takes the
official weights and forward hooks work on the dotted paths the seed study used, e.g.
``core.feedforward.blocks.2.convs.0`` (a pre-activation conv output) or ``core.recurrent.out`` (its
forward pre-hook input is the CvT-LSTM hidden state h, its output is RecOut).

Layout conventions
------------------
- One call = one frame. Temporal convolutions keep their last two inputs and the two LSTMs keep (h, c)
  between calls, until ``reset()``.
- The 4 ensemble members ("streams") run together as grouped convolutions; every core tensor has
  ``4 * C`` channels, stream-major: channels ``[s * C, (s + 1) * C)`` belong to stream s.
- On CPU the feedforward core keeps its maps channels-last (NHWC memory, same logical (N, C, H, W)
  shape): oneDNN's grouped 3x3 kernels run faster on it (``benchmarks/bench_fnn.py`` measures the
  forward). The values agree with the NCHW path to float32 rounding.
- Effective (standardised) weights are computed once and reused while no gradient is recorded
  (``torch.inference_mode`` / ``torch.no_grad``); they are recomputed whenever a parameter changes
  (load_state_dict, an optimiser step, an in-place edit) and on every call when gradients are on.
"""

from __future__ import annotations

import math
import warnings
from itertools import chain
from typing import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

N_STREAMS = 4
SCALE_GELU = 1.7015043497085571
RETINA_SHAPE = (128, 192)
CORE_SHAPE = (16, 24)  # height, width of the recurrent core and of the readout feature map
CORE_CHANNELS = 128  # RecOut channels per stream
HIDDEN_CHANNELS = 256  # CvT-LSTM h channels per stream
N_BEHAVIOUR = 2  # perspective (pupil x, y) and modulation (pupil radius, treadmill) inputs per frame
_EPS = 1e-5


def scaled_gelu(x: torch.Tensor) -> torch.Tensor:
    """The FNN nonlinearity: exact-erf GELU times 1.7015043497085571 (variance preserving)."""
    return F.gelu(x).mul_(SCALE_GELU)


def _channels_last(x: torch.Tensor) -> bool:
    return x.ndim == 4 and x.device.type == "cpu" and x.is_contiguous(memory_format=torch.channels_last)


def _cat_groups(tensors: Sequence[torch.Tensor], groups: int) -> torch.Tensor:
    """Group-wise channel concatenation: A_0, B_0, A_1, B_1, ... for ``groups`` equal channel groups.

    tensors : each of shape (N, groups * C_i, ...) with the same trailing dims; returns (N, groups * sum C_i, ...),
    channels-last when the inputs are. One tensor is returned as it is (no copy).
    """
    if len(tensors) == 1:
        return tensors[0]
    n, rest = tensors[0].shape[0], tensors[0].shape[2:]
    if all(_channels_last(t) for t in tensors):
        nhwc = [t.permute(0, 2, 3, 1).reshape(n, *rest, groups, -1) for t in tensors]
        return torch.cat(nhwc, dim=4).reshape(n, *rest, -1).permute(0, 3, 1, 2)
    return torch.cat([t.reshape(n, groups, -1, *rest) for t in tensors], dim=2).reshape(n, -1, *rest)


def _avg_pool_2x2(x: torch.Tensor) -> torch.Tensor:
    """2x2 average pooling of (N, C, H, W) with even H, W (as F.avg_pool2d(x, 2), faster on CPU for NCHW)."""
    if _channels_last(x):
        return F.avg_pool2d(x, 2)
    n, c, height, width = x.shape
    rows = x.reshape(n, c, height // 2, 2, width)
    rows = (rows[:, :, :, 0] + rows[:, :, :, 1]).reshape(n, c, height // 2, width // 2, 2)
    return (rows[..., 0] + rows[..., 1]).mul_(0.25)


def _rotation(angles: torch.Tensor) -> torch.Tensor:
    """Rotation matrices Rz(c) @ Ry(b) @ Rx(a) for angles (a, b, c) in radians.

    angles : (N, 3); returns (N, 3, 3).
    """
    cos, sin = torch.cos(angles), torch.sin(angles)
    one, zero = torch.ones_like(angles[:, 0]), torch.zeros_like(angles[:, 0])

    def matrix(*rows):
        return torch.stack([torch.stack(row, dim=-1) for row in rows], dim=-2)

    rx = matrix((one, zero, zero), (zero, cos[:, 0], -sin[:, 0]), (zero, sin[:, 0], cos[:, 0]))
    ry = matrix((cos[:, 1], zero, sin[:, 1]), (zero, one, zero), (-sin[:, 1], zero, cos[:, 1]))
    rz = matrix((cos[:, 2], -sin[:, 2], zero), (sin[:, 2], cos[:, 2], zero), (zero, zero, one))
    return rz @ ry @ rx


def _version_key(tensors: Iterable[torch.Tensor]) -> tuple:
    return tuple((t.data_ptr(), 0 if t.is_inference() else t._version) for t in tensors)


# ---------------------------------------------------------------------------------------------------------
# Leaves: the learned linear map ("Conv" element) and the inter-group map
# ---------------------------------------------------------------------------------------------------------


class _Leaf(nn.Module):
    """A module whose effective tensors derive from its parameters; caches them while no grad is recorded."""

    def __init__(self) -> None:
        super().__init__()
        self._cache: tuple | None = None

    def _effective(self) -> tuple[torch.Tensor | None, ...]:
        raise NotImplementedError

    def reset_parameters(self, generator: torch.Generator) -> None:
        raise NotImplementedError

    def effective(self) -> tuple[torch.Tensor | None, ...]:
        if torch.is_grad_enabled():
            return self._effective()
        key = _version_key(chain(self.parameters(), self.buffers()))
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, self._effective())
        return self._cache[1]

    def clear_cache(self) -> None:
        self._cache = None


class _StreamConv(_Leaf):
    """One learned linear map per stream: W [O, I/in_groups, T, k, k], gains/biases [out_groups, O/out_groups].

    Standardised (default): W_eff = gain * (W - mean) / sqrt(var * fan_in + 1e-5), per output channel
    over (in, T, k, k). ``out_groups`` only shapes gains and biases; connectivity is set by ``in_groups``.
    Input (N, S*I, H, W) -> output (N, S*O, H', W'); with ``shared_input`` the input has I channels seen by
    every stream (the stimulus, the behaviour). Pointwise maps (T = k = stride = 1) also take 2-D input
    (N, S*I) -> (N, S*O) and run as batched matrix products.
    Temporal maps (T > 1) are causal: a ring buffer keeps the last T inputs (zeros after reset); kernel
    index 0 multiplies frame t - (T - 1), index T - 1 the current frame.
    """

    def __init__(self, in_channels: int, out_channels: int, *, streams: int = N_STREAMS, in_groups: int = 1,
                 out_groups: int = 1, temporal: int = 1, spatial: int = 1, stride: int = 1,
                 replicate: bool = False, gain: float | None = 1.0, bias: float | None = 0.0,
                 standardise: bool = True, shared_input: bool = False, zero_init: bool = False) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.streams = in_channels, out_channels, streams
        self.in_groups, self.out_groups = in_groups, out_groups
        self.temporal, self.spatial, self.stride = temporal, spatial, stride
        self.padding = (spatial - stride) // 2
        self.replicate, self.standardise, self.shared_input = replicate, standardise, shared_input
        self.init_gain, self.init_bias, self.zero_init = gain, bias, zero_init
        shape = (out_channels, in_channels // in_groups, temporal, spatial, spatial)
        self.fan_in = math.prod(shape[1:])
        self.weights = nn.ParameterList([nn.Parameter(torch.empty(shape)) for _ in range(streams)])
        side = (out_groups, out_channels // out_groups)
        if standardise and gain is not None:
            self.gains = nn.ParameterList([nn.Parameter(torch.empty(side)) for _ in range(streams)])
        if bias is not None:
            self.biases = nn.ParameterList([nn.Parameter(torch.empty(side)) for _ in range(streams)])
        self._buffer: torch.Tensor | None = None
        self._step = 0

    def reset_parameters(self, generator: torch.Generator) -> None:
        bound = math.sqrt((1.0 if self.standardise else 3.0) / self.fan_in)
        with torch.no_grad():
            for w in self.weights:
                if self.zero_init:
                    w.zero_()
                else:
                    w.uniform_(-bound, bound, generator=generator)
            for g in getattr(self, "gains", ()):
                g.fill_(self.init_gain)
            for b in getattr(self, "biases", ()):
                b.fill_(self.init_bias)

    @property
    def pointwise(self) -> bool:
        return self.temporal == self.spatial == self.stride == 1

    @property
    def groups(self) -> int:
        return self.in_groups if self.shared_input else self.in_groups * self.streams

    def _effective(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        weights = []
        for s, w in enumerate(self.weights):
            if self.standardise:
                var, mean = torch.var_mean(w, dim=(1, 2, 3, 4), keepdim=True, correction=0)
                scale = torch.rsqrt(var * self.fan_in + _EPS)
                if hasattr(self, "gains"):
                    scale = scale * self.gains[s].reshape(-1, 1, 1, 1, 1)
                w = (w - mean) * scale
            weights.append(w)
        weight = torch.cat(weights)  # (S*O, I/g, T, k, k)
        bias = torch.cat([b.flatten() for b in self.biases]) if hasattr(self, "biases") else None
        if self.pointwise:  # a batched matmul per group: (groups, O/g, I/g) and (groups, O/g, 1)
            weight = weight.reshape(self.groups, -1, weight.shape[1])
            return weight, None if bias is None else bias.reshape(self.groups, -1, 1)
        # One (S*O, T * I/g, k, k) kernel per ring-buffer slot of the current frame (input channel j * I/g + c
        # of each group is channel c of slot j); the tap for slot j is the one for that frame's age.
        slots = torch.arange(self.temporal, device=weight.device)
        age = (slots[:, None] - slots[None, :]) % self.temporal  # [current slot, slot]
        kernels = weight[:, :, self.temporal - 1 - age].permute(2, 0, 3, 1, 4, 5).flatten(2, 3)
        if kernels.device.type == "cpu":  # channels-last like the ring buffer: no weight reorder per call
            kernels = kernels.permute(0, 1, 3, 4, 2).contiguous().permute(0, 1, 4, 2, 3)
        return kernels, bias

    def clear_state(self) -> None:
        self._buffer, self._step = None, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight, bias = self.effective()
        n = x.shape[0]
        if self.pointwise:
            if _channels_last(x):  # a 1x1 convolution keeps the layout (a matmul would copy to NCHW)
                return F.conv2d(x, weight.reshape(-1, weight.shape[2], 1, 1),
                                None if bias is None else bias.flatten(), groups=self.groups)
            rest = x.shape[2:]
            y = torch.matmul(weight, x.reshape(n, self.groups, -1, rest.numel()))
            if bias is not None:
                y += bias
            return y.reshape(n, -1, *rest)
        padding = self.padding
        if self.replicate and padding:
            x, padding = F.pad(x, [padding] * 4, mode="replicate"), 0
        if self.temporal == 1:
            return F.conv2d(x, weight[0], bias, stride=self.stride, padding=padding, groups=self.groups)
        groups, height, width = self.groups, x.shape[2], x.shape[3]
        if self._buffer is None:  # the last T frames, (N, groups, T, C/groups, H, W); zeros before the first
            shape = (n, groups, self.temporal, x.shape[1] // groups, height, width)
            if _channels_last(x):  # memory (N, H, W, groups, T, C/groups): the flattened buffer is NHWC too
                self._buffer = x.new_zeros(shape[:1] + shape[4:] + shape[1:4]).permute(0, 3, 4, 5, 1, 2)
            else:
                self._buffer = x.new_zeros(shape)
        elif torch.is_grad_enabled():  # keep earlier frames' graphs intact
            self._buffer = self._buffer.clone()
        slot = self._step % self.temporal
        self._buffer[:, :, slot] = x.reshape(n, groups, -1, height, width)
        self._step += 1
        return F.conv2d(self._buffer.flatten(1, 3), weight[slot], bias, stride=self.stride, padding=padding,
                        groups=groups)


class _InterGroup(_Leaf):
    """1x1 map in which output group o reads only the other groups of the input (zero diagonal blocks).

    Stored W [G, G-1, Co, Ci] (output group, source slot, out channel, in channel); slot j is source group
    j if j < o else j + 1. Standardised per (o, out channel) over (slot, in channel), fan_in = (G-1) * Ci,
    times gains [G, Co]. Input (N, S*G*Ci, H, W) -> (N, S*G*Co, H, W).
    """

    def __init__(self, in_channels: int, out_channels: int, groups: int, *, streams: int = N_STREAMS,
                 gain: float = 1.0) -> None:
        super().__init__()
        self.groups, self.streams, self.init_gain = groups, streams, gain
        self.group_in, self.group_out = in_channels // groups, out_channels // groups
        self.fan_in = (groups - 1) * self.group_in
        shape = (groups, groups - 1, self.group_out, self.group_in)
        # Both buffers belong to the public state dict; ``mask`` selects the off-diagonal blocks.
        self.register_buffer("mask", ~torch.eye(groups, dtype=torch.bool)[:, :, None, None])
        self.register_buffer("zero", torch.zeros(groups, groups, self.group_out, self.group_in))
        self.weights = nn.ParameterList([nn.Parameter(torch.empty(shape)) for _ in range(streams)])
        self.gains = nn.ParameterList([nn.Parameter(torch.empty(groups, self.group_out))
                                       for _ in range(streams)])

    def reset_parameters(self, generator: torch.Generator) -> None:
        with torch.no_grad():
            for w in self.weights:
                w.uniform_(-self.fan_in ** -0.5, self.fan_in ** -0.5, generator=generator)
            for g in self.gains:
                g.fill_(self.init_gain)

    def dense(self, stream: int) -> torch.Tensor:
        """The full map of one stream, (G*Co, G*Ci): row o*Co + a, column i*Ci + b."""
        w = self.weights[stream]
        var, mean = torch.var_mean(w, dim=(1, 3), keepdim=True, correction=0)
        w = (w - mean) * torch.rsqrt(var * self.fan_in + _EPS) * self.gains[stream][:, None, :, None]
        full = self.zero.clone()
        full[self.mask[:, :, 0, 0]] = w.reshape(-1, self.group_out, self.group_in)
        return full.permute(0, 2, 1, 3).reshape(self.groups * self.group_out, self.groups * self.group_in)

    def _effective(self) -> tuple[torch.Tensor]:
        return (torch.stack([self.dense(s) for s in range(self.streams)]),)  # (S, G*Co, G*Ci)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        (weight,) = self.effective()
        n, _, height, width = h.shape
        return torch.matmul(weight, h.reshape(n, self.streams, -1, height * width)).reshape(n, -1, height, width)


# ---------------------------------------------------------------------------------------------------------
# Core: InputDense feedforward + CvT-LSTM recurrent
# ---------------------------------------------------------------------------------------------------------


class _DenseBlock(nn.Module):
    """x0 -> [x0, x1, x2] concatenated group-wise (pre-activations), then average-pooled.

    x1 = convs.0(phi(x0)); x2 = convs.1(phi(x1)) + skips.1(phi(x0)). (N, S*C, H, W) -> (N, S*3C, H/p, W/p).
    """

    def __init__(self, channels: int, groups: int, pool: int, *, layers: int = 2, temporal: int = 3,
                 spatial: int = 3) -> None:
        if pool not in (1, 2):
            raise ValueError(f"pool must be 1 or 2 (the public architecture); got {pool}")
        super().__init__()
        self.groups, self.pool = groups, pool
        self.convs = nn.ModuleList([
            _StreamConv(channels, channels, in_groups=groups, out_groups=groups, temporal=temporal,
                        spatial=spatial, gain=2 ** -0.5 if layer else 1.0)
            for layer in range(layers)])
        self.skips = nn.ModuleList([
            _StreamConv(channels * layer, channels, in_groups=groups, out_groups=groups, gain=2 ** -0.5,
                        bias=None) if layer else None
            for layer in range(layers)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        groups = self.groups * N_STREAMS
        xs, ys = [x], [scaled_gelu(x)]
        for layer, (conv, skip) in enumerate(zip(self.convs, self.skips)):
            x = conv(ys[layer])
            if skip is not None:
                x = x + skip(_cat_groups(ys[:layer], groups))
            xs.append(x)
            if layer + 1 < len(self.convs):
                ys.append(scaled_gelu(x))
        if self.pool == 2:
            xs = [_avg_pool_2x2(x) for x in xs]
        return _cat_groups(xs, groups)


class _InputDense(nn.Module):
    """Retina image (N, 1, 128, 192) -> feedforward features (N, S*128, 16, 24)."""

    def __init__(self, channels: Sequence[int] = (32, 64, 128), groups: Sequence[int] = (1, 2, 4),
                 pools: Sequence[int] = (2, 2, 1), out_channels: int = CORE_CHANNELS) -> None:
        super().__init__()
        inputs, in_channels = [], None
        for c, g in zip(channels, groups):
            if in_channels is None:  # the raw 6x6 stride-2 stem on the (shared) retina image
                inputs.append(_StreamConv(1, c, out_groups=g, spatial=6, stride=2, replicate=True, gain=None,
                                          standardise=False, shared_input=True))
            else:
                inputs.append(_StreamConv(in_channels, c, out_groups=g, replicate=True))
            in_channels = 3 * c
        self.inputs = nn.ModuleList(inputs)
        self.blocks = nn.ModuleList([_DenseBlock(c, g, p) for c, g, p in zip(channels, groups, pools)])
        self.out = _StreamConv(in_channels, out_channels, replicate=True)

    def forward(self, retina: torch.Tensor) -> torch.Tensor:
        x = retina
        for inp, block in zip(self.inputs, self.blocks):
            x = inp(x)
            if x.device.type == "cpu":  # the stem's output; later inputs are channels-last already
                x = x.contiguous(memory_format=torch.channels_last)
            x = block(x)
        return self.out(x).contiguous()  # the recurrent core's pointwise maps run as NCHW matmuls


class _CvtLstm(nn.Module):
    """Convolutional-transformer LSTM. f (N, S*128, 16, 24), m (N, S*16) -> RecOut (N, S*128, 16, 24).

    State h, c: (N, S*256, 16, 24), zero after reset.
    """

    def __init__(self, in_channels: int = CORE_CHANNELS, modulation: int = 16, x_channels: int = 256,
                 hidden: int = HIDDEN_CHANNELS, common: int = 512, groups: int = 8, spatial: int = 3,
                 out_channels: int = CORE_CHANNELS) -> None:
        super().__init__()
        self.groups, self.hidden, self.group_common = groups, hidden, common // groups

        def grouped(i: int, o: int, gain: float | None, bias: float | None, spatial: int = 1) -> _StreamConv:
            return _StreamConv(i, o, in_groups=groups, out_groups=groups, spatial=spatial, gain=gain, bias=bias)

        self.conv = grouped(x_channels + hidden, common, None, None, spatial)
        self.scales = nn.ParameterList([nn.Parameter(torch.ones(groups, self.group_common))
                                        for _ in range(N_STREAMS)])
        gain = 3 ** -0.5  # three summed inputs: h (inter-group), f, m
        self.proj_x = nn.ModuleList([
            _InterGroup(hidden, x_channels, groups, gain=gain),
            _StreamConv(in_channels, x_channels, out_groups=groups, gain=gain, bias=0.0),
            _StreamConv(modulation, x_channels, out_groups=groups, gain=gain, bias=None),
        ])
        self.proj_q = grouped(common, common, None, None)
        self.proj_k = grouped(common, common, None, None)
        self.proj_v = grouped(common, common, None, None)
        self.proj_i = grouped(2 * common, hidden, 1.0, -1.0)
        self.proj_f = grouped(2 * common, hidden, 1.0, 1.0)
        self.proj_g = grouped(2 * common, hidden, 1.0, 0.0)
        self.proj_o = grouped(2 * common, hidden, 1.0, 0.0)
        self.out = _StreamConv(hidden, out_channels)
        self._state: tuple[torch.Tensor, torch.Tensor] | None = None

    def clear_state(self) -> None:
        self._state = None

    def reset_parameters(self, generator: torch.Generator) -> None:
        with torch.no_grad():
            for s in self.scales:
                s.fill_(1.0)

    def _attention(self, z: torch.Tensor) -> torch.Tensor:
        """Cosine attention over all positions within each (stream, group); (N, S*G*Cg, H, W) -> same."""
        n, _, height, width = z.shape
        heads = N_STREAMS * self.groups
        # (N, heads, positions, channels), contiguous for the fused attention kernel
        q, k, v = (proj(z).reshape(n, heads, self.group_common, height * width).transpose(2, 3).contiguous()
                   for proj in (self.proj_q, self.proj_k, self.proj_v))
        scales = torch.stack(list(self.scales)).reshape(1, heads, 1, self.group_common)
        q = q / torch.linalg.vector_norm(q, dim=3, keepdim=True) * scales
        k = k / torch.linalg.vector_norm(k, dim=3, keepdim=True)
        a = F.scaled_dot_product_attention(q, k, v, scale=1.0)
        return a.transpose(2, 3).reshape(n, -1, height, width)

    def forward(self, f: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        groups = N_STREAMS * self.groups
        if self._state is None:
            h = c = f.new_zeros(f.shape[0], N_STREAMS * self.hidden, *f.shape[2:])
        else:
            h, c = self._state
        inter, feed, mod = self.proj_x
        x = torch.tanh(inter(h) + feed(f) + mod(m)[:, :, None, None])
        z = self.conv(_cat_groups([x, h], groups))
        za = _cat_groups([z, self._attention(z)], groups)
        c = torch.sigmoid(self.proj_f(za)) * c + torch.sigmoid(self.proj_i(za)) * torch.tanh(self.proj_g(za))
        h = torch.sigmoid(self.proj_o(za)) * torch.tanh(c)
        self._state = (h, c)
        return self.out(h)


class _Core(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.feedforward = _InputDense()
        self.recurrent = _CvtLstm()

    def forward(self, retina: torch.Tensor, modulation: torch.Tensor) -> torch.Tensor:
        return self.recurrent(self.feedforward(retina), modulation)


# ---------------------------------------------------------------------------------------------------------
# Perspective (monitor -> retina ray tracing), modulation (MLP + LSTM), readout
# ---------------------------------------------------------------------------------------------------------


class _Mlp(nn.Module):
    """``layers`` linear maps each followed by phi (the first raw and zero at initialisation, so the output
    starts independent of the input; the rest standardised), then an optional standardised projection
    without nonlinearity. (N, in) -> (N, S*features) or (N, S*out)."""

    def __init__(self, in_features: int, features: int, layers: int, *, out: int | None = None,
                 streams: int = N_STREAMS) -> None:
        super().__init__()
        widths = [in_features] + [features] * layers + ([out] if out else [])
        self.n_hidden = layers
        self.linears = nn.ModuleList([
            _StreamConv(i, o, streams=streams, gain=None if j == 0 else 1.0, standardise=j > 0,
                        shared_input=j == 0, zero_init=j == 0)
            for j, (i, o) in enumerate(zip(widths[:-1], widths[1:]))])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for j, linear in enumerate(self.linears):
            x = scaled_gelu(linear(x)) if j < self.n_hidden else linear(x)
        return x


class _Monitor(nn.Module):
    """Learned monitor plane: centre c, orientation Rz Ry Rx(angle); *_std are training jitter only."""

    def __init__(self) -> None:
        super().__init__()
        self.center = nn.Parameter(torch.tensor([0.0, 0.0, 0.5]))
        self.angle = nn.Parameter(torch.zeros(3))
        self.center_std = nn.Parameter(torch.full((3,), 0.05))
        self.angle_std = nn.Parameter(torch.full((3,), 0.05))

    def project(self, rays: torch.Tensor) -> torch.Tensor:
        """Plane coordinates (u, v) where rays (N, H, W, 3) from the eye hit the monitor; (N, H, W, 2)."""
        axes = _rotation(self.angle[None])[0]  # columns: X, Y, Z (normal)
        normal = axes[:, 2]
        distance = (rays @ normal).clamp_min(_EPS)
        hit = (normal @ self.center / distance)[..., None] * rays
        return (hit - self.center) @ axes[:, :2]


class _StaticPower(nn.Module):
    """Monitor luminance: pixel ** power * scale + offset (constant buffers)."""

    def __init__(self, power: float = 1.7) -> None:
        super().__init__()
        self.register_buffer("power", torch.tensor(power))
        self.register_buffer("scale", torch.tensor(1.0))
        self.register_buffer("offset", torch.tensor(0.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.pow(self.power) * self.scale + self.offset


class _SigmoidPower(nn.Module):
    """Retina pixel: (x + 1e-5) ** sigmoid(logit) * scale + offset (learned)."""

    def __init__(self) -> None:
        super().__init__()
        self.logit = nn.Parameter(torch.zeros(1))
        self.scale = nn.Parameter(torch.ones(1))
        self.offset = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x + _EPS).pow(torch.sigmoid(self.logit)) * self.scale + self.offset


class _Retina(nn.Module):
    """Equidistant fisheye: a fixed grid (H, W, 3) of unit rays spanning 75 degrees per unit radius."""

    def __init__(self, height: int = RETINA_SHAPE[0], width: int = RETINA_SHAPE[1], degrees: float = 75.0):
        super().__init__()
        scale = (width - 1) / width
        x = torch.linspace(-1, 1, width, dtype=torch.float64) * scale
        y = torch.linspace(-1, 1, height, dtype=torch.float64) * (height / width) * scale
        y, x = torch.meshgrid(y, x, indexing="ij")
        rho = (torch.sqrt(x ** 2 + y ** 2) * math.radians(degrees)).clamp(0, math.pi / 2)
        phi = torch.atan2(y, x)
        grid = torch.stack([rho.sin() * phi.cos(), rho.sin() * phi.sin(), rho.cos()], dim=-1)
        self.register_buffer("grid", grid.float())


class _Perspective(nn.Module):
    """Ray-trace the frame onto the retina. stimulus (N, 1, H, W), perspective (N, 2) -> (N, 1, 128, 192)."""

    def __init__(self) -> None:
        super().__init__()
        self.monitor = _Monitor()
        self.monitor_pixel = _StaticPower()
        self.retina = _Retina()
        self.retina_pixel = _SigmoidPower()
        self.mlp = _Mlp(N_BEHAVIOUR, 16, 3, out=3, streams=1)

    def forward(self, stimulus: torch.Tensor, perspective: torch.Tensor) -> torch.Tensor:
        eye = _rotation(self.mlp(perspective))  # (N, 3, 3)
        rays = torch.einsum("nij,hwj->nhwi", eye, self.retina.grid)
        uv = self.monitor.project(rays)
        height, width = stimulus.shape[2:]
        grid_h, grid_w = self.retina.grid.shape[:2]
        # normalised sampling coordinates; the (n-1)/n factors of the retina grid are part of the model
        gx = uv[..., 0] * (width / (width - 1)) * ((grid_w - 1) / grid_w)
        gy = uv[..., 1] * (width / height) * (width / (width - 1)) * ((grid_h - 1) / grid_h)
        luminance = self.monitor_pixel(stimulus)
        sampled = F.grid_sample(luminance, torch.stack([gx, gy], dim=-1), mode="bilinear", padding_mode="zeros",
                                align_corners=False)
        return self.retina_pixel(sampled)


class _Lstm(nn.Module):
    """Per-stream LSTM on [x ; h]; x (N, S*F) -> h (N, S*F); state zero after reset."""

    def __init__(self, features: int = 16) -> None:
        super().__init__()

        def gate(bias: float) -> _StreamConv:
            return _StreamConv(2 * features, features, bias=bias)

        self.proj_i, self.proj_f, self.proj_g, self.proj_o = gate(-1.0), gate(1.0), gate(0.0), gate(0.0)
        self._state: tuple[torch.Tensor, torch.Tensor] | None = None

    def clear_state(self) -> None:
        self._state = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, c = self._state if self._state is not None else (torch.zeros_like(x), torch.zeros_like(x))
        xh = _cat_groups([x, h], N_STREAMS)
        c = torch.sigmoid(self.proj_f(xh)) * c + torch.sigmoid(self.proj_i(xh)) * torch.tanh(self.proj_g(xh))
        h = torch.sigmoid(self.proj_o(xh)) * torch.tanh(c)
        self._state = (h, c)
        return h


class _Modulation(nn.Module):
    """Behaviour (N, 2) -> modulation features (N, S*16)."""

    def __init__(self) -> None:
        super().__init__()
        self.mlp = _Mlp(N_BEHAVIOUR, 16, 1)
        self.lstm = _Lstm(16)

    def forward(self, behaviour: torch.Tensor) -> torch.Tensor:
        return self.lstm(self.mlp(behaviour))


class _Position(nn.Module):
    """Readout positions: tanh(mu) in (-1, 1)^2 as (x, y); sigma is used only in training."""

    def __init__(self, n_units: int) -> None:
        super().__init__()
        self.mu = nn.Parameter(torch.zeros(n_units, 2))
        self.sigma = nn.Parameter(torch.eye(2).mul(0.4).repeat(n_units, 1, 1))


class _Feature(nn.Module):
    def __init__(self, n_units: int, channels: int) -> None:
        super().__init__()
        self.weights = nn.ParameterList([nn.Parameter(torch.zeros(n_units, 1, channels))
                                         for _ in range(N_STREAMS)])


class _Readout(_Leaf):
    """RecOut (N, S*C, 16, 24) -> per-stream log-rates (N, S, U).

    On CPU without gradients, the bilinear sampling and the feature weights run as one cached sparse
    operator (S*U, S*C*16*24) with 4*C entries per row (for U = 9941 about 160 MB, read once per batch);
    otherwise grid_sample, then the weighted sum over channels.
    """

    def __init__(self, n_units: int, channels: int = CORE_CHANNELS) -> None:
        super().__init__()
        self.n_units, self.channels = n_units, channels
        self.position = _Position(n_units)
        self.feature = _Feature(n_units, channels)
        self.biases = nn.ParameterList([nn.Parameter(torch.zeros(n_units, 1)) for _ in range(N_STREAMS)])

    def reset_parameters(self, generator: torch.Generator) -> None:
        """The package's own initialisation: every unit at the centre, zero weights and biases."""
        with torch.no_grad():
            self.position.mu.zero_()
            self.position.sigma.copy_(torch.eye(2).mul(0.4))
            for p in chain(self.feature.weights, self.biases):
                p.zero_()

    def _weights(self) -> torch.Tensor:
        return torch.stack([w[:, 0, :] for w in self.feature.weights])  # (S, U, C)

    def _effective(self) -> tuple[torch.Tensor]:
        height, width = CORE_SHAPE
        position = torch.tanh(self.position.mu)
        # pixel coordinates (align_corners=False), clipped to the map as border padding does
        px = (((position[:, 0] + 1) * width - 1) / 2).clamp(0, width - 1)
        py = (((position[:, 1] + 1) * height - 1) / 2).clamp(0, height - 1)
        x0, y0 = px.floor().clamp(max=width - 2), py.floor().clamp(max=height - 2)
        wx, wy = px - x0, py - y0
        corner = (y0 * width + x0).int()[:, None] + torch.tensor([0, 1, width, width + 1], dtype=torch.int32,
                                                                  device=position.device)
        bilinear = torch.stack([(1 - wx) * (1 - wy), wx * (1 - wy), (1 - wx) * wy, wx * wy], dim=1)  # (U, 4)
        size = height * width
        stream = torch.arange(N_STREAMS, dtype=torch.int32, device=position.device) * self.channels * size
        channel = torch.arange(self.channels, dtype=torch.int32, device=position.device) * size
        columns = stream[:, None, None, None] + channel[None, None, :, None] + corner[None, :, None, :]
        values = self._weights()[..., None] * bilinear[None, :, None, :]  # (S, U, C, 4)
        rows = torch.arange(N_STREAMS * self.n_units + 1, dtype=torch.int32, device=position.device)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
            operator = torch.sparse_csr_tensor(rows * 4 * self.channels, columns.reshape(-1), values.reshape(-1),
                                               (N_STREAMS * self.n_units, N_STREAMS * self.channels * size))
        return (operator,)

    def features(self, recout: torch.Tensor) -> torch.Tensor:
        """Bilinear samples of recout (N, S*C, H, W) at tanh(mu), border padding: (N, S*C, U)."""
        grid = torch.tanh(self.position.mu).expand(recout.shape[0], 1, -1, -1)
        sampled = F.grid_sample(recout, grid, mode="bilinear", padding_mode="border", align_corners=False)
        return sampled[:, :, 0, :]

    def forward(self, recout: torch.Tensor) -> torch.Tensor:
        n = recout.shape[0]
        if torch.is_grad_enabled() or recout.device.type != "cpu":
            features = self.features(recout).reshape(n, N_STREAMS, self.channels, self.n_units)
            log_rates = torch.einsum("nscu,suc->nsu", features, self._weights())
        else:
            (operator,) = self.effective()
            log_rates = (operator @ recout.reshape(n, -1).T).T.reshape(n, N_STREAMS, self.n_units)
        return log_rates + torch.stack([b[:, 0] for b in self.biases])


# ---------------------------------------------------------------------------------------------------------
# The network
# ---------------------------------------------------------------------------------------------------------


class FNN(nn.Module):
    """The public FNN (MICrONS digital twin) with ``n_units`` output neurons.

    ``state_dict()`` has exactly the 338 keys, shapes and dtypes of the public checkpoint. A fresh
    instance carries the package's own initialisation (core drawn from a fixed seed, readout at zero,
    so every rate is 1.0); use :func:`build_fnn` for seeded random weights or
    ``compute.models.weights.load_official_fnn`` for the trained ones.

    Call it once per frame; the state (temporal buffers, LSTM states) persists until :meth:`reset`.
    """

    def __init__(self, n_units: int = 9941) -> None:
        if isinstance(n_units, bool) or not isinstance(n_units, int):
            raise TypeError(f"n_units must be an int; got {type(n_units).__name__}")
        if n_units < 1:
            raise ValueError(f"n_units must be at least 1; got {n_units}")
        super().__init__()
        self.n_units = n_units
        self.core = _Core()
        self.perspective = _Perspective()
        self.modulation = _Modulation()
        self.readout = _Readout(n_units)
        self._batch: int | None = None
        self.reset_parameters(torch.Generator().manual_seed(0))

    def reset_parameters(self, generator: torch.Generator) -> None:
        """Draw the package's initialisation from ``generator``, in module order (and reset the state)."""
        for module in self.modules():
            if isinstance(module, (_Leaf, _CvtLstm)):
                module.reset_parameters(generator)
        self.reset()

    def reset(self) -> None:
        """Clear all temporal buffers and LSTM states (the next frame starts a new sequence)."""
        self._batch = None
        for module in self.modules():
            if isinstance(module, (_StreamConv, _CvtLstm, _Lstm)):
                module.clear_state()

    def train(self, mode: bool = True) -> "FNN":
        for module in self.modules():
            if isinstance(module, _Leaf):
                module.clear_cache()
        return super().train(mode)

    def _check_inputs(self, stimulus, perspective, modulation) -> tuple[torch.Tensor, ...]:
        if not isinstance(stimulus, torch.Tensor):
            raise TypeError(f"stimulus must be a torch.Tensor; got {type(stimulus).__name__}")
        if stimulus.dim() != 4 or stimulus.shape[1] != 1:
            raise ValueError(f"stimulus must have shape (N, 1, height, width), one grey frame in [0, 1] per "
                             f"sample (the model was trained on 144 x 256); got {tuple(stimulus.shape)}")
        if not stimulus.is_floating_point():
            raise TypeError(f"stimulus must be floating point in [0, 1] (uint8 frames / 255); got {stimulus.dtype}")
        reference = self.readout.biases[0]
        stimulus = stimulus.to(device=reference.device, dtype=reference.dtype)
        n = stimulus.shape[0]
        checked = [stimulus]
        for name, value in (("perspective", perspective), ("modulation", modulation)):
            if value is None:
                value = stimulus.new_zeros(n, N_BEHAVIOUR)
            elif not isinstance(value, torch.Tensor) or tuple(value.shape) != (n, N_BEHAVIOUR):
                shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
                raise ValueError(f"{name} must be a tensor of shape ({n}, {N_BEHAVIOUR}) or None (neutral); "
                                 f"got {shape}")
            checked.append(value.to(stimulus))
        if self._batch is not None and self._batch != n:
            raise ValueError(f"batch size changed from {self._batch} to {n} within a sequence; call reset() "
                             f"before a new batch")
        self._batch = n
        return tuple(checked)

    def forward(self, stimulus: torch.Tensor, perspective: torch.Tensor | None = None,
                modulation: torch.Tensor | None = None) -> torch.Tensor:
        """Poisson rates for one frame.

        Parameters
        ----------
        stimulus : Tensor of shape (N, 1, 144, 256)
            Grey frame in [0, 1] (uint8 / 255).
        perspective : Tensor of shape (N, 2) or None
            Standardised pupil centre (x, y); None = zeros (neutral).
        modulation : Tensor of shape (N, 2) or None
            Standardised (pupil radius, treadmill velocity); None = zeros (neutral).

        Returns
        -------
        Tensor of shape (N, n_units)
            exp of the stream-averaged log-rates.
        """
        stimulus, perspective, modulation = self._check_inputs(stimulus, perspective, modulation)
        retina = self.perspective(stimulus, perspective)
        recout = self.core(retina, self.modulation(modulation))
        return self.readout(recout).mean(dim=1).exp()

    def readout_features(self, recout: torch.Tensor) -> torch.Tensor:
        """RecOut (N, C, 16, 24) sampled at every unit's position tanh(mu): (N, C, n_units).

        Bilinear, border padding, align_corners=False: the "Readout" module of METHODS 2.2, before the
        feature weights. C = 4*128 channels, stream-major like RecOut, or the leading C of them: each
        channel is sampled on its own, so ``readout_features(recout[:, :c])`` equals
        ``readout_features(recout)[:, :c]`` exactly.
        """
        channels = N_STREAMS * CORE_CHANNELS
        if recout.dim() != 4 or tuple(recout.shape[2:]) != CORE_SHAPE or not 1 <= recout.shape[1] <= channels:
            raise ValueError(f"recout must have shape (N, C <= {channels}, {', '.join(map(str, CORE_SHAPE))}) "
                             f"(the output of core.recurrent.out or its leading channels); got "
                             f"{tuple(recout.shape)}")
        return self.readout.features(recout)


def build_fnn(*, n_units: int = 9941, seed: int = 0) -> FNN:
    """The FNN with seeded random weights (METHODS 2.1 DECISION), in eval mode.

    The core, perspective and modulation are initialised as the package does, drawn from ``seed``; then,
    from the same generator, readout positions uniform over the feature map (tanh(mu) ~ U(-1, 1)^2),
    feature weights ~ N(0, 1/128) and biases ~ N(0, 0.1^2). Same seed -> identical weights.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int; got {type(seed).__name__}")
    model = FNN(n_units)
    generator = torch.Generator().manual_seed(seed)
    model.reset_parameters(generator)
    readout = model.readout
    with torch.no_grad():
        position = torch.rand(n_units, 2, generator=generator) * 2 - 1
        readout.position.mu.copy_(torch.atanh(position.clamp(-1 + 1e-6, 1 - 1e-6)))
        for w in readout.feature.weights:
            w.normal_(0.0, readout.channels ** -0.5, generator=generator)
        for b in readout.biases:
            b.normal_(0.0, 0.1, generator=generator)
    return model.eval()

