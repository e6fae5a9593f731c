"""Say why: each gate that withholds SpO2, HRV or the breathing rate names itself, and the
text output and the run's summary put it in words."""

import io
import json

import numpy as np
import pytest

from edge.cli.summary import RunSummary
from edge.config import PipelineConfig
from edge.estimators import BreathingStage, HrvStage, Spo2Stage, hrv_from_window
from edge.probe import Probe
from edge.reasons import REASON_WORDS, withheld_reason
from edge.sinks import TextSink
from edge.types import Reading, Status

FS = 30.0
HR = {"heart_rate_bpm": 72.0, "quality": 0.8}
NO_HR = {"heart_rate_bpm": None, "quality": 0.0}


class FakeTrace:
    """The newest samples of a crafted RGB trace and pulse, as the stages read them."""

    def __init__(self, rgb, pulse):
        self.rgb, self.pulse, self.fs = rgb, pulse, FS

    @property
    def available_s(self):
        return self.rgb.shape[0] / FS

    def window(self, seconds):
        n = round(seconds * FS)
        if self.rgb.shape[0] < n:
            return None
        return self.rgb[-n:], self.pulse[-n:]


def _skin(red_ac, blue_ac, *, seconds=12.0, noise=0.0005, seed=1):
    """Skin RGB whose red and blue pulse by `red_ac` and `blue_ac` of their DC at 72 bpm."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * FS)) / FS
    pulse = np.sin(2 * np.pi * 1.2 * t)
    rgb = np.empty((t.size, 3))
    rgb[:, 0] = 150.0 * (1 + red_ac * pulse + noise * rng.standard_normal(t.size))
    rgb[:, 1] = 100.0 * (1 + 0.01 * pulse)
    rgb[:, 2] = 80.0 * (1 + blue_ac * pulse + noise * rng.standard_normal(t.size))
    return FakeTrace(rgb, pulse)


def _spo2(saturated=0.0, config=None):
    return Spo2Stage(config or PipelineConfig(), probe=Probe(), saturation=lambda: saturated)


def test_spo2_is_given_for_a_clean_in_range_ratio():
    # ratio 0.6 on the default line 110 - 25 r: 95 %
    out = _spo2().estimate(12.0, _skin(0.006, 0.010), HR)
    assert out["spo2_pct"] == pytest.approx(95.0, abs=0.5)
    assert "spo2_reason" not in out


@pytest.mark.parametrize(("saturated", "skin", "fields", "reason"), [
    (0.05, (0.006, 0.010), HR, "saturated"),          # 5 % of skin pixels clipped
    (0.0, (0.006, 0.010), NO_HR, "no_heart_rate"),
    (0.0, (0.030, 0.010), HR, "out_of_range"),        # ratio 3, the line stops at 1.6
    (0.0, (0.006, -0.010), HR, "too_noisy"),          # red and blue in opposite phase
    (0.0, (0.0, 0.0), HR, "too_noisy"),               # no pulse in red or blue at all
    (0.0, (0.006, 0.010), {"heart_rate_bpm": 72.0, "quality": 0.0}, "weak_pulse"),
])
def test_each_spo2_gate_names_itself(saturated, skin, fields, reason):
    noise = 0.01 if skin == (0.0, 0.0) else 0.0005
    out = _spo2(saturated).estimate(12.0, _skin(*skin, noise=noise), fields)
    assert "spo2_pct" not in out
    assert out["spo2_status"] is Status.LOW_QUALITY and out["spo2_reason"] == reason


def test_spo2_jump_refused_by_its_tracker_is_rejected():
    stage = _spo2()
    for i in range(10):
        assert stage.estimate(12.0 + i, _skin(0.006, 0.010, seed=i), HR)["spo2_pct"] > 90
    out = stage.estimate(23.0, _skin(0.015, 0.010), HR)  # ratio 1.5: 72.5 % in one second
    assert out["spo2_reason"] == "rejected"


def test_spo2_off_and_warming_up():
    off = _spo2(config=PipelineConfig().with_changes(vitals={"spo2": False}))
    assert off.estimate(12.0, _skin(0.006, 0.010), HR)["spo2_reason"] == "off"
    short = _spo2().estimate(3.0, _skin(0.006, 0.010, seconds=3.0), HR)
    assert short == {"spo2_status": Status.WARMING_UP}  # the status says why: no reason


def _beats_pulse(beats_s, seconds=32.0):
    """A pulse of narrow peaks at `beats_s`."""
    t = np.arange(int(seconds * FS)) / FS
    x = np.exp(-0.5 * ((t[:, None] - np.asarray(beats_s)[None, :]) / 0.08) ** 2).sum(axis=1)
    return t, x - x.mean()


def _hrv_reason(pulse):
    rgb = np.full((pulse.size, 3), 100.0)
    return hrv_from_window(rgb, pulse, fs=FS)


def test_each_hrv_gate_names_itself():
    rng = np.random.default_rng(5)
    varied_s = np.cumsum(60 / 72 + 0.06 * rng.standard_normal(60))  # SDNN about 60 ms
    t, varied = _beats_pulse(varied_s)
    sdnn, _, _, status, reason = _hrv_reason(varied)
    assert status is Status.OK and reason is None and 30.0 < sdnn < 90.0
    # a metronome: no variability above the beat-timing noise
    _, regular = _beats_pulse(np.arange(0.3, 32.0, 60 / 72))
    assert _hrv_reason(regular + 0.01 * rng.standard_normal(t.size))[3:] == (
        Status.LOW_QUALITY, "below_noise_floor")
    # 12 of the 32 s without beats: too few clean beats
    gapped = varied.copy()
    gap = (t > 8.0) & (t < 20.0)
    gapped[gap] = 0.02 * rng.standard_normal(gap.sum())
    assert _hrv_reason(gapped)[3:] == (Status.LOW_QUALITY, "too_short")
    assert _hrv_reason(rng.standard_normal(t.size))[3:] == (Status.LOW_QUALITY, "no_pulse")


def test_hrv_stage_carries_the_reason():
    config = PipelineConfig()
    _, regular = _beats_pulse(np.arange(0.3, 32.0, 60 / 72))
    trace = FakeTrace(np.full((regular.size, 3), 100.0), regular)
    stage = HrvStage(config, probe=Probe())
    out = stage.estimate(32.0, trace, HR)
    assert out["sdnn_ms"] is None and out["hrv_reason"] == "below_noise_floor"
    assert HrvStage(config, probe=Probe()).estimate(32.0, trace, NO_HR)["hrv_reason"] == (
        "no_heart_rate")
    off = HrvStage(config.with_changes(vitals={"hrv": False}), probe=Probe())
    assert off.estimate(32.0, trace, HR)["hrv_reason"] == "off"


def test_breathing_without_a_rhythm_says_so():
    rng = np.random.default_rng(2)
    n = int(40 * FS)
    flat = FakeTrace(100.0 + 0.01 * rng.standard_normal((n, 3)), np.zeros(n))
    stage = BreathingStage(PipelineConfig(), probe=Probe(), head_window=lambda m, fs: {})
    out = stage.estimate(40.0, flat, HR)
    assert "breathing_rate_bpm" not in out and out["breathing_reason"] == "no_rhythm"


@pytest.mark.parametrize("track", [False, True])
def test_a_breathing_rate_is_given_once_two_windows_agree(monkeypatch, track):
    """Scripted window estimates: a lone 27, then 15 twice, then a gap, then 12 and 12.4."""
    import edge.estimators as estimators
    from edge.breathing import BreathingEstimate

    script = iter([27.0, 15.0, 15.2, 15.1, None, 12.0, 12.4])
    monkeypatch.setattr(estimators, "stream_breathing", lambda rgb, fs, **head: BreathingEstimate(
        breathing_rate_bpm=next(script), quality=0.8, modulations=()))
    config = PipelineConfig().with_changes(vitals={"track": track})
    stage = BreathingStage(config, probe=Probe(), head_window=lambda m, fs: {})
    n = int(40 * FS)
    trace = FakeTrace(np.full((n, 3), 100.0), np.zeros(n))
    outs = [stage.estimate(40.0 + k, trace, HR) for k in range(7)]
    given = [out.get("breathing_rate_bpm") for out in outs]
    reasons = [out.get("breathing_reason") for out in outs]
    assert given[0] is None and reasons[0] == "unconfirmed"      # 27 alone
    assert given[1] is None and reasons[1] == "unconfirmed"      # 15 after 27: no agreement
    assert given[2] == pytest.approx(15.2, abs=0.2) and given[3] == pytest.approx(15.1, abs=0.2)
    assert given[4] is None and reasons[4] == "no_rhythm"
    assert given[5] is None and reasons[5] == "unconfirmed"      # a new run starts again
    if track:  # the tracker moves from 15.1 towards the new run
        assert 12.4 <= given[6] < 15.1
    else:
        assert given[6] == 12.4


def _withheld(**fields):
    return Reading(timestamp_s=30.0, heart_rate_bpm=72.0, quality=0.6, status=Status.OK,
                   breathing_rate_bpm=15.0, breathing_status=Status.OK, **fields)


def test_withheld_reason_prefers_the_gate_over_the_status():
    reading = _withheld(spo2_status=Status.LOW_QUALITY, spo2_reason="saturated",
                        hrv_status=Status.LOW_QUALITY, hrv_reason="below_noise_floor")
    assert withheld_reason(reading, "spo2_pct") == "skin pixels saturated"
    assert withheld_reason(reading, "sdnn_ms") == "below beat-timing noise"
    assert withheld_reason(reading, "breathing_rate_bpm") is None
    no_code = _withheld(spo2_status=Status.LOW_QUALITY)
    assert withheld_reason(no_code, "spo2_pct") == "low quality"
    warming = _withheld(spo2_status=Status.WARMING_UP, spo2_reason="saturated")
    assert withheld_reason(warming, "spo2_pct") == "warming up"
    no_hr = Reading(timestamp_s=3.0, status=Status.LOW_QUALITY, spo2_status=Status.LOW_QUALITY,
                    spo2_reason="too_noisy")
    assert withheld_reason(no_hr, "spo2_pct") == "no heart rate"


def test_every_code_a_stage_gives_has_words():
    codes = {"off", "no_heart_rate", "rejected", "no_rhythm", "unconfirmed", "saturated",
             "too_noisy",
             "weak_pulse", "out_of_range", "too_short", "below_noise_floor", "no_pulse"}
    assert codes <= set(REASON_WORDS)
    assert all(0 < len(REASON_WORDS[c].split()) <= 4 for c in codes)


def test_text_line_names_the_gates():
    reading = _withheld(spo2_status=Status.LOW_QUALITY, spo2_reason="saturated",
                        hrv_status=Status.LOW_QUALITY, hrv_reason="too_short")
    line = TextSink(io.StringIO()).line(reading)
    assert line.endswith("(SpO2: skin pixels saturated; HRV: too few clean beats)")


def test_reasons_are_in_the_json():
    reading = _withheld(spo2_status=Status.LOW_QUALITY, spo2_reason="out_of_range")
    data = json.loads(json.dumps(reading.to_dict()))
    assert data["spo2_reason"] == "out_of_range"
    assert data["hrv_reason"] is None and data["breathing_reason"] is None


def test_summary_says_which_gate_kept_a_vital_out():
    summary = RunSummary(PipelineConfig())
    for reason in ["saturated"] * 16 + ["too_noisy"] * 4:
        summary.add(_withheld(spo2_status=Status.LOW_QUALITY, spo2_reason=reason,
                              sdnn_ms=40.0, hrv_status=Status.OK))
    err = io.StringIO()
    summary.print(20.0, stream=err)
    text = err.getvalue()
    assert ("SpO2: never: skin pixels saturated in 80 % of readings, "
            "red/blue too noisy in 20 % of readings") in text
    assert "HRV median 40.0 ms SDNN over 20 readings" in text
