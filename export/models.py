"""The small CNNs: building blocks, the two nets and the `MODELS` registry (needs torch).

Both nets are built from 1x1 convolutions (Lin et al., "Network in Network", 2014; the
Inception "reduce" layers; MobileNet's pointwise convs) around cheap spatial or temporal
convolutions; costs follow algorithms.md §7.1 (params = K·C_in·C_out, MACs = params·L).

- ``temporal_pulse``: a 1-D net on ROI-mean RGB traces, the model behind ``--method cnn``.
  Input ``rgb`` [shape=(1, 3, T)], the window normalised by `edge.cnn.normalise_window`;
  outputs ``pulse`` [shape=(1, T)] (the pulse waveform: a colour projection of the input
  with weights the net chooses; arbitrary scale) and
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

__all__ = ["MODELS", "FramePulseNet", "ModelSpec", "TemporalPulseNet", "build", "cost"]


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


class TemporalPulseNet(nn.Module):
    """RGB trace window (N, 3, T) -> pulse (N, T) and quality (N, 1).

    The pulse is a colour projection of the input, ``pulse(t) = sum_c w_c(t) rgb_c(t)``,
    as in POS and CHROM, with weights the net chooses from the window: a 1x1 stem mixes
    R, G, B into `channels` projections, dilated residual bottlenecks read them in time
    (receptive field ``1 + (kernel - 1) * sum(dilations)`` samples), a 1x1 head gives
    three weights per sample and a fixed box filter of `smooth` samples (1 s at 30 Hz)
    keeps the weights slow next to the pulse; a second 1x1 head, averaged over time,
    gives the quality logit.

    The net does not filter the pulse in time. A first version did (its pulse head
    read the filtered features): trained on 3.2 s windows it became a band-pass peaking
    at 1.5-2.5 Hz (gain 1.5 at 0.75 Hz, 14 at 1.5 Hz, on clean sines) whose ReLUs also
    made a 2nd harmonic of their own, so below ~60 bpm the harmonic won the heart-rate
    spectrum (a 45 bpm clip read as 90). A projection leaves the pulse's spectrum as
    the camera recorded it and the frequency to the 10 s spectral estimator, which
    sees far more cycles than a window does.
    """

    def __init__(self, *, channels: int = 16, reduced: int = 8, kernel: int = 5,
                 dilations: tuple[int, ...] = (1, 2, 4, 8, 1), smooth: int = 31):
        super().__init__()
        self.stem = nn.Conv1d(3, channels, 1)
        self.blocks = nn.Sequential(*(TemporalBlock(channels, reduced, kernel, d)
                                      for d in dilations))
        self.weight_head = nn.Conv1d(channels, 3, 1)
        self.smooth = nn.Conv1d(3, 3, smooth, padding=smooth // 2, groups=3, bias=False)
        nn.init.constant_(self.smooth.weight, 1.0 / smooth)
        self.smooth.weight.requires_grad_(False)
        self.quality_head = nn.Conv1d(channels, 1, 1)

    def forward(self, rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # noqa: D102
        x = self.blocks(self.stem(rgb))
        weights = self.smooth(self.weight_head(x))
        pulse = (weights * rgb).sum(dim=1)
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

        The pulse reaches the head as a tiny modulation of the pooled features: on the
        validation crops each of the 24 pooled channels varies by 1e-4 to 6e-4 around a
        constant offset of up to ±0.27, and the output by 3e-4 around 0.19 (the Pearson
        loss leaves offsets free). A per-tensor int8 range must span the offsets, so its
        step (2e-3, 7e-4) is larger than the signal: int8 vs fp32 r 0.77. Subtracting
        each channel's mean (over `motion`, `appearance`: training frames) from the last
        projection's bias and adding it back through the head is exact; the head's bias
        then also drops the output's mean, so ``pulse_diff`` is zero-mean (its offset
        was arbitrary). Returns the model.
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


WINDOW = 96
"""Samples per window of the temporal net (3.2 s at 30 Hz)."""

MODELS: dict[str, ModelSpec] = {
    "temporal_pulse": ModelSpec(TemporalPulseNet, {"rgb": (1, 3, WINDOW)},
                                ("pulse", "quality"), "temporal"),
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
