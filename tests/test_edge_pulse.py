"""`analyze_pulse` against independent references: the ECG of the same recording."""

import csv

import numpy as np
import pytest
import scipy.signal as ss

from edge import analyze_pulse
from edge.errors import InputError

RECORDS = [
    ("signals/bidmc_01_125hz.csv", 125.0, "ppg", "ecg_ii"),
    ("signals/neurokit_bio_resting_5min_100hz.csv", 100.0, "PPG", "ECG"),
]


def load_columns(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {key: np.array([float(row[key]) for row in rows]) for key in rows[0]}


def ecg_r_peaks(ecg, fs):
    """R peaks by a Pan-Tompkins-like recipe written for this test (scipy only)."""
    sos = ss.butter(3, [5.0, 15.0], btype="band", fs=fs, output="sos")
    filtered = ss.sosfiltfilt(sos, ecg)
    energy = np.convolve(np.gradient(filtered) ** 2, np.ones(int(0.12 * fs)), mode="same")
    height = 0.3 * np.percentile(energy, 99)
    peaks, _ = ss.find_peaks(energy, distance=int(0.3 * fs), height=height)
    # second pass with a refractory period of 0.6 median R-R (drops T waves)
    refractory = int(0.6 * np.median(np.diff(peaks)))
    peaks, _ = ss.find_peaks(energy, distance=refractory, height=height)
    # snap each energy peak to the largest |ECG| sample nearby (the R wave)
    half = int(0.08 * fs)
    return np.array([p - half + np.argmax(np.abs(filtered[max(0, p - half) : p + half]))
                     for p in peaks if p >= half])


@pytest.mark.parametrize(("name", "fs", "ppg", "ecg"), RECORDS)
def test_heart_rate_from_ppg_matches_the_ecg(shared_data, name, fs, ppg, ecg):
    data = load_columns(shared_data / name)
    r_peaks = ecg_r_peaks(data[ecg], fs)
    ecg_hr = 60.0 / np.mean(np.diff(r_peaks) / fs)
    result = analyze_pulse(data[ppg], fs=fs)
    assert abs(result.heart_rate_bpm - ecg_hr) <= 1.0
    assert result.quality > 0.5
    # one detected beat per heartbeat, give or take the edges
    assert abs(result.beats_s.size - r_peaks.size) <= 0.02 * r_peaks.size + 2


def nn_hrv_ms(beats_s):
    """SDNN and RMSSD (ms) over normal-to-normal intervals.

    NN = R-R within 20 % of the median of the 11 around it (ectopic beats and R-peak
    misplacements removed, as HRV standards require); RMSSD over successive NN pairs.
    """
    rr = np.diff(beats_s)
    median = ss.medfilt(rr, 11)
    nn = np.abs(rr - median) <= 0.2 * median
    pairs = nn[1:] & nn[:-1]
    return 1000 * np.std(rr[nn], ddof=1), 1000 * np.sqrt(np.mean(np.diff(rr)[pairs] ** 2))


@pytest.mark.parametrize(("name", "fs", "ppg", "ecg"), RECORDS)
def test_hrv_from_ppg_matches_the_ecg(shared_data, name, fs, ppg, ecg):
    data = load_columns(shared_data / name)
    sdnn_ecg, rmssd_ecg = nn_hrv_ms(ecg_r_peaks(data[ecg], fs) / fs)
    result = analyze_pulse(data[ppg], fs=fs)
    assert result.sdnn_ms == pytest.approx(sdnn_ecg, rel=0.10)
    assert result.rmssd_ms == pytest.approx(rmssd_ecg, rel=0.20)


def test_hrv_ignores_an_ectopic_beat(rng):
    fs = 100.0
    beats = np.cumsum(rng.normal(0.8, 0.02, 60))
    beats[30] -= 0.25  # premature beat: short interval, then a compensatory long one
    t = np.arange(0, beats[-1] + 1, 1 / fs)
    wave = sum(np.exp(-0.5 * ((t - b) / 0.06) ** 2) for b in beats)
    result = analyze_pulse(wave + 0.01 * rng.standard_normal(t.size), fs=fs)
    rr = np.diff(beats)
    nn = np.ones(rr.size, dtype=bool)
    nn[[29, 30]] = False  # the two intervals that touch the ectopic beat
    pairs = nn[1:] & nn[:-1]
    sdnn = 1000 * np.std(rr[nn], ddof=1)
    rmssd = 1000 * np.sqrt(np.mean(np.diff(rr)[pairs] ** 2))
    assert result.sdnn_ms == pytest.approx(sdnn, rel=0.1)
    assert result.rmssd_ms == pytest.approx(rmssd, rel=0.2)  # the ectopic pair adds ~100 ms


def test_synthetic_pulse_with_known_beats(rng):
    fs = 50.0
    beats = np.cumsum(rng.normal(0.8, 0.03, 80))  # ~75 bpm with variability
    t = np.arange(0, beats[-1] + 1, 1 / fs)
    wave = sum(np.exp(-0.5 * ((t - b) / 0.06) ** 2) for b in beats)
    result = analyze_pulse(wave + 0.01 * rng.standard_normal(t.size), fs=fs)
    expected_hr = 60.0 / np.mean(np.diff(beats))
    assert abs(result.heart_rate_bpm - expected_hr) < 0.5
    matched = np.abs(result.beats_s[:, None] - beats[None, :]).min(axis=1)
    assert np.median(matched) < 0.01  # sub-sample peak timing (one sample is 20 ms)
    assert result.sdnn_ms == pytest.approx(1000 * np.std(np.diff(beats), ddof=1), rel=0.1)


def test_flat_and_noise_signals_give_no_rate(rng):
    flat = analyze_pulse(np.ones(600), fs=30.0)
    assert flat.heart_rate_bpm is None and flat.quality == 0.0
    noise = analyze_pulse(rng.standard_normal(600), fs=30.0)
    assert noise.heart_rate_bpm is None and noise.quality == 0.0


@pytest.mark.parametrize("kind", ["white", "brown"])
def test_noise_gives_no_heart_rate_on_nearly_every_seed(kind):
    """The contract: a vital whose own gate fails is None, never a guess (200 seeds)."""
    given = 0
    for seed in range(200):
        x = np.random.default_rng(seed).standard_normal(300)  # 10 s at 30 Hz
        result = analyze_pulse(np.cumsum(x) if kind == "brown" else x, fs=30.0)
        given += result.heart_rate_bpm is not None
        assert result.heart_rate_bpm is not None or result.sdnn_ms is None
    assert given <= 2


def _pulse_train(beats, fs, rng, noise):
    t = np.arange(0, beats[-1] + 1, 1 / fs)
    wave = sum(np.exp(-0.5 * ((t - b) / 0.12) ** 2) for b in beats)
    return wave + noise * rng.standard_normal(t.size)


def test_metronome_hrv_is_withheld_or_near_zero(rng):
    """Beats exactly 0.8 s apart: whatever SDNN the peaks show is timing noise."""
    for noise in (0.02, 0.1, 0.2):
        result = analyze_pulse(_pulse_train(np.arange(1.0, 60.0, 0.8), 30.0, rng, noise), fs=30.0)
        assert result.heart_rate_bpm == pytest.approx(75.0, abs=0.5)
        assert result.sdnn_ms is None or result.sdnn_ms <= 8.0
        assert result.hrv_status == ("ok" if result.sdnn_ms is not None else "below_noise_floor")


def test_noise_floor_follows_the_timing_noise_and_real_hrv_stays(rng):
    beats = np.cumsum(rng.normal(0.8, 0.05, 75))  # SDNN ~50 ms
    true_sdnn = 1000 * np.std(np.diff(beats), ddof=1)
    quiet = analyze_pulse(_pulse_train(beats, 30.0, rng, 0.02), fs=30.0)
    noisy = analyze_pulse(_pulse_train(beats, 30.0, rng, 0.15), fs=30.0)
    assert quiet.hrv_status == "ok" and noisy.hrv_status == "ok"
    assert quiet.hrv_noise_ms < noisy.hrv_noise_ms
    assert quiet.sdnn_ms == pytest.approx(true_sdnn, rel=0.1)
    assert noisy.sdnn_ms == pytest.approx(true_sdnn, rel=0.2)
    assert 0.0 < noisy.hrv_quality < quiet.hrv_quality


@pytest.mark.parametrize(
    ("signal", "fs", "match"),
    [(np.ones(10), 30.0, "at least"), (np.ones(600), 4.0, "8 Hz"), (np.ones(600), 0.0, "fs"),
     (np.full(600, np.nan), 30.0, "finite")],
)
def test_input_checks(signal, fs, match):
    with pytest.raises(InputError, match=match):
        analyze_pulse(signal, fs=fs)
