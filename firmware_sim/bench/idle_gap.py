"""What an idle gap before a push costs on this host (``python -m firmware_sim.bench.idle_gap``).

The real pipeline (default config) runs 600 frames of the speed benchmark's clip three
times: pushes back to back, pushes each after a 30 ms sleep (as a frame thread waits for
its camera), and back to back again. For the last 500 pushes of each it prints the median
CPU time of a push and of each stage, in ms. The unit costs of the cost model are timed
back to back; `simulate --mode wall` sleeps between pushes, as a board does.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

GAPS_S = (0.0, 0.03, 0.0)


def main() -> None:
    """Run the measurement and print a Markdown table."""
    import edge
    from edge.capture.video_file import VideoFileSource
    from edge.probe import STAGES, RecordingProbe
    from firmware_sim.bench.speed import ensure_clip

    with VideoFileSource(ensure_clip(Path(".bench/clips"))) as source:
        frames = [item for _, item in zip(range(600), source, strict=False)]
    print("| gap before a push | push | " + " | ".join(STAGES) + " |")
    print("|---|---|" + "---|" * len(STAGES))
    for gap_s in GAPS_S:
        probe = RecordingProbe(clock=time.thread_time)
        pipe = edge.Pipeline(edge.PipelineConfig(), probe=probe)
        pipe.warmup()
        rows = []
        for frame, timestamp_s in frames:
            if gap_s:
                time.sleep(gap_s)
            start = time.thread_time()
            pipe.push(frame, timestamp_s)
            rows.append([time.thread_time() - start] + [probe.stage_s[n] for n in STAGES])
        medians = 1e3 * np.median(np.array(rows)[100:], axis=0)
        print(f"| {1e3 * gap_s:.0f} ms | " + " | ".join(f"{m:.3f}" for m in medians) + " |",
              flush=True)
        pipe.close()


if __name__ == "__main__":
    main()
