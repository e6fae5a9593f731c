"""Seeded CPU training of the `export.models` nets on world-simulator data.

Both nets learn with a negative-Pearson loss (the pulse's scale and offset are free, its
shape and phase are not), Adam and a cosine learning-rate decay. The temporal net's loss
reads its pulse inside the heart-rate band only (`band_limited`, 0.6-3.5 Hz): its output
is an unfiltered colour projection, and drift or sensor noise outside the band is not
what the projection should spend itself on (the runtime's spectral estimator never
sees it); the temporal net also
learns its quality head, whose target is the Pearson correlation it reached on that
window (clipped to [0, 1]), and draws the windows of clips with moderate or strong head
motion more often (`TrainConfig.motion_oversample`). The frame net ends by folding the
mean of its last features into the biases (`FramePulseNet.center_`, training frames),
which int8 needs. Weights are saved as ``.npz`` of named float32 arrays with a JSON file
of the training config and validation metrics: no pickle.

    python -m export.train --model temporal_pulse --data .bench/cnn_data --out .bench/cnn_runs
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from edge.cnn import frame_inputs, normalise_window
from export.data import SEEDS, load_set, random_world
from export.models import MODELS, TRAIN_WINDOW, WINDOW, build

__all__ = ["PULSE_BAND_HZ", "TrainConfig", "band_limited", "clip_weights", "load_weights",
           "save_weights", "train"]


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Training settings (defaults: the shipped models)."""

    model: str = "temporal_pulse"
    steps: int = 3000
    batch: int = 64
    lr: float = 3e-3
    seed: int = 0
    noise_max: float = 0.002
    """Extra white noise on the RGB traces, up to this fraction of the channel mean."""
    stretch: tuple[float, float] = (0.5, 2.0)
    """Range of the time-stretch factor of training windows (heart rate x factor)."""
    sequence: int = 64
    """Frames per training sequence (frame net)."""
    motion_oversample: float = 3.0
    """Temporal net: windows from clips with moderate or strong head motion (96 of the 240
    training clips) are drawn this many times as often (`clip_weights`)."""
    threads: int = 1


def pearson_loss(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(1 - mean Pearson r, per-row r) over the last axis."""
    p = pred - pred.mean(dim=-1, keepdim=True)
    t = target - target.mean(dim=-1, keepdim=True)
    r = (p * t).sum(-1) / (p.norm(dim=-1) * t.norm(dim=-1) + 1e-8)
    return 1.0 - r.mean(), r


PULSE_BAND_HZ = (0.6, 3.5)
"""Band of the temporal net's loss (and validation r): 36-210 bpm."""


def band_limited(x: torch.Tensor, *, fs: float = 30.0,
                 band_hz: tuple[float, float] = PULSE_BAND_HZ) -> torch.Tensor:
    """`x` [shape=(..., T)] with the frequencies outside `band_hz` removed (FFT mask)."""
    n = x.shape[-1]
    freq = torch.fft.rfftfreq(n, 1.0 / fs)
    keep = ((freq >= band_hz[0]) & (freq <= band_hz[1])).to(x.dtype)
    return torch.fft.irfft(torch.fft.rfft(x, dim=-1) * keep, n, dim=-1)


TARGET_HR_BPM = (38.0, 190.0)
"""Heart rates the time-stretch augmentation spreads the training windows over."""


def fundamental_target(data: dict[str, np.ndarray], *, fs: float = 30.0) -> np.ndarray:
    """The true pulse of each clip low-passed at 1.6 x its median heart rate (FFT).

    The net learns the pulse's fundamental, not its beat shape: the harmonics of real
    PPG beats (dicrotic notch) otherwise make the 2nd harmonic win the spectral peak at
    low heart rates.
    """
    out = np.empty_like(data["pulse"])
    offsets = data["offsets"]
    for a, b in itertools.pairwise(offsets):
        if b - a < 2:
            continue
        spectrum = np.fft.rfft(data["pulse"][a:b])
        freq = np.fft.rfftfreq(b - a, 1.0 / fs)
        cutoff_hz = 1.6 * np.median(data["heart_rate_bpm"][a:b]) / 60.0
        spectrum[(freq > cutoff_hz) | (freq < 0.5)] = 0.0
        out[a:b] = np.fft.irfft(spectrum, b - a)
    return out


MOTION_OVERSAMPLED = ("moderate", "strong")
"""Head-motion levels of `export.data.random_world` that `clip_weights` weights up."""


def clip_weights(n_clips: int, split: str, motion_oversample: float) -> np.ndarray:
    """Sampling weight of each clip of a `export.data.make_set` set [shape=(n_clips,)].

    `motion_oversample` for a clip whose world has a head motion in `MOTION_OVERSAMPLED`,
    1 otherwise. The worlds are rebuilt from their seeds (clip i of `split` has seed
    ``SEEDS[split] + i``); nothing is simulated.
    """
    return np.array([motion_oversample if random_world(SEEDS[split] + i).motion
                     in MOTION_OVERSAMPLED else 1.0 for i in range(n_clips)])


def temporal_batch(data: dict[str, np.ndarray], rng: np.random.Generator, n: int, *,
                   noise_max: float, stretch: tuple[float, float] = (1.0, 1.0),
                   window: int = WINDOW) -> tuple[np.ndarray, np.ndarray]:
    """`n` random windows: normalised inputs (n, 3, T) and true pulse (n, T), float32.

    T is `window`: the runtime's `WINDOW` by default (int8 calibration), `TRAIN_WINDOW`
    for training and validation. Clips are drawn in proportion to their length, times
    ``data["clip_weight"]`` if the set has it (`clip_weights`, training only). Each
    window is ``T * s`` samples resampled to T, which multiplies the heart rate by s; s
    is chosen so that the heart rates seen are uniform over `TARGET_HR_BPM`, within
    `stretch` (the simulated 45-170 bpm leave the band's ends thinly covered).
    """
    offsets = data["offsets"]
    lengths = np.diff(offsets)
    longest = int(np.ceil(window * stretch[1]))
    usable = np.flatnonzero(lengths >= longest)
    weight = lengths[usable] * data.get("clip_weight", np.ones(len(lengths)))[usable]
    clips = rng.choice(usable, n, p=weight / weight.sum())
    x = np.empty((n, 3, window), dtype=np.float32)
    y = np.empty((n, window), dtype=np.float32)
    out = np.empty((1, 3, window), dtype=np.float32)
    target = data.get("target", data["pulse"])
    grid = np.arange(window, dtype=np.float64)
    for k, c in enumerate(clips):
        factor = 1.0
        if stretch != (1.0, 1.0):
            clip_hr = float(np.median(data["heart_rate_bpm"][offsets[c] : offsets[c + 1]]))
            factor = float(np.clip(rng.uniform(*TARGET_HR_BPM) / clip_hr, *stretch))
        span = int(np.ceil(window * factor))
        s = offsets[c] + rng.integers(0, lengths[c] - span + 1)
        at = grid * factor
        rgb = np.column_stack([np.interp(at, np.arange(span), data["rgb"][s : s + span, j])
                               for j in range(3)])
        if noise_max > 0:
            rgb += rng.normal(0.0, rng.uniform(0, noise_max), (window, 3)) * rgb.mean(axis=0)
        normalise_window(rgb, out)
        x[k] = out[0]
        y[k] = np.interp(at, np.arange(span), target[s : s + span])
    return x, y


def frame_batch(data: dict[str, np.ndarray], rng: np.random.Generator, n_seq: int,
                length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`n_seq` sequences of `length` frames: motion, appearance (n, 3, 36, 36), pulse diff."""
    offsets = data["offsets"]
    lengths = np.diff(offsets)
    clips = rng.integers(0, len(lengths), n_seq)
    n = n_seq * length
    motion = np.empty((n, 3, 36, 36), dtype=np.float32)
    appearance = np.empty_like(motion)
    target = np.empty((n_seq, length), dtype=np.float32)
    for k, c in enumerate(clips):
        s = offsets[c] + 1 + rng.integers(0, lengths[c] - length - 1)
        for j in range(length):
            i = s + j
            frame_inputs(data["crops"][i - 1], data["crops"][i], motion[k * length + j : k * length
                         + j + 1], appearance[k * length + j : k * length + j + 1])
        target[k] = data["pulse"][s : s + length] - data["pulse"][s - 1 : s + length - 1]
    return motion, appearance, target


def save_weights(model: torch.nn.Module, path: Path, meta: dict[str, object]) -> None:
    """``path`` (.npz of named float32 arrays) and ``path.with_suffix('.json')``."""
    arrays = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    np.savez(path, **arrays)
    path.with_suffix(".json").write_text(json.dumps(meta, indent=1), "utf-8")


def load_weights(path: Path) -> tuple[torch.nn.Module, dict[str, object]]:
    """The model saved by `save_weights` and its metadata."""
    meta = json.loads(path.with_suffix(".json").read_text("utf-8"))
    model = build(str(meta["config"]["model"]))
    with np.load(path, allow_pickle=False) as data:
        model.load_state_dict({k: torch.from_numpy(data[k]) for k in data.files})
    return model.eval(), meta


def _step_temporal(model, data, rng, cfg):
    x, y = temporal_batch(data, rng, cfg.batch, noise_max=cfg.noise_max, stretch=cfg.stretch,
                          window=TRAIN_WINDOW)
    pulse, quality = model(torch.from_numpy(x))
    loss, r = pearson_loss(band_limited(pulse), torch.from_numpy(y))
    q_loss = ((quality[:, 0] - r.detach().clamp(0.0, 1.0)) ** 2).mean()
    return loss + q_loss


def _step_frame(model, data, rng, cfg):
    n_seq = max(1, cfg.batch // cfg.sequence)
    motion, appearance, target = frame_batch(data, rng, n_seq, cfg.sequence)
    out = model(torch.from_numpy(motion), torch.from_numpy(appearance))
    loss, _ = pearson_loss(out.reshape(n_seq, cfg.sequence), torch.from_numpy(target))
    return loss


def validate(model: torch.nn.Module, data: dict[str, np.ndarray], kind: str) -> float:
    """Mean Pearson r on a fixed, seeded sample of validation windows (pulse band) or sequences.

    Temporal windows are `TRAIN_WINDOW` long, like the training ones.
    """
    rng = np.random.default_rng(12345)
    with torch.no_grad():
        if kind == "temporal":
            x, y = temporal_batch(data, rng, 1024, noise_max=0.0, window=TRAIN_WINDOW)
            _, r = pearson_loss(band_limited(model(torch.from_numpy(x))[0]),
                                torch.from_numpy(y))
        else:
            motion, appearance, target = frame_batch(data, rng, 32, 64)
            out = model(torch.from_numpy(motion), torch.from_numpy(appearance))
            _, r = pearson_loss(out.reshape(32, 64), torch.from_numpy(target))
    return float(r.mean())


def train(cfg: TrainConfig, data_dir: Path, out_dir: Path) -> Path:
    """Train `cfg.model` on the sets in `data_dir`; returns the saved weights' path."""
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    rng = np.random.default_rng(cfg.seed)
    kind = MODELS[cfg.model].kind
    prefix = "traces" if kind == "temporal" else "crops"
    train_set = load_set(data_dir / f"{prefix}_train.npz")
    val_set = load_set(data_dir / f"{prefix}_val.npz")
    if kind == "temporal":
        train_set["target"] = fundamental_target(train_set)
        train_set["clip_weight"] = clip_weights(len(train_set["offsets"]) - 1, "train",
                                                cfg.motion_oversample)
    model = build(cfg.model)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps)
    step_fn = _step_temporal if kind == "temporal" else _step_frame
    started = time.perf_counter()
    for step in range(cfg.steps):
        model.train()
        loss = step_fn(model, train_set, rng, cfg)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 500 == 0 or step == cfg.steps - 1:
            r = validate(model.eval(), val_set, kind)
            print(f"{cfg.model} step {step:5d} loss {loss.item():.3f} val r {r:.3f} "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)
    if kind == "frame":  # int8-friendly offsets (FramePulseNet.center_), from training frames
        motion, appearance, _ = frame_batch(train_set, np.random.default_rng(cfg.seed + 1), 8,
                                            cfg.sequence)
        model.eval().center_(torch.from_numpy(motion), torch.from_numpy(appearance))
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{cfg.model}.npz"
    meta = {"config": asdict(cfg), "val_pearson": validate(model.eval(), val_set, kind),
            "train_seconds": round(time.perf_counter() - started, 1)}
    save_weights(model.eval(), path, meta)
    return path


def main(argv: list[str] | None = None) -> int:
    """Train one model from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="temporal_pulse", choices=list(MODELS))
    parser.add_argument("--data", type=Path, default=Path(".bench/cnn_data"))
    parser.add_argument("--out", type=Path, default=Path(".bench/cnn_runs"))
    parser.add_argument("--steps", type=int)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    cfg = TrainConfig(model=args.model, seed=args.seed)
    if args.steps:
        cfg = TrainConfig(model=args.model, seed=args.seed, steps=args.steps)
    print(train(cfg, args.data, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
