"""Why a vital is withheld from a reading, in a word or two (for people, not programs).

Programs read the per-vital statuses and reasons of `edge.types.Reading`; the text
output and the run's summary turn them into these words.
"""

from __future__ import annotations

from edge.types import Reading, Status

__all__ = ["REASON_WORDS", "SHORT_NAMES", "VITAL_REASON", "VITAL_STATUS", "withheld_reason"]

VITAL_STATUS = {"heart_rate_bpm": "status", "breathing_rate_bpm": "breathing_status",
                "spo2_pct": "spo2_status", "sdnn_ms": "hrv_status"}
"""Vital -> the `Reading` field with its status."""

VITAL_REASON = {"breathing_rate_bpm": "breathing_reason", "spo2_pct": "spo2_reason",
                "sdnn_ms": "hrv_reason"}
"""Vital -> the `Reading` field naming the gate that withheld it (the heart rate has none)."""

SHORT_NAMES = {"breathing_rate_bpm": "BR", "spo2_pct": "SpO2", "sdnn_ms": "HRV"}
"""The vitals besides the heart rate, as the text output names them."""

_REASONS = {Status.WARMING_UP: "warming up", Status.NO_FACE: "no face",
            Status.LOW_QUALITY: "low quality", Status.RESYNC: "restarting after a gap"}

REASON_WORDS = {
    "off": "turned off",
    "no_heart_rate": "no heart rate",
    "rejected": "jump rejected",
    "no_rhythm": "no clear rhythm",
    "unconfirmed": "not yet confirmed",
    "saturated": "skin pixels saturated",
    "too_noisy": "red/blue too noisy",
    "weak_pulse": "weak pulse",
    "out_of_range": "ratio out of range",
    "too_short": "too few clean beats",
    "below_noise_floor": "below beat-timing noise",
    "no_pulse": "no clean pulse",
}
"""A `Reading` reason code -> its words."""


def withheld_reason(reading: Reading, vital: str) -> str | None:
    """Why `vital` (a key of `VITAL_STATUS`) is ``None`` in `reading`, in a word or two.

    ``None`` when the vital has a value. A ``low_quality`` vital is explained by the gate
    that withheld it (its reason field) when the reading names one. SpO2 and HRV need
    the heart rate, so without one their reason is "no heart rate" rather than their own
    gate's.
    """
    if getattr(reading, vital) is not None:
        return None
    status = getattr(reading, VITAL_STATUS[vital])
    if status is not Status.LOW_QUALITY:
        return _REASONS.get(status, status.value)
    if vital in ("spo2_pct", "sdnn_ms") and reading.heart_rate_bpm is None:
        return "no heart rate"
    code = getattr(reading, VITAL_REASON[vital]) if vital in VITAL_REASON else None
    return REASON_WORDS.get(code, code) if code else _REASONS[status]
