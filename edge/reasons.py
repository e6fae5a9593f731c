"""Why a vital is withheld from a reading, in a word or two (for people, not programs).

Programs read the per-vital statuses of `edge.types.Reading`; the text output and the
run's summary turn them into these words.
"""

from __future__ import annotations

from edge.types import Reading, Status

__all__ = ["SHORT_NAMES", "VITAL_STATUS", "withheld_reason"]

VITAL_STATUS = {"heart_rate_bpm": "status", "breathing_rate_bpm": "breathing_status",
                "spo2_pct": "spo2_status", "sdnn_ms": "hrv_status"}
"""Vital -> the `Reading` field with its status."""

SHORT_NAMES = {"breathing_rate_bpm": "BR", "spo2_pct": "SpO2", "sdnn_ms": "HRV"}
"""The vitals besides the heart rate, as the text output names them."""

_REASONS = {Status.WARMING_UP: "warming up", Status.NO_FACE: "no face",
            Status.LOW_QUALITY: "low quality", Status.RESYNC: "restarting after a gap"}


def withheld_reason(reading: Reading, vital: str) -> str | None:
    """Why `vital` (a key of `VITAL_STATUS`) is ``None`` in `reading`, in a word or two.

    ``None`` when the vital has a value. SpO2 and HRV need the heart rate, so without one
    their reason is "no heart rate" rather than their own gate's.
    """
    if getattr(reading, vital) is not None:
        return None
    status = getattr(reading, VITAL_STATUS[vital])
    if (vital in ("spo2_pct", "sdnn_ms") and reading.heart_rate_bpm is None
            and status is Status.LOW_QUALITY):
        return "no heart rate"
    return _REASONS.get(status, status.value)
