"""Discrete-event core: hand-derived traces with known answers.

Times are multiples of MS = 2**-10 s (about 1 ms) so that every sum is exact in binary and the
"completion before arrival at the same instant" rule is exercised on true ties.
"""

from __future__ import annotations

import numpy as np
import pytest

from edge.errors import ConfigError, InputError
from firmware_sim.des import DesResult, QueuePolicy, frame_times, simulate

MS = 2.0**-10  # "one millisecond", exact in binary
PERIOD = 10 * MS
SERVICE = 15 * MS
NAN = np.nan


def _trace(n: int, service: float = SERVICE) -> tuple[np.ndarray, np.ndarray]:
    return np.arange(n) * PERIOD, np.full(n, service)


# Arrivals every 10, service 15, capacity 3, one worker. By hand, with drop_newest:
#   f0 0-15 | f1 arrives 10, waits -> 15-30 | f2 arrives 20, waits -> 30-45
#   f3 arrives 30 = f1's end (completion first, queue empty: depth 0) -> 45-60
#   f4 @40 sees [3] -> 60-75 | f5 @50 sees [4] -> 75-90 | f6 @60 (f4 starts) sees [5] -> 90-105
#   f7 @70 sees [5,6] -> 105-120 | f8 @80 sees [6,7] -> 120-135 | f9 @90 (f6 starts) sees [7,8]
#   f10 @100 sees [7,8,9]: full -> dropped | f11 @110 sees [8,9] | f12 @120 (f8 starts) sees [9,11]
#   f13 @130 sees [9,11,12] -> dropped | f14, f15 queued | f16 @160 full -> dropped
# Processed frames start back to back every 15: 0, 15, 30, ...
NEWEST_DROPPED = [10, 13, 16]
NEWEST_START = [0, 15, 30, 45, 60, 75, 90, 105, 120, 135, NAN, 150, 165, NAN, 180, 195, NAN]
DEPTH = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 2, 2, 3, 2, 2, 3]
# drop_oldest: at 100 the queue is [7,8,9] -> evict 7; at 130 [10,11,12] -> evict 10;
# at 160 [13,14,15] -> evict 13; f16 is served last, 195-210.
OLDEST_DROPPED = [7, 10, 13]
OLDEST_START = [0, 15, 30, 45, 60, 75, 90, NAN, 105, 120, NAN, 135, 150, NAN, 165, 180, 195]


def test_queue_build_up_drop_newest_by_hand():
    arrival, service = _trace(17)
    res = simulate(arrival, service, policy=QueuePolicy(capacity=3, when_full="drop_newest"))
    start = np.array(NEWEST_START) * MS
    np.testing.assert_array_equal(res.start_s, start)
    np.testing.assert_array_equal(res.end_s, start + SERVICE)
    np.testing.assert_array_equal(res.latency_s, start + SERVICE - arrival)
    np.testing.assert_array_equal(res.wait_s, start - arrival)
    np.testing.assert_array_equal(np.flatnonzero(res.dropped), NEWEST_DROPPED)
    np.testing.assert_array_equal(res.queue_depth, DEPTH)
    assert res.drop_cause[10] == "queue_full_newest"
    assert set(res.drop_cause[~res.dropped]) == {""}
    assert res.worker.tolist() == [-1 if i in NEWEST_DROPPED else 0 for i in range(17)]
    assert res.processed == 14
    assert res.drop_fraction == pytest.approx(3 / 17)
    assert res.max_queue_depth == 3
    # the worker never idles after t=0: 14 frames back to back from 0 to 210
    assert res.makespan_s == 210 * MS
    assert res.busy_s.tolist() == [14 * SERVICE]
    assert res.utilisation == 1.0
    np.testing.assert_array_equal(res.completion_interval_s, np.full(13, SERVICE))


def test_drop_oldest_evicts_a_different_set_by_hand():
    arrival, service = _trace(17)
    res = simulate(arrival, service, policy=QueuePolicy(capacity=3, when_full="drop_oldest"))
    np.testing.assert_array_equal(np.flatnonzero(res.dropped), OLDEST_DROPPED)
    np.testing.assert_array_equal(res.start_s, np.array(OLDEST_START) * MS)
    np.testing.assert_array_equal(res.queue_depth, DEPTH)
    assert set(res.drop_cause[res.dropped]) == {"queue_full_oldest"}
    # the frame in service is never evicted: f6 (in service 90-105 when f10 arrives) is served
    assert not res.dropped[6]


def test_latest_keeps_latency_bounded_while_a_big_fifo_grows():
    n = 200
    arrival, service = _trace(n)
    latest = simulate(arrival, service, policy=QueuePolicy.latest())
    fifo = simulate(arrival, service, policy=QueuePolicy(capacity=10_000, when_full="drop_newest"))
    # latest: wait < one service (the frame in service ends first), then one service
    assert np.nanmax(latest.latency_s) <= 2 * SERVICE
    assert latest.drop_fraction > 0.25
    # FIFO: nothing dropped, frame i ends at 15 (i + 1), latency 15 + 5 i
    assert fifo.processed == n
    np.testing.assert_array_equal(fifo.latency_s, (15 + 5 * np.arange(n)) * MS)
    # the last arrival (f199 at 1990) sees the deepest queue: f0..f132 have started
    # (15 * 132 = 1980 <= 1990), so 199 - 133 = 66 frames wait
    assert fifo.max_queue_depth == 66


def test_presets():
    assert QueuePolicy.latest() == QueuePolicy(capacity=1, when_full="drop_oldest")
    assert QueuePolicy.v4l2() == QueuePolicy(capacity=4, when_full="drop_newest")
    assert QueuePolicy.v4l2(2).capacity == 2


def test_two_workers_keep_up_one_does_not():
    arrival, service = _trace(50)
    two = simulate(arrival, service, policy=QueuePolicy.v4l2(), workers=2)
    assert not two.dropped.any()
    np.testing.assert_array_equal(two.latency_s, service)
    # f0 -> w0 (0-15), f1 -> w1 (10-25), f2 -> w0 (free at 15), ... alternating
    np.testing.assert_array_equal(two.worker, np.arange(50) % 2)
    assert two.max_queue_depth == 0
    one = simulate(arrival, service, policy=QueuePolicy.v4l2())
    assert one.dropped.any()


def test_lowest_idle_worker_wins_ties():
    # both workers idle when f2 arrives at 40 -> worker 0, even though worker 1 went idle first
    arrival = np.array([0, 1, 40]) * MS
    service = np.array([20, 5, 5]) * MS
    res = simulate(arrival, service, policy=QueuePolicy.latest(), workers=3)
    assert res.worker.tolist() == [0, 1, 0]


def test_completion_at_arrival_instant_frees_the_worker():
    arrival = np.array([0, 10]) * MS
    res = simulate(arrival, np.array([10, 3]) * MS, policy=QueuePolicy.latest())
    assert res.start_s[1] == 10 * MS
    assert res.wait_s[1] == 0.0
    assert res.queue_depth.tolist() == [0, 0]


def test_utilisation_and_deadline_misses_simple_trace():
    # f0 0-5, f1 10-15, f2 20-45, f3 arrives 30 and waits -> 45-50
    arrival = np.array([0, 10, 20, 30]) * MS
    service = np.array([5, 5, 25, 5]) * MS
    res = simulate(arrival, service, policy=QueuePolicy.latest())
    np.testing.assert_array_equal(res.latency_s, np.array([5, 5, 25, 20]) * MS)
    assert res.makespan_s == 50 * MS
    assert res.utilisation == pytest.approx(40 / 50)
    misses = res.deadline_misses(10 * MS)
    assert (misses.late, misses.dropped, misses.total) == (2, 0, 2)
    assert misses.late_rate == 0.5
    assert res.longest_miss_run(10 * MS) == 2
    assert res.deadline_misses(25 * MS).late == 0  # a miss is latency > deadline
    np.testing.assert_array_equal(res.completion_interval_s, np.array([10, 30, 5]) * MS)


def test_deadline_misses_with_drops_by_hand():
    # latencies of the drop_newest trace: 15, 20, ..., 60, drop, 55, 60, drop, 55, 60, drop
    arrival, service = _trace(17)
    res = simulate(arrival, service, policy=QueuePolicy.v4l2(3))
    misses = res.deadline_misses(50 * MS)
    assert (misses.late, misses.dropped, misses.total, misses.n) == (6, 3, 9, 17)
    assert misses.total_rate == pytest.approx(9 / 17)
    assert res.longest_miss_run(50 * MS) == 9  # frames 8..16
    assert res.longest_miss_run(50 * MS, include_dropped=False) == 2


def test_idle_system_latency_equals_service():
    arrival = frame_times(30.0, 300)
    service = np.full(300, 0.002)
    res = simulate(arrival, service, policy=QueuePolicy.v4l2())
    assert not res.dropped.any()
    np.testing.assert_array_equal(res.latency_s, res.end_s - arrival)
    np.testing.assert_allclose(res.latency_s, service, rtol=0, atol=1e-15)
    assert res.max_queue_depth == 0
    assert res.deadline_misses(1 / 30).total == 0
    assert res.utilisation == pytest.approx(300 * 0.002 / (299 / 30 + 0.002))


def test_result_arrays_are_read_only():
    arrival, service = _trace(5)
    res = simulate(arrival, service, policy=QueuePolicy.latest())
    assert isinstance(res, DesResult) and len(res) == 5
    with pytest.raises(ValueError, match="read-only"):
        res.latency_s[0] = 0.0


def test_frame_times_deterministic_and_increasing():
    a = frame_times(30.0, 1000, jitter_s=0.001, seed=7)
    b = frame_times(30.0, 1000, jitter_s=0.001, seed=7)
    c = frame_times(30.0, 1000, jitter_s=0.001, seed=8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(frame_times(25.0, 4), [0.0, 0.04, 0.08, 0.12])
    big = frame_times(30.0, 5000, jitter_s=1.0, seed=3)  # jitter far above the period
    assert np.all(np.diff(big) > 0)
    assert np.std(a - np.arange(1000) / 30) == pytest.approx(0.001, rel=0.1)


def test_simulate_is_deterministic_and_conserves_work():
    n = 100_000
    arrival = frame_times(30.0, n, jitter_s=0.0005, seed=1)
    service = np.random.default_rng(2).lognormal(np.log(0.03), 0.3, n)
    res = simulate(arrival, service, policy=QueuePolicy.v4l2(), workers=1)
    again = simulate(arrival, service, policy=QueuePolicy.v4l2(), workers=1)
    np.testing.assert_array_equal(res.end_s, again.end_s)
    # conservation: busy time is the service of processed frames, never more than the span
    assert res.busy_s.sum() == pytest.approx(service[~res.dropped].sum())
    assert 0 < res.utilisation <= 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"capacity": 0, "when_full": "drop_newest"}, "capacity"),
        ({"capacity": 2.0, "when_full": "drop_newest"}, "capacity"),
        ({"capacity": 2, "when_full": "block"}, "when_full"),
    ],
)
def test_policy_validation(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        QueuePolicy(**kwargs)


def test_simulate_validation():
    arrival, service = _trace(3)
    with pytest.raises(ConfigError, match="workers"):
        simulate(arrival, service, policy=QueuePolicy.latest(), workers=0)
    with pytest.raises(InputError, match="strictly increasing"):
        simulate(arrival[::-1], service, policy=QueuePolicy.latest())
    with pytest.raises(InputError, match="shape"):
        simulate(arrival, service[:2], policy=QueuePolicy.latest())
    with pytest.raises(InputError, match=">= 0"):
        simulate(arrival, -service, policy=QueuePolicy.latest())
    with pytest.raises(ConfigError, match="fps"):
        frame_times(0.0, 3)
