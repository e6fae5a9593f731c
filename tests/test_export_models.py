"""The CNN definitions: sizes, costs, shapes, the int8-friendly attention mask (needs torch)."""

import pytest

torch = pytest.importorskip("torch")

from export.models import MODELS, WINDOW, attention_mask, build, cost  # noqa: E402

pytestmark = pytest.mark.export


@pytest.mark.parametrize(("name", "low", "high"), [("temporal_pulse", 1_000, 10_000),
                                                   ("frame_pulse", 1_000, 50_000)])
def test_parameter_budgets(name, low, high):
    params, macs = cost(build(name), MODELS[name].inputs)
    assert low <= params <= high
    assert macs > params


def test_cost_counts_a_pointwise_conv_as_cin_cout_length():
    conv = torch.nn.Conv1d(3, 16, 1)
    params, macs = cost(conv, {"x": (1, 3, 96)})
    assert params == 3 * 16 + 16
    assert macs == 3 * 16 * 96


def test_cost_counts_a_depthwise_conv_per_channel():
    conv = torch.nn.Conv2d(8, 8, 3, padding=1, groups=8)
    _, macs = cost(conv, {"x": (1, 8, 36, 36)})
    assert macs == 9 * 8 * 36 * 36


@pytest.mark.parametrize("name", list(MODELS))
def test_output_shapes(name):
    spec = MODELS[name]
    torch.manual_seed(0)
    with torch.no_grad():
        out = build(name).eval()(*(torch.randn(s) for s in spec.inputs.values()))
    out = out if isinstance(out, tuple) else (out,)
    assert len(out) == len(spec.outputs)
    if name == "temporal_pulse":
        assert out[0].shape == (1, WINDOW) and out[1].shape == (1, 1)
        assert 0.0 <= float(out[1][0, 0]) <= 1.0
    else:
        assert out[0].shape == (1, 1)


def test_attention_mask_mean_form_equals_the_ts_can_sum_form():
    logits = torch.randn(2, 1, 9, 9)
    m = torch.sigmoid(logits)
    ts_can = 9 * 9 * m / (2 * m.sum(dim=(2, 3), keepdim=True))
    torch.testing.assert_close(attention_mask(logits), ts_can)


def test_frame_net_centering_only_moves_the_output_offset():
    torch.manual_seed(3)
    model = build("frame_pulse").eval()
    gen = torch.Generator().manual_seed(5)
    motion, appearance = torch.randn(40, 3, 36, 36, generator=gen), torch.randn(
        40, 3, 36, 36, generator=gen)
    with torch.no_grad():
        before = model(motion, appearance)[:, 0]
        model.center_(motion, appearance)
        after = model(motion, appearance)[:, 0]
        feats = []
        hook = model.motion3.project.register_forward_hook(lambda _m, _a, o: feats.append(o))
        model(motion, appearance)
        hook.remove()
    shift = before - after  # a constant, up to float32 rounding of the outputs
    assert float(shift.max() - shift.min()) <= 1e-6 * float(before.abs().max())
    # offsets gone: what is left is small next to the output's frame-to-frame variation
    assert abs(float(after.mean())) <= 0.01 * float(after.std())
    channel_means = feats[0].mean(dim=(0, 2, 3))
    assert float(channel_means.abs().max()) <= 0.01 * float(feats[0].std())
