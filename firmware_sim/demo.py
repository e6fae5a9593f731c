"""The clip of ``edge-vitals run --demo``, registered as the ``demo`` source.

Made on the spot by the world simulator (`firmware_sim.world.demo_config`),
with its true rates in one line for the run's summary.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

__all__ = ["DemoClip", "demo_clip"]


@dataclass(frozen=True, kw_only=True)
class DemoClip:
    """Frames with a known truth: what ``edge-vitals run`` needs of a registered source."""

    frames: Iterable[tuple[np.ndarray, float]]
    """(RGB uint8 frame, timestamp_s) pairs, rendered as they are read."""
    frame_count: int
    truth: str
    """The clip's mean heart rate and its breathing rate, in one line."""


def demo_clip() -> DemoClip:
    """The seeded demo clip of `firmware_sim.world.demo_config`."""
    from firmware_sim.world import demo_config, make_clip

    clip = make_clip(demo_config())
    heart_rate_bpm = clip.truth.mean_heart_rate_bpm(0.0, clip.config.duration_s)
    return DemoClip(frames=clip.frames(), frame_count=len(clip),
                    truth=f"{heart_rate_bpm:.1f} bpm, "
                          f"{clip.config.breathing_rate_bpm:g} breaths/min")
