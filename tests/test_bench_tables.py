"""The benchmarks' tables: breathing verdicts (scored against the target, or withheld) and
the paired heart-rate comparison of two methods; the accuracy bench's development clips.

The tables are parsed back into cells and checked against values worked out here from the
same inputs, so the tests pin what the tables say, not how they are spelled."""

import re

import numpy as np
import pytest

import edge
from firmware_sim.bench import accuracy
from firmware_sim.bench.accuracy import paired_table
from firmware_sim.bench.vitals import breathing_table


def parse_table(markdown):
    """Header cells and body rows (lists of cells) of a Markdown table; checks its shape."""
    lines = markdown.splitlines()
    cells = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines]
    header, rule, body = cells[0], cells[1], cells[2:]
    assert all(line.startswith("|") and line.endswith("|") for line in lines)
    assert all(re.fullmatch(r"-{3,}", c) for c in rule) and len(rule) == len(header)
    assert all(len(row) == len(header) for row in body), markdown
    return header, body


def number(cell):
    """The first number in a cell (``**0.30** (<= 1 met)`` -> 0.30), or None."""
    found = re.search(r"-?\d+(?:\.\d+)?", cell.replace("**", ""))
    return float(found.group()) if found else None


def clip(motion, rate, errors, coverage, seed=1):
    return {"motion": motion, "breathing_rate_bpm": rate, "seed": seed, "errors": errors,
            "coverage": coverage}


def test_breathing_table_has_a_row_per_motion_and_rate_and_a_total_per_motion(rng):
    clips = [clip(motion, rate, list(rng.normal(0.0, scale, size=6)), cover, seed)
             for seed, (motion, rate, scale, cover) in enumerate([
                 ("still", 8.0, 0.3, 1.0), ("still", 16.0, 0.5, 0.9), ("still", 16.0, 0.2, 0.7),
                 ("mild", 12.0, 3.0, 0.5), ("mild", 24.0, 2.0, 0.25)])]
    header, body = parse_table(breathing_table(clips))
    assert header[3].startswith("MAE") and header[4] == "coverage"

    per_rate = [row for row in body if not row[0].startswith("**")]
    totals = {row[0].strip("*").split(",")[0]: row for row in body if row[0].startswith("**")}
    expected_rates = sorted({(c["motion"], c["breathing_rate_bpm"]) for c in clips})
    assert sorted((row[0], float(row[1])) for row in per_rate) == expected_rates
    assert set(totals) == {"still", "mild"}  # no row at all for a motion without clips
    for row in per_rate:
        key = (row[0], float(row[1]))
        sel = [c for c in clips if (c["motion"], c["breathing_rate_bpm"]) == key]
        errors = np.concatenate([c["errors"] for c in sel])
        assert int(row[2]) == len(sel)
        assert number(row[3]) == pytest.approx(np.abs(errors).mean(), abs=0.005)
        assert number(row[4]) == pytest.approx(100 * np.mean([c["coverage"] for c in sel]), abs=0.5)
    for motion, row in totals.items():
        sel = [c for c in clips if c["motion"] == motion]
        mae = np.abs(np.concatenate([c["errors"] for c in sel])).mean()
        assert int(row[2]) == len(sel)
        assert number(row[3]) == pytest.approx(mae, abs=0.005)
        assert ("met" if mae <= 1.0 else "MISSED") in row[3]


@pytest.mark.parametrize(("errors", "verdict"), [([0.2, -0.4], "met"), ([1.0, -1.0], "met"),
                                                 ([3.0, -1.0], "MISSED")])
def test_breathing_total_is_scored_against_the_one_breath_target(errors, verdict):
    _, body = parse_table(breathing_table([clip("still", 12.0, errors, 1.0)]))
    total = body[-1]
    assert number(total[3]) == pytest.approx(np.mean(np.abs(errors)), abs=0.005)
    assert re.search(r"<= 1\b", total[3]) and verdict in total[3]
    assert ("MISSED" in total[3]) == (verdict == "MISSED")


def test_breathing_without_readings_is_withheld_not_scored():
    _, body = parse_table(breathing_table([clip("moderate", 12.0, [], 0.0)]))
    total = body[-1]
    assert "withheld" in total[3] and "met" not in total[3] and "MISSED" not in total[3]
    assert number(total[4]) == 0


def test_paired_table_scores_only_the_readings_both_gave(rng):
    times = np.arange(10.0, 30.0)
    ours_err, theirs_err = rng.normal(0, 2, times.size), rng.normal(0, 2, times.size)
    ours_at, theirs_at = rng.random(times.size) < 0.7, rng.random(times.size) < 0.7
    ours = {"dim": [{"seed": 1, "reading_times_s": list(times[ours_at]),
                     "errors_bpm": list(ours_err[ours_at])},
                    {"seed": 3, "reading_times_s": [10.0], "errors_bpm": [5.0]}]}
    theirs = {"dim": [{"seed": 1, "reading_times_s": list(times[theirs_at]),
                       "errors_bpm": list(theirs_err[theirs_at])},
                      {"seed": 2, "reading_times_s": [10.0], "errors_bpm": [9.0]}]}
    header, body = parse_table(paired_table(ours, theirs, name="cnn", other_name="pos"))
    assert header[2].startswith("cnn") and header[3].startswith("pos")
    both = ours_at & theirs_at  # same clip (seed 1), same time; seeds 2 and 3 have no partner
    assert body == [["dim", str(both.sum()), f"{np.abs(ours_err[both]).mean():.2f}",
                     f"{np.abs(theirs_err[both]).mean():.2f}"]]


def test_paired_table_says_so_when_no_reading_is_shared():
    ours = {"still": [{"seed": 1, "reading_times_s": [10.0], "errors_bpm": [1.0]}]}
    theirs = {"still": [{"seed": 1, "reading_times_s": [11.0], "errors_bpm": [2.0]}]}
    _, body = parse_table(paired_table(ours, theirs, name="a", other_name="b"))
    assert body[0][:2] == ["still", "0"]
    assert number(body[0][2]) is None and number(body[0][3]) is None


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
