"""How often the near search re-finds a face, by skin tone and light (``python -m
firmware_sim.bench.near_search [--seeds 9400,9401,9402] [--sizes 40,48]``).

For each skin tone (light, medium, dark), light level (1.0, 0.35) and seed, an 8 s 640x480
simulator clip with mild head motion goes through MJPG; a full search finds the face on
one of its frames, then the near search (`edge.roi.FaceDetector.detect_near`) runs around
that box on every 8th frame, once with each working size alone and once with the sizes
tried in turn, as `edge.roi.NEAR_FACE_PX` does. Prints the share of frames where it found
the face and the median CPU time of a search. Seeds 9300-9302 chose the sizes; 9400+ are
held out.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

SKINS = ("light", "medium", "dark")
LIGHTS = (1.0, 0.35)


def _near(detector: object, frame: np.ndarray, box: object, sizes: tuple[int, ...]) -> object:
    import edge.roi

    before = edge.roi.NEAR_FACE_PX
    edge.roi.NEAR_FACE_PX = sizes
    try:
        return detector.detect_near(frame, box)  # type: ignore[attr-defined]
    finally:
        edge.roi.NEAR_FACE_PX = before


def main() -> None:
    """Run the measurement and print a Markdown table."""
    import cv2

    from edge.capture.video_file import VideoFileSource
    from edge.roi import FaceDetector
    from firmware_sim.world import WorldConfig, make_clip, write_clip

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="9400,9401,9402")
    parser.add_argument("--sizes", default="40,48", help="working sizes, tried in this order")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    sizes = tuple(int(s) for s in args.sizes.split(","))
    ways = [(size,) for size in sizes] + ([sizes] if len(sizes) > 1 else [])
    cv2.setNumThreads(1)
    print("| skin | light | near sizes | found | median ms |\n|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for skin in SKINS:
            for light in LIGHTS:
                found = {way: [] for way in ways}
                spent = {way: [] for way in ways}
                for seed in seeds:
                    config = WorldConfig(duration_s=8.0, seed=seed, skin_tone=skin,
                                         light_level=light, motion="mild")
                    path = write_clip(make_clip(config), Path(tmp) / "clip.avi", codec="MJPG")
                    with VideoFileSource(path) as source:
                        frames = [frame for i, (frame, _) in enumerate(source) if i % 8 == 0]
                    detector = FaceDetector(detect_width_px=160)
                    box = next((b for b in map(detector.detect, frames) if b is not None), None)
                    for way in ways:
                        for frame in frames:
                            start = time.thread_time()
                            hit = box is not None and _near(detector, frame, box, way) is not None
                            spent[way].append(time.thread_time() - start)
                            found[way].append(hit)
                for way in ways:
                    name = " then ".join(map(str, way))
                    print(f"| {skin} | {light} | {name} | {100 * np.mean(found[way]):.1f} % | "
                          f"{1e3 * np.median(spent[way]):.2f} |", flush=True)


if __name__ == "__main__":
    main()
