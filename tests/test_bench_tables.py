"""The benchmarks' tables: breathing verdicts (scored against the target, or withheld) and
the paired heart-rate comparison of two methods; the accuracy bench's development clips."""

import pytest

import edge
from firmware_sim.bench import accuracy
from firmware_sim.bench.vitals import breathing_table


def clip(motion, errors, coverage):
    return {"motion": motion, "breathing_rate_bpm": 12.0, "seed": 1, "errors": errors,
            "coverage": coverage}


def test_breathing_verdicts():
    table = breathing_table([clip("still", [0.2, -0.4], 1.0), clip("mild", [3.0, -1.0], 0.5),
                             clip("moderate", [], 0.0)])
    totals = {line.split("|")[1].strip(" *").split(",")[0]: line
              for line in table.splitlines() if ", all**" in line}
    assert "**0.30** (<= 1 met)" in totals["still"]
    assert "**2.00** (<= 1 MISSED)" in totals["mild"]
    assert "(no readings: withheld) | 0 %" in totals["moderate"]


def test_paired_accuracy_table_scores_only_the_readings_both_gave():
    from firmware_sim.bench.accuracy import paired_table

    ours = {"dim": [{"seed": 1, "reading_times_s": [10.0, 11.0, 12.0],
                     "errors_bpm": [1.0, -3.0, 0.5]}]}
    theirs = {"dim": [{"seed": 1, "reading_times_s": [11.0, 12.0], "errors_bpm": [2.0, 0.0]},
                      {"seed": 2, "reading_times_s": [10.0], "errors_bpm": [9.0]}]}
    table = paired_table(ours, theirs, name="cnn", other_name="pos")
    assert "| dim | 2 | 1.75 | 1.00 |" in table  # 11 s and 12 s of clip 1 only


def test_development_clips_keep_the_groups_but_never_a_benchmark_seed():
    bench = accuracy.clip_configs()
    dev = accuracy.clip_configs(seed_offset=10_000)
    bench_seeds = {w.seed for ws in bench.values() for w in ws}
    assert bench_seeds <= set(range(100, 400))
    for group, worlds in bench.items():
        assert len(dev[group]) == len(worlds)
        for b, d in zip(worlds, dev[group], strict=True):
            assert d.seed == b.seed + 10_000
            assert d.seed not in bench_seeds
            assert (d.heart_rate_bpm, d.motion, d.skin_tone, d.light_level) == \
                (b.heart_rate_bpm, b.motion, b.skin_tone, b.light_level)


def test_a_seed_offset_that_could_reach_the_benchmark_seeds_is_refused():
    with pytest.raises(edge.InputError, match="seed_offset"):
        accuracy.clip_configs(seed_offset=100)
    with pytest.raises(SystemExit):
        accuracy.main(["--seed-offset", "5"])
