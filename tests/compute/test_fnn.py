"""The FNN reimplementation: state-dict layout, hook shapes, time, streams, and a brute-force reference.

Expected layout and shapes come from the public checkpoint's key/shape list (tests/facts/fnn_state_dict.json,
provenance inside) and the FNN reference description (ARCHITECTURE.md sections 2, 5 and 6). The reference forward below is written per stream, with 5-D conv3d weights,
explicit frame windows and loops, straight from ARCHITECTURE.md section 5; the model must match it.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from compute.models.fnn import FNN, N_STREAMS, SCALE_GELU, build_fnn, scaled_gelu
from tests.facts import load_fact

N_UNITS = 50
CONV_HOOKS = {  # ARCHITECTURE.md section 6: per-stream (C, H, W) of each hooked conv output
    "core.feedforward.inputs.0": (32, 64, 96),
    "core.feedforward.blocks.0.convs.0": (32, 64, 96),
    "core.feedforward.blocks.0.convs.1": (32, 64, 96),
    "core.feedforward.inputs.1": (64, 32, 48),
    "core.feedforward.blocks.1.convs.0": (64, 32, 48),
    "core.feedforward.blocks.1.convs.1": (64, 32, 48),
    "core.feedforward.inputs.2": (128, 16, 24),
    "core.feedforward.blocks.2.convs.0": (128, 16, 24),
    "core.feedforward.blocks.2.convs.1": (128, 16, 24),
    "core.feedforward.out": (128, 16, 24),
    "core.recurrent.out": (128, 16, 24),
}


@pytest.fixture(autouse=True)
def _threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def model() -> FNN:
    return build_fnn(n_units=N_UNITS, seed=0)


def _frames(n_frames: int, batch: int = 1, seed: int = 0) -> torch.Tensor:
    """Random grey frames (n_frames, batch, 1, 144, 256) in [0, 1]."""
    return torch.rand(n_frames, batch, 1, 144, 256, generator=torch.Generator().manual_seed(seed))


def _run(model: FNN, frames: torch.Tensor, **inputs) -> torch.Tensor:
    """Rates (n_frames, batch, n_units) of one sequence from a reset state."""
    model.reset()
    with torch.inference_mode():
        return torch.stack([model(frame, **inputs) for frame in frames])


class _Taps:
    """Forward hooks on the conv modules and the pre-hook on core.recurrent.out (the hidden state h)."""

    def __init__(self, model: FNN):
        self.outputs: dict[str, list[torch.Tensor]] = {}
        modules = dict(model.named_modules())
        self.handles = [modules[name].register_forward_hook(self._keep(name)) for name in CONV_HOOKS]
        self.handles.append(modules["core.recurrent.out"].register_forward_pre_hook(
            lambda module, args: self.outputs.setdefault("h", []).append(args[0].clone())))

    def _keep(self, name):
        return lambda module, args, output: self.outputs.setdefault(name, []).append(output.clone())

    def remove(self):
        for handle in self.handles:
            handle.remove()


# ------------------------------------------------------------------------------------------------------
# Layout: state dict and hook points
# ------------------------------------------------------------------------------------------------------


def test_state_dict_matches_the_public_checkpoint():
    reference = load_fact("fnn_state_dict.json")
    model = FNN(reference["units"])
    state = model.state_dict()
    assert list(state) == [key for key, _, _ in reference["params"]]  # same keys, same order
    for key, shape, dtype in reference["params"]:
        assert list(state[key].shape) == shape, key
        assert str(state[key].dtype) == f"torch.{dtype}", key
    assert {name for name, _ in model.named_buffers()} == set(reference["buffers"])
    assert sum(p.numel() for p in model.parameters()) == reference["total_parameters"] == 9_727_431


def test_parameter_count_follows_the_published_formula():
    # ARCHITECTURE.md / microns_state_dict.json: total parameters = 4538229 + 522 * units
    assert sum(p.numel() for p in FNN(N_UNITS).parameters()) == 4_538_229 + 522 * N_UNITS


def test_hook_points_have_the_documented_shapes(model):
    modules = dict(model.named_modules())
    seen = {}
    names = [*CONV_HOOKS, "perspective", *(f"core.feedforward.blocks.{b}" for b in range(3))]
    handles = [modules[name].register_forward_hook(
        lambda module, args, out, name=name: seen.__setitem__(name, out)) for name in names]
    handles.append(modules["core.recurrent.out"].register_forward_pre_hook(
        lambda module, args: seen.__setitem__("h", args[0])))
    try:
        rates = _run(model, _frames(1, batch=2))[0]
    finally:
        for handle in handles:
            handle.remove()
    for name, (channels, height, width) in CONV_HOOKS.items():
        assert seen[name].shape == (2, N_STREAMS * channels, height, width), name
    assert seen["h"].shape == (2, N_STREAMS * 256, 16, 24)
    assert seen["perspective"].shape == (2, 1, 128, 192)
    for b, shape in enumerate([(96, 32, 48), (192, 16, 24), (384, 16, 24)]):  # concatenated and pooled
        assert seen[f"core.feedforward.blocks.{b}"].shape == (2, N_STREAMS * shape[0], *shape[1:])
    with torch.inference_mode():
        assert model.readout_features(seen["core.recurrent.out"]).shape == (2, N_STREAMS * 128, N_UNITS)
    assert rates.shape == (2, N_UNITS) and bool((rates > 0).all())


# ------------------------------------------------------------------------------------------------------
# Known answers
# ------------------------------------------------------------------------------------------------------


def test_scaled_gelu_values():
    x = torch.tensor([-2.0, -1.0, 0.0, 0.5, 1.0, 3.0], dtype=torch.float64)
    expected = [SCALE_GELU * v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x.tolist()]
    torch.testing.assert_close(scaled_gelu(x), torch.tensor(expected, dtype=torch.float64), rtol=1e-12, atol=0)
    assert scaled_gelu(torch.tensor(1.0)).item() == pytest.approx(1.7015043497085571 * 0.8413447460685429)


def test_package_initialisation_outputs_exactly_one():
    # ARCHITECTURE.md section 10, pitfall 1: zero readout -> every rate is exp(0) = 1
    rates = _run(FNN(N_UNITS), _frames(1))
    assert torch.equal(rates, torch.ones_like(rates))


def test_readout_features_are_bilinear_samples_at_tanh_mu():
    model = FNN(3)
    # unit 0 at pixel (x=5.25, y=3.5); unit 1 beyond the top-right corner (border padding); unit 2 at the
    # centre of pixel (x=10, y=7). Pixel x = ((p + 1) * 24 - 1) / 2, y = ((p + 1) * 16 - 1) / 2.
    positions = torch.tensor([[(2 * 5.25 + 1) / 24 - 1, (2 * 3.5 + 1) / 16 - 1], [0.99, -0.99],
                              [(2 * 10 + 1) / 24 - 1, (2 * 7 + 1) / 16 - 1]])
    with torch.no_grad():
        model.readout.position.mu.copy_(torch.atanh(positions))
    recout = torch.randn(2, 512, 16, 24, generator=torch.Generator().manual_seed(4))
    with torch.inference_mode():
        features = model.readout_features(recout)
    corner = 0.75 * 0.5 * (recout[:, :, 3, 5] + recout[:, :, 4, 5]) + 0.25 * 0.5 * (recout[:, :, 3, 6]
                                                                                    + recout[:, :, 4, 6])
    torch.testing.assert_close(features[:, :, 0], corner, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(features[:, :, 1], recout[:, :, 0, 23], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(features[:, :, 2], recout[:, :, 7, 10], rtol=1e-5, atol=1e-5)
    # channels are sampled on their own: the leading 40 give exactly the first 40 feature rows (extraction
    # samples only the candidate channels of the Readout module)
    with torch.inference_mode():
        assert torch.equal(model.readout_features(recout[:, :40]), features[:, :40])


def test_rates_are_exp_of_the_stream_mean_of_log_rates(model):
    taps = _Taps(model)
    try:
        rates = _run(model, _frames(2, batch=2, seed=5))[-1]
    finally:
        taps.remove()
    with torch.inference_mode():
        features = model.readout_features(taps.outputs["core.recurrent.out"][-1])  # (N, S*128, U)
        log_rates = torch.stack([
            (model.readout.feature.weights[s][:, 0, :].T * features[:, s * 128:(s + 1) * 128]).sum(1)
            + model.readout.biases[s][:, 0] for s in range(N_STREAMS)], dim=1)  # (N, S, U)
    torch.testing.assert_close(rates, log_rates.mean(1).exp(), rtol=1e-5, atol=1e-6)
    assert not torch.allclose(rates, log_rates.exp().mean(1), rtol=1e-3)  # not the mean of rates


def test_intergroup_map_has_zero_diagonal_blocks(model):
    inter = model.core.recurrent.proj_x[0]
    with torch.no_grad():
        dense = inter.dense(1)
        w = inter.weights[1]
        gains = inter.gains[1]
    for o in range(8):
        for i in range(8):
            block = dense[o * 32:(o + 1) * 32, i * 32:(i + 1) * 32]
            if i == o:
                assert torch.equal(block, torch.zeros(32, 32))
                continue
            slot = i if i < o else i - 1
            rows = w[o].permute(1, 0, 2).reshape(32, 7 * 32)  # (out channel, slot * in channel)
            mean = rows.mean(1, keepdim=True)
            scale = gains[o][:, None] / torch.sqrt(rows.var(1, unbiased=False, keepdim=True) * 224 + 1e-5)
            torch.testing.assert_close(block, (w[o, slot] - mean) * scale, rtol=1e-5, atol=1e-6)


def test_perspective_of_a_uniform_frame_at_the_initial_pose():
    perspective = FNN(1).perspective
    with torch.no_grad():
        retina = perspective(torch.full((1, 1, 144, 256), 0.5), torch.zeros(1, 2))[0, 0]
        moved = perspective(torch.full((1, 1, 144, 256), 0.5), torch.randn(1, 2))[0, 0]
    inside, dark = (0.5 ** 1.7 + 1e-5) ** 0.5, 1e-5 ** 0.5  # (monitor ** 1.7 + eps) ** sigmoid(0)
    assert retina.max().item() == pytest.approx(inside, rel=1e-6)
    assert retina[0, 0].item() == pytest.approx(dark, rel=1e-4)
    # ARCHITECTURE.md section 10, pitfall 8: about 29 % of the retina sees black outside the monitor
    assert (retina < (inside + dark) / 2).float().mean().item() == pytest.approx(0.29, abs=0.02)
    assert torch.equal(moved, retina)  # the first layer starts at zero: the eye position has no effect


@pytest.mark.parametrize("turn", [0.0, math.pi / 2], ids=["straight", "eye-rolled-90"])
def test_perspective_ray_traces_a_luminance_ramp(turn):
    perspective = FNN(1).perspective
    with torch.no_grad():  # theta = bias of the last layer when the hidden layers output 0
        perspective.mlp.linears[3].biases[0].copy_(torch.tensor([[0.0, 0.0, turn]]))
    columns = torch.arange(256, dtype=torch.float64)
    frame = (columns / 255) ** (1 / 1.7)  # monitor luminance frame ** 1.7 = column / 255
    with torch.no_grad():
        retina = perspective(frame.float().expand(1, 1, 144, 256).contiguous(), torch.zeros(1, 2))[0, 0]
    checked = 0
    for i in range(0, 128, 9):
        for j in range(0, 192, 11):
            x = (-1 + 2 * j / 191) * (191 / 192)
            y = (-1 + 2 * i / 127) * (128 / 192) * (191 / 192)
            rho, phi = min(math.hypot(x, y) * math.radians(75), math.pi / 2), math.atan2(y, x)
            g = (math.sin(rho) * math.cos(phi), math.sin(rho) * math.sin(phi), math.cos(rho))
            d = (g[0] * math.cos(turn) - g[1] * math.sin(turn), g[0] * math.sin(turn) + g[1] * math.cos(turn), g[2])
            if d[2] < 0.3:
                continue
            u, v = 0.5 * d[0] / d[2], 0.5 * d[1] / d[2]  # plane z = 0.5, axes x and y
            gx = u * (256 / 255) * (191 / 192)
            gy = v * (256 / 144) * (256 / 255) * (127 / 128)
            if abs(gx) > 0.95 or abs(gy) > 0.95:
                continue
            luminance = ((gx + 1) * 256 - 1) / 2 / 255
            assert retina[i, j].item() == pytest.approx((luminance + 1e-5) ** 0.5, abs=2e-5), (i, j)
            checked += 1
    assert checked > 40


# ------------------------------------------------------------------------------------------------------
# Time, state, streams, seeds
# ------------------------------------------------------------------------------------------------------


def test_output_at_frame_t_ignores_later_frames(model):
    frames = _frames(3, seed=6)
    changed = frames.clone()
    changed[2] = _frames(1, seed=7)[0]
    first, second = _run(model, frames), _run(model, changed)
    assert torch.equal(first[:2], second[:2])
    assert not torch.allclose(first[2], second[2])


def test_reset_restores_the_initial_state(model):
    frames = _frames(2, seed=8)
    rates = _run(model, frames)
    with torch.inference_mode():
        again = model(frames[0])  # no reset: the state of two frames is still there
    assert not torch.allclose(again, rates[0])
    assert torch.equal(_run(model, frames[:1])[0], rates[0])


def test_streams_are_independent(model):
    taps = _Taps(model)
    frames = _frames(2, seed=9)
    weight = model.core.feedforward.blocks[0].convs[0].weights[1]
    original = weight.detach().clone()
    try:
        before = _run(model, frames)
        recout_before = taps.outputs["core.recurrent.out"][-1]
        with torch.no_grad():
            weight.add_(torch.randn(weight.shape, generator=torch.Generator().manual_seed(10)))
        after = _run(model, frames)
        recout_after = taps.outputs["core.recurrent.out"][-1]
    finally:
        taps.remove()
        with torch.no_grad():
            weight.copy_(original)
    for s in range(N_STREAMS):
        same = torch.equal(recout_before[:, s * 128:(s + 1) * 128], recout_after[:, s * 128:(s + 1) * 128])
        assert same == (s != 1), f"stream {s}"
    assert not torch.allclose(before, after)


def test_same_seed_same_model_other_seed_other_model(model):
    again, other = build_fnn(n_units=N_UNITS, seed=0), build_fnn(n_units=N_UNITS, seed=1)
    state, state_again, state_other = model.state_dict(), again.state_dict(), other.state_dict()
    assert all(torch.equal(state[k], state_again[k]) for k in state)
    for key in ("core.feedforward.blocks.0.convs.0.weights.0", "readout.position.mu", "readout.feature.weights.2"):
        assert not torch.equal(state[key], state_other[key]), key
    frames = _frames(1, seed=11)
    rates = _run(model, frames)
    assert torch.equal(rates, _run(again, frames))
    assert not torch.allclose(rates, _run(other, frames))


def test_random_readout_follows_the_decision(model):
    position = torch.tanh(model.readout.position.mu).detach()
    assert position.abs().max() < 1 and position.min() < -0.9 and position.max() > 0.9
    weights = torch.cat([w.detach().flatten() for w in model.readout.feature.weights])
    biases = torch.cat([b.detach().flatten() for b in model.readout.biases])
    assert weights.std().item() == pytest.approx(128 ** -0.5, rel=0.05)
    assert biases.std().item() == pytest.approx(0.1, rel=0.25)


def test_strict_load_of_a_saved_state_dict_round_trips(model, tmp_path):
    torch.save(model.state_dict(), tmp_path / "fnn.pt")
    loaded = FNN(N_UNITS)
    loaded.load_state_dict(torch.load(tmp_path / "fnn.pt", weights_only=True), strict=True)
    frames = _frames(1, seed=12)
    assert torch.equal(_run(loaded.eval(), frames), _run(model, frames))


def test_cached_weights_follow_parameter_changes(model):
    conv = model.core.feedforward.blocks[2].convs[0]
    with torch.inference_mode():
        cached = conv.effective()[0]
        assert conv.effective()[0] is cached
    original = conv.weights[0].detach().clone()
    try:
        with torch.no_grad():
            conv.weights[0].mul_(2).add_(1)
        with torch.inference_mode():
            updated = conv.effective()[0]
            fresh = conv._effective()[0]
        assert updated is not cached and torch.equal(updated, fresh)
    finally:
        with torch.no_grad():
            conv.weights[0].copy_(original)
    model.train()
    assert all(m._cache is None for m in model.modules() if hasattr(m, "_cache"))
    model.eval()


@pytest.mark.slow
def test_gradients_flow_and_match_inference():
    model = build_fnn(n_units=N_UNITS, seed=2)
    frames = _frames(2, seed=13)
    expected = _run(model, frames)
    model.reset()
    rates = torch.stack([model(frame) for frame in frames])
    torch.testing.assert_close(rates, expected, rtol=1e-5, atol=1e-6)
    rates.sum().backward()
    for p in (model.core.feedforward.blocks[0].convs[0].weights[0], model.core.recurrent.scales[3],
              model.readout.feature.weights[2], model.readout.position.mu):
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0


def test_feedforward_values_do_not_depend_on_the_memory_layout(model):
    """On CPU the feedforward runs channels-last (NHWC); NCHW input (the layout kept on CUDA) takes the
    other ring-buffer layout and must give the same maps, frame after frame."""
    block = model.core.feedforward.blocks[1]
    frames = torch.randn(4, 2, N_STREAMS * 64, 32, 48, generator=torch.Generator().manual_seed(6))
    outputs = {}
    for layout in (torch.contiguous_format, torch.channels_last):
        block.convs[0].clear_state(), block.convs[1].clear_state()
        with torch.inference_mode():
            outputs[layout] = torch.stack([block(f.contiguous(memory_format=layout)) for f in frames])
    block.convs[0].clear_state(), block.convs[1].clear_state()
    assert outputs[torch.channels_last][0].is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(outputs[torch.channels_last], outputs[torch.contiguous_format], rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------------------------------------------
# Errors
# ------------------------------------------------------------------------------------------------------


def test_bad_construction_arguments():
    with pytest.raises(TypeError, match="n_units must be an int; got str"):
        FNN("9941")
    with pytest.raises(ValueError, match="n_units must be at least 1; got 0"):
        FNN(0)
    with pytest.raises(TypeError, match="seed must be an int; got float"):
        build_fnn(seed=1.5)
    from compute.models.fnn import _DenseBlock

    with pytest.raises(ValueError, match=r"pool must be 1 or 2 \(the public architecture\); got 3"):
        _DenseBlock(32, 1, 3)


def test_bad_frame_inputs(model):
    frame = torch.rand(2, 1, 144, 256)
    with pytest.raises(TypeError, match="stimulus must be a torch.Tensor; got list"):
        model([[0.0]])
    with pytest.raises(ValueError, match=r"stimulus must have shape \(N, 1, height, width\).*got \(1, 144, 256\)"):
        model(frame[0])
    with pytest.raises(TypeError, match="stimulus must be floating point .* got torch.uint8"):
        model(torch.zeros(2, 1, 144, 256, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"perspective must be a tensor of shape \(2, 2\) or None .*got \(2, 3\)"):
        model(frame, perspective=torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"modulation must be a tensor of shape \(2, 2\) or None .*got ndarray"):
        model(frame, modulation=__import__("numpy").zeros((2, 2)))
    model.reset()
    with torch.inference_mode():
        model(frame)
        with pytest.raises(ValueError, match="batch size changed from 2 to 1 within a sequence; call reset"):
            model(frame[:1])
    with pytest.raises(ValueError, match=r"recout must have shape \(N, C <= 512, 16, 24\) .*got \(2, 600, 16, 24\)"):
        model.readout_features(torch.zeros(2, 600, 16, 24))
    with pytest.raises(ValueError, match=r"got \(2, 512, 16, 23\)"):
        model.readout_features(torch.zeros(2, 512, 16, 23))
    model.reset()


# ------------------------------------------------------------------------------------------------------
# Brute-force reference (per stream, conv3d with explicit windows, loops for grouping and attention)
# ------------------------------------------------------------------------------------------------------


def _phi(x):
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2))) * SCALE_GELU


def _catg(tensors, groups):
    return torch.cat([t.chunk(groups, 1)[g] for g in range(groups) for t in tensors], 1)


class _Reference:
    def __init__(self, state: dict[str, torch.Tensor]):
        self.p = {k: v.detach() for k, v in state.items()}
        self.windows: dict[tuple[str, int], list[torch.Tensor]] = {}
        self.lstm: dict[tuple[str, int], tuple[torch.Tensor, torch.Tensor]] = {}

    def weight(self, name, s, raw=False):
        w = self.p[f"{name}.weights.{s}"]
        if raw:
            return w
        var, mean = torch.var_mean(w, dim=(1, 2, 3, 4), keepdim=True, correction=0)
        w = (w - mean) / torch.sqrt(var * math.prod(w.shape[1:]) + 1e-5)
        gains = self.p.get(f"{name}.gains.{s}")
        return w if gains is None else w * gains.reshape(-1, 1, 1, 1, 1)

    def conv(self, name, s, x, groups=1, stride=1, replicate=False, raw=False):
        w = self.weight(name, s, raw)
        bias = self.p.get(f"{name}.biases.{s}")
        pad = (w.shape[-1] - stride) // 2
        x = F.pad(x, [pad] * 4, mode="replicate" if replicate else "constant")
        if w.shape[2] > 1:
            window = self.windows.setdefault((name, s), [torch.zeros_like(x)] * (w.shape[2] - 1))
            frames = window + [x]
            self.windows[(name, s)] = frames[1:]
        else:
            frames = [x]
        return F.conv3d(torch.stack(frames, 2), w, None if bias is None else bias.flatten(),
                        stride=(1, stride, stride), groups=groups)[:, :, 0]

    def linear(self, name, s, x, raw=False):
        return self.conv(name, s, x[:, :, None, None], raw=raw)[:, :, 0, 0]

    def modulation(self, s, behaviour):
        x = _phi(self.linear("modulation.mlp.linears.0", s, behaviour, raw=True))
        h, c = self.lstm.get(("mod", s), (torch.zeros_like(x), torch.zeros_like(x)))
        xh = torch.cat([x, h], 1)
        gate = {g: self.linear(f"modulation.lstm.proj_{g}", s, xh) for g in "ifgo"}
        c = torch.sigmoid(gate["f"]) * c + torch.sigmoid(gate["i"]) * torch.tanh(gate["g"])
        h = torch.sigmoid(gate["o"]) * torch.tanh(c)
        self.lstm[("mod", s)] = (h, c)
        return h

    def intergroup(self, s):
        w = self.p[f"core.recurrent.proj_x.0.weights.{s}"]  # (o, slot, a, b)
        var, mean = torch.var_mean(w, dim=(1, 3), keepdim=True, correction=0)
        w = (w - mean) / torch.sqrt(var * 224 + 1e-5) * self.p[f"core.recurrent.proj_x.0.gains.{s}"][:, None, :, None]
        full = torch.zeros(256, 256)
        for o in range(8):
            for slot in range(7):
                i = slot if slot < o else slot + 1
                full[o * 32:(o + 1) * 32, i * 32:(i + 1) * 32] = w[o, slot]
        return full

    def stream(self, s, retina, m, taps):
        ff = "core.feedforward"
        x = self.conv(f"{ff}.inputs.0", s, retina, stride=2, replicate=True, raw=True)
        taps[f"{ff}.inputs.0"] = x
        for b, (groups, pool) in enumerate([(1, 2), (2, 2), (4, 1)]):
            if b:
                x = self.conv(f"{ff}.inputs.{b}", s, x, replicate=True)
                taps[f"{ff}.inputs.{b}"] = x
            y0 = _phi(x)
            x1 = self.conv(f"{ff}.blocks.{b}.convs.0", s, y0, groups=groups)
            x2 = self.conv(f"{ff}.blocks.{b}.convs.1", s, _phi(x1), groups=groups)
            taps[f"{ff}.blocks.{b}.convs.0"], taps[f"{ff}.blocks.{b}.convs.1"] = x1, x2
            x2 = x2 + self.conv(f"{ff}.blocks.{b}.skips.1", s, y0, groups=groups)
            x = _catg([x, x1, x2], groups)
            x = F.avg_pool2d(x, pool) if pool > 1 else x
        f = self.conv(f"{ff}.out", s, x, replicate=True)
        taps[f"{ff}.out"] = f

        rec = "core.recurrent"
        h, c = self.lstm.get(("rec", s), (torch.zeros(1, 256, 16, 24),) * 2)
        inter = torch.einsum("oi,nihw->nohw", self.intergroup(s), h)
        x = torch.tanh(inter + self.conv(f"{rec}.proj_x.1", s, f)
                       + self.conv(f"{rec}.proj_x.2", s, m[:, :, None, None]))
        z = self.conv(f"{rec}.conv", s, _catg([x, h], 8), groups=8)
        q, k, v = (self.conv(f"{rec}.proj_{n}", s, z, groups=8).reshape(1, 512, 384) for n in "qkv")
        heads = []
        for g in range(8):
            sl = slice(g * 64, (g + 1) * 64)
            qg = q[0, sl] / q[0, sl].norm(dim=0) * self.p[f"{rec}.scales.{s}"][g][:, None]
            kg = k[0, sl] / k[0, sl].norm(dim=0)
            attention = torch.softmax(qg.T @ kg, dim=1)  # (p, p')
            heads.append(v[0, sl] @ attention.T)
        a = torch.cat(heads).reshape(1, 512, 16, 24)
        za = _catg([z, a], 8)
        gate = {n: self.conv(f"{rec}.proj_{n}", s, za, groups=8) for n in "ifgo"}
        c = torch.sigmoid(gate["f"]) * c + torch.sigmoid(gate["i"]) * torch.tanh(gate["g"])
        h = torch.sigmoid(gate["o"]) * torch.tanh(c)
        self.lstm[("rec", s)] = (h, c)
        taps["h"] = h
        r = self.conv(f"{rec}.out", s, h)
        taps[f"{rec}.out"] = r
        return r

    def frame(self, retina, modulation):
        """One sample: retina (1, 1, 128, 192), modulation (1, 2) -> rates (U,), per-stream taps."""
        taps, log_rates = [], []
        for s in range(N_STREAMS):
            taps.append({})
            r = self.stream(s, retina, self.modulation(s, modulation), taps[s])
            pos = torch.tanh(self.p["readout.position.mu"])
            features = F.grid_sample(r, pos[None, None], mode="bilinear", padding_mode="border",
                                     align_corners=False)[0, :, 0]  # (C, U)
            w = self.p[f"readout.feature.weights.{s}"][:, 0]  # (U, C)
            log_rates.append((w * features.T).sum(1) + self.p[f"readout.biases.{s}"][:, 0])
        return torch.exp(torch.stack(log_rates).mean(0)), taps


@pytest.mark.slow
def test_model_matches_brute_force_reference():
    model = build_fnn(n_units=N_UNITS, seed=3)
    with torch.no_grad():  # make behaviour matter: the package initialises the first behaviour layer to 0
        for w in model.modulation.mlp.linears[0].weights:
            w.normal_(0, 1, generator=torch.Generator().manual_seed(3))
    frames = _frames(3, batch=2, seed=1)
    behaviour = torch.randn(2, 2, generator=torch.Generator().manual_seed(2))
    retinas = []
    model.perspective.register_forward_hook(lambda module, args, out: retinas.append(out.clone()))
    taps = _Taps(model)
    rates = _run(model, frames, modulation=behaviour)
    assert sorted(taps.outputs) == sorted([*CONV_HOOKS, "h"])
    reference = _Reference(model.state_dict())  # on the second sample: batch samples must not mix
    for t in range(3):
        expected, expected_taps = reference.frame(retinas[t][1:], behaviour[1:])
        torch.testing.assert_close(rates[t, 1], expected, rtol=2e-4, atol=1e-6)
        for name, outputs in taps.outputs.items():
            want = torch.cat([expected_taps[s][name][0] for s in range(N_STREAMS)])
            torch.testing.assert_close(outputs[t][1], want, rtol=1e-3, atol=1e-4,
                                       msg=lambda m: f"{name}, frame {t}: {m}")
