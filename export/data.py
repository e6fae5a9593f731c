"""Training data from the world simulator: RGB traces and face crops with the true pulse.

Each clip comes from a random `WorldConfig` (heart rate 45-170 bpm with ramps, three skin
tones and random ones, light 0.3-1.3, still to strong head motion, JPEG, flicker, camera
rates 15-30 fps, jitter, drops; the pulse shape from a two-Gaussian beat or from the real
PPG recordings kept beside the repository, `SIGNALS_DIR`). Seeds make every set reproducible; the
training, validation and benchmark clips use disjoint seed ranges (benchmark: 100-399).

- Traces (temporal net): frames go through the real `edge.Pipeline` front end (face
  tracker, skin ROI, box-change gain, resampler), so training sees exactly what the
  runtime feeds the net; the truth pulse is interpolated onto the resampler's grid.
- Crops (frame net): the head box of every frame, its central skin part resized to 36x36.

Sets are stored as ``.npz`` of plain numeric arrays (loaded with ``allow_pickle=False``).
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np

import edge
from firmware_sim.world import WorldConfig, make_clip

__all__ = ["CROP_PX", "SEEDS", "SIGNALS_DIR", "crops_from_clip", "load_set", "make_set",
           "random_world", "trace_from_clip"]

SIGNALS_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "signals"
SEEDS = {"train": 10_000, "val": 20_000}
"""First world seed of each split; clip i of a split uses seed ``SEEDS[split] + i``."""
FS_HZ = 30.0
CROP_PX = 36


def _pulse_sources() -> list[Path | None]:
    found = sorted(SIGNALS_DIR.glob("*.csv")) if SIGNALS_DIR.is_dir() else []
    return [None, *found]


def random_world(seed: int, *, duration_s: float = 20.0, width: int = 320,
                 height: int = 240) -> WorldConfig:
    """A random but reproducible world for training or validation."""
    rng = np.random.default_rng(seed)
    hr = float(rng.uniform(45.0, 170.0))
    end = float(np.clip(hr + rng.uniform(-25, 25), 40, 180)) if rng.random() < 0.2 else None
    tones = ["light", "medium", "dark"]
    tone: str | tuple[float, float, float] = tones[rng.integers(3)]
    if rng.random() < 0.25:
        a, b = rng.choice(3, 2, replace=False)
        mix = rng.random()
        tone = tuple(float(v) for v in mix * np.array(edge_tone(tones[a]))
                     + (1 - mix) * np.array(edge_tone(tones[b])))
    fps = float(rng.choice([30.0, 30.0, 30.0, 25.0, 15.0]))
    sources = _pulse_sources()
    source = sources[rng.integers(len(sources))]
    return WorldConfig(
        width=width, height=height, fps=fps, duration_s=duration_s,
        heart_rate_bpm=hr, heart_rate_end_bpm=end,
        heart_rate_drift_bpm=float(rng.uniform(0, 4)),
        hrv_sdnn_ms=float(rng.uniform(10, 60)),
        breathing_rate_bpm=float(rng.uniform(6, 30)), rsa_bpm=float(rng.uniform(0, 6)),
        riiv_fraction=float(rng.uniform(0, 0.004)), riav_fraction=float(rng.uniform(0, 0.3)),
        head_bob_px=float(rng.uniform(0, 3)),
        motion=str(rng.choice(["still", "still", "mild", "mild", "moderate", "moderate",
                               "strong"])),
        skin_tone=tone,
        light_level=float(np.exp(rng.uniform(np.log(0.3), np.log(1.3)))),
        exposure_gain=float(rng.choice([1.0, 1.0, 1.5, 2.0])),
        illumination_drift_fraction=float(rng.uniform(0, 0.05)),
        flicker_fraction=float(rng.uniform(0, 0.03)),
        specular_fraction=float(rng.uniform(0, 0.12)),
        pulse_amplitude=None if rng.random() < 0.5 else float(rng.uniform(0.0012, 0.005)),
        pulse_source=source,
        jpeg_quality=None if rng.random() < 0.6 else int(rng.integers(50, 96)),
        jitter_s=float(rng.uniform(0, 0.2 / fps)),
        drop_rate=float(rng.uniform(0, 0.03)),
        seed=seed,
    )


def edge_tone(name: str) -> tuple[float, float, float]:
    """Diffuse RGB of a named skin tone."""
    from firmware_sim.world import SKIN_TONES_RGB

    return SKIN_TONES_RGB[name]


def trace_from_clip(world: WorldConfig) -> dict[str, np.ndarray]:
    """ROI-mean RGB on the pipeline's uniform grid, with the true pulse and heart rate.

    Returns the longest run without a restart: ``rgb`` (n, 3), ``pulse`` (n,),
    ``heart_rate_bpm`` (n,), ``timestamp_s`` (n,).
    """
    clip = make_clip(world)
    pipe = edge.Pipeline(edge.PipelineConfig())
    runs: list[list[np.ndarray]] = []
    starts: list[float] = []
    resampler = pipe.resampler

    def emit(value: np.ndarray) -> None:
        if resampler.emitted == 0:  # the first output after a (re)start
            runs.append([])
            starts.append(float(resampler.last_timestamp_s))
        runs[-1].append(value.copy())

    resampler.emit = emit
    for frame, t in clip.frames():
        pipe.push(frame, t)
    if not runs:
        return {k: np.zeros((0, 3) if k == "rgb" else 0) for k in
                ("rgb", "pulse", "heart_rate_bpm", "timestamp_s")}
    best = int(np.argmax([len(r) for r in runs]))
    rgb = np.array(runs[best])
    t = starts[best] + np.arange(len(rgb)) / FS_HZ
    truth = clip.truth
    return {"rgb": rgb, "pulse": np.interp(t, truth.timestamp_s, truth.pulse),
            "heart_rate_bpm": np.interp(t, truth.timestamp_s, truth.heart_rate_bpm),
            "timestamp_s": t}


def crops_from_clip(world: WorldConfig) -> dict[str, np.ndarray]:
    """36x36 uint8 crops of the face's skin in every delivered frame, with the true pulse."""
    clip = make_clip(world)
    crops = np.empty((len(clip), CROP_PX, CROP_PX, 3), dtype=np.uint8)
    for i in range(len(clip)):
        x, y, w, h = clip.face_box_at(i)
        x0, x1 = x + int(0.2 * w), x + int(0.8 * w)
        y0, y1 = y + int(0.15 * h), y + int(0.65 * h)
        crop = clip.frame_at(i)[y0:y1, x0:x1]
        crops[i] = cv2.resize(crop, (CROP_PX, CROP_PX), interpolation=cv2.INTER_AREA)
    return {"crops": crops, "pulse": clip.truth.pulse.copy(),
            "heart_rate_bpm": clip.truth.heart_rate_bpm.copy(),
            "timestamp_s": clip.truth.timestamp_s.copy()}


def _job(args: tuple[str, int, float]) -> dict[str, np.ndarray]:
    kind, seed, duration_s = args
    world = random_world(seed, duration_s=duration_s)
    if kind == "crops":
        world = dataclasses.replace(world, fps=30.0, jitter_s=0.0, drop_rate=0.0)
        return crops_from_clip(world)
    return trace_from_clip(world)


def make_set(path: Path, *, kind: str, split: str, n_clips: int, duration_s: float = 20.0,
             workers: int = 2) -> Path:
    """Simulate `n_clips` clips of `split` and store them concatenated in `path` (.npz).

    ``offsets`` (n_clips + 1,) delimit the clips in the concatenated arrays.
    """
    jobs = [(kind, SEEDS[split] + i, duration_s) for i in range(n_clips)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        parts = list(pool.map(_job, jobs))
    offsets = np.cumsum([0] + [len(p["pulse"]) for p in parts])
    arrays = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, offsets=offsets, **arrays)
    return path


def load_set(path: Path) -> dict[str, np.ndarray]:
    """A set written by `make_set` (no pickle)."""
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}
