"""The small CNNs: building blocks, the two nets and the `MODELS` registry (needs torch).

Both nets are built from 1x1 convolutions (Lin et al., "Network in Network", 2014; the
Inception "reduce" layers; MobileNet's pointwise convs) around cheap spatial or temporal
convolutions; costs: params = K·C_in·C_out, MACs = params·L.

- ``temporal_pulse``: a 1-D net on ROI-mean RGB traces, the model behind ``--method cnn``.
  Input ``rgb`` [shape=(1, 3, T)], the window normalised by `edge.cnn.normalise_window`;
  outputs ``pulse`` [shape=(1, T)] (the pulse waveform: a projection of the detrended
  input and of POS's pulse from it, with weights the net chooses; arbitrary scale) and
  ``quality`` [shape=(1, 1)] (0-1, the net's own estimate of the correlation of its pulse
  with the true one).
- ``frame_pulse``: a per-frame 2-D net on 36x36 face crops in the spirit of TS-CAN (Liu et
  al., NeurIPS 2020): a motion branch (normalised frame difference) gated by attention
  masks that a 1x1 conv draws from an appearance branch (the raw crop), inverted-bottleneck
  blocks (MobileNetV2). Inputs ``motion`` and ``appearance`` [shape=(1, 3, 36, 36)], output
  ``pulse_diff`` [shape=(1, 1)]: the derivative of the pulse at this frame.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["MODELS", "TRAIN_WINDOW", "WINDOW", "FramePulseNet", "ModelSpec", "PosProjection",
           "TemporalPulseNet", "build", "cost", "fixed_filter", "triangle"]


class TemporalBlock(nn.Module):
    """Residual 1-D bottleneck: 1x1 reduce -> temporal conv -> 1x1 expand, plus the input.

    Input and output [shape=(N, C, T)]; the temporal conv is ``kernel`` taps wide with
    ``dilation``, zero-padded so T is kept.
    """

    def __init__(self, channels: int, reduced: int, kernel: int, dilation: int):
        super().__init__()
        self.reduce = nn.Conv1d(channels, reduced, 1)
        self.temporal = nn.Conv1d(reduced, reduced, kernel, dilation=dilation,
                                  padding=dilation * (kernel - 1) // 2)
        self.expand = nn.Conv1d(reduced, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.reduce(x))
        y = torch.relu(self.temporal(y))
        return x + self.expand(y)


def triangle(n: int) -> torch.Tensor:
    """A box of `n` taps convolved with itself [shape=(2n - 1,)], summing to 1."""
    box = torch.full((1, 1, n), 1.0 / n)
    return nn.functional.conv1d(box, box, padding=n - 1).reshape(-1)


def fixed_filter(taps: torch.Tensor, channels: int) -> nn.Conv1d:
    """Depthwise conv applying `taps` [shape=(K,), K odd] to each of `channels`, T kept.

    Zero-padded; the weights are frozen (``requires_grad=False``): they stay in the
    state dict and are exported as constants like any other weight, but never trained.
    """
    conv = nn.Conv1d(channels, channels, taps.numel(), padding=taps.numel() // 2,
                     groups=channels, bias=False)
    with torch.no_grad():
        conv.weight.copy_(taps.reshape(1, 1, -1).expand(channels, 1, -1))
    conv.weight.requires_grad_(False)
    return conv


class PosProjection(nn.Module):
    """The pulse from R, G, B [shape=(N, 3, T)] and four weights per sample [shape=(N, 4, T)].

    ``pulse = sum_c w_c s_c`` over the `signals`: the detrended R, G, B and POS's pulse
    from them. No trained parameters; the int8 exports keep it in float
    (`ModelSpec.float_modules`): POS's moving powers are often within one int8 step of
    zero (their ratio then divides by zero), and its pulse is small next to the
    detrended colours that would share its int8 range.
    """

    POS_EPS = 1e-6
    """Added to both moving powers of `pos_pulse` (the net's input has unit spread)."""

    def __init__(self, detrend: int = 49):
        super().__init__()
        box = torch.full((detrend,), 1.0 / detrend)
        self.trend = fixed_filter(box, 3)
        """Moving mean of R, G, B (zero-padded: times `edge_gain` at the window's ends)."""
        self.power = fixed_filter(box, 2)
        """Moving mean of POS's two squared projections (`pos_pulse`)."""

    def edge_gain(self, t: int) -> torch.Tensor:
        """Taps of `trend` / taps inside a window of `t` samples, per sample [shape=(t,)].

        Times the zero-padded `trend`, the mean of the samples the box covers. Computed
        from `t` here, so the exported graph holds it as a constant of the window length
        (not a box filter run over ones and a division).
        """
        half, taps = self.trend.padding[0], self.trend.kernel_size[0]
        return torch.tensor([taps / (min(i + half, t - 1) - max(i - half, 0) + 1)
                             for i in range(t)])

    def pos_pulse(self, c: torch.Tensor) -> torch.Tensor:
        """POS's pulse [shape=(N, 1, T)] from detrended R, G, B `c` [shape=(N, 3, T)].

        ``S1 = G - B``, ``S2 = G + B - 2R`` and ``p = S1 + sqrt(P1 / P2) S2`` (Wang et al.,
        2017), with P1, P2 the moving means of S1², S2² over the ``detrend`` samples
        around each sample (not per window as in POS: the net sees one window), plus
        `POS_EPS` each. Zero padding makes both means small at the ends by the same
        factor, so their ratio stays that of the samples covered.
        """
        s1 = c[:, 1:2] - c[:, 2:3]
        s2 = c[:, 1:2] + c[:, 2:3] - 2.0 * c[:, 0:1]
        p = self.power(torch.cat([s1 * s1, s2 * s2], dim=1)) + self.POS_EPS
        return s1 + torch.sqrt(p[:, 0:1] / p[:, 1:2]) * s2

    def signals(self, rgb: torch.Tensor) -> torch.Tensor:
        """Detrended R, G, B and their POS pulse [shape=(N, 4, T)]."""
        c = rgb - self.trend(rgb) * self.edge_gain(rgb.shape[-1])
        return torch.cat([c, self.pos_pulse(c)], dim=1)

    def forward(self, rgb: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return (weights * self.signals(rgb)).sum(dim=1)


class TemporalPulseNet(nn.Module):
    """RGB trace window (N, 3, T) -> pulse (N, T) and quality (N, 1).

    The pulse is a projection of four signals, ``pulse(t) = sum_c w_c(t) s_c(t)``, with
    weights the net chooses from the window: the detrended R, G, B (each minus its
    moving mean over `detrend` samples, 1.6 s at 30 Hz) and POS's pulse computed from
    them (`PosProjection`, fixed). A 1x1 stem mixes the (not detrended) R, G, B into
    `channels` projections, dilated residual bottlenecks read them in time (receptive field
    ``1 + (kernel - 1) * sum(dilations)`` samples), a 1x1 head gives four weights per
    sample and a fixed triangle filter (a box of `smooth` samples, 1 s at 30 Hz, applied
    twice: ``2 * smooth - 1`` taps) keeps the weights slow next to the pulse; a second
    1x1 head, averaged over time, gives the quality logit.

    A triangle, not a box, smooths the weights: a box's -13 dB sidelobes let weight changes
    at about the heart rate through (a 2nd harmonic at low rates). The detrended inputs and
    the POS channel bring POS's temporal normalisation into the projection, so slow level
    changes within the window do not reach the pulse in proportion to the weights. The net
    does not filter the pulse in time: a filtering net learns a band-pass whose harmonic wins
    at low heart rates; a projection leaves the frequency to the 10 s spectral estimator.
    """

    def __init__(self, *, channels: int = 16, reduced: int = 8, kernel: int = 5,
                 dilations: tuple[int, ...] = (1, 2, 4, 8, 1), smooth: int = 31,
                 detrend: int = 49):
        super().__init__()
        self.stem = nn.Conv1d(3, channels, 1)
        self.blocks = nn.Sequential(*(TemporalBlock(channels, reduced, kernel, d)
                                      for d in dilations))
        self.weight_head = nn.Conv1d(channels, 4, 1)
        self.smooth = fixed_filter(triangle(smooth), 4)
        self.quality_head = nn.Conv1d(channels, 1, 1)
        self.projection = PosProjection(detrend)

    def forward(self, rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # noqa: D102
        x = self.blocks(self.stem(rgb))
        pulse = self.projection(rgb, self.smooth(self.weight_head(x)))
        quality = torch.sigmoid(self.quality_head(x).mean(dim=2))
        return pulse, quality


class InvertedBottleneck(nn.Module):
    """MobileNetV2 block: 1x1 expand -> 3x3 depthwise -> 1x1 project (+ input if shapes match).

    Input [shape=(N, C_in, H, W)], output [shape=(N, C_out, H, W)]; ReLU6 after the
    expand and depthwise convs, linear projection.
    """

    def __init__(self, c_in: int, c_out: int, expand: int):
        super().__init__()
        hidden = c_in * expand
        self.expand = nn.Conv2d(c_in, hidden, 1)
        self.depthwise = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        self.project = nn.Conv2d(hidden, c_out, 1)
        self.residual = c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = nn.functional.relu6(self.expand(x))
        y = nn.functional.relu6(self.depthwise(y))
        y = self.project(y)
        return x + y if self.residual else y


def attention_mask(logits: torch.Tensor) -> torch.Tensor:
    """TS-CAN soft mask ``sigmoid(l) / (2 * mean(sigmoid(l)))`` over H, W.

    Written with a mean, not ``H * W / (2 * sum)``: the same values, but int8 converters
    accept it (toolchain.md, PT2E note).
    """
    mask = torch.sigmoid(logits)
    return mask / (2.0 * mask.mean(dim=(2, 3), keepdim=True))


class FramePulseNet(nn.Module):
    """Per-frame pulse derivative from a motion and an appearance 36x36 crop.

    Two branches at 36x36 then 18x18 (2x2 average pools); after each stage a 1x1 conv on
    the appearance features draws an attention mask that gates the motion features; a
    last inverted bottleneck at 9x9, global average pool and a linear head.
    """

    def __init__(self, *, width: int = 8, expand: int = 2):
        super().__init__()
        w1, w2, w3 = width, 2 * width, 3 * width
        self.motion_stem = nn.Conv2d(3, w1, 3, padding=1)
        self.appearance_stem = nn.Conv2d(3, w1, 3, padding=1)
        self.motion1 = InvertedBottleneck(w1, w1, expand)
        self.appearance1 = InvertedBottleneck(w1, w1, expand)
        self.attention1 = nn.Conv2d(w1, 1, 1)
        self.motion2 = InvertedBottleneck(w1, w2, expand)
        self.appearance2 = InvertedBottleneck(w1, w2, expand)
        self.attention2 = nn.Conv2d(w2, 1, 1)
        self.motion3 = InvertedBottleneck(w2, w3, expand)
        self.pool = nn.AvgPool2d(2)
        self.head = nn.Linear(w3, 1)

    def forward(self, motion: torch.Tensor, appearance: torch.Tensor) -> torch.Tensor:  # noqa: D102
        relu6 = nn.functional.relu6
        m = self.motion1(relu6(self.motion_stem(motion)))
        a = self.appearance1(relu6(self.appearance_stem(appearance)))
        m = self.pool(m * attention_mask(self.attention1(a)))
        a = self.pool(a)
        m = self.motion2(m)
        a = self.appearance2(a)
        m = self.pool(m * attention_mask(self.attention2(a)))
        m = self.motion3(m)
        return self.head(m.mean(dim=(2, 3)))

    @torch.no_grad()
    def center_(self, motion: torch.Tensor, appearance: torch.Tensor) -> FramePulseNet:
        """Fold the mean of the last features into the biases, so int8 keeps the pulse.

        The pulse reaches the head as a tiny modulation of pooled features that sit at large
        constant offsets (the Pearson loss leaves offsets free), so a per-tensor int8 step
        would be larger than the signal. Subtracting each channel's mean (over `motion`,
        `appearance`: training frames) from the last projection's bias and adding it back
        through the head is exact in fp32; ``pulse_diff`` becomes zero-mean. Returns the model.
        """
        acts: list[torch.Tensor] = []
        hook = self.motion3.project.register_forward_hook(lambda _m, _a, out: acts.append(out))
        try:
            self(motion, appearance)
        finally:
            hook.remove()
        mean = acts[0].mean(dim=(0, 2, 3))
        self.motion3.project.bias -= mean
        self.head.bias += self.head.weight @ mean
        self.head.bias -= self(motion, appearance).mean()
        return self


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A registered model: constructor, input shapes (batch 1) and names of its outputs."""

    factory: Callable[[], nn.Module]
    inputs: dict[str, tuple[int, ...]]
    outputs: tuple[str, ...]
    kind: str
    """``temporal`` (a trace window per run) or ``frame`` (one frame per run)."""
    float_modules: tuple[str, ...] = ()
    """Top-level submodules (attribute names) whose operations, their submodules' included,
    the int8 files keep in float (`export.formats`)."""


WINDOW = 48
"""Samples per window of the temporal net at run time (1.6 s at 30 Hz; the export's input).

The runtime scales each window's pulse to unit spread before the overlap-add, as POS does
with its 1.6 s windows, so the window is also the time scale of that gain control. The net
is fully convolutional and is trained on longer windows (`TRAIN_WINDOW`).
"""
TRAIN_WINDOW = 96
"""Samples per training window (3.2 s at 30 Hz): the band-limited Pearson loss needs a few
cycles of the pulse (48 samples hold one cycle at 38 bpm)."""

MODELS: dict[str, ModelSpec] = {
    "temporal_pulse": ModelSpec(TemporalPulseNet, {"rgb": (1, 3, WINDOW)},
                                ("pulse", "quality"), "temporal", ("projection",)),
    "frame_pulse": ModelSpec(FramePulseNet,
                             {"motion": (1, 3, 36, 36), "appearance": (1, 3, 36, 36)},
                             ("pulse_diff",), "frame"),
}


def build(name: str) -> nn.Module:
    """A freshly initialised model of `MODELS`."""
    if name not in MODELS:
        raise KeyError(f"model must be one of {', '.join(MODELS)}; got {name!r}")
    return MODELS[name].factory()


def cost(model: nn.Module, inputs: dict[str, tuple[int, ...]]) -> tuple[int, int]:
    """(parameters, multiply-accumulates per run) of `model` for batch-1 `inputs`.

    MACs count conv and linear layers (K·C_in/groups·C_out·output size), measured with
    forward hooks; element-wise ops, pools and activations are not counted.
    """
    macs = 0

    def hook(module: nn.Module, _args: object, out: torch.Tensor) -> None:
        nonlocal macs
        if isinstance(module, nn.Conv1d | nn.Conv2d):
            k = int(torch.tensor(module.kernel_size).prod())
            macs += k * module.in_channels // module.groups * out.numel()
        elif isinstance(module, nn.Linear):
            macs += module.in_features * out.numel()

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, nn.Conv1d | nn.Conv2d | nn.Linear)]
    with torch.no_grad():
        model(*(torch.zeros(shape) for shape in inputs.values()))
    for h in handles:
        h.remove()
    return sum(p.numel() for p in model.parameters()), macs
