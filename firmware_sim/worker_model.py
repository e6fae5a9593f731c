"""The face detector's and the estimates' workers on modelled cores, for the replay.

`edge.face_worker.DetectorWorker` runs detections on a thread, so what the pipeline sees
depends on the host's timing. `ModelledWorker` is a runner with the same interface that
runs each job at once (the same search on the same frame) but hands its result to the
tracker only when the modelled detection ends on the device's clock: the replay sets
`now_s` to each push's modelled start, and a result is adopted by the first push that
starts at or after that end. The same seed gives the same adoption frames on any host.

`ModelledEstimates` does the same for `edge.estimate_worker.EstimateWorker`: each reading's
estimates run at once on the real snapshot, and the reading is returned by the first push
that starts after the modelled job ends on the estimate core. The GIL is modelled both
ways: a push that starts while a job runs waits for it (`gil_wait_s`: up to one switch
interval, wall-clock on any device), and a job runs only while the frame thread does not
hold it (stretched by the frame core's busy share over the last second).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import numpy as np

from edge.estimate_worker import Estimated, EstimateJob, Estimates
from edge.face_worker import Detection, DetectionJob, run_job
from firmware_sim.costs import UnitCosts, detection_host_seconds, estimates_host_seconds
from firmware_sim.profiles import DeviceProfile

__all__ = ["GIL_SWITCH_S", "EstimateWork", "ModelledEstimates", "ModelledWorker", "WorkerJob"]

GIL_SWITCH_S = sys.getswitchinterval()
"""How long a thread that wants the GIL waits before the one holding it must let go."""
MAX_FRAME_GIL_SHARE = 0.9
"""Cap of the frame core's busy share in the stretch of an estimate job."""


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
        self.submit_s = 0.0
        """Host seconds of the last `submit` call, the search and this model's bookkeeping:
        none of it runs on the frame path of a device (there, `submit` only queues)."""

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
        self.submit_s = time.thread_time() - t0

    def poll(self) -> Detection | None:
        """The pending result once its modelled end has come, else ``None``."""
        if self._pending is None or self._pending[0] > self.now_s:
            return None
        found, self._pending = self._pending[1], None
        return found

    def close(self) -> None:
        """Nothing to release."""


@dataclass(frozen=True, kw_only=True, slots=True)
class EstimateWork:
    """One reading's estimates on the modelled estimate core."""

    timestamp_s: float
    """The reading's time."""
    start_s: float
    end_s: float
    host_model_s: float
    """The cost model's host seconds for the job's work (no spread: the estimate stage's
    was fitted over a mix of kinds of estimate, which the job's own work already sets)."""
    host_measured_s: float
    """What the estimates took on this host (thread CPU seconds; for the host check only)."""
    units: dict[str, int] = field(default_factory=dict)


class ModelledEstimates:
    """Runs each reading's estimates at once and releases the reading at its modelled end.

    The replay sets `now_s` to each push's modelled start, `frame_busy_share` to the frame
    core's busy share over the last second, and calls `place` with the modelled time of
    the push's hand-off once the push is over.
    """

    on_frame_path = False

    def __init__(self, estimates: Estimates, *, costs: UnitCosts, profile: DeviceProfile,
                 rng: np.random.Generator):
        self.estimates = estimates
        self.costs, self.profile, self.rng = costs, profile, rng
        self.now_s = 0.0
        self.frame_busy_share = 0.0
        self.jobs: list[EstimateWork] = []
        self._unplaced: list[tuple[Estimated, float]] = []
        self._pending: list[tuple[float, Estimated]] = []

    @property
    def idle(self) -> bool:
        """No reading waiting to be placed or released."""
        return not self._unplaced and not self._pending

    def submit(self, job: EstimateJob) -> None:
        """Run `job` now; `place` puts it on the estimate core."""
        t0 = time.thread_time()
        result = self.estimates.run(job)
        self._unplaced.append((result, time.thread_time() - t0))

    @property
    def measured_s(self) -> float:
        """Host seconds of the jobs submitted since the last `place` (run inside the push)."""
        return sum(seconds for _, seconds in self._unplaced)

    def place(self, handoff_s: float) -> None:
        """The jobs submitted by the push just modelled start at `handoff_s` or when the
        estimate core is free, and take the modelled time of their work, stretched by the
        frame core's hold on the GIL.
        """
        for result, measured in self._unplaced:
            host = estimates_host_seconds(self.costs, result.units)
            device = self.profile.device_time_s(host, "estimate", self.rng, handoff_s)
            device /= 1.0 - min(MAX_FRAME_GIL_SHARE, self.frame_busy_share)
            start = max(handoff_s, self.jobs[-1].end_s if self.jobs else -np.inf)
            self.jobs.append(EstimateWork(timestamp_s=result.reading.timestamp_s,
                                          start_s=start, end_s=start + device,
                                          host_model_s=host, host_measured_s=measured,
                                          units=result.units))
            self._pending.append((start + device, result))
        self._unplaced.clear()

    def busy_at(self, t_s: float) -> bool:
        """Whether a job runs at `t_s` (it holds the GIL for a push starting then)."""
        return any(job.start_s <= t_s < job.end_s for job in self.jobs[-2:])

    def gil_wait_s(self, t_s: float) -> float:
        """The wait for the GIL of a push that starts at `t_s`: uniform over one switch
        interval while a job runs, else none.
        """
        return float(self.rng.uniform(0.0, GIL_SWITCH_S)) if self.busy_at(t_s) else 0.0

    def poll(self) -> Estimated | None:
        """The oldest reading whose modelled end has come, else ``None``."""
        if not self._pending or self._pending[0][0] > self.now_s:
            return None
        return self._pending.pop(0)[1]

    def restart(self, *, forget: bool = False) -> None:
        """Drop the readings not yet released and restart the estimators."""
        self._unplaced.clear()
        self._pending.clear()
        self.estimates.restart(forget=forget)

    def close(self) -> None:
        """Nothing to release."""
