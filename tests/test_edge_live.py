"""Live mode: the newest-frame queue and the capture thread.

No sleeps and no wall clock: a source that blocks on events stands in for a camera, so
every interleaving of the two threads is forced, not hoped for.
"""

import threading

import numpy as np
import pytest

from edge.errors import CaptureError, InputError
from edge.live import LatestQueue, LiveSource

WAIT_S = 10.0


def test_queue_keeps_the_newest_and_counts_drops():
    q = LatestQueue(2)
    assert [q.put(i) for i in range(5)] == [False, False, True, True, True]
    assert (q.dropped, q.high_water, len(q)) == (3, 2, 2)
    assert [q.get(), q.get()] == [3, 4]
    q.close()
    with pytest.raises(EOFError):
        q.get()


def test_queue_get_times_out_and_returns_items_left_after_close():
    q = LatestQueue(1)
    with pytest.raises(TimeoutError):
        q.get(timeout_s=0.01)
    q.put("last")
    q.close()
    assert q.get() == "last"


@pytest.mark.parametrize("size", [0, -1, 1.5, None])
def test_queue_size_is_checked(size):
    with pytest.raises(InputError, match="queue size"):
        LatestQueue(size)


class GatedCamera:
    """Delivers frame i only when the test opens gate i; then says it was taken."""

    def __init__(self, n):
        self.gates = [threading.Event() for _ in range(n)]
        self.taken = [threading.Event() for _ in range(n)]
        self.closed = False

    def __iter__(self):
        for i, gate in enumerate(self.gates):
            assert gate.wait(WAIT_S)
            yield np.full((2, 2, 3), i, np.uint8), i / 30.0
            self.taken[i].set()

    def close(self):
        self.closed = True


def test_slow_processing_drops_old_frames_not_new_ones():
    cam = GatedCamera(6)
    with LiveSource(cam, queue_size=2) as live:
        frames = iter(live)
        cam.gates[0].set()
        first, t0 = next(frames)
        assert first[0, 0, 0] == 0 and t0 == 0.0
        for i in range(1, 5):  # the "pipeline" is busy while four frames arrive
            cam.gates[i].set()
            assert cam.taken[i].wait(WAIT_S)
        got = [next(frames)[1] for _ in range(2)]
        assert got == [3 / 30.0, 4 / 30.0]  # the newest two; 1 and 2 were dropped
        cam.gates[5].set()
        assert [t for _, t in frames] == [5 / 30.0]
        assert (live.stats.captured, live.stats.dropped, live.stats.queue_high_water) == (6, 2, 2)
    assert cam.closed


def test_an_error_in_the_capture_thread_reaches_the_caller():
    def broken():
        yield np.zeros((2, 2, 3), np.uint8), 0.0
        raise CaptureError("camera 0 stopped delivering frames")

    with LiveSource(broken()) as live, pytest.raises(CaptureError, match="stopped delivering"):
        for _ in live:
            pass


def test_a_stalled_camera_is_an_error_not_a_hang():
    stalled = GatedCamera(1)  # its gate never opens
    live = LiveSource(stalled, frame_timeout_s=0.05)
    with pytest.raises(CaptureError, match=r"no frame from the camera for 0\.05 s"):
        next(iter(live))
    stalled.gates[0].set()  # let the thread finish
    live.close()
    assert stalled.closed


def test_live_mode_through_the_pipeline_finds_the_heart_rate():
    from synthetic import make_face_clip

    import edge

    frames, times = make_face_clip(hr_bpm=80, seconds=14, seed=4)
    config = edge.PipelineConfig().with_changes(roi={"mode": "full"})
    source = zip(frames, times.tolist(), strict=True)
    # a queue as long as the clip: nothing is dropped, so the result is deterministic
    with edge.Pipeline(config) as pipe, LiveSource(source, queue_size=len(frames)) as live:
        readings = [r for f, t in live if (r := pipe.push(f, t)) is not None]
    hr = [r.heart_rate_bpm for r in readings if r.heart_rate_bpm is not None]
    assert hr and abs(np.median(hr) - 80) <= 2
    assert live.stats.captured == len(frames) and live.stats.dropped == 0


def test_cli_camera_run_is_live_and_ends_cleanly_on_ctrl_c(monkeypatch, capsys):
    import json
    import signal

    from synthetic import make_face_clip

    import edge.capture.usb as usb
    from edge import cli

    frames, times = make_face_clip(hr_bpm=75, seconds=12, seed=2)

    class FakeCamera:
        def __init__(self, index, *, width, height, fps):
            assert (index, width, height, fps) == (0, 320, 240, 30.0)

        def __iter__(self):
            yield from zip(frames, times.tolist(), strict=True)
            raise KeyboardInterrupt  # the user presses Ctrl-C

        def close(self):
            pass

    monkeypatch.setattr(usb, "CameraSource", FakeCamera)
    sigterm = signal.getsignal(signal.SIGTERM)
    try:  # a queue as long as the clip: no drops, a deterministic result
        code = cli.main(["run", "--camera", "0", "--size", "320x240", "--roi", "full", "--json",
                         "--queue", str(len(frames))])
    finally:
        signal.signal(signal.SIGTERM, sigterm)
    out, err = capsys.readouterr()
    assert code == 0, err
    hr = [r["heart_rate_bpm"] for r in map(json.loads, out.splitlines()) if r["heart_rate_bpm"]]
    assert hr and abs(np.median(hr) - 75) <= 2
    assert "edge-vitals: stopped" in err
    assert f"live: {len(frames)} frames captured, 0 dropped" in err
