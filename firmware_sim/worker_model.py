"""The face detector's worker on its own modelled core, for the deterministic replay.

`edge.face_worker.DetectorWorker` runs detections on a thread, so what the pipeline sees
depends on the host's timing. `ModelledWorker` is a runner with the same interface that
runs each job at once (the same search on the same frame) but hands its result to the
tracker only when the modelled detection ends on the device's clock: the replay sets
`now_s` to each push's modelled start, and a result is adopted by the first push that
starts at or after that end. The same seed gives the same adoption frames on any host.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from edge.face_worker import Detection, DetectionJob, run_job
from firmware_sim.costs import UnitCosts, detection_host_seconds
from firmware_sim.profiles import DeviceProfile

__all__ = ["ModelledWorker", "WorkerJob"]


@dataclass(frozen=True, kw_only=True, slots=True)
class WorkerJob:
    """One detection on the modelled worker core."""

    start_s: float
    end_s: float
    host_model_s: float
    """The cost model's host seconds for the job's work (with the host's spread)."""
    host_measured_s: float
    """What the search took on this host (thread CPU seconds; for the host check only)."""
    full_search: bool


class ModelledWorker:
    """Runs detection jobs at once and releases each result at its modelled end time."""

    on_frame_path = False

    def __init__(self, detector: object, *, costs: UnitCosts, profile: DeviceProfile,
                 rng: np.random.Generator):
        self.detector = detector
        self.costs, self.profile, self.rng = costs, profile, rng
        self.now_s = 0.0
        """The modelled time of the push that runs now (set by the replay)."""
        self.jobs: list[WorkerJob] = []
        self._pending: tuple[float, Detection] | None = None

    @property
    def idle(self) -> bool:
        """No detection running or waiting to be adopted."""
        return self._pending is None

    def submit(self, job: DetectionJob) -> None:
        """Run `job` now; its result is due when the modelled detection ends."""
        t0 = time.thread_time()
        found = run_job(self.detector, job)
        measured = time.thread_time() - t0
        host = detection_host_seconds(self.costs, pixels=found.detector_pixels,
                                      near_searches=found.near_searches)
        end = self.now_s + self.profile.device_time_s(host, "track", self.rng, self.now_s)
        spread = np.exp(self.costs.spread_sigma.get("detect", 0.0) * self.rng.standard_normal())
        self.jobs.append(WorkerJob(start_s=self.now_s, end_s=end, host_model_s=host * spread,
                                   host_measured_s=measured, full_search=found.searched_full))
        self._pending = (end, found)

    def poll(self) -> Detection | None:
        """The pending result once its modelled end has come, else ``None``."""
        if self._pending is None or self._pending[0] > self.now_s:
            return None
        found, self._pending = self._pending[1], None
        return found

    def close(self) -> None:
        """Nothing to release."""
