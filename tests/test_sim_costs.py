"""The cost model's decode: a part per frame, per decoded pixel and per compressed byte."""

import dataclasses

import numpy as np
import pytest

from firmware_sim.costs import decode_host_seconds, load_unit_costs, stage_host_seconds


def _costs():
    return dataclasses.replace(load_unit_costs(), decode_s=1e-4, decode_per_pixel_s=1e-9,
                               decode_per_byte_s=1e-8, reference_frame_bytes=20_000.0)


def test_decode_adds_its_three_parts():
    # 0.1 ms + 307,200 px x 1 ns + 10,000 B x 10 ns = 0.1 + 0.3072 + 0.1 ms
    assert decode_host_seconds(_costs(), frame_pixels=640 * 480, frame_bytes=10_000) == \
        pytest.approx(0.5072e-3)


def test_a_frame_of_unknown_size_is_taken_as_the_reference_clips():
    costs = _costs()
    assert decode_host_seconds(costs, frame_pixels=100) == \
        decode_host_seconds(costs, frame_pixels=100, frame_bytes=20_000)


def test_the_shipped_model_costs_a_dim_clip_less_than_a_bright_one_at_every_scale():
    costs = load_unit_costs()
    assert costs.decode_per_byte_s > 0 and costs.reference_frame_bytes > 0
    for pixels in (640 * 480, 320 * 240, 160 * 120):
        bright = decode_host_seconds(costs, frame_pixels=pixels, frame_bytes=25_000)
        dim = decode_host_seconds(costs, frame_pixels=pixels, frame_bytes=11_000)
        assert dim < bright


def test_stage_host_seconds_puts_the_decode_first():
    work = {"roi_pixels": 0, "handoff_pixels": 0, "detector_pixels": 0, "near_detections": 0,
            "trace_samples": 0, "head_motion_updates": 0, "estimate_handoffs": 0}
    host = stage_host_seconds(_costs(), work, frame_pixels=640 * 480, frame_bytes=10_000)
    assert host[0] == pytest.approx(0.5072e-3)
    assert np.all(host[1:] >= 0)
