import threading

import numpy as np
import pytest

from edge import Pipeline, PipelineConfig, Status
from edge.config import RoiConfig
from edge.face_worker import DetectionJob, DetectorWorker, InlineDetection
from edge.probe import RecordingProbe
from edge.roi import RoiTracker
from edge.types import Box

BOX = Box(20, 10, 40, 50)
WAIT_S = 10.0  # a bound on waits for the worker thread, so that a bug fails instead of hanging


class HeldDetector:
    """A face detector that finds `BOX` only once the test releases it."""

    def __init__(self):
        self.pixels = 0
        self.near_searches = 0
        self.entered = threading.Event()
        self.release = threading.Event()
        self.threads = []

    def detect(self, frame):
        self.threads.append(threading.current_thread())
        self.entered.set()
        assert self.release.wait(WAIT_S), "the test never released the detector"
        self.pixels += frame.shape[0] * frame.shape[1]
        return BOX

    def detect_near(self, frame, box):
        self.near_searches += 1
        return box


def _frame(i):
    return np.full((80, 100, 3), 100 + i % 3, dtype=np.uint8)


def _held_pipeline(probe=None):
    detector = HeldDetector()
    config = PipelineConfig().with_changes(roi={"detect_in_background": True})
    pipe = Pipeline(config, probe=probe)
    assert isinstance(pipe.face.tracker.runner, DetectorWorker)  # the config chose the worker
    pipe.face.tracker.runner = DetectorWorker(detector)
    return pipe, detector


def test_push_never_waits_for_the_worker_and_adopts_its_box_after_release():
    probe = RecordingProbe()
    pipe, detector = _held_pipeline(probe)
    readings = []
    for i in range(100):  # 3.3 s of frames while the detector is held
        readings.append(pipe.push(_frame(i), i / 30))
        assert probe.units["detector_pixels"] == 0  # no search on the frame path
    assert detector.entered.wait(WAIT_S)
    assert threading.main_thread() not in detector.threads
    statuses = {r.status for r in readings if r is not None}
    assert statuses == {Status.NO_FACE} and all(r.face_box is None for r in readings if r)
    assert pipe.face.tracker.jobs == 1  # the first frame's job is still running: no other
    detector.release.set()
    pipe.face.tracker.runner.close()  # joins the thread: its result is now ready
    assert pipe.face.locate(_frame(100), 100 / 30) == BOX
    assert pipe.face.tracker.box_timestamp_s == 0.0  # stamped with the first frame's time
    pipe.close()


def test_a_result_from_before_a_reset_is_not_adopted():
    pipe, detector = _held_pipeline()
    pipe.push(_frame(0), 0.0)
    assert detector.entered.wait(WAIT_S)
    pipe.reset()
    detector.release.set()
    pipe.face.tracker.runner.close()
    assert pipe.face.locate(_frame(1), 1 / 30) is None
    pipe.close()


def test_inline_and_worker_runners_find_the_same_box_on_a_real_face():
    from firmware_sim.world import WorldConfig, make_clip

    frame, _ = next(iter(make_clip(WorldConfig(width=320, height=240, duration_s=0.5,
                                               seed=3)).frames()))
    boxes = []
    for background in (False, True):
        tracker = RoiTracker(RoiConfig(detect_in_background=background))
        tracker.update(frame, 0.0)
        tracker.runner.close()  # the worker's job is done once its thread has stopped
        boxes.append(tracker.update(frame, 0.1))
    assert boxes[0] is not None and boxes[0] == boxes[1]


def test_a_worker_error_is_raised_on_the_frame_path():
    class Broken:
        pixels = near_searches = 0

        def detect(self, frame):
            raise RuntimeError("cascade gone")

    worker = DetectorWorker(Broken())
    worker.submit(DetectionJob(frame=_frame(0), timestamp_s=0.0, near_box=None,
                               full_search=True, generation=0))
    worker.close()
    with pytest.raises(RuntimeError, match="cascade gone"):
        worker.poll()


def test_the_default_config_detects_inline():
    assert isinstance(Pipeline().face.tracker.runner, InlineDetection)
