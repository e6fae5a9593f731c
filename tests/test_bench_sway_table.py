"""The sway part's table: coverage after warm-up, MAE and the no-skill baseline per level.

Expected cells are worked out here from the same per-clip inputs."""

import pytest
from test_bench_tables import number, parse_table

from firmware_sim.bench.vitals import sway_table, sway_worlds


def clip(sway_px, rate, errors, n_warm):
    return {"sway_rms_px": sway_px, "breathing_rate_bpm": rate, "seed": 1, "errors": errors,
            "n_warm": n_warm, "coverage": len(errors) / n_warm}


def test_sway_table_scores_each_level_beside_the_median_baseline():
    clips = [clip(0.0, 10.0, [0.1, -0.1], 2), clip(0.0, 20.0, [0.2, 0.0], 2),
             clip(4.0, 12.0, [], 2), clip(4.0, 18.0, [3.0], 2)]
    header, body = parse_table(sway_table(clips))
    assert "always 15" in " ".join(header)  # the median of 10, 20, 12, 18
    still, swaying = body
    assert number(still[0]) == 0 and number(still[2]) == 100
    assert number(still[3]) == pytest.approx(0.1)
    assert number(still[4]) == pytest.approx(5.0)  # |10 - 15|, |20 - 15|
    assert "met" in still[5] and "MISSED" not in still[5]
    assert number(swaying[2]) == 25 and number(swaying[3]) == pytest.approx(3.0)
    assert number(swaying[4]) == pytest.approx(3.0)  # |12 - 15|, |18 - 15|
    assert "MISSED" in swaying[5]


def test_held_out_and_development_clips_do_not_share_seeds_or_rates():
    heldout, dev = sway_worlds("heldout"), sway_worlds("dev")
    assert not {w.seed for w in heldout} & {w.seed for w in dev}
    assert not {w.breathing_rate_bpm for w in heldout} & {w.breathing_rate_bpm for w in dev}
    assert {w.sway_rms_px for w in heldout} == {0.0, 1.5, 4.0}
    assert all(w.head_bob_px == 1.5 and w.width == 640 for w in heldout)
