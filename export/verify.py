"""Parity and validation reports: torch vs ONNX Runtime vs LiteRT, int8 vs fp32.

- `parity`: the same fresh random inputs through torch and through each exported file;
  max absolute error and relative error (max abs error / max |torch output|, per output).
- `stream_metrics`: a temporal model (any backend, torch included) run through the real
  streaming runtime (`edge.cnn.CnnPulseStream` + `edge.heart_rate.HeartRateEstimator`)
  over the validation traces: pulse correlation with the true pulse, heart-rate MAE
  against the truth, and the same for POS on the same traces for scale.
- `compare_streams`: int8 vs fp32 on the validation set: waveform correlation and
  heart-rate difference.
- `frame_metrics`: per-frame outputs of the frame net on validation crops.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import torch

from edge.backends import InferenceBackend, ModelInfo
from edge.cnn import CnnPulseStream, frame_inputs
from edge.config import RppgConfig
from edge.heart_rate import HeartRateEstimator, snr_gate_db
from edge.rates import HR_BAND_HZ, power_spectrum, spectral_peak
from edge.rppg import PulseStream

__all__ = ["StreamResult", "TorchBackend", "compare_streams", "frame_metrics", "parity",
           "stream_metrics"]

HR_WINDOW_S = 10.0


class TorchBackend:
    """A torch model behind the `edge.backends` interface (the parity reference)."""

    def __init__(self, model: torch.nn.Module, info: ModelInfo):
        self.model = model.eval()
        self.info = info
        self.inputs = {n: np.zeros(s, dtype=np.float32) for n, s in info.inputs.items()}

    def run(self) -> tuple[np.ndarray, ...]:
        """Run on the current contents of `inputs`."""
        with torch.no_grad():
            out = self.model(*(torch.from_numpy(x) for x in self.inputs.values()))
        out = out if isinstance(out, tuple) else (out,)
        return tuple(o.numpy() for o in out)


def parity(reference: InferenceBackend, others: dict[str, InferenceBackend], *,
           n_samples: int = 100, seed: int = 2) -> dict[str, dict[str, float]]:
    """Max abs and relative error of each backend against `reference` on fresh inputs."""
    rng = np.random.default_rng(seed)
    errors = {k: {"max_abs": 0.0, "max_rel": 0.0} for k in others}
    for _ in range(n_samples):
        for buf in reference.inputs.values():
            buf[:] = rng.standard_normal(buf.shape).astype(np.float32)
        ref = reference.run()
        for key, backend in others.items():
            for name in reference.inputs:
                backend.inputs[name][:] = reference.inputs[name]
            for y_ref, y in zip(ref, backend.run(), strict=True):
                err = float(np.max(np.abs(y.reshape(y_ref.shape) - y_ref)))
                scale = float(np.max(np.abs(y_ref))) or 1.0
                errors[key]["max_abs"] = max(errors[key]["max_abs"], err)
                errors[key]["max_rel"] = max(errors[key]["max_rel"], err / scale)
    return errors


@dataclass
class StreamResult:
    """Per-clip pulses and per-reading heart rates of one backend on the validation set."""

    pulses: list[np.ndarray] = field(default_factory=list)
    truth_pulses: list[np.ndarray] = field(default_factory=list)
    hr_bpm: list[np.ndarray] = field(default_factory=list)
    """One value per reading (NaN when withheld), every second after the first 10 s."""
    truth_hr_bpm: list[np.ndarray] = field(default_factory=list)


def _run_stream(stream: CnnPulseStream | PulseStream, rgb: np.ndarray, pulse: np.ndarray,
                hr: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    estimator = HeartRateEstimator(RppgConfig(sample_rate_hz=fs))
    n_win = round(HR_WINDOW_S * fs)
    est, truth = [], []
    for i, sample in enumerate(rgb):
        stream.push(sample)
        if (i + 1) % round(fs) == 0 and i + 1 >= n_win:
            value = estimator.estimate(stream, (i + 1) / fs).heart_rate_bpm
            est.append(np.nan if value is None else value)
            truth.append(hr[i + 1 - n_win : i + 1].mean())
    return stream.pulse[: stream.final_count].copy(), np.array(est), np.array(truth)


def run_streams(backend: InferenceBackend | None, data: dict[str, np.ndarray], *,
                fs: float = 30.0) -> StreamResult:
    """`backend` (or POS when ``None``) over every validation clip."""
    result = StreamResult()
    offsets = data["offsets"]
    for a, b in itertools.pairwise(offsets):
        if b - a < round(HR_WINDOW_S * fs):
            continue
        keep_s = (b - a) / fs + 4.0
        stream = (PulseStream("pos", fs=fs, keep_s=keep_s) if backend is None
                  else CnnPulseStream(backend, fs=fs, keep_s=keep_s))
        pulse, est, truth = _run_stream(stream, data["rgb"][a:b], data["pulse"][a:b],
                                        data["heart_rate_bpm"][a:b], fs)
        result.pulses.append(pulse)
        result.truth_pulses.append(data["pulse"][a : a + pulse.size])
        result.hr_bpm.append(est)
        result.truth_hr_bpm.append(truth)
    return result


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else 0.0


def stream_metrics(result: StreamResult) -> dict[str, float]:
    """Mean per-clip pulse correlation with the truth; HR MAE and coverage."""
    est = np.concatenate(result.hr_bpm)
    truth = np.concatenate(result.truth_hr_bpm)
    ok = np.isfinite(est)
    return {
        "pulse_r": round(float(np.mean([_corr(p, t) for p, t in
                                         zip(result.pulses, result.truth_pulses, strict=True)])),
                         4),
        "hr_mae_bpm": round(float(np.mean(np.abs(est[ok] - truth[ok]))), 3) if ok.any() else None,
        "coverage": round(float(ok.mean()), 3),
        "clips": len(result.pulses),
    }


def compare_streams(fp32: StreamResult, int8: StreamResult) -> dict[str, float]:
    """int8 vs fp32: mean and minimum per-clip pulse correlation, HR difference."""
    r = [_corr(a, b) for a, b in zip(fp32.pulses, int8.pulses, strict=True)]
    a, b = np.concatenate(fp32.hr_bpm), np.concatenate(int8.hr_bpm)
    both = np.isfinite(a) & np.isfinite(b)
    return {"pulse_r_mean": round(float(np.mean(r)), 4), "pulse_r_min": round(float(np.min(r)), 4),
            "hr_diff_mae_bpm": round(float(np.mean(np.abs(a[both] - b[both]))), 3),
            "hr_diff_max_bpm": round(float(np.max(np.abs(a[both] - b[both]))), 3),
            "readings_compared": int(both.sum())}


def _bandpass(x: np.ndarray, fs: float, band_hz: tuple[float, float] = HR_BAND_HZ) -> np.ndarray:
    spectrum = np.fft.rfft(x - x.mean())
    freq = np.fft.rfftfreq(x.size, 1.0 / fs)
    spectrum[(freq < band_hz[0]) | (freq > band_hz[1])] = 0.0
    return np.fft.irfft(spectrum, x.size)


def _clip_hr_bpm(pulse: np.ndarray, fs: float, *, gated: bool = True) -> float:
    """The runtime's heart-rate reading for one clip's pulse, NaN when its SNR gate fails.

    `edge.rates.spectral_peak` over the whole clip (band, SNR half-width and gate as
    `edge.heart_rate.HeartRateEstimator` sets them for a window of that length).
    """
    cfg = RppgConfig(sample_rate_hz=fs)
    window_s = pulse.size / fs
    freq, power = power_spectrum(pulse, fs)
    peak = spectral_peak(freq, power, (cfg.band_bpm[0] / 60.0, cfg.band_bpm[1] / 60.0),
                         snr_half_width_hz=1.0 / window_s)
    if peak is None or (gated and peak.snr_db < snr_gate_db(cfg.min_snr_db, window_s)):
        return np.nan
    return float(peak.rate_per_min)


def frame_metrics(backends: dict[str, InferenceBackend], data: dict[str, np.ndarray], *,
                  fs: float = 30.0) -> dict[str, dict[str, float]]:
    """Per-frame outputs over the validation crops, per backend.

    ``r_truth_diff``: correlation of the outputs with the true pulse difference, all
    frames pooled; ``pulse_r``: mean per-clip correlation of the integrated outputs with
    the true pulse, both band-passed to 0.7-3.5 Hz; ``hr_mae_bpm`` and ``coverage``: the
    runtime's heart-rate reading of that pulse, one per clip (withheld below the SNR
    gate), against the clip's mean true rate. Against the first backend (int8 vs fp32):
    ``r_vs_<first>``, the correlation of the per-frame outputs; ``pulse_r_vs_<first>``
    (mean) and ``pulse_r_min_vs_<first>``, the per-clip correlation of the integrated
    pulses; ``hr_diff_mae_bpm_vs_<first>``, ``hr_diff_max_bpm_vs_<first>``, the heart-rate
    difference over the clips both read, and ``hr_diff_ungated_mae_bpm_vs_<first>`` over
    all clips with the gate off (a clip whose spectrum has two near-equal peaks can
    switch between them on a small change of the pulse).
    """
    outs: dict[str, list[np.ndarray]] = {k: [] for k in backends}
    pulses: dict[str, list[np.ndarray]] = {k: [] for k in backends}
    truth, truth_pulses, truth_hr = [], [], []
    for a, b in itertools.pairwise(data["offsets"]):
        if b - a < 3 * fs:
            continue
        clip = {k: [] for k in backends}
        for i in range(a + 1, b):
            for key, be in backends.items():
                frame_inputs(data["crops"][i - 1], data["crops"][i], be.inputs["motion"],
                             be.inputs["appearance"])
                clip[key].append(float(be.run()[0].reshape(-1)[0]))
        truth.append(np.diff(data["pulse"][a:b]))
        truth_pulses.append(_bandpass(data["pulse"][a + 1 : b], fs))
        truth_hr.append(float(np.mean(data["heart_rate_bpm"][a + 1 : b])))
        for key, values in clip.items():
            out = np.array(values)
            outs[key].append(out)
            pulses[key].append(_bandpass(np.cumsum(out - out.mean()), fs))
    truth_arr = np.concatenate(truth)
    first = next(iter(backends))
    ref_out = np.concatenate(outs[first])
    ref_hr = np.array([_clip_hr_bpm(p, fs) for p in pulses[first]])
    ref_ungated = np.array([_clip_hr_bpm(p, fs, gated=False) for p in pulses[first]])
    report = {}
    for key in backends:
        hr = np.array([_clip_hr_bpm(p, fs) for p in pulses[key]])
        ok, both = np.isfinite(hr), np.isfinite(hr) & np.isfinite(ref_hr)
        diff = np.abs(hr[both] - ref_hr[both])
        ungated = np.abs(np.array([_clip_hr_bpm(p, fs, gated=False) for p in pulses[key]])
                         - ref_ungated)
        r_ref = [_corr(p, q) for p, q in zip(pulses[key], pulses[first], strict=True)]
        report[key] = {
            "r_truth_diff": round(_corr(np.concatenate(outs[key]), truth_arr), 4),
            "pulse_r": round(float(np.mean([_corr(p, t) for p, t in
                                             zip(pulses[key], truth_pulses, strict=True)])), 4),
            "hr_mae_bpm": (round(float(np.mean(np.abs(hr[ok] - np.array(truth_hr)[ok]))), 3)
                           if ok.any() else None),
            "coverage": round(float(ok.mean()), 3),
            f"r_vs_{first}": round(_corr(np.concatenate(outs[key]), ref_out), 4),
            f"pulse_r_vs_{first}": round(float(np.mean(r_ref)), 4),
            f"pulse_r_min_vs_{first}": round(float(np.min(r_ref)), 4),
            f"hr_diff_mae_bpm_vs_{first}": round(float(diff.mean()), 3) if both.any() else None,
            f"hr_diff_max_bpm_vs_{first}": round(float(diff.max()), 3) if both.any() else None,
            f"clips_compared_vs_{first}": int(both.sum()),
            f"hr_diff_ungated_mae_bpm_vs_{first}": round(float(np.nanmean(ungated)), 3),
        }
    return report
